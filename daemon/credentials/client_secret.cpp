#include "daemon/credentials/client_secret.h"

#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "daemon/credentials/entra_token.h"

namespace dbx {

Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(ErrorCode::internal,
                      "cannot read secret file " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return make_error(ErrorCode::internal, "secret file " + path + " is empty");
  return s;
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

ClientSecretSource::ClientSecretSource(Runtime& runtime, Transport& transport,
                                       CredentialConfig config, std::string authority)
    : runtime_(runtime),
      transport_(transport),
      config_(std::move(config)),
      authority_(std::move(authority)) {}

void ClientSecretSource::fetch(const std::string& resource, TokenCallback done) {
  std::string secret;
  if (config_.client_secret) {
    secret = *config_.client_secret;
  } else {
    auto r = read_secret_file(config_.client_secret_file.value_or(""));
    if (!r) {
      runtime_.post([done = std::move(done), e = r.error()] { done(e); });
      return;
    }
    secret = std::move(r.value());
  }
  HttpRequest req;
  req.method = "POST";
  req.upstream = "aad";
  req.url = authority_ + "/" + config_.tenant_id + "/oauth2/token";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = form_encode({{"grant_type", "client_credentials"},
                          {"client_id", config_.client_id},
                          {"client_secret", secret},
                          {"resource", resource}});
  wipe(secret);
  std::string what = "Entra ID token request for client " + config_.client_id + " (credential " +
                     config_.name + ")";
  transport_.send(std::move(req),
                  [this, what = std::move(what), done = std::move(done)](Result<HttpResponse> r) {
                    if (!r) {
                      Error e = r.error();
                      e.message = what + " failed: " + e.message;
                      done(std::move(e));
                      return;
                    }
                    if (r->status != 200) {
                      done(token_endpoint_error(*r, what));
                      return;
                    }
                    auto t = parse_token_answer(r->body, runtime_.now());
                    if (!t) {
                      Error e = t.error();
                      e.message = what + ": " + e.message;
                      done(std::move(e));
                      return;
                    }
                    done(std::move(t));
                  });
}

}  // namespace dbx
