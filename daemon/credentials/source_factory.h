// Builds the CredentialSource for a configured credential. Every source takes its endpoints from
// config.endpoints (the cloud's, with the config's overrides applied by the parser).
#pragma once

#include <memory>

#include "common/config.h"
#include "common/result.h"
#include "daemon/credentials/concurrency_limit.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/credentials/process_runner.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// What sources share; owned by the caller (the Broker) and outliving the sources.
struct SourceServices {
  Runtime& runtime;
  Transport& transport;
  ProcessRunner* processes = nullptr;      // azure_cli; nullptr: such credentials fail to set up
  ConcurrencyLimit* imds_limit = nullptr;  // managed_identity; nullptr: likewise
};

Result<std::unique_ptr<CredentialSource>> make_credential_source(const CredentialConfig& credential,
                                                                 const Config& config,
                                                                 const SourceServices& services);

}  // namespace dbx
