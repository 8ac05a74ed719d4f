/* segmap: unit tests of the control socket server (src/ctl/).
 *
 * Each test starts ctl_server_start on a socket in a fresh temporary
 * directory with a fake dispatch function, and talks to it through raw
 * unix sockets, the way a hostile or broken client would: malformed
 * requests, oversized lines, clients vanishing mid-reply, too many
 * clients, idle clients, a stop with clients attached.  SIGPIPE keeps
 * its default disposition here, so a server write that raised it would
 * kill the test.
 *
 * Fake commands: echo (result = args), fail (error from args.msg),
 * big (a string of args.size bytes), sleep (args.ms), silent (NULL
 * without an error message).
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "ctl/ctl-proto.h"
#include "ctl/ctl-server.h"

static char tmpdir[64];
static char sock_path[128];
static struct ctl_server *server;
static atomic_uint n_calls;
static char last_error[512];

static void
error_sink (const char *fmt, va_list args)
{
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

/* ---- the fake dispatch function ---- */

static int64_t
arg_int (json_object *args, const char *key)
{
  json_object *v;

  return json_object_object_get_ex (args, key, &v) ?
    json_object_get_int64 (v) : 0;
}

static json_object *
fake_big (json_object *args)
{
  size_t size = arg_int (args, "size");
  char *s = malloc (size + 1);
  json_object *r;

  memset (s, 'x', size);
  s[size] = '\0';
  r = json_object_new_string_len (s, size);
  free (s);
  return r;
}

static json_object *
fake_dispatch (void *opaque, const char *cmd, json_object *args, char **error)
{
  json_object *msg;

  /* assert, not ck_assert: this runs in the server's threads. */
  assert (opaque == &n_calls);
  assert (json_object_is_type (args, json_type_object));
  atomic_fetch_add (&n_calls, 1);
  if (strcmp (cmd, "echo") == 0)
    return json_object_get (args);
  if (strcmp (cmd, "big") == 0)
    return fake_big (args);
  if (strcmp (cmd, "sleep") == 0) {
    usleep (arg_int (args, "ms") * 1000);
    return json_object_new_object ();
  }
  if (strcmp (cmd, "silent") == 0)
    return NULL;
  if (strcmp (cmd, "fail") == 0 &&
      json_object_object_get_ex (args, "msg", &msg))
    *error = strdup (json_object_get_string (msg));
  else if (asprintf (error, "unknown command '%s'", cmd) == -1)
    *error = NULL;
  return NULL;
}

/* ---- fixture ---- */

static struct ctl_server *
start (const struct ctl_server_opts *opts)
{
  return ctl_server_start_opts (sock_path, fake_dispatch, &n_calls, opts);
}

static void
setup (void)
{
  sm_set_log_sinks (error_sink, NULL);
  strcpy (tmpdir, "/tmp/test-ctl-XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (tmpdir));
  snprintf (sock_path, sizeof sock_path, "%s/ctl.sock", tmpdir);
  atomic_store (&n_calls, 0);
  server = start (NULL);
  ck_assert_msg (server != NULL, "ctl_server_start: %s", last_error);
}

static void
teardown (void)
{
  ctl_server_stop (server);
  server = NULL;
  unlink (sock_path);
  rmdir (tmpdir);
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- a raw client ---- */

struct client {
  int fd;
  char *buf;
  size_t len;
};

/* Connect; -1 with errno on failure. */
static int
raw_connect (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = 30 };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd == -1)
    return -1;
  strcpy (addr.sun_path, path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1) {
    int e = errno;
    close (fd);
    errno = e;
    return -1;
  }
  /* Never hang a test forever on a broken server. */
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static struct client *
client_new (void)
{
  struct client *c = calloc (1, sizeof *c);

  c->fd = raw_connect (sock_path);
  ck_assert_msg (c->fd >= 0, "connect: %s", strerror (errno));
  return c;
}

static void
client_free (struct client *c)
{
  if (c->fd >= 0)
    close (c->fd);
  free (c->buf);
  free (c);
}

/* Send all of LEN bytes; returns 0 or -1 (peer gone). */
static int
send_bytes (int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t r = send (fd, buf, len, MSG_NOSIGNAL);

    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    buf += r;
    len -= r;
  }
  return 0;
}

static void
client_send (struct client *c, const char *s)
{
  ck_assert_int_eq (send_bytes (c->fd, s, strlen (s)), 0);
}

