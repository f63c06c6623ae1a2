// The targets written once for every PoolConnector: a pool whose every operation goes through
// reservoir::run() (deadline, retry with budget, circuit breaker), and the unpooled baseline
// (connect, run, close for each operation). Both count the connections they hold open through
// a connector wrapper, so "most connections ever open" is what the backend saw, not a sample.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include "backend.hpp"
#include "reservoir/admin/events.hpp"
#include "reservoir/breaker.hpp"
#include "reservoir/metrics/registry.hpp"
#include "reservoir/retry_budget.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"

namespace bench {

inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct OpenCounter {
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> max_open{0};
  std::atomic<std::uint64_t> opened{0};

  void on_open() noexcept {
    const std::uint64_t now = open.fetch_add(1) + 1;
    opened.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t seen = max_open.load();
    while (now > seen && !max_open.compare_exchange_weak(seen, now)) {
    }
  }
  void on_close() noexcept { open.fetch_sub(1); }
};

// A PoolConnector that forwards to C and counts C's open connections.
template <reservoir::PoolConnector C>
class Counting {
 public:
  using connection = typename C::connection;

  Counting(C inner, std::shared_ptr<OpenCounter> counter) : inner_(std::move(inner)), counter_(std::move(counter)) {}

  reservoir::Result<std::unique_ptr<connection>> connect(reservoir::Deadline d) {
    auto r = inner_.connect(d);
    if (r) counter_->on_open();
    return r;
  }
  reservoir::Status check(connection& c, reservoir::CheckDepth depth, reservoir::Deadline d) {
    return inner_.check(c, depth, d);
  }
  reservoir::Status reset(connection& c, reservoir::Deadline d) { return inner_.reset(c, d); }
  void close(std::unique_ptr<connection> c, reservoir::Deadline d) noexcept {
    inner_.close(std::move(c), d);
    counter_->on_close();
  }
  void abandon(std::unique_ptr<connection> c) noexcept {
    if constexpr (requires(C& x, std::unique_ptr<connection> p) { x.abandon(std::move(p)); }) {
      inner_.abandon(std::move(c));
    } else {
      (void)c.release();  // what the pool does for a connector without abandon()
    }
    counter_->on_close();
  }
  bool is_broken(const connection& c) const noexcept { return inner_.is_broken(c); }
  bool is_retryable(const reservoir::Error& e) const noexcept { return inner_.is_retryable(e); }
  std::string endpoint() const { return inner_.endpoint(); }

  C& inner() noexcept { return inner_; }

 private:
  C inner_;
  std::shared_ptr<OpenCounter> counter_;
};

// Backends whose writers queue for the store before they borrow a connection (SQLite's
// WriteTurn) specialise this; by default a write waits for nothing but its connection.
template <reservoir::PoolConnector C>
struct WriterQueue {
  static constexpr bool queues = false;
  struct Turn {};
  static reservoir::Result<Turn> take(C&, reservoir::Deadline) { return Turn{}; }
  static void hand(Turn&, typename C::connection&) noexcept {}
};

// W: the workload's statements (MemorySql for the SQL backends; run_op is found for C's
// connection and W).
template <reservoir::PoolConnector C, class W = MemorySql>
class PooledTarget final : public Target {
 public:
  using Pool = reservoir::TypedPool<Counting<C>>;

  // Errors: the breaker's or the pool's (with init_mode fail_fast, the first connect's).
  static reservoir::Result<std::unique_ptr<Target>> create(C connector, const W* sql, const RunSettings& s) {
    auto counter = std::make_shared<OpenCounter>();
    const reservoir::Clock& clock = reservoir::SteadyClock::instance();
    auto breaker = reservoir::CircuitBreaker::create(connector.endpoint(), {}, clock);
    if (!breaker) return std::move(breaker).error();
    auto budget = reservoir::RetryBudget::create(clock);
    if (!budget) return std::move(budget).error();
    reservoir::PoolOptions po;
    if (s.breaker_and_budget) po.connect_gate = *breaker;
    po.listener = s.events;
    auto created = Pool::create(s.pool, std::move(po), std::move(connector), counter);
    if (!created) return std::move(created).error();
    auto pool = std::make_shared<Pool>(std::move(created).value());
    if (s.registry) {
      s.registry->add_pool(pool);
      if (s.breaker_and_budget) {
        s.registry->add_breaker(*breaker);
        s.registry->add_retry_budget(s.pool.name, *budget);
        if (s.events) s.events->watch(**breaker);
      }
    }
    reservoir::RunOptions run;
    run.timeout = s.op_timeout;
    run.idempotent = true;  // an upsert, a read and a count can all run twice
    if (s.breaker_and_budget) {
      run.budget = std::move(budget).value();
      run.breaker = std::move(breaker).value();
    }
    return std::unique_ptr<Target>(new PooledTarget(std::move(pool), std::move(counter), sql, std::move(run), s.write_turns));
  }

