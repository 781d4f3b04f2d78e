// HttpListener: see http_listener.h. A template over the Asio socket protocol, instantiated at the
// end of this file for the Unix socket and the loopback TCP ports.
//
// Built for a cache hit to cost two system calls (read, write) and no allocation, and for an idle
// connection to cost a few hundred bytes (docs/BENCHMARKS.md):
// - a connection is a small object driven by callbacks; while idle it holds no buffer, only a
//   pending readiness wait; bytes are read into one listener-wide buffer and parsed in place
//   (request_parser.h), and only the rest of an incomplete request is copied into the connection;
// - answers known at once are written at once (non-blocking); only a write that would block
//   keeps its rest and waits for the socket;
// - timeouts need no timer per connection: each phase (idle, reading a request, writing an answer,
//   lingering) has one fixed timeout, so its connections, queued in the order they entered it,
//   expire in that order — one Runtime timer serves them all, armed for the earliest deadline.
//
// On the Unix socket every read also says who sent the bytes (request_sender.h): SO_PASSCRED (and
// SO_PASSPIDFD where the kernel has it) on the listening socket, inherited by every accepted one;
// reads are recvmsg calls that take SCM_CREDENTIALS (and SCM_PIDFD). The kernel ends a read where
// the sender changes, so each read has one sender; a request continued by another sender is
// answered 400. The TCP listeners read as before.
#include "daemon/server/http_listener.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <type_traits>
#include <utility>

#include "daemon/server/http_status.h"
#include "daemon/server/recvmsg_op.hpp"
#include "daemon/server/request_sender.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76  // Linux 6.5 (asm-generic/socket.h); older headers lack it
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

namespace dbx {

namespace http_listener {

void serialize_response(const ApiResponse& r, bool keep_alive, std::string& out) {
  char number[24];
  out.clear();
  out.append("HTTP/1.1 ");
  auto end = std::to_chars(number, number + sizeof number, r.status).ptr;
  out.append(number, end).append(" ").append(reason_phrase(r.status));
  out.append("\r\nContent-Type: ").append(r.content_type);
  out.append("\r\nCache-Control: no-store");
  if (r.retry_after > 0) {
    end = std::to_chars(number, number + sizeof number, r.retry_after).ptr;
    out.append("\r\nRetry-After: ").append(number, end);
  }
  if (!keep_alive) out.append("\r\nConnection: close");
  end = std::to_chars(number, number + sizeof number, r.body.size()).ptr;
  out.append("\r\nContent-Length: ").append(number, end).append("\r\n\r\n");
  out.append(r.body);
}

}  // namespace http_listener

namespace {

namespace asio = boost::asio;

// The protocol value a descriptor is assigned with: AF_UNIX, or TCP over IPv4 (the loopback
// listeners bind 127.0.0.1).
asio::local::stream_protocol protocol_of(asio::local::stream_protocol*) {
  return {};
}
asio::ip::tcp protocol_of(asio::ip::tcp*) {
  return asio::ip::tcp::v4();
}

// Asks the kernel to tag every message read from `fd` (and from the connections a listening `fd`
// accepts) with its sender: SCM_CREDENTIALS, and SCM_PIDFD on Linux 6.5+ (older: the pid only).
// True when SCM_PIDFD is on (each connection turns it off after its first message).
bool pass_senders(int fd) {
  const int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
    spdlog::warn("SO_PASSCRED: {}", std::strerror(errno));
  return ::setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on) == 0;  // ENOPROTOOPT < 6.5
}

// Room for SCM_CREDENTIALS, SCM_PIDFD and a few descriptors a client may pass (SCM_RIGHTS, closed
// unread; those that do not fit the kernel closes itself).
constexpr std::size_t kControlSize =
    CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(int) * 4);

template <class Proto>
class Listener final : public HttpListener, public std::enable_shared_from_this<Listener<Proto>> {
 public:
  using Socket = typename Proto::socket;
  // The Unix socket knows who sent each byte; the loopback TCP ports do not.
  static constexpr bool kSenders = std::is_same_v<Proto, asio::local::stream_protocol>;

