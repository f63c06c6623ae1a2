#include "reservoir/metrics/exposition.hpp"

#include <charconv>

namespace reservoir::metrics {
namespace {

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_double(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_seconds(std::string& out, Duration d) {
  append_double(out, static_cast<double>(d.count()) / 1e9);
}

}  // namespace

void append_label_value(std::string& out, std::string_view value) {
  // Runs of plain characters are appended whole: label values rarely need an escape.
  std::size_t plain = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(value.substr(plain, i - plain));
    out.append(c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\");
    plain = i + 1;
  }
  out.append(value.substr(plain));
}

void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ");
  append_help(out_, help);
  out_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Exposition::head(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
                      std::string_view le) {
  out_.append(name).append(suffix);
  if (labels.size() == 0 && le.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_.append(key).append("=\"");
    append_label_value(out_, value);
    out_ += '"';
  }
  if (!le.empty()) out_.append(first ? "" : ",").append("le=\"").append(le).append("\"");
  out_.append("} ");
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
  head(name, "", labels);
  append_uint(out_, value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  head(name, "", labels);
  append_double(out_, value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, std::initializer_list<Label> labels, const HistogramBuckets& h) {
  if (h.bounds != le_bounds_) {
    le_bounds_ = h.bounds;
    le_text_.clear();
    for (Duration b : h.bounds) append_seconds(le_text_.emplace_back(), b);
  }
  for (std::size_t i = 0; i < h.bounds.size() && i < h.cumulative.size(); ++i) {
    head(name, "_bucket", labels, le_text_[i]);
    append_uint(out_, h.cumulative[i]);
    out_ += '\n';
  }
  head(name, "_bucket", labels, "+Inf");
  append_uint(out_, h.count);
  out_ += '\n';
  head(name, "_sum", labels);
  append_seconds(out_, h.sum);
  out_ += '\n';
  head(name, "_count", labels);
  append_uint(out_, h.count);
  out_ += '\n';
}

}  // namespace reservoir::metrics
