// The socket API as the CLI sees it (SPEC.md "Socket API"): building request targets, turning
// non-2xx answers into exit codes and one-line messages, and parsing JSON bodies. The transport is
// a function, so commands are tested against canned answers without a socket.
#pragma once

#include <boost/json/value.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "client/failure.h"
#include "client/http_response.h"

namespace dbx::cli {

// Sends GET `target` (e.g. "/v1/status") and returns the answer, whatever its status.
using Fetch = std::function<Expected<HttpResponse>(std::string_view target)>;

// Exit code for a non-2xx answer. The daemon's error code decides where it is known, since 503 is
// either a quota or an upstream failure; the HTTP status decides otherwise.
Exit exit_for_error(int http_status, std::string_view error_code);

// The Failure for a non-2xx answer: the daemon's own message from {"error":{"code","message"}},
// else a generic line naming the status.
Failure failure_from_response(const HttpResponse& response);

// Makes text from the daemon safe to print as one terminal line: control characters (including
// newlines and escape sequences) become spaces or '?'.
std::string one_line(std::string_view text);

// Percent-encodes a path segment (workspace names come from users).
std::string encode_path_segment(std::string_view segment);

class DaemonApi {
 public:
  // `post` sends POST `target` (empty body); without one, post_object() fails.
  explicit DaemonApi(Fetch fetch, Fetch post = nullptr)
      : fetch_(std::move(fetch)), post_(std::move(post)) {}

  // GETs `target` and returns its JSON body; a non-2xx answer, or a body that is not a JSON
  // object, is a Failure.
  Expected<boost::json::object> get_object(std::string_view target) const;
  // The same for POST.
  Expected<boost::json::object> post_object(std::string_view target) const;

 private:
  Expected<boost::json::object> object_of(std::string_view target,
                                          Expected<HttpResponse> response) const;
  Fetch fetch_;
  Fetch post_;
};

}  // namespace dbx::cli
