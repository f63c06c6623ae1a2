// http::async_request(): the steps of Connection::request() (src/http/steps.hpp), awaited on
// the caller's executor. The connection's descriptor is lent to a socket on that executor for
// the call (DeadlineSocket::lend) and given back when it completes.
#include "reservoir/http_asio/async_request.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <memory>

#include "reservoir/asio/clock_wait.hpp"
#include "steps.hpp"
#include "transport.hpp"

namespace reservoir::http::detail {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// One call's state, shared by its coroutine, its deadline timer and its cancellation handler.
struct CallState {
  explicit CallState(const net::any_io_executor& ex) : executor(ex), timer(ex) {}

  // The deadline or a cancel: closing the connection's socket on the loop ends whatever is
  // awaited on it.
  void stop() {
    if (loop) loop->close();
    gate_cancel.emit(net::cancellation_type::terminal);
  }

  net::any_io_executor executor;
  // The descriptor of the attempt's transport on the caller's loop (kept alive here, so a
  // stop() after its transport was replaced closes nothing of the new one).
  std::shared_ptr<LoopSocket> loop;
  net::steady_timer timer;
  net::cancellation_signal gate_cancel;
  bool timed_out = false;
  bool cancelled = false;
  std::optional<Result<Response>> outcome;
};

// The typed error of a failed step; the transport is closed (never reused).
Error failed(Connection& c, const Request& req, CallState& st, Stage stage, const error_code& ec) {
  if (st.cancelled) return Steps::cancelled(c, req, stage);
  return Steps::fail(c, req, stage, st.timed_out ? error_code(boost::beast::error::timeout) : ec);
}

template <class Stream>
net::awaitable<Result<Response>> exchange(Connection& c, Stream& stream, const Request& req, CallState& st) {
  if (auto e = Steps::writable(c, req)) co_return std::move(*e);
  Transport& t = Steps::transport(c);
  auto br = Steps::to_beast(c, req);
  t.in_flight = true;
  auto [wec, written] = co_await bhttp::async_write(stream, br, kTuple);
  if (wec || st.timed_out || st.cancelled) {
    co_return failed(c, req, st, written == 0 ? Stage::before_write : Stage::written_no_response, wec);
  }
  for (int count = 0;; ++count) {
    BeastParser parser;
    Steps::prepare(c, parser, req);
    auto [hec, n] = co_await bhttp::async_read_header(stream, t.buffer, parser, kTuple);
    (void)n;
    if (hec || st.timed_out || st.cancelled) {
      bool got = parser.got_some() || t.buffer.size() > 0;
      co_return failed(c, req, st, got ? Stage::partial_response : Stage::written_no_response, hec);
    }
    bool informational = false;
    if (auto e = Steps::on_head(c, parser, req, count, informational)) co_return std::move(*e);
    if (informational) continue;
    if (!parser.is_done()) {
      auto [bec, m] = co_await bhttp::async_read(stream, t.buffer, parser, kTuple);
      (void)m;
      if (bec || st.timed_out || st.cancelled) co_return failed(c, req, st, Stage::partial_response, bec);
    }
    co_return Steps::finish(c, parser);  // the descriptor stays on the loop for the next call
  }
}

// A fresh connection, connected (and for https handshaken) on the caller's executor, where its
// descriptor stays. Errors: as Connection::open(), and cancelled.
net::awaitable<Status> connect(Connection& c, const Request& req, CallState& st) {
  auto t = Steps::new_transport(c);
  std::string cause;
  tcp::resolver::results_type endpoints;
  error_code ec = t->resolve(endpoints, cause);
  if (!ec) st.loop = t->socket().on_loop(st.executor, ec);
  if (ec && cause.empty()) cause = ec.message();
  if (!ec) {
    auto [cec, ep] = co_await net::async_connect(st.loop->socket(), endpoints, kTuple);
    (void)ep;
    ec = cec;
    if (ec) cause = st.timed_out ? "connect timed out" : ec.message();
  }
  if (!ec && !st.timed_out && !st.cancelled) {
    t->socket().connected_on_loop();
    if (t->tls) {
      t->prepare_tls();
      auto [hec] = co_await t->tls->async_handshake(net::ssl::stream_base::client, kTuple);
      ec = hec;
      if (ec) cause = t->handshake_failure(st.timed_out ? error_code(boost::beast::error::timeout) : ec);
    }
  }
  if (st.cancelled) co_return Steps::cancelled(c, req, Stage::before_write);  // `t` closes as it goes
  if (st.timed_out) {
    ec = boost::beast::error::timeout;
    if (cause.empty() || !t->tls) cause = "connect timed out";
  }
  co_return Steps::connected(c, std::move(t), ec, cause);
}

// One attempt: reuse the transport (lent for the call) or connect a fresh one, then exchange.
// `idle`: how long the transport used had been idle (as request() measures it).
net::awaitable<Result<Response>> attempt(Connection& c, const Request& req, Deadline deadline, CallState& st,
                                         bool& reused, Duration& idle) {
  // The deadline or a cancel that came while nothing was lent (the gate, between attempts):
  // nothing is written.
  if (st.cancelled) co_return Steps::cancelled(c, req, Stage::before_write);
  if (st.timed_out || deadline.expired()) {
    co_return Steps::fail(c, req, Stage::before_write, boost::beast::error::timeout);
  }
  reused = Steps::reuse(c);
  if (!reused) {
    if (Status s = co_await connect(c, req, st); !s) co_return std::move(s).error();
  } else {
    error_code ec;
    st.loop = Steps::transport(c).socket().on_loop(st.executor, ec);
    if (ec) co_return failed(c, req, st, Stage::before_write, ec);
  }
  idle = Steps::idle_for(c);
  Transport& t = Steps::transport(c);
  if (t.tls) co_return co_await exchange(c, *t.tls, req, st);
  co_return co_await exchange(c, t.socket(), req, st);
}

net::awaitable<void> run_request(Connection& c, Request req, Deadline deadline, bool as_call,
                                 std::shared_ptr<CallState> st) {
  auto gate = Steps::gate(c, req, deadline);
  if (!gate) {
    st->outcome.emplace(std::move(gate).error());
    co_return;
  }
  if (*gate) {
    auto slot = st->gate_cancel.slot();
    (void)co_await reservoir::asio::async_wait_until(deadline.clock(), **gate, net::bind_cancellation_slot(slot, kTuple));
    if (st->cancelled) {
      st->outcome.emplace(Steps::cancelled(c, req, Stage::before_write));
      co_return;
    }
  }
  bool retried = false;
  for (;;) {
    bool reused = false;
    Duration idle{0};
    auto r = co_await attempt(c, req, deadline, *st, reused, idle);
    if (r) {
      Steps::succeeded(c, *r, reused, idle);
      st->outcome.emplace(as_call ? Steps::as_call(c, req, std::move(r)) : std::move(r));
      co_return;
    }
    if (auto e = Steps::after_failure(c, req, std::move(r).error(), reused, retried, idle)) {
      st->outcome.emplace(std::move(*e));
      co_return;
    }
  }
}

}  // namespace

