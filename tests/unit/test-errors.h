/* segmap: capture of sm_error messages for unit tests that check what
 * was logged (thread-safe: messages may come from any thread).
 *
 *   sm_set_log_sinks (test_capture_error, NULL);
 *   ...
 *   ck_assert (test_errors_have ("refused"));
 */
#ifndef SEGMAP_TEST_ERRORS_H
#define SEGMAP_TEST_ERRORS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t test_errors_lock = PTHREAD_MUTEX_INITIALIZER;
static char test_errors[16384];   /* every message, one per line */

static inline void
test_capture_error (const char *fmt, va_list args)
{
  char line[1024];

  vsnprintf (line, sizeof line, fmt, args);
  pthread_mutex_lock (&test_errors_lock);
  if (strlen (test_errors) + strlen (line) + 2 < sizeof test_errors) {
    strcat (test_errors, line);
    strcat (test_errors, "\n");
  }
  pthread_mutex_unlock (&test_errors_lock);
}

static inline bool
test_errors_have (const char *s)
{
  pthread_mutex_lock (&test_errors_lock);
  bool r = strstr (test_errors, s) != NULL;
  pthread_mutex_unlock (&test_errors_lock);
  return r;
}

static inline void
test_errors_clear (void)
{
  pthread_mutex_lock (&test_errors_lock);
  test_errors[0] = '\0';
  pthread_mutex_unlock (&test_errors_lock);
}

#endif /* SEGMAP_TEST_ERRORS_H */
