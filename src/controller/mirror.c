/* segmap: mirrored vdisks (seed 003's mirroring and late device
 * recovery; sql/013-mirror.sql).
 *
 * A mirrored vdisk keeps a second copy of every mapped segment on its
 * mirror container.  The map row's segment serves reads; each write
 * goes to both copies before the host hears of it.  The store's mirror
 * row says where the copy is and, as a bitmap of 4 KiB blocks (STALE),
 * where it is behind.  What the agents are shown follows from that
 * (ctrl_mirror_overlay):
 *
 *   copy in sync, both containers serving   ENTRY_MIRROR, with the copy's
 *                                           location: the agent writes
 *                                           both (agent/io.c)
 *   copy behind (STALE set), missing, or    TRACK: a write whose blocks
 *   on a failed container                   are not all stale faults,
 *                                           and the controller adds
 *                                           them to STALE, durably,
 *                                           before the write goes to
 *                                           the serving copy only
 *
 * Failure (failure.c calls ctrl_mirror_container_failed at once): a row
 * whose serving copy is on the failed container and whose other copy is
 * in sync swaps the two (the copy serves; the failed one becomes the
 * copy, stale from now on); a copy on the failed container starts being
 * tracked.  So the host sees no error: an I/O that met the failing
 * container faults (agent/io.c) and the answer is the copy that serves.
 * Only a row with both copies unusable shows ERROR (failure.c).
 *
 * Resync (a job, kind resync): for each stale row, the agents forget
 * the segment (blocking: writes in flight drain, later ones fault and
 * wait behind the controller thread), the stale blocks are copied from
 * the serving copy, the copy is synced, and the row is in sync again.
 * Only the blocks written while a copy was away are copied (late device
 * recovery); the job's progress counts them.  `vdisk mirror' starts
 * with every row stale in every block, which makes the first copy a
 * resync.  A resync waits while either container is failed; `container
 * online' and a start-up start the jobs needed.
 *
 * New segments: a mirrored vdisk takes no grants (placement.c); its
 * first write to a segment faults, and the segment and its copy are
 * allocated together (the copy stale in every block if the mirror
 * container cannot take it now).  Freeing a row frees its copy.
 *
 * After an unclean stop, a write in flight may have reached one copy
 * and not the other: every copy in sync is marked stale and resynced
 * whole (as md does without a write-intent bitmap).
 *
 * Not supported with mirroring (refused, ctrl_mirror_refuses and `vdisk
 * mirror'): snapshots, clones and changed-block tracking of a mirrored
 * vdisk, migrating it, evacuating a container that holds its segments.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"
#include "store/container.h"

#define MIRROR_CHUNK 4096       /* rows read at once */
#define RESYNC_BATCH 8          /* rows resynced per step */

static uint32_t
bitmap_bytes (const struct sm_vdisk_info *v)
{
  return (uint32_t) ((UINT64_C(1) << v->seg_shift) / SM_BLOCK_SIZE / 8);
}

