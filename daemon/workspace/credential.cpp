// A credential's source and per-resource token caches.
#include "daemon/workspace/credential.h"

#include <spdlog/spdlog.h>

#include "daemon/cache/refresh_policy.h"
#include "daemon/credentials/entra_token.h"

namespace dbx {

Credential::Credential(Runtime& runtime, const CredentialConfig& credential, const Config& config,
                       const SourceServices& services)
    : runtime_(runtime), name_(credential.name), deadline_(config.request_deadline) {
  auto source = make_credential_source(credential, config, services);
  if (source) {
    source_ = std::move(source.value());
  } else {
    setup_error_ = source.error();
    spdlog::error("{}", source.error().message);
  }
}

std::string Credential::type() const {
  return source_ ? source_->type() : "unsupported";
}

TokenCache* Credential::cache(const std::string& resource, Error& error, bool* created) {
  if (created != nullptr) *created = false;
  if (!source_) {
    error = *setup_error_;
    return nullptr;
  }
  const std::string key = normalize_resource(resource);
  auto& slot = caches_[key];
  if (!slot) {
    if (created != nullptr) *created = true;
    slot = std::make_unique<TokenCache>(runtime_, *source_, resource,
                                        "credential " + name_ + ", resource " + key, deadline_);
  }
  return slot.get();
}

void Credential::token(const std::string& resource, Seconds min_valid, TokenCallback done) {
  Error error;
  TokenCache* c = cache(resource, error);
  if (c == nullptr) return done(std::move(error));
  c->get(min_valid, std::move(done));
}

std::optional<Seconds> Credential::lifetime(const std::string& resource) const {
  const auto it = caches_.find(normalize_resource(resource));
  if (it == caches_.end() || !it->second) return std::nullopt;
  return it->second->lifetime();
}

void Credential::warm(const std::string& resource) {
  Error ignored;
  bool created = false;
  if (TokenCache* c = cache(resource, ignored, &created); c && created) c->start();
}

void Credential::for_each_cache(const std::function<void(const TokenCache&)>& f) const {
  for (const auto& [resource, c] : caches_) f(*c);
}

void Credential::reschedule(Millis step) {
  for (auto& [resource, c] : caches_) c->reschedule(step);
}

void Credential::abandon_waiters() {
  for (auto& [resource, c] : caches_) c->abandon_waiters();
}

}  // namespace dbx