void start_async_request(Connection& conn, Request req, Deadline deadline, bool as_call, net::any_io_executor io,
                         AsyncRequestHandler handler) {
  auto st = std::make_shared<CallState>(io);
  std::weak_ptr<CallState> weak = st;
  auto slot = net::get_associated_cancellation_slot(handler);
  if (slot.is_connected()) {
    slot.assign([weak](net::cancellation_type type) {
      if (type == net::cancellation_type::none) return;
      if (auto s = weak.lock(); s && !s->outcome) {
        s->cancelled = true;
        s->stop();
      }
    });
  }
  st->timed_out = deadline.expired();  // the timer's completion would come after the first write
  st->timer.expires_after(std::max(deadline.remaining(), Duration::zero()));
  st->timer.async_wait([weak](const error_code& ec) {
    if (ec) return;
    if (auto s = weak.lock(); s && !s->outcome) {
      s->timed_out = true;
      s->stop();
    }
  });
  net::co_spawn(io, run_request(conn, std::move(req), deadline, as_call, st),
                [st, io, handler = std::move(handler)](std::exception_ptr e) mutable {
                  st->timer.cancel();
                  st->loop.reset();  // a late timer or cancel closes nothing after the call
                  auto slot = net::get_associated_cancellation_slot(handler);
                  if (slot.is_connected()) slot.clear();
                  Result<Response> r = st->outcome ? std::move(*st->outcome)
                                                   : Result<Response>(Error::make(ErrorKind::internal,
                                                                                  e ? "async_request: an exception escaped"
                                                                                    : "async_request: no outcome"));
                  auto ex = net::get_associated_executor(handler, io);
                  net::dispatch(ex, [h = std::move(handler), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
                });
}

}  // namespace reservoir::http::detail
