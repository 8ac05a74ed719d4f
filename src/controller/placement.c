/* segmap: where a vdisk's new segments go — its pool of containers and
 * placement (sql/011; seed 003's striping and concatenation, at segment
 * granularity).
 *
 *   pool of one   every new segment on that container
 *   fill          the first container of the pool with a free segment:
 *                 the next one when one is full (concatenation)
 *   spread        segment N on pool[N mod size] (striping), or, when
 *                 that one is full, the next one after it with room
 *
 * Every allocation asks here: grants (faults.c), copy-on-write and
 * migration targets (cow.c), tracked vdisks' faults (cbt.c), copies of
 * an evacuation (evacuate.c).  An allocation tries the pool in order
 * from its first choice, so a segment lands wherever there is room.  Grants
 * are handed out before the agent knows which segment it will write,
 * so a spread vdisk (of two containers or more) gets none: each first
 * write of a segment faults, and the controller allocates it on its
 * stripe (ctrl_allocate_segment).  A fill pool's grants come from its
 * current container; when that fills up they follow to the next
 * (faults.c recalls the old ones).
 *
 * A row is placed when a migration need not move it (ctrl_placed): on
 * a container of the pool (fill), or on its stripe, or anywhere in the
 * pool while its stripe is full (spread: else a migration would move it
 * around for ever).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>

#include "common/errors.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "store/container.h"

/* Has CC space for a segment of UNITS units that no vdisk uses?
 * (Reserved space counts: grants of this pool, or given back by a
 * RECALL when a write needs it, faults.c.) */
static bool
has_room (const struct ctrl_container *cc, uint32_t units)
{
  return cc != NULL && !cc->failed
    && alloc_total_units (cc->alloc) - alloc_used_units (cc->alloc) >= units;
}

static uint32_t
seg_units (const struct sm_vdisk_info *v)
{
  return (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
}

static bool
spread (const struct sm_vdisk_info *v)
{
  return v->placement == SM_PLACE_SPREAD && v->n_pool > 1;
}

/* Where the pool's order starts for SEG: its stripe, or the first. */
static unsigned
first_choice (const struct sm_vdisk_info *v, uint64_t seg)
{
  return spread (v) ? seg % v->n_pool : 0;
}

int
ctrl_pool_alloc (struct controller *c, const struct sm_vdisk_info *v,
                 uint64_t seg, sm_entry *e)
{
  unsigned start = first_choice (v, seg), failed = 0;
  uint64_t unit;

  for (unsigned k = 0; k < v->n_pool; k++) {
    uint32_t id = v->pool[(start + k) % v->n_pool];
    struct ctrl_container *cc = c->containers[id];
    if (cc && cc->failed) {
      failed++;                 /* nothing goes there (failure.c) */
      continue;
    }
    /* Space the agents hold as grants is taken back first: grants
     * never make a copy or an allocation fail that would fit. */
    if (cc && (alloc_get (cc->alloc, seg_units (v), &unit) == 0
               || (ctrl_recall_grants (c, id) > 0
                   && alloc_get (cc->alloc, seg_units (v), &unit) == 0))) {
      *e = entry_make (id, unit, ENTRY_VALID);
      return 0;
    }
  }
  if (v->n_pool == 0 || c->containers[v->pool[start]] == NULL)
    return EIO;
  if (failed > 0) {
    sm_error ("vdisk %s: no container of its pool can take a new segment "
              "(%u failed, the rest full)", v->name, failed);
    return EIO;
  }
  sm_error ("container %s%s is full: cannot allocate a segment for vdisk "
            "%s", c->containers[v->pool[start]]->c->name,
            v->n_pool > 1 ? " (and the rest of its pool)" : "", v->name);
  return ENOSPC;
}

uint32_t
ctrl_place_grants (struct controller *c, const struct sm_vdisk_info *v)
{
  if (spread (v))
    return 0;
  for (unsigned k = 0; k < v->n_pool; k++)
    if (has_room (c->containers[v->pool[k]], seg_units (v)))
      return v->pool[k];
  return v->container_id;       /* all full: the allocation says so */
}

bool
ctrl_pool_has (const struct sm_vdisk_info *v, uint32_t container)
{
  for (unsigned i = 0; i < v->n_pool; i++)
    if (v->pool[i] == container)
      return true;
  return false;
}

bool
ctrl_placed (struct controller *c, const struct sm_vdisk_info *v,
             uint64_t seg, uint32_t container)
{
  uint32_t stripe = v->pool[first_choice (v, seg)];

  if (!ctrl_pool_has (v, container))
    return false;
  return !spread (v) || container == stripe
    || !has_room (c->containers[stripe], seg_units (v));
}

sm_entry
ctrl_allocate_segment (struct controller *c, const struct sm_vdisk_info *v,
                       uint64_t seg, sm_entry flags, int *err)
{
  sm_entry e;

  if (c->degraded) {
    *err = EIO;
    return 0;
  }
  if (v->read_only) {
    *err = EROFS;
    return 0;
  }
  if ((*err = ctrl_pool_alloc (c, v, seg, &e)) != 0)
    return 0;
  e |= flags;
  if (ctrl_change (c) == -1
      || store_allocate (c->store, v->id, seg, e, seg_units (v)) == -1) {
    alloc_put (c->containers[entry_container (e)]->alloc, entry_unit (e),
               seg_units (v));
    ctrl_set_degraded (c, "an allocation could not be recorded");
    *err = EIO;
    return 0;
  }
  c->containers[entry_container (e)]->n_segments++;
  return e;
}
