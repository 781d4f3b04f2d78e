// TokenApi: the Databricks token API (PROTOCOLS.md) as the PAT manager sees it. The real one
// (DatabricksTokenApi) adds the workspace's AAD headers and talks HTTPS; unit tests use a fake.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace dbx {

struct PatInfo {
  std::string token_id;
  std::string comment;
  TimePoint created;
  std::optional<TimePoint> expires;  // nullopt: never expires (expiry_time -1)
};

struct MintedPat {
  std::string value;  // the dapi… secret: memory only, never logged, never written to disk
  PatInfo info;
};

class TokenApi {
 public:
  virtual ~TokenApi() = default;
  // Makes sure the next call can authenticate (e.g. the workspace's AAD token is at hand), without
  // calling Databricks. The PAT manager asks before it writes a mint intent: a create that could
  // not even be sent must leave no intent behind. `done` may run inline.
  virtual void authenticate(std::function<void(Status)> done) { done(ok_status()); }
  virtual void create(Seconds lifetime, const std::string& comment,
                      std::function<void(Result<MintedPat>)> done) = 0;
  // All valid tokens of the calling principal (an absent token_infos means none).
  virtual void list(std::function<void(Result<std::vector<PatInfo>>)> done) = 0;
  // RESOURCE_DOES_NOT_EXIST counts as success (already deleted).
  virtual void remove(const std::string& token_id, std::function<void(Status)> done) = 0;
  // Tries a PAT at the workspace: token/list authenticated with the PAT itself (no AAD call).
  // true: it works and is listed; false: the answer proves it no longer works (401/403, or the
  // list no longer shows `token_id`); an error when nothing was proved (no answer, 5xx, 429).
  virtual void check(const std::string& value, const std::string& token_id,
                     std::function<void(Result<bool>)> done) = 0;
};

}  // namespace dbx
