/* segmap: changed-block tracking (DESIGN §5 Snapshot; sql/008-cbt.sql).
 *
 * A vdisk is tracked once it has a base snapshot (sm_vdisk_info.base):
 * from then on the controller knows, per 4 KiB block, which blocks were
 * written, trimmed or zeroed since that snapshot (its live marks), and
 * each later snapshot freezes them as its delta.  `vdisk diff' unites
 * the deltas on the path between two points of the base tree; it reads
 * no data.
 *
 * Where marks come from, and why each is exact after a crash (kill -9
 * or power loss) without a sync on the host's write path:
 *
 *   copy-on-write (cow.c)   a redirected write's blocks are marked with
 *                           the movement's own marks, in the same
 *                           transaction (ctrl_cbt_note from
 *                           faults-move.c).  Until that commits, the
 *                           block's data is orig's by definition (a
 *                           restart copies it back from orig), so mark
 *                           and data are lost or kept together.
 *   a write to a TRACK row  (the segment is the vdisk's own, written in
 *                           place) faults unless its blocks are marked;
 *                           the controller marks them and answers only
 *                           after the commit (synchronous=FULL): the
 *                           mark is durable before the data can be
 *                           written.  The agent caches confirmed marks
 *                           (agent/marks.h), so only a block's first
 *                           write after a snapshot pays the round trip.
 *   a first write (ZERO     the controller allocates here, not through
 *   row) of a tracked       a grant: the segment row, the TRACK map row
 *   vdisk                   and the marks commit together before the
 *                           answer; unmarked blocks of a new segment
 *                           are free space, which reads zeros.
 *   whole-segment trim or   marked with the row change, in the same
 *   zero                    transaction.
 *
 * Answers that wait for a commit (MARKED waiters) are answered by the
 * loop after the batch's commit (ctrl_cbt_answer), as FLUSHes are.
 *
 * A row that is TRACK in a vdisk no longer tracked (its last snapshot
 * was deleted) is made plain at its next write fault.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "store/container.h"

/* Bitmap bytes of V's segments. */
static uint32_t
bitmap_bytes (const struct sm_vdisk_info *v)
{
  return (uint32_t) ((UINT64_C(1) << v->seg_shift) / SM_BLOCK_SIZE / 8);
}

int
ctrl_cbt_note (struct controller *c, uint32_t vdisk, uint64_t seg,
               const uint8_t *blocks, uint32_t n_bytes)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, vdisk);

  if (v == NULL || v->base == 0)
    return 0;
  if (n_bytes > bitmap_bytes (v))
    n_bytes = bitmap_bytes (v);
  if (ctrl_change (c) == -1
      || store_cbt_mark (c->store, vdisk, seg, blocks, n_bytes,
                         NULL) == -1) {
    ctrl_set_degraded (c, "changed-block marks could not be recorded");
    return -1;
  }
  return 0;
}

int
ctrl_cbt_note_segment (struct controller *c, uint32_t vdisk, uint64_t seg)
{
  uint8_t all[MSG_MAX_BITMAP];

  memset (all, 0xff, sizeof all);
  return ctrl_cbt_note (c, vdisk, seg, all, sizeof all);
}

/* Faults ------------------------------------------------------------ */

static void
fail_fault (struct controller *c, const struct msg *req, int err)
{
  struct msg m = { .type = MSG_FAIL, .id = req->id, .status = err };

  ctrl_answer (c, &m);
}

/* Answer REQ with RETRY(E, MARKED) after the next commit. */
static void
wait_for_commit (struct controller *c, const struct msg *req, sm_entry e)
{
  struct cbt_waiter w = { .agent = c->from, .id = req->id,
                          .vdisk = req->vdisk, .seg = req->first, .e = e };

  if (cbt_waiter_vector_append (&c->cbt_waiters, w) == -1)
    fail_fault (c, req, ENOMEM);
}