/* Next line (malloc'd, without '\n'), or NULL at EOF/error. */
static char *
client_read_line (struct client *c)
{
  char *nl, *line;
  char chunk[65536];
  ssize_t r;

  while ((nl = c->buf ? memchr (c->buf, '\n', c->len) : NULL) == NULL) {
    r = recv (c->fd, chunk, sizeof chunk, 0);
    if (r <= 0)
      return NULL;
    c->buf = realloc (c->buf, c->len + r + 1);
    memcpy (c->buf + c->len, chunk, r);
    c->len += r;
  }
  line = strndup (c->buf, nl - c->buf);
  c->len -= nl - c->buf + 1;
  memmove (c->buf, nl + 1, c->len);
  return line;
}

/* True when the server has closed the connection (EOF or reset). */
static bool
client_closed (struct client *c)
{
  char b;
  ssize_t r = recv (c->fd, &b, 1, 0);

  return r == 0 || (r == -1 && (errno == ECONNRESET || errno == EPIPE));
}

/* Read one reply and check its envelope. */
static json_object *
client_reply (struct client *c)
{
  char *line = client_read_line (c);
  json_object *reply, *ok;

  ck_assert_msg (line != NULL, "no reply (connection closed)");
  reply = json_tokener_parse (line);
  ck_assert_msg (reply != NULL, "reply is not JSON: %.200s", line);
  ck_assert (json_object_object_get_ex (reply, "ok", &ok));
  ck_assert (json_object_is_type (ok, json_type_boolean));
  ck_assert_msg (strchr (line, '\n') == NULL, "reply spans lines");
  free (line);
  return reply;
}

/* Send LINE + "\n" and return the reply. */
static json_object *
request (struct client *c, const char *line)
{
  client_send (c, line);
  client_send (c, "\n");
  return client_reply (c);
}

/* The reply must be a failure whose message contains WANT. */
static void
check_error (json_object *reply, const char *want)
{
  json_object *ok, *err;

  json_object_object_get_ex (reply, "ok", &ok);
  ck_assert_msg (!json_object_get_boolean (ok), "expected a failure: %s",
                 json_object_to_json_string (reply));
  ck_assert (json_object_object_get_ex (reply, "error", &err));
  ck_assert (json_object_is_type (err, json_type_string));
  ck_assert_msg (strstr (json_object_get_string (err), want) != NULL,
                 "error '%s' lacks '%s'", json_object_get_string (err), want);
  ck_assert (!json_object_object_get_ex (reply, "result", NULL));
  json_object_put (reply);
}

/* The reply must be a success whose result serialises to WANT. */
static void
check_result (json_object *reply, const char *want)
{
  json_object *ok, *result = NULL, *expected = json_tokener_parse (want);

  json_object_object_get_ex (reply, "ok", &ok);
  ck_assert_msg (json_object_get_boolean (ok), "expected success: %s",
                 json_object_to_json_string (reply));
  ck_assert (json_object_object_get_ex (reply, "result", &result));
  ck_assert_msg (json_object_equal (result, expected), "result %s != %s",
                 json_object_to_json_string (result), want);
  ck_assert (!json_object_object_get_ex (reply, "error", NULL));
  json_object_put (expected);
  json_object_put (reply);
}

static void
check_echo_works (struct client *c)
{
  check_result (request (c, "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"x\":7}}"),
                "{\"x\":7}");
}

/* ---- tests ---- */

START_TEST (test_socket_mode)
{
  struct stat st;

  ck_assert_int_eq (lstat (sock_path, &st), 0);
  ck_assert (S_ISSOCK (st.st_mode));
  ck_assert_int_eq (st.st_mode & 07777, 0600);
}
END_TEST

