/* segmap: the monotonic clock in milliseconds, for intervals (pacing,
 * commit delays).  Never wall-clock time. */
#ifndef SEGMAP_CLOCK_H
#define SEGMAP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
sm_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

#endif /* SEGMAP_CLOCK_H */
