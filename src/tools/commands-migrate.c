/* segmapctl: migrate VDISK CONTAINER[,CONTAINER...] [--placement
 * fill|spread] [--rate SIZE], container evacuate NAME [--to CONTAINER],
 * vdisk mirror VDISK CONTAINER and vdisk unmirror VDISK.
 *
 * Requests: migrate {vdisk, container, placement, rate} (placement and
 * rate optional; rate in bytes per second); container.evacuate {name,
 * to} (to optional); vdisk.mirror {name, container}; vdisk.unmirror
 * {name}.  The answer of the first three is the job's row, as in `job
 * list' (vdisk.mirror of a vdisk with nothing mapped: {vdisk, mirror}).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "ctl/ctl-proto.h"
#include "tools/commands-internal.h"

int
run_migrate (struct session *s, const struct command *cmd, int argc,
             char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args;
  char b[2][FMT_SIZE_LEN];
  int64_t rate = 0;
  int rc;

  if (check_name (cmd, "vdisk", argv[0]) != 0
      || check_pool (cmd, argv[1]) != 0
      || (s->placement && check_placement (cmd, s->placement) != 0)
      || (s->rate && parse_size (cmd, s->rate, &rate) != 0))
    return EXIT_USAGE;
  args = json_object_new_object ();
  json_object_object_add (args, "vdisk", json_object_new_string (argv[0]));
  json_object_object_add (args, "container",
                          json_object_new_string (argv[1]));
  if (s->placement)
    json_object_object_add (args, "placement",
                            json_object_new_string (s->placement));
  if (s->rate)
    json_object_object_add (args, "rate", json_object_new_int64 (rate));
  if ((rc = call (s, "migrate", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("job %s: migrating vdisk %s to container %s (%s segments to "
            "move); follow it with 'segmapctl job wait %s'\n",
            jnum (r, "id", b[0]), argv[0], argv[1], jnum (r, "total", b[1]),
            b[0]);
  return 0;
}

int
run_container_evacuate (struct session *s, const struct command *cmd,
                        int argc, char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args;
  char b[2][FMT_SIZE_LEN];
  int rc;

  if (check_name (cmd, "container", argv[0]) != 0
      || (s->to && check_name (cmd, "container", s->to) != 0))
    return EXIT_USAGE;
  args = json_object_new_object ();
  json_object_object_add (args, "name", json_object_new_string (argv[0]));
  if (s->to)
    json_object_object_add (args, "to", json_object_new_string (s->to));
  if ((rc = call (s, "container.evacuate", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("job %s: evacuating container %s (%s segments to move); "
            "follow it with 'segmapctl job wait %s'\n",
            jnum (r, "id", b[0]), argv[0], jnum (r, "total", b[1]), b[0]);
  return 0;
}

int
run_vdisk_mirror (struct session *s, const struct command *cmd, int argc,
                  char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args, *id;
  char b[2][FMT_SIZE_LEN];
  int rc;

  if (check_name (cmd, "vdisk", argv[0]) != 0
      || check_name (cmd, "container", argv[1]) != 0)
    return EXIT_USAGE;
  args = name_args (argv[0]);
  json_object_object_add (args, "container",
                          json_object_new_string (argv[1]));
  if ((rc = call (s, "vdisk.mirror", args, &r)) != 0)
    return rc;
  if (s->json)
    print_json (r);
  else if (!json_object_object_get_ex (r, "id", &id))
    printf ("vdisk %s is mirrored on container %s (nothing to copy)\n",
            argv[0], argv[1]);
  else
    printf ("job %s: copying vdisk %s to container %s (%s blocks); follow "
            "it with 'segmapctl job wait %s'\n", jnum (r, "id", b[0]),
            argv[0], argv[1], jnum (r, "total", b[1]), b[0]);
  return 0;
}

int
run_vdisk_unmirror (struct session *s, const struct command *cmd, int argc,
                    char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = check_name (cmd, "vdisk", argv[0]);

  if (rc == 0)
    rc = call (s, "vdisk.unmirror", name_args (argv[0]), &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("vdisk %s is not mirrored any more\n", argv[0]);
  return 0;
}
