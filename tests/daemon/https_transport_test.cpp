// HttpsTransport against real loopback servers started inside the test (TLS with the checked-in
// test CA in tests/fixtures/tls/, plain HTTP, a server that never answers, a CONNECT proxy). Client
// and servers share one io_context on the test's thread; nothing sleeps.
#include "daemon/upstream/https_transport.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dbx {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);

const std::string kTls = std::string(DBXCRED_FIXTURES_DIR) + "/tls/";

enum class Mode { tls, plain, hang };

// A tiny HTTP(S) server: records each request (and the SNI name) and sends `answer`.
class TestServer {
 public:
  struct Answer {
    int status = 200;
    std::string body = R"({"ok":true})";
    std::string content_type = "application/json";
  };
  struct Seen {
    std::string method, target, host, user_agent, authorization, content_type, content_length, body;
  };

  TestServer(asio::io_context& io, Mode mode, const std::string& cert = "server")
      : mode_(mode),
        ctx_(ssl::context::tls_server),
        acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}) {
    if (mode == Mode::tls) {
      ctx_.use_certificate_chain_file(kTls + cert + ".pem");
      ctx_.use_private_key_file(kTls + cert + ".key", ssl::context::pem);
    }
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  Answer answer;
  // Keep-alive misbehaviour: answer, promise keep-alive, then close at once (an idle timeout)...
  bool close_after_answer = false;
  // ...or read a second request on a connection and close without answering (the race where the
  // server closes an idle connection just as the client reuses it).
  bool drop_second_request = false;
  std::vector<Seen> seen;
  std::vector<bool> keep_alive_requested;
  std::vector<std::string> sni;  // per TLS connection; "" when the client sent none
  int connections = 0;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(use_ec);
      if (ec) co_return;
      ++connections;
      if (mode_ == Mode::hang) {
        held_.push_back(std::move(sock));  // accept, then never say a word
        continue;
      }
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket sock) {
    if (mode_ == Mode::plain) {
      co_await exchange(sock);
      co_return;
    }
    ssl::stream<tcp::socket> tls(std::move(sock), ctx_);
    auto [ec] = co_await tls.async_handshake(ssl::stream_base::server, use_ec);
    if (ec) co_return;  // the client refused our certificate
    const char* name = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name);
    sni.push_back(name ? name : "");
    co_await exchange(tls);
  }

  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream) {
    beast::flat_buffer buffer;
    for (int n_on_connection = 1;; ++n_on_connection) {
      http::request<http::string_body> req;
      auto [rec, n] = co_await http::async_read(stream, buffer, req, use_ec);
      if (rec) co_return;
      auto field = [&](http::field f) { return std::string(req[f]); };
      seen.push_back({std::string(req.method_string()), std::string(req.target()),
                      field(http::field::host), field(http::field::user_agent),
                      field(http::field::authorization), field(http::field::content_type),
                      field(http::field::content_length), req.body()});
      keep_alive_requested.push_back(req.keep_alive());
      if (drop_second_request && n_on_connection == 2) co_return;
      http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
      res.set(http::field::content_type, answer.content_type);
      res.body() = answer.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, m] = co_await http::async_write(stream, res, use_ec);
      if (wec || !req.keep_alive() || close_after_answer) co_return;
    }
  }

  Mode mode_;
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::vector<tcp::socket> held_;
};

