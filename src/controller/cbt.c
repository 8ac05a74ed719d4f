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
 *   a write to a TRACK row  (closed: the segment is the vdisk's own)
 *                           faults; the controller opens the segment
 *                           (below) and marks the write's blocks, and
 *                           answers after the commit (synchronous=FULL)
 *   a write to an OPEN row  goes in place; the agent first reports the
 *                           blocks its cache of marks (agent/marks.h)
 *                           does not hold (MARK, lazily)
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
 * OPEN segments.  Faulting every first write of a block to its durable
 * mark cost a synchronous commit per block (a fsync per batch of
 * faults: 16k against 45k IOPS once the copies were done, far worse on
 * a busy disk).  So a segment is *opened* instead, once per snapshot:
 * its row becomes OPEN, durably, and from then on the agent writes in
 * place and reports the blocks it writes (MARK, queued like ALLOCATED,
 * so a FLUSH covers it; not waited for).  A mark lost in a crash is
 * found again at the next start (ctrl_cbt_recover): the unmarked blocks
 * of every OPEN segment are compared with the base snapshot's (or with
 * zeros), and those that differ are marked.  A clean stop has every
 * MARK recorded, so it only closes them (OPEN -> TRACK).  A new segment
 * (a first write) and the end of a copy-on-write are OPEN at once: until
 * their rows commit, a crash loses the segment's data with them.
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

/* Marks not yet in the store ------------------------------------------
 *
 * Every write to a new block of an open segment sends a MARK, and a
 * store update per mark (read the row, OR, write it back) cost the
 * controller thread more than everything else it did for such a write.
 * So the marks of MARK, MOVED and IO_DONE gather here
 * (ctrl_cbt_note_later), one bitmap per (vdisk, segment), and go to
 * the store in the open transaction when it commits, and before
 * anything reads or replaces the stored marks: an admin command, a
 * diff, and every ctrl_take_allocated, which the snapshot and rollback
 * paths call once the vdisk drained (ctrl_cbt_flush).  They are part
 * of the open transaction as much as the rows it changed; a commit
 * never happens without them.  Marks noted by the controller's own
 * changes (ctrl_cbt_note: trims, opened rows) go to the store at once,
 * in order with the resets of the commands that make them. */

static uint64_t
pend_hash (uint32_t vdisk, uint64_t seg)
{
  return ((uint64_t) vdisk * UINT64_C(0x9e3779b97f4a7c15))
    ^ (seg * UINT64_C(0xbf58476d1ce4e5b9));
}

/* The slot for (VDISK, SEG) in a table of CAP slots (a power of two):
 * its own or the empty one where it goes. */
static struct cbt_pending *
pend_slot (struct cbt_pending *tab, size_t cap, uint32_t vdisk, uint64_t seg)
{
  size_t i = pend_hash (vdisk, seg) & (cap - 1);

  while (tab[i].bits && !(tab[i].vdisk == vdisk && tab[i].seg == seg))
    i = (i + 1) & (cap - 1);
  return &tab[i];
}

/* Room for one more.  0 or -1 (ENOMEM). */
static int
pend_reserve (struct controller *c)
{
  size_t cap = c->cbt_pending_cap ? c->cbt_pending_cap * 2 : 256;
  struct cbt_pending *tab;

  if ((c->cbt_pending_len + 1) * 2 <= c->cbt_pending_cap)
    return 0;
  tab = calloc (cap, sizeof *tab);
  if (tab == NULL)
    return -1;
  for (size_t i = 0; i < c->cbt_pending_cap; i++)
    if (c->cbt_pending[i].bits)
      *pend_slot (tab, cap, c->cbt_pending[i].vdisk,
                  c->cbt_pending[i].seg) = c->cbt_pending[i];
  free (c->cbt_pending);
  c->cbt_pending = tab;
  c->cbt_pending_cap = cap;
  return 0;
}

int
ctrl_cbt_flush (struct controller *c)
{
  int r = 0;

  for (size_t i = 0; i < c->cbt_pending_cap; i++) {
    struct cbt_pending *p = &c->cbt_pending[i];
    if (p->bits == NULL)
      continue;
    if (r == 0 && ctrl_find_vdisk (c, p->vdisk) != NULL
        && store_cbt_mark (c->store, p->vdisk, p->seg, p->bits, p->n_bytes,
                           NULL) == -1) {
      ctrl_set_degraded (c, "changed-block marks could not be recorded");
      r = -1;
    }
    free (p->bits);
    p->bits = NULL;
  }
  c->cbt_pending_len = 0;
  return r;
}

void
ctrl_cbt_pending_free (struct controller *c)
{
  for (size_t i = 0; i < c->cbt_pending_cap; i++)
    free (c->cbt_pending[i].bits);
  free (c->cbt_pending);
  c->cbt_pending = NULL;
  c->cbt_pending_cap = c->cbt_pending_len = 0;
}

