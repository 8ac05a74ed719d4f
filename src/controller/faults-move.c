/* segmap: data movements in the controller, and its answers to faults
 * on moving segments (DESIGN §5, seed 001 FIG. 4 and 6).
 *
 * A movement is one segment of one vdisk whose data is being moved to
 * (or built up at) an alternate location: a snapshot's first write
 * (forward delta: new blocks at the new segment, the rest copied in the
 * background) or a migration (copy block ranges, writes redirected).
 * The registry holds, per (vdisk, segment):
 *
 *   orig, alt    where the data was and where it goes
 *   at_alt       bitmap of the segment's 4 KiB blocks whose current
 *                data is at alt (copied, or written by a redirected
 *                write); the others are at orig
 *   busy         blocks a DO_WRITE is writing now (sent, IO_DONE not
 *                yet received): neither a copy nor another write may
 *                touch them
 *   redirect     host writes go to alt (DO_WRITE or DELEGATE);
 *                otherwise they wait until the movement ends
 *   delegated    the agent holds the movement (DELEGATE, agent/held.h):
 *                it reads and writes the segment itself and reports
 *                the blocks it wrote (MOVED); at_alt lags behind what it
 *                wrote until the delegation is taken back
 *   alt_shown    the agent has been told ALT (set_status): reads
 *                fault and are split; before the first redirected
 *                write orig holds every block's data (copied blocks
 *                are equal in both places), so reads stay on the fast
 *                path until then
 *   orders       DO_WRITE / DO_SPLIT_READ sent and not yet reported
 *                done: the agent may still use orig or alt for them
 *   deferred     faults waiting: writes for busy blocks (or for the end
 *                of a movement that does not redirect), whole-segment
 *                trim/zero for the end
 *
 * Faults (hooked into faults.c):
 *
 *   write, redirect, blocks free, -> show ALT, DELEGATE(orig, alt,
 *     one agent, no order            at_alt): no further fault
 *   write, redirect, blocks free  -> mark busy, show ALT, DO_WRITE(orig,
 *                                    alt, at_alt)
 *   read or write, delegated      -> RETRY (sent before the DELEGATE
 *                                    arrived; the agent holds it now)
 *   write, blocks busy / no redirect -> deferred (queued again after the
 *                                    next IO_DONE of the movement / at
 *                                    its end)
 *   read of one segment with blocks, ALT shown -> DO_SPLIT_READ(orig,
 *                                    alt, at_alt)
 *   trim/zero of whole segments   -> deferred until the movements in
 *                                    the range end (freeing a moving
 *                                    segment would strand it)
 *   anything else                 -> faults.c as usual; the entries it
 *                                    loads for moving segments carry
 *                                    NOWRITE (and ALT once shown)
 *   IO_DONE                       -> write: at_alt |= blocks (only now:
 *                                    the data is there), busy cleared;
 *                                    -> COMPLETE_TO_HOST, or FAIL with
 *                                    the agent's error
 *   MOVED                         -> at_alt |= blocks, as IO_DONE would
 *
 * Delegations are taken back (REVOKE, take_back) before a copy claims
 * the segment's blocks, before the movement ends, and before a diff of
 * the vdisk; any SET_ENTRY, SET_STATUS, QUIESCE or DELETE_TABLE over
 * the segment ends them too (ctrl_move_commanded, called for every
 * command sent).  Either way the agent has queued its last MOVED before
 * it answers, and those frames are handled (ctrl_take_allocated) before
 * the movement counts as not delegated, so a copy never overwrites a
 * block the agent wrote.
 *
 * Invariants.
 *  - No block is busy for two orders at once, so two writes never
 *    read-modify-write the same block concurrently.
 *  - A block is marked at alt only once its data is there (IO_DONE for a
 *    write, ctrl_move_mark for a copy that has finished).
 *  - A movement ends only with no order outstanding and not delegated:
 *    after that the agent touches neither orig nor alt on its behalf.
 *  - Everything runs on the controller thread.
 *
 * Use (the snapshot and migration issues): ctrl_move_begin (the agent's
 * entry becomes NOWRITE, blocking: no write to orig is in flight
 * afterwards), copy blocks that ctrl_move_query reports ORIG (skip
 * WRITING ones) and ctrl_move_mark them, then ctrl_move_end (EBUSY:
 * try again later; KEEP_ALT when alt becomes the segment's location)
 * and, in the same controller turn, record the final entry in the
 * store and SET_ENTRY it (blocking) before freeing the location no
 * longer used (orig with KEEP_ALT; otherwise the end frees alt).
 *
 * Durability (sql/005-movement.sql, store-movement.c).  orig, alt,
 * redirect and at_alt of every movement are stored in the table
 * movement, keyed by vdisk and segment, the bitmap as a blob; busy,
 * alt_shown, delegated, orders and deferred faults are not (they
 * belong to the agents' I/O in flight, which a restart ends).  What is stored when,
 * always in the controller's open transaction:
 *
 *   ctrl_move_begin   the row, and alt's segment row (refcount 1: the
 *                     movement's reference), before NOWRITE is shown
 *   IO_DONE of a      at_alt at once (reads, copies), the stored bitmap
 *     redirected      only once a sync of alt covers the data: the
 *     write, MOVED    copier's batch sync for marks made before its
 *                     batch closed (ctrl_move_cover), else
 *                     ctrl_move_settle_marks, which a FLUSH runs before
 *                     its commit (the agent sends IO_DONE and MOVED
 *                     before the FLUSH that follows the writes, so the
 *                     commit answering it covers them), a clean stop,
 *                     and the copier when only such marks keep a
 *                     movement from ending.  So no other commit waits
 *                     for a container sync, and none stores a mark
 *                     whose data a power cut could lose (the block
 *                     then reads its old data from orig, which an
 *                     unflushed write allows).
 *   ctrl_move_mark,   the new bitmap, before it returns (the copy's
 *     a copy          data was synced first)
 *   ctrl_move_end     the row goes; alt's reference is dropped (alt
 *                     zeroed, freed after the commit), or with KEEP_ALT
 *                     passes to the caller, who maps alt in the same
 *                     turn (the map row takes it over)
 *
 * A store failure marks nothing and makes the controller degraded (the
 * host I/O fails with EIO).  At start-up (startup.c) ctrl_move_load
 * registers every stored movement before any agent can fault: nothing
 * busy, no orders, alt_shown if a block is at alt; the map row still
 * points at orig, and the entries loaded for the segment carry NOWRITE
 * (and ALT) as above.
 *
 * The alt segment's store reference is the movement's, and ALT is
 * placed as faults.c places a new segment: the caller takes it from
 * the container's allocator (used there, not in the store) and
 * ctrl_move_begin records its segment row with the movement row, all or
 * nothing; a begin that fails leaves nothing stored, and the caller
 * gives the place back to the allocator.  So segment.refcount = map
 * rows + movement rows, alt is never free in the store, and an unclean
 * start, which zeroes all free space, never zeroes blocks written at
 * alt.  store_check proves it (segmapctl check).
 *
 * Orders are keyed by the agent's request id: one agent.  Deleting a
 * vdisk (delete.c) ends its movements before its map rows go, alt
 * freed (ctrl_move_end_vdisk); one with an order outstanding holds the
 * deletion until its IO_DONE has been handled.
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

struct order {
  uint64_t id;                  /* of the fault it answers */
  bool write;
  bool copy;                    /* a copy by the controller (no fault) */
  bool copied;                  /* copy: written at alt, blocks released
                                   (ctrl_move_copy_written), not marked
                                   until ctrl_move_copied */
  uint8_t *blocks;              /* write, copy: the blocks made busy */
};
DEFINE_VECTOR_TYPE (order_vector, struct order);