// A CONNECT proxy that records the request head and tunnels every CONNECT to one loopback port,
// whatever host it names (so "login.example.test" needs no DNS).
class TestProxy {
 public:
  TestProxy(asio::io_context& io, std::uint16_t backend_port)
      : backend_port_(backend_port), acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  std::vector<std::string> heads;  // the CONNECT request heads, as received
  std::optional<int> refuse_with;  // answer this status instead of tunnelling

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(use_ec);
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), tunnel(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> tunnel(tcp::socket client) {
    std::string head;
    auto [rec, n] =
        co_await asio::async_read_until(client, asio::dynamic_buffer(head), "\r\n\r\n", use_ec);
    if (rec) co_return;
    heads.push_back(head.substr(0, n));
    if (refuse_with) {
      std::string res = "HTTP/1.1 " + std::to_string(*refuse_with) +
                        " Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
      co_await asio::async_write(client, asio::buffer(res), use_ec);
      co_return;
    }
    auto server = std::make_shared<tcp::socket>(client.get_executor());
    auto [cec] = co_await server->async_connect(
        {asio::ip::make_address("127.0.0.1"), backend_port_}, use_ec);
    if (cec) co_return;
    const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    co_await asio::async_write(client, asio::buffer(ok), use_ec);
    auto shared_client = std::make_shared<tcp::socket>(std::move(client));
    auto ex = shared_client->get_executor();
    asio::co_spawn(ex, pump(shared_client, server), asio::detached);
    asio::co_spawn(ex, pump(server, shared_client), asio::detached);
  }

  static asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from,
                                    std::shared_ptr<tcp::socket> to) {
    std::array<char, 4096> buf;
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), use_ec);
      if (ec) break;
      auto [wec, m] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), use_ec);
      if (wec) break;
    }
    boost::system::error_code ignored;
    to->shutdown(tcp::socket::shutdown_send, ignored);
  }

  std::uint16_t backend_port_;
  tcp::acceptor acceptor_;
};

class HttpsTransportTest : public ::testing::Test {
 protected:
  static HttpsTransport::Options trusting() {
    HttpsTransport::Options o;
    o.ca_file = kTls + "ca.pem";
    return o;
  }

  // Sends one request and runs the loop until its callback has run; counts the calls.
  Result<HttpResponse> send(HttpsTransport& t, HttpRequest req) {
    std::optional<Result<HttpResponse>> got;
    int calls = 0;
    t.send(std::move(req), [&](Result<HttpResponse> r) {
      ++calls;
      got.emplace(std::move(r));
    });
    EXPECT_FALSE(got.has_value()) << "callback ran inside send()";
    while (!got) io.run_one();
    io.poll();  // anything queued behind it (must not call back again)
    EXPECT_EQ(calls, 1);
    return std::move(*got);
  }

  static HttpRequest get(std::string url) {
    HttpRequest r;
    r.url = std::move(url);
    r.timeout = Millis(5000);
    return r;
  }

  static std::string url(const char* scheme, const char* host, std::uint16_t port,
                         const char* path = "/") {
    return std::string(scheme) + "://" + host + ":" + std::to_string(port) + path;
  }

  asio::io_context io;
};

TEST_F(HttpsTransportTest, HttpsPostWithCaFile) {
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, trusting());
  ASSERT_FALSE(t.setup_error()) << t.setup_error()->message;
  HttpRequest req = get(url("https", "localhost", server.port(), "/tenant/oauth2/token?x=1"));
  req.method = "POST";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Authorization", "Bearer abc"}};
  req.body = "grant_type=client_credentials";
  server.answer.body = R"({"access_token":"t"})";

  auto r = send(t, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"access_token":"t"})");
  EXPECT_EQ(r->header("content-type"), "application/json");

  ASSERT_EQ(server.seen.size(), 1u);
  const auto& s = server.seen[0];
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.target, "/tenant/oauth2/token?x=1");
  EXPECT_EQ(s.host, "localhost:" + std::to_string(server.port()));
  EXPECT_EQ(s.user_agent, "dbxcred/" DBXCRED_VERSION);
  EXPECT_EQ(s.authorization, "Bearer abc");
  EXPECT_EQ(s.content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(s.content_length, std::to_string(req.body.size()));
  EXPECT_EQ(s.body, req.body);
  EXPECT_EQ(server.sni, (std::vector<std::string>{"localhost"}));
}

TEST_F(HttpsTransportTest, IpLiteralVerifiesTheAddressAndSendsNoSni) {
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, trusting());
  auto r = send(t, get(url("https", "127.0.0.1", server.port())));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(server.sni, (std::vector<std::string>{""}));
}

TEST_F(HttpsTransportTest, HttpErrorStatusIsAValue) {
  TestServer server(io, Mode::tls);
  server.answer.status = 401;
  server.answer.body = R"({"error":"invalid_client"})";
  HttpsTransport t(io, trusting());
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, R"({"error":"invalid_client"})");
}

