// The Databricks token API over a Transport: request shapes and answer parsing. See the header.
#include "daemon/databricks/databricks_token_api.h"

#include <boost/json.hpp>
#include <charconv>

#include "common/encoding.h"
#include "daemon/databricks/databricks_errors.h"

namespace dbx {
namespace json = boost::json;
namespace {

constexpr char kCreate[] = "token/create";
constexpr char kList[] = "token/list";
constexpr char kDelete[] = "token/delete";
constexpr char kCheck[] = "token/list (with the PAT)";

bool is_2xx(int status) {
  return status >= 200 && status < 300;
}

TimePoint from_ms(std::int64_t ms) {
  return from_unix_millis(ms);
}

// One token_info; returns the problem or fills `out`.
std::optional<std::string> parse_info(const json::value& v, PatInfo& out) {
  if (!v.is_object()) return "a token_info is not an object";
  const auto& o = v.as_object();
  const auto* id = o.if_contains("token_id");
  if (!id) return "token_info without token_id";
  if (id->is_string() && !id->as_string().empty())
    out.token_id = std::string(id->as_string());
  else if (auto n = lenient_int(*id); n && !id->is_string())
    out.token_id = std::to_string(*n);
  else
    return "token_info with a bad token_id";
  if (const auto* c = o.if_contains("comment"); c && !c->is_null()) {
    if (!c->is_string()) return "token_info with a non-string comment";
    out.comment = std::string(c->as_string());
  }
  const auto* created = o.if_contains("creation_time");
  auto created_ms = created ? lenient_int(*created) : std::nullopt;
  if (!created_ms || *created_ms < 0) return "token_info with a bad creation_time";
  out.created = from_ms(*created_ms);
  const auto* expiry = o.if_contains("expiry_time");
  auto expiry_ms = expiry ? lenient_int(*expiry) : std::nullopt;
  if (!expiry_ms || *expiry_ms < -1) return "token_info with a bad expiry_time";
  if (*expiry_ms == -1)
    out.expires.reset();  // never expires
  else
    out.expires = from_ms(*expiry_ms);
  return std::nullopt;
}

std::optional<json::object> parse_object(const std::string& body, std::string& why) {
  if (body.size() > databricks::kMaxBodyBytes) {
    why = "body larger than 4 MiB";
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    why = "not JSON";
    return std::nullopt;
  }
  if (!v.is_object()) {
    why = "not a JSON object";
    return std::nullopt;
  }
  return std::move(v.as_object());
}

}  // namespace

DatabricksTokenApi::DatabricksTokenApi(Transport& transport, HeaderSource source)
    : transport_(transport), source_(std::move(source)) {}

DatabricksTokenApi::DatabricksTokenApi(Transport& transport, std::string host, AuthHeaders auth)
    : DatabricksTokenApi(transport, [host = std::move(host), auth = std::move(auth)](
                                        std::function<void(Result<WorkspaceHeaders>)> done) {
        auth([host, done = std::move(done)](Result<HttpHeaders> h) {
          if (!h) return done(h.error());
          done(WorkspaceHeaders{host, TimePoint::max(), std::move(*h)});
        });
      }) {}

void DatabricksTokenApi::call(std::string method, std::string path, std::string body,
                              std::string what, std::function<void(Result<HttpResponse>)> done) {
  source_([this, weak = std::weak_ptr<int>(alive_), method = std::move(method),
           path = std::move(path), body = std::move(body), what = std::move(what),
           done = std::move(done)](Result<WorkspaceHeaders> auth) mutable {
    if (weak.expired()) return;
    if (!auth) return done(auth.error());  // already says which AAD call failed
    send(std::move(*auth), std::move(method), path, std::move(body), std::move(what),
         std::move(done));
  });
}

void DatabricksTokenApi::send(WorkspaceHeaders auth, std::string method, const std::string& path,
                              std::string body, std::string what,
                              std::function<void(Result<HttpResponse>)> done) {
  host_ = std::move(auth.host);
  while (!host_.empty() && host_.back() == '/') host_.pop_back();
  HttpRequest req;
  req.method = std::move(method);
  req.url = host_ + path;
  req.headers = std::move(auth.headers);
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::move(body);
  req.upstream = "databricks";
  transport_.send(std::move(req), [weak = std::weak_ptr<int>(alive_), what = std::move(what),
                                   done = std::move(done)](Result<HttpResponse> r) mutable {
    if (weak.expired()) return;  // the API object is gone (shutdown)
    if (!r) return done(databricks::error_from_transport(what, r.error()));
    done(std::move(r));
  });
}

void DatabricksTokenApi::authenticate(std::function<void(Result<WorkspaceHeaders>)> done) {
  source_([weak = std::weak_ptr<int>(alive_),
           done = std::move(done)](Result<WorkspaceHeaders> h) mutable {
    if (weak.expired()) return;
    done(std::move(h));
  });
}

void DatabricksTokenApi::create(WorkspaceHeaders auth, Seconds lifetime, const std::string& comment,
                                std::function<void(Result<MintedPat>)> done) {
  json::object body;
  body["lifetime_seconds"] = lifetime.count();
  body["comment"] = comment;
  send(std::move(auth), "POST", "/api/2.0/token/create", json::serialize(body), kCreate,
       [this, done = std::move(done)](Result<HttpResponse> r) {
         if (!r) return done(r.error());
         if (!is_2xx(r->status)) return done(databricks::error_from_response(host(), kCreate, *r));
         std::string why;
         auto o = parse_object(r->body, why);
         if (!o) return done(databricks::malformed_answer(host(), kCreate, r->status, why));
         // Never quote the body: it holds the token value.
         const auto* value = o->if_contains("token_value");
         if (!value || !value->is_string() || value->as_string().empty())
           return done(databricks::malformed_answer(host(), kCreate, r->status, "no token_value"));
         const auto* info = o->if_contains("token_info");
         if (!info)
           return done(databricks::malformed_answer(host(), kCreate, r->status, "no token_info"));
         MintedPat pat;
         pat.value = std::string(value->as_string());
         if (auto problem = parse_info(*info, pat.info))
           return done(databricks::malformed_answer(host(), kCreate, r->status, *problem));
         done(std::move(pat));
       });
}

void DatabricksTokenApi::list(std::function<void(Result<std::vector<PatInfo>>)> done) {
  call("GET", "/api/2.0/token/list", "", kList,
       [this, done = std::move(done)](Result<HttpResponse> r) {
         if (!r) return done(r.error());
         if (!is_2xx(r->status)) return done(databricks::error_from_response(host(), kList, *r));
         std::string why;
         auto o = parse_object(r->body, why);
         if (!o) return done(databricks::malformed_answer(host(), kList, r->status, why));
         std::vector<PatInfo> out;
         const auto* infos = o->if_contains("token_infos");
         if (!infos || infos->is_null()) return done(std::move(out));  // `{}`: no tokens
         if (!infos->is_array())
           return done(databricks::malformed_answer(host(), kList, r->status,
                                                    "token_infos is not an array"));
         // All or nothing: a partial list would make reconcile forget tokens that exist.
         for (const auto& v : infos->as_array()) {
           PatInfo info;
           if (auto problem = parse_info(v, info))
             return done(databricks::malformed_answer(host(), kList, r->status, *problem));
           out.push_back(std::move(info));
         }
         done(std::move(out));
       });
}

void DatabricksTokenApi::remove(const std::string& token_id, std::function<void(Status)> done) {
  json::object body;
  body["token_id"] = token_id;
  call("POST", "/api/2.0/token/delete", json::serialize(body), kDelete,
       [this, done = std::move(done)](Result<HttpResponse> r) {
         if (!r) return done(r.error());
         if (is_2xx(r->status)) return done(ok_status());
         // Unknown id: already deleted (expired, or by someone else) — what we wanted.
         if (databricks::has_error_code(*r, "RESOURCE_DOES_NOT_EXIST")) return done(ok_status());
         done(databricks::error_from_response(host(), kDelete, *r));
       });
}

void DatabricksTokenApi::check(const std::string& value, const std::string& token_id,
                               std::function<void(Result<bool>)> done) {
  HttpRequest req;
  req.method = "GET";
  req.url = host() + "/api/2.0/token/list";
  req.headers.emplace_back("Authorization", "Bearer " + value);
  req.headers.emplace_back("Accept", "application/json");
  req.upstream = "databricks";
  transport_.send(std::move(req), [this, weak = std::weak_ptr<int>(alive_), token_id,
                                   done = std::move(done)](Result<HttpResponse> r) mutable {
    if (weak.expired()) return;
    if (!r) return done(databricks::error_from_transport(kCheck, r.error()));
    // The workspace refuses the PAT itself: revoked, deleted, or its owner lost the right.
    if (r->status == 401 || r->status == 403) return done(false);
    if (!is_2xx(r->status)) return done(databricks::error_from_response(host(), kCheck, *r));
    std::string why;
    auto o = parse_object(r->body, why);
    if (!o) return done(databricks::malformed_answer(host(), kCheck, r->status, why));
    const auto* infos = o->if_contains("token_infos");
    if (!infos || !infos->is_array()) return done(false);  // `{}`: not even this one
    for (const auto& v : infos->as_array()) {
      PatInfo info;
      if (!parse_info(v, info) && info.token_id == token_id) return done(true);
    }
    done(false);
  });
}

}  // namespace dbx
