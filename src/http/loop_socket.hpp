// src/http/loop_socket.hpp — a connection's descriptor kept registered with a caller's event
// loop between asynchronous calls (http::async_request).
//
// Moving a descriptor onto a loop and back costs 6 syscalls (Asio's assign()/release() register
// and deregister it: 2 epoll_ctl each way; the first asynchronous operation makes it
// non-blocking and the way back blocking again: 2 ioctl). So after a call the descriptor stays
// in a LoopSocket on the caller's executor, and the next call on the same executor uses it as
// is; it goes back to the connection's blocking socket only when the connection is used
// otherwise (a blocking call, another executor).
//
// Lifetimes. A LoopSocket is shared by its connection (DeadlineSocket) and the LoopSockets
// service of its executor's execution context, which detaches it when that context shuts down
// (an io_context destroyed): the socket object goes, the descriptor stays open here and goes
// back to its connection at its next use. Only the connection closes the descriptor (close(),
// its destruction), so a descriptor number is never reused under the connection's feet, and
// a connection closed by the pool leaves no registration behind in a loop still running.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace reservoir::http::detail {

class LoopSockets;

class LoopSocket {
 public:
  using socket_type = boost::asio::ip::tcp::socket;

  // A socket on `ex` holding `fd` (registered with ex's context), or, for fd < 0, a closed
  // one for an asynchronous connect. Errors: Asio's assign() (then `fd` is closed).
  static std::shared_ptr<LoopSocket> make(const boost::asio::any_io_executor& ex, boost::asio::ip::tcp protocol,
                                          int fd, boost::system::error_code& ec);
  LoopSocket() = default;
  LoopSocket(const LoopSocket&) = delete;
  LoopSocket& operator=(const LoopSocket&) = delete;
  ~LoopSocket() { close(); }

  // True when the descriptor is open in a socket on `ex` (not detached by its context's end).
  bool on(const boost::asio::any_io_executor& ex);
  // The socket, for the asynchronous operations of a call running on its executor (the loop
  // cannot shut down under a call it runs, so no lock is needed there).
  socket_type& socket() noexcept { return *socket_; }
  // Takes the descriptor back (deregistered; -1 when it was closed): this is then empty.
  int take() noexcept;
  void close() noexcept;
  bool is_open();
  int native_handle();

 private:
  friend class LoopSockets;
  // From LoopSockets::shutdown(): the socket object goes, the descriptor stays open here.
  void detach(const LoopSockets* from) noexcept;
  // Under mutex_: leaves the registry.
  void leave_locked() noexcept;

  std::mutex mutex_;
  std::optional<socket_type> socket_;
  int detached_fd_ = -1;  // the descriptor after the context shut down
  LoopSockets* registry_ = nullptr;
};

// One execution context's LoopSockets (use_service): detaches them when the context shuts down.
class LoopSockets : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;
  explicit LoopSockets(boost::asio::execution_context& ctx) : service(ctx) {}

  void add(const std::shared_ptr<LoopSocket>& s);
  void remove(const LoopSocket* s) noexcept;

 private:
  void shutdown() override;

  std::mutex mutex_;
  std::unordered_map<const LoopSocket*, std::weak_ptr<LoopSocket>> sockets_;
};

}  // namespace reservoir::http::detail