static uint32_t
seg_units (const struct sm_vdisk_info *v)
{
  return (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
}

static bool
usable (const struct controller *c, sm_entry loc)
{
  return loc != 0 && c->containers[entry_container (loc)] != NULL
    && !ctrl_container_is_failed (c, entry_container (loc));
}

/* Does row E have its own located segment (not zero, not error)? */
static bool
located (sm_entry e)
{
  return entry_is_valid (e) && !(e & (ENTRY_ZERO | ENTRY_ERROR))
    && entry_container (e) != 0;
}

static uint64_t
popcount (const uint8_t *b, uint32_t n)
{
  uint64_t k = 0;

  for (uint32_t i = 0; i < n; i++)
    k += __builtin_popcount (b[i]);
  return k;
}

const char *
ctrl_mirror_refuses (const struct sm_vdisk_info *v)
{
  return v->mirror_id
    ? "it is mirrored (snapshots, clones and migration of mirrored vdisks "
      "are not supported; 'vdisk unmirror' first)"
    : NULL;
}

/* What agents see ----------------------------------------------------- */

bool
ctrl_mirror_overlay (struct controller *c, const struct sm_vdisk_info *v,
                     uint64_t first, uint32_t count, sm_entry *entries,
                     sm_entry *mirrors)
{
  CLEANUP_FREE struct sm_mirror *m = NULL;
  bool any = false;

  if (v->mirror_id == 0 || count == 0)
    return false;
  if ((m = calloc (count, sizeof *m)) == NULL
      || store_mirror_get (c->store, v->id, first, count, m) == -1) {
    /* Unknown: every row is tracked, which is safe. */
    for (uint32_t i = 0; i < count; i++)
      if (located (entries[i]))
        entries[i] |= ENTRY_TRACK;
    return false;
  }
  for (uint32_t i = 0; i < count; i++) {
    if (!located (entries[i]))
      continue;
    if (mirrors && m[i].present && !m[i].stale && usable (c, m[i].loc)) {
      entries[i] |= ENTRY_MIRROR;
      mirrors[i] = m[i].loc;
      any = true;
    }
    else
      entries[i] |= ENTRY_TRACK;
  }
  return any;
}

/* Faults ---------------------------------------------------------------- */

/* A copy for V's segment on its mirror container: 0 if it cannot take
 * one now (failed, full). */
static sm_entry
allocate_copy (struct controller *c, const struct sm_vdisk_info *v)
{
  struct ctrl_container *cc = c->containers[v->mirror_id];
  uint64_t unit;

  if (cc == NULL || cc->failed
      || (alloc_get (cc->alloc, seg_units (v), &unit) == -1
          && (ctrl_recall_grants (c, v->mirror_id) == 0
              || alloc_get (cc->alloc, seg_units (v), &unit) == -1)))
    return 0;
  if (store_segment_insert (c->store, v->mirror_id, unit,
                            seg_units (v)) == -1) {
    alloc_put (cc->alloc, unit, seg_units (v));
    return 0;
  }
  cc->n_segments++;
  return entry_make (v->mirror_id, unit, ENTRY_VALID);
}

/* A first write to zero segment SEG of V: its segment and copy.  Answers
 * REQ. */
static void
first_write (struct controller *c, const struct sm_vdisk_info *v,
             struct msg *req)
{
  uint8_t all[MSG_MAX_BITMAP];
  sm_entry e, copy;
  int err = 0;
  struct msg m = { .type = MSG_RETRY, .id = req->id, .vdisk = v->id,
                   .first = req->first, .count = 1, .entries = &e,
                   .n_entries = 1 };

  memset (all, 0xff, sizeof all);
  if ((e = ctrl_allocate_segment (c, v, req->first, 0, &err)) == 0) {
    struct msg f = { .type = MSG_FAIL, .id = req->id, .status = err };
    ctrl_answer (c, &f);
    return;
  }
  copy = allocate_copy (c, v);
  if (store_mirror_put (c->store, v->id, req->first, copy,
                        copy ? NULL : all, bitmap_bytes (v)) == -1) {
    ctrl_set_degraded (c, "a mirror row could not be recorded");
    struct msg f = { .type = MSG_FAIL, .id = req->id, .status = EIO };
    ctrl_answer (c, &f);
    return;
  }
  if (copy) {
    /* Both new segments read zeros: in sync. */
    e |= ENTRY_MIRROR;
    m.mirrors = &copy;
    m.n_mirrors = 1;
    ctrl_answer (c, &m);
  }
  else
    ctrl_answer_marked (c, req, e | ENTRY_TRACK);      /* all stale */
}

bool
ctrl_mirror_fault (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  uint8_t stale[MSG_MAX_BITMAP];
  uint32_t n_bytes;
  struct sm_mirror m;
  sm_entry row, copy;
  bool covered = true;

  if (v == NULL || v->mirror_id == 0 || req->op != FAULT_WRITE
      || req->count != 1 || v->read_only || c->degraded
      || store_map_get (c->store, v->id, req->first, 1, &row) == -1)
    return false;               /* faults.c answers */
  if (row == ENTRY_ZERO_SEGMENT) {
    first_write (c, v, req);
    return true;
  }
  if (!located (row) || (row & (ENTRY_NOWRITE | ENTRY_ALT)))
    return false;
  n_bytes = bitmap_bytes (v);
  if (store_mirror_get_one (c->store, v->id, req->first, &m, stale,
                            n_bytes) == -1)
    return false;
  if (m.present && !m.stale && usable (c, m.loc)) {
    /* In sync: the agent had lost the copy's location. */
    struct msg r = { .type = MSG_RETRY, .id = req->id, .vdisk = v->id,
                     .first = req->first, .count = 1, .entries = &row,
                     .n_entries = 1, .mirrors = &copy, .n_mirrors = 1 };
    copy = m.loc;
    row |= ENTRY_MIRROR;
    ctrl_answer (c, &r);
    return true;
  }
  /* Behind: the write's blocks join STALE, durably, before it goes to
   * the serving copy alone. */
  for (uint32_t i = 0; i < n_bytes && i < req->n_blocks; i++)
    if ((req->blocks[i] & ~stale[i]) != 0) {
      stale[i] |= req->blocks[i];
      covered = false;
    }
  if (covered && m.present && m.stale) {
    ctrl_answer_marked (c, req, row | ENTRY_TRACK);
    return true;
  }
  if (req->n_blocks == 0)
    memset (stale, 0xff, n_bytes);
  if (ctrl_change (c) == -1
      || store_mirror_put (c->store, v->id, req->first, m.loc, stale,
                           n_bytes) == -1) {
    ctrl_set_degraded (c, "a mirror's stale blocks could not be recorded");
    struct msg f = { .type = MSG_FAIL, .id = req->id, .status = EIO };
    ctrl_answer (c, &f);
    return true;
  }
  ctrl_answer_marked_after_commit (c, req, row | ENTRY_TRACK);
  return true;
}

/* Failure --------------------------------------------------------------- */

/* Rows FIRST.. (COUNT) of V with mirror rows M: apply the failure of
 * CID.  0 or -1. */
static int
fail_rows (struct controller *c, const struct sm_vdisk_info *v,
           uint32_t cid, uint64_t first, uint32_t count,
           const struct sm_mirror *m, const sm_entry *rows)
{
  uint8_t none[MSG_MAX_BITMAP] = { 0 };
  uint32_t n_bytes = bitmap_bytes (v);

  for (uint32_t i = 0; i < count; i++) {
    uint64_t vseg = first + i;
    if (!m[i].present || !located (rows[i]))
      continue;
    if (entry_container (rows[i]) == cid && !m[i].stale
        && usable (c, m[i].loc)) {
      /* The copy serves; the failed one is the copy, stale from now. */
      sm_entry serving = m[i].loc | (rows[i] & ENTRY_FLAG_MASK);
      if (store_map_set (c->store, v->id, vseg, serving) == -1
          || store_mirror_put (c->store, v->id, vseg,
                               rows[i] & ~ENTRY_FLAG_MASK, none,
                               n_bytes) == -1)
        return -1;
    }
    else if (m[i].loc && entry_container (m[i].loc) == cid && !m[i].stale
             && store_mirror_put (c->store, v->id, vseg, m[i].loc, none,
                                  n_bytes) == -1)
      return -1;
  }
  return 0;
}

/* FN on every chunk of rows of V with their mirror rows.  0 or -1. */
static int
foreach_chunk (struct controller *c, const struct sm_vdisk_info *v,
               int (*fn) (struct controller *, const struct sm_vdisk_info *,
                          uint64_t, uint32_t, const struct sm_mirror *,
                          const sm_entry *, void *),
               void *opaque)
{
  uint64_t n_segs = ctrl_vdisk_segments (v);
  CLEANUP_FREE struct sm_mirror *m = malloc (MIRROR_CHUNK * sizeof *m);
  CLEANUP_FREE sm_entry *rows = malloc (MIRROR_CHUNK * sizeof *rows);

  if (m == NULL || rows == NULL)
    return -1;
  for (uint64_t first = 0; first < n_segs; first += MIRROR_CHUNK) {
    uint32_t n = n_segs - first < MIRROR_CHUNK ? n_segs - first
                                               : MIRROR_CHUNK;
    if (store_mirror_get (c->store, v->id, first, n, m) == -1
        || store_map_get (c->store, v->id, first, n, rows) == -1
        || fn (c, v, first, n, m, rows, opaque) == -1)
      return -1;
  }
  return 0;
}

static int
fail_chunk (struct controller *c, const struct sm_vdisk_info *v,
            uint64_t first, uint32_t n, const struct sm_mirror *m,
            const sm_entry *rows, void *opaque)
{
  return fail_rows (c, v, *(uint32_t *) opaque, first, n, m, rows);
}

void
ctrl_mirror_container_failed (struct controller *c, uint32_t cid)
{
  for (size_t i = 0; i < c->n_vdisks; i++) {
    const struct sm_vdisk_info *v = &c->vdisks[i];
    if (v->mirror_id == 0)
      continue;
    if (ctrl_change (c) == -1
        || foreach_chunk (c, v, fail_chunk, &cid) == -1) {
      ctrl_set_degraded (c, "a mirror could not take over from a failed "
                         "container");
      return;
    }
  }
}

/* Which copies stale_whole marks stale in every block. */
enum whole_kind {
  WHOLE_NEW,                    /* every located row: a copy to make */
  WHOLE_IN_SYNC,                /* every copy in sync (unclean stop) */
  WHOLE_ON,                     /* every copy on container CID */
};
struct whole { enum whole_kind which; uint32_t cid; };

static int
stale_whole (struct controller *c, const struct sm_vdisk_info *v,
             uint64_t first, uint32_t n, const struct sm_mirror *m,
             const sm_entry *rows, void *opaque)
{
  const struct whole *w = opaque;
  uint8_t all[MSG_MAX_BITMAP];

  memset (all, 0xff, sizeof all);
  for (uint32_t i = 0; i < n; i++) {
    bool mark = false;
    switch (w->which) {
    case WHOLE_NEW: mark = located (rows[i]); break;
    case WHOLE_IN_SYNC: mark = m[i].present && !m[i].stale; break;
    case WHOLE_ON:
      mark = m[i].present && m[i].loc
        && entry_container (m[i].loc) == w->cid;
      break;
    }
    if (mark && store_mirror_put (c->store, v->id, first + i,
                                  w->which == WHOLE_NEW ? 0 : m[i].loc, all,
                                  bitmap_bytes (v)) == -1)
      return -1;
  }
  return 0;
}

void
ctrl_mirror_suspect (struct controller *c, const struct sm_vdisk_info *v,
                     uint32_t cid)
{
  if (v->mirror_id == 0)
    return;
  sm_error ("controller: vdisk %s: writes to its copies on container %u "
            "since its last flush may be missing there: those copies are "
            "resynced whole", v->name, cid);
  struct whole w = { WHOLE_ON, cid };

  if (ctrl_change (c) == -1 || foreach_chunk (c, v, stale_whole, &w) == -1)
    ctrl_set_degraded (c, "the copies of a mirrored vdisk could not be "
                       "marked stale");
}

/* Freeing ----------------------------------------------------------------- */

int
ctrl_mirror_drop (struct controller *c, const struct sm_vdisk_info *v,
                  uint64_t vseg)
{
  uint8_t stale[MSG_MAX_BITMAP];
  struct sm_mirror m;

  if (v->mirror_id == 0)
    return 0;
  if (store_mirror_get_one (c->store, v->id, vseg, &m, stale,
                            bitmap_bytes (v)) == -1)
    return -1;
  if (!m.present)
    return 0;
  if (m.loc && ctrl_unref_segment (c, m.loc, seg_units (v)) == -1)
    return -1;
  return store_mirror_delete (c->store, v->id, vseg);
}

static int
drop_chunk (struct controller *c, const struct sm_vdisk_info *v,
            uint64_t first, uint32_t n, const struct sm_mirror *m,
            const sm_entry *rows, void *opaque)
{
  for (uint32_t i = 0; i < n; i++)
    if (m[i].present
        && ((m[i].loc && ctrl_unref_segment (c, m[i].loc,
                                              seg_units (v)) == -1)
            || store_mirror_delete (c->store, v->id, first + i) == -1))
      return -1;
  return 0;
}

int
ctrl_mirror_drop_all (struct controller *c, struct sm_vdisk_info *v,
                      char **error)
{
  if (v->mirror_id == 0)
    return 0;
  if (ctrl_change (c) == -1 || foreach_chunk (c, v, drop_chunk, NULL) == -1
      || store_vdisk_set_mirror (c->store, v->id, 0) == -1) {
    fail (error, "vdisk '%s': its copies could not be dropped: %s",
          v->name, sm_last_error ());
    return -1;
  }
  v->mirror_id = 0;
  return 0;
}

/* Resync ---------------------------------------------------------------- */

/* Have the agents forget segment SEG of V (blocking).  0 or -1. */
static int
forget_segment (struct controller *c, const struct sm_vdisk_info *v,
                uint64_t seg)
{
  sm_entry invalid = ENTRY_INVALID;
  struct msg forget = { .type = MSG_SET_ENTRY, .vdisk = v->id, .first = seg,
                        .count = 1, .flags = MSG_F_BLOCKING,
                        .entries = &invalid, .n_entries = 1 };

  return ctrl_broadcast_except (c, &forget, ENOENT) == 0 ? 0 : -1;
}

/* Copy the STALE blocks of segment FROM to TO (a segment of V).  0, or
 * -1 with errno (the failing container failed, failure.c). */
static int
copy_stale (struct controller *c, const struct sm_vdisk_info *v,
            sm_entry from, sm_entry to, const uint8_t *stale, uint8_t *buf)
{
  struct container *src = c->containers[entry_container (from)]->c;
  struct container *dst = c->containers[entry_container (to)]->c;
  uint64_t n_blocks = (uint64_t) bitmap_bytes (v) * 8;

  for (uint64_t b = 0; b < n_blocks; ) {
    uint64_t n = 0, off;
    if (!((stale[b / 8] >> (b % 8)) & 1)) {
      b++;
      continue;
    }
    while (b + n < n_blocks && ((stale[(b + n) / 8] >> ((b + n) % 8)) & 1))
      n++;
    off = b * SM_BLOCK_SIZE;
    if (container_pread (src, buf, n * SM_BLOCK_SIZE,
                         entry_offset (from) + off) == -1) {
      ctrl_container_failed_io (c, src, errno, "resync read");
      return -1;
    }
    if (container_pwrite (dst, buf, n * SM_BLOCK_SIZE,
                          entry_offset (to) + off) == -1) {
      ctrl_container_failed_io (c, dst, errno, "resync write");
      return -1;
    }
    b += n;
  }
  return 0;
}

/* Resync row SEG of V (stale): its copy gets the stale blocks.  1
 * nothing to copy, 2 copied (*COPIED blocks more; the copy's container
 * in *TO, to sync), 0 not now (a container failed or is full), -1. */
static int
resync_row (struct controller *c, const struct sm_vdisk_info *v,
            uint64_t seg, uint8_t *buf, uint64_t *copied, uint32_t *to)
{
  uint8_t stale[MSG_MAX_BITMAP];
  uint32_t n_bytes = bitmap_bytes (v);
  struct sm_mirror m;
  sm_entry row, copy;

  if (store_map_get (c->store, v->id, seg, 1, &row) == -1
      || store_mirror_get_one (c->store, v->id, seg, &m, stale,
                               n_bytes) == -1)
    return -1;
  if (!m.present || !m.stale)
    return 1;
  if (!located (row)) {
    /* Freed meanwhile: its copy goes too. */
    if (m.loc && ctrl_unref_segment (c, m.loc, seg_units (v)) == -1)
      return -1;
    return store_mirror_delete (c->store, v->id, seg) == 0 ? 1 : -1;
  }
  if (!usable (c, row) || (m.loc && !usable (c, m.loc)))
    return 0;
  copy = m.loc;
  if (copy == 0) {
    if ((copy = allocate_copy (c, v)) == 0)
      return 0;
    memset (stale, 0xff, n_bytes);
    /* Recorded at once: the segment is the row's even if we stop. */
    if (store_mirror_put (c->store, v->id, seg, copy, stale, n_bytes) == -1)
      return -1;
  }
  if (forget_segment (c, v, seg) == -1)
    return 0;
  if (copy_stale (c, v, row & ~ENTRY_FLAG_MASK, copy, stale, buf) == -1)
    return 0;
  *copied += popcount (stale, n_bytes);
  *to = entry_container (copy);
  return 2;                     /* copied: in sync once synced */
}

int
ctrl_resync_step (struct controller *c, struct sm_job *j, char **error)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, j->vdisk);
  CLEANUP_FREE uint8_t *buf = NULL;
  uint64_t done[RESYNC_BATCH], copied = 0, seg;
  uint32_t to[RESYNC_BATCH];    /* the copies' containers */
  size_t n_done = 0;
  struct ctrl_container *cc;
  int r;

  if (v == NULL || v->mirror_id == 0)
    return 1;                   /* unmirrored meanwhile */
  cc = c->containers[v->mirror_id];
  if (cc == NULL || cc->failed)
    return 0;                   /* waits for it */
  if ((buf = malloc (UINT64_C(1) << v->seg_shift)) == NULL) {
    fail (error, "out of memory");
    return -1;
  }
  if (ctrl_change (c) == -1)
    return 0;
  while (n_done < RESYNC_BATCH) {
    r = store_mirror_next_stale (c->store, v->id, j->cursor, &seg);
    if (r == 0 && j->cursor > 0) {
      j->cursor = 0;            /* wrap: rows that had to wait */
      break;
    }
    if (r == 0)
      return 1;                 /* nothing stale: in sync */
    if (r == -1) {
      fail (error, "cannot read the mirror of vdisk '%s'", v->name);
      return -1;
    }
    j->cursor = seg + 1;
    r = resync_row (c, v, seg, buf, &copied, &to[n_done]);
    if (r == -1) {
      fail (error, "vdisk '%s' segment %" PRIu64 ": %s", v->name, seg,
            sm_last_error ());
      return -1;
    }
    if (r == 2)
      done[n_done++] = seg;
    if (r == 0)
      break;                    /* a container is away: later */
  }
  if (n_done == 0)
    return 0;
  /* Durable at the copies before they count as in sync: each container
   * written synced once (a copy may be on the vdisk's first container,
   * where a failure swapped the two). */
  for (size_t i = 0; i < n_done; i++) {
    struct container *h = c->containers[to[i]]->c;
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = to[k] == to[i];
    if (!seen && container_sync (h) == -1) {
      ctrl_container_failed_io (c, h, errno, "resync sync");
      return 0;
    }
  }
  for (size_t i = 0; i < n_done; i++) {
    struct sm_mirror m;
    uint8_t stale[MSG_MAX_BITMAP];
    if (store_mirror_get_one (c->store, v->id, done[i], &m, stale,
                              bitmap_bytes (v)) == -1
        || store_mirror_put (c->store, v->id, done[i], m.loc, NULL, 0) == -1) {
      fail (error, "vdisk '%s': a resynced row could not be recorded",
            v->name);
      return -1;
    }
  }
  j->done += copied;
  return 0;
}

