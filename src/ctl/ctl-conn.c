/* segmap: one control connection (framing, envelope checks, dispatch).
 *
 * The connection's socket is non-blocking and every wait is a poll on
 * the socket *and* the server's stop eventfd, with the idle timeout:
 * so a connection thread never blocks anywhere except inside the
 * dispatch function, and ctl_server_stop can always wake it.
 *
 * Buffer invariant: between reads, buf holds at most CTL_MAX_LINE bytes
 * and no '\n' (complete lines are consumed as soon as they arrive).  Its
 * capacity never exceeds CTL_MAX_LINE + 1, the longest acceptable line
 * plus its newline; a buffer that fills up without a newline is a
 * request too long to frame, answered with an error before closing.
 *
 * Writes use MSG_NOSIGNAL, so a peer that vanishes mid-reply costs an
 * EPIPE on this connection only; the process's signal dispositions are
 * left alone.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "ctl/ctl-internal.h"
#include "ctl/ctl-proto.h"

#define BUF_MIN 4096
#define BUF_KEEP (64 * 1024)    /* shrink back to this after a big line */

struct linebuf {
  char *data;
  size_t len;
  size_t cap;
};

static const char oom_reply[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";

/* Wait until the socket is ready for EVENTS.  Returns 1 when ready (or
 * in error: the next call reports it), 0 on stop or idle timeout, -1 on
 * a poll failure. */
static int
wait_fd (struct ctl_conn *c, short events)
{
  struct pollfd fds[2] = {
    { .fd = c->fd, .events = events },
    { .fd = c->server->stop_fd, .events = POLLIN },
  };
  int r;

  do
    r = poll (fds, 2, c->server->idle_timeout_ms);
  while (r == -1 && errno == EINTR);
  if (r <= 0)
    return r;
  return fds[1].revents != 0 ? 0 : 1;
}

/* True once ctl_server_stop has been called. */
static bool
stopping (struct ctl_server *s)
{
  struct pollfd pfd = { .fd = s->stop_fd, .events = POLLIN };

  return poll (&pfd, 1, 0) == 1;
}

/* Write all of BUF.  Returns 0, or -1 if the peer went away, the
 * server is stopping or the peer did not read for the idle timeout. */
static int
send_all (struct ctl_conn *c, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t r = send (c->fd, buf, len, MSG_NOSIGNAL);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
          wait_fd (c, POLLOUT) == 1)
        continue;
      return -1;
    }
    buf += r;
    len -= r;
  }
  return 0;
}

/* Serialise REPLY as one line, send it and drop the reference. */
static int
send_reply (struct ctl_conn *c, json_object *reply)
{
  const char *s = NULL;
  size_t len = 0;
  int r;

  if (reply != NULL)
    s = json_object_to_json_string_length (reply, CTL_JSON_FLAGS, &len);
  if (s == NULL)
    r = send_all (c, oom_reply, sizeof oom_reply - 1);
  else
    r = send_all (c, s, len) == 0 && send_all (c, "\n", 1) == 0 ? 0 : -1;
  json_object_put (reply);
  return r;
}

/* Run a parsed request through the dispatch function. */
static json_object *
dispatch (struct ctl_conn *c, struct ctl_request *req)
{
  struct ctl_server *s = c->server;
  CLEANUP_FREE char *error = NULL;
  json_object *result;

  sm_debug ("ctl: uid %d pid %d: %s", (int) c->uid, (int) c->pid, req->cmd);
  /* "internal." commands are the process's own calls, never a client's. */
  if (strncmp (req->cmd, CTL_INTERNAL_PREFIX,
               strlen (CTL_INTERNAL_PREFIX)) == 0)
    return ctl_reply_new (NULL, "unknown command");
  result = s->fn (s->opaque, req->cmd, req->args, &error);
  if (result != NULL)
    return ctl_reply_new (result, NULL);
  if (error == NULL)
    return ctl_reply_new (NULL, "internal error: the command failed "
                          "without saying why");
  return ctl_reply_new (NULL, error);
}

