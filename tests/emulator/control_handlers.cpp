// The test-only control API under /_emulator/ (plain JSON, no authentication): registering
// principals and workspaces, settings, faults, counters and a view of every workspace's PATs.
#include <boost/json.hpp>

#include "tests/emulator/router.h"

namespace emu {
namespace {

HttpResponse bad(std::string message) {
  return json_reply(400, boost::json::object{{"error", message}});
}

HttpResponse method_not_allowed(const HttpRequest& req) {
  return json_reply(405,
                    boost::json::object{{"error", req.method + " is not allowed on " + req.path}});
}

// Parses a control body: a JSON object, or an error response.
std::optional<boost::json::object> parse_object(const HttpRequest& req, HttpResponse& error) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(req.body.empty() ? "{}" : req.body, ec);
  if (ec || !v.is_object()) {
    error = bad("the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// Typed field readers; return false (and set `error`) when the field has the wrong type.
bool read_string(const boost::json::object& o, std::string_view key,
                 std::optional<std::string>& out, std::string& error) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_string()) {
    error = std::string(key) + ": expected a string";
    return false;
  }
  out = std::string(v->as_string());
  return true;
}

bool read_int(const boost::json::object& o, std::string_view key, std::optional<std::int64_t>& out,
              std::string& error) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_int64()) {
    error = std::string(key) + ": expected an integer";
    return false;
  }
  out = v->as_int64();
  return true;
}

bool read_bool(const boost::json::object& o, std::string_view key, std::optional<bool>& out,
               std::string& error) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_bool()) {
    error = std::string(key) + ": expected true or false";
    return false;
  }
  out = v->as_bool();
  return true;
}

bool only_keys(const boost::json::object& o, std::initializer_list<std::string_view> allowed,
               std::string& error) {
  for (const auto& [k, v] : o) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(k)) == allowed.end()) {
      error = "unknown key '" + std::string(k) + "'";
      return false;
    }
  }
  return true;
}

boost::json::value settings_json(const Settings& s) {
  boost::json::object o{{"aad_token_lifetime", s.aad_token_lifetime}, {"pat_quota", s.pat_quota}};
  if (s.pat_max_lifetime) {
    o["pat_max_lifetime"] = *s.pat_max_lifetime;
  } else {
    o["pat_max_lifetime"] = nullptr;
  }
  return o;
}

}  // namespace