/* Blocks stale in V's rows. */
static int
count_chunk (struct controller *c, const struct sm_vdisk_info *v,
             uint64_t first, uint32_t n, const struct sm_mirror *m,
             const sm_entry *rows, void *opaque)
{
  uint8_t stale[MSG_MAX_BITMAP];
  struct sm_mirror one;

  for (uint32_t i = 0; i < n; i++)
    if (m[i].present && m[i].stale) {
      if (store_mirror_get_one (c->store, v->id, first + i, &one, stale,
                                bitmap_bytes (v)) == -1)
        return -1;
      *(uint64_t *) opaque += popcount (stale, bitmap_bytes (v));
    }
  return 0;
}

uint64_t
ctrl_mirror_stale_blocks (struct controller *c, const struct sm_vdisk_info *v)
{
  uint64_t n = 0;

  if (v->mirror_id == 0 || foreach_chunk (c, v, count_chunk, &n) == -1)
    return 0;
  return n;
}

/* Start V's resync job unless it has a job.  0, or -1 with *ERROR. */
static int
start_resync (struct controller *c, const struct sm_vdisk_info *v,
              struct sm_job *out, char **error)
{
  struct sm_job j = { .kind = SM_JOB_RESYNC, .vdisk = v->id };
  uint64_t seg;
  int r;