START_TEST (test_round_trip)
{
  struct client *c = client_new ();

  check_result (request (c, "{\"v\":1,\"cmd\":\"echo\",\"args\":"
                         "{\"a\":[1,2,{\"b\":\"c\\n\\\"d\"}],\"n\":null}}"),
                "{\"a\":[1,2,{\"b\":\"c\\n\\\"d\"}],\"n\":null}");
  /* No args means {}; unknown members are ignored; CRLF is fine. */
  check_result (request (c, "{\"v\":1,\"cmd\":\"echo\"}"), "{}");
  check_result (request (c, "{\"cmd\":\"echo\",\"future\":[1],\"v\":1}\r"),
                "{}");
  check_error (request (c, "{\"v\":1,\"cmd\":\"fail\",\"args\":"
                        "{\"msg\":\"no such vdisk 'x'\"}}"),
               "no such vdisk 'x'");
  check_error (request (c, "{\"v\":1,\"cmd\":\"nosuch\"}"),
               "unknown command 'nosuch'");
  check_error (request (c, "{\"v\":1,\"cmd\":\"silent\"}"), "internal error");
  check_echo_works (c);
  ck_assert_uint_eq (atomic_load (&n_calls), 7);
  client_free (c);
}
END_TEST

START_TEST (test_pipelined)
{
  struct client *c = client_new ();
  int i;

  /* Three requests in one write, then a request split byte by byte. */
  client_send (c, "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"i\":1}}\n"
               "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"i\":2}}\n"
               "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"i\":3}}\n");
  check_result (client_reply (c), "{\"i\":1}");
  check_result (client_reply (c), "{\"i\":2}");
  check_result (client_reply (c), "{\"i\":3}");
  {
    const char *req = "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"i\":4}}\n";
    for (i = 0; req[i]; i++)
      ck_assert_int_eq (send_bytes (c->fd, &req[i], 1), 0);
  }
  check_result (client_reply (c), "{\"i\":4}");
  client_free (c);
}
END_TEST

START_TEST (test_malformed)
{
  static const struct { const char *line; const char *error; } bad[] = {
    { "", "invalid JSON" },
    { "   ", "invalid JSON" },
    { "{", "invalid JSON" },
    { "not json", "invalid JSON" },
    { "{\"v\":1,\"cmd\":\"echo\",}", "invalid JSON" },
    { "{\"v\":1,\"cmd\":\"echo\"} trailing", "invalid JSON" },
    { "{\"v\":1,\"cmd\":\"echo\"}{\"v\":1,\"cmd\":\"echo\"}", "invalid JSON" },
    { "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"s\":\"\xff\xfe\"}}",
      "invalid JSON" },
    { "[1,2]", "not a JSON object" },
    { "\"str\"", "not a JSON object" },
    { "42", "not a JSON object" },
    { "null", "not a JSON object" },
    { "true", "not a JSON object" },
    { "{}", "missing protocol version" },
    { "{\"cmd\":\"echo\"}", "missing protocol version" },
    { "{\"v\":2,\"cmd\":\"echo\"}", "unsupported protocol version 2" },
    { "{\"v\":0,\"cmd\":\"echo\"}", "unsupported protocol version 0" },
    { "{\"v\":\"1\",\"cmd\":\"echo\"}", "unsupported protocol version" },
    { "{\"v\":1.0,\"cmd\":\"echo\"}", "unsupported protocol version" },
    { "{\"v\":null,\"cmd\":\"echo\"}", "missing protocol version" },
    { "{\"v\":1}", "\"cmd\" must be a non-empty string" },
    { "{\"v\":1,\"cmd\":5}", "\"cmd\" must be a non-empty string" },
    { "{\"v\":1,\"cmd\":null}", "\"cmd\" must be a non-empty string" },
    { "{\"v\":1,\"cmd\":[\"echo\"]}", "\"cmd\" must be a non-empty string" },
    { "{\"v\":1,\"cmd\":\"\"}", "\"cmd\" must be a non-empty string" },
    { "{\"v\":1,\"cmd\":\"echo\",\"args\":[1]}", "\"args\" must be an object" },
    { "{\"v\":1,\"cmd\":\"echo\",\"args\":null}", "\"args\" must be an object" },
    { "{\"v\":1,\"cmd\":\"echo\",\"args\":\"x\"}", "\"args\" must be an object" },
  };
  struct client *c = client_new ();
  char deep[4096];
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    check_error (request (c, bad[i].line), bad[i].error);
    check_echo_works (c);
  }
  /* A NUL byte inside the line. */
  ck_assert_int_eq (send_bytes (c->fd, "{\"v\":1,\0\"cmd\":\"echo\"}\n", 22), 0);
  check_error (client_reply (c), "NUL byte");
  check_echo_works (c);
  /* Nesting far deeper than the tokener allows. */
  memset (deep, '[', sizeof deep - 1);
  deep[sizeof deep - 1] = '\0';
  check_error (request (c, deep), "invalid JSON");
  check_echo_works (c);
  /* Only the echo requests reached the dispatch function. */
  ck_assert_uint_eq (atomic_load (&n_calls), i + 2);
  client_free (c);
}
END_TEST

