// The CI job's own OIDC token endpoint (issue 23), asked once per exchange:
//   GitHub Actions:  GET ACTIONS_ID_TOKEN_REQUEST_URL&audience=A
//                    Authorization: bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN  → {"value": JWT}
//   Azure DevOps:    POST SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=ID
//                    Authorization: Bearer SYSTEM_ACCESSTOKEN  → {"oidcToken": JWT}
// The request token is a secret: it goes only to the request URL, never into a message.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "daemon/upstream/transport.h"

namespace dbx {

enum class SessionKind { github, azure_devops };
const char* to_string(SessionKind kind);  // "github" | "azure-devops"

struct OidcRequest {
  SessionKind kind = SessionKind::github;
  std::string request_url;            // https://…
  std::string request_token;          // secret
  std::string audience;               // GitHub: the aud asked for
  std::string service_connection_id;  // Azure DevOps
};

// The HTTP request for one OIDC token.
HttpRequest make_oidc_http_request(const OidcRequest& r);
// The JWT of the endpoint's answer; errors say which CI endpoint failed and what to check.
Result<std::string> parse_oidc_answer(SessionKind kind, const HttpResponse& response);

void fetch_oidc_token(Transport& transport, const OidcRequest& r,
                      std::function<void(Result<std::string>)> done);

}  // namespace dbx
