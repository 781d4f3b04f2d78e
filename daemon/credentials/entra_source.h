// EntraSource: the Entra ID v1 client-credentials grant, shared by every service-principal
// credential. What differs between them is only how the client proves who it is — a secret, a
// certificate-signed assertion, or a federated token — supplied fresh per request by a ClientAuth.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

using FormFields = std::vector<std::pair<std::string, std::string>>;
// Returns the client-authentication form fields for a request to `token_url`.
using ClientAuth = std::function<Result<FormFields>(const std::string& token_url)>;

struct EntraClient {
  std::string credential;  // config name, for messages
  std::string type;        // config type, for status
  std::string authority;   // https://login.microsoftonline.com
  std::string tenant_id;
  std::string client_id;
};

class EntraSource : public CredentialSource {
 public:
  EntraSource(Runtime& runtime, Transport& transport, EntraClient client, ClientAuth auth);
  void fetch(const std::string& resource, TokenCallback done) override;
  std::string type() const override { return client_.type; }

 private:
  Runtime& runtime_;
  Transport& transport_;
  EntraClient client_;
  ClientAuth auth_;
};

// The three ClientAuth flavours.
ClientAuth secret_auth(std::optional<std::string> inline_secret, std::string secret_file);
ClientAuth certificate_auth(std::string client_id, std::string certificate_file, std::string alg,
                            std::function<TimePoint()> now);
ClientAuth federated_auth(std::string token_file);

}  // namespace dbx
