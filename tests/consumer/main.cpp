// Uses the installed headers and libraries: a pool over a trivial connector, one lease (core),
// a retry policy (resilience), a SQL value (sql).
#include <reservoir/pool.hpp>
#include <reservoir/retry.hpp>
#include <reservoir/sql.hpp>

#include <cstdio>

namespace {
struct Nothing final : reservoir::Connection {};
class NothingConnector final : public reservoir::Connector {
 public:
  reservoir::Result<std::unique_ptr<reservoir::Connection>> connect(reservoir::Deadline) override {
    return std::unique_ptr<reservoir::Connection>(new Nothing);
  }
  reservoir::Status check(reservoir::Connection&, reservoir::CheckDepth, reservoir::Deadline) override { return {}; }
  reservoir::Status reset(reservoir::Connection&, reservoir::Deadline) override { return {}; }
  void close(std::unique_ptr<reservoir::Connection>, reservoir::Deadline) noexcept override {}
  std::string endpoint() const override { return "nothing"; }
};
}  // namespace

int main() {
  auto pool = reservoir::Pool::create(std::make_shared<NothingConnector>(), reservoir::PoolConfig{});
  if (!pool) return std::fprintf(stderr, "%s\n", pool.error().message().c_str()), 1;
  auto lease = pool->acquire();
  if (!lease) return std::fprintf(stderr, "%s\n", lease.error().message().c_str()), 1;
  lease->release();
  if (auto policy = reservoir::RetryPolicy{}.validate(); !policy) return 1;
  if (reservoir::sql::to_text(reservoir::sql::Value{std::int64_t{42}}) != "42") return 1;
  std::printf("consumer ok: %s\n", pool->stats().to_string().c_str());
  return pool->stats().acquires == 1 ? 0 : 1;
}
