// HttpsTransport: one coroutine per request on the daemon's io_context — resolve, connect,
// (proxy CONNECT), TLS handshake, write, read — under one deadline timer that closes the socket.
// Error messages name the host and the failing step, never a header or body (they hold secrets).
#include "daemon/upstream/https_transport.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/encoding.h"
#include "daemon/upstream/url.h"

namespace dbx {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);

// Upstream answers are small JSON documents; 8 KiB of headers is generous and bounds memory.
constexpr std::uint32_t kHeaderLimit = 8 * 1024;

Error upstream_error(std::string message) {
  return make_error(ErrorCode::upstream_unavailable, std::move(message));
}

std::string describe(Millis timeout) {
  if (timeout.count() % 1000 == 0) {
    return format_duration(std::chrono::duration_cast<Seconds>(timeout));
  }
  return std::to_string(timeout.count()) + "ms";
}

// The OpenSSL reason ("certificate verify failed") rather than Asio's "... (SSL routines)".
std::string tls_reason(const error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
      return reason;
    }
  }
  return ec.message();
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// One TCP connection, TLS on top once the handshake is done.
struct Connection {
  explicit Connection(const asio::any_io_executor& ex) : socket(ex) {}

  tcp::socket& lowest() { return tls ? tls->next_layer() : socket; }
  void close() {
    error_code ignored;
    lowest().close(ignored);
  }

  tcp::socket socket;  // moved into `tls` by the handshake
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
};

// True if the peer has not closed an idle connection: a non-blocking peek finds no data and no
// end of stream. (Unsolicited bytes, e.g. a TLS close_notify, also mean "do not reuse".)
bool still_open(tcp::socket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Invokes the callback at most once.
class Once {
 public:
  explicit Once(HttpCallback fn) : fn_(std::move(fn)) {}
  void operator()(Result<HttpResponse> r) {
    if (!fn_) return;
    auto fn = std::move(fn_);
    fn_ = nullptr;
    fn(std::move(r));
  }
  bool pending() const { return static_cast<bool>(fn_); }

 private:
  HttpCallback fn_;
};

}  // namespace

struct HttpsTransport::Impl : std::enable_shared_from_this<HttpsTransport::Impl> {
  Impl(asio::io_context& io_in, Options options_in)
      : io(io_in), options(std::move(options_in)), tls_context(ssl::context::tls_client) {}

  asio::io_context& io;
  Options options;
  ssl::context tls_context;
  std::optional<Url> proxy;
  std::optional<Error> setup_error;

  // Keep-alive pool: idle connections per "scheme://host:port", most recently used last. The
  // route (direct or through the proxy) is a function of the host, so the key identifies it.
  struct Idle {
    std::unique_ptr<Connection> conn;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::string, std::vector<Idle>> idle;

  void setup();
  std::unique_ptr<Connection> checkout(const std::string& key);
  void checkin(const std::string& key, std::unique_ptr<Connection> conn);
  void drop_expired(std::chrono::steady_clock::time_point now);
  bool use_proxy(const Url& url) const {
    return uses_proxy(url, proxy.has_value(), options.no_proxy);
  }
};

namespace {

// The state of one send(): shared with the deadline timer's handler.
struct Exchange {
  Exchange(asio::io_context& io, HttpRequest req, HttpCallback cb)
      : request(std::move(req)), done(std::move(cb)), deadline(io), resolver(io) {}

  HttpRequest request;
  Once done;
  Url url;
  asio::steady_timer deadline;
  tcp::resolver resolver;
  std::unique_ptr<Connection> conn;  // the connection in use, so a timeout can close it
  bool timed_out = false;

