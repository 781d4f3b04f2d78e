#include "daemon/credentials/source_factory.h"

#include "daemon/credentials/azure_cli_source.h"
#include "daemon/credentials/databricks_oauth_source.h"
#include "daemon/credentials/entra_source.h"
#include "daemon/credentials/managed_identity_source.h"

namespace dbx {

Result<std::unique_ptr<CredentialSource>> make_credential_source(const CredentialConfig& credential,
                                                                 const Config& config,
                                                                 const SourceServices& services) {
  using Source = std::unique_ptr<CredentialSource>;
  Runtime& runtime = services.runtime;
  auto entra = [&](ClientAuth auth) -> Result<Source> {
    EntraClient client{credential.name, std::string(to_string(credential.type)),
                       config.endpoints.authority, credential.tenant_id, credential.client_id};
    return Source(std::make_unique<EntraSource>(runtime, services.transport, std::move(client),
                                                std::move(auth)));
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
    case CredentialType::azure_cli: {
      if (services.processes == nullptr) break;
      AzureCli cli{credential.name, credential.az_path, credential.az_tenant_id,
                   credential.az_subscription};
      return Source(std::make_unique<AzureCliSource>(runtime, *services.processes, std::move(cli)));
    }
    case CredentialType::databricks_oauth:
    case CredentialType::databricks_federation: {
      DatabricksOAuthClient client;
      client.credential = credential.name;
      client.federation = credential.type == CredentialType::databricks_federation;
      client.client_id = credential.client_id;
      client.client_secret = credential.client_secret;
      client.client_secret_file = credential.client_secret_file.value_or("");
      client.token_file = credential.token_file;
      return Source(
          std::make_unique<DatabricksOAuthSource>(runtime, services.transport, std::move(client)));
    }
    case CredentialType::managed_identity: {
      if (services.imds_limit == nullptr) break;
      ManagedIdentity identity{credential.name, config.endpoints.imds, std::nullopt};
      if (!credential.client_id.empty()) identity.client_id = credential.client_id;
      return Source(std::make_unique<ManagedIdentitySource>(
          runtime, services.transport, *services.imds_limit, std::move(identity)));
    }
  }
  return make_error(ErrorCode::internal, "credential " + credential.name + ": type " +
                                             to_string(credential.type) +
                                             " cannot be set up in this process");
}

}  // namespace dbx
