/* segmapctl: the commands.
 *
 * Each command checks its arguments first (names with sm_valid_name,
 * sizes with sm_parse_size: a bad one is a usage error and nothing is
 * sent), builds the JSON arguments of exactly one request, sends it and
 * prints the result: pretty JSON with --json, otherwise a table or a
 * "key: value" block.  The JSON shapes are the contract with the
 * controller's handlers; they are listed in segmapctl(8).
 *
 * Printing is tolerant: a member missing from a result is shown as "-"
 * rather than failing, so an older or newer server stays usable.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "common/size.h"
#include "ctl/ctl-proto.h"
#include "tools/commands-internal.h"
#include "tools/format.h"
#include "tools/segmapctl.h"

/* ---- talking to the server ---- */

/* Send one request.  Returns 0 with *RESULT, or the exit status after
 * printing why (the server's error, or a connection problem). */
int
call (struct session *s, const char *cmd, json_object *args,
      json_object **result)
{
  CLEANUP_FREE char *error = NULL;
  int r;

  if (s->client == NULL) {
    s->client = ctl_client_connect (s->socket);
    if (s->client == NULL) {
      json_object_put (args);
      return EXIT_CONNECT;
    }
  }
  r = ctl_client_call (s->client, cmd, args, result, &error);
  if (r == -1)
    return EXIT_CONNECT;
  if (r == 1) {
    fprintf (stderr, "segmapctl: %s\n", error);
    return EXIT_SERVER_ERROR;
  }
  return 0;
}

/* Pretty JSON for --json (json-c would print an empty object on two
 * lines). */
void
print_json (json_object *result)
{
  const char *str;

  if (json_object_is_type (result, json_type_object) &&
      json_object_object_length (result) == 0)
    str = "{}";
  else if (json_object_is_type (result, json_type_array) &&
           json_object_array_length (result) == 0)
    str = "[]";
  else
    str = json_object_to_json_string_ext
      (result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
       JSON_C_TO_STRING_NOSLASHESCAPE);
  printf ("%s\n", str ? str : "null");
}

/* ---- reading results ---- */

const char *
jstr (json_object *o, const char *key)
{
  json_object *v;

  if (!json_object_object_get_ex (o, key, &v) ||
      !json_object_is_type (v, json_type_string))
    return NULL;
  return json_object_get_string (v);
}

bool
jint (json_object *o, const char *key, int64_t *out)
{
  json_object *v;

  if (!json_object_object_get_ex (o, key, &v) ||
      !json_object_is_type (v, json_type_int))
    return false;
  *out = json_object_get_int64 (v);
  return true;
}

/* "yes", "no" or "-" for a boolean member. */
const char *
jyesno (json_object *o, const char *key)
{
  json_object *v;

  if (!json_object_object_get_ex (o, key, &v) ||
      !json_object_is_type (v, json_type_boolean))
    return "-";
  return json_object_get_boolean (v) ? "yes" : "no";
}

/* A size member formatted for humans into BUF, "-" if missing. */
const char *
jsize (json_object *o, const char *key, char *buf)
{
  int64_t v;

  if (!jint (o, key, &v) || v < 0)
    return "-";
  fmt_size (v, buf, FMT_SIZE_LEN);
  return buf;
}

/* An integer member in decimal into BUF, "-" if missing. */
const char *
jnum (json_object *o, const char *key, char *buf)
{
  int64_t v;

  if (!jint (o, key, &v))
    return "-";
  snprintf (buf, FMT_SIZE_LEN, "%" PRId64, v);
  return buf;
}

/* Percentage of PART in WHOLE with one decimal, "-" if unknown. */
static const char *
percent (json_object *o, const char *part, const char *whole, char *buf)
{
  int64_t p, w;

  if (!jint (o, part, &p) || !jint (o, whole, &w) || w <= 0 || p < 0)
    return "-";
  snprintf (buf, FMT_SIZE_LEN, "%.1f%%", 100.0 * (double) p / (double) w);
  return buf;
}

void
kv (const char *key, const char *fmt, ...)
{
  va_list args;

  printf ("%-14s", key);
  va_start (args, fmt);
  vprintf (fmt, args);
  va_end (args);
  putchar ('\n');
}

/* ---- building arguments (usage errors return EXIT_USAGE) ---- */

int
check_name (const struct command *cmd, const char *what, const char *name)
{
  if (sm_valid_name (name))
    return 0;
  return usage_error (cmd, "invalid %s name '%s': %s", what, name,
                      SM_NAME_RULE);
}

int
check_pool (const struct command *cmd, const char *list)
{
  if (sm_valid_name_list (list))
    return 0;
  return usage_error (cmd, "invalid container list '%s': NAME[,NAME...] "
                      "(no spaces), names are %s", list, SM_NAME_RULE);
}

int
check_placement (const struct command *cmd, const char *placement)
{
  if (strcmp (placement, "fill") == 0 || strcmp (placement, "spread") == 0)
    return 0;
  return usage_error (cmd, "--placement: 'fill' or 'spread', not '%s'",
                      placement);
}

/* Add the pool options (--container LIST, --placement) to ARGS. */
static void
add_pool_args (const struct session *s, json_object *args)
{
  if (s->container)
    json_object_object_add (args, "container",
                            json_object_new_string (s->container));
  if (s->placement)
    json_object_object_add (args, "placement",
                            json_object_new_string (s->placement));
}