  void arm_deadline(const std::shared_ptr<Exchange>& self) {
    deadline.expires_after(request.timeout);
    deadline.async_wait([self](error_code ec) {
      if (ec || !self->done.pending()) return;
      self->timed_out = true;
      self->resolver.cancel();
      if (self->conn) self->conn->close();
      // Answer now rather than when the coroutine unwinds: a cancelled getaddrinfo() still runs
      // to its end on Asio's resolver thread, and the deadline is a promise to the caller.
      self->done(self->timeout_error());
    });
  }
  Error timeout_error() const {
    return upstream_error("timeout after " + describe(request.timeout) + " talking to " + url.host);
  }
  void finish(Result<HttpResponse> r) {
    deadline.cancel();
    done(std::move(r));
  }
};

using Impl = HttpsTransport::Impl;

Result<http::request<http::string_body>> build_request(const HttpRequest& in, const Url& url,
                                                       bool keep_alive) {
  http::verb verb = http::string_to_verb(in.method);
  if (verb == http::verb::unknown) {
    return make_error(ErrorCode::internal, "unsupported HTTP method for " + url.host);
  }
  http::request<http::string_body> req{verb, url.target, 11};
  req.set(http::field::host, url.host_header());
  req.set(http::field::user_agent, "dbxcred/" DBXCRED_VERSION);
  for (const auto& [name, value] : in.headers) {
    // The name is safe to show; the value may be a secret.
    if (name.empty() || has_line_break(name) || has_line_break(value)) {
      return make_error(ErrorCode::internal,
                        "invalid header \"" + name + "\" in request to " + url.host);
    }
    req.set(name, value);
  }
  req.body() = in.body;
  if (!in.body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch) {
    req.prepare_payload();
  }
  req.keep_alive(keep_alive);
  return req;
}

// Resolves and connects to `host:port`; `what` is "" or "proxy " for messages.
asio::awaitable<Result<std::monostate>> connect_tcp(Exchange& ex, const Url& to,
                                                    std::string_view what) {
  auto [rec, endpoints] =
      co_await ex.resolver.async_resolve(to.host, std::to_string(to.port), use_ec);
  if (ex.timed_out) co_return ex.timeout_error();
  if (rec) {
    co_return upstream_error("cannot resolve " + std::string(what) + to.host + ": " +
                             rec.message());
  }
  auto [cec, ep] = co_await asio::async_connect(ex.conn->socket, endpoints, use_ec);
  if (ex.timed_out) co_return ex.timeout_error();
  if (cec) {
    co_return upstream_error("cannot connect to " + std::string(what) + to.authority() + ": " +
                             cec.message());
  }
  error_code ignored;
  ex.conn->socket.set_option(tcp::no_delay(true), ignored);
  co_return std::monostate{};
}

// Asks the proxy for a tunnel to ex.url (the socket is connected to the proxy).
asio::awaitable<Result<std::monostate>> open_tunnel(Exchange& ex, const Url& proxy) {
  const std::string target = ex.url.authority();
  http::request<http::empty_body> req{http::verb::connect, target, 11};
  req.set(http::field::host, target);
  req.set(http::field::user_agent, "dbxcred/" DBXCRED_VERSION);
  if (!proxy.userinfo.empty()) {
    // "user:pass" with each part percent-decoded, as curl does.
    auto colon = proxy.userinfo.find(':');
    std::string user = percent_decode(proxy.userinfo.substr(0, colon));
    std::string pass =
        colon == std::string::npos ? "" : percent_decode(proxy.userinfo.substr(colon + 1));
    req.set(http::field::proxy_authorization, "Basic " + base64(user + ":" + pass));
  }
  const std::string where = "proxy " + proxy.authority();
  auto [wec, written] = co_await http::async_write(ex.conn->socket, req, use_ec);
  (void)written;
  if (ex.timed_out) co_return ex.timeout_error();
  if (wec) co_return upstream_error("cannot send CONNECT to " + where + ": " + wec.message());

  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a CONNECT answer has no body: the tunnel starts right after the headers
  parser.header_limit(kHeaderLimit);
  auto [rec, read] = co_await http::async_read(ex.conn->socket, ex.conn->buffer, parser, use_ec);
  (void)read;
  if (ex.timed_out) co_return ex.timeout_error();
  if (rec) co_return upstream_error("no answer to CONNECT from " + where + ": " + rec.message());
  const auto& res = parser.get();
  if (res.result_int() != 200) {
    co_return upstream_error(where + " refused CONNECT to " + target + ": " +
                             std::to_string(res.result_int()) + " " + std::string(res.reason()));
  }
  if (ex.conn->buffer.size() != 0) {
    co_return upstream_error(where + " sent data before the TLS handshake to " + target);
  }
  co_return std::monostate{};
}

asio::awaitable<Result<std::monostate>> handshake(Exchange& ex, ssl::context& ctx) {
  Connection& c = *ex.conn;
  c.tls = std::make_unique<ssl::stream<tcp::socket>>(std::move(c.socket), ctx);
  SSL* ssl = c.tls->native_handle();
  const std::string& host = ex.url.host;
  const bool ip = is_ip_literal(host);
  // SNI carries names only (RFC 6066); the verify parameters make OpenSSL check the
  // certificate's names (no partial wildcards) or IP addresses during the handshake.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool set_ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
                   : (SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
                      SSL_set1_host(ssl, host.c_str()) == 1);
  if (!set_ok) co_return upstream_error("cannot set up TLS for " + host);
  c.tls->set_verify_mode(ssl::verify_peer);

  auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::client, use_ec);
  if (ex.timed_out) co_return ex.timeout_error();
  if (ec) {
    std::string message = "TLS handshake with " + host + " failed: " + tls_reason(ec);
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      message += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    }
    co_return upstream_error(std::move(message));
  }
  co_return std::monostate{};
}

