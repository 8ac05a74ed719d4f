/* segmap: helpers shared by the libcheck unit tests. */
#ifndef SEGMAP_TEST_UTIL_H
#define SEGMAP_TEST_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <check.h>

/* Run every test of S (CK_FORK as the environment says); the exit
 * status for main. */
static inline int
sm_test_run (Suite *s)
{
  SRunner *sr = srunner_create (s);
  int failed;

  srunner_run_all (sr, CK_ENV);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static inline uint64_t
sm_test_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * UINT64_C(1000) + ts.tv_nsec / 1000000;
}

static inline void
sm_test_sleep_ms (unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000,
                         .tv_nsec = (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

#endif /* SEGMAP_TEST_UTIL_H */
