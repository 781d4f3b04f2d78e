// Databricks OAuth of every emulated workspace host (PROTOCOLS.md "Databricks OAuth"): discovery,
// the token endpoint (client_credentials with Basic or form client authentication, and RFC 8693
// token exchange against federation policies) and the control API under /_emulator/oidc/.
#include <boost/json.hpp>

#include "tests/emulator/assertion.h"
#include "tests/emulator/router.h"

namespace emu {
namespace {

constexpr std::string_view kTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr std::string_view kJwtType = "urn:ietf:params:oauth:token-type:jwt";

HttpResponse oauth_error(int status, std::string_view error, std::string_view description) {
  return json_reply(status,
                    boost::json::object{{"error", error}, {"error_description", description}});
}

std::string form_value(const std::map<std::string, std::string>& form, const char* key) {
  auto it = form.find(key);
  return it == form.end() ? std::string() : it->second;
}

// client_id and client_secret from `Authorization: Basic …`, if sent.
std::optional<std::pair<std::string, std::string>> basic_credentials(const HttpRequest& req) {
  std::string auth = req.header("authorization");
  if (!starts_with_icase(auth, "basic ")) return std::nullopt;
  auto decoded = base64url_decode(auth.substr(6));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

// "all-apis" (the default when absent) plus the few other scopes Databricks knows.
bool scopes_known(std::string_view scope) {
  std::size_t pos = 0;
  while (pos < scope.size()) {
    auto end = scope.find(' ', pos);
    if (end == std::string_view::npos) end = scope.size();
    auto s = scope.substr(pos, end - pos);
    if (!s.empty() && s != "all-apis" && s != "sql" && s != "offline_access") return false;
    pos = end + 1;
  }
  return true;
}

HttpResponse token_answer(const OAuthToken& t, std::string_view scope, TimePoint now) {
  auto left = std::chrono::duration_cast<std::chrono::seconds>(t.expiry - now).count();
  return json_reply(200, boost::json::object{{"access_token", t.value},
                                             {"token_type", "Bearer"},
                                             {"scope", scope.empty() ? "all-apis" : scope},
                                             {"expires_in", left}});
}

HttpResponse bad(std::string message) {
  return json_reply(400, boost::json::object{{"error", std::move(message)}});
}

}  // namespace

HttpResponse Emulator::handle_oidc_discovery(const HttpRequest& req, TimePoint) {
  if (req.method != "GET") {
    return oauth_error(405, "invalid_request", "Only GET is allowed on " + req.path);
  }
  const std::string base = "https://" + to_lower(req.header("host")) + "/oidc";
  return json_reply(
      200,
      boost::json::object{
          {"issuer", base},
          {"authorization_endpoint", base + "/v1/authorize"},
          {"token_endpoint", base + "/v1/token"},
          {"jwks_uri", base + "/jwks.json"},
          {"grant_types_supported", boost::json::array{"client_credentials", "authorization_code",
                                                       "refresh_token", kTokenExchange}},
          {"response_types_supported", boost::json::array{"code", "id_token"}},
          {"scopes_supported", boost::json::array{"all-apis", "sql", "offline_access"}},
          {"token_endpoint_auth_methods_supported",
           boost::json::array{"client_secret_basic", "client_secret_post", "none"}}});
}

HttpResponse Emulator::handle_oidc_token(const HttpRequest& req, TimePoint now) {
  if (req.method != "POST") {
    return oauth_error(405, "invalid_request", "Only POST is allowed on " + req.path);
  }
  OidcState& oidc = state_.oidc();
  const std::string host = to_lower(req.header("host"));
  auto form = parse_form(req.body);
  const std::string grant = form_value(form, "grant_type");
  const std::string scope = form_value(form, "scope");
  if (grant.empty()) return oauth_error(400, "invalid_request", "Missing grant_type");
  if (!scopes_known(scope)) {
    return oauth_error(400, "invalid_scope", "Requested scope is not supported: " + scope);
  }

  if (grant == "client_credentials") {
    std::string id, secret;
    if (auto basic = basic_credentials(req)) {
      std::tie(id, secret) = std::move(*basic);
    } else {
      id = form_value(form, "client_id");
      secret = form_value(form, "client_secret");
    }
    const OAuthClient* client = id.empty() ? nullptr : oidc.find_client(id);
    if (client == nullptr || secret.empty() || !client->secrets.contains(secret)) {
      return oauth_error(401, "invalid_client", "Client authentication failed");
    }
    const OAuthToken& t = oidc.issue(host, client->client_id,
                                     now + std::chrono::seconds(oidc.settings().m2m_lifetime));
    return token_answer(t, scope, now);
  }

  if (grant == kTokenExchange) {
    const std::string subject = form_value(form, "subject_token");
    if (subject.empty()) return oauth_error(400, "invalid_request", "Missing subject_token");
    if (form_value(form, "subject_token_type") != kJwtType) {
      return oauth_error(400, "invalid_request",
                         "subject_token_type must be urn:ietf:params:oauth:token-type:jwt");
    }
    auto claims = parse_jwt_claims(subject);
    if (!claims) return oauth_error(400, "invalid_grant", "The subject token is not a valid JWT");
    if (claims->alg != "RS256" && claims->alg != "ES256") {
      return oauth_error(
          400, "invalid_grant",
          "The subject token must be signed with RS256 or ES256, not '" + claims->alg + "'");
    }
    const std::int64_t now_s = dbx::to_unix_seconds(now);
    if (!claims->exp || *claims->exp <= now_s) {
      return oauth_error(400, "invalid_grant", "The subject token has expired");
    }
    if (claims->nbf && *claims->nbf > now_s + 60) {
      return oauth_error(400, "invalid_grant", "The subject token is not yet valid");
    }
    const FederationPolicy* policy = oidc.match_policy(*claims, form_value(form, "client_id"));
    if (policy == nullptr) {
      return oauth_error(400, "invalid_grant",
                         "No federation policy matches the subject token (iss " + claims->iss +
                             ", sub " + claims->sub + ")");
    }
    // A CI job's OIDC token (ci_oidc.h): its signature and expiry checked, its use counted.
    if (state_.ci().signs_for(claims->iss)) {
      if (auto failure = state_.ci().check(subject, {}, now))
        return oauth_error(400, "invalid_grant",
                           "The subject token was refused: " + failure->second);
    }
    std::int64_t lifetime = std::min(oidc.settings().federated_lifetime, *claims->exp - now_s);
    const OAuthToken& t = oidc.issue(host, policy->principal, now + std::chrono::seconds(lifetime));
    return token_answer(t, scope, now);
  }

  return oauth_error(400, "unsupported_grant_type", "Unsupported grant_type: " + grant);
}

std::optional<std::string> Emulator::oauth_principal(std::string_view host, std::string_view token,
                                                     TimePoint now) const {
  const OAuthToken* t = state_.oidc().find_token(host, token, now);
  if (t == nullptr) return std::nullopt;
  return t->principal;
}

HttpResponse Emulator::handle_oidc_control(const HttpRequest& req, TimePoint now) {
  OidcState& oidc = state_.oidc();
  const std::string what = req.path.substr(std::string_view("/_emulator/oidc/").size());
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(req.body.empty() ? "{}" : req.body, ec);
  if (req.method == "POST" && (ec || !body.is_object())) {
    return bad("the body must be a JSON object");
  }
  auto field = [&](std::string_view key) -> std::optional<std::string> {
    const auto* v = body.as_object().if_contains(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };

  if (what == "clients") {
    if (req.method == "GET") {
      boost::json::array a;
      for (const OAuthClient* c : oidc.clients()) {
        a.push_back(
            boost::json::object{{"client_id", c->client_id}, {"secrets", c->secrets.size()}});
      }
      return json_reply(200, a);
    }
    if (req.method == "DELETE") {
      oidc.remove_client(req.query_param("client_id").value_or(""));
      return json_reply(200, boost::json::object{});
    }
    if (req.method != "POST") return bad(req.method + " is not allowed on " + req.path);
    auto id = field("client_id");
    auto secret = field("client_secret");
    if (!id || id->empty()) return bad("client_id: required");
    if (!secret || secret->empty()) return bad("client_secret: required");
    oidc.add_client_secret(*id, *secret);
    return json_reply(200, boost::json::object{{"client_id", *id}});
  }

  if (what == "policies") {
    if (req.method == "GET") {
      boost::json::array a;
      for (const auto& p : oidc.policies()) {
        boost::json::object o{{"issuer", p.issuer},
                              {"subject", p.subject},
                              {"audience", p.audience},
                              {"principal", p.principal}};
        if (p.client_id) o["client_id"] = *p.client_id;
        a.push_back(std::move(o));
      }
      return json_reply(200, a);
    }
    if (req.method != "POST") return bad(req.method + " is not allowed on " + req.path);
    FederationPolicy p;
    auto issuer = field("issuer"), subject = field("subject"), audience = field("audience");
    if (!issuer || !subject || !audience) return bad("issuer, subject and audience: required");
    p.issuer = *issuer;
    p.subject = *subject;
    p.audience = *audience;
    p.client_id = field("client_id");
    p.principal = field("principal").value_or(p.client_id.value_or(p.subject));
    oidc.add_policy(p);
    return json_reply(200, boost::json::object{{"principal", p.principal}});
  }

  if (what == "settings") {
    OidcSettings& s = oidc.settings();
    if (req.method == "POST") {
      for (const auto& [k, v] : body.as_object()) {
        if (k != "m2m_lifetime" && k != "federated_lifetime") {
          return bad("unknown key '" + std::string(k) + "'");
        }
        if (!v.is_int64() || v.as_int64() < 1)
          return bad(std::string(k) + ": expected seconds >= 1");
        (k == "m2m_lifetime" ? s.m2m_lifetime : s.federated_lifetime) = v.as_int64();
      }
    } else if (req.method != "GET") {
      return bad(req.method + " is not allowed on " + req.path);
    }
    return json_reply(200, boost::json::object{{"m2m_lifetime", s.m2m_lifetime},
                                               {"federated_lifetime", s.federated_lifetime},
                                               {"issued", oidc.issued()}});
  }

  if (what == "tokens") {
    // The live tokens (never their values): who they are for, where, until when.
    oidc.purge_expired(now);
    boost::json::array a;
    for (const auto& t : oidc.tokens()) {
      a.push_back(boost::json::object{{"host", t.host},
                                      {"principal", t.principal},
                                      {"expires_at", dbx::to_unix_seconds(t.expiry)}});
    }
    return json_reply(200, a);
  }

  return json_reply(404, boost::json::object{{"error", "no control endpoint " + req.path}});
}

}  // namespace emu
