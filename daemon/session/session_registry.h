// SessionRegistry: the CI sessions this daemon holds (issue 23), in memory only — nothing of a
// session is ever written to disk or logged. A session is opened by a job step (`dbxcred session
// start`, POST /v1/sessions) from uid U for workspace W: the first OIDC token is fetched, its
// claims checked against W's sessions config and exchanged once (so a refused federation fails at
// start), and a random secret is returned once. Afterwards the session's tokens are served only to
// uid U presenting that secret, for W only. A session ends on `dbxcred session end`, at the request
// token's expiry (the job's end; at most sessions.max_lifetime) or after sessions.idle_timeout
// unused. Runs on the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "daemon/cache/token_cache.h"
#include "daemon/runtime.h"
#include "daemon/session/session_source.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// Who a session is, for status, audit records and messages (no secret in here).
struct SessionInfo {
  std::string id;  // 16 hex digits; the public half of the secret
  std::uint32_t uid = 0;
  std::string workspace;
  SessionKind kind = SessionKind::github;
  OidcClaims claims;  // of the token that opened it
  TimePoint opened_at;
  TimePoint expires_at;  // the request token's exp, at most opened_at + max_lifetime
  TimePoint last_used;
  Seconds idle_timeout{3600};
  // "github iss=… sub=… repository=…": the audit record's `session`.
  std::string describe() const;
};

class Session {
 public:
  Session(Runtime& runtime, SessionInfo info, std::unique_ptr<SessionSource> source,
          Seconds deadline);
  const SessionInfo& info() const { return info_; }
  SessionInfo& info() { return info_; }
  SessionSource& source() { return *source_; }
  // A token of this session's exchange for `resource` valid for min_valid (TokenCache::get).
  void token(const std::string& resource, Seconds min_valid, TokenCallback done);
  // min_valid for a client that does not say (default_min_valid of `resource`'s token lifetime).
  Seconds default_min_valid(const std::string& resource) const;
  // Ended: its tokens are forgotten and no refresh runs again (the source stays for the grace).
  void drop_tokens() { caches_.clear(); }

 private:
  Runtime& runtime_;
  SessionInfo info_;
  std::unique_ptr<SessionSource> source_;
  Seconds deadline_;
  std::map<std::string, std::unique_ptr<TokenCache>> caches_;  // by resource
};

struct SessionOpen {
  OidcRequest request;
  SessionExchange exchange;  // from the workspace's config
  std::uint32_t uid = 0;
  std::string resource;  // what the first exchange is for (the workspace's bearer resource)
};

struct OpenedSession {
  std::string secret;  // shown once: "dbxs_<id>_<64 hex>"
  SessionInfo info;
};

class SessionRegistry {
 public:
  // A session that has ended is kept this long, unreachable, before it is destroyed: upstream
  // answers still in flight for it then land on live objects (the transport's timeout is 15 s).
  static constexpr Seconds kGrace{120};
  // How often ended, expired and idle sessions are swept.
  static constexpr Seconds kSweepInterval{30};

  SessionRegistry(Runtime& runtime, Transport& transport, Seconds deadline);
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // Fetches the first OIDC token, checks it, exchanges it, then registers the session.
  void open(SessionOpen request, std::function<void(Result<OpenedSession>)> done);
  // The live session of `secret` for `uid` and `workspace`, touched (idle timer restarted); a
  // forbidden error naming what is wrong otherwise (same message for unknown and wrong secrets).
  Result<Session*> find(std::string_view secret, std::uint32_t uid, std::string_view workspace);
  // Ends the session of `secret` (which `uid` must own); its tokens are forgotten at once.
  Result<SessionInfo> end(std::string_view secret, std::uint32_t uid);
  // Forgets expired and idle sessions; destroys ended ones past their grace.
  void sweep();
  std::size_t size() const { return sessions_.size(); }
  std::vector<SessionInfo> list() const;
  // At exit, once the loop has stopped.
  void clear();

 private:
  struct Entry {
    std::string secret_hash;  // SHA-256 of the secret, compared in constant time
    std::unique_ptr<Session> session;
  };
  void retire(std::unique_ptr<Session> s);
  void arm_sweep();

  Runtime& runtime_;
  Transport& transport_;
  Seconds deadline_;
  std::map<std::string, Entry, std::less<>> sessions_;  // by id
  std::vector<std::pair<SteadyTime, std::unique_ptr<Session>>> graveyard_;
  std::shared_ptr<Timer> sweep_timer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// The id of a session secret ("dbxs_<id>_<secret>"), or "" when it is not one.
std::string_view session_id_of(std::string_view secret);

}  // namespace dbx