template <class Stream>
// `nothing_received` tells the caller whether a failure happened before any answer byte arrived
// (a reused connection the server had already closed); `reusable` whether the connection may go
// back to the pool.
asio::awaitable<Result<HttpResponse>> write_and_read(Exchange& ex, Stream& stream,
                                                     http::request<http::string_body>& req,
                                                     std::size_t max_body, bool& nothing_received,
                                                     bool& reusable) {
  nothing_received = true;
  reusable = false;
  const std::string& host = ex.url.host;
  auto [wec, written] = co_await http::async_write(stream, req, use_ec);
  (void)written;
  if (ex.timed_out) co_return ex.timeout_error();
  if (wec) co_return upstream_error("cannot send request to " + host + ": " + wec.message());

  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(max_body);
  if (req.method() == http::verb::head) parser.skip(true);
  auto [rec, read] = co_await http::async_read(stream, ex.conn->buffer, parser, use_ec);
  (void)read;
  nothing_received = !parser.got_some();
  if (ex.timed_out) co_return ex.timeout_error();
  if (rec == http::error::body_limit) {
    co_return upstream_error("answer from " + host + " is larger than " + std::to_string(max_body) +
                             " bytes");
  }
  if (rec == http::error::header_limit) {
    co_return upstream_error("answer headers from " + host + " are larger than " +
                             std::to_string(kHeaderLimit) + " bytes");
  }
  if (rec) co_return upstream_error("no valid answer from " + host + ": " + tls_reason(rec));

  // Bytes past the answer would belong to nothing we asked for: such a connection is not reused.
  reusable = !parser.get().need_eof() && ex.conn->buffer.size() == 0;
  auto res = parser.release();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(res.body());
  co_return out;
}

// Opens ex.conn: TCP to the host or the proxy, the CONNECT tunnel, and TLS for https.
asio::awaitable<Result<std::monostate>> open(Impl& impl, Exchange& ex) {
  ex.conn = std::make_unique<Connection>(impl.io.get_executor());
  if (impl.use_proxy(ex.url)) {
    auto c = co_await connect_tcp(ex, *impl.proxy, "proxy ");
    if (!c) co_return c.error();
    auto t = co_await open_tunnel(ex, *impl.proxy);
    if (!t) co_return t.error();
  } else {
    auto c = co_await connect_tcp(ex, ex.url, "");
    if (!c) co_return c.error();
  }
  if (ex.url.scheme == "https") co_return co_await handshake(ex, impl.tls_context);
  co_return std::monostate{};
}

