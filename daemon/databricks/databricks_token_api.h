// DatabricksTokenApi: the real TokenApi — token/create, token/list, token/delete over a Transport
// (PROTOCOLS.md "Databricks REST"). Sans-I/O apart from the Transport: builds requests, parses
// answers (times in ms, expiry_time -1 = never, `{}` = no tokens, numbers possibly as strings),
// and turns error answers into Errors via databricks_errors.h.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/databricks/token_api.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// Supplies the headers that authenticate one call: Authorization (Bearer AAD token for the
// Databricks resource) and, when management_token is on, X-Databricks-Azure-SP-Management-Token
// and X-Databricks-Azure-Workspace-Resource-Id. Called once per request; may answer later.
using AuthHeaders = std::function<void(std::function<void(Result<HttpHeaders>)>)>;

class DatabricksTokenApi : public TokenApi {
 public:
  // `host`: https://adb-….azuredatabricks.net (a trailing slash is ignored).
  DatabricksTokenApi(Transport& transport, std::string host, AuthHeaders auth);
  // For a workspace whose host is looked up later (ARM): `host` is asked once `auth` has answered,
  // so an AuthHeaders that waits for the host makes it known by then.
  DatabricksTokenApi(Transport& transport, std::function<std::string()> host, AuthHeaders auth);

  void authenticate(std::function<void(Status)> done) override;
  void create(Seconds lifetime, const std::string& comment,
              std::function<void(Result<MintedPat>)> done) override;
  void list(std::function<void(Result<std::vector<PatInfo>>)> done) override;
  void remove(const std::string& token_id, std::function<void(Status)> done) override;
  void check(const std::string& value, const std::string& token_id,
             std::function<void(Result<bool>)> done) override;

 private:
  // Fetches auth headers, sends, and hands the answer (any HTTP status) or the failure to `done`.
  void call(std::string method, std::string path, std::string body, std::string what,
            std::function<void(Result<HttpResponse>)> done);

  std::string host() const;

  Transport& transport_;
  std::function<std::string()> host_;
  AuthHeaders auth_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