/* A request line of exactly LEN bytes: an echo padded with blanks. */
static char *
padded_request (size_t len)
{
  const char *req = "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"p\":1}}";
  char *line = malloc (len + 2);

  memset (line, ' ', len);
  memcpy (line, req, strlen (req));
  line[len] = '\n';
  line[len + 1] = '\0';
  return line;
}

START_TEST (test_max_line)
{
  struct client *c = client_new ();
  char *line = padded_request (CTL_MAX_LINE);

  /* Exactly CTL_MAX_LINE bytes is allowed, twice in a row. */
  client_send (c, line);
  check_result (client_reply (c), "{\"p\":1}");
  client_send (c, line);
  check_result (client_reply (c), "{\"p\":1}");
  free (line);
  client_free (c);
}
END_TEST

START_TEST (test_long_line)
{
  struct client *c = client_new ();
  char *line = padded_request (CTL_MAX_LINE + 1);

  /* One byte over: an error, then the server hangs up. */
  send_bytes (c->fd, line, CTL_MAX_LINE + 1);   /* may fail on close */
  check_error (client_reply (c), "longer than");
  ck_assert (client_closed (c));
  client_free (c);
  free (line);

  /* A much longer line without any newline at all. */
  c = client_new ();
  line = padded_request (3 * CTL_MAX_LINE);
  send_bytes (c->fd, line, 3 * CTL_MAX_LINE);
  check_error (client_reply (c), "longer than");
  ck_assert (client_closed (c));
  client_free (c);
  free (line);

  c = client_new ();
  check_echo_works (c);
  client_free (c);
}
END_TEST

START_TEST (test_vanishing_clients)
{
  const char *big = "{\"v\":1,\"cmd\":\"big\",\"args\":{\"size\":8388608}}\n";
  struct client *c;
  char buf[1000];
  int i;

  for (i = 0; i < 10; i++) {
    /* Ask for 8 MiB and leave at once. */
    c = client_new ();
    client_send (c, big);
    client_free (c);
    /* Read a little of the reply, then leave. */
    c = client_new ();
    client_send (c, big);
    ck_assert_int_gt (recv (c->fd, buf, sizeof buf, 0), 0);
    client_free (c);
    /* Leave in the middle of a request. */
    c = client_new ();
    client_send (c, "{\"v\":1,\"cmd\":\"ec");
    client_free (c);
    /* Leave with a request and a half. */
    c = client_new ();
    client_send (c, "{\"v\":1,\"cmd\":\"echo\"}\n{\"v\":1,");
    shutdown (c->fd, SHUT_WR);
    check_result (client_reply (c), "{}");
    ck_assert (client_closed (c));
    client_free (c);
  }
  /* Still serving. */
  c = client_new ();
  check_echo_works (c);
  client_free (c);
}
END_TEST

struct worker {
  pthread_t thread;
  int id;
  int ok;                       /* replies exactly as expected */
};

/* No libcheck assertions in here: they are not thread-safe without
 * fork mode.  The main thread checks the count. */
static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  struct client c = { .fd = raw_connect (sock_path) };
  char req[128], want[128];
  char *line;
  int i;

  for (i = 0; i < 100 && c.fd >= 0; i++) {
    snprintf (req, sizeof req, "{\"v\":1,\"cmd\":\"echo\",\"args\":"
              "{\"w\":%d,\"i\":%d}}\n", w->id, i);
    snprintf (want, sizeof want, "{\"ok\":true,\"result\":"
              "{\"w\":%d,\"i\":%d}}", w->id, i);
    if (send_bytes (c.fd, req, strlen (req)) == -1)
      break;
    line = client_read_line (&c);
    if (line == NULL)
      break;
    w->ok += strcmp (line, want) == 0;
    free (line);
  }
  if (c.fd >= 0)
    close (c.fd);
  free (c.buf);
  return NULL;
}

