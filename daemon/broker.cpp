// The registry of credentials and workspaces, and how a reload carries them over.
#include "daemon/broker.h"

#include <spdlog/spdlog.h>

#include "daemon/credentials/managed_identity_source.h"

namespace dbx {

Broker::Broker(Runtime& runtime, Transport& transport, Config config, Broker* previous)
    : runtime_(runtime),
      transport_(transport),
      config_(std::move(config)),
      // Shared with kept sources across reloads: they hold pointers to these.
      processes_(previous ? previous->processes_
                          : std::shared_ptr<ProcessRunner>(make_process_runner(runtime_))),
      imds_limit_(previous ? previous->imds_limit_
                           : std::make_shared<ConcurrencyLimit>(runtime_, kImdsMaxConcurrent)),
      ledgers_(previous ? previous->ledgers_ : std::make_shared<PatLedgers>()) {
  if (previous != nullptr) {
    plan_ = reload_plan(previous->config_, config_);
    // A credential whose setup failed is tried again with the new config, and so are the
    // workspaces using it.
    for (auto it = plan_.kept_credentials.begin(); it != plan_.kept_credentials.end();) {
      if (previous->credentials_.at(*it)->usable()) {
        ++it;
        continue;
      }
      plan_.new_credentials.insert(*it);
      plan_.retired_credentials.insert(*it);
      it = plan_.kept_credentials.erase(it);
    }
    for (auto it = plan_.kept_workspaces.begin(); it != plan_.kept_workspaces.end();) {
      if (plan_.kept_credentials.count(config_.workspaces.at(*it).credential)) {
        ++it;
        continue;
      }
      plan_.new_workspaces.insert(*it);
      plan_.retired_workspaces.insert(*it);
      it = plan_.kept_workspaces.erase(it);
    }
  } else {
    for (const auto& [name, c] : config_.credentials) plan_.new_credentials.insert(name);
    for (const auto& [name, ws] : config_.workspaces) plan_.new_workspaces.insert(name);
  }

  const SourceServices services{runtime_, transport_, processes_.get(), imds_limit_.get()};
  for (const auto& [name, cred] : config_.credentials) {
    if (plan_.kept_credentials.count(name))
      credentials_.emplace(name, previous->credentials_.at(name));
    else
      credentials_.emplace(name, std::make_shared<Credential>(runtime_, cred, config_, services));
  }
  for (const auto& [name, ws] : config_.workspaces) {
    if (plan_.kept_workspaces.count(name)) {
      auto kept = previous->workspaces_.at(name);
      kept->reconfigure(ws);
      workspaces_.emplace(name, std::move(kept));
      continue;
    }
    auto ledger = ws.pat.enabled ? ledgers_->get(config_.state_dir, name) : nullptr;
    workspaces_.emplace(
        name, std::make_shared<Workspace>(runtime_, transport_, config_, ws,
                                          credentials_.at(ws.credential), std::move(ledger)));
  }
  if (previous != nullptr)
    for (const auto& name : plan_.retired_workspaces) previous->workspaces_.at(name)->retire();
}

Broker::~Broker() = default;

void Broker::abandon_waiters() {
  // The callbacks dropped here may hold the last references to this broker: it goes at the end.
  const auto keep = shared_from_this();
  for (auto& [name, credential] : credentials_) credential->abandon_waiters();
  for (auto& [name, ws] : workspaces_) ws->abandon_waiters();
}

void Broker::start() {
  for (auto& [name, ws] : workspaces_) ws->start();
}

Workspace* Broker::workspace(std::string_view name) const {
  auto it = workspaces_.find(name);
  return it == workspaces_.end() ? nullptr : it->second.get();
}

Credential* Broker::credential(std::string_view name) const {
  auto it = credentials_.find(name);
  return it == credentials_.end() ? nullptr : it->second.get();
}

void Broker::token(const std::string& credential, const std::string& resource, Seconds min_valid,
                   TokenCallback done) {
  Credential* c = this->credential(credential);
  if (c == nullptr)
    return done(make_error(ErrorCode::internal, "unknown credential " + credential));
  c->token(resource, min_valid, std::move(done));
}

void Broker::for_each_cache(
    const std::function<void(const std::string&, const std::string&, const TokenCache&)>& f) const {
  for (const auto& [name, c] : credentials_) {
    const std::string type = c->type();
    c->for_each_cache([&](const TokenCache& cache) { f(name, type, cache); });
  }
}

}  // namespace dbx
