// reservoir/pg/errors.hpp — how PostgreSQL errors become reservoir Errors: SQLSTATE
// classification (what is retryable, what means the connection is gone).
#pragma once

#include <string_view>

#include "reservoir/error.hpp"

namespace reservoir::pg {

// SQLSTATEs a retry can help with: connection exceptions (08xxx), admin/crash shutdown and
// "cannot connect now" (57P01..57P03), too many connections (53300), serialization failure
// (40001) and deadlock (40P01). Syntax, constraint and data errors are not.
bool is_retryable_sqlstate(std::string_view sqlstate) noexcept;

// The session is gone after this SQLSTATE (08xxx, 57P01..57P03): the connection must be closed.
bool is_connection_sqlstate(std::string_view sqlstate) noexcept;

// Serialization failure or deadlock: rerunning the whole transaction can succeed.
bool is_transaction_conflict(const Error& error) noexcept;

// A write the server refused because it is a hot standby (SQLSTATE 25006 on a standby): kind
// unavailable, code() 25006, detail `<endpoint>: server is a standby (read-only): ...`;
// retryable (and the connection discarded) when the connector's target_role is primary. A
// 25006 from a READ ONLY transaction on a primary stays an ordinary backend error.
bool is_standby_write(const Error& error) noexcept;

// The Error for a server error: kind unavailable for connection-level SQLSTATEs, backend
// otherwise; code() = SQLSTATE; detail = `<endpoint>: <server message> (SQLSTATE xxxxx)`.
// `message` must already be redacted.
Error server_error(std::string_view endpoint, std::string_view sqlstate, std::string_view message);

}  // namespace reservoir::pg
