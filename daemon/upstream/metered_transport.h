// MeteredTransport: a Transport decorator that counts every upstream call for /metrics — by
// upstream and HTTP status ("error" when no answer arrived), a latency histogram per upstream, and
// Databricks quota refusals (QUOTA_EXCEEDED) per workspace host. It sees bodies only to spot the
// quota error code; it never keeps or logs them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

struct UpstreamMetrics {
  // Upper bounds (seconds) of the latency buckets: token endpoints answer in 50-500 ms, a
  // throttled or far-away one in seconds; the last finite bucket is the default request deadline.
  static constexpr std::array<double, 11> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1.0,  2.5,   5.0,  15.0};
  struct Latency {
    std::array<std::uint64_t, kLatencyBuckets.size()> in_bucket{};  // not cumulative
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };
  // (upstream, status) -> calls; status is the HTTP status or "error".
  std::map<std::pair<std::string, std::string>, std::uint64_t> calls;
  std::map<std::string, Latency> latency;  // by upstream
  // Databricks token/create refused for quota (QUOTA_EXCEEDED), by workspace host.
  std::map<std::string, std::uint64_t> quota_errors;

  void record(const std::string& upstream, const std::string& status, double seconds);
};

class MeteredTransport : public Transport {
 public:
  MeteredTransport(Transport& inner, Runtime& runtime, UpstreamMetrics& metrics)
      : inner_(inner), runtime_(runtime), metrics_(metrics) {}

  void send(HttpRequest request, HttpCallback done) override;

 private:
  Transport& inner_;
  Runtime& runtime_;
  UpstreamMetrics& metrics_;
};

}  // namespace dbx
