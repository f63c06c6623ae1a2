// tests/support/callback_box.hpp — collects one acquire_async() callback's outcome (a pool's,
// a cluster's, a tenant registry's) and the thread it ran on; the lease it holds returns when
// the box's `got` is reset.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "reservoir/error.hpp"

namespace reservoir::testing {

template <class L>
struct CallbackBox {
  std::mutex mu;
  std::optional<Result<L>> got;
  std::thread::id on;
  std::function<void(Result<L>)> callback() {
    return [this](Result<L> r) {
      std::lock_guard g(mu);
      on = std::this_thread::get_id();
      got.emplace(std::move(r));
    };
  }
  bool has() {
    std::lock_guard g(mu);
    return got.has_value();
  }
};

}  // namespace reservoir::testing
