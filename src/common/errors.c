/* segmap: error and debug reporting (see errors.h for the convention). */
#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

static sm_log_sink error_sink;  /* NULL: stderr */
static sm_log_sink debug_sink;  /* NULL: stderr */
/* -1: not decided yet, read $SEGMAP_DEBUG.  Atomic: any thread may
 * decide it first (the same answer each time). */
static _Atomic int debug_state = -1;
static __thread char last_error[512];

const char *
sm_last_error (void)
{
  return last_error;
}

static void
stderr_sink (const char *prefix, const char *fmt, va_list args)
{
  fprintf (stderr, "segmap: %s", prefix);
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

void
sm_set_log_sinks (sm_log_sink e, sm_log_sink d)
{
  error_sink = e;
  debug_sink = d;
}

void
sm_set_debug (bool on)
{
  atomic_store_explicit (&debug_state, on, memory_order_relaxed);
}

bool
sm_debug_enabled (void)
{
  int state = atomic_load_explicit (&debug_state, memory_order_relaxed);

  if (state == -1) {
    const char *s = getenv ("SEGMAP_DEBUG");
    state = s != NULL && *s != '\0' && strcmp (s, "0") != 0;
    atomic_store_explicit (&debug_state, state, memory_order_relaxed);
  }
  return state;
}

void
sm_error (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  va_start (args, fmt);
  errno = saved_errno;
  vsnprintf (last_error, sizeof last_error, fmt, args);
  va_end (args);

  va_start (args, fmt);
  errno = saved_errno;          /* so that %m works in the sink */
  if (error_sink)
    error_sink (fmt, args);
  else
    stderr_sink ("error: ", fmt, args);
  va_end (args);
  errno = saved_errno;
}

void
sm_debug (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  if (!sm_debug_enabled ())
    return;
  va_start (args, fmt);
  errno = saved_errno;
  if (debug_sink)
    debug_sink (fmt, args);
  else
    stderr_sink ("debug: ", fmt, args);
  va_end (args);
  errno = saved_errno;
}
