/* segmap: live migration of a vdisk to another container, a
 * background job (jobs.c, sql/009; DESIGN §5 Migration, seed 001
 * FIG. 6).
 *
 * `migrate VDISK CONTAINER[,CONTAINER...] [--placement fill|spread]
 * [--rate BYTES/s]' gives the vdisk a new pool (placement.c: its new
 * segments go there from then on, the agents' unused grants elsewhere
 * are recalled) and starts a job that moves every located map row the
 * placement does not want where it is (ctrl_placed): off containers
 * that left the pool, and onto its stripe for a spread pool.  Each
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
 * at the end a count of the rows still misplaced (a grant the agent
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

/* The walk for rows V's placement does not want where they are. */
struct misplaced {
  struct controller *c;
  const struct sm_vdisk_info *v;
  bool count_all;               /* else stop at the first */
  uint64_t first, n;
};

static int
find_misplaced (void *opaque, uint64_t vseg, sm_entry e)
{
  struct misplaced *m = opaque;

  if ((e & ENTRY_ERROR) || entry_container (e) == 0
      || ctrl_placed (m->c, m->v, vseg, entry_container (e)))
    return 0;
  m->n++;
  m->first = vseg;
  return m->count_all ? 0 : 1;
}

static int
next_misplaced (struct controller *c, const struct sm_vdisk_info *v,
                uint64_t from, uint64_t *seg)
{
  struct misplaced m = { .c = c, .v = v };
  int r = store_map_foreach (c->store, v->id, from, find_misplaced, &m);

  if (r == 1)
    *seg = m.first;
  return r;
}

/* How many rows of V are misplaced into *N.  0 or -1. */
static int
count_misplaced (struct controller *c, const struct sm_vdisk_info *v,
                 uint64_t *n)
{
  struct misplaced m = { .c = c, .v = v, .count_all = true };

  if (store_map_foreach (c->store, v->id, 0, find_misplaced, &m) < 0)
    return -1;
  *n = m.n;
  return 0;
}

static const struct job_walk migrate_walk = {
  .next = next_misplaced, .inflight = MIGRATE_INFLIGHT,
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
  if (count_misplaced (c, v, &left) == -1) {
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
ctrl_set_pool (struct controller *c, const struct sm_vdisk_info *v,
               enum sm_placement placement, const uint32_t *ids, unsigned n,
               char **error)
{
  uint32_t id = v->id;

  if (v->n_pool == n && v->placement == placement
      && memcmp (v->pool, ids, n * sizeof ids[0]) == 0)
    return 0;
  if (ctrl_change (c) == -1
      || store_vdisk_set_pool (c->store, id, placement, ids, n) == -1
      || ctrl_reload_vdisks (c) == -1) {
    fail (error, "cannot change where vdisk '%s' takes new segments: %s",
          v->name, sm_last_error ());
    return -1;
  }
  ctrl_recall_vdisk_grants (c, id);
  return 0;
}

json_object *
ctrl_cmd_migrate (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "vdisk", error);
  const struct sm_vdisk_info *v;
  struct sm_job j = { .kind = SM_JOB_MIGRATE };
  uint32_t ids[SM_POOL_MAX];
  enum sm_placement placement;
  unsigned n;

  if (name == NULL)
    return NULL;
  if (arg_u64 (args, "rate", &j.rate) == -1)
    return fail (error, "rate: a number of bytes per second, or 0");
  if ((v = ctrl_job_vdisk (c, name, error)) == NULL)
    return NULL;
  placement = v->placement;
  if (ctrl_pool_arg (c, args, ids, &n, &placement, error) == -1)
    return NULL;
  if (n == 0)
    return fail (error, "migrate: which container?");
  if (ctrl_set_pool (c, v, placement, ids, n, error) == -1)
    return NULL;
  v = ctrl_find_vdisk_by_name (c, name);
  j.vdisk = v->id;
  if (count_misplaced (c, v, &j.total) == -1
      || (j.name = strdup (name)) == NULL)
    return fail (error, "cannot start migrating vdisk '%s'", name);
  if (ctrl_job_start (c, &j, error) == -1) {
    sm_job_clear (&j);
    return NULL;
  }
  return ctrl_job_row (&j);
}
