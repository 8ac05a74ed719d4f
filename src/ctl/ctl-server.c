/* segmap: control socket server: the socket file, accepting, threads.
 *
 * Socket file: before binding, an existing PATH is probed with a
 * connect().  Refused means a stale file left by a process that died:
 * it is removed.  Accepted (or a full backlog) means a live server: we
 * fail with "another segmap is using PATH".  A file that is not a socket
 * is never removed.  After bind the file is chmod 0600; the window
 * before that is covered by the SO_PEERCRED check every connection goes
 * through (our euid or root, nobody else).  On stop the file is
 * unlinked only if its device/inode are still the ones we created.
 *
 * Bind and serve are separate steps so that a host process that forks
 * into the background (nbdkit) can listen before the fork — a client
 * that connects as soon as the parent returns waits in the backlog
 * instead of failing — and start threads after it.  The listening
 * descriptor survives the fork.
 *
 * Threads (see ctl-internal.h for a connection's life): the accept
 * thread polls the listening socket and the stop eventfd; each accepted
 * and allowed connection gets its own thread, at most max_connections
 * at once, refused politely beyond.  Threads are created with every
 * signal blocked so that signals keep going to the host process's own
 * threads (nbdkit's main loop).
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "ctl/ctl-internal.h"
#include "ctl/ctl-proto.h"

/* Fill a sockaddr_un for PATH; -1 with sm_error if it does not fit. */
static int
make_addr (const char *path, struct sockaddr_un *addr)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen (path) >= sizeof addr->sun_path) {
    sm_error ("control socket path too long (at most %zu bytes): %s",
              sizeof addr->sun_path - 1, path);
    return -1;
  }
  strcpy (addr->sun_path, path);
  return 0;
}

/* Is somebody listening on the socket file PATH?  Returns 1 yes, 0 no
 * (stale), -1 with sm_error when we cannot tell. */
static int
socket_is_live (const char *path, const struct sockaddr_un *addr)
{
  CLEANUP_CLOSE int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
                                 SOCK_NONBLOCK, 0);

  if (fd == -1) {
    sm_error ("socket: %m");
    return -1;
  }
  if (connect (fd, (const struct sockaddr *) addr, sizeof *addr) == 0 ||
      errno == EAGAIN || errno == EINPROGRESS)
    return 1;
  if (errno == ECONNREFUSED)
    return 0;
  sm_error ("%s: cannot tell whether the control socket is in use: %m", path);
  return -1;
}

/* Make PATH free for bind: nothing there, or a stale socket removed. */
static int
clear_path (const char *path, const struct sockaddr_un *addr)
{
  struct stat st;
  int live;

  if (lstat (path, &st) == -1) {
    if (errno == ENOENT)
      return 0;
    sm_error ("%s: %m", path);
    return -1;
  }
  if (!S_ISSOCK (st.st_mode)) {
    sm_error ("%s exists and is not a socket; not replacing it", path);
    return -1;
  }
  live = socket_is_live (path, addr);
  if (live == -1)
    return -1;
  if (live) {
    sm_error ("another segmap is using %s", path);
    return -1;
  }
  if (unlink (path) == -1 && errno != ENOENT) {
    sm_error ("%s: cannot remove the stale control socket: %m", path);
    return -1;
  }
  sm_debug ("ctl: removed stale control socket %s", path);
  return 0;
}

/* Create, bind (mode 0600) and listen on s->path. */
static int
open_listener (struct ctl_server *s)
{
  struct sockaddr_un addr;
  struct stat st;

  if (make_addr (s->path, &addr) == -1 || clear_path (s->path, &addr) == -1)
    return -1;
  s->listen_fd = socket (AF_UNIX,
                         SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd == -1) {
    sm_error ("socket: %m");
    return -1;
  }
  if (bind (s->listen_fd, (struct sockaddr *) &addr, sizeof addr) == -1) {
    if (errno == EADDRINUSE)
      sm_error ("another segmap is using %s", s->path);
    else
      sm_error ("bind: %s: %m", s->path);
    return -1;
  }
  if (chmod (s->path, 0600) == -1 || stat (s->path, &st) == -1 ||
      listen (s->listen_fd, SOMAXCONN) == -1) {
    sm_error ("%s: %m", s->path);
    unlink (s->path);
    return -1;
  }
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  return 0;
}

