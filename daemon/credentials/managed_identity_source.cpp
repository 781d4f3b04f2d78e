#include "daemon/credentials/managed_identity_source.h"

#include <algorithm>

#include "daemon/credentials/entra_token.h"

namespace dbx {

ImdsRetryDecision imds_retry_decision(int status, int attempt, std::optional<Seconds> retry_after,
                                      double jitter) {
  const bool retryable = status == 404 || status == 410 || status == 429 || status >= 500;
  if (!retryable || status > 599 || attempt >= kImdsMaxAttempts) return {};
  // 2^(attempt-1) as an integer shift: std::ldexp was the daemon's one libm symbol, and libm's
  // mapped pages cost 0.3 MiB of idle RSS (docs/BENCHMARKS.md, "Idle RSS").
  const double doubling = static_cast<double>(1 << std::clamp(attempt - 1, 0, kImdsMaxAttempts));
  const double factor = doubling * (0.8 + 0.4 * jitter);
  Millis delay{static_cast<Millis::rep>(static_cast<double>(kImdsFirstBackoff.count()) * factor)};
  if (retry_after) {
    const Millis asked = std::chrono::duration_cast<Millis>(*retry_after);
    if (asked > kImdsMaxInlineWait) return {};
    delay = std::max(delay, asked);
  }
  return {true, delay};
}

struct ManagedIdentitySource::Call {
  std::string resource;
  TokenCallback done;
  int attempts = 0;
};

ManagedIdentitySource::ManagedIdentitySource(Runtime& runtime, Transport& transport,
                                             ConcurrencyLimit& limit, ManagedIdentity identity)
    : runtime_(runtime), transport_(transport), limit_(limit), identity_(std::move(identity)) {
  while (!identity_.imds.empty() && identity_.imds.back() == '/') identity_.imds.pop_back();
  what_ = "managed identity token request to IMDS " + identity_.imds + " (credential " +
          identity_.credential;
  if (identity_.client_id) what_ += ", client_id " + *identity_.client_id;
  what_ += ")";
}

std::string ManagedIdentitySource::token_url(const std::string& resource) const {
  std::vector<std::pair<std::string, std::string>> query{{"api-version", "2018-02-01"},
                                                         {"resource", resource}};
  if (identity_.client_id) query.emplace_back("client_id", *identity_.client_id);
  return identity_.imds + "/metadata/identity/oauth2/token?" + form_encode(query);
}

void ManagedIdentitySource::fetch(const std::string& resource, TokenCallback done) {
  auto call = std::make_shared<Call>();
  call->resource = resource;
  call->done = std::move(done);
  attempt(std::move(call));
}

void ManagedIdentitySource::attempt(std::shared_ptr<Call> call) {
  std::weak_ptr<int> weak = alive_;
  limit_.run([this, weak, call](ConcurrencyLimit::Release release) {
    if (weak.expired()) return release();
    ++call->attempts;
    HttpRequest req;
    req.method = "GET";
    req.url = token_url(call->resource);
    req.headers = {{"Metadata", "true"}, {"Accept", "application/json"}};
    req.timeout = kImdsAttemptTimeout;
    req.upstream = "imds";
    transport_.send(std::move(req), [this, weak, call, release](Result<HttpResponse> r) {
      release();  // the slot is free while we back off
      if (weak.expired()) return;
      answered(call, std::move(r));
    });
  });
}

void ManagedIdentitySource::answered(std::shared_ptr<Call> call, Result<HttpResponse> r) {
  const std::string attempts =
      call->attempts > 1 ? " (after " + std::to_string(call->attempts) + " attempts)" : "";
  if (!r) {
    Error e = r.error();
    e.message = what_ + " failed: " + e.message +
                " — is this an Azure VM (or scale-set agent) with a managed identity?";
    return call->done(std::move(e));
  }
  if (r->status == 200) {
    auto t = parse_token_answer(r->body, runtime_.now());
    if (!t) {
      Error e = t.error();
      e.message = what_ + ": " + e.message;
      return call->done(std::move(e));
    }
    return call->done(std::move(t));
  }
  Error e = token_endpoint_error(*r, what_ + attempts);
  const auto decision =
      imds_retry_decision(r->status, call->attempts, e.retry_after, runtime_.random_unit());
  if (!decision.retry) return call->done(std::move(e));
  std::weak_ptr<int> weak = alive_;
  runtime_.after(decision.delay, [this, weak, call] {
    if (!weak.expired()) attempt(call);
  });
}

}  // namespace dbx
