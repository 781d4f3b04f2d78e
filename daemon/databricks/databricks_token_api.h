// DatabricksTokenApi: the real TokenApi — token/create, token/list, token/delete over a Transport
// (PROTOCOLS.md "Databricks REST"). Sans-I/O apart from the Transport: builds requests, parses
// answers (times in ms, expiry_time -1 = never, `{}` = no tokens, numbers possibly as strings),
// and turns error answers into Errors via databricks_errors.h.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/databricks/token_api.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// What one call to a workspace carries: its host and the headers that authenticate it
// (Authorization: Bearer …, and with management_token the SP management token and the workspace
// resource id), with the earliest expiry among their tokens.
struct WorkspaceHeaders {
  std::string host;
  TimePoint expires_at;
  HttpHeaders headers;
};

// Computes the host and headers for one call (WorkspaceAuth::headers); may answer later.
using HeaderSource = std::function<void(std::function<void(Result<WorkspaceHeaders>)>)>;
// Only the headers, for a fixed host.
using AuthHeaders = std::function<void(std::function<void(Result<HttpHeaders>)>)>;

class DatabricksTokenApi : public TokenApi {
 public:
  // The host and headers come from `source`, asked once per call — except that the headers
  // authenticate() obtained serve the one call that follows it (a mint: authenticate, then
  // token/create), so a mint computes its headers once.
  DatabricksTokenApi(Transport& transport, HeaderSource source);
  // A fixed `host` (https://adb-….azuredatabricks.net; a trailing slash is ignored).
  DatabricksTokenApi(Transport& transport, std::string host, AuthHeaders auth);

  void authenticate(std::function<void(Status)> done) override;
  void create(Seconds lifetime, const std::string& comment,
              std::function<void(Result<MintedPat>)> done) override;
  void list(std::function<void(Result<std::vector<PatInfo>>)> done) override;
  void remove(const std::string& token_id, std::function<void(Status)> done) override;

 private:
  // Fetches auth headers, sends, and hands the answer (any HTTP status) or the failure to `done`.
  void call(std::string method, std::string path, std::string body, std::string what,
            std::function<void(Result<HttpResponse>)> done);

  // The host of the last call's headers, for error messages.
  const std::string& host() const { return host_; }

  Transport& transport_;
  HeaderSource source_;
  std::string host_;
  std::optional<WorkspaceHeaders> prepared_;  // from authenticate(), for the next call only
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
