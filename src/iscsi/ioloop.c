/* segmap: the target's I/O threads -- one epoll set each.
 *
 * Each I/O thread owns the connections handed to it: it alone reads
 * their sockets, closes them and walks them for timers.  Sources are
 * struct io_source (listening portals, connections and the eventfd that
 * wakes the thread), level-triggered.  Other threads talk to a loop
 * only through its eventfd: a new connection is put on loop->incoming;
 * a close request sets conn->kill; stopping sets loop->stopping.
 *
 * Timers run at least once a second (epoll_wait's timeout): login
 * deadlines and NOP-In pings (nop.c).
 *
 * A connection closed while handling an event stays on loop->conns
 * (state CLOSED, the loop's reference still held) until the end of
 * that epoll batch, so a later event of the same batch never points to
 * freed memory.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

#define EVENTS_MAX 64

uint64_t
iscsi_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * UINT64_C (1000000) + ts.tv_nsec / 1000;
}

uint64_t
iscsi_now_ms (void)
{
  return iscsi_now_us () / 1000;
}

int
ioloop_init (struct ioloop *l, struct iscsi_target *t)
{
  struct epoll_event ev = { .events = EPOLLIN };

  memset (l, 0, sizeof *l);
  l->t = t;
  l->wakefd = -1;
  pthread_mutex_init (&l->lock, NULL);
  l->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (l->epfd == -1) {
    sm_error ("iscsi: epoll_create1: %m");
    return -1;
  }
  l->wakefd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->wakefd == -1) {
    sm_error ("iscsi: eventfd: %m");
    return -1;
  }
  l->wake_src.kind = IO_WAKE;
  ev.data.ptr = &l->wake_src;
  if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) == -1) {
    sm_error ("iscsi: epoll_ctl: %m");
    return -1;
  }
  return 0;
}

void
ioloop_wake (struct ioloop *l)
{
  uint64_t one = 1;

  if (write (l->wakefd, &one, sizeof one) == -1 && errno != EAGAIN)
    sm_debug ("iscsi: eventfd write: %m");
}

void
ioloop_add_conn (struct ioloop *l, struct iscsi_conn *c)
{
  c->loop = l;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&l->lock);
    c->loop_next = l->incoming;
    l->incoming = c;
  }
  ioloop_wake (l);
}

int
ioloop_add_listener (struct ioloop *l, struct portal *p)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &p->src };

  p->src.kind = IO_LISTENER;
  if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, p->fd, &ev) == -1) {
    sm_error ("iscsi: epoll_ctl (listener): %m");
    return -1;
  }
  return 0;
}

/* Register the connections handed over since the last time. */
static void
take_incoming (struct ioloop *l)
{
  struct iscsi_conn *c, *next;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&l->lock);
    c = l->incoming;
    l->incoming = NULL;
  }
  for (; c != NULL; c = next) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
                              .data.ptr = &c->src };

    next = c->loop_next;
    c->loop_next = l->conns;
    l->conns = c;
    c->last_rx = iscsi_now_ms ();
    c->login_deadline = c->last_rx + ISCSI_LOGIN_TIMEOUT * 1000;
    if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
      sm_error ("iscsi: epoll_ctl (connection): %m");
      conn_close (c, "cannot watch the socket");
    }
  }
}

/* Close requests and timers of one connection. */
static void
check_conn (struct iscsi_conn *c, uint64_t now, bool tick)
{
  if (c->state == CONN_CLOSED)
    return;
  if (atomic_load (&c->kill)) {
    conn_close (c, "close requested");
    return;
  }
  if (atomic_load (&c->close_after_flush)) {
    bool empty;

    {
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->send_lock);
      empty = c->outq == NULL;
    }
    if (empty) {
      conn_close (c, "answered, closing");
      return;
    }
  }
  if (!tick)
    return;
  if (c->state == CONN_LOGIN && now >= c->login_deadline) {
    conn_close (c, "login timeout");
    return;
  }
  nop_tick (c, now);
}

static void
check_all (struct ioloop *l, bool tick)
{
  uint64_t now = iscsi_now_ms ();
  struct iscsi_conn *c;

  for (c = l->conns; c != NULL; c = c->loop_next)
    check_conn (c, now, tick);
}

/* Drop the loop's reference of the connections closed. */
static void
reap (struct ioloop *l)
{
  struct iscsi_conn **pp = &l->conns;

  l->reap = false;
  while (*pp != NULL) {
    struct iscsi_conn *c = *pp;

    if (c->state == CONN_CLOSED) {
      *pp = c->loop_next;
      conn_unref (c);
    }
    else
      pp = &c->loop_next;
  }
}

static void
on_event (struct ioloop *l, const struct epoll_event *ev, bool *woken)
{
  struct io_source *src = ev->data.ptr;
  struct iscsi_conn *c;
  uint64_t n;

  switch (src->kind) {
  case IO_WAKE:
    if (read (l->wakefd, &n, sizeof n) == -1 && errno != EAGAIN)
      sm_debug ("iscsi: eventfd read: %m");
    *woken = true;
    break;
  case IO_LISTENER:
    server_accept (l->t, (struct portal *) src);
    break;
  case IO_CONN:
    c = (struct iscsi_conn *) src;
    if (c->state == CONN_CLOSED)
      break;
    if (ev->events & EPOLLOUT)
      conn_on_writable (c);
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
      conn_on_readable (c);
    check_conn (c, 0, false);
    break;
  }
}

static void *
ioloop_thread (void *arg)
{
  struct ioloop *l = arg;
  struct epoll_event evs[EVENTS_MAX];

  pthread_setname_np (pthread_self (), "sm-iscsi-io");
  l->last_tick = iscsi_now_ms ();
  while (!atomic_load (&l->stopping)) {
    int i, n = epoll_wait (l->epfd, evs, EVENTS_MAX, 1000);
    bool woken = false;
    uint64_t now;

    if (n == -1 && errno != EINTR) {
      sm_error ("iscsi: epoll_wait: %m");
      break;
    }
    for (i = 0; i < n; i++)
      on_event (l, &evs[i], &woken);
    if (woken)
      take_incoming (l);
    now = iscsi_now_ms ();
    if (woken || now - l->last_tick >= 1000) {
      bool tick = now - l->last_tick >= 1000;

      if (tick)
        l->last_tick = now;
      check_all (l, tick);
    }
    if (l->reap)
      reap (l);
  }
  /* Stopping: close everything this loop owns. */
  take_incoming (l);
  {
    struct iscsi_conn *c;

    for (c = l->conns; c != NULL; c = c->loop_next)
      conn_close (c, "target stopping");
  }
  reap (l);
  return NULL;
}

int
ioloop_start (struct ioloop *l)
{
  int err = pthread_create (&l->thread, NULL, ioloop_thread, l);

  if (err != 0) {
    errno = err;
    sm_error ("iscsi: cannot start an I/O thread: %m");
    return -1;
  }
  l->started = true;
  return 0;
}

void
ioloop_stop (struct ioloop *l)
{
  if (!l->started)
    return;
  atomic_store (&l->stopping, true);
  ioloop_wake (l);
  pthread_join (l->thread, NULL);
  l->started = false;
}

void
ioloop_destroy (struct ioloop *l)
{
  if (l->wakefd >= 0)
    close (l->wakefd);
  if (l->epfd >= 0)
    close (l->epfd);
  l->wakefd = l->epfd = -1;
  pthread_mutex_destroy (&l->lock);
}
