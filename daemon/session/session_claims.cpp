// OIDC claims of CI tokens and the session rules over them (see session_claims.h).
#include "daemon/session/session_claims.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/encoding.h"

namespace dbx {

namespace {

std::optional<boost::json::object> payload(std::string_view jwt) {
  const auto dot1 = jwt.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos)
    return std::nullopt;
  const auto raw = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!raw) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string text(const boost::json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<TimePoint> seconds(const boost::json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return from_unix_seconds(v->as_int64());
  if (v->is_uint64()) return from_unix_seconds(static_cast<std::int64_t>(v->as_uint64()));
  if (v->is_double()) return from_unix_seconds(static_cast<std::int64_t>(v->as_double()));
  return std::nullopt;
}

// Claims quoted in messages are cut short: they come from the caller.
std::string quote(std::string_view s) {
  return "\"" + std::string(s.substr(0, 200)) + "\"";
}

}  // namespace

Result<OidcClaims> parse_oidc_claims(std::string_view jwt) {
  auto o = payload(jwt);
  if (!o) return make_error(ErrorCode::bad_request, "the OIDC token is not a JWT");
  OidcClaims c;
  c.iss = text(*o, "iss");
  c.sub = text(*o, "sub");
  if (const auto* aud = o->if_contains("aud")) {
    if (aud->is_string()) c.aud = std::string(aud->as_string());
    if (aud->is_array() && !aud->as_array().empty() && aud->as_array()[0].is_string())
      c.aud = std::string(aud->as_array()[0].as_string());
  }
  c.repository = text(*o, "repository");
  c.pipeline = text(*o, "pipeline");
  c.exp = seconds(*o, "exp");
  c.iat = seconds(*o, "iat");
  if (c.iss.empty() || c.sub.empty() || !c.exp)
    return make_error(ErrorCode::bad_request, "the OIDC token lacks iss, sub or exp");
  return c;
}

bool subject_matches(std::string_view pattern, std::string_view subject) {
  // Iterative glob with backtracking to the last '*'.
  std::size_t p = 0, s = 0, star = std::string_view::npos, mark = 0;
  while (s < subject.size()) {
    if (p < pattern.size() && pattern[p] != '*' && pattern[p] == subject[s]) {
      ++p;
      ++s;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Status check_session_claims(const OidcClaims& claims, const SessionsConfig& sessions,
                            std::string_view workspace) {
  const std::string key = "workspaces." + std::string(workspace) + ".sessions";
  if (std::find(sessions.issuers.begin(), sessions.issuers.end(), claims.iss) ==
      sessions.issuers.end())
    return make_error(ErrorCode::forbidden, "the CI token's issuer " + quote(claims.iss) +
                                                " may not open sessions on workspace " +
                                                std::string(workspace) + " (" + key + ".issuers)");
  for (const auto& pattern : sessions.subjects)
    if (subject_matches(pattern, claims.sub)) return ok_status();
  return make_error(ErrorCode::forbidden, "the CI token's subject " + quote(claims.sub) +
                                              " may not open sessions on workspace " +
                                              std::string(workspace) + " (" + key + ".subjects)");
}

Seconds oidc_reuse_margin(std::optional<TimePoint> iat, TimePoint exp) {
  constexpr Seconds kMargin{60};
  if (!iat || *iat >= exp) return kMargin;
  const auto half = std::chrono::duration_cast<Seconds>(exp - *iat) / 2;
  return std::min(kMargin, half);
}

bool oidc_usable(const OidcClaims& claims, TimePoint now) {
  if (!claims.exp) return false;
  return *claims.exp - now > oidc_reuse_margin(claims.iat, *claims.exp);
}

std::optional<TimePoint> request_token_expiry(std::string_view request_token) {
  auto o = payload(request_token);
  if (!o) return std::nullopt;
  return seconds(*o, "exp");
}

}  // namespace dbx
