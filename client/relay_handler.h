// The request handling of `dbxcred exec --sdk|--azure`'s own relay (docs/SDK.md "The job's own
// relay"): the Databricks SDKs' metadata-service protocol and the App Service managed-identity
// protocol, answered by asking dbxcredd over its socket as the caller. No sockets here: requests
// come in parsed, the daemon is a Fetch, so every answer is unit-tested with canned daemon answers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/args.h"
#include "client/commands.h"
#include "client/daemon_api.h"
#include "client/output_format.h"
#include "daemon/server/request_parser.h"

namespace dbx::cli {

enum class RelayProtocol { metadata_service, managed_identity };

// What one relay serves, learned from the daemon before CMD starts.
struct RelayTarget {
  RelayProtocol protocol = RelayProtocol::metadata_service;
  std::string workspace;
  std::string host;      // the workspace's host: X-Databricks-Host must name it
  std::string resource;  // managed_identity: the one resource served (the daemon's `aad` resource)
  std::string kind;      // metadata_service: the daemon's last `kind` for /token (pat, oauth, aad)
  std::string secret;    // fresh per exec: the URL's first segment, or IDENTITY_HEADER
  std::optional<std::int64_t> min_valid_seconds;  // exec --min-valid: asked on top of the margins
};

// The daemon's metadata-service margins (daemon/server/loopback_routes.h), asked the same way so
// the relay serves what the daemon's own endpoint would: the SDKs refresh 40 s before
// `expires_on` and use a token at least 30 s; AAD tokens are announced 30 s early because
// Databricks refuses them in their last 30 s.
inline constexpr std::int64_t kRelayMinValid = 70;
inline constexpr std::int64_t kRelayAadCutoff = 30;
inline constexpr std::int64_t kRelayAadMinValid = kRelayMinValid + kRelayAadCutoff;
// The daemon's managed-identity endpoint asks for a minute (Azure SDKs refresh 2-5 min ahead).
inline constexpr std::int64_t kRelayManagedIdentityMinValid = 60;
inline constexpr std::string_view kRelayIdentityPath = "/msi/token";

// Resolves the workspace and asks the daemon once (`token`, or `aad` for --azure), as the caller:
// a caller who may not use the workspace fails here, with the CLI's exit code, before CMD runs.
Expected<RelayTarget> prepare_relay(const Invocation& inv,
                                    const std::optional<std::string>& env_workspace,
                                    const DaemonApi& api, std::string secret);

// The variables CMD gets for a relay on 127.0.0.1:`port`.
EnvVars relay_env(const RelayTarget& target, std::uint16_t port);

struct RelayAnswer {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type/Length
};

class RelayHandler {
 public:
  // `fetch` GETs a socket-API target from the daemon (a new connection each, as the caller).
  RelayHandler(RelayTarget target, Fetch fetch)
      : target_(std::move(target)), fetch_(std::move(fetch)) {}

  RelayAnswer handle(const InboundRequest& request);

 private:
  RelayAnswer metadata_service(const InboundRequest& request);
  RelayAnswer managed_identity(const InboundRequest& request);
  // GET `target` from the daemon: its JSON object, or the protocol error to answer.
  BasicResult<boost::json::object, RelayAnswer> ask(const std::string& target);

  RelayTarget target_;
  Fetch fetch_;
};

// Equal in time independent of where they differ (the secret is compared as the daemon does).
bool secrets_equal(std::string_view given, std::string_view expected);

}  // namespace dbx::cli
