// FaultProxy: one Asio I/O thread; per connection, two pipes (client->server, server->client),
// each a reader coroutine that queues chunks with their due time and a writer coroutine that
// delivers them (after the latency, paced by the bandwidth limit, held while paused).
#include "fault_proxy.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace reservoir::tools {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using asio::awaitable;
using asio::use_awaitable;

constexpr int kUp = 0;
constexpr int kDown = 1;
constexpr auto kPausePoll = std::chrono::milliseconds(1);

bool covers(Direction d, int dir) {
  return d == Direction::both || (d == Direction::upstream) == (dir == kUp);
}

struct Settings {
  std::array<std::atomic<std::int64_t>, 2> latency_us{};
  std::array<std::atomic<std::uint64_t>, 2> bandwidth{};
  std::array<std::atomic<std::uint64_t>, 2> close_after{};
  std::atomic<bool> blackhole{false};
  std::atomic<bool> paused{false};
};

struct Counters {
  std::atomic<std::uint64_t> accepted{0}, open{0}, up{0}, down{0}, resets{0}, connect_failures{0};
};

struct Chunk {
  std::vector<char> bytes;
  clock_type::time_point due;
};

struct Pipe {
  explicit Pipe(asio::any_io_executor ex) : ready(ex), delay(ex) {}
  std::deque<Chunk> queue;
  asio::steady_timer ready;  // cancelled by the reader when it queues data or ends
  asio::steady_timer delay;  // latency, pacing and pause waits
  bool eof = false;
  std::uint64_t forwarded = 0;
};

}  // namespace

struct FaultProxy::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  Settings settings;
  Counters counters;
  std::mutex target_mu;
  std::string target_host;
  std::uint16_t target_port = 0;
  std::thread thread;

  struct Session;
  std::vector<std::weak_ptr<Session>> sessions;  // I/O thread only

  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl& owner, tcp::socket c)
        : impl(owner), client(std::move(c)), server(owner.io), pipes{Pipe(owner.io.get_executor()), Pipe(owner.io.get_executor())} {
      ++impl.counters.open;
    }
    ~Session() { --impl.counters.open; }

    Impl& impl;
    tcp::socket client;
    tcp::socket server;
    std::array<Pipe, 2> pipes;
    bool closed = false;

    tcp::socket& source(int dir) { return dir == kUp ? client : server; }
    tcp::socket& sink(int dir) { return dir == kUp ? server : client; }

    // RST both sides: SO_LINGER 0 makes close() send a reset instead of a FIN.
    void reset() {
      if (closed) return;
      closed = true;
      boost::system::error_code ec;
      for (auto* s : {&client, &server}) {
        if (!s->is_open()) continue;
        s->set_option(asio::socket_base::linger(true, 0), ec);
        s->close(ec);
      }
      for (auto& p : pipes) {
        p.ready.cancel();
        p.delay.cancel();
      }
    }
    void close_if_done() {
      if (pipes[kUp].eof && pipes[kDown].eof && pipes[kUp].queue.empty() && pipes[kDown].queue.empty()) {
        boost::system::error_code ec;
        closed = true;
        client.close(ec);
        server.close(ec);
      }
    }
  };

  void start_thread() {
    thread = std::thread([this] { io.run(); });
  }

  template <class Fn>
  void run_on_io(Fn fn) {
    std::promise<void> done;
    asio::post(io, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      ++counters.accepted;
      sock.set_option(tcp::no_delay(true), ec);
      auto session = std::make_shared<Session>(*this, std::move(sock));
      prune_sessions();
      sessions.push_back(session);
      asio::co_spawn(io, run_session(session), asio::detached);
    }
  }

  void prune_sessions() {
    std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
  }

  awaitable<void> run_session(std::shared_ptr<Session> s) {
    if (settings.blackhole) {
      co_await swallow(s);
      co_return;
    }
    std::string host;
    std::uint16_t port;
    {
      std::lock_guard lock(target_mu);
      host = target_host;
      port = target_port;
    }
    tcp::resolver resolver(io);
    auto [rec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), asio::as_tuple(use_awaitable));
    boost::system::error_code cec = rec;
    if (!rec) std::tie(cec, std::ignore) = co_await asio::async_connect(s->server, endpoints, asio::as_tuple(use_awaitable));
    if (cec || s->closed) {
      ++counters.connect_failures;
      s->reset();
      co_return;
    }
    s->server.set_option(tcp::no_delay(true), cec);
    for (int dir : {kUp, kDown}) {
      asio::co_spawn(io, read_pipe(s, dir), asio::detached);
      asio::co_spawn(io, write_pipe(s, dir), asio::detached);
    }
  }

  // A blackholed connection: read and drop until the client goes away or it is reset.
  awaitable<void> swallow(std::shared_ptr<Session> s) {
    std::array<char, 4096> buf;
    for (;;) {
      auto [ec, n] = co_await s->client.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
      if (ec || s->closed) co_return;
    }
  }

  awaitable<void> read_pipe(std::shared_ptr<Session> s, int dir) {
    Pipe& p = s->pipes[dir];
    std::array<char, 16384> buf;
    for (;;) {
      auto [ec, n] = co_await s->source(dir).async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
      if (s->closed) co_return;
      if (ec && ec != asio::error::eof) {  // a reset or error: the other side sees a reset too
        s->reset();
        co_return;
      }
      if (ec) {
        p.eof = true;
        p.ready.cancel();
        co_return;
      }
      if (settings.blackhole) continue;
      auto due = clock_type::now() + std::chrono::microseconds(settings.latency_us[dir].load());
      p.queue.push_back(Chunk{std::vector<char>(buf.data(), buf.data() + n), due});
      p.ready.cancel();
    }
  }

  awaitable<void> sleep_until(Pipe& p, clock_type::time_point t) {
    p.delay.expires_at(t);
    co_await p.delay.async_wait(asio::as_tuple(use_awaitable));
  }

  awaitable<void> write_pipe(std::shared_ptr<Session> s, int dir) {
    Pipe& p = s->pipes[dir];
    for (;;) {
      while (p.queue.empty() && !p.eof && !s->closed) {
        p.ready.expires_at(clock_type::time_point::max());
        co_await p.ready.async_wait(asio::as_tuple(use_awaitable));
      }
      if (s->closed) co_return;
      if (p.queue.empty()) {  // the source ended and everything was delivered: pass the FIN on
        boost::system::error_code ec;
        s->sink(dir).shutdown(tcp::socket::shutdown_send, ec);
        s->close_if_done();
        co_return;
      }
      if (clock_type::now() < p.queue.front().due) co_await sleep_until(p, p.queue.front().due);
      while (settings.paused && !s->closed) co_await sleep_until(p, clock_type::now() + kPausePoll);
      if (s->closed) co_return;
      Chunk chunk = std::move(p.queue.front());
      p.queue.pop_front();
      if (settings.blackhole) continue;
      if (!co_await deliver(s, dir, chunk.bytes)) co_return;
    }
  }

  // Writes `bytes` to the sink, honouring close_after and the bandwidth limit. False when the
  // session ended (reset or a write error).
  awaitable<bool> deliver(std::shared_ptr<Session> s, int dir, const std::vector<char>& bytes) {
    Pipe& p = s->pipes[dir];
    std::size_t limit = bytes.size();
    bool reset_after = false;
    if (std::uint64_t cap = settings.close_after[dir].load(); cap != 0 && p.forwarded + limit >= cap) {
      limit = static_cast<std::size_t>(cap > p.forwarded ? cap - p.forwarded : 0);
      reset_after = true;
    }
    std::size_t off = 0;
    while (off < limit) {
      std::uint64_t bps = settings.bandwidth[dir].load();
      std::size_t piece = limit - off;
      if (bps != 0) piece = std::min<std::size_t>(piece, std::max<std::uint64_t>(bps / 50, 1));
      auto [ec, n] = co_await asio::async_write(s->sink(dir), asio::buffer(bytes.data() + off, piece),
                                                asio::as_tuple(use_awaitable));
      if (ec || s->closed) {
        s->reset();
        co_return false;
      }
      off += n;
      p.forwarded += n;
      (dir == kUp ? counters.up : counters.down) += n;
      if (bps != 0) co_await sleep_until(p, clock_type::now() + std::chrono::microseconds(n * 1'000'000 / bps));
    }
    if (reset_after) {
      ++counters.resets;
      s->reset();
      co_return false;
    }
    co_return true;
  }
};

