// ceil() for the statically linked programs (CMakeLists.txt, dbxcred_static_link): the static
// libstdc++ calls ceil() (its hash tables' bucket counts) and nothing else of libm, and glibc's
// libm.a cannot go into a dynamic executable. The link redirects those calls here
// (-Wl,--wrap=ceil), so libm.so, 0.3 MiB of mapped pages in every process, is never loaded.
#pragma once

extern "C" double __wrap_ceil(double x);  // NOLINT(bugprone-reserved-identifier): ld's --wrap name
