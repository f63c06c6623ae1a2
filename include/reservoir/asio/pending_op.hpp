// reservoir/asio/pending_op.hpp — an operation that completes outside Asio (on a pool's
// releasing thread, a clock's timer thread) delivered to an Asio handler on its own executor.
//
// The rules every such operation keeps, in one place:
//  - the handler runs on its associated executor (default: system_executor), always through
//    post(), never inline on the thread that completed the outside operation nor inside the
//    initiating call;
//  - while pending, the operation counts as outstanding work on that executor (run() does not
//    return under a suspended coroutine);
//  - the handler's cancellation slot withdraws the outside operation (withdraw());
//  - when the executor's execution context shuts down (an io_context destroyed with the
//    operation pending), the handler is destroyed without being called, as Asio does with its
//    own operations, and the outside operation is withdrawn; a value that still arrives (a
//    lease handed over at that moment) is dropped, so a lease goes back to its pool;
//  - an outcome that arrives while the handler's io_context is stopped may be replaced
//    (on_stopped_context(): an acquire returns its lease to the pool and posts `cancelled`),
//    so a stopped event loop holds no connection until someone restarts it.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/system_executor.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace reservoir::asio {

namespace net = boost::asio;

namespace detail {

class OpService;

// What the service knows of a pending operation.
class OpBase : public std::enable_shared_from_this<OpBase> {
 public:
  OpBase() = default;
  OpBase(const OpBase&) = delete;
  OpBase& operator=(const OpBase&) = delete;
  virtual ~OpBase() = default;

  // The execution context shuts down: destroy the handler uncalled, withdraw the operation.
  virtual void orphan() noexcept = 0;

 private:
  friend class OpService;
  OpBase* prev_ = nullptr;  // the service's list, under its lock
  OpBase* next_ = nullptr;
};

// One per execution context: the operations pending on its executors, so that its shutdown
// (an io_context destroyed) never leaves one to post into a context that is gone.
class OpService final : public net::execution_context::service {
 public:
  using key_type = OpService;
  static net::execution_context::id id;

  explicit OpService(net::execution_context& context);
  ~OpService() override;

  // False when the context already shut down: the operation must not start.
  bool add(OpBase& op) noexcept;
  void remove(OpBase& op) noexcept;
  std::size_t pending() const noexcept;

 private:
  void shutdown() override;

  mutable std::mutex mu_;
  OpBase* head_ = nullptr;
  std::size_t count_ = 0;
  bool shut_ = false;
};

template <class Executor>
net::execution_context& context_of(const Executor& ex) {
  if constexpr (net::execution::is_executor<Executor>::value) {
    return net::query(ex, net::execution::context);
  } else {
    return ex.context();
  }
}

template <class T>
struct IsIoExecutor : std::false_type {};
template <class Allocator, std::uintptr_t Bits>
struct IsIoExecutor<net::io_context::basic_executor_type<Allocator, Bits>> : std::true_type {};
template <class T>
struct IsStrand : std::false_type {};
template <class Inner>
struct IsStrand<net::strand<Inner>> : std::true_type {};

// The io_context behind `ex` when it is one (directly, in a strand, or type-erased in an
// any_io_executor), else null: whether a completion would be posted to a stopped loop.
template <class Executor>
const net::io_context* io_context_of(const Executor& ex) noexcept {
  if constexpr (IsIoExecutor<Executor>::value) {
    return &ex.context();
  } else if constexpr (IsStrand<Executor>::value) {
    return io_context_of(ex.get_inner_executor());
  } else if constexpr (std::is_same_v<Executor, net::any_io_executor>) {
    using Plain = net::io_context::executor_type;
    using Tracked = net::io_context::basic_executor_type<std::allocator<void>, 4>;
    if (const auto* plain = ex.template target<Plain>()) return &plain->context();
    if (const auto* tracked = ex.template target<Tracked>()) return &tracked->context();
    return nullptr;
  } else {
    return nullptr;
  }
}

// The handler side of an outside operation producing a V. Derived classes say how to withdraw
// the outside operation (withdraw()), which must end in complete() unless it already did.
template <class Handler, class V>
class PendingOp : public OpBase {
 public:
  using executor_type = net::associated_executor_t<Handler, net::system_executor>;

