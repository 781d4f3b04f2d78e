#include "common/static_ceil.h"

#include <cmath>

extern "C" double __wrap_ceil(double x) {  // NOLINT(bugprone-reserved-identifier)
  // NaN, infinities and every |x| >= 2^52 are integers already (or not numbers): as they are.
  if (!(std::fabs(x) < 4503599627370496.0)) return x;
  // Truncation toward zero is exact in this range; one up if that went below x. The sign is x's,
  // so that ceil(-0.5) is -0.0, as in libm.
  double t = static_cast<double>(static_cast<long long>(x));
  if (t < x) t += 1.0;
  return std::copysign(t, x);
}
