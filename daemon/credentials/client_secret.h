// client_secret credential: a service principal's secret sent to the Entra ID v1 token endpoint.
// The secret is read from its file on every request (so rotating the file needs no reload) and the
// buffer holding it is wiped afterwards.
#pragma once

#include <string>

#include "common/config.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

class ClientSecretSource : public CredentialSource {
 public:
  ClientSecretSource(Runtime& runtime, Transport& transport, CredentialConfig config,
                     std::string authority);
  void fetch(const std::string& resource, TokenCallback done) override;
  std::string type() const override { return "client_secret"; }

 private:
  Runtime& runtime_;
  Transport& transport_;
  CredentialConfig config_;
  std::string authority_;
};

// Reads a secret file, trimming one trailing newline; errors name the path, never the content.
Result<std::string> read_secret_file(const std::string& path);

// Overwrites a string's bytes before it is freed (best effort: copies made by libraries remain).
void wipe(std::string& s);

}  // namespace dbx
