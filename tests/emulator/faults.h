// Fault injection and request counters, per emulated endpoint. Faults queue up per endpoint: the
// head applies to the next request and is popped once its count is used up; a fault without a
// count stays until cleared.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace emu {

enum class Endpoint {
  aad,
  imds,
  arm,
  token_create,
  token_list,
  token_delete,
  clusters_list,
  oidc_discovery,
  oidc_token,
  scim_me,
  github_oidc,  // the CI OIDC request endpoints (ci_oidc.h)
  azure_devops_oidc
};
inline constexpr std::size_t kEndpointCount = 12;
inline constexpr std::array<std::string_view, kEndpointCount> kEndpointNames = {
    "aad",        "imds",         "arm",           "token_create",
    "token_list", "token_delete", "clusters_list", "oidc_discovery",
    "oidc_token", "scim_me",      "github_oidc",   "azure_devops_oidc"};

std::string_view endpoint_name(Endpoint e);
std::optional<Endpoint> endpoint_from_name(std::string_view name);

struct Fault {
  std::optional<int> status;        // answer this status instead of handling the request
  std::optional<std::string> body;  // with this body (default: the endpoint's error shape)
  std::vector<std::pair<std::string, std::string>> headers;  // added to whatever is answered
  std::int64_t delay_ms = 0;  // wait before handling (other connections go on)
  bool drop = false;          // close the connection without answering (nothing is handled)
  bool malformed = false;     // handle, then answer 200 with the body cut short (invalid JSON)
  std::optional<std::int64_t> remaining;  // requests left; nullopt = until cleared

  // Parses the control API's JSON; nullopt and `error` set when it is not valid.
  static std::optional<std::pair<Endpoint, Fault>> from_json(const boost::json::value& v,
                                                             std::string& error);
  boost::json::value to_json() const;
};

class FaultTable {
 public:
  void add(Endpoint e, Fault f) { queues_[index(e)].push_back(std::move(f)); }
  void clear();
  // The fault for the next request to `e`, consuming one use of it.
  std::optional<Fault> take(Endpoint e);
  boost::json::value to_json() const;

 private:
  static std::size_t index(Endpoint e) { return static_cast<std::size_t>(e); }
  std::array<std::deque<Fault>, kEndpointCount> queues_;
};

class Counters {
 public:
  // Keeps this many recent timestamps per endpoint, so a benchmark cannot grow memory unbounded.
  static constexpr std::size_t kMaxTimes = 10000;

  void record(Endpoint e, std::int64_t now_ms);
  void reset();
  // {"aad":N,…,"times":{"aad":[ms,…],…}}
  boost::json::value to_json() const;

 private:
  std::array<std::uint64_t, kEndpointCount> counts_{};
  std::array<std::deque<std::int64_t>, kEndpointCount> times_;
};

}  // namespace emu
