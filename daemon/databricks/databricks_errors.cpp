// Databricks error bodies → Errors. See databricks_errors.h.
#include "daemon/databricks/databricks_errors.h"

#include <boost/json.hpp>
#include <cctype>

namespace dbx::databricks {
namespace json = boost::json;
namespace {

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// A run of token characters this long is an opaque credential, not a word of a message.
constexpr std::size_t kOpaqueRun = 40;

std::string first_line(std::string_view s) {
  const auto nl = s.find_first_of("\r\n");
  std::string out(s.substr(0, nl));
  if (out.size() > kMaxMessageChars) out = out.substr(0, kMaxMessageChars) + "…";
  return out;
}

}  // namespace

std::string redact_secrets(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!token_char(text[i])) {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && token_char(text[j])) ++j;
    const std::string_view word = text.substr(i, j - i);
    const bool secret = (word.rfind("dapi", 0) == 0 && word.size() > 8) ||
                        (word.rfind("eyJ", 0) == 0 && word.size() > 20) ||
                        word.size() >= kOpaqueRun;
    if (secret)
      out += "<redacted>";
    else
      out += word;
    i = j;
  }
  return out;
}

std::optional<ErrorBody> parse_error_body(std::string_view body) {
  if (body.size() > kMaxBodyBytes) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  ErrorBody e;
  if (const auto* code = o.if_contains("error_code")) {
    if (code->is_string())
      e.error_code = std::string(code->as_string());
    else if (code->is_int64())
      e.error_code = std::to_string(code->as_int64());
    else if (code->is_uint64())
      e.error_code = std::to_string(code->as_uint64());
  }
  if (const auto* msg = o.if_contains("message"); msg && msg->is_string())
    e.message = first_line(redact_secrets(msg->as_string()));
  if (e.error_code.empty() && e.message.empty()) return std::nullopt;
  // A code is shown to users and compared: keep it to a plain identifier.
  e.error_code = first_line(redact_secrets(e.error_code));
  return e;
}

std::optional<Seconds> parse_retry_after(const HttpResponse& r) {
  return r.retry_after();
}

bool has_error_code(const HttpResponse& r, std::string_view code) {
  auto b = parse_error_body(r.body);
  return b && b->error_code == code;
}

Error error_from_response(std::string_view host, std::string_view call, const HttpResponse& r) {
  std::string msg = "Databricks " + std::string(call) + " at " + std::string(host) +
                    " failed: HTTP " + std::to_string(r.status);
  ErrorCode code = ErrorCode::upstream_unavailable;
  if (auto b = parse_error_body(r.body)) {
    if (!b->error_code.empty()) msg += " " + b->error_code;
    if (!b->message.empty()) msg += ": " + b->message;
    if (b->error_code == "QUOTA_EXCEEDED") code = ErrorCode::quota_exhausted;
  } else {
    msg += " from " + std::string(host) + " (non-JSON body)";
  }
  if (r.status == 401 || r.status == 403) {
    msg +=
        "; check that the service principal may use this workspace (a workspace user, or "
        "Contributor on the workspace resource with management_token on)";
  }
  Error e = make_error(code, std::move(msg));
  e.upstream_status = r.status;
  if (r.status == 429 || r.status == 503) e.retry_after = parse_retry_after(r);
  return e;
}

Error error_from_transport(std::string_view call, const Error& e) {
  Error out = e;
  out.code = ErrorCode::upstream_unavailable;
  out.message = "Databricks " + std::string(call) + " failed: " + e.message;
  return out;
}

Error malformed_answer(std::string_view host, std::string_view call, int status,
                       std::string_view why) {
  Error e = make_error(ErrorCode::upstream_unavailable,
                       "Databricks " + std::string(call) + " at " + std::string(host) +
                           " gave an answer dbxcred cannot use (HTTP " + std::to_string(status) +
                           ", " + std::string(why) + ")");
  e.upstream_status = status;
  return e;
}

}  // namespace dbx::databricks
