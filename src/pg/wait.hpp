// src/pg/wait.hpp — poll() on a libpq socket within a Deadline (private).
#pragma once

#include "reservoir/deadline.hpp"

namespace reservoir::pg {

enum class Wait { readable, writable, timeout, error };

// Waits until `fd` is ready for `events` (POLLIN/POLLOUT) or `deadline` passes. Hang-ups and
// errors count as readable so the caller's next libpq read reports them.
Wait wait_socket(int fd, short events, Deadline deadline) noexcept;

}  // namespace reservoir::pg