/* Join and free the connections whose threads have finished; with ALL,
 * every connection (only once the accept thread is gone). */
static void
reap (struct ctl_server *s, bool all)
{
  struct ctl_conn *finished = NULL, **pp, *c;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->lock);
    pp = &s->conns;
    while ((c = *pp) != NULL) {
      if (all || c->done) {
        *pp = c->next;
        c->next = finished;
        finished = c;
      }
      else
        pp = &c->next;
    }
  }
  while ((c = finished) != NULL) {
    finished = c->next;
    pthread_join (c->thread, NULL);
    free (c);
  }
}

/* The peer may talk to us if it runs as our euid or as root. */
static bool
peer_allowed (int fd, struct ucred *cred)
{
  socklen_t len = sizeof *cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, cred, &len) == -1)
    return false;
  return cred->uid == 0 || cred->uid == geteuid ();
}

/* Register a connection and start its thread, under the limit.
 * Returns NULL with a refusal message in *why on failure. */
static struct ctl_conn *
add_conn (struct ctl_server *s, int fd, const struct ucred *cred,
          const char **why)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->lock);
  struct ctl_conn *c;

  *why = "too many connections; try again later";
  if (s->nr_active >= s->max_connections)
    return NULL;
  *why = "the server is out of resources; try again later";
  c = calloc (1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->server = s;
  c->fd = fd;
  c->uid = cred->uid;
  c->pid = cred->pid;
  if (pthread_create (&c->thread, NULL, ctl_conn_thread, c) != 0) {
    free (c);
    return NULL;
  }
  c->next = s->conns;
  s->conns = c;
  s->nr_active++;
  return c;
}

/* Vet a freshly accepted socket and hand it to a connection thread. */
static void
accept_one (struct ctl_server *s, int fd)
{
  struct ucred cred = { .pid = 0, .uid = -1, .gid = -1 };
  const char *why;

  if (!peer_allowed (fd, &cred)) {
    sm_debug ("ctl: refused a connection from uid %d pid %d",
              (int) cred.uid, (int) cred.pid);
    ctl_send_refusal (fd, "permission denied: only the owner of the "
                      "segmap process or root may use its control socket");
    close (fd);
    return;
  }
  reap (s, false);
  if (add_conn (s, fd, &cred, &why) == NULL) {
    sm_debug ("ctl: refused a connection from pid %d: %s",
              (int) cred.pid, why);
    ctl_send_refusal (fd, why);
    close (fd);
  }
}

/* Wait for a connection or stop.  Returns the accepted socket, -1 to
 * try again, -2 when stopping. */
static int
wait_accept (struct ctl_server *s)
{
  struct pollfd fds[2] = {
    { .fd = s->listen_fd, .events = POLLIN },
    { .fd = s->stop_fd, .events = POLLIN },
  };
  int fd;

  if (poll (fds, 2, -1) == -1)
    return -1;
  if (fds[1].revents != 0)
    return -2;
  fd = accept4 (s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd == -1 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
                   errno == ENOBUFS)) {
    /* Out of descriptors: back off instead of spinning on POLLIN. */
    sm_debug ("ctl: accept: %m");
    poll (&fds[1], 1, 100);
  }
  return fd;
}

static void *
accept_thread (void *arg)
{
  struct ctl_server *s = arg;
  int fd;

  pthread_setname_np (pthread_self (), "sm-ctl");
  while ((fd = wait_accept (s)) != -2) {
    if (fd >= 0)
      accept_one (s, fd);
  }
  return NULL;
}

