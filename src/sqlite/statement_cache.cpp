#include "statement_cache.hpp"

#include <cctype>

namespace reservoir::sqlite::detail {

sqlite3_stmt* StatementCache::take(std::string_view sql) {
  auto it = index_.find(sql);
  if (it == index_.end()) return nullptr;
  sqlite3_stmt* stmt = it->second->second;
  entries_.erase(it->second);
  index_.erase(it);
  return stmt;
}

void StatementCache::put(std::string sql, sqlite3_stmt* stmt) noexcept {
  sqlite3_reset(stmt);  // ends its read transaction, so it cannot hold back checkpoints
  sqlite3_clear_bindings(stmt);
  if (index_.count(sql) != 0) {  // another call cached the same text meanwhile
    sqlite3_finalize(stmt);
    return;
  }
  entries_.emplace_front(std::move(sql), stmt);
  index_.emplace(entries_.front().first, entries_.begin());
  if (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    sqlite3_finalize(entries_.back().second);
    entries_.pop_back();
  }
}

void StatementCache::clear() noexcept {
  for (auto& e : entries_) sqlite3_finalize(e.second);
  forget();
}

void StatementCache::forget() noexcept {
  index_.clear();
  entries_.clear();
}

bool StatementCache::cacheable(std::string_view sql) noexcept {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  std::string word;
  for (; i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i])) && word.size() < 8; ++i) {
    word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i]))));
  }
  return word == "select" || word == "insert" || word == "update" || word == "delete" || word == "replace" ||
         word == "with" || word == "values";
}

}  // namespace reservoir::sqlite::detail
