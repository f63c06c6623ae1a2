// Internal: a small LRU cache of prepared statements per connection.
//
// Preparing is a good part of a short statement's cost. Only plain data statements are
// cached (SELECT/INSERT/UPDATE/DELETE/REPLACE/WITH/VALUES that the authorizer did not flag):
// the authorizer runs at prepare time only, so a cached CREATE TEMP TABLE or PRAGMA would
// change session state without reset() learning about it.
//
// A hit allocates nothing: the entry stays in the cache, marked in use while its statement
// runs (so a statement is never stepped by two calls at once), and keeps the column names of
// its last result so each result shares them instead of copying them.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reservoir/sql.hpp"

namespace reservoir::sqlite::detail {

// The column names of a cached statement's results, and how often SQLite had re-prepared the
// statement when they were read: names change only with a re-prepare (after a schema change),
// so an unchanged count means the kept names are still right, without reading them again.
struct KeptColumns {
  sql::ColumnNames names;  // null until a result was read
  int reprepares = 0;
};

class StatementCache {
 public:
  struct Entry {
    std::string sql;
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
    KeptColumns columns;
  };

  explicit StatementCache(std::size_t capacity = 32) : capacity_(capacity) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() { clear(); }

  // The entry prepared for `sql`, marked in use and made most recently used; null if there is
  // none or it is in use. Give it back with release().
  Entry* take(std::string_view sql);
  // Resets the entry's statement (ending its read transaction, so it cannot hold back
  // checkpoints) and makes it available again.
  void release(Entry& entry) noexcept;
  // Keeps `stmt` (reset) for `sql`, evicting (finalizing) the least recently used entries not
  // in use; finalizes `stmt` instead if `sql` is cached already.
  void insert(std::string sql, sqlite3_stmt* stmt) noexcept;
  void clear() noexcept;
  // Drops every entry without finalizing (a handle inherited across fork() is leaked whole).
  void forget() noexcept;
  std::size_t size() const noexcept { return entries_.size(); }

  // Whether `sql` is a plain data statement worth caching.
  static bool cacheable(std::string_view sql) noexcept;

 private:
  void evict_over_capacity() noexcept;

  std::size_t capacity_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace reservoir::sqlite::detail
