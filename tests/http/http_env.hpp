// tests/http/http_env.hpp — the real nginx and etcd servers the HTTP tests run against.
//
// They come from `scripts/servers.sh start nginx etcd`. Settings are read from the environment
// (RESERVOIR_TEST_NGINX_URL, ..., RESERVOIR_TEST_ETCD_URL) or, when unset, from
// ${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}/nginx.env and etcd.env. A missing server
// fails the test (never skips it).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "reservoir/clock.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/http/connector.hpp"

namespace reservoir::http::test {

struct NginxEnv {
  std::string url;        // short keep-alive (1 s, 20 requests)
  std::string tls_url;    // https, certificate for reservoir.test and 127.0.0.1
  std::string bench_url;  // ordinary keep-alive
  std::string ca;         // the CA that signed the certificate
  std::string wrong_ca;   // a CA that signed nothing
};

// The settings, or a fatal test failure (ASSERT_NO_FATAL_FAILURE / HasFatalFailure) naming
// what is missing.
NginxEnv nginx_env();
std::string etcd_url();

inline Deadline in_ms(long ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }

// A connector for `url`; a failed create() throws (a test bug).
Connector make_connector(const std::string& url, ConnectorOptions options = {});

// `http://127.0.0.1:PORT` for a local port (fault proxy, scripted server).
std::string local_url(std::uint16_t port);
// The port of an http://host:port URL.
std::uint16_t port_of(const std::string& url);

}  // namespace reservoir::http::test
