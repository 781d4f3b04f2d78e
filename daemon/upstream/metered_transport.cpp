#include "daemon/upstream/metered_transport.h"

#include <algorithm>
#include <chrono>

#include "daemon/upstream/url.h"

namespace dbx {

void UpstreamMetrics::record(const std::string& upstream, const std::string& status,
                             double seconds) {
  ++calls[{upstream, status}];
  Latency& l = latency[upstream];
  seconds = std::max(seconds, 0.0);  // the wall clock may step back during a call
  ++l.count;
  l.sum_seconds += seconds;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      ++l.in_bucket[i];
      break;
    }
  }
}

void MeteredTransport::send(HttpRequest request, HttpCallback done) {
  const TimePoint started = runtime_.now();
  std::string upstream = request.upstream.empty() ? "other" : request.upstream;
  std::string host;
  if (auto u = parse_url(request.url)) host = u->host_header();
  inner_.send(
      std::move(request), [this, started, upstream = std::move(upstream), host = std::move(host),
                           done = std::move(done)](Result<HttpResponse> r) {
        const double seconds = std::chrono::duration<double>(runtime_.now() - started).count();
        metrics_.record(upstream, r ? std::to_string(r->status) : "error", seconds);
        // Databricks answers a full PAT quota with 400 and error_code QUOTA_EXCEEDED
        // (PROTOCOLS.md).
        if (r && r->status == 400 && upstream == "databricks" &&
            r->body.find("QUOTA_EXCEEDED") != std::string::npos)
          ++metrics_.quota_errors[host];
        done(std::move(r));
      });
}

}  // namespace dbx
