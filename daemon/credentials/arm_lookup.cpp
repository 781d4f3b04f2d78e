#include "daemon/credentials/arm_lookup.h"

#include <boost/json.hpp>

namespace dbx {

namespace json = boost::json;

namespace {

std::string first_line(std::string_view s, std::size_t max = 300) {
  s = s.substr(0, s.find_first_of("\r\n"));
  return std::string(s.substr(0, max));
}

// A bare host name (with an optional port) and nothing else: what becomes https://<it>.
bool plausible_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':'))
      return false;
  return true;
}

}  // namespace

HttpRequest arm_workspace_request(std::string_view resource_manager, std::string_view resource_id,
                                  std::string_view management_token) {
  while (!resource_manager.empty() && resource_manager.back() == '/')
    resource_manager.remove_suffix(1);
  HttpRequest req;
  req.method = "GET";
  req.url = std::string(resource_manager) + std::string(resource_id) +
            "?api-version=" + kArmWorkspaceApiVersion;
  req.headers = {{"Authorization", "Bearer " + std::string(management_token)},
                 {"Accept", "application/json"}};
  req.upstream = "arm";
  return req;
}

Result<std::string> parse_arm_workspace_answer(const HttpResponse& response,
                                               std::string_view resource_id) {
  const std::string what = "Azure Resource Manager lookup of workspace " + std::string(resource_id);
  boost::system::error_code ec;
  json::value v = json::parse(response.body, ec);
  const json::object* o = (!ec && v.is_object()) ? &v.as_object() : nullptr;

  if (response.status != 200) {
    std::string detail = "no error details in the answer";
    if (o != nullptr) {
      if (const auto* err = o->if_contains("error"); err != nullptr && err->is_object()) {
        const auto& eo = err->as_object();
        std::string code, message;
        if (const auto* c = eo.if_contains("code"); c != nullptr && c->is_string())
          code = std::string(c->as_string());
        if (const auto* m = eo.if_contains("message"); m != nullptr && m->is_string())
          message = first_line(m->as_string());
        if (!code.empty() || !message.empty())
          detail = code + (code.empty() || message.empty() ? "" : ": ") + message;
      }
    }
    std::string hint;
    if (response.status == 401 || response.status == 403)
      hint = " — the credential needs at least Reader on the workspace resource";
    else if (response.status == 404)
      hint = " — check workspaces.<name>.resource_id (subscription, resource group and name)";
    Error e = make_error(
        ErrorCode::upstream_unavailable,
        what + " failed with HTTP " + std::to_string(response.status) + ": " + detail + hint);
    e.upstream_status = response.status;
    return e;
  }
  auto malformed = [&](const std::string& why) {
    Error e = make_error(ErrorCode::upstream_unavailable, what + ": unexpected answer: " + why);
    e.upstream_status = response.status;
    return e;
  };
  if (o == nullptr) return malformed("not a JSON object");
  const auto* props = o->if_contains("properties");
  if (props == nullptr || !props->is_object()) return malformed("no properties");
  const auto* url = props->as_object().if_contains("workspaceUrl");
  if (url == nullptr || !url->is_string() || url->as_string().empty())
    return malformed("no properties.workspaceUrl (is the workspace still being created?)");
  std::string_view host = url->as_string();
  if (host.starts_with("https://")) host.remove_prefix(8);
  while (!host.empty() && host.back() == '/') host.remove_suffix(1);
  if (!plausible_host(host))
    return malformed("properties.workspaceUrl \"" + first_line(url->as_string(), 80) +
                     "\" is not a host name");
  return "https://" + std::string(host);
}

void lookup_workspace_host(Transport& transport, std::string_view resource_manager,
                           const std::string& resource_id, std::string_view management_token,
                           std::function<void(Result<std::string>)> done) {
  transport.send(arm_workspace_request(resource_manager, resource_id, management_token),
                 [resource_id, done = std::move(done)](Result<HttpResponse> r) {
                   if (!r) {
                     Error e = r.error();
                     e.message = "Azure Resource Manager lookup of workspace " + resource_id +
                                 " failed: " + e.message;
                     return done(std::move(e));
                   }
                   done(parse_arm_workspace_answer(*r, resource_id));
                 });
}

}  // namespace dbx