FaultProxy::FaultProxy(std::string target_host, std::uint16_t target_port, std::string listen_host,
                       std::uint16_t listen_port)
    : impl_(std::make_shared<Impl>()) {
  impl_->target_host = std::move(target_host);
  impl_->target_port = target_port;
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(listen_host, ec), listen_port);
  if (ec) throw std::runtime_error("fault proxy: bad listen address " + listen_host + ": " + ec.message());
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("fault proxy: cannot listen on " + listen_host + ":" + std::to_string(listen_port) +
                             ": " + ec.message());
  }
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->start_thread();
}

FaultProxy::~FaultProxy() {
  impl_->run_on_io([impl = impl_.get()] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    for (auto& w : impl->sessions)
      if (auto s = w.lock()) s->reset();
  });
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t FaultProxy::port() const noexcept { return impl_->acceptor.local_endpoint().port(); }

std::string FaultProxy::host() const { return impl_->acceptor.local_endpoint().address().to_string(); }

void FaultProxy::set_target(std::string host, std::uint16_t port) {
  std::lock_guard lock(impl_->target_mu);
  impl_->target_host = std::move(host);
  impl_->target_port = port;
}

void FaultProxy::set_latency(Direction dir, std::chrono::microseconds delay) {
  for (int d : {kUp, kDown})
    if (covers(dir, d)) impl_->settings.latency_us[d] = delay.count();
}

void FaultProxy::set_bandwidth(Direction dir, std::uint64_t bytes_per_second) {
  for (int d : {kUp, kDown})
    if (covers(dir, d)) impl_->settings.bandwidth[d] = bytes_per_second;
}

void FaultProxy::set_blackhole(bool on) { impl_->settings.blackhole = on; }

void FaultProxy::reset_all() {
  impl_->run_on_io([impl = impl_.get()] {
    for (auto& w : impl->sessions) {
      if (auto s = w.lock(); s && !s->closed) {
        ++impl->counters.resets;
        s->reset();
      }
    }
    impl->prune_sessions();
  });
}

void FaultProxy::close_after(std::uint64_t bytes, Direction dir) {
  for (int d : {kUp, kDown}) impl_->settings.close_after[d] = covers(dir, d) ? bytes : 0;
}

void FaultProxy::pause() { impl_->settings.paused = true; }

void FaultProxy::resume() { impl_->settings.paused = false; }

void FaultProxy::clear_faults() {
  set_latency(Direction::both, std::chrono::microseconds(0));
  set_bandwidth(Direction::both, 0);
  close_after(0, Direction::both);
  set_blackhole(false);
  resume();
}

ProxyCounters FaultProxy::counters() const {
  auto& c = impl_->counters;
  return ProxyCounters{c.accepted.load(), c.open.load(), c.up.load(), c.down.load(), c.resets.load(),
                       c.connect_failures.load()};
}

}  // namespace reservoir::tools