  if (ctrl_job_of_vdisk (c, v->id) != NULL)
    return 0;
  r = store_mirror_next_stale (c->store, v->id, 0, &seg);
  if (r <= 0) {
    if (r == -1)
      fail (error, "cannot read the mirror of vdisk '%s'", v->name);
    return r;
  }
  if (foreach_chunk (c, v, count_chunk, &j.total) == -1
      || (j.name = strdup (v->name)) == NULL) {
    fail (error, "cannot count the stale blocks of vdisk '%s'", v->name);
    return -1;
  }
  if (ctrl_job_start (c, &j, error) == -1) {
    sm_job_clear (&j);
    return -1;
  }
  if (out)
    *out = j;
  return 0;
}

void
ctrl_mirror_resync_all (struct controller *c)
{
  for (size_t i = 0; i < c->n_vdisks; i++) {
    char *error = NULL;
    if (c->vdisks[i].mirror_id
        && start_resync (c, &c->vdisks[i], NULL, &error) == -1) {
      sm_error ("controller: %s", error ? error : "cannot start a resync");
      free (error);
    }
  }
}

int
ctrl_mirror_unclean (struct controller *c)
{
  struct whole w = { WHOLE_IN_SYNC, 0 };

  for (size_t i = 0; i < c->n_vdisks; i++)
    if (c->vdisks[i].mirror_id
        && (ctrl_change (c) == -1
            || foreach_chunk (c, &c->vdisks[i], stale_whole, &w) == -1))
      return -1;
  return 0;
}