asio::awaitable<Result<HttpResponse>> run(std::shared_ptr<Impl> impl,
                                          std::shared_ptr<Exchange> ex) {
  if (impl->setup_error) co_return *impl->setup_error;
  auto url = parse_url(ex->request.url);
  if (!url) co_return url.error();
  ex->url = std::move(*url);
  auto req = build_request(ex->request, ex->url, impl->options.max_idle_per_host > 0);
  if (!req) co_return req.error();

  ex->arm_deadline(ex);
  const std::string key = ex->url.scheme + "://" + ex->url.authority();
  for (bool first = true;; first = false) {
    // Only the first attempt may take a pooled connection; a retry always opens a fresh one.
    ex->conn = first ? impl->checkout(key) : nullptr;
    const bool reused = ex->conn != nullptr;
    if (!reused) {
      auto opened = co_await open(*impl, *ex);
      if (!opened) co_return opened.error();
    }
    bool nothing_received = false;
    bool reusable = false;
    // (Not a ?: with a co_await in each branch: GCC 12 miscompiles that.)
    std::optional<Result<HttpResponse>> r;
    if (ex->conn->tls) {
      r.emplace(co_await write_and_read(*ex, *ex->conn->tls, *req, impl->options.max_body,
                                        nothing_received, reusable));
    } else {
      r.emplace(co_await write_and_read(*ex, ex->conn->socket, *req, impl->options.max_body,
                                        nothing_received, reusable));
    }
    if (r->ok()) {
      if (reusable && req->keep_alive()) impl->checkin(key, std::move(ex->conn));
      co_return std::move(*r);
    }
    // A pooled connection the server closed while we were sending: no answer byte came back, so
    // the request is sent again once on a new connection (as curl and browsers do) — unless it is
    // a Databricks POST (token/create): minting twice would cost quota, so that one fails instead
    // and the PAT manager's reconcile sorts out whether it happened.
    const bool idempotent = ex->request.method == "GET" || ex->request.upstream != "databricks";
    if (reused && nothing_received && !ex->timed_out && idempotent) {
      ex->conn->close();
      continue;
    }
    co_return std::move(*r);
  }
}

asio::awaitable<void> drive(std::shared_ptr<Impl> impl, std::shared_ptr<Exchange> ex) {
  Result<HttpResponse> r = co_await run(impl, ex);
  if (ex->conn) ex->conn->close();
  ex->finish(std::move(r));
}

// Whether `dir` holds certificates under OpenSSL's hashed names ("1a2b3c4d.0"), i.e. can serve
// as a CApath. Only the directory's names are read.
bool has_hashed_certificates(const std::string& dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto dot = name.find('.');
    if (dot == 8 && name.size() > 9 && name.find_first_not_of("0123456789abcdef") == dot &&
        name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
      return true;
    }
  }
  return false;
}

// The system trust store, as SSL_CTX_set_default_verify_paths() defines it (the CA file
// $SSL_CERT_FILE or OPENSSLDIR/cert.pem, and the directory $SSL_CERT_DIR or OPENSSLDIR/certs),
// but without parsing the whole bundle up front when the directory can do: on Debian both are
// written by update-ca-certificates from the same certificates, and the bundle held in memory is
// ~0.8 MiB of the daemon's heap (docs/BENCHMARKS.md, "Idle RSS") plus tens of ms of start-up.
// The hashed directory is looked up by issuer name while a chain is verified: only the CAs that
// a chain needs are read (and then kept). Verification is as strict either way. SSL_CERT_FILE
// naming another file than the default bundle, or a directory without hashed names, gets
// OpenSSL's defaults (file and dir).
void load_system_store(ssl::context& ctx, error_code& ec) {
  const char* file_env = std::getenv(X509_get_default_cert_file_env());
  const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
  const std::string dir = dir_env && *dir_env ? dir_env : X509_get_default_cert_dir();
  std::error_code fs_ec;
  const bool default_file =
      file_env == nullptr || *file_env == '\0' ||
      std::filesystem::equivalent(file_env, X509_get_default_cert_file(), fs_ec);
  if (default_file && dir.find(':') == std::string::npos && has_hashed_certificates(dir)) {
    ctx.add_verify_path(dir, ec);
  } else {
    ctx.set_default_verify_paths(ec);
  }
}

}  // namespace

