#include "daemon/credentials/databricks_oauth_source.h"

#include <openssl/evp.h>

#include <boost/json.hpp>

#include "common/encoding.h"
#include "daemon/credentials/entra_token.h"
#include "daemon/credentials/secret_file.h"
#include "daemon/upstream/url.h"

namespace dbx {

namespace {

constexpr const char* kDiscoveryPath = "/oidc/.well-known/oauth-authorization-server";
constexpr const char* kDefaultTokenPath = "/oidc/v1/token";

Error with_context(Error e, const std::string& what) {
  e.message = what + ": " + e.message;
  return e;
}

}  // namespace

Result<std::string> parse_discovery(std::string_view body, const std::string& host) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  const boost::json::value* endpoint = nullptr;
  if (!ec && v.is_object()) endpoint = v.as_object().if_contains("token_endpoint");
  if (endpoint == nullptr || !endpoint->is_string()) {
    return make_error(ErrorCode::upstream_unavailable,
                      "the OIDC discovery answer has no token_endpoint");
  }
  std::string url(endpoint->as_string());
  auto parsed = parse_url(url);
  auto origin = parse_url(host + "/");
  if (!parsed || !origin || parsed->scheme != "https" ||
      parsed->authority() != origin->authority()) {
    return make_error(ErrorCode::upstream_unavailable,
                      "the OIDC discovery answer names a token_endpoint outside " + host +
                          "; refused (the credential is only sent to the workspace host)");
  }
  return url;
}

DatabricksOAuthSource::DatabricksOAuthSource(Runtime& runtime, Transport& transport,
                                             DatabricksOAuthClient client)
    : runtime_(runtime), transport_(transport), client_(std::move(client)) {}

void DatabricksOAuthSource::fetch(const std::string& host, TokenCallback done) {
  if (auto it = token_endpoints_.find(host); it != token_endpoints_.end()) {
    return request_token(host, it->second, std::move(done));
  }
  discover(host, [this, host, done = std::move(done)](Result<std::string> endpoint) mutable {
    if (!endpoint) return done(endpoint.error());
    token_endpoints_[host] = endpoint.value();
    request_token(host, endpoint.value(), std::move(done));
  });
}

void DatabricksOAuthSource::discover(const std::string& host,
                                     std::function<void(Result<std::string>)> done) {
  ++discoveries_;
  HttpRequest req;
  req.method = "GET";
  req.upstream = "databricks_oidc";
  req.url = host + kDiscoveryPath;
  req.headers = {{"Accept", "application/json"}};
  const std::string what = "OIDC discovery at " + host + " (credential " + client_.credential + ")";
  std::weak_ptr<int> alive = alive_;
  transport_.send(std::move(req),
                  [alive, host, what, done = std::move(done)](Result<HttpResponse> r) {
                    if (alive.expired()) return;
                    if (!r) return done(with_context(r.error(), what + " failed"));
                    if (r->status == 404)
                      return done(host + kDefaultTokenPath);  // no discovery: the usual path
                    if (r->status != 200) return done(token_endpoint_error(*r, what));
                    auto endpoint = parse_discovery(r->body, host);
                    if (!endpoint) return done(with_context(endpoint.error(), what));
                    done(std::move(endpoint));
                  });
}

void DatabricksOAuthSource::request_token(const std::string& host,
                                          const std::string& token_endpoint, TokenCallback done) {
  const std::string what = std::string(client_.federation ? "Databricks OAuth token exchange"
                                                          : "Databricks OAuth "
                                                            "token request") +
                           (client_.client_id.empty() ? "" : " for client " + client_.client_id) +
                           " at " + host + " (credential " + client_.credential + ")";
  HttpRequest req;
  req.method = "POST";
  req.upstream = "databricks_oidc";
  req.url = token_endpoint;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  if (client_.federation) {
    // Its writer (a CI runner, kubelet) rotates the file: read it for every exchange.
    auto jwt =
        client_.subject_token ? client_.subject_token() : read_token_file(client_.token_file);
    if (!jwt) {
      Error e = with_context(jwt.error(), what);
      runtime_.post([done = std::move(done), e = std::move(e)] { done(e); });
      return;
    }
    std::vector<std::pair<std::string, std::string>> fields{
        {"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"},
        {"subject_token", std::move(jwt.value())},
        {"subject_token_type", "urn:ietf:params:oauth:token-type:jwt"},
        {"scope", "all-apis"}};
    if (!client_.client_id.empty()) fields.emplace_back("client_id", client_.client_id);
    req.body = form_encode(fields);
    for (auto& [k, v] : fields) wipe(v);
  } else {
    Result<std::string> secret = client_.client_secret
                                     ? Result<std::string>(*client_.client_secret)
                                     : read_secret_file(client_.client_secret_file);
    if (!secret) {
      Error e = with_context(secret.error(), what);
      runtime_.post([done = std::move(done), e = std::move(e)] { done(e); });
      return;
    }
    std::string pair = client_.client_id + ":" + secret.value();
    req.headers.emplace_back("Authorization", "Basic " + base64(pair));
    wipe(pair);
    wipe(secret.value());
    req.body = "grant_type=client_credentials&scope=all-apis";
  }
  std::weak_ptr<int> alive = alive_;
  transport_.send(std::move(req),
                  [this, alive, what, done = std::move(done)](Result<HttpResponse> r) {
                    if (alive.expired()) return;
                    if (!r) return done(with_context(r.error(), what + " failed"));
                    if (r->status != 200) return done(token_endpoint_error(*r, what));
                    auto t = parse_token_answer(r->body, runtime_.now());
                    if (!t) return done(with_context(t.error(), what));
                    done(std::move(t));
                  });
}

}  // namespace dbx
