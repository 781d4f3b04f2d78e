// LatencyHistogram: a log-linear histogram of nanosecond latencies (HdrHistogram's layout, ~0.8%
// precision from 1 ns to hours) with no allocation per sample, for the load generator.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dbx::bench {

class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}

  void record(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }
  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  // The value at quantile q (0..1): the middle of the bucket holding the q-th sample.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return (lower(i) + lower(i + 1)) / 2;
    }
    return max_;
  }

 private:
  // Values below kSub are exact; above, each power of two is split into kHalf buckets.
  static constexpr std::uint64_t kSub = 256;
  static constexpr std::uint64_t kHalf = kSub / 2;
  static constexpr int kSubBits = 8;  // log2(kSub)
  static constexpr std::size_t kBuckets = kSub + (64 - kSubBits + 1) * kHalf;

  static std::size_t index(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - (kSubBits - 1);  // v >> shift lies in [kHalf, kSub)
    return static_cast<std::size_t>(kSub + static_cast<std::uint64_t>(shift - 1) * kHalf +
                                    ((v >> shift) - kHalf));
  }
  static std::uint64_t lower(std::size_t i) {
    if (i < kSub) return i;
    const std::uint64_t k = i - kSub;
    const std::uint64_t shift = k / kHalf + 1;
    return (k % kHalf + kHalf) << shift;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace dbx::bench