/* A new segment for the ZERO row SEG of V, TRACK, in the open
 * transaction: its entry, or 0 with *ERR. */
static sm_entry
allocate (struct controller *c, const struct sm_vdisk_info *v, uint64_t seg,
          int *err)
{
  struct ctrl_container *cc = c->containers[v->container_id];
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  uint64_t unit;
  sm_entry e;

  if (cc == NULL) {
    *err = EIO;
    return 0;
  }
  if (alloc_get (cc->alloc, units, &unit) == -1) {
    sm_error ("container %s is full: cannot allocate a segment for vdisk "
              "%s", cc->c->name, v->name);
    *err = ENOSPC;
    return 0;
  }
  e = entry_make (v->container_id, unit, ENTRY_VALID | ENTRY_TRACK);
  if (ctrl_change (c) == -1
      || store_allocate (c->store, v->id, seg, e, units) == -1) {
    alloc_put (cc->alloc, unit, units);
    ctrl_set_degraded (c, "an allocation could not be recorded");
    *err = EIO;
    return 0;
  }
  cc->n_segments++;
  return e;
}

/* The row ROW of a tracked vdisk's write fault REQ, made TRACK (a new
 * segment if it was zero), with REQ's blocks marked.  The new row, or 0
 * with *ERR. */
static sm_entry
mark_row (struct controller *c, const struct sm_vdisk_info *v,
          const struct msg *req, sm_entry row, int *err)
{
  sm_entry e = row;

  if (row == ENTRY_ZERO_SEGMENT)
    e = allocate (c, v, req->first, err);
  else if (!(row & ENTRY_TRACK)) {
    e = row | ENTRY_TRACK;
    if (ctrl_change (c) == -1
        || store_map_set (c->store, v->id, req->first, e) == -1) {
      ctrl_set_degraded (c, "a tracked row could not be recorded");
      *err = EIO;
      return 0;
    }
  }
  if (e == 0)
    return 0;
  if (ctrl_cbt_note (c, v->id, req->first, req->blocks,
                     req->n_blocks) == -1) {
    *err = EIO;
    return 0;
  }
  return e;
}

bool
ctrl_cbt_fault (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  sm_entry row, e;
  int err = 0;

  if (req->op != FAULT_WRITE || req->count != 1 || v == NULL
      || v->read_only || c->degraded
      || store_map_get (c->store, v->id, req->first, 1, &row) == -1
      || (row & (ENTRY_NOWRITE | ENTRY_ERROR | ENTRY_ALT)))
    return false;               /* faults.c answers */
  if (v->base == 0) {
    /* Not tracked (any more): a TRACK row becomes plain. */
    if ((row & ENTRY_TRACK)
        && (ctrl_change (c) == -1
            || store_map_set (c->store, v->id, req->first,
                              row & ~ENTRY_TRACK) == -1))
      ctrl_set_degraded (c, "a tracked row could not be made plain");
    return false;               /* RETRY with the stored row */
  }
  if ((e = mark_row (c, v, req, row, &err)) == 0)
    fail_fault (c, req, err);
  else
    wait_for_commit (c, req, e);
  return true;
}

bool
ctrl_cbt_waiting (const struct controller *c)
{
  return c->cbt_waiters.len > 0;
}

void
ctrl_cbt_answer (struct controller *c, int status)
{
  for (size_t i = 0; i < c->cbt_waiters.len; i++) {
    struct cbt_waiter *w = &c->cbt_waiters.ptr[i];
    struct msg m = { .type = MSG_RETRY, .id = w->id, .vdisk = w->vdisk,
                     .first = w->seg, .count = 1, .flags = MSG_F_MARKED,
                     .entries = &w->e, .n_entries = 1 };
    struct msg f = { .type = MSG_FAIL, .id = w->id, .status = status };
    ctrl_send (c, w->agent, status == 0 ? &m : &f, NULL);
  }
  c->cbt_waiters.len = 0;
}
