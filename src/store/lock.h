/* segmap: process locks — one server per state directory, database and
 * container.
 *
 * A lock is an exclusive flock(2) on the file itself, taken on a file
 * descriptor of its own that this module keeps open for the life of
 * the process (or until sm_lock_release).  Why a registry of our own
 * descriptors rather than a flock on whatever descriptor opened the
 * file:
 *
 *   - a flock belongs to an open file description: a second flock from
 *     another descriptor of the same process conflicts with the first,
 *     so code that opens its own handle of a locked file (an agent
 *     attaching a container) must not lock, and the lock must not
 *     depend on that handle staying open;
 *   - the nbdkit plugin checks the state before nbdkit forks into the
 *     background (preflight: open, check, close) and opens it for real
 *     after the fork; the lock taken in preflight must cover the gap.
 *     The descriptor is inherited by the child, so the lock survives
 *     the fork, and taking it again (same device and inode, by any
 *     path) finds it here and succeeds.
 *
 * The lock dies with the process (also on kill -9): a stale lock never
 * blocks a restart.  A lock file taken with SM_LOCK_PIDFILE holds the
 * holder's pid, rewritten when a lock is taken again after a fork.  On
 * a conflict the message names the file and the holder's pid (from the
 * pid file, else from the processes that have the file open).
 */
#ifndef SEGMAP_LOCK_H
#define SEGMAP_LOCK_H

#include <sys/types.h>

/* Flags of sm_lock_take. */
#define SM_LOCK_CREATE  1u      /* create PATH (mode 0600) if missing */
#define SM_LOCK_PIDFILE 3u      /* create it and keep our pid in it */

/* Lock PATH exclusively for the life of the process; WHAT names it in
 * messages ("database", "container c1").  Taking a lock this process
 * already holds succeeds.  0, or -1 with errno (EWOULDBLOCK: another
 * process holds it) and sm_error naming PATH and the holder's pid. */
int sm_lock_take (const char *path, const char *what, unsigned flags);

/* Drop the lock on PATH if this process holds it (a container removed
 * from the server).  Never used for the database: closing any
 * descriptor of it would drop SQLite's own POSIX locks. */
void sm_lock_release (const char *path);

/* Release every lock (the process is about to exit).  The registry
 * lives in the plugin, which nbdkit unloads before the process exits,
 * so what it still holds is freed here rather than left behind. */
void sm_lock_release_all (void);

/* The pid of another process that has PATH open, 0 if none is found. */
pid_t sm_lock_holder (const char *path);

#endif /* SEGMAP_LOCK_H */