START_TEST (test_concurrency)
{
  struct worker w[8];
  int i;

  for (i = 0; i < 8; i++) {
    w[i].id = i;
    w[i].ok = 0;
    ck_assert_int_eq (pthread_create (&w[i].thread, NULL, worker_main,
                                      &w[i]), 0);
  }
  for (i = 0; i < 8; i++) {
    pthread_join (w[i].thread, NULL);
    ck_assert_int_eq (w[i].ok, 100);
  }
  ck_assert_uint_eq (atomic_load (&n_calls), 800);
}
END_TEST

START_TEST (test_stop_with_clients)
{
  struct client *idle = client_new ();
  struct client *partial = client_new ();
  struct client *reader = client_new ();
  struct client *active = client_new ();
  double t;

  client_send (partial, "{\"v\":1,\"cmd\":");
  /* 16 MiB that nobody reads: the server blocks writing it. */
  client_send (reader, "{\"v\":1,\"cmd\":\"big\",\"args\":"
               "{\"size\":16777216}}\n");
  check_echo_works (active);
  usleep (200 * 1000);

  t = now ();
  ctl_server_stop (server);
  server = NULL;
  t = now () - t;
  ck_assert_msg (t < 3.0, "ctl_server_stop took %.2f s", t);
  ck_assert_int_eq (access (sock_path, F_OK), -1);
  ck_assert (client_closed (idle));
  ck_assert (client_closed (partial));
  ck_assert (client_closed (active));
  ck_assert_int_eq (raw_connect (sock_path), -1);
  client_free (idle);
  client_free (partial);
  client_free (reader);
  client_free (active);
}
END_TEST

START_TEST (test_second_server)
{
  struct client *c = client_new ();

  ck_assert_ptr_null (start (NULL));
  ck_assert_msg (strstr (last_error, "another segmap is using") != NULL &&
                 strstr (last_error, sock_path) != NULL, "%s", last_error);
  /* The first server and its socket file are untouched. */
  check_echo_works (c);
  client_free (c);
  c = client_new ();
  check_echo_works (c);
  client_free (c);
}
END_TEST

/* Stop the fixture's server and leave a socket file nobody listens on
 * at sock_path, as a crashed process leaves it. */
static void
leave_stale_socket (void)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  ctl_server_stop (server);
  server = NULL;
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  strcpy (addr.sun_path, sock_path);
  ck_assert_int_eq (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
  close (fd);
  ck_assert_int_eq (access (sock_path, F_OK), 0);
}

START_TEST (test_stale_socket)
{
  struct client *c;

  leave_stale_socket ();

  server = start (NULL);
  ck_assert_msg (server != NULL, "%s", last_error);
  c = client_new ();
  check_echo_works (c);
  client_free (c);
}
END_TEST

/* Bound but not served (before a fork): a client connects and sends at
 * once, and gets its answer when serving starts; a stale socket file is
 * replaced at bind. */
START_TEST (test_bind_then_serve)
{
  struct client *c;

  leave_stale_socket ();

  server = ctl_server_bind (sock_path);
  ck_assert_msg (server != NULL, "%s", last_error);
  c = client_new ();
  client_send (c, "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"x\":7}}\n");
  usleep (100000);
  ck_assert_uint_eq (atomic_load (&n_calls), 0);      /* not served yet */
  ck_assert_int_eq (ctl_server_serve (server, fake_dispatch, &n_calls), 0);
  check_result (client_reply (c), "{\"x\":7}");
  check_echo_works (c);
  client_free (c);
  /* Serving twice is refused. */
  ck_assert_int_eq (ctl_server_serve (server, fake_dispatch, &n_calls), -1);
}
END_TEST

/* A bound server that never serves is stopped cleanly. */
START_TEST (test_bind_never_served)
{
  ctl_server_stop (server);
  server = ctl_server_bind (sock_path);
  ck_assert_msg (server != NULL, "%s", last_error);
  ctl_server_stop (server);
  server = NULL;
  ck_assert_int_eq (access (sock_path, F_OK), -1);
}
END_TEST

