#include "session_effect.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>

namespace reservoir::pg::detail {

namespace {

// Tags whose statements run no borrower code. A COMMIT runs deferred triggers, but only those
// queued by the lease's own DML, which counts on its own; END and ABORT report COMMIT and
// ROLLBACK. The transaction they may leave open is seen by PQtransactionStatus.
constexpr std::string_view kNone[] = {"BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK",
                                      "SAVEPOINT", "RELEASE", "SHOW"};
// Tags of data statements: they change session state only through what they call.
constexpr std::string_view kUntracked[] = {"INSERT", "UPDATE", "DELETE", "MERGE", "FETCH", "MOVE"};

// The tag without its row counts ("INSERT 0 1" -> "INSERT", "START TRANSACTION" stays).
std::string_view tag_name(std::string_view tag) noexcept {
  while (!tag.empty() && (std::isdigit(static_cast<unsigned char>(tag.back())) || tag.back() == ' ')) {
    tag.remove_suffix(1);
  }
  return tag;
}

bool contains(std::string_view text, std::string_view lower_needle) noexcept {
  // ASCII only, inline: std::tolower is a libc call per character, on every statement.
  const auto same = [](char a, char b) { return (a >= 'A' && a <= 'Z' ? static_cast<char>(a + 32) : a) == b; };
  return std::search(text.begin(), text.end(), lower_needle.begin(), lower_needle.end(), same) != text.end();
}

}  // namespace

Effect effect_of(const PGresult* res) noexcept {
  const ExecStatusType status = PQresultStatus(res);
  if (status == PGRES_EMPTY_QUERY) return Effect::none;
  const std::string_view tag = tag_name(PQcmdStatus(const_cast<PGresult*>(res)));
  if (std::find(std::begin(kNone), std::end(kNone), tag) != std::end(kNone)) return Effect::none;
  // SELECT INTO and CREATE TABLE AS (a temp table, perhaps) report SELECT too, without rows.
  if (tag == "SELECT") return status == PGRES_TUPLES_OK ? Effect::untracked : Effect::state;
  if (std::find(std::begin(kUntracked), std::end(kUntracked), tag) != std::end(kUntracked)) return Effect::untracked;
  return Effect::state;
}

bool names_stateful_function(std::string_view sql) noexcept {
  for (std::string_view name : {"set_config", "setseed", "advisory_lock", "nextval", "setval", "dblink"}) {
    if (contains(sql, name)) return true;
  }
  return false;
}

}  // namespace reservoir::pg::detail
