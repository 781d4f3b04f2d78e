// An asynchronous recvmsg on a Unix stream socket, through Asio's reactor the way
// async_read_some goes: tried at once (speculatively), and when the socket is empty queued on the
// descriptor the reactor already watches (no epoll_ctl, unlike async_wait).
//
// Why Asio's detail API: the Unix socket's reads must take ancillary data (SCM_CREDENTIALS, the
// sender of the bytes; request_sender.h), and Asio's public reads cannot (socket_ops::recv calls
// recvmsg without msg_control), while async_wait re-arms the descriptor with an epoll_ctl per
// call. So this one file builds a reactor operation like Asio's own reactive_socket_recv_op and
// starts it on the socket's reactor data. Only http_listener.cpp includes it. The Asio internals
// it names are those of Boost 1.81 (Debian 12), where it is tested; another version must be
// checked against detail/reactive_socket_recv_op.hpp and epoll_reactor::start_op first.
#pragma once

#include <boost/version.hpp>

#if BOOST_VERSION != 108100
static_assert(BOOST_VERSION == 108100,
              "recvmsg_op.hpp uses Asio's detail API as of Boost 1.81 (tested on Debian 12): "
              "check it against this Boost's reactive_socket_recv_op before allowing it");
#endif

#include <sys/socket.h>

#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cerrno>
#include <cstddef>

#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) || !defined(BOOST_ASIO_HAS_EPOLL)
#error "recvmsg_op.hpp expects Asio's epoll reactor"
#endif

namespace dbx::recvmsg_op {

namespace detail = boost::asio::detail;

// The status of one attempt, as Asio's reactor expects it and as reactive_socket_recv_op gives
// it: end of stream exhausts the socket; a short read does not, because on a socket that passes
// credentials the kernel also ends a read where the sender changes, with the next sender's bytes
// still queued and no readiness event to come for them.
inline detail::reactor_op::status attempt(int fd, msghdr& msg, std::size_t control_size,
                                          boost::system::error_code& ec, std::size_t& bytes) {
  ssize_t n = 0;
  do {
    msg.msg_controllen = control_size;  // recvmsg overwrites it with what it filled
    msg.msg_flags = 0;
    n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  bytes = 0;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return detail::reactor_op::not_done;
    ec.assign(errno, boost::asio::error::get_system_category());
    return detail::reactor_op::done;
  }
  if (n == 0) {
    ec = boost::asio::error::eof;
    return detail::reactor_op::done_and_exhausted;
  }
  ec = boost::system::error_code();
  bytes = static_cast<std::size_t>(n);
  return detail::reactor_op::done;
}

// Owns the handler like Asio's ops: memory from the handler's associated allocator, freed before
// the upcall; destroyed without an upcall when the io_context shuts down (owner == nullptr).
template <class Handler, class IoExecutor>
class Op : public detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(Op);

  Op(const boost::system::error_code& success_ec, int fd, msghdr* msg, std::size_t control_size,
     Handler& handler, const IoExecutor& io_ex)
      : reactor_op(success_ec, &Op::do_perform, &Op::do_complete),
        fd_(fd),
        msg_(msg),
        control_size_(control_size),
        handler_(static_cast<Handler&&>(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    Op* o = static_cast<Op*>(base);
    return attempt(o->fd_, *o->msg_, o->control_size_, o->ec_, o->bytes_transferred_);
  }

  static void do_complete(void* owner, detail::operation* base,
                          const boost::system::error_code& /*ec*/, std::size_t /*bytes*/) {
    Op* o = static_cast<Op*>(base);
    ptr p = {detail::addressof(o->handler_), o, o};
    detail::handler_work<Handler, IoExecutor> w(
        static_cast<detail::handler_work<Handler, IoExecutor>&&>(o->work_));
    // A copy of the handler, so that the op's memory is freed before the upcall.
    detail::binder2<Handler, boost::system::error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                             o->bytes_transferred_);
    p.h = detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      detail::fenced_block b(detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int fd_;
  msghdr* msg_;
  std::size_t control_size_;
  Handler handler_;
  detail::handler_work<Handler, IoExecutor> work_;
};

// Reaches the socket's implementation (protected in basic_socket) without changing its type.
class Access : public boost::asio::local::stream_protocol::socket {
 public:
  using Base = boost::asio::local::stream_protocol::socket;
  static auto& impl(Base& s) { return s.*(&Access::impl_); }
};

// Reads into `msg` (its iovec, one buffer, and msg_control of `control_size` bytes, both valid
// until the handler runs) and calls handler(error_code, bytes). The socket must be non-blocking.
// End of stream: boost::asio::error::eof; closing the socket: operation_aborted, as for
// async_read_some.
template <class Handler>
void async_recvmsg(boost::asio::io_context& io, boost::asio::local::stream_protocol::socket& sock,
                   msghdr* msg, std::size_t control_size, Handler handler) {
  auto& impl = Access::impl(sock);
  auto& data = impl.get_implementation();
  using IoExecutor = boost::asio::local::stream_protocol::socket::executor_type;
  using op = Op<Handler, IoExecutor>;
  const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
  typename op::ptr p = {detail::addressof(handler), op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) op(boost::system::error_code(), data.socket_, msg, control_size, handler,
                     impl.get_executor());
  auto& reactor = boost::asio::use_service<detail::reactor>(io);
  if ((data.state_ & detail::socket_ops::non_blocking) == 0) {
    p.p->ec_ = boost::asio::error::operation_not_supported;  // admit() makes every socket so
    reactor.post_immediate_completion(p.p, is_continuation);
  } else {
    reactor.start_op(detail::reactor::read_op, data.socket_, data.reactor_data_, p.p,
                     is_continuation, /*allow_speculative=*/true);
  }
  p.v = p.p = nullptr;
}

}  // namespace dbx::recvmsg_op