void HttpsTransport::Impl::setup() {
  error_code ec;
  SSL_CTX_set_min_proto_version(tls_context.native_handle(), TLS1_2_VERSION);
  tls_context.set_verify_mode(ssl::verify_peer);
  load_system_store(tls_context, ec);
  if (ec) {
    setup_error = upstream_error("cannot load the system CA store: " + tls_reason(ec));
    return;
  }
  if (options.ca_file) {
    tls_context.load_verify_file(*options.ca_file, ec);
    if (ec) {
      setup_error = make_error(ErrorCode::internal, "cannot load tls.ca_file " + *options.ca_file +
                                                        ": " + tls_reason(ec));
      return;
    }
  }
  if (options.https_proxy && !options.https_proxy->empty()) {
    auto p = parse_proxy_url(*options.https_proxy);
    if (!p) {
      setup_error = make_error(ErrorCode::internal, "https_proxy: " + p.error().message);
      return;
    }
    proxy = std::move(*p);
  }
}

HttpsTransportOptions HttpsTransportOptions::from_environment() {
  auto env = [](const char* lower_name, const char* upper_name) -> std::optional<std::string> {
    for (const char* name : {lower_name, upper_name}) {
      const char* v = std::getenv(name);
      if (v && *v) return std::string(v);
    }
    return std::nullopt;
  };
  HttpsTransportOptions o;
  o.https_proxy = env("https_proxy", "HTTPS_PROXY");
  o.no_proxy = env("no_proxy", "NO_PROXY").value_or("");
  return o;
}

HttpsTransport::HttpsTransport(asio::io_context& io, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {
  impl_->setup();
}

HttpsTransport::~HttpsTransport() = default;

const std::optional<Error>& HttpsTransport::setup_error() const {
  return impl_->setup_error;
}

void HttpsTransport::Impl::drop_expired(std::chrono::steady_clock::time_point now) {
  for (auto it = idle.begin(); it != idle.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](const Idle& i) { return now - i.since >= options.idle_timeout; });
    it = list.empty() ? idle.erase(it) : std::next(it);
  }
}

std::unique_ptr<Connection> HttpsTransport::Impl::checkout(const std::string& key) {
  drop_expired(std::chrono::steady_clock::now());
  auto it = idle.find(key);
  while (it != idle.end() && !it->second.empty()) {
    auto conn = std::move(it->second.back().conn);
    it->second.pop_back();
    if (it->second.empty()) idle.erase(it);
    if (still_open(conn->lowest())) return conn;
    conn->close();
    it = idle.find(key);
  }
  return nullptr;
}

void HttpsTransport::Impl::checkin(const std::string& key, std::unique_ptr<Connection> conn) {
  const auto now = std::chrono::steady_clock::now();
  drop_expired(now);
  auto& list = idle[key];
  list.push_back({std::move(conn), now});
  // Over the cap: the least recently used goes (destroying it closes the socket).
  if (list.size() > options.max_idle_per_host) list.erase(list.begin());
}

std::size_t HttpsTransport::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [key, list] : impl_->idle) n += list.size();
  return n;
}

void HttpsTransport::send(HttpRequest request, HttpCallback done) {
  auto ex = std::make_shared<Exchange>(impl_->io, std::move(request), std::move(done));
  // Posted so that `done` never runs inside send(), even for errors found before any I/O.
  asio::post(impl_->io, [impl = impl_, ex] {
    asio::co_spawn(impl->io, drive(impl, ex), [ex](std::exception_ptr e) {
      if (!e) return;
      if (ex->conn) ex->conn->close();
      ex->finish(make_error(ErrorCode::internal, "unexpected failure talking to " + ex->url.host));
    });
  });
}

}  // namespace dbx
