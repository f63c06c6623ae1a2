// reservoir/metrics/exposition.hpp — Prometheus text format 0.0.4, one family at a time.
//
// A small writer, not a metrics library: HELP/TYPE lines, escaped label values, numbers in the
// format's spelling (+Inf, integers without a fraction). Registry::render() is built on it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reservoir/histogram.hpp"

namespace reservoir::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Label values: backslash, double quote and newline escaped as the format requires.
void append_label_value(std::string& out, std::string_view value);
// HELP text: backslash and newline escaped.
void append_help(std::string& out, std::string_view help);

using Label = std::pair<std::string_view, std::string_view>;

class Exposition {
 public:
  explicit Exposition(std::string& out) : out_(out) {}

  // `# HELP name help` and `# TYPE name type` (type: counter, gauge, histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  // name_bucket{...,le="x"} per bound and +Inf, name_sum (seconds), name_count.
  void histogram(std::string_view name, std::initializer_list<Label> labels, const HistogramBuckets& h);

 private:
  void head(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
            std::string_view le = {});
  std::string& out_;
  // The `le` texts of the last bounds seen: every pool shares default_latency_bounds(), and
  // formatting a double is most of a bucket line's cost.
  std::vector<Duration> le_bounds_;
  std::vector<std::string> le_text_;
};

}  // namespace reservoir::metrics
