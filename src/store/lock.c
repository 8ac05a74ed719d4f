/* segmap: process locks (see lock.h).
 *
 * The registry is a short list (one state directory, one database, a
 * few containers) under one mutex.  An entry is found by the device
 * and inode of the file, so two paths to one file (a symlink, a
 * relative path) are the same lock.  An entry's descriptor is the one
 * holding the flock; nothing else ever reads or writes through it,
 * except the pid of a pid file.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "store/lock.h"

struct held_lock {
  dev_t dev;
  ino_t ino;
  int fd;
  bool pidfile;
  pid_t pid;                    /* the pid last written (pid files) */
  struct held_lock *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct held_lock *held;  /* protected by lock */

static struct held_lock *
find (dev_t dev, ino_t ino)
{
  for (struct held_lock *h = held; h; h = h->next)
    if (h->dev == dev && h->ino == ino)
      return h;
  return NULL;
}

/* Replace the pid file's contents with our pid.  Best effort: the lock
 * is what protects; the pid is for the message of the refused. */
static void
write_pid (struct held_lock *h)
{
  char buf[32];
  int len = snprintf (buf, sizeof buf, "%ld\n", (long) getpid ());

  if (ftruncate (h->fd, 0) == -1 || pwrite (h->fd, buf, len, 0) != len)
    sm_debug ("lock: cannot write the pid: %m");
  h->pid = getpid ();
}

static pid_t
read_pid (int fd)
{
  char buf[32];
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);

  if (n <= 0)
    return 0;
  buf[n] = '\0';
  return (pid_t) atol (buf);
}

/* Does process PID have a descriptor open on the file ST? */
static bool
process_has_open (const char *pid, const struct stat *st)
{
  char dir[320], fdpath[640];
  struct dirent *d;
  struct stat fst;
  DIR *fds;
  bool found = false;

  snprintf (dir, sizeof dir, "/proc/%s/fd", pid);
  fds = opendir (dir);
  if (fds == NULL)
    return false;
  while (!found && (d = readdir (fds)) != NULL) {
    if (d->d_name[0] == '.')
      continue;
    snprintf (fdpath, sizeof fdpath, "%s/%s", dir, d->d_name);
    found = stat (fdpath, &fst) == 0 && fst.st_dev == st->st_dev &&
      fst.st_ino == st->st_ino && fst.st_rdev == st->st_rdev;
  }
  closedir (fds);
  return found;
}

pid_t
sm_lock_holder (const char *path)
{
  struct stat st;
  struct dirent *d;
  DIR *proc;
  pid_t self = getpid (), pid = 0;

  if (stat (path, &st) == -1 || (proc = opendir ("/proc")) == NULL)
    return 0;
  while (pid == 0 && (d = readdir (proc)) != NULL) {
    pid_t p = (pid_t) atol (d->d_name);
    if (p > 0 && p != self && process_has_open (d->d_name, &st))
      pid = p;
  }
  closedir (proc);
  return pid;
}

/* The message of a refused lock. */
static void
refuse (const char *path, const char *what, int fd, bool pidfile)
{
  pid_t pid = pidfile ? read_pid (fd) : 0;
  int err = errno;

  if (pid <= 0 || kill (pid, 0) == -1)
    pid = sm_lock_holder (path);
  if (pid > 0)
    sm_error ("%s: %s is locked by another process (pid %ld): only one "
              "segmap server may use a state directory, database or "
              "container", what, path, (long) pid);
  else
    sm_error ("%s: %s is locked by another process: only one segmap "
              "server may use a state directory, database or container",
              what, path);
  errno = err;
}

/* Take the flock on the new descriptor FD of ST and register it.  The
 * descriptor is the registry's from then on (or closed on failure). */
static int
take_new (const char *path, const char *what, unsigned flags, int fd,
          const struct stat *st)
{
  struct held_lock *h;

  if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
    if (errno == EWOULDBLOCK)
      refuse (path, what, fd, (flags & SM_LOCK_PIDFILE) == SM_LOCK_PIDFILE);
    else
      sm_error ("%s: %s: flock: %m", what, path);
    close (fd);
    return -1;
  }
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    sm_error ("%s: %s: calloc: %m", what, path);
    close (fd);
    return -1;
  }
  h->dev = st->st_dev;
  h->ino = st->st_ino;
  h->fd = fd;
  h->pidfile = (flags & SM_LOCK_PIDFILE) == SM_LOCK_PIDFILE;
  if (h->pidfile)
    write_pid (h);
  h->next = held;
  held = h;
  sm_debug ("lock: holding %s: %s", what, path);
  return 0;
}

int
sm_lock_take (const char *path, const char *what, unsigned flags)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  int oflags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  struct held_lock *h;
  struct stat st;
  int fd;

  oflags |= flags & SM_LOCK_CREATE ? O_RDWR | O_CREAT : O_RDONLY;
  fd = open (path, oflags, 0600);
  if (fd == -1) {
    sm_error ("%s: %s: cannot open it to lock it: %m", what, path);
    return -1;
  }
  if (fstat (fd, &st) == -1) {
    sm_error ("%s: %s: fstat: %m", what, path);
    close (fd);
    return -1;
  }
  h = find (st.st_dev, st.st_ino);
  if (h == NULL)
    return take_new (path, what, flags, fd, &st);
  close (fd);
  if (h->pidfile && h->pid != getpid ())
    write_pid (h);              /* taken again after a fork */
  return 0;
}

void
sm_lock_release (const char *path)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  struct held_lock **pp, *h;
  struct stat st;

  if (stat (path, &st) == -1)
    return;
  for (pp = &held; (h = *pp) != NULL; pp = &h->next) {
    if (h->dev == st.st_dev && h->ino == st.st_ino) {
      *pp = h->next;
      close (h->fd);
      free (h);
      return;
    }
  }
}

void
sm_lock_release_all (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);

  while (held) {
    struct held_lock *h = held;
    held = h->next;
    close (h->fd);
    free (h);
  }
}
