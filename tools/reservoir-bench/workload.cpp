#include "workload.hpp"

#include <charconv>
#include <chrono>
#include <vector>

namespace bench {

std::string_view to_string(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::retrieve: return "retrieve";
    case OpKind::store: return "store";
    case OpKind::stats: return "stats";
  }
  return "?";
}

std::string parse_mix(std::string_view text, Mix& out) {
  std::vector<int> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t slash = text.find('/', start);
    const std::string_view part = text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    int v = -1;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || v < 0 || v > 100) {
      return "expected READ/WRITE or RETRIEVE/STORE/STATS percentages (0..100), e.g. 80/20";
    }
    parts.push_back(v);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return "expected two or three '/'-separated percentages, e.g. 80/20";
  int sum = 0;
  for (int p : parts) sum += p;
  if (sum != 100) return "the percentages must add up to 100";
  out = Mix{parts[0], parts[1], parts.size() == 3 ? parts[2] : 0};
  return {};
}

std::string to_string(const Mix& mix) {
  // Appends, not "/" + std::to_string(): g++ 12 -O3 reports a false -Wrestrict on the latter.
  std::string s = std::to_string(mix.retrieve);
  s += '/';
  s += std::to_string(mix.store);
  if (mix.stats > 0) {
    s += '/';
    s += std::to_string(mix.stats);
  }
  return s;
}

std::string key_of(std::int64_t n) { return "memory:" + std::to_string(n); }

void fill_content(std::string& out, std::string_view key, std::uint64_t revision, std::size_t bytes) {
  out.assign(key);
  out += " rev ";
  out += std::to_string(revision);
  out += ' ';
  if (out.size() < bytes) out.append(bytes - out.size(), 'x');
}

std::uint64_t OpSource::random() noexcept {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void OpSource::next(Op& op) {
  const int roll = static_cast<int>(random() % 100);
  const Mix& m = config_->mix;
  op.kind = roll < m.retrieve ? OpKind::retrieve : roll < m.retrieve + m.store ? OpKind::store : OpKind::stats;
  if (op.kind == OpKind::stats) return;
  op.key = key_of(static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(config_->keys)));
  if (op.kind == OpKind::store) {
    fill_content(op.content, op.key, ++revision_, config_->content_bytes);
    op.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  }
}

MemorySql sqlite_statements(const std::string& t) {
  return MemorySql{
      .create = "CREATE TABLE IF NOT EXISTS " + t +
                " (key TEXT PRIMARY KEY, content TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID",
      .clear = "DELETE FROM " + t,
      .upsert = "INSERT INTO " + t + " (key, content, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE "
                "SET content = excluded.content, created_ms = excluded.created_ms",
      .retrieve = "SELECT content, created_ms FROM " + t + " WHERE key = ?1",
      .count = "SELECT count(*) FROM " + t,
      .drop = "DROP TABLE IF EXISTS " + t,
      .seed = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) INSERT INTO " + t +
              " (key, content, created_ms) SELECT 'memory:' || i, 'seed', 0 FROM n",
      .version = "SELECT sqlite_version()",
  };
}

MemorySql pg_statements(const std::string& t) {
  return MemorySql{
      .create = "CREATE TABLE IF NOT EXISTS " + t +
                " (key TEXT PRIMARY KEY, content TEXT NOT NULL, created_ms BIGINT NOT NULL)",
      .clear = "TRUNCATE " + t,
      .upsert = "INSERT INTO " + t + " (key, content, created_ms) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE "
                "SET content = excluded.content, created_ms = excluded.created_ms",
      .retrieve = "SELECT content, created_ms FROM " + t + " WHERE key = $1",
      .count = "SELECT count(*) FROM " + t,
      .drop = "DROP TABLE IF EXISTS " + t,
      .seed = "INSERT INTO " + t + " (key, content, created_ms) SELECT 'memory:' || i, 'seed', 0 "
              "FROM generate_series(0, $1::bigint - 1) AS i",
      .version = "SHOW server_version",
  };
}

}  // namespace bench
