// src/pg/session_effect.hpp — what one statement may have left in the session, as far as the
// client can tell without asking the server (private; the reset modes that read it are
// documented in reservoir/pg/connector.hpp).
//
// From a statement's result the client knows its command tag (PQcmdStatus) and whether it
// returned rows; from the connection, the transaction status and the GUC_REPORT settings the
// server reports when they change. None of that shows what a function or trigger did: a
// SELECT or an INSERT may run any code. So only statements that run no borrower code are
// provably stateless (Effect::none); the tracked reset also trusts the plain data statements
// (Effect::untracked), as pgjdbc and HikariCP do.
#pragma once

#include <string_view>

typedef struct pg_result PGresult;

namespace reservoir::pg::detail {

enum class Effect : unsigned char {
  none,       // runs no borrower code and leaves nothing: BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SHOW...
  untracked,  // SELECT with rows, INSERT, UPDATE, DELETE, MERGE, FETCH, MOVE: state only through
              // the functions, triggers or defaults they run
  state       // anything else (SET, PREPARE, LISTEN, CREATE, DO, CALL, SELECT INTO, ...)
};

// The effect of a statement that succeeded, from its result.
Effect effect_of(const PGresult* res) noexcept;

// Whether `sql` names a function that leaves session state when called directly: set_config,
// setseed, the advisory locks, nextval, setval, dblink (ASCII case-insensitive; a name
// spelled with quotes or Unicode escapes, or called from inside a function, is not seen).
bool names_stateful_function(std::string_view sql) noexcept;

}  // namespace reservoir::pg::detail
