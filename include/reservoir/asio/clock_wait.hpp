// reservoir/asio/clock_wait.hpp — async_wait_until(): a timer on reservoir's injected Clock.
//
// An asio::steady_timer follows the real clock only; a wait on a reservoir::Clock follows
// whatever the pool and the deadlines follow, so a coroutine's backoff under a ManualClock
// ends when the test moves time, without sleeping. Completes with void(error_code):
// success when the clock reaches `at`, operation_aborted when cancelled through the handler's
// cancellation slot. Delivered on the handler's executor, as every reservoir::asio operation.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include "reservoir/asio/pending_op.hpp"
#include "reservoir/clock.hpp"

namespace reservoir::asio {

namespace detail {

template <class Handler>
class ClockWaitOp final : public PendingOp<Handler, boost::system::error_code> {
 public:
  ClockWaitOp(Handler handler, const Clock& clock)
      : PendingOp<Handler, boost::system::error_code>(std::move(handler)), clock_(clock) {}

  void set_timer(TimerId id) noexcept {
    std::lock_guard g(this->mu_);
    timer_ = id;
  }

 private:
  void withdraw() noexcept override {
    TimerId id = 0;
    {
      std::lock_guard g(this->mu_);
      id = timer_;
    }
    // False: the timer ran or is running, and completes the wait itself.
    if (id != 0 && clock_.cancel(id)) this->complete(boost::asio::error::operation_aborted);
  }

  const Clock& clock_;
  TimerId timer_ = 0;
};

struct InitiateClockWait {
  const Clock* clock;
  template <class Handler>
  void operator()(Handler&& handler, TimePoint at) const {
    auto op = std::make_shared<ClockWaitOp<std::decay_t<Handler>>>(std::forward<Handler>(handler), *clock);
    if (!op->start()) return;
    op->set_timer(clock->call_at(at, [op] { op->complete(boost::system::error_code()); }));
  }
};

}  // namespace detail

// Waits until `clock` reaches `at`; completes with void(error_code).
template <class Token>
auto async_wait_until(const Clock& clock, TimePoint at, Token&& token) {
  return net::async_initiate<Token, void(boost::system::error_code)>(detail::InitiateClockWait{&clock}, token, at);
}

}  // namespace reservoir::asio
