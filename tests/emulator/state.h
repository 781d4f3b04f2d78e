// The emulator's bookkeeping: registered principals and ARM workspaces, settings, issued AAD
// tokens and per-workspace PATs with their quota. Plain data and decisions; `now` is always an
// argument, so this file knows nothing about sockets or the clock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "tests/emulator/assertion.h"
#include "tests/emulator/ci_oidc.h"
#include "tests/emulator/oidc_state.h"

namespace emu {

using dbx::TimePoint;

// The Azure Databricks first-party application id (the AAD "resource" of workspace APIs).
inline constexpr std::string_view kDatabricksResource = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
// ARM and the Databricks management-token header accept tokens for this resource.
inline constexpr std::string_view kManagementResource = "https://management.core.windows.net/";

std::string random_hex(std::size_t bytes);
std::string random_guid();
std::int64_t to_unix_ms(TimePoint t);
// An HTTP Date header value (IMF-fixdate, "Tue, 08 Dec 2026 00:16:33 GMT").
std::string http_date(TimePoint t);
// Resources compare equal with and without trailing slashes (SDKs drop it, AAD does not care).
std::string normalize_resource(std::string_view resource);

struct Principal {
  std::string client_id;
  std::optional<std::string> client_secret;
  std::optional<CertificateKey> certificate;
  std::optional<std::string> federated_token;       // the currently valid federated assertion
  std::set<std::string> previous_federated_tokens;  // rotated away: now rejected with AADSTS700024
  std::vector<FederatedCredential> federated_credentials;  // CI OIDC tokens accepted (ci_oidc.h)
  bool managed_identity = false;
  bool workspace_user = false;  // AAD token alone suffices at Databricks (no management headers)
  std::uint64_t order = 0;      // registration order; IMDS without client_id picks the first
};

struct ArmWorkspace {
  std::string resource_id;
  std::string workspace_url;
  std::string workspace_id;
  std::string location;
};

struct Settings {
  std::int64_t aad_token_lifetime = 3600;        // seconds
  std::int64_t pat_quota = 600;                  // unexpired PATs per principal per workspace
  std::optional<std::int64_t> pat_max_lifetime;  // seconds; none = unlimited
};

struct AadToken {
  std::string value;
  std::string client_id;
  std::string resource;  // normalized
  TimePoint expiry;
};

struct Pat {
  std::string token_id;
  std::string value;
  std::string owner;
  std::string comment;
  std::int64_t creation_ms = 0;
  std::int64_t expiry_ms = -1;  // -1: never expires
  bool expired(std::int64_t now_ms) const { return expiry_ms >= 0 && expiry_ms <= now_ms; }
};

enum class PatError { quota_exceeded, lifetime_too_long };

class State {
 public:
  // Principals. upsert() merges: fields present in `update` replace the stored ones.
  struct PrincipalUpdate {
    std::string client_id;
    std::optional<std::string> client_secret;
    std::optional<CertificateKey> certificate;
    std::optional<std::string> federated_token;
    std::optional<bool> managed_identity;
    std::optional<bool> workspace_user;
  };
  void upsert_principal(PrincipalUpdate update);
  const Principal* find_principal(std::string_view client_id) const;
  // Adds a federated identity credential, registering the principal if it is new.
  void add_federated_credential(const std::string& client_id, FederatedCredential credential);
  // The managed identity named by client_id, or the first registered one when client_id is empty.
  const Principal* find_managed_identity(std::string_view client_id) const;
  std::vector<const Principal*> principals() const;

  void upsert_workspace(ArmWorkspace ws);
  const ArmWorkspace* find_workspace(std::string_view resource_id) const;  // case-insensitive

  Settings& settings() { return settings_; }
  // Databricks OAuth of the workspace hosts (oidc_state.h).
  OidcState& oidc() { return oidc_; }
  const OidcState& oidc() const { return oidc_; }
  // The CI OIDC issuers (GitHub Actions, Azure DevOps).
  CiOidc& ci() { return ci_; }

  const AadToken& issue_aad_token(std::string_view client_id, std::string_view resource,
                                  TimePoint now);
  // The token if it exists and has not expired.
  const AadToken* find_aad_token(std::string_view value, TimePoint now) const;

  // PATs are kept per workspace host (the Host header, lower-cased).
  std::variant<Pat, PatError> create_pat(std::string_view host, std::string_view owner,
                                         std::optional<std::int64_t> lifetime_seconds,
                                         std::string_view comment, TimePoint now,
                                         bool enforce_limits = true);
  std::vector<Pat> list_pats(std::string_view host, std::optional<std::string_view> owner,
                             TimePoint now) const;
  bool delete_pat(std::string_view host, std::optional<std::string_view> owner,
                  std::string_view token_id);
  const Pat* find_pat(std::string_view host, std::string_view value, TimePoint now) const;
  std::size_t active_pats(std::string_view host, std::string_view owner, TimePoint now) const;

  // Forgets expired tokens; cheap to call often (runs at most once a second).
  void purge_expired(TimePoint now);

 private:
  std::map<std::string, Principal, std::less<>> principals_;
  std::uint64_t next_order_ = 0;
  std::map<std::string, ArmWorkspace, std::less<>> workspaces_;  // key: lower-cased resource id
  Settings settings_;
  OidcState oidc_;
  CiOidc ci_;
  std::map<std::string, AadToken, std::less<>> aad_tokens_;
  // host → token_id → PAT, and value → (host, token_id) for authentication.
  std::map<std::string, std::map<std::string, Pat>, std::less<>> pats_;
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> pat_by_value_;
  TimePoint last_purge_{};
};

}  // namespace emu
