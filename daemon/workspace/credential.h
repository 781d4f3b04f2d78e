// Credential: one configured credential's source and its token caches (one per resource), shared
// by every workspace that uses it and kept across reloads while its configuration is unchanged.
// Runs on the loop thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/config.h"
#include "daemon/cache/token_cache.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/credentials/source_factory.h"
#include "daemon/runtime.h"

namespace dbx {

class Credential {
 public:
  // Builds the source; a setup problem (e.g. an unsupported type) is kept and answers every
  // request.
  Credential(Runtime& runtime, const CredentialConfig& credential, const Config& config,
             const SourceServices& services);
  Credential(const Credential&) = delete;
  Credential& operator=(const Credential&) = delete;

  const std::string& name() const { return name_; }
  // The source's type, or "unsupported" when it could not be set up.
  std::string type() const;
  bool usable() const { return source_ != nullptr; }

  // The cache of `resource` (normalized), created on first use; nullptr and `error` set when the
  // credential could not be set up. `created` (optional) says whether this call created it.
  TokenCache* cache(const std::string& resource, Error& error, bool* created = nullptr);
  // A token for `resource` valid for `min_valid` (TokenCache::get).
  void token(const std::string& resource, Seconds min_valid, TokenCallback done);
  // The lifetime of `resource`'s cached token as received (TokenCache::lifetime); nullopt if none.
  std::optional<Seconds> lifetime(const std::string& resource) const;
  // Eager fetch for a cache this call creates (kept caches already refresh on their own).
  void warm(const std::string& resource);

  void for_each_cache(const std::function<void(const TokenCache&)>& f) const;
  // At exit, once the loop has stopped (TokenCache::abandon_waiters).
  void abandon_waiters();
  // The wall clock stepped (ClockWatch): every cache's refresh re-evaluated now.
  void reschedule(Millis step);

 private:
  Runtime& runtime_;
  std::string name_;
  Seconds deadline_;
  std::unique_ptr<CredentialSource> source_;
  std::optional<Error> setup_error_;
  std::map<std::string, std::unique_ptr<TokenCache>> caches_;  // by normalized resource
};

}  // namespace dbx
