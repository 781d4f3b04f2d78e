// AzureCliSource: tokens from the Azure CLI's login (`az account get-access-token`), run through a
// ProcessRunner so the loop never blocks. az is slow (0.5-2 s of CPU, sometimes 10 s+): the token
// cache calls fetch() only to refresh, never while a valid token is cached.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/credentials/credential_source.h"
#include "daemon/credentials/process_runner.h"
#include "daemon/runtime.h"

namespace dbx {

// PROTOCOLS.md: az usually answers within seconds; past this it is stuck (a hung proxy, an
// interactive prompt) and is killed.
inline constexpr Millis kAzTimeout{15000};

struct AzureCli {
  std::string credential;  // config name, for messages
  std::string az_path = "az";
  std::optional<std::string> tenant_id;
  std::optional<std::string> subscription;
};

// az's arguments for `resource` (without argv[0]): no secret is ever among them.
std::vector<std::string> az_token_args(const AzureCli& cli, const std::string& resource);

class AzureCliSource : public CredentialSource {
 public:
  AzureCliSource(Runtime& runtime, ProcessRunner& runner, AzureCli cli);
  void fetch(const std::string& resource, TokenCallback done) override;
  std::string type() const override { return "azure_cli"; }

 private:
  Runtime& runtime_;
  ProcessRunner& runner_;
  AzureCli cli_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