int
check_export_name (const struct command *cmd, const char *name)
{
  if (sm_valid_export_name (name))
    return 0;
  return usage_error (cmd, "invalid vdisk name '%s': %s, or VDISK@SNAP "
                      "for a snapshot", name, SM_NAME_RULE);
}

int
parse_size (const struct command *cmd, const char *str, int64_t *size)
{
  uint64_t v;

  if (sm_parse_size (str, &v) == -1) {
    usage_hint (cmd);
    return EXIT_USAGE;
  }
  *size = v;
  return 0;
}

static int
check_segment_size (const struct command *cmd, const char *str, int64_t *size)
{
  if (parse_size (cmd, str, size) != 0)
    return EXIT_USAGE;
  if (!sm_is_power_of_2 (*size) || (uint64_t) *size < SM_SEGMENT_SIZE_MIN ||
      (uint64_t) *size > SM_SEGMENT_SIZE_MAX)
    return usage_error (cmd, "invalid segment size '%s': a power of two "
                        "from 64K to 64M", str);
  return 0;
}

/* {"name": NAME} */
json_object *
name_args (const char *name)
{
  json_object *args = json_object_new_object ();

  json_object_object_add (args, "name", json_object_new_string (name));
  return args;
}

/* PATH made absolute against our working directory: the server
 * resolves paths from its own, which is not ours. */
char *
absolute_path (const char *path)
{
  CLEANUP_FREE char *cwd = NULL;
  char *abs;

  if (path[0] == '/')
    return strdup (path);
  cwd = getcwd (NULL, 0);
  if (cwd == NULL) {
    sm_error ("getcwd: %m");
    return NULL;
  }
  if (asprintf (&abs, "%s/%s", cwd, path) == -1)
    return NULL;
  return abs;
}

/* ---- status ---- */

static void
print_status (json_object *r)
{
  json_object *agent = NULL, *ctl = NULL;
  char b[6][FMT_SIZE_LEN];
  int64_t uptime;
  bool check = strcmp (jyesno (r, "needs_check"), "yes") == 0;

  json_object_object_get_ex (r, "agent", &agent);
  json_object_object_get_ex (r, "controller", &ctl);
  strcpy (b[0], "-");
  if (jint (r, "uptime", &uptime) && uptime >= 0)
    fmt_duration (uptime, b[0], sizeof b[0]);
  kv ("Version:", "%s", jstr (r, "version") ?: "-");
  kv ("Uptime:", "%s", b[0]);
  kv ("State dir:", "%s", jstr (r, "state_dir") ?: "-");
  kv ("Database:", "%s", jstr (r, "database") ?: "-");
  kv ("Socket:", "%s", jstr (r, "socket") ?: "-");
  kv ("Read-only:", "%s", jyesno (r, "read_only"));
  kv ("Needs check:", "%s%s", jyesno (r, "needs_check"),
      check ? " (run 'segmapctl check')" : "");
  kv ("Vdisks:", "%s", jnum (r, "vdisks", b[0]));
  kv ("Containers:", "%s (%s failed)", jnum (r, "containers", b[0]),
      jnum (r, "failed_containers", b[1]));
  kv ("Agent:", "%s entries, %s memory of %s limit, %s faults, %s forgotten, "
      "%s granted writes",
      jnum (agent, "entries", b[0]), jsize (agent, "memory", b[1]),
      jsize (agent, "memory_limit", b[2]), jnum (agent, "faults", b[3]),
      jnum (agent, "forgotten", b[4]), jnum (agent, "granted_writes", b[5]));
  kv ("Controller:", "%s commits, %s allocations, %s pending",
      jnum (ctl, "commits", b[0]), jnum (ctl, "allocations", b[1]),
      jnum (ctl, "pending", b[2]));
}

static int
run_status (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = call (s, "status", NULL, &r);

  if (rc == 0)
    s->json ? print_json (r) : print_status (r);
  return rc;
}

/* ---- agents ---- */

static const char *const agent_headers[] = {
  "ID", "NAME", "VERSION", "TABLES", "GRANTS", "FAULTS", "HEARD"
};

/* Right-aligned (numeric) columns of the agent table. */
#define AGENT_RIGHT 0x7d

static int
add_agent_row (struct table *t, json_object *a)
{
  char b[6][FMT_SIZE_LEN];
  int64_t ago;
  const char *cells[] = {
    jnum (a, "id", b[0]), jstr (a, "name") ?: "-",
    jnum (a, "version", b[1]), jnum (a, "tables", b[2]),
    jnum (a, "grants", b[3]), jnum (a, "faults", b[4]), b[5],
  };

  if (jint (a, "last_heard_ago", &ago) && ago >= 0) {
    fmt_duration (ago, b[5], sizeof b[5]);
    strncat (b[5], " ago", sizeof b[5] - strlen (b[5]) - 1);
  }
  else
    strcpy (b[5], "-");
  return table_add_row (t, cells);
}