struct deferred {
  struct transport *from;       /* the agent that sent it */
  uint8_t *frame;
  size_t len;
};
DEFINE_VECTOR_TYPE (deferred_vector, struct deferred);

struct ctrl_move {
  uint32_t vdisk;
  uint64_t seg;
  sm_entry orig, alt;
  bool redirect, alt_shown;
  bool delegated;               /* the agent holds it (DELEGATE) */
  uint32_t n_bytes;             /* of each bitmap */
  uint8_t *at_alt, *busy;
  uint8_t *stored;              /* the blocks at_alt the store has: those
                                 * whose data at alt is durable */
  uint8_t *covered;             /* at_alt when the copier's batch closed
                                 * (its sync covers them), or NULL */
  struct order_vector orders;
  struct deferred_vector deferred;
};

const char *
move_block_to_string (enum move_block b)
{
  switch (b) {
  case MOVE_BLOCK_ORIG: return "orig";
  case MOVE_BLOCK_ALT: return "alt";
  case MOVE_BLOCK_WRITING: return "writing";
  }
  return "unknown";
}

/* Bitmaps ----------------------------------------------------------- */

static bool
bit (const uint8_t *b, uint64_t i)
{
  return (b[i / 8] >> (i % 8)) & 1;
}

/* Are all N bytes of B 0xff (every block)? */
static bool
full (const uint8_t *b, uint32_t n)
{
  for (uint32_t i = 0; i < n; i++)
    if (b[i] != 0xff)
      return false;
  return true;
}

static bool
any (const uint8_t *b, uint32_t n)
{
  for (uint32_t i = 0; i < n; i++)
    if (b[i])
      return true;
  return false;
}

static bool
overlaps (const uint8_t *a, const uint8_t *b, uint32_t n)
{
  for (uint32_t i = 0; i < n; i++)
    if (a[i] & b[i])
      return true;
  return false;
}

/* Is BLOCKS (N bytes, from a fault) exactly the blocks of the byte
 * range [OFF, OFF+LEN) of a segment with N_BYTES bytes of bitmap? */
static bool
blocks_match (const uint8_t *blocks, uint32_t n, uint32_t n_bytes,
              uint64_t off, uint64_t len)
{
  if (n != n_bytes || len == 0 || off + len > (uint64_t) n_bytes * 8
      * SM_BLOCK_SIZE)
    return false;
  for (uint64_t i = 0; i < (uint64_t) n_bytes * 8; i++) {
    bool in = i >= off / SM_BLOCK_SIZE && i <= (off + len - 1) / SM_BLOCK_SIZE;
    if (bit (blocks, i) != in)
      return false;
  }
  return true;
}

/* The registry -------------------------------------------------------- */

