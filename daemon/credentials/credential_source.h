// CredentialSource: one way of getting an Entra ID access token for a resource (client secret,
// certificate, Azure CLI, managed identity, workload identity). Sources do no caching: TokenCache
// does that and calls fetch() only to refresh.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace dbx {

struct AccessToken {
  std::string value;     // the bearer token; never logged (log fingerprint(value))
  TimePoint expires_at;  // computed from expires_in relative to the local receive time
  // The upstream's hint of when to refresh (v2 `refresh_in`), relative to receive time.
  std::optional<Seconds> refresh_in;
};

using TokenCallback = std::function<void(Result<AccessToken>)>;

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // `resource` is a v1 resource (a GUID or a URL like https://management.core.windows.net/).
  virtual void fetch(const std::string& resource, TokenCallback done) = 0;
  // The config type name, e.g. "client_secret", for status and logs.
  virtual std::string type() const = 0;
};

}  // namespace dbx
