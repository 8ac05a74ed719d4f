/* segmap: deleting a vdisk without stalling the controller.
 *
 * Freeing a vdisk's segments costs a store update and a container zero
 * (a punched hole) per segment: for a fully written 10 GiB vdisk that
 * is seconds of work, and the controller thread also answers every
 * fault.  So `vdisk delete' only takes the vdisk away: the agent drops
 * its table first (DELETE_TABLE: it stops serving and drains, nothing
 * writes the segments afterwards), then the store marks it deleting
 * (unlisted, its name free; sql/004) and commits.  The segments are
 * freed afterwards by ctrl_delete_step, which the controller loop runs
 * once per iteration, between batches of requests: at most
 * DELETE_BATCH map rows each time, through the same path as a trim
 * (ctrl_free_vdisk_range: the rows go, the segments are zeroed and
 * return to the allocator once the transaction commits).  When no row
 * is left the vdisk row goes too.
 *
 * States of a vdisk being deleted (the store's word is the truth):
 *
 *   listed --(vdisk delete)--> deleting --(last batch)--> gone
 *
 * A crash while deleting loses at most the uncommitted batches (their
 * rows are still there); the next start finds the vdisk marked deleting
 * (ctrl_delete_resume) and carries on.  Nothing is freed while the
 * controller is degraded (it writes nothing any more).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "controller/controller-internal.h"

/* Map rows freed per loop iteration: a few milliseconds of work at
 * most, so a fault queued behind it is not held up for long. */
#define DELETE_BATCH 16

int
ctrl_delete_resume (struct controller *c)
{
  sm_vdisk_info_free (c->deleting, c->n_deleting);
  c->deleting = NULL;
  c->n_deleting = 0;
  if (store_vdisk_list_deleting (c->store, &c->deleting, &c->n_deleting)
      == -1)
    return -1;
  if (c->n_deleting > 0)
    sm_debug ("controller: resuming the deletion of %zu vdisks",
              c->n_deleting);
  return 0;
}

int
ctrl_delete_start (struct controller *c, uint32_t id)
{
  if (ctrl_change (c) == -1
      || store_vdisk_mark_deleting (c->store, id) == -1
      || ctrl_commit (c, false) == -1
      || ctrl_reload_vdisks (c) == -1)
    return -1;
  return ctrl_delete_resume (c);
}

bool
ctrl_delete_pending (const struct controller *c)
{
  return c->n_deleting > 0 && !c->degraded;
}

struct batch_end {
  unsigned rows;
  uint64_t first, last;
};

/* Note the first and the DELETE_BATCH-th row, then stop. */
static int
batch_row (void *opaque, uint64_t vseg, sm_entry e)
{
  struct batch_end *b = opaque;

  if (b->rows++ == 0)
    b->first = vseg;
  b->last = vseg;
  return b->rows == DELETE_BATCH;
}

/* The vdisk has no row left: remove it from the store and the list. */
static int
finish (struct controller *c)
{
  struct sm_vdisk_info *v = &c->deleting[0];

  if (ctrl_change (c) == -1 || store_vdisk_delete (c->store, v->id) == -1)
    return -1;
  sm_debug ("controller: vdisk %" PRIu32 " deleted", v->id);
  free (v->name);
  memmove (v, v + 1, (c->n_deleting - 1) * sizeof *v);
  c->n_deleting--;
  return 0;
}

void
ctrl_delete_step (struct controller *c)
{
  struct batch_end b = { .rows = 0 };
  int r;

  if (!ctrl_delete_pending (c))
    return;
  r = store_map_foreach (c->store, c->deleting[0].id, 0, batch_row, &b);
  if (r >= 0)
    r = b.rows == 0 ? finish (c)
      : ctrl_free_vdisk_range (c, &c->deleting[0], b.first,
                               b.last - b.first + 1);
  if (r < 0)
    ctrl_set_degraded (c, "freeing the segments of a deleted vdisk failed");
}
