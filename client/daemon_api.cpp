#include "client/daemon_api.h"

#include <boost/json/parse.hpp>

#include "common/encoding.h"

namespace dbx::cli {

namespace {

std::optional<boost::json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

}  // namespace

Exit exit_for_error(int http_status, std::string_view error_code) {
  if (error_code == "forbidden" || error_code == "not_found") return Exit::denied;
  if (error_code == "quota_exhausted" || error_code == "rate_limited" ||
      error_code == "upstream_unavailable")
    return Exit::upstream;
  if (error_code == "bad_request" || error_code == "internal") return Exit::failure;
  switch (http_status) {
    case 403:
    case 404:
      return Exit::denied;
    case 429:
    case 502:
    case 503:
    case 504:
      return Exit::upstream;
    default:
      return Exit::failure;
  }
}

Failure failure_from_response(const HttpResponse& response) {
  std::string code;
  std::string message;
  if (auto body = parse_object(response.body)) {
    if (auto* error = body->if_contains("error"); error && error->is_object()) {
      const auto& e = error->as_object();
      if (auto* c = e.if_contains("code"); c && c->is_string()) code = c->as_string();
      if (auto* m = e.if_contains("message"); m && m->is_string())
        message = one_line(m->as_string());
    }
  }
  if (message.empty()) {
    message = "dbxcredd answered HTTP " + std::to_string(response.status);
    if (!code.empty()) message += " (" + one_line(code) + ")";
  }
  return Failure{exit_for_error(response.status, code), std::move(message)};
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
    } else if (u < 0x20 || u == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string encode_path_segment(std::string_view segment) {
  return percent_encode(segment, "-_.~");  // RFC 3986's unreserved characters stay
}

Expected<boost::json::object> DaemonApi::get_object(std::string_view target) const {
  return object_of(target, fetch_(target));
}

Expected<boost::json::object> DaemonApi::post_object(std::string_view target) const {
  if (!post_) return Failure{Exit::failure, "internal error: no POST transport"};
  return object_of(target, post_(target));
}

Expected<boost::json::object> DaemonApi::object_of(std::string_view target,
                                                   Expected<HttpResponse> response) const {
  if (!response) return response.error();
  if (response->status < 200 || response->status > 299) return failure_from_response(*response);
  auto body = parse_object(response->body);
  if (!body) {
    // Never echo the body: on a token endpoint it may hold a secret.
    return Failure{Exit::failure, "dbxcredd sent an answer to " + std::string(target) +
                                      " that is not a JSON object"};
  }
  return std::move(*body);
}

}  // namespace dbx::cli