  Listener(asio::io_context& io, Runtime& runtime, ServerLimits limits, OnConnect on_connect)
      : io_(io),
        rt_(runtime),
        limits_(limits),
        parse_limits_{limits.max_header_bytes, limits.max_body_bytes},
        on_connect_(std::move(on_connect)),
        acceptor_(io),
        idle_{std::chrono::seconds(limits.idle_timeout_seconds)},
        reading_{std::chrono::seconds(limits.header_timeout_seconds)} {}

  ~Listener() override {
    if (timer_) timer_->cancel();
  }

  void serve(int listening_fd) override {
    if constexpr (kSenders) pass_pidfd_ = pass_senders(listening_fd);
    acceptor_.assign(protocol(), listening_fd);
    accept();
  }

  void adopt(int connected_fd) override {
    if constexpr (kSenders) pass_pidfd_ = pass_senders(connected_fd);
    admit(Socket(io_, protocol(), connected_fd));
  }

  void stop() override {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (Queue* q : {&idle_, &reading_})
      while (q->head) finish(*q->head);
  }
  std::size_t connections() const override { return open_; }

 private:
  struct Conn;
  using ConnPtr = std::shared_ptr<Conn>;

  static Proto protocol() { return protocol_of(static_cast<Proto*>(nullptr)); }

  // The connections in one phase, in the order they entered it: with one timeout per phase, that
  // is the order of their deadlines.
  struct Queue {
    SteadyClock::duration timeout;
    Conn* head = nullptr;
    Conn* tail = nullptr;
  };

  struct Conn {
    Conn(Socket s, std::shared_ptr<Listener> o) : sock(std::move(s)), owner(std::move(o)) {}
    ~Conn() {
      owner->unqueue(*this);
      if (admitted)
        --owner->open_;
      else
        --owner->refusing_;
    }
    Socket sock;
    std::shared_ptr<Listener> owner;
    std::optional<Dispatch> dispatch;  // empty: a refused connection
    std::string in;   // the received rest of a request not complete yet (usually empty)
    std::string out;  // the unsent rest of an answer, while the socket would block
    ConnPtr self;     // keeps the connection while its answer is computed elsewhere
    std::optional<ApiResponse> inline_answer;  // an answer given during the dispatch call
    SteadyTime deadline{};
    Conn* prev = nullptr;
    Conn* next = nullptr;
    Queue* queue = nullptr;
    std::array<char, 512> wait_buf;  // what wait() reads (most requests fit)
    RequestSender sender;            // Unix socket: who sent the latest read's bytes
    // Unix socket: what wait()'s recvmsg fills while it is pending.
    iovec wait_iov{};
    msghdr wait_msg{};
    alignas(cmsghdr) std::array<char, kControlSize> control{};
    bool pidfd_on = false;     // SO_PASSPIDFD still on (until the first message is read)
    std::size_t drained = 0;   // lingering: bytes read and dropped
    bool admitted = false;     // counted in open_ (else in refusing_)
    bool dispatching = false;  // inside the dispatch call
    bool lingering = false;
    bool close_after_write = false;
    bool linger_after_write = false;
  };

