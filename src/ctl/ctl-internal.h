/* segmap: control socket server internals shared by ctl-server.c and
 * ctl-conn.c.  Not for use outside src/ctl/.
 *
 * Lifetime of a connection:
 *
 *   accept_thread: accept -> SO_PEERCRED ok? -> below the limit?
 *                    -> struct ctl_conn linked into server->conns,
 *                       nr_active++, thread started
 *   conn thread:   serve lines until EOF, error, idle timeout, an
 *                  oversized line or stop -> close fd -> done = true,
 *                  nr_active--
 *   reaping:       the accept thread (before each new connection) and
 *                  ctl_server_stop join threads whose done is set and
 *                  free their struct ctl_conn.
 *
 * stop_fd is an eventfd written once by ctl_server_stop and never read:
 * it stays readable, so every thread polling it wakes and stays woken.
 */
#ifndef SEGMAP_CTL_INTERNAL_H
#define SEGMAP_CTL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ctl/ctl-server.h"

struct ctl_conn;

struct ctl_server {
  char *path;
  int listen_fd;
  int stop_fd;                  /* eventfd, readable once stopping */
  dev_t dev;                    /* identity of the socket file we made, */
  ino_t ino;                    /* so stop never unlinks someone else's */
  ctl_dispatch_fn fn;
  void *opaque;
  unsigned max_connections;
  int idle_timeout_ms;
  pthread_t accept_thread;       /* running once serving */
  bool serving;

  pthread_mutex_t lock;
  struct ctl_conn *conns;       /* protected by lock */
  unsigned nr_active;           /* protected by lock: conns not yet done */
};

struct ctl_conn {
  struct ctl_server *server;
  int fd;                       /* owned by the connection thread */
  uid_t uid;                    /* peer credentials, for debug messages */
  pid_t pid;
  pthread_t thread;
  bool done;                    /* protected by server->lock */
  struct ctl_conn *next;        /* protected by server->lock */
};

/* ctl-conn.c */

/* Thread body for one connection: serve it, close it, mark it done. */
void *ctl_conn_thread (void *conn);

/* Send one failure line without blocking (best effort), for refusing
 * a connection before it gets a thread. */
void ctl_send_refusal (int fd, const char *message);

#endif /* SEGMAP_CTL_INTERNAL_H */
