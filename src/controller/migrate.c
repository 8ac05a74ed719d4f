/* segmap: live migration of a vdisk to another container, a
 * background job (jobs.c, sql/009; DESIGN §5 Migration, seed 001
 * FIG. 6).
 *
 * `migrate VDISK CONTAINER [--rate BYTES/s]' points the vdisk at the
 * target container (its new segments go there from then on, the
 * agents' unused grants on the old one are recalled) and starts a job
 * that moves every located map row still on another container.  Each
 * row moves like a copy-on-write (cow.c, faults-move.c): a segment is
 * taken on the target, the agents' entry becomes NOWRITE (blocking),
 * host writes to the segment are redirected to the new location
 * (DO_WRITE: one fault round trip, never a wait for the copy), reads
 * are split, the copier copies the rest, and the end maps the new
 * location and drops the old one (freed, and zeroed after the commit,
 * unless a snapshot or clone still shares it: shared segments are
 * copied, and the others keep theirs).  Error rows stay where they are.
 *
 * The walk is flatten.c's: a cursor in segment order (stored with the
 * job), at most MIGRATE_INFLIGHT movements of the vdisk at a time, and
 * at the end a count of the rows still elsewhere (a grant the agent
 * used on the old container meanwhile, or a row the walk passed while
 * it was moving): if any, the walk starts over.  --rate bounds the
 * bytes the job starts moving per second since it (re)started; the
 * copier moves them in its batches, so the bound holds over seconds,
 * not per batch.  Pause, cancel and the resume after a restart are the
 * job machinery's: movements in flight finish either way, and every
 * segment keeps exactly one authoritative location throughout.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"
#include "store/container.h"

#define MIGRATE_INFLIGHT 8

/* May J start moving another segment of SEG_BYTES now (--rate)?  If
 * so, it counts as started. */
static bool
within_rate (struct sm_job *j, uint64_t seg_bytes)
{
  int64_t now = sm_now_ms ();

  if (j->rate == 0)
    return true;
  if (j->pace_since_ms == 0) {
    j->pace_since_ms = now;
    j->pace_bytes = 0;
  }
  if (j->pace_bytes * 1000
      >= j->rate * (uint64_t) (now - j->pace_since_ms) + seg_bytes * 1000)
    return false;
  j->pace_bytes += seg_bytes;   /* the walk begins it */
  return true;
}

static int
next_elsewhere (struct controller *c, const struct sm_vdisk_info *v,
                uint64_t from, uint64_t *seg)
{
  return store_map_next_elsewhere (c->store, v->id, v->container_id, from,
                                   seg);
}

static const struct job_walk migrate_walk = {
  .next = next_elsewhere, .inflight = MIGRATE_INFLIGHT,
  .may_begin = within_rate,
};

int
ctrl_migrate_step (struct controller *c, struct sm_job *j, char **error)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, j->vdisk);
  uint64_t left;
  int r = ctrl_job_walk (c, j, v, &migrate_walk, error);

  if (r != 1)
    return r;
  if (store_map_count_elsewhere (c->store, v->id, v->container_id,
                                 &left) == -1) {
    fail (error, "cannot read the map of vdisk '%s'", v->name);
    return -1;
  }
  if (left > 0) {               /* written elsewhere meanwhile: again */
    j->cursor = 0;
    j->total = j->done + left;
    return 0;
  }
  j->done = j->total = j->done > j->total ? j->done : j->total;
  return 1;
}

int
ctrl_retarget_vdisk (struct controller *c, const struct sm_vdisk_info *v,
                     const struct ctrl_container *cc, char **error)
{
  uint32_t id = v->id;

  if (v->container_id == cc->c->id)
    return 0;
  if (ctrl_change (c) == -1
      || store_vdisk_set_container (c->store, id, cc->c->id) == -1
      || ctrl_reload_vdisks (c) == -1) {
    fail (error, "cannot move vdisk '%s' to container %s: %s", v->name,
          cc->c->name, sm_last_error ());
    return -1;
  }
  ctrl_recall_vdisk_grants (c, id);
  return 0;
}

json_object *
ctrl_cmd_migrate (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "vdisk", error);
  const char *target = name ? arg_name (args, "container", error) : NULL;
  const struct sm_vdisk_info *v;
  const struct ctrl_container *cc;
  struct sm_job j = { .kind = SM_JOB_MIGRATE };

  if (target == NULL)
    return NULL;
  if (arg_u64 (args, "rate", &j.rate) == -1)
    return fail (error, "rate: a number of bytes per second, or 0");
  if ((v = ctrl_job_vdisk (c, name, error)) == NULL)
    return NULL;
  if ((cc = ctrl_container_by_name (c, target)) == NULL)
    return fail (error, "no container '%s'", target);
  if (ctrl_container_evacuating (c, cc->c->id))
    return fail (error, "container '%s' is being evacuated", target);
  if (ctrl_retarget_vdisk (c, v, cc, error) == -1)
    return NULL;
  v = ctrl_find_vdisk_by_name (c, name);
  j.vdisk = v->id;
  if (store_map_count_elsewhere (c->store, v->id, v->container_id,
                                 &j.total) == -1
      || (j.name = strdup (name)) == NULL)
    return fail (error, "cannot start migrating vdisk '%s'", name);
  if (ctrl_job_start (c, &j, error) == -1) {
    sm_job_clear (&j);
    return NULL;
  }
  return ctrl_job_row (&j);
}
