#include "wait.hpp"

#include <poll.h>

#include <cerrno>

namespace reservoir::pg {

Wait wait_socket(int fd, short events, Deadline deadline) noexcept {
  if (fd < 0) return Wait::error;
  pollfd p{fd, events, 0};
  for (;;) {
    // remaining_ms() rounds up, so 0 means the deadline has passed.
    const int ms = deadline.remaining_ms();
    if (ms <= 0) return Wait::timeout;
    p.revents = 0;
    const int r = ::poll(&p, 1, ms);
    if (r > 0) {
      if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) return Wait::readable;
      return Wait::writable;
    }
    if (r < 0 && errno != EINTR) return Wait::error;
  }
}

}  // namespace reservoir::pg
