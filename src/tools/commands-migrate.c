/* segmapctl: migrate VDISK CONTAINER[,CONTAINER...] [--placement
 * fill|spread] [--rate SIZE] and container evacuate NAME [--to
 * CONTAINER].
 *
 * Requests: migrate {vdisk, container, placement, rate} (placement and
 * rate optional; rate in bytes per second); container.evacuate {name, to} (to optional).  The answer is
 * the job's row, as in `job list'.
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
