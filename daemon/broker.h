// Broker: the registry of the current configuration — its credentials (source + token caches,
// shared by the workspaces that use them) and its Workspaces (daemon/workspace/workspace.h, where
// every per-workspace question is answered, access included). Built from a Config and, on reload,
// from the previous Broker following reload_plan(): what the plan keeps is shared, what it retires
// is stopped. Nothing it owns calls back into it. Everything runs on the loop thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/config.h"
#include "daemon/credentials/concurrency_limit.h"
#include "daemon/credentials/process_runner.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"
#include "daemon/workspace/credential.h"
#include "daemon/workspace/pat_ledgers.h"
#include "daemon/workspace/reload_plan.h"
#include "daemon/workspace/workspace.h"

namespace dbx {

// Held by shared_ptr: callbacks in flight keep the broker of the configuration they started under
// alive across a reload.
class Broker : public std::enable_shared_from_this<Broker> {
 public:
  // With `previous` (a reload): takes over what reload_plan(previous config, config) keeps and
  // retires (Workspace::retire) the previous broker's workspaces the plan retires. Kept state is
  // shared with the previous broker until the requests that still hold it finish.
  Broker(Runtime& runtime, Transport& transport, Config config, Broker* previous = nullptr);
  ~Broker();

  // Starts every workspace (PAT managers, eager token fetches, ARM lookups); returns at once.
  void start();
  // At exit, after the loop stopped: drops every waiting callback unanswered, so that callbacks
  // holding this broker (requests that were waiting when the daemon stopped) let it go.
  void abandon_waiters();
  // The wall clock stepped (ClockWatch): every token cache and PAT manager re-evaluates now.
  void reschedule(Millis step);

  const Config& config() const { return config_; }
  // The upstream transport its workspaces use (the doctor's probes go through it too).
  Transport& transport() const { return transport_; }
  // The workspace named `name`, or nullptr. Valid as long as this broker.
  Workspace* workspace(std::string_view name) const;
  // The credential named `name`, or nullptr (the managed-identity endpoint's tokens).
  Credential* credential(std::string_view name) const;
  // A token of `credential` for `resource` (the managed-identity endpoint).
  void token(const std::string& credential, const std::string& resource, Seconds min_valid,
             TokenCallback done);

  // Visits every token cache: (credential name, credential type, cache).
  void for_each_cache(const std::function<void(const std::string&, const std::string&,
                                               const TokenCache&)>& f) const;

  // What the constructor took over from `previous` (for the reload log line and tests).
  const ReloadPlan& plan() const { return plan_; }
  std::size_t kept_credentials() const { return plan_.kept_credentials.size(); }
  std::size_t kept_workspaces() const { return plan_.kept_workspaces.size(); }

 private:
  Runtime& runtime_;
  Transport& transport_;
  Config config_;
  ReloadPlan plan_;
  // Shared by the sources, so declared before them (destroyed after them); kept across reloads.
  std::shared_ptr<ProcessRunner> processes_;      // runs az (azure_cli)
  std::shared_ptr<ConcurrencyLimit> imds_limit_;  // IMDS calls of every managed_identity source
  std::shared_ptr<PatLedgers> ledgers_;           // for the life of the process
  std::map<std::string, std::shared_ptr<Credential>, std::less<>> credentials_;
  std::map<std::string, std::shared_ptr<Workspace>, std::less<>> workspaces_;
};

}  // namespace dbx
