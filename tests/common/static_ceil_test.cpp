#include "common/static_ceil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace {

// libm's ceil (this test links it) is the reference, bit for bit, sign of zero included.
void expect_same(double x) {
  const double want = std::ceil(x);
  const double got = __wrap_ceil(x);
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << x;
    return;
  }
  EXPECT_EQ(got, want) << "ceil(" << x << ")";
  EXPECT_EQ(std::signbit(got), std::signbit(want)) << "sign of ceil(" << x << ")";
}

TEST(StaticCeil, EdgesMatchLibm) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> edges{0.0,
                                  -0.0,
                                  0.5,
                                  -0.5,
                                  1.0,
                                  -1.0,
                                  1.5,
                                  -1.5,
                                  2.0,
                                  0.999999999,
                                  -0.999999999,
                                  1e-300,
                                  -1e-300,
                                  std::numeric_limits<double>::denorm_min(),
                                  -std::numeric_limits<double>::denorm_min(),
                                  4503599627370495.5,
                                  -4503599627370495.5,
                                  4503599627370496.0,
                                  4503599627370497.0,
                                  9007199254740993.0,
                                  1e300,
                                  -1e300,
                                  inf,
                                  -inf,
                                  std::numeric_limits<double>::quiet_NaN()};
  for (double x : edges) expect_same(x);
}

TEST(StaticCeil, RandomValuesMatchLibm) {
  std::mt19937_64 rng(20261202);
  std::uniform_real_distribution<double> small(-1e6, 1e6);
  std::uniform_real_distribution<double> large(-1e17, 1e17);
  for (int i = 0; i < 100000; ++i) {
    expect_same(small(rng));
    expect_same(large(rng));
  }
}

}  // namespace
