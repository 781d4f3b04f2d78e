// TokenApi: the Databricks token API (PROTOCOLS.md) as the PAT manager sees it. The real one
// (DatabricksTokenApi) adds the workspace's auth headers (AAD or Databricks OAuth) and talks HTTPS;
// unit tests use a fake.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/upstream/transport.h"

namespace dbx {

struct PatInfo {
  std::string token_id;
  std::string comment;
  TimePoint created;
  std::optional<TimePoint> expires;  // nullopt: never expires (expiry_time -1)
};

// What one call to a workspace carries: its host and the headers that authenticate it
// (Authorization: Bearer …, and with management_token the SP management token and the workspace
// resource id), with the earliest expiry among their tokens. Holds credentials: never logged.
struct WorkspaceHeaders {
  std::string host;
  TimePoint expires_at;
  HttpHeaders headers;
};

struct MintedPat {
  std::string value;  // the dapi… secret: memory only, never logged, never written to disk
  PatInfo info;
};

class TokenApi {
 public:
  virtual ~TokenApi() = default;
  // The host and headers a token/create will carry (the workspace's AAD or OAuth token), without
  // calling Databricks. The PAT manager asks before it writes a mint intent — a create that could
  // not even be sent must leave no intent behind — and hands the answer to create(). Nothing is
  // kept for later calls: list() and remove() get their own. `done` may run inline.
  virtual void authenticate(std::function<void(Result<WorkspaceHeaders>)> done) = 0;
  // token/create authenticated with `auth` (from authenticate()).
  virtual void create(WorkspaceHeaders auth, Seconds lifetime, const std::string& comment,
                      std::function<void(Result<MintedPat>)> done) = 0;
  // All valid tokens of the calling principal (an absent token_infos means none); authenticated
  // with headers obtained for this call.
  virtual void list(std::function<void(Result<std::vector<PatInfo>>)> done) = 0;
  // RESOURCE_DOES_NOT_EXIST counts as success (already deleted).
  virtual void remove(const std::string& token_id, std::function<void(Status)> done) = 0;
  // Tries a PAT at the workspace: token/list authenticated with the PAT itself (no token call).
  // true: it works and is listed; false: the answer proves it no longer works (401/403, or the
  // list no longer shows `token_id`); an error when nothing was proved (no answer, 5xx, 429).
  virtual void check(const std::string& value, const std::string& token_id,
                     std::function<void(Result<bool>)> done) = 0;
};

}  // namespace dbx
