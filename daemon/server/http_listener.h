// HttpListener<Protocol>: the daemon's HTTP/1.1 server, shared by the Unix socket (unix_server.cpp)
// and the loopback TCP ports (loopback_server.cpp): accept with a connection cap, keep-alive
// connections, size limits and timeouts, and the bridge from the engine's callbacks back to the
// connection. Asio template code: include it ONLY from those two files (docs/ARCHITECTURE.md).
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
//   expire in that order — one timer serves them all, armed for the earliest deadline.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/server/request_parser.h"
#include "daemon/server/router.h"
#include "daemon/server/server_limits.h"

namespace dbx {

namespace http_listener {

// Answers one request: calls `done` exactly once, inline or later on the loop. The request's
// views are valid only during the call: copy what a later answer needs.
using Dispatch = std::function<void(const InboundRequest&, std::function<void(ApiResponse)>)>;

std::string_view reason_phrase(int status);

// The answer as HTTP/1.1 bytes, into `out` (reused, so no allocation once it is large enough).
inline void serialize_response(const ApiResponse& r, bool keep_alive, std::string& out) {
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

inline std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace http_listener

template <class Protocol>
class HttpListener : public std::enable_shared_from_this<HttpListener<Protocol>> {
 public:
  using Socket = typename Protocol::socket;
  using Dispatch = http_listener::Dispatch;
  // What to do with an accepted connection.
  struct Admission {
    std::optional<Dispatch> dispatch;    // serve its requests with this
    std::optional<ApiResponse> refusal;  // else answer this (e.g. 503 over a cap) and close
  };
  // Called once per accepted connection. Neither dispatch nor refusal: close it at once (e.g. the
  // peer's credentials could not be read).
  using OnConnect = std::function<Admission(Socket&)>;

  HttpListener(boost::asio::io_context& io, ServerLimits limits, OnConnect on_connect)
      : io_(io),
        limits_(limits),
        parse_limits_{limits.max_header_bytes, limits.max_body_bytes},
        on_connect_(std::move(on_connect)),
        acceptor_(io),
        timer_(io),
        idle_{std::chrono::seconds(limits.idle_timeout_seconds)},
        reading_{std::chrono::seconds(limits.header_timeout_seconds)} {}

  typename Protocol::acceptor& acceptor() { return acceptor_; }

  void start() { accept(); }
  // Stops accepting; connections waiting for a request close at once, those with a request in
  // flight finish it first (graceful drain on SIGTERM).
  void stop() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (Queue* q : {&idle_, &reading_})
      while (q->head) finish(*q->head);
  }
  std::size_t connections() const { return open_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Conn;
  using ConnPtr = std::shared_ptr<Conn>;

  // The connections in one phase, in the order they entered it: with one timeout per phase, that
  // is the order of their deadlines.
  struct Queue {
    Clock::duration timeout;
    Conn* head = nullptr;
    Conn* tail = nullptr;
  };

  struct Conn {
    Conn(Socket s, std::shared_ptr<HttpListener> o) : sock(std::move(s)), owner(std::move(o)) {}
    ~Conn() {
      owner->unqueue(*this);
      if (admitted)
        --owner->open_;
      else
        --owner->refusing_;
    }
    Socket sock;
    std::shared_ptr<HttpListener> owner;
    std::optional<Dispatch> dispatch;  // empty: a refused connection
    std::string in;   // the received rest of a request not complete yet (usually empty)
    std::string out;  // the unsent rest of an answer, while the socket would block
    ConnPtr self;     // keeps the connection while its answer is computed elsewhere
    std::optional<ApiResponse> inline_answer;  // an answer given during the dispatch call
    Clock::time_point deadline{};
    Conn* prev = nullptr;
    Conn* next = nullptr;
    Queue* queue = nullptr;
    std::size_t drained = 0;   // lingering: bytes read and dropped
    bool admitted = false;     // counted in open_ (else in refusing_)
    bool dispatching = false;  // inside the dispatch call
    bool lingering = false;
    bool close_after_write = false;
    bool linger_after_write = false;
  };

  // ---- accepting ----------------------------------------------------------------------------
  void accept() {
    acceptor_.async_accept([self = this->shared_from_this()](boost::system::error_code ec,
                                                             Socket sock) {
      if (self->stopping_ || ec == boost::asio::error::operation_aborted) return;
      if (ec) {
        // EMFILE and friends: back off briefly instead of spinning.
        spdlog::warn("accept failed: {}", ec.message());
        auto t =
            std::make_shared<boost::asio::steady_timer>(self->io_, std::chrono::milliseconds(50));
        t->async_wait([self, t](boost::system::error_code) {
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
    Admission admission = on_connect_(sock);
    if (!admission.dispatch) {
      if (admission.refusal && refusing_ < kMaxRefusing)
        refuse(std::move(sock), *admission.refusal);
      return;
    }
    ++open_;
    auto c = std::make_shared<Conn>(std::move(sock), this->shared_from_this());
    c->admitted = true;
    c->dispatch = std::move(admission.dispatch);
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
      const std::size_t n = c->sock.read_some(boost::asio::buffer(rbuf_), ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        wait(c);
        return;
      }
      if (ec) {  // end of stream, reset: the client is gone
        finish(*c);
        return;
      }
      std::string_view data(rbuf_.data(), n);
      if (!c->in.empty()) {
        c->in.append(data);
        data = c->in;
      }
      if (!serve(c, data)) return;
      // A short read emptied the socket: anything sent later raises a new readiness event.
      if (n < rbuf_.size()) {
        wait(c);
        return;
      }
    }
  }

  // Serves the complete requests at the start of `data` (which is rbuf_ or c->in) and keeps the
  // rest in c->in. True: go on reading; false: an answer is pending, being written, or the
  // connection is closing.
  bool serve(const ConnPtr& c, std::string_view data) {
    std::size_t used = 0;
    bool more = true;
    while (more) {
      const RequestParse p = parse_request(data.substr(used), parse_limits_);
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
      HttpListener& l = *raw->owner;
      boost::asio::post(l.io_, [conn = std::move(conn), r = std::move(r), keep_alive]() mutable {
        HttpListener& owner = *conn->owner;
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
    const std::size_t n = c->sock.write_some(boost::asio::buffer(wbuf_), ec);
    if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) {
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
    boost::asio::async_write(c->sock, boost::asio::buffer(c->out),
                             [c](boost::system::error_code ec, std::size_t) {
                               HttpListener& l = *c->owner;
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

  void wait(const ConnPtr& c) {
    c->sock.async_wait(Socket::wait_read, [c](boost::system::error_code ec) {
      HttpListener& l = *c->owner;
      if (ec) return l.finish(*c);
      if (c->lingering) return l.drain(c);
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
      const std::size_t n = c->sock.read_some(boost::asio::buffer(rbuf_), ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again)
        return wait(c);
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
    c.deadline = Clock::now() + q.timeout;
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

  void arm(Clock::time_point at) {
    timer_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([weak = this->weak_from_this()](boost::system::error_code ec) {
      if (ec) return;  // re-armed earlier, or gone
      if (auto self = weak.lock()) self->expire();
    });
  }

  void expire() {
    timer_at_ = Clock::time_point::max();
    const auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (Queue* q : {&idle_, &reading_, &writing_, &lingering_}) {
      while (q->head && q->head->deadline <= now) finish(*q->head);
      if (q->head && q->head->deadline < next) next = q->head->deadline;
    }
    if (next != Clock::time_point::max()) arm(next);
  }

  static constexpr std::size_t kMaxRefusing = 64;  // 503s lingering at once; beyond, a plain close
  static constexpr std::size_t kLingerBytes = 64 * 1024;

  boost::asio::io_context& io_;
  ServerLimits limits_;
  RequestLimits parse_limits_;
  OnConnect on_connect_;
  typename Protocol::acceptor acceptor_;
  boost::asio::steady_timer timer_;
  Clock::time_point timer_at_ = Clock::time_point::max();
  Queue idle_;
  Queue reading_;
  Queue writing_{std::chrono::seconds(30)};
  Queue lingering_{std::chrono::seconds(1)};
  std::array<char, 16 * 1024> rbuf_{};  // every connection reads into this (one thread)
  std::string wbuf_;                    // every answer is serialized into this
  std::size_t open_ = 0;
  std::size_t refusing_ = 0;
  std::size_t refused_ = 0;  // connections turned away at max_connections (for the log)
  bool stopping_ = false;
};

}  // namespace dbx
