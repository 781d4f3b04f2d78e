// Bookkeeping of principals, workspaces, AAD tokens and PATs (see state.h).
#include "tests/emulator/state.h"

#include <openssl/rand.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "tests/emulator/http_types.h"

namespace emu {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : buf) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string random_guid() {
  std::string h = random_hex(16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::int64_t to_unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string http_date(TimePoint t) {
  const std::time_t secs = static_cast<std::time_t>(to_unix_ms(t) / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string normalize_resource(std::string_view resource) {
  while (!resource.empty() && resource.back() == '/') resource.remove_suffix(1);
  return to_lower(resource);
}

void State::upsert_principal(PrincipalUpdate u) {
  auto [it, inserted] = principals_.try_emplace(u.client_id);
  Principal& p = it->second;
  if (inserted) {
    p.client_id = u.client_id;
    p.order = next_order_++;
  }
  if (u.client_secret) p.client_secret = std::move(u.client_secret);
  if (u.certificate) p.certificate = std::move(u.certificate);
  if (u.federated_token && u.federated_token != p.federated_token) {
    if (p.federated_token) p.previous_federated_tokens.insert(*p.federated_token);
    p.previous_federated_tokens.erase(*u.federated_token);
    p.federated_token = std::move(u.federated_token);
  }
  if (u.managed_identity) p.managed_identity = *u.managed_identity;
  if (u.workspace_user) p.workspace_user = *u.workspace_user;
}

void State::add_federated_credential(const std::string& client_id, FederatedCredential credential) {
  upsert_principal(PrincipalUpdate{client_id, {}, {}, {}, {}, {}});
  principals_[client_id].federated_credentials.push_back(std::move(credential));
}

const Principal* State::find_principal(std::string_view client_id) const {
  auto it = principals_.find(client_id);
  return it == principals_.end() ? nullptr : &it->second;
}

const Principal* State::find_managed_identity(std::string_view client_id) const {
  const Principal* best = nullptr;
  for (const auto& [id, p] : principals_) {
    if (!p.managed_identity) continue;
    if (!client_id.empty()) {
      if (iequals(id, client_id)) return &p;
      continue;
    }
    if (best == nullptr || p.order < best->order) best = &p;
  }
  return best;
}

std::vector<const Principal*> State::principals() const {
  std::vector<const Principal*> out;
  for (const auto& [id, p] : principals_) out.push_back(&p);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->order < b->order; });
  return out;
}

void State::upsert_workspace(ArmWorkspace ws) {
  std::string key = to_lower(ws.resource_id);
  workspaces_[key] = std::move(ws);
}

const ArmWorkspace* State::find_workspace(std::string_view resource_id) const {
  auto it = workspaces_.find(to_lower(resource_id));
  return it == workspaces_.end() ? nullptr : &it->second;
}

const AadToken& State::issue_aad_token(std::string_view client_id, std::string_view resource,
                                       TimePoint now) {
  AadToken t;
  t.value = "emu-aad-" + random_hex(16);
  t.client_id = std::string(client_id);
  t.resource = normalize_resource(resource);
  t.expiry = now + std::chrono::seconds(settings_.aad_token_lifetime);
  auto [it, _] = aad_tokens_.emplace(t.value, t);
  return it->second;
}

const AadToken* State::find_aad_token(std::string_view value, TimePoint now) const {
  auto it = aad_tokens_.find(value);
  if (it == aad_tokens_.end() || it->second.expiry <= now) return nullptr;
  return &it->second;
}

std::size_t State::active_pats(std::string_view host, std::string_view owner, TimePoint now) const {
  auto ws = pats_.find(to_lower(host));
  if (ws == pats_.end()) return 0;
  std::int64_t now_ms = to_unix_ms(now);
  return static_cast<std::size_t>(std::count_if(ws->second.begin(), ws->second.end(), [&](auto& e) {
    return e.second.owner == owner && !e.second.expired(now_ms);
  }));
}

std::variant<Pat, PatError> State::create_pat(std::string_view host, std::string_view owner,
                                              std::optional<std::int64_t> lifetime_seconds,
                                              std::string_view comment, TimePoint now,
                                              bool enforce_limits) {
  if (lifetime_seconds && *lifetime_seconds <= 0) lifetime_seconds.reset();
  if (enforce_limits) {
    if (settings_.pat_max_lifetime) {
      // Like a workspace with a maximum token lifetime: longer requests are refused, and a
      // token without a lifetime gets the maximum.
      if (lifetime_seconds && *lifetime_seconds > *settings_.pat_max_lifetime) {
        return PatError::lifetime_too_long;
      }
      if (!lifetime_seconds) lifetime_seconds = *settings_.pat_max_lifetime;
    }
    if (static_cast<std::int64_t>(active_pats(host, owner, now)) >= settings_.pat_quota) {
      return PatError::quota_exceeded;
    }
  }
  Pat p;
  p.token_id = random_hex(32);
  p.value = "dapi" + random_hex(16);
  p.owner = std::string(owner);
  p.comment = std::string(comment);
  p.creation_ms = to_unix_ms(now);
  p.expiry_ms = lifetime_seconds ? p.creation_ms + *lifetime_seconds * 1000 : -1;
  std::string key = to_lower(host);
  pats_[key][p.token_id] = p;
  pat_by_value_[p.value] = {key, p.token_id};
  return p;
}

std::vector<Pat> State::list_pats(std::string_view host, std::optional<std::string_view> owner,
                                  TimePoint now) const {
  std::vector<Pat> out;
  auto ws = pats_.find(to_lower(host));
  if (ws == pats_.end()) return out;
  std::int64_t now_ms = to_unix_ms(now);
  for (const auto& [id, p] : ws->second) {
    if (p.expired(now_ms)) continue;
    if (owner && p.owner != *owner) continue;
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const Pat& a, const Pat& b) {
    return a.creation_ms != b.creation_ms ? a.creation_ms < b.creation_ms : a.token_id < b.token_id;
  });
  return out;
}

bool State::delete_pat(std::string_view host, std::optional<std::string_view> owner,
                       std::string_view token_id) {
  auto ws = pats_.find(to_lower(host));
  if (ws == pats_.end()) return false;
  auto it = ws->second.find(std::string(token_id));
  if (it == ws->second.end()) return false;
  if (owner && it->second.owner != *owner) return false;
  pat_by_value_.erase(it->second.value);
  ws->second.erase(it);
  return true;
}

const Pat* State::find_pat(std::string_view host, std::string_view value, TimePoint now) const {
  auto it = pat_by_value_.find(value);
  if (it == pat_by_value_.end() || it->second.first != to_lower(host)) return nullptr;
  auto ws = pats_.find(it->second.first);
  if (ws == pats_.end()) return nullptr;
  auto p = ws->second.find(it->second.second);
  if (p == ws->second.end() || p->second.expired(to_unix_ms(now))) return nullptr;
  return &p->second;
}

void State::purge_expired(TimePoint now) {
  if (now - last_purge_ < std::chrono::seconds(1)) return;
  last_purge_ = now;
  std::erase_if(aad_tokens_, [&](const auto& e) { return e.second.expiry <= now; });
  oidc_.purge_expired(now);
  std::int64_t now_ms = to_unix_ms(now);
  for (auto& [host, tokens] : pats_) {
    std::erase_if(tokens, [&](const auto& e) {
      if (!e.second.expired(now_ms)) return false;
      pat_by_value_.erase(e.second.value);
      return true;
    });
  }
}

}  // namespace emu
