// FakeSource: a CredentialSource whose fetches wait until the test answers them.
#pragma once

#include <deque>
#include <string>
#include <utility>

#include "daemon/credentials/credential_source.h"

namespace dbx::testing {

class FakeSource : public CredentialSource {
 public:
  void fetch(const std::string& resource, TokenCallback done) override {
    ++calls;
    pending.push_back({resource, std::move(done)});
  }
  std::string type() const override { return "fake"; }

  void succeed(TimePoint expires_at, std::string value = "tok") {
    auto p = std::move(pending.front());
    pending.pop_front();
    p.second(AccessToken{std::move(value), expires_at, std::nullopt});
  }
  void fail(int status, std::string message, std::optional<Seconds> retry_after = std::nullopt) {
    auto p = std::move(pending.front());
    pending.pop_front();
    Error e = make_error(ErrorCode::upstream_unavailable, std::move(message));
    e.upstream_status = status;
    e.retry_after = retry_after;
    p.second(std::move(e));
  }

  int calls = 0;
  std::deque<std::pair<std::string, TokenCallback>> pending;
};

}  // namespace dbx::testing