TEST_F(HttpsTransportTest, UnknownCaFailsVerification) {
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, {});  // system store only: the test CA is not in it
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::upstream_unavailable);
  EXPECT_EQ(
      r.error().message.rfind("TLS handshake with localhost failed: certificate verify failed", 0),
      0u)
      << r.error().message;
  EXPECT_TRUE(server.seen.empty());
}

// The system store comes from the hashed CA directory when it has one ($SSL_CERT_DIR here):
// certificates are looked up there while a chain is verified, not parsed up front.
class SystemStoreTest : public HttpsTransportTest {
 protected:
  void SetUp() override {
    for (const char* name : {"SSL_CERT_DIR", "SSL_CERT_FILE"}) {
      if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
      ::unsetenv(name);
    }
    dir_ =
        std::filesystem::temp_directory_path() / ("dbxcred-capath-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ::setenv("SSL_CERT_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("SSL_CERT_DIR");
    ::unsetenv("SSL_CERT_FILE");
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
    std::filesystem::remove_all(dir_);
  }
  // Copies the PEM certificate `pem` into the directory under its subject-name hash, as
  // `openssl rehash` / update-ca-certificates name them.
  void add_hashed(const std::string& pem) {
    std::FILE* f = std::fopen(pem.c_str(), "r");
    ASSERT_NE(f, nullptr);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    ASSERT_NE(cert, nullptr);
    char name[16];
    std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(cert));
    X509_free(cert);
    std::filesystem::copy_file(pem, dir_ / name);
  }

  std::filesystem::path dir_;
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(SystemStoreTest, HashedDirectoryIsTrusted) {
  add_hashed(kTls + "ca.pem");
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, {});  // no tls.ca_file: the test CA comes from the directory
  ASSERT_FALSE(t.setup_error()) << t.setup_error()->message;
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST_F(SystemStoreTest, HashedDirectoryWithoutTheIssuerFailsVerification) {
  add_hashed(kTls + "server.pem");  // hashed names present, but not the CA that signed the leaf
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, {});
  ASSERT_FALSE(t.setup_error()) << t.setup_error()->message;
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
}

TEST_F(SystemStoreTest, CertFileFromTheEnvironmentIsHonoured) {
  add_hashed(kTls + "server.pem");
  ::setenv("SSL_CERT_FILE", (kTls + "ca.pem").c_str(), 1);
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, {});
  ASSERT_FALSE(t.setup_error()) << t.setup_error()->message;
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST_F(HttpsTransportTest, HostNameMismatchFails) {
  TestServer server(io, Mode::tls, "other");  // certificate for other.example.test only
  HttpsTransport t(io, trusting());
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "TLS handshake with localhost failed: certificate verify failed (hostname mismatch)");
  auto ip = send(t, get(url("https", "127.0.0.1", server.port())));
  ASSERT_FALSE(ip.ok());
  EXPECT_NE(ip.error().message.find("127.0.0.1 failed: certificate verify failed"),
            std::string::npos)
      << ip.error().message;
  EXPECT_TRUE(server.seen.empty());
}

TEST_F(HttpsTransportTest, TimeoutWhenServerNeverAnswers) {
  TestServer server(io, Mode::hang);
  HttpsTransport t(io, trusting());
  HttpRequest req = get(url("https", "127.0.0.1", server.port()));
  req.timeout = Millis(300);
  req.headers = {{"Authorization", "Bearer secret-token"}};
  auto start = std::chrono::steady_clock::now();
  auto r = send(t, req);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::upstream_unavailable);
  EXPECT_EQ(r.error().message, "timeout after 300ms talking to 127.0.0.1");
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(server.connections, 1);
}

