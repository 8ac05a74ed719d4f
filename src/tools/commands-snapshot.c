/* segmapctl: the snapshot commands (create, create-group, list, delete).
 *
 * A snapshot is named by its vdisk and its own name; the server serves
 * it read-only as the NBD export VDISK@SNAP.  Requests:
 * snapshot.create / snapshot.delete {vdisk, snapshot},
 * snapshot.create-group {snapshot, vdisks: [...]}, snapshot.list {vdisk?},
 * vdisk.diff {vdisk, from, to?} (changed ranges between two snapshots).
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "ctl/ctl-proto.h"
#include "tools/commands-internal.h"

int
snapshot_args (const struct command *cmd, const char *vdisk,
               const char *snap, json_object **args)
{
  int rc = check_name (cmd, "vdisk", vdisk);

  if (rc == 0)
    rc = check_name (cmd, "snapshot", snap);
  if (rc != 0)
    return rc;
  *args = json_object_new_object ();
  json_object_object_add (*args, "vdisk", json_object_new_string (vdisk));
  json_object_object_add (*args, "snapshot", json_object_new_string (snap));
  return 0;
}

int
run_snapshot_create (struct session *s, const struct command *cmd, int argc,
                     char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  int rc = snapshot_args (cmd, argv[0], argv[1], &args);

  if (rc == 0)
    rc = call (s, "snapshot.create", args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("snapshot %s created\n", jstr (r, "export"));
  return 0;
}

int
run_snapshot_create_group (struct session *s, const struct command *cmd,
                           int argc, char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args, *vdisks;
  int rc = check_name (cmd, "snapshot", argv[0]);

  for (int i = 1; i < argc && rc == 0; i++)
    rc = check_name (cmd, "vdisk", argv[i]);
  if (rc != 0)
    return rc;
  args = json_object_new_object ();
  vdisks = json_object_new_array ();
  for (int i = 1; i < argc; i++)
    json_object_array_add (vdisks, json_object_new_string (argv[i]));
  json_object_object_add (args, "snapshot", json_object_new_string (argv[0]));
  json_object_object_add (args, "vdisks", vdisks);
  if ((rc = call (s, "snapshot.create-group", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    for (size_t i = 0; i < json_object_array_length (r); i++)
      printf ("snapshot %s created\n",
              jstr (json_object_array_get_idx (r, i), "export"));
  return 0;
}

int
run_vdisk_diff (struct session *s, const struct command *cmd, int argc,
                char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args, *list;
  int rc = check_name (cmd, "vdisk", argv[0]);

  for (int i = 1; i < argc && rc == 0; i++)
    rc = check_name (cmd, "snapshot", argv[i]);
  if (rc != 0)
    return rc;
  args = json_object_new_object ();
  json_object_object_add (args, "vdisk", json_object_new_string (argv[0]));
  json_object_object_add (args, "from", json_object_new_string (argv[1]));
  if (argc == 3)
    json_object_object_add (args, "to", json_object_new_string (argv[2]));
  if ((rc = call (s, "vdisk.diff", args, &r)) != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  if (json_object_object_get_ex (r, "ranges", &list))
    for (size_t i = 0; i < json_object_array_length (list); i++) {
      json_object *o = json_object_array_get_idx (list, i);
      int64_t off = 0, len = 0;
      jint (o, "offset", &off);
      jint (o, "length", &len);
      printf ("%" PRId64 " %" PRId64 "\n", off, len);
    }
  return 0;
}

int
run_snapshot_delete (struct session *s, const struct command *cmd, int argc,
                     char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  int rc = snapshot_args (cmd, argv[0], argv[1], &args);

  if (rc == 0)
    rc = call (s, "snapshot.delete", args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("snapshot %s@%s deleted\n", argv[0], argv[1]);
  return 0;
}

static const char *const snapshot_headers[] = {
  "SNAPSHOT", "VDISK", "SIZE", "EXCLUSIVE", "SHARED", "CREATED"
};

#define SNAPSHOT_RIGHT 0x1c

static int
add_snapshot_row (struct table *t, json_object *o)
{
  char b[3][FMT_SIZE_LEN], when[32] = "-";
  int64_t created;
  const char *cells[6];

  if (jint (o, "created", &created) && created > 0) {
    time_t tt = created;
    struct tm tm;
    if (localtime_r (&tt, &tm))
      strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  }
  cells[0] = jstr (o, "tree");
  cells[1] = jstr (o, "vdisk");
  cells[2] = jsize (o, "size", b[0]);
  cells[3] = jsize (o, "exclusive", b[1]);
  cells[4] = jsize (o, "shared", b[2]);
  cells[5] = when;
  return table_add_row (t, cells);
}

/* Append ROWS[I] and, depth first, the rows whose parent it is, to
 * OUT, each with a "tree" cell: its export name indented by DEPTH. */
static void
add_subtree (json_object *rows, size_t i, unsigned depth, json_object *out)
{
  json_object *o = json_object_array_get_idx (rows, i);
  const char *name = jstr (o, "export");
  char cell[512];

  if (depth > 64)
    return;                     /* a cycle: `segmapctl check' reports it */
  snprintf (cell, sizeof cell, "%*s%s%s", (int) (depth > 1 ? 2 * (depth - 1) : 0),
            "", depth ? "`- " : "", name);
  json_object_object_add (o, "tree", json_object_new_string (cell));
  json_object_array_add (out, json_object_get (o));
  for (size_t k = 0; k < json_object_array_length (rows); k++) {
    json_object *child = json_object_array_get_idx (rows, k);
    json_object *parent;
    if (json_object_object_get_ex (child, "parent", &parent) && parent
        && strcmp (json_object_get_string (parent), name) == 0)
      add_subtree (rows, k, depth + 1, out);
  }
}

/* ROWS in tree order: each snapshot under the one it derives from. */
static json_object *
tree_order (json_object *rows)
{
  json_object *out = json_object_new_array ();
  size_t n = json_object_array_length (rows);

  for (size_t i = 0; i < n; i++) {
    json_object *parent;
    bool root = true;
    if (json_object_object_get_ex (json_object_array_get_idx (rows, i),
                                   "parent", &parent) && parent)
      for (size_t k = 0; k < n && root; k++)
        root = strcmp (jstr (json_object_array_get_idx (rows, k), "export"),
                       json_object_get_string (parent)) != 0;
    if (root)
      add_subtree (rows, i, 0, out);
  }
  return out;
}

int
run_snapshot_list (struct session *s, const struct command *cmd, int argc,
                   char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  int rc = 0;

  if (argc == 1) {
    if ((rc = check_name (cmd, "vdisk", argv[0])) != 0)
      return rc;
    args = json_object_new_object ();
    json_object_object_add (args, "vdisk", json_object_new_string (argv[0]));
  }
  if ((rc = call (s, "snapshot.list", args, &r)) != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  {
    CTL_CLEANUP_PUT json_object *tree = tree_order (r);
    return print_table (tree, ARRAY_SIZE (snapshot_headers),
                        snapshot_headers, SNAPSHOT_RIGHT, add_snapshot_row);
  }
}
