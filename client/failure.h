// What a CLI step can end in besides success: an exit code (SPEC.md "CLI") and one line for stderr.
// The CLI's own Expected<T>, because dbx::Result carries socket-API error codes, not exit codes.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace dbx::cli {

// Exit codes are part of the contract (SPEC.md "CLI"); scripts branch on them.
enum class Exit : int {
  ok = 0,
  failure = 1,      // anything else: a daemon bug (500), a malformed answer, a bad request (400)
  usage = 2,        // bad flags, bad duration, several workspaces and none chosen
  unreachable = 3,  // socket missing, refused, or no answer within the request timeout
  denied = 4,       // 403/404: forbidden or not found, or no workspace available to the caller
  upstream = 5,     // 429/502/503: PAT quota or Entra ID/ARM/Databricks failure
};

inline int to_int(Exit e) {
  return static_cast<int>(e);
}

struct Failure {
  Exit exit = Exit::failure;
  std::string message;  // one line, without the "dbxcred: " prefix; never holds a secret
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Expected(Failure failure) : v_(std::move(failure)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Failure& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Failure> v_;
};

}  // namespace dbx::cli
