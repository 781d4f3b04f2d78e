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

// Computes the host and headers for one call (WorkspaceAuth::headers); may answer later.
using HeaderSource = std::function<void(std::function<void(Result<WorkspaceHeaders>)>)>;
// Only the headers, for a fixed host.
using AuthHeaders = std::function<void(std::function<void(Result<HttpHeaders>)>)>;

class DatabricksTokenApi : public TokenApi {
 public:
  // The host and headers come from `source`: asked by authenticate() (whose answer create()
  // takes, so a mint computes its headers once) and once per list() or remove().
  DatabricksTokenApi(Transport& transport, HeaderSource source);
  // A fixed `host` (https://adb-….azuredatabricks.net; a trailing slash is ignored).
  DatabricksTokenApi(Transport& transport, std::string host, AuthHeaders auth);

  void authenticate(std::function<void(Result<WorkspaceHeaders>)> done) override;
  void create(WorkspaceHeaders auth, Seconds lifetime, const std::string& comment,
              std::function<void(Result<MintedPat>)> done) override;
  void list(std::function<void(Result<std::vector<PatInfo>>)> done) override;
  void remove(const std::string& token_id, std::function<void(Status)> done) override;
  void check(const std::string& value, const std::string& token_id,
             std::function<void(Result<bool>)> done) override;

 private:
  // Fetches auth headers from the source, then send()s.
  void call(std::string method, std::string path, std::string body, std::string what,
            std::function<void(Result<HttpResponse>)> done);
  // Sends with `auth` and hands the answer (any HTTP status) or the failure to `done`.
  void send(WorkspaceHeaders auth, std::string method, const std::string& path, std::string body,
            std::string what, std::function<void(Result<HttpResponse>)> done);

  // The host of the last call's headers, for error messages.
  const std::string& host() const { return host_; }

  Transport& transport_;
  HeaderSource source_;
  std::string host_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
