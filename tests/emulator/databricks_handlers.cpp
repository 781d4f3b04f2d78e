// The Databricks REST API of every emulated workspace (the Host header names the workspace):
// authentication (PAT, or AAD token + management headers), token/create|list|delete with the
// per-principal quota, clusters/list as the one "real" authenticated API, and SCIM Me (who the
// caller is: `dbxcred doctor` asks whether the service principal is a workspace user).
#include <boost/json.hpp>
#include <variant>

#include "tests/emulator/router.h"

namespace emu {
namespace {

// Databricks refuses AAD tokens this close to expiry (PROTOCOLS.md).
constexpr std::chrono::seconds kAadExpiringWindow{30};

HttpResponse invalid_token() {
  return databricks_error(403, boost::json::value(403), "Invalid access token.");
}

boost::json::object token_info(const Pat& p) {
  return boost::json::object{{"token_id", p.token_id},
                             {"creation_time", p.creation_ms},
                             {"expiry_time", p.expiry_ms},
                             {"comment", p.comment}};
}

struct Caller {
  std::string principal;
};

}  // namespace

HttpResponse Emulator::handle_databricks(const HttpRequest& req, Endpoint endpoint, TimePoint now) {
  const bool is_get = endpoint == Endpoint::token_list || endpoint == Endpoint::clusters_list ||
                      endpoint == Endpoint::scim_me;
  if (req.method != (is_get ? "GET" : "POST")) {
    return databricks_error(404, "ENDPOINT_NOT_FOUND",
                            "No API found for '" + req.method + " " + req.path + "'");
  }

  // Authentication.
  const std::string host = to_lower(req.header("host"));
  const std::string token = bearer_token(req);
  if (token.empty()) {
    return databricks_error(401, boost::json::value(401),
                            "Credential was not sent or was of an unsupported type for this API.");
  }
  Caller caller;
  if (token.starts_with("dapi")) {
    const Pat* pat = state_.find_pat(host, token, now);
    if (pat == nullptr) return invalid_token();
    caller.principal = pat->owner;
  } else if (auto oauth = oauth_principal(host, token, now)) {
    caller.principal = *oauth;  // a Databricks OAuth token of this workspace
  } else {
    const AadToken* t = state_.find_aad_token(token, now);
    if (t == nullptr || t->resource != normalize_resource(kDatabricksResource)) {
      return invalid_token();
    }
    if (t->expiry - now < kAadExpiringWindow) {
      return databricks_error(403, boost::json::value(403), "Token is expiring within 30 seconds");
    }
    const Principal* p = state_.find_principal(t->client_id);
    if (p == nullptr || !p->workspace_user) {
      // A service principal that is not a workspace user must prove Contributor on the
      // workspace resource with a management token.
      const AadToken* mgmt =
          state_.find_aad_token(req.header("x-databricks-azure-sp-management-token"), now);
      std::string resource_id = req.header("x-databricks-azure-workspace-resource-id");
      if (mgmt == nullptr || mgmt->resource != normalize_resource(kManagementResource) ||
          !starts_with_icase(resource_id, "/subscriptions/")) {
        return invalid_token();
      }
    }
    caller.principal = t->client_id;
  }

  // The body of POSTs is a JSON object (an empty body counts as {}).
  boost::json::object body;
  if (!is_get && !req.body.empty()) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(req.body, ec);
    if (ec || !v.is_object()) {
      return databricks_error(400, "MALFORMED_REQUEST",
                              "Invalid JSON given in the body of the request - expected a map");
    }
    body = std::move(v.as_object());
  }

  switch (endpoint) {
    case Endpoint::token_create: {
      std::optional<std::int64_t> lifetime;
      if (const auto* v = body.if_contains("lifetime_seconds")) {
        if (v->is_int64()) {
          lifetime = v->as_int64();
        } else if (!v->is_null()) {
          return databricks_error(400, "INVALID_PARAMETER_VALUE",
                                  "lifetime_seconds must be an integer");
        }
      }
      std::string comment;
      if (const auto* v = body.if_contains("comment"); v != nullptr && v->is_string()) {
        comment = std::string(v->as_string());
      }
      auto result = state_.create_pat(host, caller.principal, lifetime, comment, now);
      if (auto* err = std::get_if<PatError>(&result)) {
        if (*err == PatError::quota_exceeded) {
          return databricks_error(
              400, "QUOTA_EXCEEDED",
              "Cannot create more than " + std::to_string(state_.settings().pat_quota) +
                  " tokens for the principal " + caller.principal + " in this workspace.");
        }
        return databricks_error(
            400, "INVALID_PARAMETER_VALUE",
            "Requested token lifetime exceeds the maximum allowed lifetime of " +
                std::to_string(*state_.settings().pat_max_lifetime) + " seconds.");
      }
      const Pat& pat = std::get<Pat>(result);
      return json_reply(
          200, boost::json::object{{"token_value", pat.value}, {"token_info", token_info(pat)}});
    }
    case Endpoint::token_list: {
      auto pats = state_.list_pats(host, caller.principal, now);
      boost::json::object answer;  // Databricks omits empty lists: no tokens → {}
      if (!pats.empty()) {
        boost::json::array infos;
        for (const auto& p : pats) infos.push_back(token_info(p));
        answer["token_infos"] = std::move(infos);
      }
      return json_reply(200, answer);
    }
    case Endpoint::token_delete: {
      const auto* id = body.if_contains("token_id");
      if (id == nullptr || !id->is_string() || id->as_string().empty()) {
        return databricks_error(400, "INVALID_PARAMETER_VALUE", "Missing required field: token_id");
      }
      if (!state_.delete_pat(host, caller.principal, id->as_string())) {
        return databricks_error(
            404, "RESOURCE_DOES_NOT_EXIST",
            "Token with id " + std::string(id->as_string()) + " does not exist.");
      }
      return json_reply(200, boost::json::object{});
    }
    case Endpoint::scim_me:
      // The caller as a SCIM user: a service principal's userName is its application id.
      return json_reply(
          200, boost::json::object{
                   {"schemas", boost::json::array{"urn:ietf:params:scim:schemas:core:2.0:User"}},
                   {"id", std::to_string(std::hash<std::string>{}(caller.principal) % 1000000007)},
                   {"userName", caller.principal},
                   {"displayName", caller.principal},
                   {"active", true}});
    case Endpoint::clusters_list:
      return json_reply(200,
                        boost::json::object{{"clusters", boost::json::array{boost::json::object{
                                                             {"cluster_id", "0123-456789-abc"},
                                                             {"cluster_name", "emulated"},
                                                             {"state", "RUNNING"}}}}});
    default:
      return databricks_error(404, "ENDPOINT_NOT_FOUND", "No API found for " + req.path);
  }
}

}  // namespace emu