  explicit PendingOp(Handler handler)
      : handler_(std::move(handler)),
        work_(net::make_work_guard(net::get_associated_executor(*handler_, net::system_executor()))),
        slot_(net::get_associated_cancellation_slot(*handler_)) {}

  // Call once, before starting the outside operation. False when the executor's context has
  // shut down (the handler was destroyed, as the context would have done).
  bool start() {
    auto& service = net::use_service<OpService>(context_of(work_->get_executor()));
    if (!service.add(*this)) {
      std::lock_guard g(mu_);
      state_ = State::orphaned;
      handler_.reset();
      work_.reset();
      return false;
    }
    service_ = &service;
    if (slot_.is_connected()) {
      slot_.template emplace<OnCancel>(std::static_pointer_cast<PendingOp>(this->shared_from_this()));
    }
    return true;
  }

  // The outside operation's outcome: posted to the handler's executor, once. Later outcomes,
  // and any after an orphaning, are dropped (here, after the lock is released).
  void complete(V value) noexcept {
    std::optional<V> dropped;  // destroyed after the lock: returning a lease may do I/O (reset)
    std::lock_guard g(mu_);
    if (state_ != State::pending) return;
    state_ = State::completed;
    service_->remove(*this);
    completed_locked();
    auto ex = work_->get_executor();
    if (const net::io_context* io = io_context_of(ex); io != nullptr && io->stopped()) {
      // Its handlers run only if someone restarts it: what it would hold meanwhile (a lease)
      // goes back now, and the handler gets why.
      if (std::optional<V> instead = on_stopped_context(value)) {
        dropped.emplace(std::move(value));
        value = std::move(*instead);
      }
    }
    net::post(ex, [h = std::move(*handler_), v = std::move(value), slot = slot_]() mutable {
      slot.clear();  // on the handler's executor, where the signal is emitted
      std::move(h)(std::move(v));
    });
    handler_.reset();
    work_.reset();
  }

  void orphan() noexcept override {
    std::optional<Handler> handler;
    std::optional<Work> work;
    {
      std::lock_guard g(mu_);
      if (state_ != State::pending) return;
      state_ = State::orphaned;
      handler.emplace(std::move(*handler_));
      work.emplace(std::move(*work_));
      handler_.reset();
      work_.reset();
    }
    withdraw();
  }

 protected:
  enum class State { pending, completed, orphaned };

  // Withdraws the outside operation; called without the lock.
  virtual void withdraw() noexcept = 0;
  // Under the lock, as the operation completes (e.g. drop a handle that keeps a cycle).
  virtual void completed_locked() noexcept {}
  // The outcome to post instead of `value` to a stopped io_context (`value` is then dropped);
  // nullopt keeps it.
  virtual std::optional<V> on_stopped_context(const V&) noexcept { return std::nullopt; }

  bool is_pending_locked() const noexcept { return state_ == State::pending; }

  std::mutex mu_;

 private:
  using Work = net::executor_work_guard<executor_type>;

  struct OnCancel {
    // A constructor, not an aggregate: emplace() builds it with parentheses (clang 14 has no
    // parenthesized aggregate initialization).
    explicit OnCancel(std::shared_ptr<PendingOp> held) noexcept : op(std::move(held)) {}
    std::shared_ptr<PendingOp> op;
    void operator()(net::cancellation_type type) const noexcept {
      if (type == net::cancellation_type::none) return;
      {
        std::lock_guard g(op->mu_);
        if (!op->is_pending_locked()) return;
      }
      op->withdraw();
    }
  };

  State state_ = State::pending;
  std::optional<Handler> handler_;
  std::optional<Work> work_;
  net::cancellation_slot slot_;
  OpService* service_ = nullptr;
};

}  // namespace detail
}  // namespace reservoir::asio
