#include "daemon/credentials/entra_source.h"

#include "daemon/credentials/client_assertion.h"
#include "daemon/credentials/entra_token.h"
#include "daemon/credentials/secret_file.h"

namespace dbx {

namespace {
constexpr const char* kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
}

EntraSource::EntraSource(Runtime& runtime, Transport& transport, EntraClient client,
                         ClientAuth auth)
    : runtime_(runtime),
      transport_(transport),
      client_(std::move(client)),
      auth_(std::move(auth)) {}

void EntraSource::fetch(const std::string& resource, TokenCallback done) {
  const std::string what = "Entra ID token request for client " + client_.client_id +
                           " (credential " + client_.credential + ")";
  HttpRequest req;
  req.method = "POST";
  req.upstream = "aad";
  req.url = client_.authority + "/" + client_.tenant_id + "/oauth2/token";
  auto auth = auth_(req.url);
  if (!auth) {
    Error e = auth.error();
    e.message = what + ": " + e.message;
    runtime_.post([done = std::move(done), e = std::move(e)] { done(e); });
    return;
  }
  FormFields fields{{"grant_type", "client_credentials"}, {"client_id", client_.client_id}};
  for (auto& f : auth.value()) fields.push_back(std::move(f));
  fields.emplace_back("resource", resource);
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = form_encode(fields);
  for (auto& [k, v] : fields) wipe(v);
  transport_.send(std::move(req), [this, what, done = std::move(done)](Result<HttpResponse> r) {
    if (!r) {
      Error e = r.error();
      e.message = what + " failed: " + e.message;
      return done(std::move(e));
    }
    if (r->status != 200) return done(token_endpoint_error(*r, what));
    auto t = parse_token_answer(r->body, runtime_.now());
    if (!t) {
      Error e = t.error();
      e.message = what + ": " + e.message;
      return done(std::move(e));
    }
    done(std::move(t));
  });
}

ClientAuth secret_auth(std::optional<std::string> inline_secret, std::string secret_file) {
  return [inline_secret = std::move(inline_secret),
          secret_file = std::move(secret_file)](const std::string&) -> Result<FormFields> {
    if (inline_secret) return FormFields{{"client_secret", *inline_secret}};
    // Read on every request: rotating the file needs no reload.
    auto s = read_secret_file(secret_file);
    if (!s) return s.error();
    return FormFields{{"client_secret", std::move(s.value())}};
  };
}

ClientAuth certificate_auth(std::string client_id, std::string certificate_file, std::string alg,
                            std::function<TimePoint()> now) {
  return
      [client_id = std::move(client_id), certificate_file = std::move(certificate_file),
       alg = std::move(alg), now = std::move(now)](const std::string& url) -> Result<FormFields> {
        auto key = load_signing_certificate(certificate_file);
        if (!key) return key.error();
        auto jwt = make_client_assertion(*key, client_id, url, now(), alg);
        if (!jwt) return jwt.error();
        return FormFields{{"client_assertion_type", kJwtBearer},
                          {"client_assertion", std::move(jwt.value())}};
      };
}

ClientAuth federated_auth(std::string token_file) {
  return [token_file = std::move(token_file)](const std::string&) -> Result<FormFields> {
    // Its writer (kubelet, a CI runner) rotates the file: read it for every request.
    auto t = read_token_file(token_file);
    if (!t) return t.error();
    return FormFields{{"client_assertion_type", kJwtBearer},
                      {"client_assertion", std::move(t.value())}};
  };
}

}  // namespace dbx
