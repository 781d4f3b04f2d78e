#include "daemon/server/unix_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <set>

#include "daemon/server/peer.h"
#include "daemon/server/router.h"

namespace dbx {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

struct UnixServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, Router& router, ServerLimits limits)
      : io(io), router(router), limits(limits), acceptor(io) {}

  asio::io_context& io;
  Router& router;
  ServerLimits limits;
  local::acceptor acceptor;
  std::size_t open = 0;
  bool stopping = false;
  // Connections waiting for their next request: stop() closes these at once, while those with a
  // request in flight finish it first (graceful drain on SIGTERM).
  std::set<local::socket*> idle;

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
      boost::system::error_code ec;
      local::socket sock =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) break;
        spdlog::warn("accept failed: {}", ec.message());
        // EMFILE and friends: back off briefly instead of spinning.
        asio::steady_timer t(io, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (open >= limits.max_connections) {
        static constexpr std::string_view kBusy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: "
            "close\r\nContent-Length: 88\r\n\r\n{\"error\":{\"code\":\"upstream_unavailable\","
            "\"message\":\"too many connections; retry later\"}}\n";
        asio::write(sock, asio::buffer(kBusy), ec);
        continue;
      }
      asio::co_spawn(io, session(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<ApiResponse> route(const ApiRequest& req, const PeerIdentity& peer) {
    struct Slot {
      bool sync = true;
      std::optional<ApiResponse> response;
      std::function<void(ApiResponse)> later;
    };
    auto slot = std::make_shared<Slot>();
    router.handle(req, peer, [slot](ApiResponse r) {
      if (slot->sync) {
        slot->response = std::move(r);
      } else {
        slot->later(std::move(r));
      }
    });
    slot->sync = false;
    if (slot->response) co_return std::move(*slot->response);
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(ApiResponse)>(
        [slot, this](auto handler) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          // Resume the session from the loop, never from inside the engine's callback: resuming
          // a coroutine in the middle of another handler corrupts Asio's coroutine stack.
          slot->later = [h, this](ApiResponse r) {
            asio::post(io, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
          };
        },
        asio::use_awaitable);
  }

  static http::response<http::string_body> make_response(ApiResponse r, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    return res;
  }

  asio::awaitable<void> session(local::socket raw) {
    auto self = shared_from_this();
    ++open;
    const auto peer = read_peer(raw.native_handle());
    beast::basic_stream<local, asio::any_io_executor> stream(std::move(raw));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (peer && !stopping) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
      parser.body_limit(limits.max_body_bytes);
      stream.expires_after(std::chrono::seconds(limits.idle_timeout_seconds));
      idle.insert(&stream.socket());
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      idle.erase(&stream.socket());
      if (ec) {
        int status = 0;
        if (ec == http::error::header_limit) status = 431;
        if (ec == http::error::body_limit) status = 413;
        if (status == 0 && ec != http::error::end_of_stream && ec != beast::error::timeout &&
            ec != asio::error::eof && ec != asio::error::connection_reset && buffer.size() > 0)
          status = 400;
        if (status != 0) {
          ApiResponse r = error_response(
              make_error(ErrorCode::bad_request, status == 431   ? "request headers too large"
                                                 : status == 413 ? "request body too large"
                                                                 : "malformed HTTP request"));
          r.status = status;
          stream.expires_after(std::chrono::seconds(5));
          co_await http::async_write(stream, make_response(std::move(r), false),
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
        break;
      }
      auto& req = parser.get();
      const bool keep_alive = req.keep_alive();
      ApiResponse r = co_await route(ApiRequest{req.method_string(), req.target()}, *peer);
      stream.expires_after(std::chrono::seconds(30));
      co_await http::async_write(stream, make_response(std::move(r), keep_alive && !stopping),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
    }
    stream.socket().shutdown(local::socket::shutdown_both, ec);
    --open;
  }
};

UnixServer::UnixServer(asio::io_context& io, Router& router, ServerLimits limits)
    : impl_(std::make_shared<Impl>(io, router, limits)) {}

UnixServer::~UnixServer() {
  stop();
}

void UnixServer::serve(int listening_fd) {
  impl_->acceptor.assign(local(), listening_fd);
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
}

void UnixServer::stop() {
  impl_->stopping = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  // Wakes the idle sessions' reads with operation_aborted; each then closes its connection.
  for (local::socket* s : impl_->idle) s->cancel(ec);
}

std::size_t UnixServer::connections() const {
  return impl_->open;
}

}  // namespace dbx