  reservoir::Result<std::unique_ptr<Client>> client() override {
    return std::unique_ptr<Client>(std::make_unique<PooledClient>(*this));
  }
  TargetStats stats() const override {
    TargetStats s{counter_->max_open.load(), counter_->opened.load(), pool_->stats(), {}};
    if constexpr (requires(const C& c) { c.checkpoint_stats(); }) {
      const auto c = pool_->connector().inner().checkpoint_stats();
      s.backend_counts = {{"checkpoint_rounds", c.rounds},       {"checkpoint_rounds_finished", c.finished},
                          {"checkpoint_rounds_in_commit", c.in_commit}, {"wal_restarts", c.restarts},
                          {"checkpoint_rounds_failed", c.failed}};
    }
    return s;
  }
  reservoir::Status finish(std::chrono::milliseconds grace) override { return pool_->shutdown(grace); }

 private:
  // As an application would write it: one run() per operation, the statement inside.
  class PooledClient final : public Client {
   public:
    explicit PooledClient(PooledTarget& t) : t_(t), write_options_(t.run_) {}
    reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t& acquire_ns) override {
      if constexpr (WriterQueue<C>::queues) {
        if (op.kind == OpKind::store && t_.write_turns_) return run_write(op, outcome, acquire_ns);
      }
      typename WriterQueue<C>::Turn none;
      return run_with(op, outcome, acquire_ns, none, t_.run_);
    }

   private:
    // The write's deadline starts before its turn: the wait in the queue is part of the
    // operation (its latency), not of the connection's acquire.
    // The options are the client's own copy, made once: copying them per write would copy the
    // breaker's and the budget's shared_ptr, two reference counts every thread writes.
    reservoir::Status run_write(const Op& op, OpOutcome& outcome, std::int64_t& acquire_ns) {
      write_options_.deadline = reservoir::Deadline::after(reservoir::SteadyClock::instance(), write_options_.timeout);
      auto turn = WriterQueue<C>::take(t_.pool_->connector().inner(), *write_options_.deadline);
      if (!turn) return std::move(turn).error();
      return run_with(op, outcome, acquire_ns, *turn, write_options_);
    }

    reservoir::Status run_with(const Op& op, OpOutcome& outcome, std::int64_t& acquire_ns,
                               typename WriterQueue<C>::Turn& turn, const reservoir::RunOptions& options) {
      const std::uint64_t opened_before = t_.counter_->opened.load(std::memory_order_relaxed);
      const std::int64_t t0 = steady_ns();
      bool first = true;
      return reservoir::run(
          *t_.pool_,
          [&](typename C::connection& conn, reservoir::Attempt& a) {
            if (first) {
              acquire_ns = steady_ns() - t0;
              outcome.acquire_connected = t_.counter_->opened.load(std::memory_order_relaxed) != opened_before;
              first = false;
            }
            WriterQueue<C>::hand(turn, conn);
            return run_op(conn, *t_.sql_, op, a.deadline(), outcome, &row_);
          },
          options);
    }

    PooledTarget& t_;
    reservoir::RunOptions write_options_;
    RowBuffer row_;
  };

  PooledTarget(std::shared_ptr<Pool> pool, std::shared_ptr<OpenCounter> counter, const W* sql, reservoir::RunOptions run,
               bool write_turns)
      : pool_(std::move(pool)), counter_(std::move(counter)), sql_(sql), run_(std::move(run)), write_turns_(write_turns) {}

  std::shared_ptr<Pool> pool_;  // shared: --admin's registry holds it weakly
  std::shared_ptr<OpenCounter> counter_;
  const W* sql_;
  reservoir::RunOptions run_;
  bool write_turns_;
};

