// The CI job's OIDC token request (see oidc_request.h).
#include "daemon/session/oidc_request.h"

#include <boost/json.hpp>

#include "common/encoding.h"

namespace dbx {

const char* to_string(SessionKind kind) {
  return kind == SessionKind::github ? "github" : "azure-devops";
}

HttpRequest make_oidc_http_request(const OidcRequest& r) {
  HttpRequest req;
  req.upstream = "ci_oidc";
  const char sep = r.request_url.find('?') == std::string::npos ? '?' : '&';
  if (r.kind == SessionKind::github) {
    req.method = "GET";
    req.url = r.request_url + sep + "audience=" + percent_encode(r.audience, "-._~");
    req.headers = {{"Authorization", "bearer " + r.request_token},
                   {"Accept", "application/json; api-version=2.0"}};
  } else {
    req.method = "POST";
    req.url = r.request_url + sep +
              "api-version=7.1&serviceConnectionId=" + percent_encode(r.service_connection_id, "-");
    req.headers = {{"Authorization", "Bearer " + r.request_token},
                   {"Content-Type", "application/json"},
                   {"Accept", "application/json"}};
    req.body = "{}";
  }
  return req;
}

Result<std::string> parse_oidc_answer(SessionKind kind, const HttpResponse& response) {
  const std::string what = kind == SessionKind::github ? "the GitHub Actions OIDC endpoint"
                                                       : "the Azure DevOps OIDC endpoint";
  if (response.status == 401 || response.status == 403) {
    Error e = make_error(ErrorCode::upstream_unavailable,
                         what + " refused the job's request token (HTTP " +
                             std::to_string(response.status) +
                             "): the job has ended, or the job lacks permission to request "
                             "OIDC tokens (GitHub: permissions: id-token: write)");
    e.upstream_status = response.status;
    return e;
  }
  if (response.status != 200) {
    Error e = make_error(ErrorCode::upstream_unavailable,
                         what + " answered HTTP " + std::to_string(response.status));
    e.upstream_status = response.status;
    e.retry_after = response.retry_after();
    return e;
  }
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(response.body, ec);
  const char* key = kind == SessionKind::github ? "value" : "oidcToken";
  const boost::json::value* t = !ec && v.is_object() ? v.as_object().if_contains(key) : nullptr;
  if (t == nullptr || !t->is_string() || t->as_string().empty())
    return make_error(ErrorCode::upstream_unavailable, what + " answered without \"" + key + "\"");
  return std::string(t->as_string());
}

void fetch_oidc_token(Transport& transport, const OidcRequest& r,
                      std::function<void(Result<std::string>)> done) {
  const SessionKind kind = r.kind;
  transport.send(make_oidc_http_request(r), [kind, done = std::move(done)](Result<HttpResponse> a) {
    if (!a) {
      Error e = a.error();
      e.message = "the CI job's OIDC endpoint could not be reached: " + e.message;
      return done(std::move(e));
    }
    done(parse_oidc_answer(kind, *a));
  });
}

}  // namespace dbx
