/* segmap: tests of segmapctl (src/tools/) against a fake server.
 *
 * The fake is the real control socket server (ctl_server_start) with a
 * dispatch function that records each request and answers with canned
 * results in the documented JSON shapes.  Each test runs the built
 * segmapctl ($SEGMAPCTL) as a child process and checks three things:
 * the exact request it sent, its exit status, and its exact output.
 * So this pins both the client's side of the protocol contract and the
 * human output format.  Without $SEGMAPCTL the whole program is
 * skipped (exit 77).
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "ctl/ctl-server.h"

extern char **environ;

static const char *segmapctl;
static char tmpdir[64];
static char sock_path[128];
static struct ctl_server *server;
static char last_error[512];

/* What the fake server saw, protected by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned n_requests;
static char last_cmd[64];
static char *last_args;           /* serialised */
/* Set by the test between requests: the order comes through segmapctl,
 * another process, which ThreadSanitizer does not see: atomics. */
static _Atomic bool check_ok = true;      /* what "check" answers */
static _Atomic bool empty_lists;          /* vdisk.list answers [] */

static unsigned
requests (void)
{
  unsigned n;

  pthread_mutex_lock (&lock);
  n = n_requests;
  pthread_mutex_unlock (&lock);
  return n;
}

static void
error_sink (const char *fmt, va_list args)
{
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

/* ---- canned results ---- */

static const char status_json[] =
  "{\"version\":\"0.1.0\",\"uptime\":3661,\"state_dir\":\"/srv/sm\","
  "\"database\":\"/srv/sm/segmap.db\",\"socket\":\"/srv/sm/segmap.sock\","
  "\"read_only\":false,\"needs_check\":true,\"vdisks\":2,\"containers\":2,"
  "\"failed_containers\":1,\"agent\":{\"entries\":1024,\"memory\":1572864,\"memory_limit\":268435456,"
  "\"faults\":17,\"forgotten\":192,\"granted_writes\":5},"
  "\"controller\":{\"commits\":5,\"allocations\":12,\"pending\":1}}";

static const char agents_json[] =
  "[{\"id\":1,\"name\":\"host-a\",\"version\":3,\"tables\":2,"
  "\"degraded\":false,\"grants\":1024,\"faults\":17,\"allocations\":5,"
  "\"flushes\":9,\"unknown_outcomes\":0,\"registered\":1700000000,"
  "\"last_heard\":1700000100,\"last_heard_ago\":65},"
  "{\"id\":2,\"name\":\"host-b\",\"version\":3,\"tables\":null,"
  "\"degraded\":null,\"grants\":0,\"faults\":0,\"allocations\":0,"
  "\"flushes\":0,\"unknown_outcomes\":1,\"registered\":1700000000,"
  "\"last_heard\":1700000000,\"last_heard_ago\":3}]";

static const char container_list_json[] =
  "[{\"name\":\"default\",\"path\":\"/srv/sm/default.img\",\"kind\":\"file\","
  "\"size\":1099511627776,\"used\":12582912,\"allocated\":12652544,"
  "\"segments\":12,\"evacuating\":false,\"state\":\"online\"},"
  "{\"name\":\"fast\",\"path\":\"/dev/sdb\",\"kind\":\"block\","
  "\"size\":1610612736,\"used\":805306368,\"allocated\":1610612736,"
  "\"segments\":768,\"evacuating\":false,\"state\":\"failed\","
  "\"failed\":\"agent vm: I/O: Input/output error\","
  "\"failed_at\":1796675375}]";

static const char vdisk_list_json[] =
  "[{\"name\":\"disk0\",\"size\":1073741824,\"segment_size\":1048576,"
  "\"container\":\"default\",\"mapped_segments\":12,\"mapped\":12582912,"
  "\"exclusive\":12582912,\"shared\":0,\"read_only\":false},"
  "{\"name\":\"big-one\",\"size\":10737418240,\"segment_size\":4194304,"
  "\"container\":\"fast\",\"mapped_segments\":192,\"mapped\":805306368,"
  "\"exclusive\":536870912,\"shared\":268435456,\"read_only\":true}]";

static const char vdisk_info_json[] =
  "{\"name\":\"disk0\",\"size\":1073741824,\"segment_size\":1048576,"
  "\"container\":\"default\",\"mapped_segments\":12,\"mapped\":12582912,"
  "\"containers\":[\"default\",\"b\"],\"placement\":\"spread\","
  "\"distribution\":{\"default\":7,\"b\":5},"
  "\"read_only\":false,\"created\":1700000000,\"segments\":1024}";

static const char check_bad_json[] =
  "{\"ok\":false,\"problems\":[\"segment 7 of container default is "
  "both free and mapped\",\"vdisk disk0: segment 3 leaked\"],"
  "\"checked\":{\"vdisks\":2,\"segments\":780,\"containers\":2}}";

static const char check_good_json[] =
  "{\"ok\":true,\"problems\":[],"
  "\"checked\":{\"vdisks\":2,\"segments\":780,\"containers\":2}}";

/* A vdisk row for create/resize, echoing the request. */
static json_object *
vdisk_row (json_object *args)
{
  json_object *row = json_tokener_parse (vdisk_info_json), *v;

  json_object_object_del (row, "created");
  json_object_object_del (row, "segments");
  json_object_object_del (row, "containers");
  json_object_object_del (row, "placement");
  json_object_object_del (row, "distribution");
  json_object_object_foreach (args, key, val) {
    (void) val;
    if (json_object_object_get_ex (args, key, &v))
      json_object_object_add (row, key, json_object_get (v));
  }
  return row;
}

/* A container row for container.add, echoing the request. */
static json_object *
container_row (json_object *args)
{
  json_object *row = json_object_new_object (), *v;

  json_object_object_get_ex (args, "name", &v);
  json_object_object_add (row, "name", json_object_get (v));
  json_object_object_get_ex (args, "path", &v);
  json_object_object_add (row, "path", json_object_get (v));
  json_object_object_add (row, "kind", json_object_new_string ("file"));
  if (!json_object_object_get_ex (args, "size", &v))
    v = json_object_new_int64 (1 << 30);
  else
    json_object_get (v);
  json_object_object_add (row, "size", v);
  json_object_object_add (row, "used", json_object_new_int64 (0));
  json_object_object_add (row, "allocated", json_object_new_int64 (0));
  json_object_object_add (row, "segments", json_object_new_int64 (0));
  return row;
}

static const char *
arg_name (json_object *args)
{
  json_object *v;

  return json_object_object_get_ex (args, "name", &v) ?
    json_object_get_string (v) : "";
}

static json_object *
fake_dispatch (void *opaque, const char *cmd, json_object *args, char **error)
{
  {
    pthread_mutex_lock (&lock);
    n_requests++;
    snprintf (last_cmd, sizeof last_cmd, "%s", cmd);
    free (last_args);
    last_args = strdup (json_object_to_json_string_ext
                        (args, JSON_C_TO_STRING_PLAIN));
    pthread_mutex_unlock (&lock);
  }
  if (strcmp (arg_name (args), "missing") == 0) {
    *error = strdup ("no such vdisk 'missing'");
    return NULL;
  }
  if (strcmp (cmd, "status") == 0)
    return json_tokener_parse (status_json);
  if (strcmp (cmd, "container.list") == 0)
    return json_tokener_parse (container_list_json);
  if (strcmp (cmd, "agents") == 0)
    return json_tokener_parse (agents_json);
  if (strcmp (cmd, "container.add") == 0
      || strcmp (cmd, "container.online") == 0)
    return container_row (args);
  if (strcmp (cmd, "vdisk.list") == 0)
    return json_tokener_parse (empty_lists ? "[]" : vdisk_list_json);
  if (strcmp (cmd, "vdisk.info") == 0)
    return json_tokener_parse (vdisk_info_json);
  if (strcmp (cmd, "vdisk.create") == 0 || strcmp (cmd, "vdisk.resize") == 0)
    return vdisk_row (args);
  if (strcmp (cmd, "vdisk.delete") == 0 ||
      strcmp (cmd, "container.remove") == 0)
    return json_object_new_object ();
  if (strcmp (cmd, "check") == 0)
    return json_tokener_parse (check_ok ? check_good_json : check_bad_json);
  *error = strdup ("unknown command");
  return NULL;
}

/* ---- fixture ---- */

static void
setup (void)
{
  sm_set_log_sinks (error_sink, NULL);
  strcpy (tmpdir, "/tmp/test-segmapctl-XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (tmpdir));
  snprintf (sock_path, sizeof sock_path, "%s/segmap.sock", tmpdir);
  n_requests = 0;
  last_cmd[0] = '\0';
  check_ok = true;
  empty_lists = false;
  server = ctl_server_start (sock_path, fake_dispatch, NULL);
  ck_assert_msg (server != NULL, "%s", last_error);
}

static void
teardown (void)
{
  char path[256];

  ctl_server_stop (server);
  server = NULL;
  free (last_args);
  last_args = NULL;
  snprintf (path, sizeof path, "%s/out", tmpdir);
  unlink (path);
  snprintf (path, sizeof path, "%s/err", tmpdir);
  unlink (path);
  unlink (sock_path);
  rmdir (tmpdir);
}

/* ---- running segmapctl ---- */

struct run {
  int status;                   /* exit status, or -1 if it crashed */
  char out[16384];
  char err[4096];
};

/* The child's environment: ours without SEGMAP_SOCKET, plus TZ=UTC and
 * SOCKET_ENV if not NULL.  Built before fork (no malloc after it). */
static char **
child_env (const char *socket_env)
{
  size_t n = 0, i, j = 0;
  char **env;

  while (environ[n])
    n++;
  env = calloc (n + 3, sizeof *env);
  for (i = 0; i < n; i++)
    if (strncmp (environ[i], "SEGMAP_SOCKET=", 14) != 0 &&
        strncmp (environ[i], "TZ=", 3) != 0)
      env[j++] = environ[i];
  env[j++] = (char *) "TZ=UTC";
  if (socket_env)
    env[j++] = (char *) socket_env;
  return env;
}

static void
slurp (const char *name, char *buf, size_t len)
{
  char path[256];
  ssize_t r;
  int fd;

  snprintf (path, sizeof path, "%s/%s", tmpdir, name);
  fd = open (path, O_RDONLY);
  ck_assert_int_ge (fd, 0);
  r = read (fd, buf, len - 1);
  ck_assert_int_ge (r, 0);
  buf[r] = '\0';
  close (fd);
}

/* Run segmapctl with ARGV (NULL-terminated, without argv[0]). */
static void
run_env (struct run *r, const char *socket_env, const char *const *argv)
{
  char out[256], err[256];
  const char *args[32] = { segmapctl };
  char **env = child_env (socket_env);
  int status, i;
  pid_t pid;

  for (i = 0; argv[i]; i++)
    args[i + 1] = argv[i];
  snprintf (out, sizeof out, "%s/out", tmpdir);
  snprintf (err, sizeof err, "%s/err", tmpdir);
  pid = fork ();
  ck_assert_int_ge (pid, 0);
  if (pid == 0) {
    int o = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open (err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2 (o, 1);
    dup2 (e, 2);
    execve (segmapctl, (char **) args, env);
    _exit (126);
  }
  free (env);
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  r->status = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
  slurp ("out", r->out, sizeof r->out);
  slurp ("err", r->err, sizeof r->err);
}

#define RUN(r, ...) \
  run_env ((r), NULL, (const char *const []) { "-s", sock_path, __VA_ARGS__, \
                                               NULL })

/* The last request must be CMD with arguments equal to ARGS. */
static void
check_request (const char *cmd, const char *args)
{
  json_object *want = json_tokener_parse (args), *got;

  pthread_mutex_lock (&lock);
  ck_assert_str_eq (last_cmd, cmd);
  got = json_tokener_parse (last_args);
  pthread_mutex_unlock (&lock);
  ck_assert_msg (json_object_equal (got, want), "sent %s, expected %s",
                 json_object_to_json_string (got), args);
  json_object_put (got);
  json_object_put (want);
}

/* stdout must parse as JSON equal to WANT. */
static void
check_json_out (const struct run *r, const char *want)
{
  json_object *w = json_tokener_parse (want);
  json_object *got = json_tokener_parse (r->out);

  ck_assert_msg (got != NULL, "stdout is not JSON: %s", r->out);
  ck_assert_msg (json_object_equal (got, w), "printed %s, expected %s",
                 r->out, want);
  json_object_put (got);
  json_object_put (w);
}

static void
check_run (const struct run *r, int status, const char *out, const char *err)
{
  ck_assert_msg (r->status == status, "exit %d (expected %d), stderr: %s",
                 r->status, status, r->err);
  if (out)
    ck_assert_str_eq (r->out, out);
  if (err)
    ck_assert_str_eq (r->err, err);
}

/* ---- tests ---- */

START_TEST (test_status)
{
  struct run r;

  RUN (&r, "status");
  check_run (&r, 0,
             "Version:      0.1.0\n"
             "Uptime:       1h 1m 1s\n"
             "State dir:    /srv/sm\n"
             "Database:     /srv/sm/segmap.db\n"
             "Socket:       /srv/sm/segmap.sock\n"
             "Read-only:    no\n"
             "Needs check:  yes (run 'segmapctl check')\n"
             "Vdisks:       2\n"
             "Containers:   2 (1 failed)\n"
             "Agent:        1024 entries, 1.5M memory of 256M limit, "
             "17 faults, 192 forgotten, 5 granted writes\n"
             "Controller:   5 commits, 12 allocations, 1 pending\n", "");
  check_request ("status", "{}");
  RUN (&r, "status", "--json");
  check_run (&r, 0, NULL, "");
  check_json_out (&r, status_json);
}
END_TEST

START_TEST (test_agents)
{
  struct run r;

  RUN (&r, "agents");
  check_run (&r, 0,
    "ID  NAME    VERSION  TABLES  GRANTS  FAULTS      HEARD\n"
    " 1  host-a        3       2    1024      17  1m 5s ago\n"
    " 2  host-b        3       -       0       0     3s ago\n", "");
  check_request ("agents", "{}");
  RUN (&r, "agents", "--json");
  check_run (&r, 0, NULL, "");
  check_json_out (&r, agents_json);
}
END_TEST

START_TEST (test_container_list)
{
  struct run r;

  RUN (&r, "container", "list");
  check_run (&r, 0,
    "NAME     KIND   STATE   SIZE  USED   USE%  ALLOCATED  SEGMENTS  PATH\n"
    "default  file   online    1T   12M   0.0%      12.1M        12  /srv/sm/default.img\n"
    "fast     block  failed  1.5G  768M  50.0%       1.5G       768  /dev/sdb\n", "");
  check_request ("container.list", "{}");
  RUN (&r, "container", "list", "--json");
  check_run (&r, 0, NULL, "");
  check_json_out (&r, container_list_json);
}
END_TEST

START_TEST (test_vdisk_list)
{
  struct run r;

  RUN (&r, "--json", "vdisk", "list");
  check_run (&r, 0, NULL, "");
  check_json_out (&r, vdisk_list_json);
  check_request ("vdisk.list", "{}");
  RUN (&r, "vdisk", "list");
  check_run (&r, 0,
    "NAME     SIZE  MAPPED  USE%  SHARED  SEGMENT  CONTAINER  MODE\n"
    "disk0      1G     12M  1.2%       0       1M  default    rw\n"
    "big-one   10G    768M  7.5%    256M       4M  fast       ro\n", "");
  /* No vdisks: just the header. */
  empty_lists = true;
  RUN (&r, "vdisk", "list");
  check_run (&r, 0, "NAME  SIZE  MAPPED  USE%  SHARED  SEGMENT  CONTAINER  MODE\n",
             "");
  RUN (&r, "vdisk", "list", "--json");
  check_run (&r, 0, NULL, "");
  check_json_out (&r, "[]");
}
END_TEST

START_TEST (test_vdisk_create)
{
  struct run r;

  RUN (&r, "vdisk", "create", "d1", "1G");
  check_run (&r, 0, "vdisk d1 created: 1G, segment size 1M, container "
             "default\n", "");
  check_request ("vdisk.create", "{\"name\":\"d1\",\"size\":1073741824}");
  /* Options before, between and after the positional arguments. */
  RUN (&r, "--json", "vdisk", "create", "--segment-size", "4M", "d2",
       "100G", "--container=fast");
  check_run (&r, 0, NULL, "");
  check_request ("vdisk.create", "{\"name\":\"d2\",\"size\":107374182400,"
                 "\"segment_size\":4194304,\"container\":\"fast\"}");
  check_json_out (&r, "{\"name\":\"d2\",\"size\":107374182400,"
                  "\"segment_size\":4194304,\"container\":\"fast\","
                  "\"mapped_segments\":12,\"mapped\":12582912,"
                  "\"read_only\":false}");
  /* A pool. */
  RUN (&r, "vdisk", "create", "d3", "1G", "--container", "a,b,c",
       "--placement", "spread");
  check_run (&r, 0, NULL, "");
  check_request ("vdisk.create", "{\"name\":\"d3\",\"size\":1073741824,"
                 "\"container\":\"a,b,c\",\"placement\":\"spread\"}");
  RUN (&r, "vdisk", "create", "d3", "1G", "--container", "a,,c");
  check_run (&r, 2, "", NULL);
  RUN (&r, "vdisk", "create", "d3", "1G", "--placement", "round");
  check_run (&r, 2, "", NULL);
}
END_TEST

START_TEST (test_vdisk_info)
{
  struct run r;

  RUN (&r, "vdisk", "info", "disk0");
  check_run (&r, 0,
             "Name:         disk0\n"
             "Size:         1G (1073741824 bytes)\n"
             "Segment size: 1M\n"
             "Segments:     1024 total, 12 mapped\n"
             "Mapped:       12M (1.2%)\n"
             "Container:    default\n"
             "Pool:         default, b (spread)\n"
             "Placed:       default 7, b 5\n"
             "Read-only:    no\n"
             "Created:      2023-11-14 22:13:20 +0000\n", "");
  check_request ("vdisk.info", "{\"name\":\"disk0\"}");
}
END_TEST

START_TEST (test_vdisk_resize_delete)
{
  struct run r;

  RUN (&r, "vdisk", "resize", "disk0", "2g");
  check_run (&r, 0, "vdisk disk0 resized to 2G\n", "");
  check_request ("vdisk.resize", "{\"name\":\"disk0\",\"size\":2147483648}");
  RUN (&r, "vdisk", "delete", "disk0");
  check_run (&r, 0, "vdisk disk0 deleted\n", "");
  check_request ("vdisk.delete", "{\"name\":\"disk0\"}");
  RUN (&r, "vdisk", "delete", "--json", "disk0");
  check_run (&r, 0, NULL, "");
  check_json_out (&r, "{}");
}
END_TEST

START_TEST (test_containers)
{
  struct run r;
  char want[512], cwd[256];

  RUN (&r, "container", "add", "c1", "/srv/c1.img", "10G");
  check_run (&r, 0, "container c1 added: file /srv/c1.img, 10G\n", "");
  check_request ("container.add", "{\"name\":\"c1\",\"path\":\"/srv/c1.img\","
                 "\"size\":10737418240}");
  /* A relative path is sent absolute; SIZE is optional. */
  RUN (&r, "container", "add", "c2", "sub/c2.img");
  check_run (&r, 0, NULL, "");
  ck_assert_ptr_nonnull (getcwd (cwd, sizeof cwd));
  snprintf (want, sizeof want, "{\"name\":\"c2\",\"path\":\"%s/sub/c2.img\"}",
            cwd);
  check_request ("container.add", want);
  RUN (&r, "container", "remove", "c1");
  check_run (&r, 0, "container c1 removed\n", "");
  check_request ("container.remove", "{\"name\":\"c1\"}");
  RUN (&r, "container", "online", "c1");
  check_run (&r, 0, "container c1 is online\n", "");
  check_request ("container.online", "{\"name\":\"c1\"}");
  RUN (&r, "container", "online");
  ck_assert_int_eq (r.status, 2);
  RUN (&r, "container", "online", "bad name");
  ck_assert_int_eq (r.status, 2);
}
END_TEST

START_TEST (test_check)
{
  struct run r;

  RUN (&r, "check");
  check_run (&r, 0, "consistent (checked 2 vdisks, 780 segments, "
             "2 containers)\n", "");
  check_request ("check", "{}");
  check_ok = false;
  RUN (&r, "check");
  check_run (&r, 1,
             "segment 7 of container default is both free and mapped\n"
             "vdisk disk0: segment 3 leaked\n"
             "2 problems (checked 2 vdisks, 780 segments, 2 containers)\n",
             "");
  RUN (&r, "check", "--json");
  check_run (&r, 1, NULL, "");
  check_json_out (&r, check_bad_json);
}
END_TEST

START_TEST (test_server_error)
{
  struct run r;

  RUN (&r, "vdisk", "info", "missing");
  check_run (&r, 1, "", "segmapctl: no such vdisk 'missing'\n");
  RUN (&r, "--json", "vdisk", "delete", "missing");
  check_run (&r, 1, "", "segmapctl: no such vdisk 'missing'\n");
}
END_TEST

START_TEST (test_usage_sends_nothing)
{
  static const char *const bad[][6] = {
    { "vdisk", "create", "bad/name", "1G", NULL },
    { "vdisk", "create", "d1", "1Q", NULL },
    { "vdisk", "create", "d1", "-5", NULL },
    { "vdisk", "create", "d1", "1G", "--segment-size", "3M" },
    { "vdisk", "create", "d1", "1G", "--segment-size", "128M" },
    { "vdisk", "create", "d1", "1G", "--container", "a@b" },
    { "vdisk", "resize", "d1", NULL },
    { "vdisk", "info", "..", NULL },
    { "container", "add", "c1", "", NULL },
    { "container", "add", "c1", "/x", "ten", NULL },
    { "status", "extra", NULL },
    { "vdisk", "list", "--container", "c1", NULL },
  };
  struct run r;
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *argv[10] = { "-s", sock_path };
    int j;

    for (j = 0; j < 6 && bad[i][j]; j++)
      argv[j + 2] = bad[i][j];
    run_env (&r, NULL, argv);
    ck_assert_msg (r.status == 2, "case %zu: exit %d", i, r.status);
    ck_assert_msg (strncmp (r.err, "segmapctl: ", 11) == 0, "case %zu: %s",
                   i, r.err);
    ck_assert_str_eq (r.out, "");
  }
  ck_assert_uint_eq (requests (), 0);
}
END_TEST

START_TEST (test_socket_choice)
{
  char env[256], other[256];
  struct run r;

  /* $SEGMAP_SOCKET when there is no -s ... */
  snprintf (env, sizeof env, "SEGMAP_SOCKET=%s", sock_path);
  run_env (&r, env, (const char *const []) { "vdisk", "list", NULL });
  check_run (&r, 0, NULL, "");
  ck_assert_uint_eq (requests (), 1);
  /* ... and -s wins over it. */
  snprintf (other, sizeof other, "%s/nothing.sock", tmpdir);
  run_env (&r, env, (const char *const []) { "-s", other, "status", NULL });
  check_run (&r, 3, "", NULL);
  ck_assert_msg (strstr (r.err, other) != NULL, "%s", r.err);
  ck_assert_uint_eq (requests (), 1);
}
END_TEST

START_TEST (test_cannot_connect)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char stale[256];
  struct run r;
  int fd;

  /* Nothing there. */
  snprintf (stale, sizeof stale, "%s/none.sock", tmpdir);
  run_env (&r, NULL, (const char *const []) { "-s", stale, "status", NULL });
  check_run (&r, 3, "", NULL);
  ck_assert_msg (strstr (r.err, "cannot connect to") != NULL &&
                 strstr (r.err, stale) != NULL, "%s", r.err);
  /* A stale socket file. */
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  strcpy (addr.sun_path, stale);
  ck_assert_int_eq (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
  close (fd);
  run_env (&r, NULL, (const char *const []) { "-s", stale, "check", NULL });
  check_run (&r, 3, "", NULL);
  ck_assert_msg (strstr (r.err, "not running") != NULL, "%s", r.err);
  unlink (stale);
}
END_TEST

START_TEST (test_refused)
{
  struct ctl_server_opts opts = { .max_connections = 1 };
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct run r;
  char line[128];
  int fd;

  ctl_server_stop (server);
  server = ctl_server_start_opts (sock_path, fake_dispatch, NULL, &opts);
  ck_assert_ptr_nonnull (server);
  /* Take the only slot, and make sure the server has counted it. */
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  strcpy (addr.sun_path, sock_path);
  ck_assert_int_eq (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
  strcpy (line, "{\"v\":1,\"cmd\":\"status\"}\n");
  ck_assert_int_eq (write (fd, line, strlen (line)), strlen (line));
  ck_assert_int_gt (read (fd, line, 1), 0);
  /* segmapctl gets the server's reason, as a server error. */
  RUN (&r, "status");
  check_run (&r, 1, "", NULL);
  ck_assert_msg (strstr (r.err, "too many connections") != NULL, "%s", r.err);
  close (fd);
}
END_TEST

static Suite *
segmapctl_suite (void)
{
  Suite *s = suite_create ("segmapctl");
  TCase *tc = tcase_create ("client");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_status);
  tcase_add_test (tc, test_container_list);
  tcase_add_test (tc, test_agents);
  tcase_add_test (tc, test_vdisk_list);
  tcase_add_test (tc, test_vdisk_create);
  tcase_add_test (tc, test_vdisk_info);
  tcase_add_test (tc, test_vdisk_resize_delete);
  tcase_add_test (tc, test_containers);
  tcase_add_test (tc, test_check);
  tcase_add_test (tc, test_server_error);
  tcase_add_test (tc, test_usage_sends_nothing);
  tcase_add_test (tc, test_socket_choice);
  tcase_add_test (tc, test_cannot_connect);
  tcase_add_test (tc, test_refused);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr;
  int failed;

  segmapctl = getenv ("SEGMAPCTL");
  if (segmapctl == NULL || access (segmapctl, X_OK) == -1) {
    fprintf (stderr, "test-segmapctl: $SEGMAPCTL is not set to the built "
             "segmapctl; skipped\n");
    return 77;
  }
  sr = srunner_create (segmapctl_suite ());
  srunner_run_all (sr, CK_ENV);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
