// Entra ID (v1 and v2 client-credentials token endpoints), IMDS and the ARM workspace GET.
#include <boost/json.hpp>

#include "tests/emulator/router.h"

namespace emu {
namespace {

constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::string form_value(const std::map<std::string, std::string>& form, const char* key) {
  auto it = form.find(key);
  return it == form.end() ? std::string() : it->second;
}

HttpResponse imds_error(int status, std::string_view error, std::string_view description) {
  return json_reply(status,
                    boost::json::object{{"error", error}, {"error_description", description}});
}

// The v1/IMDS answer: every number a string.
boost::json::object v1_answer(const AadToken& t, std::string_view resource, TimePoint now) {
  auto left = std::chrono::duration_cast<std::chrono::seconds>(t.expiry - now).count();
  return boost::json::object{{"token_type", "Bearer"},
                             {"expires_in", std::to_string(left)},
                             {"ext_expires_in", std::to_string(left)},
                             {"expires_on", std::to_string(dbx::to_unix_seconds(t.expiry))},
                             {"not_before", std::to_string(dbx::to_unix_seconds(now))},
                             {"resource", resource},
                             {"access_token", t.value}};
}

}  // namespace

HttpResponse Emulator::handle_aad(const HttpRequest& req, TimePoint now) {
  if (req.method != "POST") {
    return aad_error(
        400, "invalid_request", 900561,
        "The endpoint only accepts POST requests. Received a " + req.method + " request.", now);
  }
  auto segs = split_path(req.path);
  const std::string& tenant = segs[0];
  bool v2 = segs.size() == 4;
  auto form = parse_form(req.body);
  auto missing = [&](const char* name) {
    return aad_error(
        400, "invalid_request", 900144,
        std::string("The request body must contain the following parameter: '") + name + "'.", now);
  };

  std::string grant = form_value(form, "grant_type");
  if (grant.empty()) return missing("grant_type");
  if (grant != "client_credentials") {
    return aad_error(400, "unsupported_grant_type", 70003,
                     "The app requested an unsupported grant type '" + grant + "'.", now);
  }
  std::string client_id = form_value(form, "client_id");
  if (client_id.empty()) return missing("client_id");

  std::string resource;
  if (v2) {
    std::string scope = form_value(form, "scope");
    if (scope.empty()) return missing("scope");
    constexpr std::string_view kDefault = "/.default";
    if (scope.find(' ') != std::string::npos || !scope.ends_with(kDefault)) {
      return aad_error(400, "invalid_scope", 1002012,
                       "The provided value for scope " + scope +
                           " is not valid. Client credential flows must have a scope value with "
                           "/.default suffixed to the resource identifier (application ID URI).",
                       now);
    }
    resource = scope.substr(0, scope.size() - kDefault.size());
  } else {
    resource = form_value(form, "resource");
    if (resource.empty()) return missing("resource");
  }

  const Principal* p = state_.find_principal(client_id);
  if (p == nullptr) {
    return aad_error(400, "unauthorized_client", 700016,
                     "Application with identifier '" + client_id +
                         "' was not found in the directory '" + tenant +
                         "'. This can happen if the application has not been installed by the "
                         "administrator of the tenant or consented to by any user in the tenant. "
                         "You may have sent your authentication request to the wrong tenant.",
                     now);
  }

  std::string secret = form_value(form, "client_secret");
  std::string assertion = form_value(form, "client_assertion");
  if (!secret.empty()) {
    if (!p->client_secret || *p->client_secret != secret) {
      return aad_error(401, "invalid_client", 7000215,
                       "Invalid client secret provided. Ensure the secret being sent in the "
                       "request is the client secret value, not the client secret ID, for a "
                       "secret added to app '" +
                           client_id + "'.",
                       now);
    }
  } else if (!assertion.empty()) {
    if (form_value(form, "client_assertion_type") != kJwtBearer) {
      return aad_error(
          400, "invalid_request", 50027,
          "Invalid JWT token. client_assertion_type must be " + std::string(kJwtBearer) + ".", now);
    }
    bool federated_ok = p->federated_token && *p->federated_token == assertion;
    if (!federated_ok && p->previous_federated_tokens.contains(assertion)) {
      return aad_error(400, "invalid_client", 700024,
                       "Client assertion is not within its valid time range. (The federated "
                       "token was rotated; read the token file again.)",
                       now);
    }
    if (!federated_ok && !p->federated_credentials.empty() && looks_like_jwt(assertion) &&
        state_.ci().signs_for(parse_jwt_claims(assertion).value_or(JwtClaims{}).iss)) {
      // A CI job's OIDC token, checked against the app's federated identity credentials.
      if (auto failure = state_.ci().check(assertion, p->federated_credentials, now)) {
        const int status = failure->first == 700024 ? 400 : 401;
        return aad_error(status, "invalid_client", failure->first, failure->second, now);
      }
      federated_ok = true;
    }
    if (!federated_ok) {
      if (!p->certificate) {
        if (p->federated_token) {
          return aad_error(400, "invalid_client", 70021,
                           "No matching federated identity record found for presented "
                           "assertion.",
                           now);
        }
        return aad_error(401, "invalid_client", 700027,
                         "Client assertion contains an invalid signature. [Reason - The key was "
                         "not found.]",
                         now);
      }
      std::string host = req.header("host");
      std::vector<std::string> audiences = {
          "https://" + host + "/" + tenant + "/oauth2/token",
          "https://" + host + "/" + tenant + "/oauth2/v2.0/token"};
      AssertionCheck check = verify_client_assertion(assertion, *p->certificate, client_id,
                                                     audiences, dbx::to_unix_seconds(now));
      switch (check.failure) {
        case AssertionFailure::none:
          break;
        case AssertionFailure::malformed:
          return aad_error(400, "invalid_client", 50027, "Invalid JWT token. " + check.detail, now);
        case AssertionFailure::key_not_found:
        case AssertionFailure::bad_signature:
          return aad_error(401, "invalid_client", 700027, check.detail, now);
        case AssertionFailure::wrong_audience:
          return aad_error(401, "invalid_client", 700023, check.detail, now);
        case AssertionFailure::wrong_subject:
          return aad_error(401, "invalid_client", 50013, check.detail, now);
        case AssertionFailure::time_invalid:
          return aad_error(400, "invalid_client", 700024, check.detail, now);
      }
    }
  } else {
    return aad_error(401, "invalid_client", 7000218,
                     "The request body must contain the following parameter: 'client_assertion' "
                     "or 'client_secret'.",
                     now);
  }

  const AadToken& t = state_.issue_aad_token(client_id, resource, now);
  if (!v2) return json_reply(200, v1_answer(t, resource, now));
  auto left = std::chrono::duration_cast<std::chrono::seconds>(t.expiry - now).count();
  return json_reply(200, boost::json::object{{"token_type", "Bearer"},
                                             {"expires_in", left},
                                             {"ext_expires_in", left},
                                             {"access_token", t.value}});
}

HttpResponse Emulator::handle_imds(const HttpRequest& req, TimePoint now) {
  if (req.method != "GET") return imds_error(405, "invalid_request", "Only GET is allowed");
  if (!iequals(req.header("metadata"), "true")) {
    return imds_error(400, "invalid_request", "Required metadata header not specified");
  }
  if (!req.header("x-forwarded-for").empty()) {
    return imds_error(400, "invalid_request", "Request contains X-Forwarded-For header");
  }
  if (!req.query_param("api-version")) {
    return imds_error(400, "invalid_request", "Required query variable 'api-version' is missing");
  }
  std::string resource = req.query_param("resource").value_or("");
  if (resource.empty()) {
    return imds_error(400, "invalid_request", "Required query variable 'resource' is missing");
  }
  const Principal* p = state_.find_managed_identity(req.query_param("client_id").value_or(""));
  if (p == nullptr) return imds_error(400, "invalid_request", "Identity not found");
  const AadToken& t = state_.issue_aad_token(p->client_id, resource, now);
  boost::json::object answer = v1_answer(t, resource, now);
  answer["client_id"] = p->client_id;
  return json_reply(200, answer);
}

HttpResponse Emulator::handle_arm(const HttpRequest& req, TimePoint now) {
  if (req.method != "GET") {
    return arm_error(405, "MethodNotAllowed", "The emulator only supports GET on workspaces.");
  }
  if (req.header("authorization").empty()) {
    return arm_error(401, "AuthenticationFailed",
                     "Authentication failed. The 'Authorization' header is missing.");
  }
  const AadToken* t = state_.find_aad_token(bearer_token(req), now);
  if (t == nullptr) {
    return arm_error(401, "InvalidAuthenticationToken",
                     "The access token is invalid or has expired.");
  }
  if (t->resource != normalize_resource(kManagementResource) &&
      t->resource != normalize_resource("https://management.azure.com/")) {
    return arm_error(
        401, "InvalidAuthenticationTokenAudience",
        "The access token has been obtained for wrong audience or resource '" + t->resource + "'.");
  }
  if (!req.query_param("api-version")) {
    return arm_error(400, "MissingApiVersionParameter",
                     "The api-version query parameter (?api-version=) is required for all "
                     "requests.");
  }
  std::string path = req.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const ArmWorkspace* ws = state_.find_workspace(path);
  if (ws == nullptr) {
    return arm_error(404, "ResourceNotFound", "The Resource '" + path + "' was not found.");
  }
  auto segs = split_path(ws->resource_id);
  return json_reply(200, boost::json::object{{"id", ws->resource_id},
                                             {"name", segs.empty() ? std::string() : segs.back()},
                                             {"type", "Microsoft.Databricks/workspaces"},
                                             {"location", ws->location},
                                             {"sku", {{"name", "premium"}}},
                                             {"properties",
                                              {{"workspaceUrl", ws->workspace_url},
                                               {"workspaceId", ws->workspace_id},
                                               {"provisioningState", "Succeeded"}}}});
}

}  // namespace emu