  // ---- accepting ----------------------------------------------------------------------------
  void accept() {
    acceptor_.async_accept(
        [self = this->shared_from_this()](boost::system::error_code ec, Socket sock) {
          if (self->stopping_ || ec == asio::error::operation_aborted) return;
          if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            spdlog::warn("accept failed: {}", ec.message());
            self->rt_.after(Millis(50), [self] {
              if (!self->stopping_) self->accept();
            });
            return;
          }
          self->admit(std::move(sock));
          self->accept();
        });
  }

  void admit(Socket sock) {
    boost::system::error_code ec;
    sock.non_blocking(true, ec);
    if (open_ >= limits_.max_connections) {
      if (++refused_ == 1 || refused_ % 1000 == 0)
        spdlog::warn("connection refused: {} open (limits.max_connections); {} refused so far",
                     open_, refused_);
      if (refusing_ >= kMaxRefusing) return;  // a flood: closed unanswered
      refuse(std::move(sock), busy_answer());
      return;
    }
    Admission admission = on_connect_(sock.native_handle());
    if (!admission.dispatch) {
      if (admission.refusal && refusing_ < kMaxRefusing)
        refuse(std::move(sock), *admission.refusal);
      return;
    }
    ++open_;
    auto c = std::make_shared<Conn>(std::move(sock), this->shared_from_this());
    c->admitted = true;
    c->dispatch = std::move(admission.dispatch);
    if constexpr (kSenders) c->pidfd_on = pass_pidfd_;
    // Idle until its first byte: a client that connects and never sends is closed after
    // idle_timeout like a kept-alive one, instead of holding a slot forever.
    enqueue(*c, idle_);
    read(c);
  }

  // A 503 over a cap, then a lingering close, so the client reads it instead of a reset.
  void refuse(Socket sock, const ApiResponse& answer) {
    ++refusing_;
    auto c = std::make_shared<Conn>(std::move(sock), this->shared_from_this());
    http_listener::serialize_response(answer, false, wbuf_);
    send(c, /*keep_alive=*/false, /*linger=*/true);
  }

  static ApiResponse busy_answer() {
    ApiResponse r = error_response(
        make_error(ErrorCode::upstream_unavailable, "too many connections; retry later"));
    r.status = 503;
    return r;
  }

  // ---- reading and answering ----------------------------------------------------------------
  // Reads what the socket has, serves the complete requests in it, and waits for more.
  void read(const ConnPtr& c) {
    for (;;) {
      boost::system::error_code ec;
      bool other_sender = false;
      const std::size_t n = receive(*c, ec, other_sender);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        wait(c);
        return;
      }
      if (ec) {  // end of stream, reset: the client is gone
        finish(*c);
        return;
      }
      if (other_sender) return refuse_other_sender(c);
      if (!consume(c, std::string_view(rbuf_.data(), n), n < rbuf_.size())) return;
    }
  }

  // One read into rbuf_. On the Unix socket a recvmsg that also notes the sender (take_sender);
  // `other_sender`: the connection holds part of a request that another sender began.
  std::size_t receive(Conn& c, boost::system::error_code& ec, bool& other_sender) {
    if constexpr (!kSenders) {
      return c.sock.read_some(asio::buffer(rbuf_), ec);
    } else {
      iovec iov{rbuf_.data(), rbuf_.size()};
      alignas(cmsghdr) char control[kControlSize];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      std::size_t n = 0;
      if (recvmsg_op::attempt(c.sock.native_handle(), msg, sizeof control, ec, n) ==
          recvmsg_op::detail::reactor_op::not_done) {
        ec = asio::error::would_block;
        return 0;
      }
      if (!ec) other_sender = take_sender(c, msg);
      return n;
    }
  }

  // Notes the sender of the message `msg` holds in c.sender (kept while it stays the same: a
  // connection whose sender does not change costs no syscall more). True: the connection holds
  // part of a request that another sender began.
  bool take_sender(Conn& c, msghdr& msg) {
    pid_t pid = 0;
    int pidfd = -1;
    for (cmsghdr* h = CMSG_FIRSTHDR(&msg); h != nullptr; h = CMSG_NXTHDR(&msg, h)) {
      if (h->cmsg_level != SOL_SOCKET) continue;
      const std::size_t data = h->cmsg_len - CMSG_LEN(0);
      if (h->cmsg_type == SCM_CREDENTIALS && data >= sizeof(ucred)) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(h), sizeof cred);
        pid = cred.pid;
      } else if (h->cmsg_type == SCM_PIDFD && data >= sizeof(int)) {
        if (pidfd >= 0) ::close(pidfd);
        std::memcpy(&pidfd, CMSG_DATA(h), sizeof pidfd);
      } else if (h->cmsg_type == SCM_RIGHTS) {
        // Descriptors a client passed: not wanted, and not to be kept open.
        for (std::size_t i = 0; i + sizeof(int) <= data; i += sizeof(int)) {
          int fd = -1;
          std::memcpy(&fd, CMSG_DATA(h) + i, sizeof fd);
          ::close(fd);
        }
      }
    }
    if (c.pidfd_on) {
      // The first message came with its pidfd; later ones need only the pid (request_sender.h).
      c.pidfd_on = false;
      const int off = 0;
      (void)::setsockopt(c.sock.native_handle(), SOL_SOCKET, SO_PASSPIDFD, &off, sizeof off);
    }
    const bool had_sender = c.sender.known;
    if (!note_message_sender(c.sender, pid, pidfd, rt_.steady_now())) return false;
    return had_sender && !c.in.empty();
  }

  // A request whose bytes came from two processes is no one's: 400, and the connection closes.
  void refuse_other_sender(const ConnPtr& c) {
    std::string().swap(c->in);
    unqueue(*c);
    ApiResponse r = error_response(
        make_error(ErrorCode::bad_request, "a request's bytes came from more than one process"));
    r.status = 400;
    http_listener::serialize_response(r, false, wbuf_);
    send(c, false, /*linger=*/true);
  }

  // Serves what was read (`data`, in rbuf_ or the connection's wait buffer). True: read on.
  bool consume(const ConnPtr& c, std::string_view data, bool short_read) {
    if (!c->in.empty()) {
      c->in.append(data);
      data = c->in;
    }
    if (!serve(c, data)) return false;
    // A short read emptied the socket: anything sent later raises a new readiness event.
    if (short_read) {
      wait(c);
      return false;
    }
    return true;
  }

  // Serves the complete requests at the start of `data` (which is rbuf_ or c->in) and keeps the
  // rest in c->in. True: go on reading; false: an answer is pending, being written, or the
  // connection is closing.
  bool serve(const ConnPtr& c, std::string_view data) {
    std::size_t used = 0;
    bool more = true;
    while (more) {
      RequestParse p = parse_request(data.substr(used), parse_limits_);
      if (p.kind == RequestParse::Kind::incomplete) {
        if (used < data.size()) {
          // From its first byte, the whole request must arrive within header_timeout: a
          // slow-loris client is cut off, not waited for.
          if (c->queue != &reading_) enqueue(*c, reading_);
        } else {
          enqueue(*c, idle_);
        }
        break;
      }
      if (p.kind == RequestParse::Kind::error) {
        used = data.size();
        ApiResponse r = error_response(make_error(ErrorCode::bad_request, std::string(p.message)));
        r.status = p.status;
        http_listener::serialize_response(r, false, wbuf_);
        send(c, false, /*linger=*/true);  // the client may still be sending: drain before closing
        more = false;
        break;
      }
      used += p.size;
      unqueue(*c);
      if constexpr (kSenders) p.request.sender = &c->sender;
      more = dispatch(c, p.request);
    }
    keep_rest(*c, data, used);
    return more;
  }

  static void keep_rest(Conn& c, std::string_view data, std::size_t used) {
    if (!c.in.empty() && data.data() == c.in.data()) {
      c.in.erase(0, used);
    } else {
      c.in.assign(data.substr(used));
    }
    if (c.in.empty()) std::string().swap(c.in);  // an idle connection holds no buffer
  }

  // Routes one request; true when it was answered at once and fully written.
  bool dispatch(const ConnPtr& c, const InboundRequest& req) {
    const bool keep_alive = req.keep_alive;
    c->self = c;
    c->dispatching = true;
    Conn* raw = c.get();
    (*c->dispatch)(req, [raw, keep_alive](ApiResponse r) {
      if (raw->dispatching) {
        raw->inline_answer = std::move(r);
        return;
      }
      // Later, from the engine: resume the connection from the loop, never from inside the
      // engine's callback.
      ConnPtr conn = std::move(raw->self);
      Listener& l = *raw->owner;
      asio::post(l.io_, [conn = std::move(conn), r = std::move(r), keep_alive]() mutable {
        Listener& owner = *conn->owner;
        http_listener::serialize_response(r, keep_alive && !owner.stopping_, owner.wbuf_);
        if (owner.send(conn, keep_alive && !owner.stopping_, false)) owner.resume(conn);
      });
    });
    c->dispatching = false;
    if (!c->inline_answer) return false;  // answered later
    c->self.reset();
    const bool keep = keep_alive && !stopping_;
    http_listener::serialize_response(*c->inline_answer, keep, wbuf_);
    c->inline_answer.reset();
    return send(c, keep, false);
  }

  // Sends wbuf_. True when it was written fully and the connection stays open for more requests.
  bool send(const ConnPtr& c, bool keep_alive, bool linger) {
    boost::system::error_code ec;
    const std::size_t n = c->sock.write_some(asio::buffer(wbuf_), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      finish(*c);
      return false;
    }
    if (!ec && n == wbuf_.size()) {
      if (keep_alive) return true;
      close_after_answer(c, linger);
      return false;
    }
    c->out.assign(wbuf_, ec ? 0 : n);
    c->close_after_write = !keep_alive;
    c->linger_after_write = linger;
    enqueue(*c, writing_);
    asio::async_write(c->sock, asio::buffer(c->out),
                      [c](boost::system::error_code ec, std::size_t) {
                        Listener& l = *c->owner;
                        std::string().swap(c->out);
                        l.unqueue(*c);
                        if (ec) return l.finish(*c);
                        if (c->close_after_write)
                          return l.close_after_answer(c, c->linger_after_write);
                        l.resume(c);
                      });
    return false;
  }

  // After an answer went out on a kept-alive connection: serve what is buffered, then read more
  // (reading first: a readiness event may have passed while the connection was away).
  void resume(const ConnPtr& c) {
    if (stopping_) return finish(*c);
    if (!c->in.empty()) {
      std::string held;
      held.swap(c->in);
      if (!serve(c, held)) return;
    }
    read(c);
  }

  // Waits for the client's next bytes with a read into the connection's own small buffer, not
  // with async_wait: Asio re-arms the descriptor (epoll_ctl) for every async_wait, but not for a
  // read, which it tries at once only when the last one did not empty the socket. One syscall
  // less per request; 512 bytes more per connection. Longer requests go on in read().
  // The Unix socket: Asio's reads cannot take the sender's credentials, so that read is a
  // recvmsg with ancillary data run by Asio's reactor like async_read_some (recvmsg_op.hpp).
  // Lingering drops bytes: a plain read.
  void wait(const ConnPtr& c) {
    if constexpr (kSenders) {
      if (!c->lingering) {
        c->wait_iov = iovec{c->wait_buf.data(), c->wait_buf.size()};
        c->wait_msg = msghdr{};
        c->wait_msg.msg_iov = &c->wait_iov;
        c->wait_msg.msg_iovlen = 1;
        c->wait_msg.msg_control = c->control.data();
        recvmsg_op::async_recvmsg(
            io_, c->sock, &c->wait_msg, c->control.size(),
            [c](boost::system::error_code ec, std::size_t n) {
              Listener& l = *c->owner;
              if (ec) return l.finish(*c);  // end of stream, reset, closed by a deadline
              if (l.take_sender(*c, c->wait_msg)) return l.refuse_other_sender(c);
              if (l.consume(c, std::string_view(c->wait_buf.data(), n), n < c->wait_buf.size()))
                l.read(c);
            });
        return;
      }
    }
    c->sock.async_read_some(
        asio::buffer(c->wait_buf), [c](boost::system::error_code ec, std::size_t n) {
          Listener& l = *c->owner;
          if (ec) return l.finish(*c);  // end of stream, reset, closed by a deadline
          if (c->lingering) {
            c->drained += n;
            if (c->drained >= kLingerBytes) return l.finish(*c);
            return l.drain(c);
          }
          if (l.consume(c, std::string_view(c->wait_buf.data(), n), n < c->wait_buf.size()))
            l.read(c);
        });
  }

  // Closing after an answer. A client that had nothing more to send is closed at once; one whose
  // request was cut short (an error answer) may still be sending: closing with unread input would
  // reset the connection (TCP RST) before it read the answer, so stop sending and drop its input
  // for at most 64 KiB or 1 s first.
  void close_after_answer(const ConnPtr& c, bool linger) {
    boost::system::error_code ec;
    if (!linger) return finish(*c);
    c->sock.shutdown(Socket::shutdown_send, ec);
    c->lingering = true;
    enqueue(*c, lingering_);
    drain(c);
  }

  void drain(const ConnPtr& c) {
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = c->sock.read_some(asio::buffer(rbuf_), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) return wait(c);
      c->drained += n;
      if (ec || c->drained >= kLingerBytes) return finish(*c);
    }
  }

  // Ends the connection now. Its object goes when the last pending operation lets go of it.
  void finish(Conn& c) {
    unqueue(c);
    boost::system::error_code ec;
    c.sock.shutdown(Socket::shutdown_both, ec);
    c.sock.close(ec);
  }

  // ---- deadlines ----------------------------------------------------------------------------
  void enqueue(Conn& c, Queue& q) {
    unqueue(c);
    c.deadline = rt_.steady_now() + q.timeout;
    c.queue = &q;
    c.prev = q.tail;
    (q.tail ? q.tail->next : q.head) = &c;
    q.tail = &c;
    if (c.deadline < timer_at_) arm(c.deadline);
  }

  void unqueue(Conn& c) {
    if (!c.queue) return;
    Queue& q = *c.queue;
    (c.prev ? c.prev->next : q.head) = c.next;
    (c.next ? c.next->prev : q.tail) = c.prev;
    c.prev = c.next = nullptr;
    c.queue = nullptr;
  }

  // Rounded up to the millisecond, so that the timer never fires before the deadline.
  void arm(SteadyTime at) {
    if (timer_) timer_->cancel();  // re-armed earlier
    timer_at_ = at;
    const auto delay = std::max(Millis(0), std::chrono::ceil<Millis>(at - rt_.steady_now()));
    timer_ = rt_.after(delay, [weak = this->weak_from_this()] {
      if (auto self = weak.lock()) self->expire();
    });
  }

  void expire() {
    timer_.reset();
    timer_at_ = SteadyTime::max();
    const auto now = rt_.steady_now();
    SteadyTime next = SteadyTime::max();
    for (Queue* q : {&idle_, &reading_, &writing_, &lingering_}) {
      while (q->head && q->head->deadline <= now) finish(*q->head);
      if (q->head && q->head->deadline < next) next = q->head->deadline;
    }
    if (next != SteadyTime::max()) arm(next);
  }

  static constexpr std::size_t kMaxRefusing = 64;  // 503s lingering at once; beyond, a plain close
  static constexpr std::size_t kLingerBytes = 64 * 1024;

  asio::io_context& io_;
  Runtime& rt_;
  ServerLimits limits_;
  RequestLimits parse_limits_;
  OnConnect on_connect_;
  typename Proto::acceptor acceptor_;
  std::shared_ptr<Timer> timer_;
  SteadyTime timer_at_ = SteadyTime::max();
  Queue idle_;
  Queue reading_;
  Queue writing_{http_listener::kWriteTimeout};
  Queue lingering_{http_listener::kLingerTimeout};
  std::array<char, 16 * 1024> rbuf_{};  // every connection reads into this (one thread)
  std::string wbuf_;                    // every answer is serialized into this
  std::size_t open_ = 0;
  std::size_t refusing_ = 0;
  bool pass_pidfd_ = false;  // the Unix socket: SO_PASSPIDFD took (Linux 6.5+)
  std::size_t refused_ = 0;  // connections turned away at max_connections (for the log)
  bool stopping_ = false;
};

// The two protocols the daemon serves: compiled here once, not in every file that listens.
template class Listener<asio::local::stream_protocol>;
template class Listener<asio::ip::tcp>;

}  // namespace

std::shared_ptr<HttpListener> HttpListener::create(Protocol protocol, asio::io_context& io,
                                                   Runtime& runtime, ServerLimits limits,
                                                   OnConnect on_connect) {
  if (protocol == Protocol::unix_stream)
    return std::make_shared<Listener<asio::local::stream_protocol>>(io, runtime, limits,
                                                                    std::move(on_connect));
  return std::make_shared<Listener<asio::ip::tcp>>(io, runtime, limits, std::move(on_connect));
}

}  // namespace dbx
