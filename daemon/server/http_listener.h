// HttpListener<Protocol>: the daemon's HTTP/1.1 server machinery, shared by the Unix socket
// (unix_server.cpp) and the loopback TCP ports (loopback_server.cpp) — accept loop with a
// connection cap, one coroutine per keep-alive connection, size limits and timeouts, and the
// bridge from the engine's callbacks back into the connection's coroutine.
// Beast/Asio template code: include it ONLY from those two files (docs/ARCHITECTURE.md).
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "daemon/server/router.h"
#include "daemon/server/server_limits.h"

namespace dbx {

namespace http_listener {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using Request = http::request<http::string_body>;
// Answers one request: calls `done` exactly once, inline or later on the loop.
using Dispatch = std::function<void(const Request&, std::function<void(ApiResponse)>)>;

inline http::response<http::string_body> make_response(ApiResponse r, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

// The same answer as make_response(), serialized by hand into `out` (reused across a
// connection's requests, so no allocation once it is large enough) and sent as one buffer: Beast's
// serializer walks a buffers_cat view per field, a third of the CPU of a cache hit
// (docs/BENCHMARKS.md).
inline void serialize_response(const ApiResponse& r, bool keep_alive, std::string& out) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
  char length[24];
  const auto [end, ec] = std::to_chars(length, length + sizeof length, r.body.size());
  (void)ec;  // 24 digits hold any size_t
  out.clear();
  out.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ");
  out.append(reason.data(), reason.size());
  out.append("\r\nContent-Type: ").append(r.content_type);
  out.append("\r\nCache-Control: no-store");
  if (!keep_alive) out.append("\r\nConnection: close");
  out.append("\r\nContent-Length: ").append(length, end).append("\r\n\r\n");
  out.append(r.body);
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
      : io_(io), limits_(limits), on_connect_(std::move(on_connect)), acceptor_(io) {}

  typename Protocol::acceptor& acceptor() { return acceptor_; }

  void start() { boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached); }
  // Stops accepting; connections waiting for a request close at once, those with a request in
  // flight finish it first (graceful drain on SIGTERM).
  void stop() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    // Wakes the idle sessions' reads with operation_aborted; each then closes its connection.
    for (Socket* s : idle_) s->cancel(ec);
  }
  std::size_t connections() const { return open_; }

 private:
  boost::asio::awaitable<void> accept_loop() {
    namespace asio = boost::asio;
    auto self = this->shared_from_this();
    while (!stopping_) {
      boost::system::error_code ec;
      Socket sock = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping_) break;
        spdlog::warn("accept failed: {}", ec.message());
        // EMFILE and friends: back off briefly instead of spinning.
        asio::steady_timer t(io_, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (open_ >= limits_.max_connections) {
        if (++refused_ == 1 || refused_ % 1000 == 0)
          spdlog::warn("connection refused: {} open (limits.max_connections); {} refused so far",
                       open_, refused_);
        if (refusing_ < kMaxRefusing) {
          // Answer 503 and linger, so the client reads the answer rather than a reset.
          ++refusing_;
          asio::co_spawn(io_, refuse(std::move(sock)), asio::detached);
        } else {
          // A flood: a fresh socket's send buffer is empty, this short write does not block.
          asio::write(sock, asio::buffer(busy_answer()), ec);
          sock.shutdown(Socket::shutdown_both, ec);
        }
        continue;
      }
      ++open_;  // counted here, not in the session: the next accept must already see it
      asio::co_spawn(io_, session(std::move(sock)), asio::detached);
    }
  }

  static const std::string& busy_answer() {
    static const std::string text = [] {
      ApiResponse r = error_response(
          make_error(ErrorCode::upstream_unavailable, "too many connections; retry later"));
      r.status = 503;
      std::ostringstream out;
      out << http_listener::make_response(std::move(r), false);
      return out.str();
    }();
    return text;
  }

