/* segmap: clone flatten, a background job (jobs.c, sql/007).
 *
 * A clone shares its snapshot's segments (clone.c).  Flattening gives
 * it its own copy of every segment it still shares, so that it no
 * longer depends on anything else: afterwards none of its map rows
 * names a segment with more than one reference, and its link to the
 * snapshot (clone_of) is cleared.  Any vdisk (not a snapshot) may be
 * flattened: one whose snapshot was deleted still shares segments with
 * the snapshot's origin, and one with snapshots of its own shares with
 * them.
 *
 * The copy is the copy-on-write machinery (cow.c, faults-move.c): for
 * each shared row the job begins the same redirected movement a host
 * write would (ctrl_cow_begin: a new segment, NOWRITE at the agents,
 * blocking), the copier copies the blocks, and the movement ends with
 * the new segment mapped and the old reference dropped.  At most
 * FLATTEN_INFLIGHT movements of the vdisk are in flight at a time, so
 * the copier always has the next segment waiting while the controller
 * thread is never held by a flatten.  A host write to a segment the job
 * is moving is redirected like any copy-on-write; one to a shared
 * segment the job has not reached yet starts a copy-on-write itself,
 * and the job finds that segment no longer shared (or being moved) and
 * passes it by.
 *
 * Cursor and progress.  The job walks the clone's map in segment order
 * from its cursor (stored with the job): the next row whose segment
 * has more than one reference.  TOTAL is the number of shared rows
 * when the job began, DONE the rows begun or passed by; the end sets
 * DONE to TOTAL (segments a host write unshared first count as done).
 * The job is complete when the cursor is at the end, no movement of
 * the vdisk is left, and no row is shared (a snapshot of the clone
 * taken meanwhile shares rows behind the cursor again: the walk then
 * starts over).  After a restart the movements in flight are reloaded
 * and finished by the copier, and the walk resumes at the stored
 * cursor; rows it passed that are still being moved are waited for.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"

#define FLATTEN_INFLIGHT 4

static int
next_shared (struct controller *c, const struct sm_vdisk_info *v,
             uint64_t from, uint64_t *seg)
{
  return store_map_next_shared (c->store, v->id, from, seg);
}

static const struct job_walk flatten_walk = {
  .next = next_shared, .inflight = FLATTEN_INFLIGHT,
};

/* The walk reached the end with nothing in flight: complete, or start
 * over if rows are shared again.  1 or 0, or -1 with *ERROR. */
static int
complete (struct controller *c, struct sm_job *j,
          const struct sm_vdisk_info *v, char **error)
{
  uint64_t shared;
  uint32_t id = v->id;

  if (store_map_count_shared (c->store, id, &shared) == -1) {
    fail (error, "cannot read the map of vdisk '%s'", v->name);
    return -1;
  }
  if (shared > 0) {
    j->cursor = 0;
    j->total = j->done + shared;
    return 0;
  }
  j->done = j->total = j->done > j->total ? j->done : j->total;
  if (v->clone_of
      && (ctrl_change (c) == -1
          || store_vdisk_set_clone_of (c->store, id, 0) == -1
          || ctrl_reload_vdisks (c) == -1)) {
    fail (error, "vdisk '%s' shares nothing now, but its link to its "
          "snapshot could not be cleared", j->name);
    return -1;
  }
  return 1;
}

int
ctrl_flatten_step (struct controller *c, struct sm_job *j, char **error)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, j->vdisk);
  int r = ctrl_job_walk (c, j, v, &flatten_walk, error);

  return r == 1 ? complete (c, j, v, error) : r;
}

json_object *
ctrl_cmd_clone_flatten (struct controller *c, json_object *args,
                        char **error)
{
  const char *name = arg_name (args, "name", error);
  const struct sm_vdisk_info *v;
  struct sm_job j = { .kind = SM_JOB_FLATTEN };

  if (name == NULL)
    return NULL;
  if ((v = ctrl_job_vdisk (c, name, error)) == NULL)
    return NULL;
  j.vdisk = v->id;
  if (store_map_count_shared (c->store, v->id, &j.total) == -1
      || (j.name = strdup (name)) == NULL)
    return fail (error, "cannot start flattening vdisk '%s'", name);
  if (ctrl_job_start (c, &j, error) == -1) {
    sm_job_clear (&j);
    return NULL;
  }
  return ctrl_job_row (&j);
}
