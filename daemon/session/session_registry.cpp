// The CI sessions of this daemon (see session_registry.h).
#include "daemon/session/session_registry.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "daemon/cache/refresh_policy.h"

namespace dbx {

namespace {

// At most this many open sessions per uid and in all: a job opens one, a runner a handful; the
// cap keeps one local user from filling the daemon's memory.
constexpr std::size_t kMaxSessionsPerUid = 32;
constexpr std::size_t kMaxSessions = 1024;
constexpr std::string_view kSecretPrefix = "dbxs_";

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) return {};
  std::string out = hex(b.data(), b.size());
  OPENSSL_cleanse(b.data(), b.size());
  return out;
}

std::string sha256_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

// The one message for every secret that does not open a session of this uid and workspace: a
// caller learns nothing about other sessions from it.
Error no_session(std::string_view workspace) {
  return make_error(ErrorCode::forbidden,
                    "DBXCRED_SESSION does not name a live CI session of this user for workspace " +
                        std::string(workspace.substr(0, 128)) +
                        " (it ended, expired or was never opened; run `dbxcred session start`)");
}

}  // namespace

std::string SessionInfo::describe() const {
  std::string s =
      std::string(to_string(kind)) + " " + id + " iss=" + claims.iss + " sub=" + claims.sub;
  if (!claims.repository.empty()) s += " repository=" + claims.repository;
  if (!claims.pipeline.empty()) s += " pipeline=" + claims.pipeline;
  return s;
}

std::string_view session_id_of(std::string_view secret) {
  if (!secret.starts_with(kSecretPrefix)) return {};
  secret.remove_prefix(kSecretPrefix.size());
  const auto sep = secret.find('_');
  if (sep != 16 || secret.size() != 16 + 1 + 64) return {};
  return secret.substr(0, 16);
}

Session::Session(Runtime& runtime, SessionInfo info, std::unique_ptr<SessionSource> source,
                 Seconds deadline)
    : runtime_(runtime), info_(std::move(info)), source_(std::move(source)), deadline_(deadline) {}

void Session::token(const std::string& resource, Seconds min_valid, TokenCallback done) {
  auto& cache = caches_[resource];
  if (!cache)
    cache = std::make_unique<TokenCache>(
        runtime_, *source_, resource,
        "CI session " + info_.id + " of workspace " + info_.workspace + ", resource " + resource,
        deadline_);
  cache->get(min_valid, std::move(done));
}

Seconds Session::default_min_valid(const std::string& resource) const {
  auto it = caches_.find(resource);
  return dbx::default_min_valid(it == caches_.end() ? std::nullopt : it->second->lifetime());
}

SessionRegistry::SessionRegistry(Runtime& runtime, Transport& transport, Seconds deadline)
    : runtime_(runtime), transport_(transport), deadline_(deadline) {}

SessionRegistry::~SessionRegistry() {
  if (sweep_timer_) sweep_timer_->cancel();
}

void SessionRegistry::open(SessionOpen request, std::function<void(Result<OpenedSession>)> done) {
  std::size_t mine = 0;
  for (const auto& [id, e] : sessions_) mine += e.session->info().uid == request.uid ? 1 : 0;
  if (mine >= kMaxSessionsPerUid || sessions_.size() >= kMaxSessions)
    return done(make_error(ErrorCode::quota_exhausted,
                           "too many open CI sessions (" + std::to_string(mine) +
                               " of this user); end some with `dbxcred session end`"));
  const OidcRequest oidc = request.request;
  std::weak_ptr<int> alive = alive_;
  fetch_oidc_token(
      transport_, oidc,
      [this, alive, request = std::move(request),
       done = std::move(done)](Result<std::string> jwt) mutable {
        if (alive.expired()) return;
        if (!jwt) return done(jwt.error());
        auto claims = parse_oidc_claims(jwt.value());
        if (!claims) {
          Error e = claims.error();
          e.message =
              "the CI job's OIDC endpoint answered a token dbxcred cannot read: " + e.message;
          return done(e);
        }
        const SessionExchange& ex = request.exchange;
        if (Status ok = check_session_claims(*claims, ex.sessions, ex.workspace); !ok)
          return done(ok.error());
        const TimePoint now = runtime_.now();
        SessionInfo info;
        info.id = random_hex(8);
        info.uid = request.uid;
        info.workspace = ex.workspace;
        info.kind = request.request.kind;
        info.claims = *claims;
        info.opened_at = now;
        info.last_used = now;
        info.idle_timeout = ex.sessions.idle_timeout;
        info.expires_at = now + ex.sessions.max_lifetime;
        if (auto exp = request_token_expiry(request.request.request_token);
            exp && *exp < info.expires_at)
          info.expires_at = *exp;
        if (info.expires_at <= now || info.id.empty())
          return done(make_error(ErrorCode::bad_request,
                                 "the CI job's request token has expired: start the session in "
                                 "a running job"));
        auto source = std::make_unique<SessionSource>(runtime_, transport_, request.request,
                                                      request.exchange, *claims);
        source->prime(std::move(jwt.value()), *claims);
        auto holder = std::make_shared<std::unique_ptr<Session>>(
            std::make_unique<Session>(runtime_, std::move(info), std::move(source), deadline_));
        // The first exchange now: a federation that refuses this job fails at `session start`.
        (*holder)->token(
            request.resource, kMinServeValidity,
            [this, alive, holder, done = std::move(done)](Result<AccessToken> t) {
              if (alive.expired()) return;
              // Retired later: this runs inside the session's own token cache.
              auto later = [this, alive, holder] {
                runtime_.post([this, alive, holder] {
                  if (!alive.expired()) retire(std::move(*holder));
                });
              };
              if (!t) {
                later();
                return done(t.error());
              }
              const std::string secret = random_hex(32);
              if (secret.empty()) {
                later();
                return done(make_error(ErrorCode::internal, "no random bytes"));
              }
              const SessionInfo info = (*holder)->info();
              OpenedSession opened{std::string(kSecretPrefix) + info.id + "_" + secret, info};
              sessions_[info.id] = Entry{sha256_hex(secret), std::move(*holder)};
              arm_sweep();
              done(std::move(opened));
            });
      });
}