// The non-pooled baseline: each operation opens its own connection with the same connector,
// runs, and closes it. No retry: a failed connect is the operation's error.
template <reservoir::PoolConnector C, class W = MemorySql>
class UnpooledTarget final : public Target {
 public:
  UnpooledTarget(C connector, const W* sql, const RunSettings& s)
      : counter_(std::make_shared<OpenCounter>()), connector_(std::move(connector), counter_), sql_(sql), settings_(s) {}

  reservoir::Result<std::unique_ptr<Client>> client() override {
    return std::unique_ptr<Client>(std::make_unique<UnpooledClient>(*this));
  }
  TargetStats stats() const override { return TargetStats{counter_->max_open.load(), counter_->opened.load(), {}}; }
  reservoir::Status finish(std::chrono::milliseconds) override { return {}; }

 private:
  class UnpooledClient final : public Client {
   public:
    explicit UnpooledClient(UnpooledTarget& t) : t_(t) {}
    reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t&) override {
      const reservoir::Clock& clock = reservoir::SteadyClock::instance();
      const auto deadline = reservoir::Deadline::after(clock, t_.settings_.op_timeout);
      auto conn = t_.connector_.connect(
          reservoir::Deadline::after(clock, std::min<reservoir::Duration>(t_.settings_.connect_timeout, deadline.remaining())));
      if (!conn) return std::move(conn).error();
      reservoir::Status s = run_op(**conn, *t_.sql_, op, deadline, outcome);
      t_.connector_.close(std::move(conn).value(), deadline);
      return s;
    }

   private:
    UnpooledTarget& t_;
  };

  std::shared_ptr<OpenCounter> counter_;
  Counting<C> connector_;
  const W* sql_;
  RunSettings settings_;
};

}  // namespace bench

namespace bench {

// Prepares the workload's table through a pool of one (init_mode fail_fast), so an unreachable
// backend reports the pool's error within the connect deadline. Returns the server's version.
template <reservoir::PoolConnector C>
reservoir::Result<std::string> prepare_table(C connector, const MemorySql& sql, const WorkloadConfig& w,
                                             const RunSettings& s) {
  reservoir::PoolConfig config = s.pool;
  config.name = "reservoir-bench-prepare";
  config.max_size = 1;
  config.min_idle = 1;
  config.init_mode = reservoir::InitMode::fail_fast;
  auto pool = reservoir::TypedPool<C>::create(config, {}, std::move(connector));
  if (!pool) return std::move(pool).error();
  std::string version;
  auto st = reservoir::run(
      *pool,
      [&](typename C::connection& c, reservoir::Attempt& a) -> reservoir::Status {
        for (const std::string* stmt : {&sql.create, &sql.clear}) {
          if (auto r = c.execute(*stmt, a.deadline()); !r) return std::move(r).error();
        }
        if (auto r = c.execute(sql.seed, {reservoir::sql::Value(w.keys)}, a.deadline()); !r) return std::move(r).error();
        auto v = c.query(sql.version, a.deadline());
        if (!v) return std::move(v).error();
        version = reservoir::sql::to_text(v->at(0, 0));
        return {};
      },
      {.timeout = s.connect_timeout + std::chrono::seconds(30), .idempotent = true});
  if (auto down = pool->shutdown(std::chrono::seconds(2)); !down && st) return std::move(down).error();
  if (!st) return std::move(st).error();
  return version;
}

// Drops the workload's table through a pool of one. Errors: the pool's or the backend's.
template <reservoir::PoolConnector C>
reservoir::Status drop_table(C connector, const MemorySql& sql, const RunSettings& s) {
  reservoir::PoolConfig config = s.pool;
  config.name = "reservoir-bench-cleanup";
  config.max_size = 1;
  config.min_idle = 0;
  auto pool = reservoir::TypedPool<C>::create(config, {}, std::move(connector));
  if (!pool) return std::move(pool).error();
  auto st = reservoir::run(
      *pool, [&](typename C::connection& c, reservoir::Attempt& a) -> reservoir::Status {
        auto r = c.execute(sql.drop, a.deadline());
        if (!r) return std::move(r).error();
        return {};
      },
      {.timeout = s.connect_timeout, .idempotent = true});
  (void)pool->shutdown(std::chrono::seconds(2));
  return st;
}

}  // namespace bench
