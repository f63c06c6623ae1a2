#include "loop_socket.hpp"

#include <unistd.h>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

namespace reservoir::http::detail {

namespace asio = boost::asio;

std::shared_ptr<LoopSocket> LoopSocket::make(const asio::any_io_executor& ex, asio::ip::tcp protocol, int fd,
                                             boost::system::error_code& ec) {
  auto s = std::make_shared<LoopSocket>();
  s->socket_.emplace(ex);
  ec = {};
  if (fd >= 0) s->socket_->assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return nullptr;
  }
  auto& registry = asio::use_service<LoopSockets>(asio::query(ex, asio::execution::context));
  s->registry_ = &registry;
  registry.add(s);
  return s;
}

bool LoopSocket::on(const asio::any_io_executor& ex) {
  std::lock_guard lock(mutex_);
  return socket_ && socket_->is_open() && socket_->get_executor() == ex;
}

int LoopSocket::take() noexcept {
  std::lock_guard lock(mutex_);
  leave_locked();
  int fd = std::exchange(detached_fd_, -1);
  if (socket_ && socket_->is_open()) {
    boost::system::error_code ec;
    fd = socket_->release(ec);
    if (ec) fd = -1;
  }
  socket_.reset();
  return fd;
}

void LoopSocket::close() noexcept {
  std::lock_guard lock(mutex_);
  leave_locked();
  if (socket_) {
    boost::system::error_code ec;
    socket_->close(ec);
    socket_.reset();
  }
  if (detached_fd_ >= 0) ::close(std::exchange(detached_fd_, -1));
}

bool LoopSocket::is_open() {
  std::lock_guard lock(mutex_);
  return socket_ ? socket_->is_open() : detached_fd_ >= 0;
}

int LoopSocket::native_handle() {
  std::lock_guard lock(mutex_);
  return socket_ ? socket_->native_handle() : detached_fd_;
}

void LoopSocket::detach(const LoopSockets* from) noexcept {
  std::lock_guard lock(mutex_);
  if (registry_ != from) return;  // left it meanwhile
  registry_ = nullptr;
  if (!socket_) return;
  if (socket_->is_open()) {
    // Deregistered, or nothing to do when the reactor already shut down (Asio leaves its
    // descriptor states to the reactor's destructor then).
    boost::system::error_code ec;
    int fd = socket_->release(ec);
    if (!ec) detached_fd_ = fd;
  }
  socket_.reset();
}

void LoopSocket::leave_locked() noexcept {
  if (registry_ != nullptr) registry_->remove(this);
  registry_ = nullptr;
}

void LoopSockets::add(const std::shared_ptr<LoopSocket>& s) {
  std::lock_guard lock(mutex_);
  sockets_.emplace(s.get(), s);
}

void LoopSockets::remove(const LoopSocket* s) noexcept {
  std::lock_guard lock(mutex_);
  sockets_.erase(s);
}

void LoopSockets::shutdown() {
  // Not under mutex_ while detaching: a connection leaving (LoopSocket's lock, then this one)
  // must not wait for a detach that waits for its lock.
  std::unordered_map<const LoopSocket*, std::weak_ptr<LoopSocket>> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(sockets_);
  }
  for (auto& [key, weak] : all) {
    if (auto s = weak.lock()) s->detach(this);
  }
}

}  // namespace reservoir::http::detail
