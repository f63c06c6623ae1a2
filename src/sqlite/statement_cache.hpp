// Internal: a small LRU cache of prepared statements per connection.
//
// Preparing is a good part of a short statement's cost. Only plain data statements are
// cached (SELECT/INSERT/UPDATE/DELETE/REPLACE/WITH/VALUES that the authorizer did not flag):
// the authorizer runs at prepare time only, so a cached CREATE TEMP TABLE or PRAGMA would
// change session state without reset() learning about it.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace reservoir::sqlite::detail {

class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity = 32) : capacity_(capacity) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() { clear(); }

  // Removes and returns the statement prepared for `sql`, or null. The caller owns it until
  // it gives it back with put() (so a statement is never used by two calls at once).
  sqlite3_stmt* take(std::string_view sql);
  // Resets `stmt` and keeps it for `sql`, evicting (finalizing) the least recently used.
  void put(std::string sql, sqlite3_stmt* stmt) noexcept;
  void clear() noexcept;
  // Drops every entry without finalizing (a handle inherited across fork() is leaked whole).
  void forget() noexcept;
  std::size_t size() const noexcept { return entries_.size(); }

  // Whether `sql` is a plain data statement worth caching.
  static bool cacheable(std::string_view sql) noexcept;

 private:
  using Entry = std::pair<std::string, sqlite3_stmt*>;
  std::size_t capacity_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace reservoir::sqlite::detail