static int
run_agents (struct session *s, const struct command *cmd, int argc,
            char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = call (s, "agents", NULL, &r);

  if (rc != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  return print_table (r, 7, agent_headers, AGENT_RIGHT, add_agent_row);
}

/* ---- containers ---- */

static const char *const container_headers[] = {
  "NAME", "KIND", "STATE", "SIZE", "USED", "USE%", "ALLOCATED", "SEGMENTS",
  "PATH"
};

/* Right-aligned (numeric) columns of the container table. */
#define CONTAINER_RIGHT 0xf8

/* "failed", "evacuating" or "online". */
static const char *
container_state (json_object *c)
{
  if (strcmp (jstr (c, "state") ?: "", "failed") == 0)
    return "failed";
  return strcmp (jyesno (c, "evacuating"), "yes") == 0 ? "evacuating"
    : "online";
}

static int
add_container_row (struct table *t, json_object *c)
{
  char b[5][FMT_SIZE_LEN];
  const char *cells[] = {
    jstr (c, "name"), jstr (c, "kind"), container_state (c),
    jsize (c, "size", b[0]),
    jsize (c, "used", b[1]), percent (c, "used", "size", b[2]),
    jsize (c, "allocated", b[3]), jnum (c, "segments", b[4]),
    jstr (c, "path"),
  };

  return table_add_row (t, cells);
}

/* Print ROWS (an array of objects, or one object) with ADD_ROW. */
int
print_table (json_object *rows, unsigned ncols, const char *const *headers,
             unsigned right, int (*add_row) (struct table *, json_object *))
{
  struct table *t = table_new (ncols, headers, right);
  size_t i, n;
  int r = 0;

  if (t == NULL)
    goto oom;
  if (json_object_is_type (rows, json_type_array)) {
    n = json_object_array_length (rows);
    for (i = 0; i < n && r == 0; i++)
      r = add_row (t, json_object_array_get_idx (rows, i));
  }
  else
    r = add_row (t, rows);
  if (r == -1)
    goto oom;
  table_print (t, stdout);
  table_free (t);
  return 0;
 oom:
  table_free (t);
  fprintf (stderr, "segmapctl: out of memory\n");
  return EXIT_SERVER_ERROR;
}

static int
run_container_list (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = call (s, "container.list", NULL, &r);

  if (rc != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  return print_table (r, ARRAY_SIZE (container_headers), container_headers,
                      CONTAINER_RIGHT, add_container_row);
}

/* Arguments of container add: NAME PATH [SIZE]. */
static int
container_add_args (const struct command *cmd, int argc, char **argv,
                    json_object **out)
{
  CLEANUP_FREE char *path = NULL;
  int64_t size = 0;

  if (check_name (cmd, "container", argv[0]) != 0)
    return EXIT_USAGE;
  if (argv[1][0] == '\0')
    return usage_error (cmd, "empty container path");
  if (argc > 2 && parse_size (cmd, argv[2], &size) != 0)
    return EXIT_USAGE;
  path = absolute_path (argv[1]);
  if (path == NULL)
    return EXIT_USAGE;
  *out = name_args (argv[0]);
  json_object_object_add (*out, "path", json_object_new_string (path));
  if (argc > 2)
    json_object_object_add (*out, "size", json_object_new_int64 (size));
  return 0;
}

static int
run_container_add (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  char b[FMT_SIZE_LEN];
  int rc = container_add_args (cmd, argc, argv, &args);

  if (rc == 0)
    rc = call (s, "container.add", args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("container %s added: %s %s, %s\n", jstr (r, "name") ?: argv[0],
            jstr (r, "kind") ?: "-", jstr (r, "path") ?: "-",
            jsize (r, "size", b));
  return 0;
}

/* Call METHOD with {"name": NAME} (a container's); print "container
 * NAME DONE" or the JSON answer. */
static int
container_call (struct session *s, const struct command *cmd,
                const char *name, const char *method, const char *done)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = check_name (cmd, "container", name);

  if (rc == 0)
    rc = call (s, method, name_args (name), &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("container %s %s\n", name, done);
  return 0;
}

static int
run_container_remove (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  return container_call (s, cmd, argv[0], "container.remove", "removed");
}

static int
run_container_online (struct session *s, const struct command *cmd, int argc,
                      char **argv)
{
  return container_call (s, cmd, argv[0], "container.online", "is online");
}

/* ---- vdisks ---- */

static const char *const vdisk_headers[] = {
  "NAME", "SIZE", "MAPPED", "USE%", "SHARED", "SEGMENT", "CONTAINER", "MODE"
};

#define VDISK_RIGHT 0x3e

static int
add_vdisk_row (struct table *t, json_object *v)
{
  char b[5][FMT_SIZE_LEN];
  const char *ro = jyesno (v, "read_only");
  const char *cells[] = {
    jstr (v, "name"), jsize (v, "size", b[0]), jsize (v, "mapped", b[1]),
    percent (v, "mapped", "size", b[2]), jsize (v, "shared", b[4]),
    jsize (v, "segment_size", b[3]),
    jstr (v, "container"),
    strcmp (ro, "yes") == 0 ? "ro" : strcmp (ro, "no") == 0 ? "rw" : "-",
  };

  return table_add_row (t, cells);
}

static int
run_vdisk_list (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = call (s, "vdisk.list", NULL, &r);

  if (rc != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  return print_table (r, ARRAY_SIZE (vdisk_headers), vdisk_headers,
                      VDISK_RIGHT, add_vdisk_row);
}

/* Arguments of vdisk create: NAME SIZE [--container LIST] [--placement]
 * [--segment-size]. */
static int
vdisk_create_args (struct session *s, const struct command *cmd, char **argv,
                   json_object **out)
{
  int64_t size, seg = 0;

  if (check_name (cmd, "vdisk", argv[0]) != 0 ||
      parse_size (cmd, argv[1], &size) != 0 ||
      (s->container && check_pool (cmd, s->container) != 0) ||
      (s->placement && check_placement (cmd, s->placement) != 0) ||
      (s->segment_size && check_segment_size (cmd, s->segment_size, &seg) != 0))
    return EXIT_USAGE;
  *out = name_args (argv[0]);
  json_object_object_add (*out, "size", json_object_new_int64 (size));
  add_pool_args (s, *out);
  if (s->segment_size)
    json_object_object_add (*out, "segment_size", json_object_new_int64 (seg));
  return 0;
}

static int
run_vdisk_create (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  char b[2][FMT_SIZE_LEN];
  int rc = vdisk_create_args (s, cmd, argv, &args);

  if (rc == 0)
    rc = call (s, "vdisk.create", args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s created: %s, segment size %s, container %s\n",
            jstr (r, "name") ?: argv[0], jsize (r, "size", b[0]),
            jsize (r, "segment_size", b[1]), jstr (r, "container") ?: "-");
  return 0;
}

const char *
jtime (json_object *o, const char *key, char *buf, size_t len)
{
  int64_t v;
  time_t t;
  struct tm tm;

  if (!jint (o, key, &v))
    return "-";
  t = v;
  if (localtime_r (&t, &tm) == NULL ||
      strftime (buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
    snprintf (buf, len, "%" PRId64, v);
  return buf;
}

/* "Pool:" (containers, placement) and "Placed:" (segments per
 * container) of vdisk row R. */
static void
print_pool (json_object *r)
{
  json_object *names, *dist;
  char line[1024] = "";
  size_t len = 0;

  if (json_object_object_get_ex (r, "containers", &names)) {
    for (size_t i = 0; i < json_object_array_length (names); i++)
      len += snprintf (line + len, len < sizeof line ? sizeof line - len : 0,
                       "%s%s", i ? ", " : "",
                       json_object_get_string (json_object_array_get_idx
                                               (names, i)));
    kv ("Pool:", "%s (%s)", line, jstr (r, "placement") ?: "-");
  }
  if (json_object_object_get_ex (r, "distribution", &dist)) {
    len = 0;
    line[0] = '\0';
    json_object_object_foreach (dist, name, n)
      len += snprintf (line + len, len < sizeof line ? sizeof line - len : 0,
                       "%s%s %" PRId64, len ? ", " : "", name,
                       json_object_get_int64 (n));
    kv ("Placed:", "%s", len ? line : "-");
  }
}

static void
print_vdisk_info (json_object *r)
{
  char b[3][FMT_SIZE_LEN];
  char when[64];

  kv ("Name:", "%s", jstr (r, "name") ?: "-");
  kv ("Size:", "%s (%s bytes)", jsize (r, "size", b[0]),
      jnum (r, "size", b[1]));
  kv ("Segment size:", "%s", jsize (r, "segment_size", b[0]));
  kv ("Segments:", "%s total, %s mapped", jnum (r, "segments", b[0]),
      jnum (r, "mapped_segments", b[1]));
  kv ("Mapped:", "%s (%s)", jsize (r, "mapped", b[0]),
      percent (r, "mapped", "size", b[2]));
  kv ("Container:", "%s", jstr (r, "container") ?: "-");
  print_pool (r);
  kv ("Read-only:", "%s", jyesno (r, "read_only"));
  if (jstr (r, "clone_of"))
    kv ("Clone of:", "%s", jstr (r, "clone_of"));
  kv ("Created:", "%s", jtime (r, "created", when, sizeof when));
}

static int
run_vdisk_info (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = check_name (cmd, "vdisk", argv[0]);

  if (rc == 0)
    rc = call (s, "vdisk.info", name_args (argv[0]), &r);
  if (rc == 0)
    s->json ? print_json (r) : print_vdisk_info (r);
  return rc;
}

static int
run_vdisk_resize (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args;
  char b[FMT_SIZE_LEN];
  int64_t size;
  int rc;

  if (check_name (cmd, "vdisk", argv[0]) != 0 ||
      parse_size (cmd, argv[1], &size) != 0)
    return EXIT_USAGE;
  args = name_args (argv[0]);
  json_object_object_add (args, "size", json_object_new_int64 (size));
  if ((rc = call (s, "vdisk.resize", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s resized to %s\n", argv[0], jsize (r, "size", b));
  return 0;
}

static int
run_vdisk_delete (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = check_name (cmd, "vdisk", argv[0]);

  if (rc == 0)
    rc = call (s, "vdisk.delete", name_args (argv[0]), &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s deleted\n", argv[0]);
  return 0;
}

static int
run_vdisk_set (struct session *s, const struct command *cmd, int argc,
               char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args;
  int rc;

  if (check_name (cmd, "vdisk", argv[0]) != 0)
    return EXIT_USAGE;
  if (s->read_only == s->read_write)
    return usage_error (cmd, "give exactly one of --read-only and "
                        "--read-write");
  args = name_args (argv[0]);
  json_object_object_add (args, "read_only",
                          json_object_new_boolean (s->read_only));
  if ((rc = call (s, "vdisk.set", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s is now %s\n", argv[0],
            s->read_only ? "read-only" : "read-write");
  return 0;
}

/* ---- check ---- */

static void
print_check (json_object *r, bool ok)
{
  json_object *problems = NULL, *checked = NULL;
  char b[3][FMT_SIZE_LEN];
  size_t i, n = 0;

  json_object_object_get_ex (r, "checked", &checked);
  if (json_object_object_get_ex (r, "problems", &problems) &&
      json_object_is_type (problems, json_type_array))
    n = json_object_array_length (problems);
  for (i = 0; i < n; i++)
    printf ("%s\n", json_object_get_string
            (json_object_array_get_idx (problems, i)));
  if (ok)
    printf ("consistent");
  else
    printf ("%zu problem%s", n, n == 1 ? "" : "s");
  printf (" (checked %s vdisks, %s segments, %s containers)\n",
          jnum (checked, "vdisks", b[0]), jnum (checked, "segments", b[1]),
          jnum (checked, "containers", b[2]));
}

static int
run_check (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *ok;
  bool consistent;
  int rc = call (s, "check", NULL, &r);

  if (rc != 0)
    return rc;
  consistent = json_object_object_get_ex (r, "ok", &ok) &&
    json_object_is_type (ok, json_type_boolean) &&
    json_object_get_boolean (ok);
  s->json ? print_json (r) : print_check (r, consistent);
  return consistent ? 0 : EXIT_SERVER_ERROR;
}

/* ---- the table ---- */

#define NAME_RULE_HELP \
  "Names are 1 to 64 characters from A-Z a-z 0-9 . _ - and start with a\n" \
  "letter or a digit.\n"
#define SIZE_HELP \
  "Sizes take an optional K, M, G, T or P suffix (powers of 1024).\n"

/* In the order --help lists them. */
const struct command commands[] = {
  {
    .name = "status", .args = "",
    .summary = "show the state of the running segmap",
    .details =
    "Shows the version, uptime, paths, counts of vdisks and containers,\n"
    "and the mapping agent's and the controller's counters.\n",
    .run = run_status,
  },
  {
    .name = "agents", .args = "",
    .summary = "list the mapping agents registered with the controller",
    .details =
    "Columns: ID (given at registration), NAME, VERSION (protocol),\n"
    "TABLES (vdisk tables the agent holds, as it reports them; - if it\n"
    "did not answer), GRANTS (free segments granted to it and not yet\n"
    "used), FAULTS (its map faults), HEARD (since its last message).\n"
    "--json adds allocations, flushes, unknown_outcomes (commands whose\n"
    "outcome the controller could not learn), degraded and the times\n"
    "of registration and of the last message.\n",
    .run = run_agents,
  },
  {
    .name = "check", .args = "",
    .summary = "check the map and allocator for consistency",
    .details =
    "Prints each problem found, then \"consistent\" or \"N problems\".\n"
    "Exits with status 1 if the map is not consistent.\n",
    .run = run_check,
  },
  {
    .group = "container", .name = "list", .args = "",
    .summary = "list containers",
    .details =
    "Columns: NAME, KIND (file or block), STATE (online, evacuating, or\n"
    "failed: its I/O failed and its segments report medium errors until\n"
    "'container online'), SIZE, USED (taken by allocated segments), USE%,\n"
    "ALLOCATED (space the file system has given the file), SEGMENTS\n"
    "(allocated segments), PATH.  --json adds why and when a failed\n"
    "container failed.\n",
    .run = run_container_list,
  },
  {
    .group = "container", .name = "add", .args = "NAME PATH [SIZE]",
    .summary = "add a container (a file or a block device)",
    .details =
    "PATH is a regular file on the segmap host (created sparse if it is\n"
    "missing, grown sparse to SIZE if it is smaller, never shrunk) or a\n"
    "block device (SIZE, if given, must not exceed it).  A new file needs\n"
    "SIZE.  A relative PATH is made absolute against the current directory\n"
    "before it is sent.\n\n" NAME_RULE_HELP SIZE_HELP,
    .min_args = 2, .max_args = 3,
    .run = run_container_add,
  },
  {
    .group = "container", .name = "remove", .args = "NAME",
    .summary = "remove a container no vdisk uses",
    .details =
    "The file or device itself is left alone.  The server refuses to\n"
    "remove a container that still holds segments ('container evacuate'\n"
    "moves them away).\n",
    .min_args = 1, .max_args = 1,
    .run = run_container_remove,
  },
  {
    .group = "container", .name = "evacuate", .args = "NAME [--to CONTAINER]",
    .summary = "move every segment off a container, live",
    .details =
    "Points every vdisk and snapshot whose new segments come from NAME\n"
    "at another container (--to, or the one with the most free space)\n"
    "and starts a background job that moves every segment off NAME\n"
    "while the vdisks stay in use: a segment one vdisk writes moves as\n"
    "in 'migrate'; a segment shared with snapshots or clones is copied\n"
    "once and stays shared.  NAME takes no new vdisk or migration while\n"
    "the job runs.  Prints the job number: follow it with 'job wait',\n"
    "stop it with 'job cancel' or 'job pause'; the job survives a\n"
    "restart.  When it is done, 'container remove NAME' takes the\n"
    "container away.\n\n"
    "Options:\n"
    "  --to CONTAINER  where the segments go (default: the container with\n"
    "                  the most free space)\n",
    .min_args = 1, .max_args = 1, .opts = OPT_TO,
    .run = run_container_evacuate,
  },
  {
    .group = "container", .name = "online", .args = "NAME",
    .summary = "bring a failed container back into service",
    .details =
    "For a container whose I/O failed (STATE failed in 'container list'):\n"
    "opens its file or device again, reads its first and last 64 KiB,\n"
    "zeroes its free space and syncs.  If that works, every agent opens\n"
    "it again and the segments it holds serve as before the failure;\n"
    "otherwise it stays failed and the command says why.  Fix the cause\n"
    "first (the server log names the file or device and the error): the\n"
    "data comes back as the container holds it.  A vdisk whose writes\n"
    "since its last flush were lost in the failure stays read-only until\n"
    "'vdisk set NAME --read-write'.\n",
    .min_args = 1, .max_args = 1,
    .run = run_container_online,
  },
  {
    .group = "vdisk", .name = "list", .args = "",
    .summary = "list virtual disks",
    .details =
    "Columns: NAME, SIZE, MAPPED (space backed by segments), USE%,\n"
    "SHARED (the part of MAPPED shared with snapshots or clones),\n"
    "SEGMENT (segment size), CONTAINER (where new segments come from),\n"
    "MODE (rw or ro).\n",
    .run = run_vdisk_list,
  },
  {
    .group = "vdisk", .name = "create",
    .args = "NAME SIZE [--container NAME[,NAME...]] [--placement fill|spread]"
            " [--segment-size SIZE]",
    .summary = "create a thin-provisioned virtual disk",
    .details =
    "Options:\n"
    "  --container NAME[,NAME...]\n"
    "                       allocate its segments from these containers,\n"
    "                       its pool (default: the first container)\n"
    "  --placement fill|spread\n"
    "                       fill: the first container of the pool with\n"
    "                       room (the next when one is full); spread:\n"
    "                       segment N on container N mod the pool size,\n"
    "                       striping (default fill)\n"
    "  --segment-size SIZE  a power of two from 64K to 64M (default 1M)\n"
    "\n" NAME_RULE_HELP SIZE_HELP,
    .min_args = 2, .max_args = 2,
    .opts = OPT_CONTAINER | OPT_PLACEMENT | OPT_SEGMENT_SIZE,
    .run = run_vdisk_create,
  },
  {
    .group = "vdisk", .name = "info", .args = "NAME",
    .summary = "show one virtual disk in detail",
    .details =
    "Shows the size, segment size, total and mapped segments, mapped\n"
    "space, container, mode and creation time.\n",
    .min_args = 1, .max_args = 1,
    .run = run_vdisk_info,
  },
  {
    .group = "vdisk", .name = "resize", .args = "NAME SIZE",
    .summary = "grow a virtual disk to SIZE",
    .details =
    "Virtual disks can only grow; the server refuses a smaller SIZE.\n"
    SIZE_HELP,
    .min_args = 2, .max_args = 2,
    .run = run_vdisk_resize,
  },
  {
    .group = "vdisk", .name = "set", .args = "NAME --read-only|--read-write",
    .summary = "make a virtual disk read-only or read-write",
    .details =
    "--read-only: every write, trim and zero to the vdisk fails from now\n"
    "on (NBD: EPERM, and new connections get a read-only export; iSCSI:\n"
    "the logical unit reports write protect and writes fail with DATA\n"
    "PROTECT, WRITE PROTECTED).  Writes already under way may complete.\n"
    "--read-write: writes work again.  The mode is stored: it survives a\n"
    "restart.\n",
    .min_args = 1, .max_args = 1, .opts = OPT_MODE,
    .run = run_vdisk_set,
  },
  {
    .group = "vdisk", .name = "delete", .args = "NAME",
    .summary = "delete a virtual disk and free its segments",
    .details =
    "The data is gone: freed segments read as zeros before any reuse.\n",
    .min_args = 1, .max_args = 1,
    .run = run_vdisk_delete,
  },
  {
    .group = "vdisk", .name = "diff", .args = "VDISK FROM [TO]",
    .summary = "list the blocks changed between two snapshots",
    .details =
    "FROM and TO are snapshots of VDISK; without TO, the vdisk as it is\n"
    "now.  Prints one line per changed range, OFFSET LENGTH in bytes,\n"
    "multiples of 4096: every block written, trimmed or zeroed in\n"
    "between (changed-block tracking; no data is read).  The same\n"
    "ranges are the data of the read-only NBD export VDISK@FROM..TO\n"
    "(VDISK@FROM.. for the vdisk now).\n",
    .min_args = 2, .max_args = 3,
    .run = run_vdisk_diff,
  },
  {
    .group = "snapshot", .name = "create", .args = "VDISK SNAP",
    .summary = "take a read-only snapshot of a virtual disk",
    .details =
    "Every write acknowledged before the command is in the snapshot.\n"
    "Only metadata is written: the snapshot shares the vdisk's segments,\n"
    "and a later write to a shared segment copies it (copy-on-write).\n"
    "The snapshot is served read-only as the NBD export VDISK@SNAP.\n"
    "The vdisk's I/O pauses while the snapshot is taken (new requests\n"
    "wait, requests under way finish), on every protocol; if segments of\n"
    "an earlier snapshot are still being copied, the pause lasts until\n"
    "they are.  After 10 s the command gives up, takes nothing, and I/O\n"
    "resumes.\n"
    "\n" NAME_RULE_HELP,
    .min_args = 2, .max_args = 2,
    .run = run_snapshot_create,
  },
  {
    .group = "snapshot", .name = "create-group", .args = "SNAP VDISK...",
    .summary = "snapshot several virtual disks at one point in time",
    .details =
    "A consistency group: every VDISK is paused at once, on every\n"
    "protocol, and the snapshots VDISK@SNAP are recorded in one\n"
    "transaction: all or none are taken, and together they hold every\n"
    "write acknowledged before the command and none acknowledged after\n"
    "it began.  Up to 256 vdisks; pauses as 'snapshot create' does.\n",
    .min_args = 2, .max_args = 257,
    .run = run_snapshot_create_group,
  },
  {
    .group = "snapshot", .name = "list", .args = "[VDISK]",
    .summary = "list snapshots (of one vdisk)",
    .details =
    "A tree: each snapshot under the one it derives from.  Columns:\n"
    "SNAPSHOT (VDISK@SNAP), VDISK, SIZE, EXCLUSIVE (freed when it is\n"
    "deleted), SHARED (shared with the vdisk, snapshots or clones),\n"
    "CREATED.\n",
    .min_args = 0, .max_args = 1,
    .run = run_snapshot_list,
  },
  {
    .group = "snapshot", .name = "delete", .args = "VDISK SNAP",
    .summary = "delete a snapshot",
    .details =
    "Segments no longer shared with the vdisk or another snapshot are\n"
    "freed; they read as zeros before any reuse.\n",
    .min_args = 2, .max_args = 2,
    .run = run_snapshot_delete,
  },
  {
    .group = "snapshot", .name = "rollback", .args = "VDISK SNAP",
    .summary = "make a virtual disk's content its snapshot's again",
    .details =
    "In-flight I/O to VDISK drains first and new I/O waits; then VDISK's\n"
    "map becomes a copy of SNAP's (only metadata: the segments are\n"
    "shared, and the next write to one copies it) and VDISK takes SNAP's\n"
    "size.  What VDISK held since SNAP is gone; SNAP and every other\n"
    "snapshot and clone stay as they are.  Connected clients see the\n"
    "content change under them, as if the disk had been swapped; if\n"
    "VDISK grew since SNAP, its connections fail their I/O and must\n"
    "reconnect.  Safe procedure: unmount or disconnect first.  Refused\n"
    "while a job (clone flatten) runs on VDISK or while it still copies\n"
    "the segments of an earlier snapshot (try again a moment later).\n",
    .min_args = 2, .max_args = 2,
    .run = run_snapshot_rollback,
  },
  {
    .group = "clone", .name = "create", .args = "VDISK SNAP NEWVDISK",
    .summary = "create a writable virtual disk from a snapshot",
    .details =
    "NEWVDISK starts with SNAP's content, size, segment size and\n"
    "container, and shares SNAP's segments: only metadata is written,\n"
    "and its first write to a shared segment copies it (copy-on-write).\n"
    "It is an ordinary vdisk, served on NBD and iSCSI; it may have\n"
    "snapshots and clones of its own.  Deleting SNAP leaves the clone\n"
    "intact ('vdisk info' then shows no 'Clone of').  'clone flatten'\n"
    "gives it its own copy of every segment.\n\n" NAME_RULE_HELP,
    .min_args = 3, .max_args = 3,
    .run = run_clone_create,
  },
  {
    .group = "clone", .name = "flatten", .args = "VDISK",
    .summary = "give a virtual disk its own copy of every shared segment",
    .details =
    "Starts a background job that copies, one segment after another,\n"
    "every segment VDISK shares with a snapshot or another vdisk, while\n"
    "VDISK stays in use.  Prints the job number: follow it with 'job\n"
    "wait', stop it with 'job cancel' or 'job pause'.  The job survives\n"
    "a restart.  When it is done VDISK shares nothing and is no longer\n"
    "linked to the snapshot it was cloned from.\n",
    .min_args = 1, .max_args = 1,
    .run = run_clone_flatten,
  },
  {
    .group = NULL, .name = "migrate",
    .args = "VDISK CONTAINER[,CONTAINER...] [--placement fill|spread] "
            "[--rate SIZE]",
    .summary = "move a virtual disk's data to other containers, live",
    .details =
    "Makes CONTAINER (or the list: a pool) where VDISK's new segments\n"
    "go, placed as --placement says (default: as before; see 'vdisk\n"
    "create'), and starts a background job that moves every segment\n"
    "the placement wants elsewhere while VDISK stays in use: a write to a segment being moved goes to\n"
    "the new place at once, reads are split, and the old place is freed\n"
    "when the segment is done.  Segments VDISK shares with snapshots or\n"
    "clones are copied; those keep theirs.  Prints the job number: follow\n"
    "it with 'job wait', stop it with 'job cancel' or 'job pause'; the\n"
    "job survives a restart.\n\n"
    "Options:\n"
    "  --placement fill|spread  how new segments pick their container\n"
    "  --rate SIZE  start moving at most SIZE bytes per second (default:\n"
    "               no limit; the bound holds over seconds)\n\n" SIZE_HELP,
    .min_args = 2, .max_args = 2, .opts = OPT_RATE | OPT_PLACEMENT,
    .run = run_migrate,
  },
  {
    .group = "job", .name = "list", .args = "",
    .summary = "list background jobs",
    .details =
    "Columns: ID, KIND (flatten, migrate, evacuate), VDISK (the container\n"
    "of an evacuation), STATE (running, paused,\n"
    "done, cancelled, failed), PROGRESS (units done/total: segments for a\n"
    "flatten or a migration), STARTED.  --json adds updated, rate (bytes\n"
    "per second, 0: no limit) and, for a failed job, error.\n",
    .run = run_job_list,
  },
  {
    .group = "job", .name = "wait", .args = "ID",
    .summary = "wait for a job to end, showing its progress",
    .details =
    "On a terminal, draws a progress bar; otherwise prints a line when\n"
    "the progress changed, at most one a second.  Exits with status 0\n"
    "when the job is done, 1 when it failed or was cancelled.\n",
    .min_args = 1, .max_args = 1,
    .run = run_job_wait,
  },
  {
    .group = "job", .name = "cancel", .args = "ID",
    .summary = "stop a job",
    .details =
    "Segments already being copied finish; every segment keeps exactly\n"
    "one valid location.  What the job did stays done.\n",
    .min_args = 1, .max_args = 1,
    .run = run_job_cancel,
  },
  {
    .group = "job", .name = "pause", .args = "ID",
    .summary = "pause a running job",
    .details = "It starts no new work until 'job resume'; a paused job\n"
    "stays paused across a restart.\n",
    .min_args = 1, .max_args = 1,
    .run = run_job_pause,
  },
  {
    .group = "job", .name = "resume", .args = "ID",
    .summary = "resume a paused job",
    .details = "It carries on where it stopped.\n",
    .min_args = 1, .max_args = 1,
    .run = run_job_resume,
  },
  {
    .group = "iscsi", .name = "sessions", .args = "",
    .summary = "list iSCSI sessions (one row per connection)",
    .details =
    "Columns: INITIATOR, TARGET ((discovery) for discovery sessions),\n"
    "PORTAL (ours), PEER (the initiator's address), DIGEST\n"
    "(header/data: crc or none), MAXRECV (MaxRecvDataSegmentLength,\n"
    "ours/the initiator's), BURST (MaxBurstLength/FirstBurstLength),\n"
    "CHAP (yes if the initiator authenticated), COMMANDS (SCSI commands\n"
    "received).\n",
    .run = run_iscsi_sessions,
  },
  {
    .group = "iscsi", .name = "hosts", .args = "",
    .summary = "list iSCSI hosts (access lists)",
    .details =
    "Columns: NAME, INITIATOR (iSCSI name), CHAP (the host's own CHAP\n"
    "user, - if it uses the target-wide one), VDISKS (what it may see).\n"
    "With no host at all, every initiator may see every vdisk.\n",
    .run = run_iscsi_hosts,
  },
  {
    .group = "iscsi", .name = "host-add", .args = "NAME INITIATOR [VDISK...]",
    .summary = "let an initiator see some vdisks",
    .details =
    "Once any host exists, initiators that are not a host's see nothing,\n"
    "and a host sees only its vdisks: they are the only targets it can\n"
    "discover or log in to.  Vdisks may be named before they exist.\n"
    "A snapshot, VDISK@SNAP, is then the read-only target\n"
    "PREFIX:VDISK:SNAP for this host (only hosts naming a snapshot\n"
    "see it).\n",
    .min_args = 2, .max_args = 64,
    .run = run_iscsi_host_add,
  },
  {
    .group = "iscsi", .name = "host-remove", .args = "NAME",
    .summary = "remove a host (its sessions are closed)",
    .details =
    "A host declared in the configuration file comes back at the next\n"
    "start unless its [host] section is removed too.\n",
    .min_args = 1, .max_args = 1,
    .run = run_iscsi_host_remove,
  },
  {
    .group = "iscsi", .name = "allow", .args = "HOST VDISK",
    .summary = "let a host see one more vdisk",
    .details = "Takes effect at the host's next discovery or login.\n",
    .min_args = 2, .max_args = 2,
    .run = run_iscsi_allow,
  },
  {
    .group = "iscsi", .name = "deny", .args = "HOST VDISK",
    .summary = "take a vdisk away from a host (its sessions are closed)",
    .details = "The host's open sessions to that vdisk are closed at once.\n",
    .min_args = 2, .max_args = 2,
    .run = run_iscsi_deny,
  },
  {
    .group = "iscsi", .name = "host-chap", .args = "HOST USER SECRET-FILE | HOST off",
    .summary = "set or clear a host's own CHAP user and secret",
    .details =
    "With a CHAP user of its own, the host must authenticate with it\n"
    "(even when target-wide CHAP is off).  SECRET-FILE holds the secret\n"
    "on its first line; it must be mode 0600 (or stricter) and 12 to 256\n"
    "bytes long.  It is read at each login, so replacing the file rotates\n"
    "the secret.\n",
    .min_args = 2, .max_args = 3,
    .run = run_iscsi_host_chap,
  },
  {
    .group = "iscsi", .name = "chap",
    .args = "[USER SECRET-FILE [MUTUAL-USER MUTUAL-SECRET-FILE] | off]",
    .summary = "show or set target-wide CHAP",
    .details =
    "With no argument, shows the settings.  USER and SECRET-FILE make\n"
    "CHAP required for every initiator (a host's own CHAP user replaces\n"
    "them for that host).  MUTUAL-USER and MUTUAL-SECRET-FILE are what\n"
    "the target answers with when an initiator asks it to authenticate\n"
    "itself (mutual CHAP).  off turns CHAP off.  Secret files as for\n"
    "host-chap.\n",
    .min_args = 0, .max_args = 4,
    .run = run_iscsi_chap,
  },
};
const unsigned nr_commands = ARRAY_SIZE (commands);
