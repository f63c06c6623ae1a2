#include "statement_cache.hpp"

#include <cctype>
#include <utility>

namespace reservoir::sqlite::detail {

StatementCache::Entry* StatementCache::take(std::string_view sql) {
  auto it = index_.find(sql);
  if (it == index_.end() || it->second->in_use) return nullptr;
  entries_.splice(entries_.begin(), entries_, it->second);  // iterators stay valid
  Entry& entry = *it->second;
  entry.in_use = true;
  return &entry;
}

void StatementCache::release(Entry& entry) noexcept {
  sqlite3_reset(entry.stmt);
  sqlite3_clear_bindings(entry.stmt);
  entry.in_use = false;
}

void StatementCache::insert(std::string sql, sqlite3_stmt* stmt) noexcept {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (index_.count(sql) != 0) {  // another call cached the same text meanwhile
    sqlite3_finalize(stmt);
    return;
  }
  entries_.push_front(Entry{std::move(sql), stmt, false, {}});
  index_.emplace(entries_.front().sql, entries_.begin());
  evict_over_capacity();
}

void StatementCache::evict_over_capacity() noexcept {
  for (auto it = entries_.end(); entries_.size() > capacity_ && it != entries_.begin();) {
    --it;
    if (it->in_use) continue;
    index_.erase(it->sql);
    sqlite3_finalize(it->stmt);
    it = entries_.erase(it);
  }
}

void StatementCache::clear() noexcept {
  for (auto& e : entries_) sqlite3_finalize(e.stmt);
  forget();
}

void StatementCache::forget() noexcept {
  index_.clear();
  entries_.clear();
}

bool StatementCache::cacheable(std::string_view sql) noexcept {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  char word[9] = {};
  std::size_t n = 0;
  for (; i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i])) && n < 8; ++i) {
    word[n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i])));
  }
  const std::string_view w(word, n);
  return w == "select" || w == "insert" || w == "update" || w == "delete" || w == "replace" || w == "with" ||
         w == "values";
}

}  // namespace reservoir::sqlite::detail
