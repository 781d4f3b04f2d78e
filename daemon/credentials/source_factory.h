// Builds the CredentialSource for a configured credential.
#pragma once

#include <memory>

#include "common/config.h"
#include "common/result.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

Result<std::unique_ptr<CredentialSource>> make_credential_source(const CredentialConfig& credential,
                                                                 const Config& config,
                                                                 Runtime& runtime,
                                                                 Transport& transport);

}  // namespace dbx