/* VDISK if it is tracked (*N_BYTES cut to its bitmap), else NULL. */
static const struct sm_vdisk_info *
tracked (struct controller *c, uint32_t vdisk, uint32_t *n_bytes)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, vdisk);

  if (v == NULL || v->base == 0)
    return NULL;
  if (*n_bytes > bitmap_bytes (v))
    *n_bytes = bitmap_bytes (v);
  return v;
}

int
ctrl_cbt_note_later (struct controller *c, uint32_t vdisk, uint64_t seg,
                     const uint8_t *blocks, uint32_t n_bytes)
{
  const struct sm_vdisk_info *v = tracked (c, vdisk, &n_bytes);
  struct cbt_pending *p;

  if (v == NULL)
    return 0;
  if (ctrl_change (c) == -1 || pend_reserve (c) == -1) {
    ctrl_set_degraded (c, "changed-block marks could not be recorded");
    return -1;
  }
  p = pend_slot (c->cbt_pending, c->cbt_pending_cap, vdisk, seg);
  if (p->bits == NULL) {
    p->bits = calloc (bitmap_bytes (v), 1);
    if (p->bits == NULL) {
      ctrl_set_degraded (c, "changed-block marks could not be recorded");
      return -1;
    }
    p->vdisk = vdisk;
    p->seg = seg;
    p->n_bytes = bitmap_bytes (v);
    c->cbt_pending_len++;
  }
  for (uint32_t i = 0; i < n_bytes; i++)
    p->bits[i] |= blocks[i];
  return 0;
}