/* Turn one line (NUL-terminated in place of its '\n') into a reply. */
static json_object *
handle_line (struct ctl_conn *c, char *line, size_t len)
{
  struct ctl_request req;
  CLEANUP_FREE char *error = NULL;
  json_object *reply;

  if (len > 0 && line[len - 1] == '\r')
    line[--len] = '\0';
  if (ctl_request_parse (line, len, &req, &error) == -1)
    return ctl_reply_new (NULL, error ? error : "out of memory");
  reply = dispatch (c, &req);
  ctl_request_free (&req);
  return reply;
}

/* Answer every complete line in B, then keep the partial tail.
 * Returns 0, or -1 when the connection must close. */
static int
drain_lines (struct ctl_conn *c, struct linebuf *b)
{
  size_t start = 0;
  char *nl;

  while ((nl = memchr (b->data + start, '\n', b->len - start)) != NULL) {
    size_t len = nl - (b->data + start);

    *nl = '\0';
    if (send_reply (c, handle_line (c, b->data + start, len)) == -1)
      return -1;
    start += len + 1;
    if (stopping (c->server))
      return -1;
  }
  memmove (b->data, b->data + start, b->len - start);
  b->len -= start;
  return 0;
}

/* Make room for more input: grow up to CTL_MAX_LINE + 1, or give back
 * memory a long line needed once the buffer is nearly empty again. */
static int
reserve (struct linebuf *b)
{
  size_t cap = b->cap;
  char *p;

  if (b->len < cap && !(cap > BUF_KEEP && b->len < BUF_KEEP / 2))
    return 0;
  if (b->len >= cap)
    cap = cap < BUF_MIN ? BUF_MIN : cap * 2;
  else
    cap = BUF_KEEP;
  if (cap > CTL_MAX_LINE + 1)
    cap = CTL_MAX_LINE + 1;
  p = realloc (b->data, cap);
  if (p == NULL)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

/* Read what is available.  Returns 1 with more bytes in B, or 0 on
 * EOF, error, idle timeout or stop. */
static int
fill (struct ctl_conn *c, struct linebuf *b)
{
  for (;;) {
    ssize_t r;

    if (reserve (b) == -1)
      return 0;
    r = recv (c->fd, b->data + b->len, b->cap - b->len, 0);
    if (r > 0) {
      b->len += r;
      return 1;
    }
    if (r == 0)
      return 0;
    if (errno == EINTR)
      continue;
    if ((errno != EAGAIN && errno != EWOULDBLOCK) || wait_fd (c, POLLIN) != 1)
      return 0;
  }
}

/* The request/response loop of one connection. */
static void
serve (struct ctl_conn *c)
{
  struct linebuf b = { NULL, 0, 0 };
  char error[128];

  while (fill (c, &b) == 1) {
    if (drain_lines (c, &b) == -1)
      break;
    if (b.len > CTL_MAX_LINE) {
      snprintf (error, sizeof error, "request line longer than %u bytes; "
                "closing the connection", CTL_MAX_LINE);
      send_reply (c, ctl_reply_new (NULL, error));
      break;
    }
  }
  free (b.data);
}

void *
ctl_conn_thread (void *arg)
{
  struct ctl_conn *c = arg;
  struct ctl_server *s = c->server;

  serve (c);
  close (c->fd);
  c->fd = -1;
  sm_debug ("ctl: uid %d pid %d: connection closed", (int) c->uid,
            (int) c->pid);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->lock);
    c->done = true;
    s->nr_active--;
  }
  return NULL;
}

void
ctl_send_refusal (int fd, const char *message)
{
  json_object *reply = ctl_reply_new (NULL, message);
  const char *s;
  size_t len;

  if (reply == NULL)
    return;
  s = json_object_to_json_string_length (reply, CTL_JSON_FLAGS, &len);
  if (s != NULL &&
      send (fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t) len)
    send (fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  json_object_put (reply);
}
