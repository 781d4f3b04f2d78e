// DatabricksOAuthSource: workspace-issued OAuth tokens (PROTOCOLS.md "Databricks OAuth"), for the
// credential types databricks_oauth (M2M: client_credentials with a Databricks-managed secret,
// sent as HTTP Basic) and databricks_federation (RFC 8693 token exchange of the JWT in
// token_file, re-read for every exchange). The "resource" TokenCache passes to fetch() is the
// workspace host (https://…, no trailing slash): tokens are per credential and workspace host.
//
// Discovery (GET {host}/oidc/.well-known/oauth-authorization-server) runs once per host and its
// token_endpoint is kept; an endpoint on another origin than the host is refused (the secret must
// never leave for a host the config does not name). A 404 there falls back to {host}/oidc/v1/token.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

struct DatabricksOAuthClient {
  std::string credential;          // config name, for messages
  bool federation = false;         // false: M2M; true: token exchange
  std::string client_id;           // M2M: required; federation: optional (SP federation policy)
  std::string client_secret_file;  // M2M, when the secret is not inline
  std::optional<std::string> client_secret;  // M2M inline secret
  std::string token_file;                    // federation
  // Federation: when set, the subject token comes from here instead of token_file (a CI session's
  // freshly fetched OIDC token, daemon/session/session_source.h).
  std::function<Result<std::string>()> subject_token;
};

class DatabricksOAuthSource : public CredentialSource {
 public:
  DatabricksOAuthSource(Runtime& runtime, Transport& transport, DatabricksOAuthClient client);
  void fetch(const std::string& host, TokenCallback done) override;
  std::string type() const override {
    return client_.federation ? "databricks_federation" : "databricks_oauth";
  }

  // How many discovery calls were made (tests; discovery is cached per host).
  int discoveries() const { return discoveries_; }

 private:
  void discover(const std::string& host, std::function<void(Result<std::string>)> done);
  void request_token(const std::string& host, const std::string& token_endpoint,
                     TokenCallback done);

  Runtime& runtime_;
  Transport& transport_;
  DatabricksOAuthClient client_;
  std::map<std::string, std::string> token_endpoints_;  // by host
  int discoveries_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// The token_endpoint of a discovery answer, checked to be https on the host's origin.
Result<std::string> parse_discovery(std::string_view body, const std::string& host);

}  // namespace dbx