/* Start the accept thread with all signals blocked (connection threads
 * inherit the mask from it). */
static int
start_accept_thread (struct ctl_server *s)
{
  sigset_t all, old;
  int r;

  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  r = pthread_create (&s->accept_thread, NULL, accept_thread, s);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (r != 0) {
    errno = r;
    sm_error ("pthread_create: %m");
    return -1;
  }
  return 0;
}

/* Remove the socket file if it is still the one we created. */
static void
unlink_ours (struct ctl_server *s)
{
  struct stat st;

  if (lstat (s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
    unlink (s->path);
}

/* Free a server whose threads are not running (or never started). */
static void
destroy (struct ctl_server *s, bool bound)
{
  if (s->listen_fd >= 0)
    close (s->listen_fd);
  if (bound)
    unlink_ours (s);
  if (s->stop_fd >= 0)
    close (s->stop_fd);
  pthread_mutex_destroy (&s->lock);
  free (s->path);
  free (s);
}

struct ctl_server *
ctl_server_bind_opts (const char *path, const struct ctl_server_opts *opts)
{
  struct ctl_server *s;

  if (path == NULL || *path == '\0') {
    sm_error ("ctl_server_bind: no socket path");
    return NULL;
  }
  s = calloc (1, sizeof *s);
  if (s == NULL || (s->path = strdup (path)) == NULL) {
    sm_error ("out of memory");
    free (s);
    return NULL;
  }
  s->listen_fd = s->stop_fd = -1;
  s->max_connections = opts && opts->max_connections ?
    opts->max_connections : CTL_MAX_CONNECTIONS;
  s->idle_timeout_ms = opts && opts->idle_timeout_ms > 0 ?
    opts->idle_timeout_ms : CTL_IDLE_TIMEOUT_MS;
  pthread_mutex_init (&s->lock, NULL);

  if (open_listener (s) == -1) {
    destroy (s, false);
    return NULL;
  }
  s->stop_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stop_fd == -1) {
    sm_error ("eventfd: %m");
    destroy (s, true);
    return NULL;
  }
  sm_debug ("ctl: listening on %s", path);
  return s;
}

struct ctl_server *
ctl_server_bind (const char *path)
{
  return ctl_server_bind_opts (path, NULL);
}

int
ctl_server_serve (struct ctl_server *s, ctl_dispatch_fn fn, void *opaque)
{
  if (fn == NULL || s->serving) {
    sm_error ("ctl_server_serve: no dispatch function, or served twice");
    return -1;
  }
  s->fn = fn;
  s->opaque = opaque;
  if (start_accept_thread (s) == -1)
    return -1;
  s->serving = true;
  return 0;
}

struct ctl_server *
ctl_server_start_opts (const char *path, ctl_dispatch_fn fn, void *opaque,
                       const struct ctl_server_opts *opts)
{
  struct ctl_server *s;

  if (fn == NULL) {
    sm_error ("ctl_server_start: no dispatch function");
    return NULL;
  }
  s = ctl_server_bind_opts (path, opts);
  if (s != NULL && ctl_server_serve (s, fn, opaque) == -1) {
    destroy (s, true);
    return NULL;
  }
  return s;
}

struct ctl_server *
ctl_server_start (const char *path, ctl_dispatch_fn fn, void *opaque)
{
  return ctl_server_start_opts (path, fn, opaque, NULL);
}

void
ctl_server_stop (struct ctl_server *s)
{
  uint64_t one = 1;

  if (s == NULL)
    return;
  while (write (s->stop_fd, &one, sizeof one) == -1 && errno == EINTR)
    ;
  if (s->serving)
    pthread_join (s->accept_thread, NULL);
  /* Refuse new clients at once, then wait for the connections. */
  close (s->listen_fd);
  s->listen_fd = -1;
  unlink_ours (s);
  reap (s, true);
  destroy (s, false);
  sm_debug ("ctl: stopped");
}
