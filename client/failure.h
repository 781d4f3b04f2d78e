// What a CLI step can end in besides success: an exit code (SPEC.md "CLI") and one line for stderr.
// The CLI's Expected<T> carries a Failure (exit code), where dbx::Result carries socket-API codes.
#pragma once

#include <string>
#include <utility>

#include "common/result.h"

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
using Expected = BasicResult<T, Failure>;

}  // namespace dbx::cli
