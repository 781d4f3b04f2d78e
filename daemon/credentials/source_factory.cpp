#include "daemon/credentials/source_factory.h"

#include "daemon/credentials/entra_source.h"

namespace dbx {

Result<std::unique_ptr<CredentialSource>> make_credential_source(const CredentialConfig& credential,
                                                                 const Config& config,
                                                                 Runtime& runtime,
                                                                 Transport& transport) {
  auto entra = [&](ClientAuth auth) -> Result<std::unique_ptr<CredentialSource>> {
    EntraClient client{credential.name, std::string(to_string(credential.type)),
                       config.endpoints.authority, credential.tenant_id, credential.client_id};
    return std::unique_ptr<CredentialSource>(
        std::make_unique<EntraSource>(runtime, transport, std::move(client), std::move(auth)));
  };
  switch (credential.type) {
    case CredentialType::client_secret:
      return entra(
          secret_auth(credential.client_secret, credential.client_secret_file.value_or("")));
    case CredentialType::client_certificate:
      return entra(certificate_auth(credential.client_id, credential.certificate_file,
                                    credential.assertion_alg,
                                    [&runtime] { return runtime.now(); }));
    case CredentialType::workload_identity:
      return entra(federated_auth(credential.token_file));
    default:
      break;
  }
  return make_error(ErrorCode::internal, "credential " + credential.name +
                                             ": this credential type is not supported yet");
}

}  // namespace dbx
