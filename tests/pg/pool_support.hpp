// tests/pg/pool_support.hpp — a TypedPool<pg::Connector> on the test server.
#pragma once

#include <algorithm>

#include "pg_env.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::pg::test {

using PgPool = TypedPool<Connector>;

inline PoolConfig small_config(std::size_t max_size) {
  PoolConfig config;
  config.name = "pg-test";
  config.min_idle = 0;
  config.max_size = max_size;
  config.acquire_timeout = std::chrono::milliseconds(5000);
  config.connect_timeout = std::chrono::milliseconds(2000);
  config.io_timeout = std::chrono::milliseconds(2000);
  config.max_concurrent_connects = std::min<std::size_t>(2, max_size);
  return config;
}

inline PgPool make_pool(const std::string& url, PoolConfig config, ConnectorOptions options = {}) {
  auto pool = PgPool::create(std::move(config), PoolOptions{}, make_connector(url, std::move(options)));
  if (!pool) throw std::runtime_error(pool.error().message());
  return std::move(pool).value();
}

}  // namespace reservoir::pg::test
