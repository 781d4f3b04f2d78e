#include "daemon/credentials/entra_token.h"

#include <boost/json.hpp>
#include <charconv>
#include <optional>

#include "common/encoding.h"

namespace dbx {

namespace json = boost::json;

namespace {

std::optional<std::int64_t> as_int(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  return lenient_int(*v);
}

std::string first_line(std::string_view s) {
  auto end = s.find_first_of("\r\n");
  std::string out(s.substr(0, end));
  constexpr std::size_t kMaxMessage = 300;  // keep error lines readable in logs and terminals
  if (out.size() > kMaxMessage) out = out.substr(0, kMaxMessage) + "…";
  return out;
}

}  // namespace

Result<AccessToken> parse_token_answer(std::string_view body, TimePoint received) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return make_error(ErrorCode::upstream_unavailable, "token answer is not a JSON object");
  const auto& o = v.as_object();
  const json::value* tok = o.if_contains("access_token");
  if (tok == nullptr || !tok->is_string() || tok->as_string().empty())
    return make_error(ErrorCode::upstream_unavailable, "token answer has no access_token");
  if (const json::value* tt = o.if_contains("token_type");
      tt != nullptr &&
      (!tt->is_string() || (tt->as_string() != "Bearer" && tt->as_string() != "bearer")))
    return make_error(ErrorCode::upstream_unavailable,
                      "token answer has a token_type other than Bearer");

  AccessToken t;
  t.value = std::string(tok->as_string());
  if (auto in = as_int(o.if_contains("expires_in"))) {
    if (*in <= 0 || Seconds(*in) > kMaxTokenLifetime)
      return make_error(ErrorCode::upstream_unavailable,
                        "token answer has an absurd expires_in of " + std::to_string(*in) + "s");
    t.expires_at = received + Seconds(*in);
  } else if (auto on = as_int(o.if_contains("expires_on"))) {
    TimePoint at = from_unix_seconds(*on);
    if (at <= received || at - received > kMaxTokenLifetime)
      return make_error(ErrorCode::upstream_unavailable,
                        "token answer has an expires_on in the past or more than a day ahead");
    t.expires_at = at;
  } else {
    return make_error(ErrorCode::upstream_unavailable,
                      "token answer has neither expires_in nor expires_on");
  }
  if (auto r = as_int(o.if_contains("refresh_in"));
      // Bounded first: a huge refresh_in overflowed the clock (found by tests/fuzz).
      r && *r > 0 && Seconds(*r) < kMaxTokenLifetime && received + Seconds(*r) < t.expires_at)
    t.refresh_in = Seconds(*r);
  return t;
}

Error token_endpoint_error(const HttpResponse& response, std::string_view what) {
  std::string detail;
  boost::system::error_code ec;
  json::value v = json::parse(response.body, ec);
  if (!ec && v.is_object()) {
    const auto& o = v.as_object();
    const json::value* code = o.if_contains("error");
    const json::value* desc = o.if_contains("error_description");
    if (code != nullptr && code->is_string()) detail = std::string(code->as_string());
    if (desc != nullptr && desc->is_string()) {
      if (!detail.empty()) detail += ": ";
      detail += first_line(desc->as_string());
    } else if (const json::value* msg = o.if_contains("message");
               msg != nullptr && msg->is_string()) {
      if (!detail.empty()) detail += ": ";
      detail += first_line(msg->as_string());
    }
  }
  if (detail.empty()) detail = "no error details in the answer";
  Error e = make_error(
      ErrorCode::upstream_unavailable,
      std::string(what) + " failed with HTTP " + std::to_string(response.status) + ": " + detail);
  e.upstream_status = response.status;
  e.retry_after = response.retry_after();
  return e;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += percent_encode(k, "-_.~");
    out += '=';
    out += percent_encode(v, "-_.~");
  }
  return out;
}

std::string normalize_resource(std::string_view resource) {
  while (!resource.empty() && resource.back() == '/') resource.remove_suffix(1);
  return std::string(resource);
}

std::string scope_for_resource(std::string_view resource) {
  return normalize_resource(resource) + "/.default";
}

}  // namespace dbx
