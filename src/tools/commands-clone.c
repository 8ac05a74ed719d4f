/* segmapctl: clones and rollback (clone create, clone flatten, snapshot
 * rollback).
 *
 * Requests: clone.create {vdisk, snapshot, name}, clone.flatten {name}
 * (answers the new job's row: follow it with `job wait'),
 * snapshot.rollback {vdisk, snapshot}.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>

#include "common/cleanup.h"
#include "ctl/ctl-proto.h"
#include "tools/commands-internal.h"

int
run_clone_create (struct session *s, const struct command *cmd, int argc,
                  char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  int rc = check_name (cmd, "vdisk", argv[2]);

  if (rc == 0)
    rc = snapshot_args (cmd, argv[0], argv[1], &args);
  if (rc != 0)
    return rc;
  json_object_object_add (args, "name", json_object_new_string (argv[2]));
  if ((rc = call (s, "clone.create", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s created, a clone of %s\n", argv[2],
            jstr (r, "clone_of") ?: "-");
  return 0;
}

int
run_clone_flatten (struct session *s, const struct command *cmd, int argc,
                   char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  char b[2][FMT_SIZE_LEN];
  int rc = check_name (cmd, "vdisk", argv[0]);

  if (rc == 0)
    rc = call (s, "clone.flatten", name_args (argv[0]), &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("job %s: flattening vdisk %s (%s shared segments); follow it "
            "with 'segmapctl job wait %s'\n", jnum (r, "id", b[0]), argv[0],
            jnum (r, "total", b[1]), b[0]);
  return 0;
}

int
run_snapshot_rollback (struct session *s, const struct command *cmd,
                       int argc, char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  char b[FMT_SIZE_LEN];
  int rc = snapshot_args (cmd, argv[0], argv[1], &args);

  if (rc == 0)
    rc = call (s, "snapshot.rollback", args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s rolled back to %s (%s)\n", argv[0],
            jstr (r, "snapshot") ?: "-", jsize (r, "size", b));
  return 0;
}
