#include "common/result.h"

namespace dbx {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_request:
      return "bad_request";
    case ErrorCode::forbidden:
      return "forbidden";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::quota_exhausted:
      return "quota_exhausted";
    case ErrorCode::upstream_unavailable:
      return "upstream_unavailable";
    case ErrorCode::rate_limited:
      return "rate_limited";
    case ErrorCode::internal:
      return "internal";
  }
  return "internal";
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_request:
      return 400;
    case ErrorCode::forbidden:
      return 403;
    case ErrorCode::not_found:
      return 404;
    case ErrorCode::quota_exhausted:
      return 429;
    case ErrorCode::upstream_unavailable:
      return 503;
    case ErrorCode::rate_limited:
      return 429;
    case ErrorCode::internal:
      return 500;
  }
  return 500;
}

}  // namespace dbx