  // A connection over max_connections: the 503, then a lingering close (bounded by kMaxRefusing).
  boost::asio::awaitable<void> refuse(Socket raw) {
    namespace asio = boost::asio;
    auto self = this->shared_from_this();
    boost::beast::basic_stream<Protocol, asio::any_io_executor> stream(std::move(raw));
    boost::system::error_code ec;
    stream.expires_after(std::chrono::seconds(1));
    co_await asio::async_write(stream, asio::buffer(busy_answer()),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await linger(stream);
    stream.socket().shutdown(Socket::shutdown_both, ec);
    --refusing_;
  }

  boost::asio::awaitable<ApiResponse> route(const Dispatch& dispatch,
                                            const http_listener::Request& req) {
    namespace asio = boost::asio;
    struct Slot {
      bool sync = true;
      std::optional<ApiResponse> response;
      std::function<void(ApiResponse)> later;
    };
    auto slot = std::make_shared<Slot>();
    dispatch(req, [slot](ApiResponse r) {
      if (slot->sync) {
        slot->response = std::move(r);
      } else {
        slot->later(std::move(r));
      }
    });
    slot->sync = false;
    if (slot->response) co_return std::move(*slot->response);
    // The initiation captures a plain pointer (the frame's `slot` outlives the co_await): GCC 12
    // destroys temporaries of a co_await expression twice, and a shared_ptr captured there was
    // released twice — heap corruption under keep-alive load (found by the benchmark, valgrind).
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(ApiResponse)>(
        [s = slot.get(), this](auto handler) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          // Resume the session from the loop, never from inside the engine's callback: resuming
          // a coroutine in the middle of another handler corrupts Asio's coroutine stack.
          s->later = [h, this](ApiResponse r) {
            asio::post(io_, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
          };
        },
        asio::use_awaitable);
  }

  // Lingering close: stops sending, then reads and drops what the client is still sending (at most
  // 64 KiB or 1 s), so that closing with unread input does not reset the connection (TCP RST)
  // before the client has read the answer.
  template <class Stream>
  static boost::asio::awaitable<void> linger(Stream& stream) {
    namespace asio = boost::asio;
    boost::system::error_code ec;
    stream.socket().shutdown(Socket::shutdown_send, ec);
    stream.expires_after(std::chrono::seconds(1));
    auto sink = std::make_unique<std::array<char, 4096>>();
    std::size_t drained = 0;
    while (!ec && drained < 64 * 1024)
      drained += co_await stream.async_read_some(asio::buffer(*sink),
                                                 asio::redirect_error(asio::use_awaitable, ec));
  }

  // Waits for the first bytes of a request and puts them into `buffer`. A coroutine of its own:
  // inlined into session(), GCC 12 miscompiled it (heap corruption with 400 concurrent clients,
  // e2e test_refresh; clang + ASan clean).
  template <class Stream>
  static boost::asio::awaitable<boost::system::error_code> first_bytes(
      Stream& stream, boost::beast::flat_buffer& buffer, int timeout_seconds) {
    namespace asio = boost::asio;
    boost::system::error_code ec;
    stream.expires_after(std::chrono::seconds(timeout_seconds));
    const std::size_t n = co_await stream.async_read_some(
        buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
    buffer.commit(n);
    co_return ec;
  }

  boost::asio::awaitable<void> session(Socket raw) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    auto self = this->shared_from_this();
    Admission admission = on_connect_(raw);
    const std::optional<Dispatch> dispatch = std::move(admission.dispatch);
    beast::basic_stream<Protocol, asio::any_io_executor> stream(std::move(raw));
    beast::flat_buffer buffer;
    std::string out;  // the serialized answer, reused
    boost::system::error_code ec;
    if (!dispatch && admission.refusal) {
      stream.expires_after(std::chrono::seconds(5));
      co_await http::async_write(stream,
                                 http_listener::make_response(std::move(*admission.refusal), false),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) co_await linger(stream);
    }
    while (dispatch && !stopping_) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
      parser.body_limit(limits_.max_body_bytes);
      if (buffer.size() == 0) {
        // Idle keep-alive: wait (at most idle_timeout) for the first byte of the next request.
        idle_.insert(&stream.socket());
        ec = co_await first_bytes(stream, buffer, limits_.idle_timeout_seconds);
        idle_.erase(&stream.socket());
        if (ec) break;
      }
      // From its first byte, the whole request (headers and body) must arrive within
      // header_timeout: a slow-loris client is cut off, not waited for.
      stream.expires_after(std::chrono::seconds(limits_.header_timeout_seconds));
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        int status = 0;
        if (ec == http::error::header_limit) status = 431;
        if (ec == http::error::body_limit) status = 413;
        if (status == 0 && ec != http::error::end_of_stream && ec != beast::error::timeout &&
            ec != asio::error::eof && ec != asio::error::connection_reset &&
            ec != http::error::partial_message && ec != asio::error::operation_aborted &&
            buffer.size() > 0)
          status = 400;
        if (status != 0) {
          ApiResponse r = error_response(
              make_error(ErrorCode::bad_request, status == 431   ? "request headers too large"
                                                 : status == 413 ? "request body too large"
                                                                 : "malformed HTTP request"));
          r.status = status;
          stream.expires_after(std::chrono::seconds(5));
          co_await http::async_write(stream, http_listener::make_response(std::move(r), false),
                                     asio::redirect_error(asio::use_awaitable, ec));
          co_await linger(stream);
        }
        break;
      }
      auto& req = parser.get();
      const bool keep_alive = req.keep_alive();
      ApiResponse r = co_await route(*dispatch, req);
      stream.expires_after(std::chrono::seconds(30));
      http_listener::serialize_response(r, keep_alive && !stopping_, out);
      co_await asio::async_write(stream, asio::buffer(out),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
    }
    stream.socket().shutdown(Socket::shutdown_both, ec);
    --open_;
  }

  boost::asio::io_context& io_;
  ServerLimits limits_;
  OnConnect on_connect_;
  typename Protocol::acceptor acceptor_;
  std::size_t open_ = 0;
  std::size_t refused_ = 0;  // connections turned away at max_connections (for the log)
  static constexpr std::size_t kMaxRefusing = 64;  // 503s lingering at once; beyond, a plain close
  std::size_t refusing_ = 0;
  bool stopping_ = false;
  std::set<Socket*> idle_;  // sessions waiting for their next request
};

}  // namespace dbx
