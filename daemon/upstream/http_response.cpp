#include <strings.h>

#include <algorithm>
#include <cstdint>

#include "daemon/upstream/transport.h"

namespace dbx {

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return std::nullopt;
}

std::optional<Seconds> HttpResponse::retry_after() const {
  auto h = header("Retry-After");
  if (!h || h->empty() || h->size() > 9) return std::nullopt;
  for (char c : *h)
    if (c < '0' || c > '9') return std::nullopt;
  // An hour is longer than any upstream asks for; a larger value would park a credential for good.
  constexpr std::int64_t kMaxRetryAfter = 3600;
  return Seconds(std::min<std::int64_t>(std::stoll(*h), kMaxRetryAfter));
}

}  // namespace dbx
