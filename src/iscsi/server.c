/* segmap: iSCSI portals -- parse, bind, listen, accept.
 *
 * Portals are "ADDR:PORT" or "[ADDR6]:PORT" with numeric addresses.
 * All are bound before any thread starts (all or none), with
 * SO_REUSEADDR so a restart does not wait for TIME_WAIT, and IPV6_V6ONLY
 * so "[::]:3260" and "0.0.0.0:3260" can coexist.  The listening sockets
 * are non-blocking and watched by the first I/O thread; accepted
 * connections go round-robin to the I/O threads.
 *
 * Overload: beyond ISCSI_MAX_CONNS connections, or ISCSI_MAX_LOGINS
 * connections still logging in, a new connection is closed at once, so
 * a flood of connections cannot starve the sessions already running.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

static int
parse_port (const char *s, uint16_t *port)
{
  char *end;
  unsigned long v;

  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoul (s, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
    return -1;
  *port = v;
  return 0;
}

int
portal_parse (const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
  char host[INET6_ADDRSTRLEN + 1];
  const char *colon;
  uint16_t port;
  size_t hlen;

  memset (ss, 0, sizeof *ss);
  if (s[0] == '[') {
    const char *close = strchr (s, ']');
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;

    if (close == NULL || close[1] != ':'
        || (hlen = close - s - 1) >= sizeof host)
      goto bad;
    memcpy (host, s + 1, hlen);
    host[hlen] = '\0';
    if (inet_pton (AF_INET6, host, &sin6->sin6_addr) != 1
        || parse_port (close + 2, &port) == -1)
      goto bad;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons (port);
    *len = sizeof *sin6;
    return 0;
  }
  colon = strrchr (s, ':');
  if (colon == NULL || (hlen = colon - s) >= sizeof host)
    goto bad;
  memcpy (host, s, hlen);
  host[hlen] = '\0';
  {
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;

    if (inet_pton (AF_INET, host, &sin->sin_addr) != 1
        || parse_port (colon + 1, &port) == -1)
      goto bad;
    sin->sin_family = AF_INET;
    sin->sin_port = htons (port);
    *len = sizeof *sin;
  }
  return 0;
 bad:
  sm_error ("iscsi: bad portal \"%s\" (want ADDR:PORT or [ADDR6]:PORT)", s);
  return -1;
}

void
sockaddr_format (const struct sockaddr_storage *ss, char *out, size_t size)
{
  char host[INET6_ADDRSTRLEN];

  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;

    inet_ntop (AF_INET, &sin->sin_addr, host, sizeof host);
    snprintf (out, size, "%s:%u", host, ntohs (sin->sin_port));
  }
  else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;

    if (IN6_IS_ADDR_V4MAPPED (&sin6->sin6_addr)) {
      inet_ntop (AF_INET, &sin6->sin6_addr.s6_addr[12], host, sizeof host);
      snprintf (out, size, "%s:%u", host, ntohs (sin6->sin6_port));
    }
    else {
      inet_ntop (AF_INET6, &sin6->sin6_addr, host, sizeof host);
      snprintf (out, size, "[%s]:%u", host, ntohs (sin6->sin6_port));
    }
  }
  else
    snprintf (out, size, "?");
}

static int
listen_one (const char *name, struct portal *p)
{
  CLEANUP_CLOSE int fd = -1;
  int one = 1;

  if (portal_parse (name, &p->addr, &p->addr_len) == -1)
    return -1;
  fd = socket (p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
               0);
  if (fd == -1) {
    sm_error ("iscsi: socket for portal %s: %m", name);
    return -1;
  }
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (p->addr.ss_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &p->addr, p->addr_len) == -1) {
    sm_error ("iscsi: bind portal %s: %m", name);
    return -1;
  }
  if (listen (fd, 1024) == -1) {
    sm_error ("iscsi: listen on portal %s: %m", name);
    return -1;
  }
  p->fd = fd;
  fd = -1;
  return 0;
}

int
server_listen (struct iscsi_target *t)
{
  size_t i;

  t->portals = calloc (t->n_portals, sizeof *t->portals);
  if (t->portals == NULL) {
    sm_error ("iscsi: out of memory");
    return -1;
  }
  for (i = 0; i < t->n_portals; i++)
    t->portals[i].fd = -1;
  for (i = 0; i < t->n_portals; i++)
    if (listen_one (t->portal_names[i], &t->portals[i]) == -1) {
      server_close (t);
      return -1;
    }
  return 0;
}

void
server_close (struct iscsi_target *t)
{
  size_t i;

  if (t->portals == NULL)
    return;
  for (i = 0; i < t->n_portals; i++)
    if (t->portals[i].fd >= 0)
      close (t->portals[i].fd);
  free (t->portals);
  t->portals = NULL;
}

/* Room for one more connection still logging in? */
static bool
admit (struct iscsi_target *t)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);

  if (t->n_conns >= ISCSI_MAX_CONNS || t->n_logins >= ISCSI_MAX_LOGINS)
    return false;
  t->n_conns++;
  t->n_logins++;
  return true;
}

static void
accept_one (struct iscsi_target *t, int fd)
{
  struct iscsi_conn *c;
  unsigned idx;
  int one = 1;

  if (!admit (t)) {
    sm_debug ("iscsi: too many connections, closing a new one");
    close (fd);
    return;
  }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c = conn_new (t, fd);
  if (c == NULL) {
    close (fd);
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    t->n_conns--;
    t->n_logins--;
    return;
  }
  idx = atomic_fetch_add (&t->next_loop, 1) % t->n_loops;
  ioloop_add_conn (&t->loops[idx], c);
}

void
server_accept (struct iscsi_target *t, struct portal *p)
{
  for (;;) {
    int fd = accept4 (p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd == -1) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        sm_debug ("iscsi: accept: %m");
      return;
    }
    accept_one (t, fd);
  }
}