START_TEST (test_not_a_socket)
{
  int fd;

  ctl_server_stop (server);
  server = NULL;
  fd = open (sock_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  ck_assert_int_ge (fd, 0);
  close (fd);
  ck_assert_ptr_null (start (NULL));
  ck_assert_msg (strstr (last_error, "not a socket") != NULL, "%s", last_error);
  ck_assert_int_eq (access (sock_path, F_OK), 0);      /* not removed */
  unlink (sock_path);
}
END_TEST

START_TEST (test_stop_keeps_foreign_file)
{
  int fd;

  /* Somebody replaced our socket file: stop must not delete theirs. */
  ck_assert_int_eq (unlink (sock_path), 0);
  fd = open (sock_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  ck_assert_int_ge (fd, 0);
  close (fd);
  ctl_server_stop (server);
  server = NULL;
  ck_assert_int_eq (access (sock_path, F_OK), 0);
  unlink (sock_path);
}
END_TEST

START_TEST (test_bad_paths)
{
  char path[300];

  memset (path, 'a', sizeof path - 1);
  path[0] = '/';
  path[sizeof path - 1] = '\0';
  ck_assert_ptr_null (ctl_server_start (path, fake_dispatch, &n_calls));
  ck_assert_msg (strstr (last_error, "too long") != NULL, "%s", last_error);
  ck_assert_ptr_null (ctl_server_start ("/nonexistent-dir/x.sock",
                                        fake_dispatch, &n_calls));
  ck_assert_ptr_null (ctl_server_start ("", fake_dispatch, &n_calls));
  ctl_server_stop (NULL);
}
END_TEST

START_TEST (test_connection_limit)
{
  struct client *c[CTL_MAX_CONNECTIONS], *extra;
  double deadline;
  int i;

  for (i = 0; i < CTL_MAX_CONNECTIONS; i++) {
    c[i] = client_new ();
    check_echo_works (c[i]);
  }
  /* One too many: a polite refusal, then the server hangs up. */
  extra = client_new ();
  check_error (client_reply (extra), "too many connections");
  ck_assert (client_closed (extra));
  client_free (extra);
  /* The others are still served. */
  check_echo_works (c[0]);
  check_echo_works (c[CTL_MAX_CONNECTIONS - 1]);
  /* Once one leaves there is room again. */
  client_free (c[0]);
  deadline = now () + 10;
  for (;;) {
    extra = client_new ();
    /* A refused client may find the socket closed before it writes. */
    send_bytes (extra->fd, "{\"v\":1,\"cmd\":\"echo\"}\n", 21);
    {
      json_object *reply = client_reply (extra), *ok;
      json_object_object_get_ex (reply, "ok", &ok);
      if (json_object_get_boolean (ok)) {
        json_object_put (reply);
        break;
      }
      check_error (reply, "too many connections");
    }
    client_free (extra);
    ck_assert_msg (now () < deadline, "no room after a client left");
    usleep (10 * 1000);
  }
  client_free (extra);
  for (i = 1; i < CTL_MAX_CONNECTIONS; i++)
    client_free (c[i]);
}
END_TEST

START_TEST (test_idle_timeout)
{
  /* Long enough that a loaded machine (valgrind, parallel make) does
   * not make the busy client look idle. */
  struct ctl_server_opts opts = { .idle_timeout_ms = 1500 };
  struct client *idle, *busy;
  double t;
  int i;

  ctl_server_stop (server);
  server = start (&opts);
  ck_assert_ptr_nonnull (server);
  idle = client_new ();
  busy = client_new ();
  t = now ();
  for (i = 0; i < 25; i++) {      /* keeps talking for ~2.5 s */
    usleep (100 * 1000);
    check_echo_works (busy);
    if (now () - t < 1.0) {       /* too early for the idle one to go */
      struct pollfd pfd = { .fd = idle->fd, .events = POLLIN };
      ck_assert_int_eq (poll (&pfd, 1, 0), 0);
    }
  }
  ck_assert (client_closed (idle));
  check_echo_works (busy);
  client_free (idle);
  client_free (busy);
}
END_TEST

/* The child of test_other_uid: connect as nobody, send a request and
 * expect a refusal instead of an answer.  Only async-signal-safe calls
 * (the parent has threads). */
static int
other_uid_child (void)
{
  static const char req[] = "{\"v\":1,\"cmd\":\"echo\"}\n";
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = 10 };
  char buf[512];
  ssize_t n = 0, r;
  int fd;

  if (setgid (65534) == -1 || setuid (65534) == -1)
    return 2;
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  memcpy (addr.sun_path, sock_path, strlen (sock_path) + 1);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1)
    return 3;
  send (fd, req, sizeof req - 1, MSG_NOSIGNAL);     /* may find it closed */
  while (n < (ssize_t) sizeof buf - 1 && memchr (buf, '\n', n) == NULL &&
         (r = recv (fd, buf + n, sizeof buf - 1 - n, 0)) > 0)
    n += r;
  buf[n] = '\0';
  if (strstr (buf, "\"ok\":false") == NULL ||
      strstr (buf, "permission denied") == NULL)
    return 4;
  return 0;
}