TEST_F(HttpsTransportTest, ConnectionRefused) {
  std::uint16_t port;
  {
    tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }  // closed: nothing listens there now
  HttpsTransport t(io, trusting());
  auto r = send(t, get(url("https", "127.0.0.1", port)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::upstream_unavailable);
  EXPECT_EQ(r.error().message,
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_F(HttpsTransportTest, BodyOverMaxBodyIsRejected) {
  TestServer server(io, Mode::tls);
  server.answer.body = std::string(2048, 'x');
  auto o = trusting();
  o.max_body = 1024;
  HttpsTransport t(io, o);
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "answer from localhost is larger than 1024 bytes");

  server.answer.body = std::string(1024, 'x');  // exactly the limit is fine
  auto ok = send(t, get(url("https", "localhost", server.port())));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->body.size(), 1024u);
}

TEST_F(HttpsTransportTest, PlainHttp) {
  TestServer server(io, Mode::plain);
  HttpsTransport t(io, {});
  HttpRequest req = get(url("http", "127.0.0.1", server.port(), "/metadata/identity?api=1"));
  req.headers = {{"Metadata", "true"}};
  auto r = send(t, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(server.seen.size(), 1u);
  EXPECT_EQ(server.seen[0].method, "GET");
  EXPECT_EQ(server.seen[0].target, "/metadata/identity?api=1");
  EXPECT_EQ(server.seen[0].host, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(server.seen[0].content_length, "");  // a GET without body announces none
}

TEST_F(HttpsTransportTest, BadUrlFailsAfterSendReturns) {
  HttpsTransport t(io, {});
  auto r = send(t, get("ftp://example.com/x"));  // send() checks the callback is not inline
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::bad_request);
}

TEST_F(HttpsTransportTest, UnreadableCaFileIsASetupError) {
  auto o = trusting();
  o.ca_file = kTls + "does-not-exist.pem";
  HttpsTransport t(io, o);
  ASSERT_TRUE(t.setup_error());
  EXPECT_NE(t.setup_error()->message.find("does-not-exist.pem"), std::string::npos);
  auto r = send(t, get("https://localhost/"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, t.setup_error()->message);
}

TEST_F(HttpsTransportTest, ProxyConnectTunnel) {
  TestServer server(io, Mode::tls);
  TestProxy proxy(io, server.port());
  auto o = trusting();
  o.https_proxy = "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port());
  o.no_proxy = "example.com";
  HttpsTransport t(io, o);
  ASSERT_FALSE(t.setup_error()) << t.setup_error()->message;

  auto r = send(t, get("https://login.example.test/tenant/oauth2/v2.0/token"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(proxy.heads.size(), 1u);
  const std::string& head = proxy.heads[0];
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "CONNECT login.example.test:443 HTTP/1.1");
  EXPECT_NE(head.find("\r\nHost: login.example.test:443\r\n"), std::string::npos) << head;
  // base64("user:p@ss")
  EXPECT_NE(head.find("\r\nProxy-Authorization: Basic dXNlcjpwQHNz\r\n"), std::string::npos)
      << head;
  ASSERT_EQ(server.seen.size(), 1u);
  EXPECT_EQ(server.seen[0].host, "login.example.test");
  EXPECT_EQ(server.sni, (std::vector<std::string>{"login.example.test"}));
}

TEST_F(HttpsTransportTest, ProxyRefusal) {
  TestServer server(io, Mode::tls);
  TestProxy proxy(io, server.port());
  proxy.refuse_with = 407;
  auto o = trusting();
  o.https_proxy = proxy.url();
  HttpsTransport t(io, o);
  auto r = send(t, get("https://login.example.test/"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "proxy 127.0.0.1:" + std::to_string(proxy.port()) +
                                   " refused CONNECT to login.example.test:443: 407 Proxy "
                                   "Authentication Required");
}

TEST_F(HttpsTransportTest, LoopbackBypassesTheProxy) {
  TestServer server(io, Mode::tls);
  TestProxy proxy(io, server.port());
  auto o = trusting();
  o.https_proxy = proxy.url();
  HttpsTransport t(io, o);
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(proxy.heads.empty());
}

TEST_F(HttpsTransportTest, KeepAliveReusesTheConnection) {
  TestServer server(io, Mode::tls);
  HttpsTransport t(io, trusting());
  for (int i = 0; i < 3; ++i) {
    auto r = send(t, get(url("https", "localhost", server.port(), "/n")));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(t.idle_connections(), 1u);
  }
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(server.sni.size(), 1u);  // one handshake
  EXPECT_EQ(server.seen.size(), 3u);
  // Another host:port gets its own connection.
  TestServer other(io, Mode::plain);
  ASSERT_TRUE(send(t, get(url("http", "127.0.0.1", other.port()))).ok());
  EXPECT_EQ(t.idle_connections(), 2u);
}

TEST_F(HttpsTransportTest, PoolOffSendsConnectionClose) {
  TestServer server(io, Mode::plain);
  auto o = trusting();
  o.max_idle_per_host = 0;
  HttpsTransport t(io, o);
  ASSERT_TRUE(send(t, get(url("http", "127.0.0.1", server.port()))).ok());
  ASSERT_TRUE(send(t, get(url("http", "127.0.0.1", server.port()))).ok());
  EXPECT_EQ(server.connections, 2);
  EXPECT_EQ(server.keep_alive_requested, (std::vector<bool>{false, false}));
  EXPECT_EQ(t.idle_connections(), 0u);
}

TEST_F(HttpsTransportTest, IdleTimeoutRetiresConnections) {
  TestServer server(io, Mode::tls);
  auto o = trusting();
  o.idle_timeout = Millis(0);  // every idle connection is already too old when reused
  HttpsTransport t(io, o);
  ASSERT_TRUE(send(t, get(url("https", "localhost", server.port()))).ok());
  ASSERT_TRUE(send(t, get(url("https", "localhost", server.port()))).ok());
  EXPECT_EQ(server.connections, 2);
}

TEST_F(HttpsTransportTest, ClosedIdleConnectionIsNotReused) {
  TestServer server(io, Mode::tls);
  server.close_after_answer = true;
  HttpsTransport t(io, trusting());
  ASSERT_TRUE(send(t, get(url("https", "localhost", server.port()))).ok());
  auto r = send(t, get(url("https", "localhost", server.port())));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(server.connections, 2);
  EXPECT_EQ(server.seen.size(), 2u);  // the peek caught it: no request was lost on the dead one
}

TEST_F(HttpsTransportTest, RequestLostOnReusedConnectionIsRetriedOnce) {
  TestServer server(io, Mode::tls);
  server.drop_second_request = true;
  HttpsTransport t(io, trusting());
  ASSERT_TRUE(send(t, get(url("https", "localhost", server.port()))).ok());
  auto r = send(t, get(url("https", "localhost", server.port(), "/again")));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server.connections, 2);
  ASSERT_EQ(server.seen.size(), 3u);  // first, dropped, retried
  EXPECT_EQ(server.seen[1].target, "/again");
  EXPECT_EQ(server.seen[2].target, "/again");
}

TEST_F(HttpsTransportTest, ProxiedConnectionsAreReusedToo) {
  TestServer server(io, Mode::tls);
  TestProxy proxy(io, server.port());
  auto o = trusting();
  o.https_proxy = proxy.url();
  HttpsTransport t(io, o);
  ASSERT_TRUE(send(t, get("https://login.example.test/a")).ok());
  ASSERT_TRUE(send(t, get("https://login.example.test/b")).ok());
  EXPECT_EQ(proxy.heads.size(), 1u);
  EXPECT_EQ(server.seen.size(), 2u);
}

TEST(HttpsTransportOptions, FromEnvironment) {
  ::setenv("HTTPS_PROXY", "http://upper:3128", 1);
  ::setenv("https_proxy", "http://lower:3128", 1);
  ::setenv("NO_PROXY", ".corp", 1);
  ::unsetenv("no_proxy");
  auto o = HttpsTransportOptions::from_environment();
  EXPECT_EQ(o.https_proxy, "http://lower:3128");
  EXPECT_EQ(o.no_proxy, ".corp");
  ::unsetenv("https_proxy");
  ::setenv("HTTPS_PROXY", "", 1);
  auto none = HttpsTransportOptions::from_environment();
  EXPECT_FALSE(none.https_proxy);
  ::unsetenv("HTTPS_PROXY");
  ::unsetenv("NO_PROXY");
}

}  // namespace
}  // namespace dbx
