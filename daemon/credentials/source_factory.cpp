#include "daemon/credentials/source_factory.h"

#include "daemon/credentials/client_secret.h"

namespace dbx {

Result<std::unique_ptr<CredentialSource>> make_credential_source(const CredentialConfig& credential,
                                                                 const Config& config,
                                                                 Runtime& runtime,
                                                                 Transport& transport) {
  switch (credential.type) {
    case CredentialType::client_secret:
      return std::unique_ptr<CredentialSource>(std::make_unique<ClientSecretSource>(
          runtime, transport, credential, config.endpoints.authority));
    default:
      break;
  }
  return make_error(ErrorCode::internal, "credential " + credential.name +
                                             ": this credential type is not supported yet");
}

}  // namespace dbx