/* Commands -------------------------------------------------------------- */

/* Why V cannot be mirrored now, or NULL. */
static const char *
cannot_mirror (struct controller *c, const struct sm_vdisk_info *v,
               uint32_t cid)
{
  if (v->mirror_id)
    return "it is mirrored already";
  if (v->base || v->clone_of)
    return "it has snapshots or is a clone (not supported with mirroring)";
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (c->vdisks[i].parent == v->id)
      return "it has snapshots (not supported with mirroring)";
  if (ctrl_pool_has (v, cid))
    return "the container is in its pool: both copies would be on it";
  if (ctrl_vdisk_moving (c, v) > 0)
    return "its data is moving (wait for the copy-on-write or migration)";
  return NULL;
}

/* Have every agent forget every entry of V (blocking).  0 or -1. */
static int
forget_vdisk (struct controller *c, const struct sm_vdisk_info *v)
{
  sm_entry invalid = ENTRY_INVALID;
  struct msg forget = { .type = MSG_SET_ENTRY, .vdisk = v->id, .first = 0,
                        .count = ctrl_vdisk_segments (v),
                        .flags = MSG_F_BLOCKING, .entries = &invalid,
                        .n_entries = 1 };

  if (forget.count == 0)
    return 0;
  return ctrl_broadcast_except (c, &forget, ENOENT) == 0 ? 0 : -1;
}

