// The checkout check runs within the caller's deadline: acquire(deadline) never returns later
// than `deadline`, however many idle connections hang on their check.
#include <atomic>
#include <thread>

#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

// Connections to a server that froze while they sat idle: a check gets no answer, so it
// uses up its whole deadline (simulated on the ManualClock) and fails with a timeout.
class FrozenCheckConnector final : public Connector {
 public:
  explicit FrozenCheckConnector(ManualClock& clock) : clock_(clock) {}

  Result<std::unique_ptr<Connection>> connect(Deadline) override {
    return std::unique_ptr<Connection>(std::make_unique<FakeConnection>(1));
  }
  Status check(Connection&, CheckDepth, Deadline deadline) override {
    checks.fetch_add(1);
    if (deadline.when() > clock_.now()) clock_.set(deadline.when());
    return Error::timeout("frozen:1: no answer to the check");
  }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "frozen:1"; }

  std::atomic<int> checks{0};

 private:
  ManualClock& clock_;
};

class CheckoutDeadlineTest : public PoolTest {
 protected:
  std::shared_ptr<FrozenCheckConnector> frozen = std::make_shared<FrozenCheckConnector>(clock);

  Pool make_frozen_pool(std::size_t idle) {
    PoolConfig c = quiet_config();
    c.max_size = 8;
    c.validate_on_checkout = true;
    c.validation_bypass = 0ms;
    c.io_timeout = 2000ms;
    PoolOptions o;
    o.clock = &clock;
    o.logger = logger;
    o.start_maintainer = false;
    o.seed = 42;
    auto r = Pool::create(frozen, c, o);
    EXPECT_TRUE(r.ok());
    Pool pool = std::move(r).value();
    std::vector<Lease> leases;
    for (std::size_t i = 0; i < idle; ++i) leases.push_back(std::move(pool.acquire(in(1s))).value());
    leases.clear();  // back to the pool: `idle` connections, all due for a checkout check
    clock.advance(1s);
    return pool;
  }
};

TEST_F(CheckoutDeadlineTest, AcquireNeverOutlivesItsDeadlineOnHangingChecks) {
  Pool pool = make_frozen_pool(4);
  ASSERT_EQ(pool.stats().idle, 4u);
  const Deadline deadline = in(100ms);
  auto lease = pool.acquire(deadline);
  EXPECT_LE(clock.now(), deadline.when())
      << "acquire returned " << std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - deadline.when()).count()
      << " ms after its deadline (" << frozen->checks.load() << " checks of io_timeout each)";
  ASSERT_FALSE(lease.ok());
  // Not `exhausted`: three connections sat idle, unchecked; the deadline ran out first.
  EXPECT_EQ(lease.error().kind(), ErrorKind::timeout) << lease.error().message();
  EXPECT_EQ(frozen->checks.load(), 1) << "no check starts once the caller's deadline has passed";
  EXPECT_EQ(pool.stats().idle, 3u) << "connections not checked stay in the pool";
}

}  // namespace
}  // namespace reservoir::testing
