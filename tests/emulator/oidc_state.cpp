// Databricks OAuth bookkeeping (see oidc_state.h).
#include "tests/emulator/oidc_state.h"

#include <boost/json.hpp>

#include "tests/emulator/assertion.h"
#include "tests/emulator/state.h"

namespace emu {

std::optional<JwtClaims> parse_jwt_claims(std::string_view jwt) {
  auto dot1 = jwt.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  auto header = base64url_decode(jwt.substr(0, dot1));
  auto payload = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!header || !payload) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value h = boost::json::parse(*header, ec);
  if (ec || !h.is_object()) return std::nullopt;
  boost::json::value p = boost::json::parse(*payload, ec);
  if (ec || !p.is_object()) return std::nullopt;
  JwtClaims c;
  auto str = [](const boost::json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [](const boost::json::object& o, std::string_view k) -> std::optional<std::int64_t> {
    const auto* v = o.if_contains(k);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
    return std::nullopt;
  };
  c.alg = str(h.as_object(), "alg");
  const auto& o = p.as_object();
  c.iss = str(o, "iss");
  c.sub = str(o, "sub");
  if (const auto* aud = o.if_contains("aud")) {
    if (aud->is_string()) c.aud.emplace_back(aud->as_string());
    if (aud->is_array()) {
      for (const auto& a : aud->as_array()) {
        if (a.is_string()) c.aud.emplace_back(a.as_string());
      }
    }
  }
  c.exp = num(o, "exp");
  c.nbf = num(o, "nbf");
  return c;
}

void OidcState::add_client_secret(const std::string& client_id, const std::string& secret) {
  auto& c = clients_[client_id];
  c.client_id = client_id;
  c.secrets.insert(secret);
}

void OidcState::remove_client(const std::string& client_id) {
  clients_.erase(client_id);
}

const OAuthClient* OidcState::find_client(std::string_view client_id) const {
  auto it = clients_.find(client_id);
  return it == clients_.end() ? nullptr : &it->second;
}

std::vector<const OAuthClient*> OidcState::clients() const {
  std::vector<const OAuthClient*> out;
  for (const auto& e : clients_) out.push_back(&e.second);
  return out;
}

const FederationPolicy* OidcState::match_policy(const JwtClaims& claims,
                                                std::string_view client_id) const {
  for (const auto& p : policies_) {
    if (p.issuer != claims.iss || p.subject != claims.sub) continue;
    bool aud = false;
    for (const auto& a : claims.aud) aud = aud || a == p.audience;
    if (!aud) continue;
    if (p.client_id.value_or("") != client_id) continue;
    return &p;
  }
  return nullptr;
}

const OAuthToken& OidcState::issue(std::string_view host, std::string_view principal,
                                   TimePoint expiry) {
  // JWT-shaped like Databricks' own tokens; clients must treat it as opaque.
  std::string header = R"({"alg":"RS256","kid":"emulator","typ":"at+jwt"})";
  std::string payload =
      boost::json::serialize(boost::json::object{{"sub", principal},
                                                 {"iss", "https://" + std::string(host) + "/oidc"},
                                                 {"scope", "all-apis"},
                                                 {"exp", dbx::to_unix_seconds(expiry)},
                                                 {"jti", random_hex(8)}});
  std::string value =
      base64url_encode(reinterpret_cast<const unsigned char*>(header.data()), header.size()) + "." +
      base64url_encode(reinterpret_cast<const unsigned char*>(payload.data()), payload.size()) +
      "." + random_hex(32);
  ++issued_count_;
  auto [it, _] = tokens_.insert_or_assign(
      value, OAuthToken{value, std::string(host), std::string(principal), expiry});
  return it->second;
}

const OAuthToken* OidcState::find_token(std::string_view host, std::string_view value,
                                        TimePoint now) const {
  auto it = tokens_.find(value);
  if (it == tokens_.end() || it->second.host != host || it->second.expiry <= now) return nullptr;
  return &it->second;
}

void OidcState::purge_expired(TimePoint now) {
  std::erase_if(tokens_, [&](const auto& e) { return e.second.expiry <= now; });
}

}  // namespace emu
