/* segmap: error and debug reporting for libsegmap.
 *
 * One convention for the whole library: a function that fails reports
 * *why* through sm_error() (printf-like, %m works, errno is preserved)
 * and returns -1 or NULL.  The caller decides what to do with the
 * failure; it never prints again.
 *
 * Where the message goes is decided once by the process: inside nbdkit
 * the plugin installs nbdkit_verror / nbdkit_vdebug as the sinks, so
 * messages reach nbdkit's log; segmapctl and the unit tests keep the
 * default sink, stderr.  sm_debug() is silent unless enabled
 * (SEGMAP_DEBUG=1 in the environment, or nbdkit -v through the plugin).
 */
#ifndef SEGMAP_ERRORS_H
#define SEGMAP_ERRORS_H

#include <stdarg.h>
#include <stdbool.h>

typedef void (*sm_log_sink) (const char *fmt, va_list args);

/* Report an error.  Preserves errno. */
void sm_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Debug message, only when debugging is enabled.  Preserves errno. */
void sm_debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* The last message sm_error() formatted on this thread ("" if none), so
 * a caller that answers a remote client (the control socket) can pass
 * the reason on instead of "see the log". */
const char *sm_last_error (void);

/* Install the sinks (NULL restores the stderr default). */
void sm_set_log_sinks (sm_log_sink error_sink, sm_log_sink debug_sink);

/* Turn debug messages on or off (default: $SEGMAP_DEBUG set and not "0"). */
void sm_set_debug (bool on);
bool sm_debug_enabled (void);

#endif /* SEGMAP_ERRORS_H */
