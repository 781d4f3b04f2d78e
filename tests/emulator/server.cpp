// HTTPS listener and connection loop (see server.h). The only emulator file that includes Beast.
#include "tests/emulator/server.h"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <csignal>

namespace emu {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;

// Long enough for slow test clients, short enough that abandoned connections go away.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr std::uint64_t kBodyLimit = 4 * 1024 * 1024;

HttpRequest to_plain(const http::request<http::string_body>& req) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& f : req)
    headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return make_request(std::string(req.method_string()), std::string(req.target()),
                      std::move(headers), req.body());
}

http::response<http::string_body> to_beast(const HttpResponse& r, unsigned version,
                                           bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "dbxcred-emulator");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

net::awaitable<void> serve_connection(Stream stream, Emulator& emulator) {
  auto& tcp_layer = beast::get_lowest_layer(stream);
  boost::system::error_code ec;
  tcp_layer.expires_after(kHandshakeTimeout);
  co_await stream.async_handshake(net::ssl::stream_base::server,
                                  net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    tcp_layer.expires_after(kIdleTimeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (ec) break;  // end of stream, timeout, garbage: the connection is done
    if (iequals(parser.get()[http::field::expect], "100-continue")) {
      // curl sends this for larger bodies (e.g. a certificate_pem) and would wait a second.
      http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
      co_await http::async_write(stream, go_on, net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
    }
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
    const auto& breq = parser.get();
    HttpRequest req = to_plain(breq);

    Admission admission = emulator.admit(req, dbx::Clock::now());
    if (admission.delay_ms() > 0) {
      // Only this connection waits; the io_context goes on serving the others.
      tcp_layer.expires_never();
      net::steady_timer timer(co_await net::this_coro::executor,
                              std::chrono::milliseconds(admission.delay_ms()));
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (admission.drop()) {
      spdlog::info("{} {} dropped (fault)", req.method, req.path);
      tcp_layer.socket().shutdown(tcp::socket::shutdown_both, ec);
      tcp_layer.close();
      co_return;
    }
    HttpResponse resp = emulator.handle(req, admission, dbx::Clock::now());
    spdlog::info("{} {} {} host={}", req.method, req.path, resp.status, req.header("host"));

    bool keep_alive = breq.keep_alive();
    auto res = to_beast(resp, breq.version(), keep_alive);
    tcp_layer.expires_after(kWriteTimeout);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  tcp_layer.expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, net::ssl::context& tls,
                                 Emulator& emulator) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted) co_return;
    if (ec) {
      // Typically EMFILE under load: back off briefly instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      net::steady_timer timer(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    net::co_spawn(acceptor.get_executor(),
                  serve_connection(Stream(beast::tcp_stream(std::move(socket)), tls), emulator),
                  [](std::exception_ptr e) {
                    if (!e) return;
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                      spdlog::debug("connection ended: {}", ex.what());
                    }
                  });
  }
}

}  // namespace

int run_server(const ServerOptions& options, Emulator& emulator,
               const std::function<void(unsigned short)>& on_listening) {
  std::signal(SIGPIPE, SIG_IGN);
  // The TLS context outlives the io_context: connection frames still pending when run()
  // returns are destroyed with the io_context and hold SSL objects made from it.
  net::ssl::context tls(net::ssl::context::tls_server);
  tls.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                  net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                  net::ssl::context::no_tlsv1_1);
  tls.use_certificate_chain(net::buffer(options.tls.server_cert_pem));
  tls.use_private_key(net::buffer(options.tls.server_key_pem), net::ssl::context::pem);
  net::io_context ioc(1);

  // Before announcing readiness: a SIGTERM right after "ready" must still exit cleanly.
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    ioc.stop();
  });

  tcp::acceptor acceptor(ioc);
  tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), options.port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
  on_listening(acceptor.local_endpoint().port());

  net::co_spawn(ioc, accept_loop(acceptor, tls, emulator), net::detached);
  ioc.run();
  return 0;
}

}  // namespace emu