json_object *
ctrl_cmd_vdisk_mirror (struct controller *c, json_object *args,
                       char **error)
{
  const char *name = arg_name (args, "name", error);
  const char *to = arg_string (args, "container");
  struct sm_vdisk_info *v;
  struct ctrl_container *cc;
  struct sm_job j = { 0 };
  struct whole whole_new = { WHOLE_NEW, 0 };
  const char *why;

  if (name == NULL)
    return NULL;
  if (to == NULL)
    return fail (error, "missing argument 'container'");
  if ((v = (struct sm_vdisk_info *) ctrl_job_vdisk (c, name, error)) == NULL)
    return NULL;
  if ((cc = ctrl_container_by_name (c, to)) == NULL)
    return fail (error, "no container '%s'", to);
  if (cc->failed)
    return fail (error, "container '%s' has failed", to);
  if (ctrl_container_evacuating (c, cc->c->id))
    return fail (error, "container '%s' is being evacuated", to);
  if ((why = cannot_mirror (c, v, cc->c->id)) != NULL)
    return fail (error, "vdisk '%s' cannot be mirrored: %s", name, why);
  /* Every mapped row gets a copy to make, stale in every block; the
   * vdisk takes no grants from now on (placement.c). */
  ctrl_recall_vdisk_grants (c, v->id);
  if (ctrl_change (c) == -1
      || store_vdisk_set_mirror (c->store, v->id, cc->c->id) == -1
      || foreach_chunk (c, v, stale_whole, &whole_new) == -1
      || ctrl_commit (c, false) == -1)
    return fail (error, "cannot record the mirror of vdisk '%s': %s", name,
                 sm_last_error ());
  if (ctrl_reload_vdisks (c) == -1
      || (v = ctrl_find_vdisk_by_name (c, name)) == NULL)
    return fail (error, "vdisk '%s' is mirrored, but the controller could "
                 "not reload it", name);
  if (forget_vdisk (c, v) == -1)
    sm_error ("controller: vdisk %s: not every agent forgot its entries",
              name);
  if (start_resync (c, v, &j, error) == -1)
    return NULL;
  if (j.id == 0) {
    json_object *o = json_object_new_object ();
    json_add_string (o, "vdisk", name);
    json_add_string (o, "mirror", to);
    return o;                   /* nothing mapped: nothing to copy */
  }
  return ctrl_job_row (&j);
}