Result<Session*> SessionRegistry::find(std::string_view secret, std::uint32_t uid,
                                       std::string_view workspace) {
  const std::string_view id = session_id_of(secret);
  auto it = id.empty() ? sessions_.end() : sessions_.find(id);
  if (it == sessions_.end()) return no_session(workspace);
  const std::string given = sha256_hex(secret.substr(kSecretPrefix.size() + 17));
  const std::string& stored = it->second.secret_hash;
  SessionInfo& info = it->second.session->info();
  const TimePoint now = runtime_.now();
  if (given.size() != stored.size() ||
      CRYPTO_memcmp(given.data(), stored.data(), given.size()) != 0)
    return no_session(workspace);
  if (info.uid != uid)
    return make_error(ErrorCode::forbidden,
                      "this CI session belongs to uid " + std::to_string(info.uid) + ", not uid " +
                          std::to_string(uid) + ": a session serves only its job");
  if (now >= info.expires_at || now - info.last_used >= info.idle_timeout) {
    retire(std::move(it->second.session));
    sessions_.erase(it);
    return no_session(workspace);
  }
  if (info.workspace != workspace)
    return make_error(ErrorCode::forbidden, "this CI session was opened for workspace " +
                                                info.workspace + ", not " +
                                                std::string(workspace.substr(0, 128)));
  info.last_used = now;
  return it->second.session.get();
}

Result<SessionInfo> SessionRegistry::end(std::string_view secret, std::uint32_t uid) {
  const std::string_view id = session_id_of(secret);
  auto it = id.empty() ? sessions_.end() : sessions_.find(id);
  Error none = make_error(ErrorCode::not_found,
                          "DBXCRED_SESSION does not name a live CI session of this user");
  if (it == sessions_.end()) return none;
  const std::string given = sha256_hex(secret.substr(kSecretPrefix.size() + 17));
  const std::string& stored = it->second.secret_hash;
  if (CRYPTO_memcmp(given.data(), stored.data(), given.size()) != 0 ||
      it->second.session->info().uid != uid)
    return none;
  SessionInfo info = it->second.session->info();
  retire(std::move(it->second.session));
  sessions_.erase(it);
  return info;
}

void SessionRegistry::retire(std::unique_ptr<Session> s) {
  if (!s) return;
  s->drop_tokens();
  graveyard_.emplace_back(runtime_.steady_now() + kGrace, std::move(s));
  arm_sweep();
}

void SessionRegistry::sweep() {
  const TimePoint now = runtime_.now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const SessionInfo& info = it->second.session->info();
    if (now >= info.expires_at || now - info.last_used >= info.idle_timeout) {
      retire(std::move(it->second.session));
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  const SteadyTime steady = runtime_.steady_now();
  std::erase_if(graveyard_, [&](const auto& g) { return g.first <= steady; });
}

void SessionRegistry::arm_sweep() {
  if (sweep_timer_) return;
  std::weak_ptr<int> alive = alive_;
  sweep_timer_ = runtime_.after(std::chrono::duration_cast<Millis>(kSweepInterval), [this, alive] {
    if (alive.expired()) return;
    sweep_timer_.reset();
    sweep();
    if (!sessions_.empty() || !graveyard_.empty()) arm_sweep();
  });
}

std::vector<SessionInfo> SessionRegistry::list() const {
  std::vector<SessionInfo> out;
  for (const auto& [id, e] : sessions_) out.push_back(e.session->info());
  return out;
}

void SessionRegistry::clear() {
  if (sweep_timer_) sweep_timer_->cancel();
  sweep_timer_.reset();
  sessions_.clear();
  graveyard_.clear();
}

}  // namespace dbx
