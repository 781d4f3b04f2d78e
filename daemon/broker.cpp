#include "daemon/broker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/cache/refresh_policy.h"
#include "daemon/credentials/arm_lookup.h"
#include "daemon/credentials/entra_token.h"
#include "daemon/credentials/managed_identity_source.h"
#include "daemon/credentials/source_factory.h"

namespace dbx {

namespace {
// A failed ARM lookup is answered from memory for this long before the next request tries again,
// so a broken resource_id does not send every client request to ARM.
constexpr Seconds kArmRetryAfterFailure{10};
// Validity the management token used for the ARM call needs: one ARM round trip.
constexpr Seconds kArmTokenValidity{60};
}  // namespace

Broker::Broker(Runtime& runtime, Transport& transport, Config config, const Broker* previous)
    : runtime_(runtime),
      transport_(transport),
      config_(std::move(config)),
      // Shared with kept sources across reloads: they hold pointers to these.
      processes_(previous ? previous->processes_
                          : std::shared_ptr<ProcessRunner>(make_process_runner(runtime_))),
      imds_limit_(previous ? previous->imds_limit_
                           : std::make_shared<ConcurrencyLimit>(runtime_, kImdsMaxConcurrent)) {
  const SourceServices services{runtime_, transport_, processes_.get(), imds_limit_.get()};
  for (const auto& [name, cred] : config_.credentials) {
    if (previous != nullptr) {
      if (auto kept = previous->reusable_credential(name, config_)) {
        credentials_.emplace(name, std::move(kept));
        ++kept_credentials_;
        continue;
      }
    }
    auto state = std::make_shared<CredentialState>();
    auto source = make_credential_source(cred, config_, services);
    if (source) {
      state->source = std::move(source.value());
    } else {
      state->setup_error = source.error();
      spdlog::error("{}", source.error().message);
    }
    credentials_.emplace(name, std::move(state));
  }
  for (const auto& [name, ws] : config_.workspaces) {
    if (!ws.host && ws.resource_id) host_lookups_.emplace(name, HostLookup{});
  }
  for (const auto& [name, ws] : config_.workspaces) {
    if (!ws.pat.enabled) continue;
    std::shared_ptr<WorkspaceState> state;
    if (previous != nullptr) state = previous->reusable_workspace(ws, config_);
    if (state) {
      ++kept_workspaces_;
      *state->owner = this;
      state->pats->reconfigure(ws.pat);
    } else {
      state = make_workspace(ws);
    }
    workspaces_.emplace(name, std::move(state));
  }
}

std::shared_ptr<Broker::WorkspaceState> Broker::make_workspace(const WorkspaceConfig& ws) {
  auto state = std::make_shared<WorkspaceState>();
  state->owner = std::make_shared<Broker*>(this);
  state->ledger = std::make_unique<PatLedger>(config_.state_dir, ws.name);
  // Databricks rejects AAD tokens within 30 s of expiry; a minute covers a slow token/create.
  static constexpr Seconds kDatabricksCallValidity{60};
  // The header provider asks whichever broker is in charge now: after a reload that keeps this
  // workspace, the new broker's (kept or new) token caches serve the calls.
  // The host is asked for after the auth headers, which wait for an ARM lookup.
  state->api = std::make_unique<DatabricksTokenApi>(
      transport_,
      std::function<std::string()>([owner = state->owner, name = ws.name]() -> std::string {
        Broker* broker = *owner;
        const WorkspaceConfig* current = broker ? broker->find_workspace(name) : nullptr;
        return current ? broker->host_of(*current) : std::string();
      }),
      [owner = state->owner, name = ws.name](std::function<void(Result<HttpHeaders>)> done) {
        Broker* broker = *owner;
        const WorkspaceConfig* current = broker ? broker->find_workspace(name) : nullptr;
        if (current == nullptr)
          return done(make_error(ErrorCode::internal,
                                 "workspace " + name + " was removed by a configuration reload"));
        broker->headers(*current, kDatabricksCallValidity,
                        [done = std::move(done)](Result<WorkspaceHeaders> h) {
                          if (!h) return done(h.error());
                          done(std::move(h->headers));
                        });
      });
  state->pats = std::make_unique<PatManager>(runtime_, *state->api, *state->ledger, ws.pat,
                                             config_.instance, ws.name, config_.request_deadline);
  return state;
}

std::shared_ptr<Broker::CredentialState> Broker::reusable_credential(const std::string& name,
                                                                     const Config& next) const {
  auto it = credentials_.find(name);
  auto want = next.credentials.find(name);
  if (it == credentials_.end() || want == next.credentials.end()) return nullptr;
  if (!it->second->source) return nullptr;  // a setup error: try again with the new config
  // The source was built from the credential's own settings and the cloud's endpoints; its caches
  // use the request deadline. Secret files are read at every fetch, so a rotated secret needs no
  // rebuild (the cached token, issued before the rotation, stays valid until it expires).
  const auto& old_cred = config_.credentials.at(name);
  if (!(old_cred == want->second) || !(config_.endpoints == next.endpoints) ||
      config_.request_deadline != next.request_deadline)
    return nullptr;
  return it->second;
}

std::shared_ptr<Broker::WorkspaceState> Broker::reusable_workspace(const WorkspaceConfig& ws,
                                                                   const Config& next) const {
  auto it = workspaces_.find(ws.name);
  auto old = config_.workspaces.find(ws.name);
  if (it == workspaces_.end() || old == config_.workspaces.end()) return nullptr;
  const WorkspaceConfig& was = old->second;
  // A PAT belongs to the principal that minted it and to the workspace it was minted in; the ledger
  // lives in state_dir and the comments carry the instance name.
  if (was.credential != ws.credential || was.host != ws.host || was.resource_id != ws.resource_id ||
      was.management_token != ws.management_token || config_.state_dir != next.state_dir ||
      config_.instance != next.instance)
    return nullptr;
  if (!reusable_credential(ws.credential, next)) return nullptr;
  return it->second;
}

Broker::~Broker() {
  for (auto& [name, state] : workspaces_) {
    // Only the broker in charge stops the manager: a newer broker may have taken it over.
    if (*state->owner != this) continue;
    state->pats->stop();
    *state->owner = nullptr;
  }
  for (auto& [name, lookup] : host_lookups_)
    for (auto& w : lookup.waiters) w.timer->cancel();
}

void Broker::abandon_waiters() {
  // The callbacks dropped here may hold the last references to this broker: it goes at the end.
  const auto keep = shared_from_this();
  for (auto& [name, credential] : credentials_)
    for (auto& [resource, cache] : credential->caches) cache->abandon_waiters();
  for (auto& [name, state] : workspaces_) state->pats->abandon_waiters();
  for (auto& [name, lookup] : host_lookups_) lookup.waiters.clear();
}

void Broker::reschedule(Millis step) {
  for (auto& [name, credential] : credentials_)
    for (auto& [resource, cache] : credential->caches) cache->reschedule(step);
  for (auto& [name, state] : workspaces_) state->pats->reschedule(step);
}

void Broker::start() {
  for (auto& [name, state] : workspaces_) {
    if (state->started) continue;  // kept from the previous configuration: already running
    state->started = true;
    if (auto s = state->ledger->load(); !s) spdlog::error("{}", s.error().message);
    state->pats->start();
  }
  for (const auto& [name, lookup] : host_lookups_) {
    const WorkspaceConfig& ws = config_.workspaces.at(name);
    with_host(ws, [](Result<std::string>) {});  // eager: the first client need not wait
  }
  // Eager fetches for caches this configuration needs that do not exist yet; kept caches are
  // already refreshing on their own schedule (and may be backing off: no extra upstream call).
  Error ignored;
  bool created = false;
  for (const auto& [name, ws] : config_.workspaces) {
    if (auto* c =
            cache_for(ws.credential, config_.endpoints.databricks_resource, ignored, &created);
        c && created)
      c->start();
    if (ws.management_token) {
      if (auto* c =
              cache_for(ws.credential, config_.endpoints.management_resource, ignored, &created);
          c && created)
        c->start();
    }
  }
}

const WorkspaceConfig* Broker::find_workspace(std::string_view name) const {
  auto it = config_.workspaces.find(std::string(name));
  return it == config_.workspaces.end() ? nullptr : &it->second;
}

std::string Broker::host_of(const WorkspaceConfig& ws) const {
  if (ws.host) return *ws.host;
  auto it = host_lookups_.find(ws.name);
  if (it == host_lookups_.end() || !it->second.host) return "";
  return *it->second.host;
}

std::string_view Broker::host_view(const WorkspaceConfig& ws) const {
  if (ws.host) return *ws.host;
  auto it = host_lookups_.find(ws.name);
  if (it == host_lookups_.end() || !it->second.host) return {};
  return *it->second.host;
}

void Broker::with_host(const WorkspaceConfig& ws, std::function<void(Result<std::string>)> done) {
  if (ws.host) return done(*ws.host);
  auto it = host_lookups_.find(ws.name);
  if (it == host_lookups_.end())
    return done(make_error(ErrorCode::internal,
                           "workspace " + ws.name + " has neither host nor resource_id"));
  HostLookup& lookup = it->second;
  if (lookup.host) return done(*lookup.host);
  if (!lookup.in_flight && lookup.last_error &&
      runtime_.now() - lookup.failed_at < kArmRetryAfterFailure)
    return done(*lookup.last_error);
  const std::uint64_t id = next_host_waiter_++;
  std::weak_ptr<Broker> weak = weak_from_this();
  auto timer = runtime_.after(config_.request_deadline, [weak, name = ws.name, id] {
    auto self = weak.lock();
    if (!self) return;
    auto& waiters = self->host_lookups_.at(name).waiters;
    auto w = std::find_if(waiters.begin(), waiters.end(), [id](auto& x) { return x.id == id; });
    if (w == waiters.end()) return;
    auto d = std::move(w->done);
    waiters.erase(w);
    d(make_error(ErrorCode::upstream_unavailable,
                 "the host of workspace " + name +
                     " is still being looked up in Azure Resource Manager; try again shortly"));
  });
  lookup.waiters.push_back({id, std::move(done), std::move(timer)});
  if (!lookup.in_flight) start_host_lookup(ws);
}

void Broker::start_host_lookup(const WorkspaceConfig& ws) {
  host_lookups_.at(ws.name).in_flight = true;
  const std::string name = ws.name;
  const std::string resource_id = *ws.resource_id;
  token(ws.credential, config_.endpoints.management_resource, kArmTokenValidity,
        [self = shared_from_this(), name, resource_id](Result<AccessToken> t) {
          if (!t) {
            Error e = t.error();
            e.message = "looking up the host of workspace " + name +
                        " in Azure Resource Manager needs a management token: " + e.message;
            return self->host_lookup_done(name, std::move(e));
          }
          lookup_workspace_host(self->transport_, self->config_.endpoints.resource_manager,
                                resource_id, t->value, [self, name](Result<std::string> host) {
                                  self->host_lookup_done(name, std::move(host));
                                });
        });
}

void Broker::host_lookup_done(const std::string& workspace, Result<std::string> host) {
  HostLookup& lookup = host_lookups_.at(workspace);
  lookup.in_flight = false;
  if (host) {
    spdlog::info("workspace {}: host {} (from Azure Resource Manager)", workspace, *host);
    lookup.host = *host;
    lookup.last_error.reset();
  } else {
    spdlog::error("workspace {}: {}", workspace, host.error().message);
    lookup.last_error = host.error();
    lookup.failed_at = runtime_.now();
  }
  auto waiters = std::move(lookup.waiters);
  lookup.waiters.clear();
  for (auto& w : waiters) {
    w.timer->cancel();
    w.done(host);
  }
}

TokenCache* Broker::cache_for(const std::string& credential, const std::string& resource,
                              Error& error, bool* created) {
  if (created != nullptr) *created = false;
  auto it = credentials_.find(credential);
  if (it == credentials_.end()) {
    error = make_error(ErrorCode::internal, "unknown credential " + credential);
    return nullptr;
  }
  CredentialState& state = *it->second;
  if (!state.source) {
    error = *state.setup_error;
    return nullptr;
  }
  const std::string key = normalize_resource(resource);
  auto& slot = state.caches[key];
  if (!slot) {
    if (created != nullptr) *created = true;
    slot = std::make_unique<TokenCache>(runtime_, *state.source, resource,
                                        "credential " + credential + ", resource " + key,
                                        config_.request_deadline);
  }
  return slot.get();
}

void Broker::token(const std::string& credential, const std::string& resource, Seconds min_valid,
                   TokenCallback done) {
  Error error;
  TokenCache* cache = cache_for(credential, resource, error);
  if (cache == nullptr) {
    done(std::move(error));
    return;
  }
  cache->get(min_valid, std::move(done));
}

void Broker::aad(const WorkspaceConfig& ws, Seconds min_valid, TokenCallback done) {
  token(ws.credential, config_.endpoints.databricks_resource, min_valid, std::move(done));
}

void Broker::headers(const WorkspaceConfig& ws, Seconds min_valid,
                     std::function<void(Result<WorkspaceHeaders>)> done) {
  if (ws.host) return headers_at(ws, *ws.host, min_valid, std::move(done));
  with_host(ws, [self = shared_from_this(), ws, min_valid,
                 done = std::move(done)](Result<std::string> host) mutable {
    if (!host) return done(host.error());
    self->headers_at(ws, std::move(*host), min_valid, std::move(done));
  });
}

void Broker::headers_at(const WorkspaceConfig& ws, std::string host, Seconds min_valid,
                        std::function<void(Result<WorkspaceHeaders>)> done) {
  aad(ws, min_valid,
      [self = shared_from_this(), ws, host, min_valid,
       done = std::move(done)](Result<AccessToken> aad) {
        if (!aad) {
          done(aad.error());
          return;
        }
        WorkspaceHeaders h{host, aad->expires_at, {{"Authorization", "Bearer " + aad->value}}};
        if (!ws.management_token) {
          done(std::move(h));
          return;
        }
        self->token(ws.credential, self->config_.endpoints.management_resource, min_valid,
                    [ws, h = std::move(h), done](Result<AccessToken> mgmt) mutable {
                      if (!mgmt) {
                        done(mgmt.error());
                        return;
                      }
                      h.expires_at = std::min(h.expires_at, mgmt->expires_at);
                      h.headers.emplace_back("X-Databricks-Azure-SP-Management-Token", mgmt->value);
                      h.headers.emplace_back("X-Databricks-Azure-Workspace-Resource-Id",
                                             ws.resource_id.value_or(""));
                      done(std::move(h));
                    });
      });
}

void Broker::pat(const WorkspaceConfig& ws, Seconds min_valid,
                 std::function<void(Result<ServedPat>)> done) {
  auto it = workspaces_.find(ws.name);
  if (it == workspaces_.end())
    return done(make_error(ErrorCode::bad_request,
                           "PATs are turned off for workspace " + ws.name +
                               " (\"pat\": false); use `dbxcred aad` or `dbxcred headers`"));
  it->second->pats->get(min_valid, std::move(done));
}

std::optional<ServedPatView> Broker::peek_pat(const WorkspaceConfig& ws, Seconds min_valid) const {
  auto it = workspaces_.find(ws.name);
  if (it == workspaces_.end()) return std::nullopt;
  return it->second->pats->peek(min_valid);
}

std::optional<PatStatus> Broker::pat_status(const std::string& workspace) const {
  auto it = workspaces_.find(workspace);
  if (it == workspaces_.end()) return std::nullopt;
  return it->second->pats->status();
}

void Broker::for_each_cache(
    const std::function<void(const std::string&, const std::string&, const TokenCache&)>& f) const {
  for (const auto& [name, state] : credentials_) {
    const std::string type = state->source ? state->source->type() : "unsupported";
    for (const auto& [resource, cache] : state->caches) f(name, type, *cache);
  }
}

}  // namespace dbx
