/* segmapctl: blocking client for the control socket.
 *
 * One request, then one response line; bytes after the response's '\n'
 * are kept for the next call (the server never sends any, but the
 * framing does not depend on that).  When sending fails the response
 * is still read: a server that refuses a connection (permission, too
 * many clients) writes its reason and closes, and that reason is worth
 * more to the user than "broken pipe".
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/errors.h"
#include "ctl/ctl-proto.h"
#include "tools/ctl-client.h"

/* Responses can be large (long listings) but not unbounded. */
#define RESPONSE_MAX (256u << 20)

struct ctl_client {
  int fd;
  char *path;
  char *buf;                    /* received, not yet consumed */
  size_t len;
  size_t cap;
};

/* sm_error for a failed connect (errno set), with a hint. */
static void
connect_error (const char *path)
{
  if (errno == ENOENT)
    sm_error ("cannot connect to %s: %m (is segmap running? choose the "
              "socket with -s or $SEGMAP_SOCKET)", path);
  else if (errno == ECONNREFUSED)
    sm_error ("cannot connect to %s: %m (stale socket: segmap is not "
              "running)", path);
  else
    sm_error ("cannot connect to %s: %m", path);
}

struct ctl_client *
ctl_client_connect (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct ctl_client *c;
  int fd;

  if (strlen (path) >= sizeof addr.sun_path) {
    sm_error ("cannot connect to %s: socket path too long (at most %zu "
              "bytes)", path, sizeof addr.sun_path - 1);
    return NULL;
  }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1) {
    connect_error (path);
    if (fd >= 0)
      close (fd);
    return NULL;
  }
  c = calloc (1, sizeof *c);
  if (c == NULL || (c->path = strdup (path)) == NULL) {
    sm_error ("out of memory");
    free (c);
    close (fd);
    return NULL;
  }
  c->fd = fd;
  return c;
}

/* Write all of BUF.  Returns 0 or -1 (errno set). */
static int
send_all (int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t r = send (fd, buf, len, MSG_NOSIGNAL);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    buf += r;
    len -= r;
  }
  return 0;
}

/* Send REQ as one line. */
static int
send_request (struct ctl_client *c, json_object *req)
{
  size_t len;
  const char *s = json_object_to_json_string_length (req, CTL_JSON_FLAGS,
                                                     &len);

  if (s == NULL) {
    errno = ENOMEM;
    return -1;
  }
  if (send_all (c->fd, s, len) == -1 || send_all (c->fd, "\n", 1) == -1)
    return -1;
  return 0;
}

/* Receive more bytes into the buffer.  Returns 1, 0 on EOF, -1 on error. */
static int
receive (struct ctl_client *c)
{
  ssize_t r;

  if (c->len == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 4096;
    char *p;

    if (cap > RESPONSE_MAX + 1) {
      errno = EMSGSIZE;
      return -1;
    }
    p = realloc (c->buf, cap);
    if (p == NULL)
      return -1;
    c->buf = p;
    c->cap = cap;
  }
  do
    r = recv (c->fd, c->buf + c->len, c->cap - c->len, 0);
  while (r == -1 && errno == EINTR);
  if (r > 0)
    c->len += r;
  return r > 0 ? 1 : r;
}

/* Wait for a whole line; returns its length (the '\n' is replaced by
 * '\0'), or -1 with errno set (0 for an end of file). */
static ssize_t
read_line (struct ctl_client *c)
{
  size_t scanned = 0;
  char *nl = NULL;
  int r;

  for (;;) {
    if (c->len > scanned &&
        (nl = memchr (c->buf + scanned, '\n', c->len - scanned)) != NULL)
      break;
    scanned = c->len;
    r = receive (c);
    if (r <= 0) {
      if (r == 0)
        errno = 0;
      return -1;
    }
  }
  *nl = '\0';
  return nl - c->buf;
}

/* sm_error for a call that got no response line. */
static void
call_error (struct ctl_client *c, int send_errno, int read_errno)
{
  errno = send_errno ? send_errno : read_errno;
  if (send_errno)
    sm_error ("%s: cannot send the request: %m", c->path);
  else if (read_errno)
    sm_error ("%s: cannot read the response: %m", c->path);
  else
    sm_error ("%s: the server closed the connection without answering",
              c->path);
}

int
ctl_client_call (struct ctl_client *c, const char *cmd, json_object *args,
                 json_object **result, char **error)
{
  json_object *req = ctl_request_new (cmd, args);
  int send_errno = 0;
  ssize_t len;
  int r;

  *result = NULL;
  *error = NULL;
  if (req == NULL)
    return -1;
  if (send_request (c, req) == -1)
    send_errno = errno;
  json_object_put (req);
  len = read_line (c);
  if (len == -1) {
    call_error (c, send_errno, errno);
    return -1;
  }
  r = ctl_reply_parse (c->buf, len, result, error);
  c->len -= len + 1;
  memmove (c->buf, c->buf + len + 1, c->len);
  return r;
}

void
ctl_client_close (struct ctl_client *c)
{
  if (c == NULL)
    return;
  close (c->fd);
  free (c->buf);
  free (c->path);
  free (c);
}