START_TEST (test_other_uid)
{
  int status;
  pid_t pid;

  if (geteuid () != 0) {
    fprintf (stderr, "test_other_uid: needs root to switch uid; skipped\n");
    return;
  }
  /* Open the file permissions so that only SO_PEERCRED stands guard. */
  ck_assert_int_eq (chmod (tmpdir, 0755), 0);
  ck_assert_int_eq (chmod (sock_path, 0666), 0);
  pid = fork ();
  ck_assert_int_ge (pid, 0);
  if (pid == 0)
    _exit (other_uid_child ());
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0,
                 "child status %d", status);
  ck_assert_uint_eq (atomic_load (&n_calls), 0);
}
END_TEST

/* ---- the pure encoding helpers ---- */

START_TEST (test_proto_helpers)
{
  json_object *req, *result;
  char *error;
  char line[256];

  req = ctl_request_new ("vdisk.list", NULL);
  snprintf (line, sizeof line, "%s",
            json_object_to_json_string_ext (req, CTL_JSON_FLAGS));
  ck_assert_str_eq (line, "{\"v\":1,\"cmd\":\"vdisk.list\",\"args\":{}}");
  json_object_put (req);

  strcpy (line, "{\"ok\":true,\"result\":[1]}");
  ck_assert_int_eq (ctl_reply_parse (line, strlen (line), &result, &error), 0);
  ck_assert_str_eq (json_object_to_json_string (result), "[ 1 ]");
  json_object_put (result);
  strcpy (line, "{\"ok\":true,\"result\":null}");
  ck_assert_int_eq (ctl_reply_parse (line, strlen (line), &result, &error), 0);
  ck_assert_ptr_null (result);
  strcpy (line, "{\"ok\":false,\"error\":\"nope\"}");
  ck_assert_int_eq (ctl_reply_parse (line, strlen (line), &result, &error), 1);
  ck_assert_str_eq (error, "nope");
  free (error);
  strcpy (line, "{\"ok\":false}");
  ck_assert_int_eq (ctl_reply_parse (line, strlen (line), &result, &error), -1);
  strcpy (line, "{\"ok\":1}");
  ck_assert_int_eq (ctl_reply_parse (line, strlen (line), &result, &error), -1);
  strcpy (line, "]");
  ck_assert_int_eq (ctl_reply_parse (line, strlen (line), &result, &error), -1);
  ck_assert_msg (strstr (last_error, "malformed response") != NULL, "%s",
                 last_error);
}
END_TEST

static Suite *
ctl_suite (void)
{
  Suite *s = suite_create ("ctl");
  TCase *tc = tcase_create ("server");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 300);          /* valgrind */
  tcase_add_test (tc, test_socket_mode);
  tcase_add_test (tc, test_round_trip);
  tcase_add_test (tc, test_pipelined);
  tcase_add_test (tc, test_malformed);
  tcase_add_test (tc, test_max_line);
  tcase_add_test (tc, test_long_line);
  tcase_add_test (tc, test_vanishing_clients);
  tcase_add_test (tc, test_concurrency);
  tcase_add_test (tc, test_stop_with_clients);
  tcase_add_test (tc, test_second_server);
  tcase_add_test (tc, test_bind_then_serve);
  tcase_add_test (tc, test_bind_never_served);
  tcase_add_test (tc, test_stale_socket);
  tcase_add_test (tc, test_not_a_socket);
  tcase_add_test (tc, test_stop_keeps_foreign_file);
  tcase_add_test (tc, test_bad_paths);
  tcase_add_test (tc, test_connection_limit);
  tcase_add_test (tc, test_idle_timeout);
  tcase_add_test (tc, test_other_uid);
  tcase_add_test (tc, test_proto_helpers);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr;
  int failed;

  /* Whatever we inherited: a SIGPIPE raised by a server write must be
   * able to kill us, or test_vanishing_clients would prove nothing. */
  signal (SIGPIPE, SIG_DFL);
  sr = srunner_create (ctl_suite ());

  srunner_run_all (sr, CK_ENV);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
