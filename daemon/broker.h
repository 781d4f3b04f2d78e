// Broker: the daemon's engine room. Owns the credential sources and token caches for the current
// configuration and answers the questions the socket API asks per workspace (AAD token, Databricks
// headers, PAT). Everything runs on the loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
#include "daemon/cache/token_cache.h"
#include "daemon/credentials/concurrency_limit.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/credentials/process_runner.h"
#include "daemon/databricks/databricks_token_api.h"
#include "daemon/pat/pat_ledger.h"
#include "daemon/pat/pat_manager.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

struct WorkspaceHeaders {
  std::string host;
  TimePoint expires_at;  // the earliest expiry among the tokens in the headers
  HttpHeaders headers;
};

// Held by shared_ptr: callbacks in flight keep the broker of the configuration they started under
// alive across a reload.
//
// Reload (SIGHUP) builds a new Broker from the new Config and the `previous` one: a credential
// whose CredentialConfig, endpoints and request deadline are unchanged keeps its source and token
// caches (no new upstream call), and a PAT workspace whose credential was kept and whose host,
// resource id, management_token, state_dir and instance are unchanged keeps its PatManager (the
// current PAT stays in service; a changed `pat` policy is applied with reconfigure()). Kept state
// is shared with the previous broker until the requests that still hold it finish.
class Broker : public std::enable_shared_from_this<Broker> {
 public:
  Broker(Runtime& runtime, Transport& transport, Config config, const Broker* previous = nullptr);
  ~Broker();

  // Fetches every workspace's tokens in the background; returns at once.
  void start();
  // At exit, after the loop stopped: drops every waiting callback unanswered, so that callbacks
  // holding this broker (requests that were waiting when the daemon stopped) let it go.
  void abandon_waiters();
  // The wall clock stepped (ClockWatch): every token cache and PAT manager re-evaluates now.
  void reschedule(Millis step);

  const Config& config() const { return config_; }
  const WorkspaceConfig* find_workspace(std::string_view name) const;
  // The workspace's https:// host ("" while an ARM lookup has not finished).
  std::string host_of(const WorkspaceConfig& ws) const;
  // The workspace's host, waiting for its ARM lookup when it has only a resource_id (at most the
  // request deadline). The lookup runs once; its answer is kept for the broker's lifetime.
  void with_host(const WorkspaceConfig& ws, std::function<void(Result<std::string>)> done);

  void aad(const WorkspaceConfig& ws, Seconds min_valid, TokenCallback done);
  void headers(const WorkspaceConfig& ws, Seconds min_valid,
               std::function<void(Result<WorkspaceHeaders>)> done);
  // The workspace's current PAT when it serves `min_valid` now (PatManager::peek), else nullopt.
  std::optional<ServedPatView> peek_pat(const WorkspaceConfig& ws, Seconds min_valid) const;
  // host_of() without the copy: a view into the config or the ARM lookup, valid until the loop
  // runs again.
  std::string_view host_view(const WorkspaceConfig& ws) const;
  // A PAT of the workspace (bad_request when the workspace has "pat": false).
  void pat(const WorkspaceConfig& ws, Seconds min_valid,
           std::function<void(Result<ServedPat>)> done);
  // The PAT manager's status, or nullopt when PATs are off for the workspace.
  std::optional<PatStatus> pat_status(const std::string& workspace) const;
  // A token of `credential` for `resource` (the managed-identity endpoint).
  void token(const std::string& credential, const std::string& resource, Seconds min_valid,
             TokenCallback done);

  // Visits every token cache: (credential name, credential type, cache).
  void for_each_cache(const std::function<void(const std::string&, const std::string&,
                                               const TokenCache&)>& f) const;

  // What the constructor took over from `previous` (for the reload log line and tests).
  std::size_t kept_credentials() const { return kept_credentials_; }
  std::size_t kept_workspaces() const { return kept_workspaces_; }

 private:
  struct CredentialState {
    std::unique_ptr<CredentialSource> source;
    std::optional<Error> setup_error;  // e.g. an unsupported type: every request gets this
    std::map<std::string, std::unique_ptr<TokenCache>> caches;  // by normalized resource
  };
  struct WorkspaceState {
    // The broker currently in charge (the api's header provider asks it); null once that broker
    // is gone and no newer one took the workspace over.
    std::shared_ptr<Broker*> owner;
    bool started = false;
    std::unique_ptr<PatLedger> ledger;
    std::unique_ptr<DatabricksTokenApi> api;
    std::unique_ptr<PatManager> pats;
  };
  // A workspace configured with resource_id and no host (SPEC.md): its host comes from ARM.
  struct HostLookup {
    struct Waiter {
      std::uint64_t id;
      std::function<void(Result<std::string>)> done;
      std::shared_ptr<Timer> timer;
    };
    std::optional<std::string> host;
    bool in_flight = false;
    std::optional<Error> last_error;  // of the last failed lookup
    TimePoint failed_at;
    std::vector<Waiter> waiters;
  };
  void start_host_lookup(const WorkspaceConfig& ws);
  void host_lookup_done(const std::string& workspace, Result<std::string> host);
  void headers_at(const WorkspaceConfig& ws, std::string host, Seconds min_valid,
                  std::function<void(Result<WorkspaceHeaders>)> done);
  std::shared_ptr<CredentialState> reusable_credential(const std::string& name,
                                                       const Config& next) const;
  std::shared_ptr<WorkspaceState> reusable_workspace(const WorkspaceConfig& ws,
                                                     const Config& next) const;
  std::shared_ptr<WorkspaceState> make_workspace(const WorkspaceConfig& ws);
  // `created` (optional) is set when the cache did not exist before this call.
  TokenCache* cache_for(const std::string& credential, const std::string& resource, Error& error,
                        bool* created = nullptr);

  Runtime& runtime_;
  Transport& transport_;
  Config config_;
  // Shared by the sources, so declared before them (destroyed after them); kept across reloads.
  std::shared_ptr<ProcessRunner> processes_;      // runs az (azure_cli)
  std::shared_ptr<ConcurrencyLimit> imds_limit_;  // IMDS calls of every managed_identity source
  std::map<std::string, std::shared_ptr<CredentialState>> credentials_;
  std::map<std::string, HostLookup> host_lookups_;  // by workspace name
  std::uint64_t next_host_waiter_ = 1;
  std::map<std::string, std::shared_ptr<WorkspaceState>> workspaces_;
  std::size_t kept_credentials_ = 0;
  std::size_t kept_workspaces_ = 0;
};

}  // namespace dbx
