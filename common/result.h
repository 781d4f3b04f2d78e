// Result<T>: a value or an Error, used across the engine instead of exceptions (STYLE.md habit 6).
// Error codes are the socket API's error codes (SPEC.md); the message is for users and never holds
// a secret.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace dbx {

enum class ErrorCode {
  bad_request,           // 400: the caller asked for something impossible
  forbidden,             // 403: the caller's uid is not in the workspace's `allow`
  not_found,             // 404: no such workspace or path
  quota_exhausted,       // 429/503: PAT quota reached
  upstream_unavailable,  // 502/503: Entra ID, ARM or Databricks failed or timed out
  rate_limited,          // 429 with Retry-After: this caller asked too often (per-uid bucket)
  internal,              // 500: a bug or a local failure (disk, ledger)
};

std::string_view to_string(ErrorCode code);
int http_status(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;  // one line, says what failed and what to do; never a secret
  // Set when the upstream asked us to wait (Retry-After); the engine must not call it earlier.
  std::optional<std::chrono::seconds> retry_after;
  // HTTP status of the upstream answer that caused this error, 0 if none (connection failure).
  int upstream_status = 0;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message), std::nullopt, 0};
}

// A value or an error of type E; Result<T> below is the engine's, the CLI uses its own E.
template <class T, class E>
class [[nodiscard]] BasicResult {
 public:
  BasicResult(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  BasicResult(E error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

template <class T>
using Result = BasicResult<T, Error>;

// A Result with no value.
using Status = Result<std::monostate>;
inline Status ok_status() {
  return Status(std::monostate{});
}

}  // namespace dbx