int
ctrl_cbt_note (struct controller *c, uint32_t vdisk, uint64_t seg,
               const uint8_t *blocks, uint32_t n_bytes)
{
  if (tracked (c, vdisk, &n_bytes) == NULL)
    return 0;
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

/* The row ROW of a tracked vdisk's write fault REQ, made OPEN (a new
 * segment if it was zero), with REQ's blocks marked.  The new row, or 0
 * with *ERR. */
static sm_entry
open_row (struct controller *c, const struct sm_vdisk_info *v,
          const struct msg *req, sm_entry row, int *err)
{
  sm_entry e = row;

  if (row == ENTRY_ZERO_SEGMENT)
    e = ctrl_allocate_segment (c, v, req->first, ENTRY_OPEN, err);
  else {
    e = (row & ~ENTRY_TRACK) | ENTRY_OPEN;
    if (ctrl_change (c) == -1
        || store_map_set (c->store, v->id, req->first, e) == -1) {
      ctrl_set_degraded (c, "a tracked row could not be opened");
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

/* The answer RETRY(*E, MARKED) to fault ID on SEG of VDISK. */
static struct msg
marked_retry (uint64_t id, uint32_t vdisk, uint64_t seg, sm_entry *e)
{
  return (struct msg) { .type = MSG_RETRY, .id = id, .vdisk = vdisk,
                        .first = seg, .count = 1, .flags = MSG_F_MARKED,
                        .entries = e, .n_entries = 1 };
}

/* Answer REQ with RETRY(E, MARKED) now. */
static void
answer_marked (struct controller *c, const struct msg *req, sm_entry e)
{
  struct msg m = marked_retry (req->id, req->vdisk, req->first, &e);

  ctrl_answer (c, &m);
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
    /* Not tracked (any more): a TRACK or OPEN row becomes plain. */
    if ((row & (ENTRY_TRACK | ENTRY_OPEN))
        && (ctrl_change (c) == -1
            || store_map_set (c->store, v->id, req->first,
                              row & ~(ENTRY_TRACK | ENTRY_OPEN)) == -1))
      ctrl_set_degraded (c, "a tracked row could not be made plain");
    return false;               /* RETRY with the stored row */
  }
  if (row & ENTRY_OPEN)
    return false;               /* RETRY with it: the agent reports */
  if ((e = open_row (c, v, req, row, &err)) == 0)
    fail_fault (c, req, err);
  else if (row == ENTRY_ZERO_SEGMENT)
    /* A new segment: until its row commits, a crash loses it and the
     * data with it; after, the recovery compares it (with zeros). */
    answer_marked (c, req, e);
  else
    /* Written in place from now on: OPEN must be durable first, or a
     * crash could leave changed blocks that nothing compares. */
    wait_for_commit (c, req, e);
  return true;
}

void
ctrl_cbt_mark (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);

  if (v == NULL || v->base == 0)
    return;                     /* deleted, or no longer tracked */
  ctrl_cbt_note_later (c, v->id, req->first, req->blocks, req->n_blocks);
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
    struct msg m = marked_retry (w->id, w->vdisk, w->seg, &w->e);
    struct msg f = { .type = MSG_FAIL, .id = w->id, .status = status };
    ctrl_send (c, w->agent, status == 0 ? &m : &f, NULL);
  }
  c->cbt_waiters.len = 0;
}

/* Start-up ------------------------------------------------------------ */

struct open_row { uint64_t vseg; sm_entry e; };
DEFINE_VECTOR_TYPE (open_row_vector, struct open_row);

static int
collect_open (void *opaque, uint64_t vseg, sm_entry e)
{
  struct open_row_vector *rows = opaque;

  if (!(e & ENTRY_OPEN))
    return 0;
  return open_row_vector_append (rows, (struct open_row) { vseg, e });
}

/* Read segment E (a located entry) of SIZE bytes into BUF, or zeros
 * for the zero segment.  0 or -1. */
static int
read_segment (struct controller *c, sm_entry e, uint8_t *buf, uint64_t size)
{
  struct ctrl_container *cc;

  if (e == ENTRY_ZERO_SEGMENT || entry_container (e) == 0) {
    memset (buf, 0, size);
    return 0;
  }
  cc = c->containers[entry_container (e)];
  if (cc == NULL) {
    sm_error ("changed-block recovery: container %u is not open",
              entry_container (e));
    return -1;
  }
  return container_pread (cc->c, buf, size, entry_offset (e));
}

/* Mark the blocks of open segment R of V, unmarked, whose bytes differ
 * from V's base's.  How many, or -1. */
static int64_t
compare_with_base (struct controller *c, const struct sm_vdisk_info *v,
                   const struct open_row *r, uint8_t *mine, uint8_t *base)
{
  uint64_t size = UINT64_C(1) << v->seg_shift;
  uint32_t n_bytes = bitmap_bytes (v);
  uint8_t marks[MSG_MAX_BITMAP];
  sm_entry b;
  int64_t found = 0;

  bool unreadable;

  if (store_cbt_get (c->store, v->id, r->vseg, marks, n_bytes) == -1
      || store_map_get (c->store, v->base, r->vseg, 1, &b) == -1)
    return -1;
  /* On a failed container (failure.c) the data cannot be compared:
   * every block counts as changed, which a diff can only overstate. */
  unreadable = ctrl_container_is_failed (c, entry_container (r->e))
    || ctrl_container_is_failed (c, entry_container (b));
  if (!unreadable && (read_segment (c, r->e, mine, size) == -1
                      || read_segment (c, b, base, size) == -1))
    return -1;
  for (uint64_t k = 0; k < (uint64_t) n_bytes * 8; k++) {
    if ((marks[k / 8] >> (k % 8)) & 1)
      continue;
    if (unreadable
        || memcmp (mine + k * SM_BLOCK_SIZE, base + k * SM_BLOCK_SIZE,
                   SM_BLOCK_SIZE) != 0) {
      marks[k / 8] |= 1u << (k % 8);
      found++;
    }
  }
  if (found > 0
      && store_cbt_mark (c->store, v->id, r->vseg, marks, n_bytes,
                         NULL) == -1)
    return -1;
  return found;
}

/* Close (and after an unclean stop, first compare) V's open rows. */
static int
recover_vdisk (struct controller *c, const struct sm_vdisk_info *v,
               bool was_clean, uint64_t *n_open, uint64_t *n_found)
{
  struct open_row_vector rows = { 0 };
  uint64_t size = UINT64_C(1) << v->seg_shift;
  uint8_t *mine = NULL, *base = NULL;
  int r = store_map_foreach (c->store, v->id, 0, collect_open, &rows);

  if (r == 0 && rows.len > 0 && !was_clean && v->base != 0
      && ((mine = malloc (size)) == NULL || (base = malloc (size)) == NULL))
    r = -1;
  for (size_t i = 0; i < rows.len && r == 0; i++) {
    sm_entry closed = rows.ptr[i].e & ~ENTRY_OPEN;
    if (mine) {
      int64_t found = compare_with_base (c, v, &rows.ptr[i], mine, base);
      if (found == -1)
        r = -1;
      else
        *n_found += found;
    }
    if (v->base != 0)
      closed |= ENTRY_TRACK;
    if (r == 0 && store_map_set (c->store, v->id, rows.ptr[i].vseg,
                                 closed) == -1)
      r = -1;
  }
  *n_open += rows.len;
  free (mine);
  free (base);
  free (rows.ptr);
  return r;
}

int
ctrl_cbt_recover (struct controller *c, bool was_clean)
{
  uint64_t n_open = 0, n_found = 0;

  if (ctrl_change (c) == -1)
    return -1;
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (recover_vdisk (c, &c->vdisks[i], was_clean, &n_open,
                       &n_found) == -1) {
      sm_error ("changed-block recovery of vdisk %s failed: %s",
                c->vdisks[i].name, sm_last_error ());
      return -1;
    }
  if (n_open > 0)
    sm_debug ("changed-block tracking: closed %" PRIu64 " open segments%s, "
              "%" PRIu64 " unreported changed blocks found", n_open,
              was_clean ? "" : " after comparing them", n_found);
  return 0;
}