HttpResponse Emulator::handle_control(const HttpRequest& req, TimePoint now) {
  const std::string what = req.path.substr(std::string_view("/_emulator/").size());
  HttpResponse error_response;
  std::string error;

  if (what == "health") return json_reply(200, boost::json::object{{"status", "ok"}});

  if (what == "reset") {
    // Back to a freshly started emulator (the TLS material and port stay).
    if (req.method != "POST") return method_not_allowed(req);
    state_ = State{};
    faults_.clear();
    counters_.reset();
    return json_reply(200, boost::json::object{});
  }

  if (what == "principals") {
    if (req.method == "GET") {
      boost::json::array a;
      for (const Principal* p : state_.principals()) {
        a.push_back(boost::json::object{{"client_id", p->client_id},
                                        {"has_secret", p->client_secret.has_value()},
                                        {"has_certificate", p->certificate.has_value()},
                                        {"has_federated_token", p->federated_token.has_value()},
                                        {"managed_identity", p->managed_identity},
                                        {"workspace_user", p->workspace_user}});
      }
      return json_reply(200, a);
    }
    if (req.method != "POST") return method_not_allowed(req);
    auto body = parse_object(req, error_response);
    if (!body) return error_response;
    State::PrincipalUpdate u;
    std::optional<std::string> client_id, pem;
    if (!only_keys(*body,
                   {"client_id", "client_secret", "certificate_pem", "federated_token",
                    "managed_identity", "workspace_user"},
                   error) ||
        !read_string(*body, "client_id", client_id, error) ||
        !read_string(*body, "client_secret", u.client_secret, error) ||
        !read_string(*body, "certificate_pem", pem, error) ||
        !read_string(*body, "federated_token", u.federated_token, error) ||
        !read_bool(*body, "managed_identity", u.managed_identity, error) ||
        !read_bool(*body, "workspace_user", u.workspace_user, error)) {
      return bad(error);
    }
    if (!client_id || client_id->empty()) return bad("client_id: required");
    u.client_id = *client_id;
    if (pem) {
      u.certificate = load_certificate(*pem, error);
      if (!u.certificate) return bad("certificate_pem: " + error);
    }
    state_.upsert_principal(std::move(u));
    return json_reply(200, boost::json::object{{"client_id", *client_id}});
  }

  if (what == "workspaces") {
    if (req.method != "POST") return method_not_allowed(req);
    auto body = parse_object(req, error_response);
    if (!body) return error_response;
    std::optional<std::string> resource_id, url, id, location;
    if (!only_keys(*body, {"resource_id", "workspace_url", "workspace_id", "location"}, error) ||
        !read_string(*body, "resource_id", resource_id, error) ||
        !read_string(*body, "workspace_url", url, error) ||
        !read_string(*body, "workspace_id", id, error) ||
        !read_string(*body, "location", location, error)) {
      return bad(error);
    }
    if (!resource_id || !starts_with_icase(*resource_id, "/subscriptions/")) {
      return bad("resource_id: required, starting with /subscriptions/");
    }
    if (!url || url->empty()) return bad("workspace_url: required (host[:port], no scheme)");
    while (resource_id->size() > 1 && resource_id->back() == '/') resource_id->pop_back();
    state_.upsert_workspace(ArmWorkspace{*resource_id, *url, id.value_or("1234567890123456"),
                                         location.value_or("westeurope")});
    return json_reply(200, boost::json::object{{"resource_id", *resource_id}});
  }

  if (what == "settings") {
    if (req.method == "GET") return json_reply(200, settings_json(state_.settings()));
    if (req.method != "POST") return method_not_allowed(req);
    auto body = parse_object(req, error_response);
    if (!body) return error_response;
    std::optional<std::int64_t> lifetime, quota, max_lifetime;
    if (!only_keys(*body, {"aad_token_lifetime", "pat_quota", "pat_max_lifetime"}, error) ||
        !read_int(*body, "aad_token_lifetime", lifetime, error) ||
        !read_int(*body, "pat_quota", quota, error) ||
        !read_int(*body, "pat_max_lifetime", max_lifetime, error)) {
      return bad(error);
    }
    if (lifetime && *lifetime < 1) return bad("aad_token_lifetime: expected seconds >= 1");
    if (quota && *quota < 0) return bad("pat_quota: expected a count >= 0");
    Settings& s = state_.settings();
    if (lifetime) s.aad_token_lifetime = *lifetime;
    if (quota) s.pat_quota = *quota;
    if (body->contains("pat_max_lifetime")) {
      // null or 0 removes the limit.
      if (max_lifetime && *max_lifetime > 0) {
        s.pat_max_lifetime = *max_lifetime;
      } else {
        s.pat_max_lifetime.reset();
      }
    }
    return json_reply(200, settings_json(s));
  }

  if (what == "faults") {
    if (req.method == "GET") return json_reply(200, faults_.to_json());
    if (req.method == "DELETE") {
      faults_.clear();
      return json_reply(200, boost::json::object{});
    }
    if (req.method != "POST") return method_not_allowed(req);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(req.body, ec);
    if (ec) return bad("the body must be a JSON object");
    auto fault = Fault::from_json(v, error);
    if (!fault) return bad(error);
    faults_.add(fault->first, std::move(fault->second));
    return json_reply(200, faults_.to_json());
  }

  if (what == "counters") {
    if (req.method == "GET") return json_reply(200, counters_.to_json());
    if (req.method != "DELETE") return method_not_allowed(req);
    counters_.reset();
    return json_reply(200, boost::json::object{});
  }

  if (what == "pats") {
    if (req.method == "GET" || req.method == "DELETE") {
      std::string host = req.query_param("host").value_or("");
      if (host.empty()) return bad("query parameter host is required (e.g. 127.0.0.1:PORT)");
      if (req.method == "DELETE") {
        std::string id = req.query_param("token_id").value_or("");
        if (!state_.delete_pat(host, std::nullopt, id)) {
          return json_reply(404, boost::json::object{{"error", "no such token_id"}});
        }
        return json_reply(200, boost::json::object{});
      }
      boost::json::array a;
      for (const Pat& p : state_.list_pats(host, std::nullopt, now)) {
        a.push_back(boost::json::object{{"token_id", p.token_id},
                                        {"comment", p.comment},
                                        {"owner", p.owner},
                                        {"creation_time", p.creation_ms},
                                        {"expiry_time", p.expiry_ms}});
      }
      return json_reply(200, a);
    }
    if (req.method != "POST") return method_not_allowed(req);
    auto body = parse_object(req, error_response);
    if (!body) return error_response;
    std::optional<std::string> host, owner, comment;
    std::optional<std::int64_t> count, lifetime;
    if (!only_keys(*body, {"host", "owner", "count", "comment", "lifetime_seconds"}, error) ||
        !read_string(*body, "host", host, error) || !read_string(*body, "owner", owner, error) ||
        !read_string(*body, "comment", comment, error) || !read_int(*body, "count", count, error) ||
        !read_int(*body, "lifetime_seconds", lifetime, error)) {
      return bad(error);
    }
    if (!host || host->empty()) return bad("host: required (e.g. 127.0.0.1:PORT)");
    if (!owner || owner->empty()) return bad("owner: required (a client id)");
    if (count && (*count < 0 || *count > 100000)) return bad("count: expected 0..100000");
    boost::json::array tokens;
    for (std::int64_t i = 0; i < count.value_or(1); ++i) {
      auto result = state_.create_pat(*host, *owner, lifetime, comment.value_or("foreign"), now,
                                      /*enforce_limits=*/false);
      const Pat& p = std::get<Pat>(result);
      tokens.push_back(boost::json::object{{"token_id", p.token_id}, {"token_value", p.value}});
    }
    return json_reply(200, boost::json::object{{"tokens", std::move(tokens)}});
  }

  return json_reply(404, boost::json::object{{"error", "no control endpoint " + req.path}});
}

}  // namespace emu