json_object *
ctrl_cmd_vdisk_unmirror (struct controller *c, json_object *args,
                         char **error)
{
  const char *name = arg_name (args, "name", error);
  struct sm_vdisk_info *v;
  struct sm_job *busy;

  if (name == NULL)
    return NULL;
  if ((v = ctrl_find_vdisk_by_name (c, name)) == NULL || v->parent)
    return fail (error, "no vdisk '%s'", name);
  if (v->mirror_id == 0)
    return fail (error, "vdisk '%s' is not mirrored", name);
  if ((busy = ctrl_job_of_vdisk (c, v->id)) != NULL
      && busy->kind != SM_JOB_RESYNC)
    return fail (error, "vdisk '%s' has job %" PRIu64 " running", name,
                 busy->id);
  /* The copies go in the open transaction; the agents forget the
   * mirrored entries (writes to the copies drain) before it commits,
   * and a freed copy is reused only after the commit. */
  if (ctrl_mirror_drop_all (c, v, error) == -1)
    return NULL;
  if (ctrl_reload_vdisks (c) == -1
      || (v = ctrl_find_vdisk_by_name (c, name)) == NULL)
    return fail (error, "vdisk '%s': the controller could not reload it",
                 name);
  if (forget_vdisk (c, v) == -1)
    sm_error ("controller: vdisk %s: not every agent forgot its entries",
              name);
  if (ctrl_commit (c, false) == -1)
    return fail (error, "cannot commit the end of the mirror of '%s'", name);
  return json_object_new_object ();
}