/* Index of the first movement at or after (VDISK, SEG). */
static size_t
lower_bound (struct controller *c, uint32_t vdisk, uint64_t seg)
{
  size_t lo = 0, hi = c->moves.len;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct ctrl_move *m = c->moves.ptr[mid];
    if (m->vdisk < vdisk || (m->vdisk == vdisk && m->seg < seg))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

struct ctrl_move *
ctrl_move_find (struct controller *c, uint32_t vdisk, uint64_t seg)
{
  size_t i = lower_bound (c, vdisk, seg);

  if (i < c->moves.len && c->moves.ptr[i]->vdisk == vdisk
      && c->moves.ptr[i]->seg == seg)
    return c->moves.ptr[i];
  return NULL;
}

static void
move_free (struct ctrl_move *m)
{
  for (size_t i = 0; i < m->orders.len; i++)
    free (m->orders.ptr[i].blocks);
  for (size_t i = 0; i < m->deferred.len; i++)
    free (m->deferred.ptr[i].frame);
  free (m->orders.ptr);
  free (m->deferred.ptr);
  free (m->at_alt);
  free (m->busy);
  free (m->stored);
  free (m->covered);
  free (m);
}

/* Put the deferred faults of M back on the controller's queue. */
static void
requeue_deferred (struct controller *c, struct ctrl_move *m)
{
  struct deferred_vector d = m->deferred;

  m->deferred = (struct deferred_vector) { NULL, 0, 0 };
  for (size_t i = 0; i < d.len; i++)
    controller_submit_frame (c, d.ptr[i].from, d.ptr[i].frame, d.ptr[i].len);
  free (d.ptr);
}

/* Change the status BITS of the agent's entry of M (not blocking unless
 * BLOCKING).  0 or -1. */
static int
show (struct controller *c, const struct ctrl_move *m, uint64_t bits,
      bool blocking)
{
  struct msg s = { .type = MSG_SET_STATUS, .vdisk = m->vdisk,
                   .first = m->seg, .count = 1, .arg = bits,
                   .flags = MSG_F_ON | (blocking ? MSG_F_BLOCKING : 0) };

  if (ctrl_broadcast (c, &s) == 0)
    return 0;
  sm_error ("controller: vdisk %" PRIu32 " segment %" PRIu64 ": an agent "
            "did not take the %s state", m->vdisk, m->seg,
            bits & ENTRY_ALT ? "alternate" : "no-write");
  return -1;
}

/* Is ORIG where the store maps SEG of VDISK (ZERO: no row)? */
static bool
orig_is_mapped (struct controller *c, uint32_t vdisk, uint64_t seg,
                sm_entry orig)
{
  sm_entry row;

  if (store_map_get (c->store, vdisk, seg, 1, &row) == -1)
    return false;
  if (orig == ENTRY_ZERO_SEGMENT || row == ENTRY_ZERO_SEGMENT)
    return row == orig;
  return !(row & ENTRY_ERROR) && entry_container (row) == entry_container (orig)
    && entry_unit (row) == entry_unit (orig);
}

/* The movement of SEG of a vdisk with segments of 1 << SHIFT bytes,
 * at_alt a copy of AT_ALT (NULL: none at alt), nothing busy; not in
 * the registry yet.  NULL on ENOMEM. */
static struct ctrl_move *
move_new (uint32_t vdisk, uint64_t seg, unsigned shift, sm_entry orig,
          sm_entry alt, bool redirect, const uint8_t *at_alt)
{
  struct ctrl_move *m = calloc (1, sizeof *m);

  if (m == NULL)
    return NULL;
  *m = (struct ctrl_move) {
    .vdisk = vdisk, .seg = seg, .redirect = redirect,
    /* orig is a location: the row's state flags (no-write, alt shown,
     * changed-block tracking) are not the movement's */
    .orig = orig & ~(ENTRY_NOWRITE | ENTRY_ALT | ENTRY_TRACK | ENTRY_OPEN),
    .alt = alt,
    .n_bytes = (UINT64_C(1) << shift) / SM_BLOCK_SIZE / 8,
  };
  m->at_alt = calloc (m->n_bytes, 1);
  m->busy = calloc (m->n_bytes, 1);
  m->stored = calloc (m->n_bytes, 1);
  if (m->at_alt == NULL || m->busy == NULL || m->stored == NULL) {
    move_free (m);
    return NULL;
  }
  if (at_alt) {
    memcpy (m->at_alt, at_alt, m->n_bytes);
    memcpy (m->stored, at_alt, m->n_bytes);
    m->alt_shown = any (at_alt, m->n_bytes);
  }
  return m;
}

/* Put M into the registry (none for its segment yet).  0 or -1. */
static int
insert (struct controller *c, struct ctrl_move *m)
{
  size_t i = lower_bound (c, m->vdisk, m->seg);

  if (move_vector_append (&c->moves, NULL) == -1) {
    errno = ENOMEM;
    return -1;
  }
  memmove (&c->moves.ptr[i + 1], &c->moves.ptr[i],
           (c->moves.len - 1 - i) * sizeof c->moves.ptr[0]);
  c->moves.ptr[i] = m;
  return 0;
}

/* Take M (at index I) out of the registry and free it; its deferred
 * faults are queued again, handled after the caller's turn. */
static void
remove_at (struct controller *c, size_t i)
{
  struct ctrl_move *m = c->moves.ptr[i];

  memmove (&c->moves.ptr[i], &c->moves.ptr[i + 1],
           (c->moves.len - i - 1) * sizeof c->moves.ptr[0]);
  c->moves.len--;
  requeue_deferred (c, m);
  move_free (m);
}

/* The stored form of M. */
static struct sm_movement
stored (const struct ctrl_move *m)
{
  return (struct sm_movement) {
    .vdisk = m->vdisk, .vseg = m->seg, .orig = m->orig, .alt = m->alt,
    .redirect = m->redirect, .at_alt = m->stored, .n_bytes = m->n_bytes,
  };
}

/* Undo a begin whose agents did not take NOWRITE: the row and the alt
 * segment row go (nothing was written there; the caller gives the
 * place back to the allocator). */
static void
unbegin (struct controller *c, struct ctrl_move *m)
{
  uint32_t cid = entry_container (m->alt);
  uint64_t unit = entry_unit (m->alt), seg = m->seg, vdisk = m->vdisk;

  remove_at (c, lower_bound (c, m->vdisk, m->seg));
  if (store_movement_delete (c->store, vdisk, seg) == -1
      || store_segment_ref (c->store, cid, unit, -1, NULL) == -1)
    ctrl_set_degraded (c, "a data movement could not be taken back");
}

int
ctrl_move_begin (struct controller *c, uint32_t vdisk, uint64_t seg,
                 sm_entry orig, sm_entry alt, bool redirect)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, vdisk);
  struct ctrl_move *m;
  struct sm_movement row;

  if (v == NULL || seg >= (v->size + (UINT64_C(1) << v->seg_shift) - 1)
      >> v->seg_shift || entry_flags (alt) != ENTRY_VALID
      || !entry_is_valid (orig) || (orig & ENTRY_ERROR)) {
    errno = EINVAL;
    return -1;
  }
  if (ctrl_move_find (c, vdisk, seg)) {
    errno = EEXIST;
    return -1;
  }
  if (c->degraded) {
    errno = EIO;
    return -1;
  }
  m = move_new (vdisk, seg, v->seg_shift, orig, alt, redirect, NULL);
  if (m == NULL) {
    errno = ENOMEM;
    return -1;
  }
  row = stored (m);
  if (!orig_is_mapped (c, vdisk, seg, m->orig)) {
    move_free (m);
    errno = EINVAL;
    return -1;
  }
  /* A failed put leaves the open transaction as it was. */
  if (ctrl_change (c) == -1 || store_movement_put (c->store, &row) == -1) {
    int err = errno;
    move_free (m);
    errno = err;
    return -1;
  }
  if (insert (c, m) == -1) {
    move_free (m);
    ctrl_set_degraded (c, "a data movement could not be registered");
    errno = ENOMEM;
    return -1;
  }
  /* Blocking: once answered, no write to orig is in flight.  A row
   * stored no-write (shared since a snapshot or clone) reached every
   * agent no-write, with a drain, when it became so: nothing to wait
   * for, and a drain per copy-on-write stalled the vdisk's I/O. */
  if (!(orig & ENTRY_NOWRITE) && show (c, m, ENTRY_NOWRITE, true) == -1) {
    unbegin (c, m);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Store STORED | BLOCKS as M's durable bitmap (open transaction).  0,
 * or an errno (the controller is then degraded: nothing changed). */
static int
store_blocks (struct controller *c, struct ctrl_move *m,
              const uint8_t *blocks)
{
  CLEANUP_FREE uint8_t *next = malloc (m->n_bytes);

  if (next == NULL)
    return ENOMEM;
  for (uint32_t i = 0; i < m->n_bytes; i++)
    next[i] = m->stored[i] | blocks[i];
  if (memcmp (next, m->stored, m->n_bytes) == 0)
    return 0;
  if (ctrl_change (c) == -1
      || store_movement_update (c->store, m->vdisk, m->seg, next,
                                m->n_bytes) == -1) {
    ctrl_set_degraded (c, "a data movement could not be recorded");
    return EIO;
  }
  memcpy (m->stored, next, m->n_bytes);
  return 0;
}

/* Mark BLOCKS at alt in M, durably (their data at alt is synced: a
 * copy's, after its batch's sync): the store's row is updated in the
 * open transaction first (the next commit covers it).  0, or an errno
 * (the controller is then degraded: nothing was marked). */
static int
record_blocks (struct controller *c, struct ctrl_move *m,
               const uint8_t *blocks)
{
  int err = store_blocks (c, m, blocks);

  if (err == 0)
    for (uint32_t i = 0; i < m->n_bytes; i++)
      m->at_alt[i] |= blocks[i];
  return err;
}

int
ctrl_move_mark (struct controller *c, uint32_t vdisk, uint64_t seg,
                uint64_t first, uint64_t n)
{
  struct ctrl_move *m = ctrl_move_find (c, vdisk, seg);
  CLEANUP_FREE uint8_t *blocks = NULL;
  int err;

  if (m == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (first > (uint64_t) m->n_bytes * 8 || n > m->n_bytes * 8 - first) {
    errno = EINVAL;
    return -1;
  }
  for (uint64_t b = first; b < first + n; b++)
    if (bit (m->busy, b)) {
      errno = EBUSY;
      return -1;
    }
  blocks = calloc (m->n_bytes, 1);
  if (blocks == NULL)
    return -1;
  for (uint64_t b = first; b < first + n; b++)
    blocks[b / 8] |= 1u << (b % 8);
  if ((err = record_blocks (c, m, blocks)) != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

int
ctrl_move_query (struct controller *c, uint32_t vdisk, uint64_t seg,
                 uint64_t block, enum move_block *where)
{
  struct ctrl_move *m = ctrl_move_find (c, vdisk, seg);

  if (m == NULL || block >= (uint64_t) m->n_bytes * 8) {
    errno = m ? EINVAL : ENOENT;
    return -1;
  }
  *where = bit (m->busy, block) ? MOVE_BLOCK_WRITING
    : bit (m->at_alt, block) ? MOVE_BLOCK_ALT : MOVE_BLOCK_ORIG;
  return 0;
}

/* Take M's delegation back (REVOKE): once answered, the agent no longer
 * touches orig or alt for it and its MOVED frames have been handled, so
 * M's bitmap is complete.  0, or -1 (the agent's state is unknown: the
 * vdisk is fenced and M stays delegated, so nothing copies over it or
 * ends it). */
/* REVOKE [FIRST, FIRST+COUNT) of VDISK at the agents (its MOVED frames
 * are handled by ctrl_move_commanded).  0, or -1: the outcome is
 * unknown, the vdisk is fenced and the movements stay delegated, so
 * nothing copies over them or ends them. */
static int
revoke_range (struct controller *c, uint32_t vdisk, uint64_t first,
              uint32_t count)
{
  struct msg r = { .type = MSG_REVOKE, .vdisk = vdisk, .first = first,
                   .count = count };

  if (ctrl_broadcast_except (c, &r, ENOENT) == 0)
    return 0;
  sm_error ("controller: vdisk %" PRIu32 " segments %" PRIu64 "+%" PRIu32
            ": the agent did not give its delegated movements back", vdisk,
            first, count);
  ctrl_fence_vdisk (c, ctrl_find_vdisk (c, vdisk), "delegated data "
                    "movements could not be taken back");
  return -1;
}

static int
take_back (struct controller *c, struct ctrl_move *m)
{
  return m->delegated ? revoke_range (c, m->vdisk, m->seg, 1) : 0;
}

/* The delegations of [FIRST, FIRST+COUNT) of VDISK ended at the agent:
 * handle the MOVED frames its drop queued (while the movements still
 * count as delegated, which MOVED requires), then clear them. */
static void
undelegate (struct controller *c, uint32_t vdisk, uint64_t first,
            uint64_t count)
{
  bool any = false;
  size_t i;

  for (i = lower_bound (c, vdisk, first); i < c->moves.len
         && c->moves.ptr[i]->vdisk == vdisk
         && c->moves.ptr[i]->seg - first < count && !any; i++)
    any = c->moves.ptr[i]->delegated;
  if (!any)
    return;
  ctrl_take_allocated (c, vdisk);
  for (i = lower_bound (c, vdisk, first); i < c->moves.len
         && c->moves.ptr[i]->vdisk == vdisk
         && c->moves.ptr[i]->seg - first < count; i++)
    c->moves.ptr[i]->delegated = false;
}

int
ctrl_move_take_back_vdisk (struct controller *c, uint32_t vdisk)
{
  uint64_t lo = UINT64_MAX, hi = 0;

  for (size_t i = lower_bound (c, vdisk, 0);
       i < c->moves.len && c->moves.ptr[i]->vdisk == vdisk; i++)
    if (c->moves.ptr[i]->delegated) {
      lo = lo < c->moves.ptr[i]->seg ? lo : c->moves.ptr[i]->seg;
      hi = c->moves.ptr[i]->seg;
    }
  while (lo <= hi) {
    uint32_t n = hi - lo + 1 > UINT32_MAX ? UINT32_MAX : hi - lo + 1;
    if (revoke_range (c, vdisk, lo, n) == -1)
      return -1;
    lo += n;
  }
  return 0;
}

void
ctrl_move_commanded (struct controller *c, const struct msg *m, int r)
{
  /* A delete ends the table whether or not the agent had it; a REVOKE
   * or SET_* of a table the agent no longer has ends nothing there. */
  switch (m->type) {
  case MSG_REVOKE: case MSG_SET_ENTRY: case MSG_SET_STATUS:
    if (r == 0 || (r == -1 && errno == ENOENT))
      undelegate (c, m->vdisk, m->first, m->count);
    break;
  case MSG_DELETE_TABLE:
    undelegate (c, m->vdisk, 0, UINT64_MAX);
    break;
  case MSG_QUIESCE:
    for (uint32_t i = 0; r == 0 && i < m->n_vdisks; i++)
      undelegate (c, m->vdisks[i], 0, UINT64_MAX);
    break;
  }
}

int
ctrl_move_end (struct controller *c, uint32_t vdisk, uint64_t seg,
               bool keep_alt)
{
  size_t i = lower_bound (c, vdisk, seg);
  struct ctrl_move *m;
  uint32_t units;

  if (i == c->moves.len || c->moves.ptr[i]->vdisk != vdisk
      || c->moves.ptr[i]->seg != seg) {
    errno = ENOENT;
    return -1;
  }
  m = c->moves.ptr[i];
  if (m->orders.len > 0) {
    errno = EBUSY;
    return -1;
  }
  if (take_back (c, m) == -1) {
    errno = EIO;
    return -1;
  }
  i = lower_bound (c, vdisk, seg);      /* (the MOVED it took are in) */
  units = (uint64_t) m->n_bytes * 8 * SM_BLOCK_SIZE / SM_UNIT_SIZE;
  if (ctrl_change (c) == -1
      || store_movement_delete (c->store, vdisk, seg) == -1
      || (!keep_alt && ctrl_unref_segment (c, m->alt, units) == -1)) {
    ctrl_set_degraded (c, "the end of a data movement could not be "
                       "recorded");
    errno = EIO;
    return -1;
  }
  remove_at (c, i);
  return 0;
}

int
ctrl_move_end_vdisk (struct controller *c, uint32_t vdisk)
{
  size_t i = lower_bound (c, vdisk, 0);
  int left = 0;

  while (i < c->moves.len && c->moves.ptr[i]->vdisk == vdisk) {
    if (ctrl_move_end (c, vdisk, c->moves.ptr[i]->seg, false) == 0)
      continue;                 /* the next one is at I now */
    if (errno != EBUSY)
      return -1;
    left++;
    i++;
  }
  return left;
}

/* The segment shift of vdisk ID, live or being deleted; 0 if none. */
static unsigned
shift_of (struct controller *c, uint32_t id)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, id);

  for (size_t i = 0; v == NULL && i < c->n_deleting; i++)
    if (c->deleting[i].id == id)
      v = &c->deleting[i];
  return v ? v->seg_shift : 0;
}

/* Register stored movement R (rows come in registry order). */
static int
load_one (struct controller *c, const struct sm_movement *r)
{
  unsigned shift = shift_of (c, r->vdisk);
  struct ctrl_move *m;

  if (shift == 0
      || r->n_bytes != (UINT64_C(1) << shift) / SM_BLOCK_SIZE / 8) {
    sm_error ("controller: the movement of vdisk %" PRIu32 " segment %"
              PRIu64 " does not fit its vdisk; run 'segmapctl check'",
              r->vdisk, r->vseg);
    return -1;
  }
  m = move_new (r->vdisk, r->vseg, shift, r->orig, r->alt, r->redirect,
                r->at_alt);
  if (m == NULL || move_vector_append (&c->moves, m) == -1) {
    if (m)
      move_free (m);
    sm_error ("controller: cannot load the data movements: %m");
    return -1;
  }
  return 0;
}

int
ctrl_move_load (struct controller *c)
{
  struct sm_movement *rows;
  size_t n;
  int r = 0;

  ctrl_move_free_all (c);
  if (store_movement_list (c->store, 0, &rows, &n) == -1)
    return -1;
  for (size_t i = 0; i < n && r == 0; i++)
    r = load_one (c, &rows[i]);
  sm_movement_free (rows, n);
  if (r == 0 && n > 0)
    sm_debug ("controller: %zu data movements loaded", n);
  return r;
}

void
ctrl_move_free_all (struct controller *c)
{
  for (size_t i = 0; i < c->moves.len; i++)
    move_free (c->moves.ptr[i]);
  free (c->moves.ptr);
  c->moves = (struct move_vector) { NULL, 0, 0 };
}

void
ctrl_move_overlay (struct controller *c, uint32_t vdisk, uint64_t first,
                   uint32_t count, sm_entry *entries)
{
  for (size_t i = lower_bound (c, vdisk, first);
       i < c->moves.len && c->moves.ptr[i]->vdisk == vdisk
         && c->moves.ptr[i]->seg < first + count; i++) {
    const struct ctrl_move *m = c->moves.ptr[i];
    entries[m->seg - first] |= ENTRY_NOWRITE
      | (m->alt_shown ? ENTRY_ALT : 0);
  }
}

bool
ctrl_move_locations (struct controller *c, uint32_t vdisk, uint64_t seg,
                     sm_entry *orig, sm_entry *alt)
{
  const struct ctrl_move *m = ctrl_move_find (c, vdisk, seg);

  if (m == NULL)
    return false;
  *orig = m->orig;
  *alt = m->alt;
  return true;
}

/* Is either end of M on a failed container?  Its copy waits. */
static bool
on_failed_container (const struct controller *c, const struct ctrl_move *m)
{
  return ctrl_container_is_failed (c, entry_container (m->orig))
    || ctrl_container_is_failed (c, entry_container (m->alt));
}

/* The first movement in [FIRST, FIRST+COUNT) of VDISK, or NULL. */
static struct ctrl_move *
first_in (struct controller *c, uint32_t vdisk, uint64_t first,
          uint64_t count)
{
  size_t i = lower_bound (c, vdisk, first);

  if (i < c->moves.len && c->moves.ptr[i]->vdisk == vdisk
      && c->moves.ptr[i]->seg - first < count)
    return c->moves.ptr[i];
  return NULL;
}

uint64_t
ctrl_move_zero_run (struct controller *c, uint32_t vdisk, uint64_t first,
                    uint64_t n)
{
  const struct ctrl_move *m = first_in (c, vdisk, first, n);

  return m ? m->seg - first : n;
}

/* Faults ------------------------------------------------------------ */

static void
fail (struct controller *c, const struct msg *req, int err)
{
  struct msg m = { .type = MSG_FAIL, .id = req->id, .status = err };

  ctrl_answer (c, &m);
}

/* Keep REQ until M's busy blocks are written (or M ends).  Encoded
 * again: it goes back through ctrl_handle_frame. */
static void
defer (struct controller *c, struct ctrl_move *m, const struct msg *req)
{
  struct deferred d = { .from = c->from ? c->from->tr : NULL };

  if (d.from == NULL || msg_encode (req, &d.frame, &d.len) == -1) {
    fail (c, req, EIO);
    return;
  }
  if (deferred_vector_append (&m->deferred, d) == -1) {
    free (d.frame);
    fail (c, req, ENOMEM);
  }
}

static void
order_write (struct controller *c, struct ctrl_move *m, const struct msg *req)
{
  struct msg o = { .type = MSG_DO_WRITE, .id = req->id, .alt = m->alt,
                   .entries = &m->orig, .n_entries = 1,
                   .blocks = m->at_alt, .n_blocks = m->n_bytes };
  struct order ord = { .id = req->id, .write = true };

  if (!m->alt_shown && show (c, m, ENTRY_ALT, false) == -1) {
    fail (c, req, EIO);
    return;
  }
  m->alt_shown = true;
  ord.blocks = malloc (m->n_bytes);
  if (ord.blocks == NULL || order_vector_append (&m->orders, ord) == -1) {
    free (ord.blocks);
    fail (c, req, ENOMEM);
    return;
  }
  memcpy (ord.blocks, req->blocks, m->n_bytes);
  for (uint32_t i = 0; i < m->n_bytes; i++)
    m->busy[i] |= req->blocks[i];
  ctrl_answer (c, &o);
}

static void
order_split_read (struct controller *c, struct ctrl_move *m,
                  const struct msg *req)
{
  struct msg o = { .type = MSG_DO_SPLIT_READ, .id = req->id, .alt = m->alt,
                   .entries = &m->orig, .n_entries = 1,
                   .blocks = m->at_alt, .n_blocks = m->n_bytes };
  struct order ord = { .id = req->id, .write = false };

  if (order_vector_append (&m->orders, ord) == -1) {
    fail (c, req, ENOMEM);
    return;
  }
  ctrl_answer (c, &o);
}

/* A fault on a movement the agent holds: it raced with the DELEGATE
 * (sent before it arrived); the agent does the I/O itself now. */
static void
retry_held (struct controller *c, struct ctrl_move *m, const struct msg *req)
{
  sm_entry e = m->orig | ENTRY_NOWRITE | ENTRY_ALT;
  struct msg o = { .type = MSG_RETRY, .id = req->id, .vdisk = m->vdisk,
                   .first = m->seg, .count = 1, .entries = &e,
                   .n_entries = 1 };

  ctrl_answer (c, &o);
}

/* Can a write fault on M be answered by delegating it?  Only to the one
 * agent there is (each agent's I/O would need its own holder), and with
 * no order outstanding but copies already written (the agent's bitmap
 * must be the whole truth but for blocks copied and not yet marked,
 * which read the same at orig). */
static bool
can_delegate (const struct controller *c, const struct ctrl_move *m)
{
  if (c->no_delegation || c->agents.len != 1 || c->from == NULL)
    return false;
  for (size_t j = 0; j < m->orders.len; j++)
    if (!m->orders.ptr[j].copied)
      return false;
  return true;
}

/* DELEGATE(M) to the faulting agent: from now on it reads and writes
 * the segment itself and reports with MOVED. */
static void
delegate (struct controller *c, struct ctrl_move *m, const struct msg *req)
{
  struct msg o = { .type = MSG_DELEGATE, .id = req->id, .vdisk = m->vdisk,
                   .first = m->seg, .alt = m->alt, .entries = &m->orig,
                   .n_entries = 1, .blocks = m->at_alt,
                   .n_blocks = m->n_bytes };

  /* The one agent shows ALT itself when it takes the movement (its
   * reads must split from then on); later loads carry it. */
  m->alt_shown = true;
  m->delegated = true;
  ctrl_answer (c, &o);
}

bool
ctrl_move_fault (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  struct ctrl_move *m;

  if (req->op == FAULT_TRIM || req->op == FAULT_ZERO) {
    /* Freeing a moving segment would leave the movement pointing at a
     * freed location: wait for the end. */
    if ((m = first_in (c, req->vdisk, req->first, req->count)) == NULL)
      return false;
    defer (c, m, req);
    return true;
  }
  if ((req->op != FAULT_READ && req->op != FAULT_WRITE) || req->count != 1
      || (m = ctrl_move_find (c, req->vdisk, req->first)) == NULL)
    return false;
  if (req->op == FAULT_READ && (req->n_blocks == 0 || !m->alt_shown))
    return false;               /* a load, or orig holds every block */
  if (m->delegated) {
    retry_held (c, m, req);
    return true;
  }
  if (!blocks_match (req->blocks, req->n_blocks, m->n_bytes, req->arg,
                     req->arg2)) {
    sm_error ("controller: vdisk %" PRIu32 " segment %" PRIu64 ": a %s "
              "fault's block bitmap (%" PRIu32 " bytes) does not match its "
              "bytes %" PRIu64 "+%" PRIu32, req->vdisk, req->first,
              fault_op_to_string (req->op), req->n_blocks, req->arg,
              req->arg2);
    fail (c, req, EPROTO);
    return true;
  }
  if (req->op == FAULT_READ)
    order_split_read (c, m, req);
  else if (c->degraded || (v && v->read_only))
    fail (c, req, c->degraded ? EIO : EROFS);
  else if (!m->redirect || overlaps (m->busy, req->blocks, m->n_bytes))
    defer (c, m, req);
  else if (can_delegate (c, m))
    delegate (c, m, req);
  else
    order_write (c, m, req);
  return true;
}

/* The movement and index of the order answering fault ID, or NULL. */
static struct ctrl_move *
find_order (struct controller *c, uint64_t id, size_t *index)
{
  for (size_t i = 0; i < c->moves.len; i++) {
    struct ctrl_move *m = c->moves.ptr[i];
    for (size_t j = 0; j < m->orders.len; j++)
      if (!m->orders.ptr[j].copy && m->orders.ptr[j].id == id) {
        *index = j;
        return m;
      }
  }
  return NULL;
}

/* Mark BLOCKS of M at alt as a redirected write's would be: at once
 * for the I/O (split reads, copies, delegations) and in the
 * changed-block marks, but in the store only once a sync of alt's
 * container covers their data (ctrl_move_settle_marks, or the copier's
 * batch sync: ctrl_move_cover).  A commit in between (the periodic
 * one, an admin command's) leaves them out: after a power cut the
 * blocks read their old data from orig, which an unflushed write
 * allows, never alt's old contents (zeros).  So no commit but a
 * FLUSH's waits for a sync of alt.  0 or an errno. */
static int
written_at_alt (struct controller *c, struct ctrl_move *m,
                const uint8_t *blocks)
{
  for (uint32_t i = 0; i < m->n_bytes; i++)
    m->at_alt[i] |= blocks[i];
  if (ctrl_cbt_note_later (c, m->vdisk, m->seg, blocks, m->n_bytes) == -1)
    return EIO;
  return 0;
}

/* Has M blocks at alt the store does not have yet? */
static bool
pending (const struct ctrl_move *m)
{
  return memcmp (m->stored, m->at_alt, m->n_bytes) != 0;
}

/* Is there a movement before index I with pending marks on the same
 * alt container as movement I?  (Its sync covered I's container.) */
static bool
synced_before (const struct controller *c, size_t i)
{
  uint32_t id = entry_container (c->moves.ptr[i]->alt);

  for (size_t k = 0; k < i; k++)
    if (entry_container (c->moves.ptr[k]->alt) == id
        && pending (c->moves.ptr[k]))
      return true;
  return false;
}

int
ctrl_move_settle_marks (struct controller *c)
{
  for (size_t i = 0; i < c->moves.len; i++) {
    struct ctrl_move *m = c->moves.ptr[i];
    struct ctrl_container *cc = c->containers[entry_container (m->alt)];

    if (!pending (m) || (cc && cc->failed))
      continue;
    if (cc && !synced_before (c, i) && container_sync (cc->c) == -1) {
      if (!container_error_is_failure (errno)) {
        ctrl_set_degraded (c, "a container sync failed");
        return -1;
      }
      ctrl_container_fail (c, cc->c->id, errno, "sync of moved blocks");
    }
  }
  /* Stored only after every sync: synced_before looks at pending.  The
   * marks at a failed container are not (its data may not be there). */
  for (size_t i = 0; i < c->moves.len; i++)
    if (pending (c->moves.ptr[i])
        && !ctrl_container_is_failed (c,
                                      entry_container (c->moves.ptr[i]->alt))
        && store_blocks (c, c->moves.ptr[i], c->moves.ptr[i]->at_alt) != 0)
      return -1;
  return 0;
}

void
ctrl_move_cover (struct controller *c, const uint32_t *synced, size_t n)
{
  for (size_t i = 0; i < c->moves.len; i++) {
    struct ctrl_move *m = c->moves.ptr[i];
    bool covered = false;

    for (size_t k = 0; k < n && !covered; k++)
      covered = synced[k] == entry_container (m->alt);
    if (!covered || !pending (m))
      continue;
    if (m->covered == NULL && (m->covered = malloc (m->n_bytes)) == NULL)
      continue;                 /* a later sync settles it */
    memcpy (m->covered, m->at_alt, m->n_bytes);
  }
}

int
ctrl_move_covered (struct controller *c, bool ok)
{
  int err = 0;

  for (size_t i = 0; i < c->moves.len; i++) {
    struct ctrl_move *m = c->moves.ptr[i];
    if (m->covered == NULL)
      continue;
    if (ok && err == 0)
      err = store_blocks (c, m, m->covered);
    free (m->covered);
    m->covered = NULL;
  }
  return err ? -1 : 0;
}

/* Settle order J of M as the agent reported it in REQ: the error to
 * fail the host I/O with, or 0.  A write's blocks are marked at alt
 * (in the store's open transaction: the commit that answers a later
 * FLUSH covers them) only when the agent wrote them. */
static int
settle (struct controller *c, struct ctrl_move *m, size_t j,
        const struct msg *req)
{
  struct order o = m->orders.ptr[j];
  int err = req->status;

  if (err == 0 && (req->vdisk != m->vdisk || req->first != m->seg
                   || (o.write && (req->n_blocks != m->n_bytes
                                   || memcmp (req->blocks, o.blocks,
                                              m->n_bytes) != 0)))) {
    sm_error ("controller: io_done for order %" PRIu64 " names other "
              "blocks than vdisk %" PRIu32 " segment %" PRIu64 " was told",
              o.id, m->vdisk, m->seg);
    err = EPROTO;               /* marks nothing: orig still holds them */
  }
  if (o.write) {
    if (err == 0)
      err = written_at_alt (c, m, o.blocks);
    for (uint32_t i = 0; i < m->n_bytes; i++)
      m->busy[i] &= ~o.blocks[i];
  }
  free (o.blocks);
  m->orders.ptr[j] = m->orders.ptr[--m->orders.len];
  return err;
}

void
ctrl_move_io_done (struct controller *c, struct msg *req)
{
  struct msg done = { .type = MSG_COMPLETE_TO_HOST, .id = req->id };
  struct ctrl_move *m;
  size_t j;
  int err;

  m = find_order (c, req->arg, &j);
  if (m == NULL) {
    sm_error ("controller: io_done for order %" PRIu64 ", which is not "
              "outstanding", req->arg);
    fail (c, req, EPROTO);
    return;
  }
  err = settle (c, m, j, req);
  if (err)
    fail (c, req, err);
  else
    ctrl_answer (c, &done);
  requeue_deferred (c, m);      /* they may go ahead now */
}

void
ctrl_move_moved (struct controller *c, struct msg *req)
{
  struct ctrl_move *m = ctrl_move_find (c, req->vdisk, req->first);
  CLEANUP_FREE uint8_t *blocks = NULL;

  if (m == NULL) {
    /* Only a deleted vdisk's movements end without a REVOKE first. */
    sm_debug ("controller: moved for vdisk %" PRIu32 " segment %" PRIu64
              ", which is not moving: ignored", req->vdisk, req->first);
    return;
  }
  if (!m->delegated) {
    sm_error ("controller: vdisk %" PRIu32 " segment %" PRIu64 ": moved "
              "from an agent that does not hold the movement",
              req->vdisk, req->first);
    return;
  }
  blocks = calloc (m->n_bytes, 1);
  if (blocks == NULL) {
    ctrl_set_degraded (c, "out of memory recording a data movement");
    return;
  }
  memcpy (blocks, req->blocks,
          req->n_blocks < m->n_bytes ? req->n_blocks : m->n_bytes);
  written_at_alt (c, m, blocks);
}

/* Copies (cow.c) ---------------------------------------------------- */

/* Does M have a block at orig that no order holds? */
static bool
has_copy_work (const struct ctrl_move *m)
{
  for (uint32_t i = 0; i < m->n_bytes; i++)
    if (~m->at_alt[i] & ~m->busy[i] & 0xff)
      return true;
  return false;
}

static bool
copying (const struct ctrl_move *m)
{
  for (size_t j = 0; j < m->orders.len; j++)
    if (m->orders.ptr[j].copy)
      return true;
  return false;
}

/* Claim M's blocks at orig that no order holds (ctrl_move_claim_copy). */
static int
claim (struct controller *c, struct ctrl_move *m, struct move_copy *out)
{
  struct order ord = { .write = true, .copy = true };

  if (take_back (c, m) == -1) {
    errno = EIO;
    return -1;
  }
  ord.blocks = malloc (m->n_bytes);
  out->blocks = malloc (m->n_bytes);
  if (ord.blocks == NULL || out->blocks == NULL
      || order_vector_append (&m->orders, ord) == -1) {
    free (ord.blocks);
    free (out->blocks);
    errno = ENOMEM;
    return -1;
  }
  for (uint32_t b = 0; b < m->n_bytes; b++) {
    ord.blocks[b] = ~m->at_alt[b] & ~m->busy[b];
    m->busy[b] |= ord.blocks[b];
  }
  memcpy (out->blocks, ord.blocks, m->n_bytes);
  *out = (struct move_copy) { .vdisk = m->vdisk, .seg = m->seg,
                              .orig = m->orig, .alt = m->alt,
                              .blocks = out->blocks,
                              .n_bytes = m->n_bytes };
  return 1;
}

int
ctrl_move_claim_copy (struct controller *c, struct move_copy *out)
{
  /* First the vdisks a snapshot waits for (quiesced meanwhile). */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < c->moves.len; i++) {
      struct ctrl_move *m = c->moves.ptr[i];
      if (!copying (m) && has_copy_work (m)
          && (c->n_failed == 0 || !on_failed_container (c, m))
          && (pass == 1 || ctrl_snapshot_waits_for (c, m->vdisk)))
        return claim (c, m, out);
    }
  return 0;
}

int
ctrl_move_copied (struct controller *c, const struct move_copy *cp, bool ok)
{
  struct ctrl_move *m = ctrl_move_find (c, cp->vdisk, cp->seg);
  int err = 0;

  if (m == NULL) {
    errno = ENOENT;
    return -1;
  }
  for (size_t j = 0; j < m->orders.len; j++) {
    struct order o = m->orders.ptr[j];
    if (!o.copy)
      continue;
    if (ok)
      err = record_blocks (c, m, o.blocks);
    for (uint32_t i = 0; i < m->n_bytes; i++)
      m->busy[i] &= ~o.blocks[i];
    free (o.blocks);
    m->orders.ptr[j] = m->orders.ptr[--m->orders.len];
    break;
  }
  requeue_deferred (c, m);      /* writes waiting for those blocks */
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

void
ctrl_move_copy_written (struct controller *c, const struct move_copy *cp)
{
  struct ctrl_move *m = ctrl_move_find (c, cp->vdisk, cp->seg);

  if (m == NULL)
    return;
  for (size_t j = 0; j < m->orders.len; j++) {
    struct order *o = &m->orders.ptr[j];
    if (!o->copy)
      continue;
    for (uint32_t i = 0; i < m->n_bytes; i++)
      m->busy[i] &= ~o->blocks[i];
    o->copied = true;
    break;
  }
  requeue_deferred (c, m);
}

int
ctrl_move_next_complete (struct controller *c, struct move_copy *out)
{
  for (size_t i = 0; i < c->moves.len; i++) {
    const struct ctrl_move *m = c->moves.ptr[i];
    if (m->orders.len == 0 && full (m->stored, m->n_bytes)) {
      *out = (struct move_copy) { .vdisk = m->vdisk, .seg = m->seg,
                                  .orig = m->orig, .alt = m->alt,
                                  .n_bytes = m->n_bytes };
      return 1;
    }
  }
  return 0;
}

bool
ctrl_move_settle_due (const struct controller *c)
{
  for (size_t i = 0; i < c->moves.len; i++) {
    const struct ctrl_move *m = c->moves.ptr[i];
    if (m->orders.len == 0 && pending (m) && full (m->at_alt, m->n_bytes))
      return true;
  }
  return false;
}

bool
ctrl_move_any (const struct controller *c)
{
  if (c->n_failed == 0)
    return c->moves.len > 0;
  /* Those from or to a failed container wait for it (failure.c). */
  for (size_t i = 0; i < c->moves.len; i++)
    if (!on_failed_container (c, c->moves.ptr[i]))
      return true;
  return false;
}

unsigned
ctrl_move_count_on (const struct controller *c, uint32_t container)
{
  unsigned n = 0;

  for (size_t i = 0; i < c->moves.len; i++) {
    const struct ctrl_move *m = c->moves.ptr[i];
    if ((m->orig != ENTRY_ZERO_SEGMENT
         && entry_container (m->orig) == container)
        || entry_container (m->alt) == container)
      n++;
  }
  return n;
}

unsigned
ctrl_vdisk_moving (struct controller *c, const struct sm_vdisk_info *v)
{
  uint64_t n_segs = ctrl_vdisk_segments (v), seg = 0;
  unsigned n = 0;

  while (seg < n_segs) {
    uint64_t run = ctrl_move_zero_run (c, v->id, seg, n_segs - seg);
    if (run == n_segs - seg)
      break;
    n++;
    seg += run + 1;
  }
  return n;
}
