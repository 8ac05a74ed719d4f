/* segmap: scope-bound cleanup.
 *
 * CLEANUP_FREE frees a pointer when it goes out of scope; set it to NULL
 * to hand ownership away.  ACQUIRE_LOCK_FOR_CURRENT_SCOPE holds a mutex
 * until the end of the enclosing block; open a bare { } block to narrow
 * it.  These need GCC or Clang (__attribute__((cleanup))).
 */
#ifndef SEGMAP_CLEANUP_H
#define SEGMAP_CLEANUP_H

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
sm_cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}
#define CLEANUP_FREE __attribute__ ((cleanup (sm_cleanup_free)))

static inline void
sm_cleanup_close (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define CLEANUP_CLOSE __attribute__ ((cleanup (sm_cleanup_close)))

static inline void
sm_cleanup_unlock (pthread_mutex_t **ptr)
{
  pthread_mutex_unlock (*ptr);
}

#define SM_CONCAT_(a, b) a##b
#define SM_CONCAT(a, b) SM_CONCAT_ (a, b)
#define SM_UNIQUE(name) SM_CONCAT (name, __LINE__)

#define ACQUIRE_LOCK_FOR_CURRENT_SCOPE(mutex)                            \
  __attribute__ ((cleanup (sm_cleanup_unlock)))                          \
  pthread_mutex_t *SM_UNIQUE (_lock) = (mutex);                          \
  pthread_mutex_lock (SM_UNIQUE (_lock))

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

#endif /* SEGMAP_CLEANUP_H */
