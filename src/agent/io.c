/* segmap: the agent's I/O path.
 *
 * Every host request is cut at segment boundaries; each piece runs
 *
 *   enter epoch -> look up entry -> fast path? -> container I/O -> exit
 *                                      | no
 *                                      v
 *                exit epoch -> MAP_FAULT -> answer applied -> try again
 *
 * The fast path takes no lock and sends nothing to the controller: one
 * atomic load of the entry (table_lookup).  A piece faults when its
 * entry is INVALID (not loaded: the fault loads a run of entries around
 * it), ZERO on a write with no granted segment at hand (the controller
 * grants more), NOWRITE on a write or ALT (data movement; the
 * controller decides).  ERROR fails at once.
 *
 * Redirected I/O: a fault on a segment whose data is moving may be
 * answered with DO_WRITE or DO_SPLIT_READ instead of entries; the
 * piece then does what the order says (redirect.c) and is done when
 * the controller answers its IO_DONE.  A write fault may instead be
 * answered with DELEGATE: the agent then holds the movement (held.h)
 * and does that segment's I/O itself, no fault at all, reporting the
 * blocks it wrote with MOVED in batches and before every FLUSH.
 * Every fault of a piece carries the bitmap of the 4 KiB blocks it
 * touches.  Zeroing part of a
 * no-write or alternate segment faults as a write (of zeros).
 *
 * Retries: a RETRY applies entries and the piece looks up again.  A
 * RETRY that leaves a no-write or alternate entry exactly as it was
 * cannot make progress (only a changed entry or an order can): after
 * MAX_STUCK such answers in a row the piece fails with EIO and the
 * controller is named as the culprit.  Other repeated faults (an
 * evicted entry, a grant taken by another writer) are bounded by
 * MAX_FAULTS.
 *
 * First writes: a write to a ZERO entry first tries the table's pool of
 * segments the controller granted (table_claim).  If it gets one, the
 * entry now maps there; the piece sends ALLOCATED (no answer awaited)
 * and writes, all inside its epoch section, so a blocking drain that
 * returns has seen the message queued, and the host's acknowledgement
 * (hence any FLUSH it sends next) comes after it.  Only with an empty
 * pool does the write fault; the controller then grants more.
 *
 * Changed-block tracking: a write (or a partial zero) to a TRACK entry
 * (a closed segment) faults, and the controller answers with the OPEN
 * entry; a write to an OPEN entry goes in place after reporting (MARK,
 * not waited for) the blocks the table's cache of marks (marks.h) does
 * not hold.  Both happen inside the epoch section, so a snapshot's
 * drain sees the MARK queued before the snapshot is taken.
 *
 * Trim and zero of whole segments are metadata operations done by the
 * controller (FAULT_TRIM / FAULT_ZERO: the entries go back to ZERO and
 * the segments are freed); a partial segment is zeroed in place in the
 * container (punching a hole where the container supports it).
 *
 * Durability: agent_flush() syncs the containers the table wrote since
 * its last flush first (data, cio.c), then asks the controller to
 * commit the map (metadata) — never the other order (dm-thin
 * 694cfe7f31db).  A failed sync is never retried into a false success:
 * the container's handle fails for good, the agent REPORTs it (the
 * controller fails the container), and every later flush of the tables
 * whose writes it lost fails (cio.c).  The sync runs under
 * containers_lock (read), so a CONTAINER_DETACH never closes a handle
 * being synced.
 *
 * A failing container: an I/O that fails with an errno saying the
 * storage is failing REPORTs it (cio.c); the controller then shows the
 * entries the container backs in the ERROR state, which fail at once
 * with EIO.  agent_io_failed_offset tells the front-end where (the
 * SCSI sense data's INFORMATION field).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/redirect.h"
#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "store/container.h"

#define LOAD_AHEAD 64           /* entries loaded by one invalid fault */
#define MAX_FAULTS 1000         /* faults for one piece before giving up */
#define MAX_STUCK 3             /* RETRYs in a row leaving the same
                                   no-write/alternate entry */

enum piece_op { PIECE_READ, PIECE_WRITE, PIECE_ZERO };

struct piece {
  enum piece_op op;
  void *buf;                    /* READ: destination; WRITE: source */
  uint32_t len;
  uint64_t seg;
  uint64_t off;                 /* offset inside the segment */
};

/* Do the piece on the fast path if ENTRY allows it.  Returns 1 if done
 * (result in *R), 0 if it must fault. */
static int
try_fast_path (struct agent *a, struct table *t, struct piece *p,
               sm_entry entry, int *r)
{
  struct container *c;

  if (entry & ENTRY_ERROR && entry & ENTRY_VALID) {
    errno = EIO;
    *r = -1;
    return 1;
  }
  if (p->op == PIECE_READ && entry_readable (entry)) {
    if (entry & ENTRY_ZERO) {
      memset (p->buf, 0, p->len);
      *r = 0;
      return 1;
    }
  }
  else if (p->op == PIECE_ZERO && entry_readable (entry)
           && (entry & ENTRY_ZERO)) {
    *r = 0;                     /* already reads as zeros */
    return 1;
  }
  else if (!(p->op != PIECE_READ && entry_writable (entry)))
    return 0;

  c = agent_container (a, entry_container (entry));
  if (c == NULL) {
    sm_error ("entry points at unknown container %u", entry_container (entry));
    errno = EIO;
    *r = -1;
    return 1;
  }
  switch (p->op) {
  case PIECE_READ:
    *r = agent_cio_pread (a, c, p->buf, p->len,
                          entry_offset (entry) + p->off);
    break;
  case PIECE_WRITE:
    *r = agent_cio_pwrite (a, t, c, p->buf, p->len,
                           entry_offset (entry) + p->off);
    break;
  case PIECE_ZERO:
    *r = agent_cio_zero (a, t, c, entry_offset (entry) + p->off, p->len);
    break;
  }
  return 1;
}

/* Turn a fault answer into "retry" (0), done (1) or an error (-1). */
static int
handle_answer (struct msg *answer)
{
  int r;

  switch (answer->type) {
  case MSG_RETRY:
    r = 0;
    break;
  case MSG_COMPLETE_TO_HOST:
    r = 1;
    break;
  case MSG_FAIL:
    errno = answer->status ? (int) answer->status : EIO;
    r = -1;
    break;
  default:
    sm_error ("agent: unexpected answer %s to a fault",
              msg_type_to_string (answer->type));
    errno = EIO;
    r = -1;
  }
  msg_clear (answer);
  return r;
}

/* The fault op of P on ENTRY: a write, or zeroing part of a segment
 * whose data the controller places (no-write, alternate), is a write. */
static uint8_t
fault_op (const struct piece *p, sm_entry entry)
{
  if (p->op == PIECE_WRITE)
    return FAULT_WRITE;
  if (p->op == PIECE_ZERO && entry_is_valid (entry)
      && (entry & (ENTRY_NOWRITE | ENTRY_ALT | ENTRY_TRACK)))
    return FAULT_WRITE;
  return FAULT_READ;
}

/* Ask the controller about SEG for OP (what kind of fault depends on
 * what the entry was).  Returns as handle_answer; an order (DO_WRITE,
 * DO_SPLIT_READ) is executed by redirect_run. */
static int
fault_piece (struct agent *a, struct table *t, struct piece *p,
             sm_entry entry)
{
  struct msg answer;
  uint8_t op = fault_op (p, entry);
  uint64_t first = p->seg;
  uint32_t count = 1, n_blocks = 0;
  CLEANUP_FREE uint8_t *blocks = NULL;
  uint64_t gen = marks_generation (&t->marks);

  if (entry == ENTRY_INVALID && op == FAULT_READ) {
    /* Load an aligned run of entries in one message (runs tile the
     * table).  A write asks only for its own segment, which the
     * controller allocates in the same round trip if it is zero: the
     * neighbours of a first write are rarely read next. */
    first = p->seg - p->seg % LOAD_AHEAD;
    count = LOAD_AHEAD;
    if (first + count > t->n_segments)
      count = t->n_segments - first;
  }
  if (first == p->seg && p->len > 0
      && (blocks = redirect_blocks (t->seg_shift, p->off, p->len,
                                    &n_blocks)) == NULL)
    return -1;
  if (agent_fault (a, t, op, first, count,
                   first == p->seg ? p->off : 0,
                   first == p->seg ? p->len : 0, blocks, n_blocks,
                   &answer) == -1)
    return -1;
  if (answer.type == MSG_DO_WRITE || answer.type == MSG_DO_SPLIT_READ) {
    struct redirect_io io = {
      .t = t, .write = op == FAULT_WRITE, .buf = p->buf, .len = p->len,
      .seg = p->seg, .off = p->off,
    };
    return redirect_run (a, &io, &answer);
  }
  if (answer.type == MSG_RETRY && (answer.flags & MSG_F_MARKED)
      && op == FAULT_WRITE)
    marks_add (&t->marks, p->seg, p->off, p->len, gen);
  if (answer.type == MSG_DELEGATE) {
    msg_clear (&answer);        /* held already (agent.c): look again */
    return 0;
  }
  return handle_answer (&answer);
}

/* A write or zero of P to the OPEN entry ENTRY: its blocks the cache
 * does not hold are reported (MARK) before the data goes in place.
 * Inside an epoch section.  Returns 1 if done (result in *R), 0 if it
 * is not such a write. */
static int
try_open (struct agent *a, struct table *t, struct piece *p, sm_entry entry,
          int *r)
{
  uint64_t gen;

  if (p->op == PIECE_READ || !entry_open (entry))
    return 0;
  if (!marks_cover (&t->marks, p->seg, p->off, p->len, &gen)) {
    uint32_t n_blocks;
    CLEANUP_FREE uint8_t *blocks = redirect_blocks (t->seg_shift, p->off,
                                                    p->len, &n_blocks);
    if (blocks == NULL
        || agent_mark (a, t, p->seg, blocks, n_blocks) == -1) {
      errno = EIO;
      *r = -1;
      return 1;
    }
    marks_add (&t->marks, p->seg, p->off, p->len, gen);
  }
  return try_fast_path (a, t, p, entry & ~ENTRY_OPEN, r);
}

/* A write or zero of P to the TRACK entry ENTRY whose blocks are all
 * marked: done in place (result in *R).  Returns 1 if done, 0 if it
 * must fault.  Inside an epoch section, so a snapshot's drain covers
 * it. */
static int
try_tracked (struct agent *a, struct table *t, struct piece *p,
             sm_entry entry, int *r)
{
  if (p->op == PIECE_READ || !entry_tracked (entry)
      || !marks_cover (&t->marks, p->seg, p->off, p->len, NULL))
    return 0;
  return try_fast_path (a, t, p, entry & ~ENTRY_TRACK, r);
}

/* The I/O of P to a segment whose movement this agent holds (held.h),
 * done as DO_SPLIT_READ / DO_WRITE would do it, the written blocks
 * recorded for the next MOVED.  Inside an epoch section.  Returns 1 if
 * done (result in *R), 0 if the segment is not held. */
static int
try_held (struct agent *a, struct table *t, struct piece *p, sm_entry entry,
          int *r)
{
  struct agent_table at = { a, t };
  struct redirect_io io = {
    .t = t, .write = p->op != PIECE_READ, .buf = p->buf, .len = p->len,
    .seg = p->seg, .off = p->off,
  };
  /* A write merging a partial block must be alone on the segment: two
   * of them merging the same block would lose one. */
  bool merges = io.write && (p->off % SM_BLOCK_SIZE || p->len % SM_BLOCK_SIZE);
  struct held *h;

  if (!entry_is_valid (entry) || !(entry & (ENTRY_NOWRITE | ENTRY_ALT))
      || p->len == 0 || (h = held_get (&t->held, p->seg)) == NULL)
    return 0;
  if (held_begin (h, merges) == -1) {
    held_put (&t->held, h);
    return 0;                   /* dropped meanwhile: fault */
  }
  *r = redirect_io_at (a, &io, h->orig, h->alt, h->at_alt, h->n_bytes);
  if (*r == 0 && io.write
      && held_wrote (h, p->off, p->len, agent_moved, &at) == -1) {
    /* Written but not reported: the agent is degraded, and the host
     * must not count on the write. */
    errno = EIO;
    *r = -1;
  }
  held_end (h);
  held_put (&t->held, h);
  return 1;
}

/* A RETRY cannot unblock ENTRY; only a changed entry or an order can. */
static bool
stuck_on (sm_entry entry)
{
  return entry_is_valid (entry) && (entry & (ENTRY_NOWRITE | ENTRY_ALT));
}

struct claim { struct agent *a; struct table *t; uint64_t seg; };

static int
notify_allocated (void *opaque, sm_entry e)
{
  struct claim *cl = opaque;

  return agent_allocated (cl->a, cl->t, cl->seg, e);
}

/* A write to the ZERO entry of P: map it to a granted segment and do
 * the write.  Inside an epoch section.  Returns 1 if done (result in
 * *R; *GREW if table memory grew), 0 if there is no grant at hand. */
static int
try_grant (struct agent *a, struct table *t, struct piece *p, int *r,
           bool *grew)
{
  struct claim cl = { a, t, p->seg };
  sm_entry e;

  switch (table_claim (t, p->seg, notify_allocated, &cl, &e, grew)) {
  case 0:
    return 0;
  case -1:
    errno = EIO;                /* the agent is degraded now */
    *r = -1;
    return 1;
  }
  if (!try_fast_path (a, t, p, e, r)) {
    errno = EIO;                /* a granted entry is always writable */
    *r = -1;
  }
  return 1;
}

static int check_writable (struct agent *a, struct table *t);

static int
do_piece (struct agent *a, struct table *t, struct piece *p)
{
  sm_entry last = ENTRY_INVALID;
  unsigned stuck = 0;

  for (unsigned tries = 0; tries < MAX_FAULTS; tries++) {
    uint64_t epoch = table_enter (t);
    sm_entry entry = table_lookup (t, p->seg);
    bool grew = false;
    int r = 0;

    /* Again inside the epoch: a drain after the flag was set (vdisk set
     * --read-only, a fence) then waits for every write that missed it. */
    if (p->op != PIECE_READ && check_writable (a, t) == -1) {
      table_exit (t, epoch);
      return -1;
    }
    if (try_fast_path (a, t, p, entry, &r)
        || try_held (a, t, p, entry, &r)
        || try_tracked (a, t, p, entry, &r)
        || try_open (a, t, p, entry, &r)
        || (p->op == PIECE_WRITE && entry == ENTRY_ZERO_SEGMENT
            && try_grant (a, t, p, &r, &grew))) {
      table_exit (t, epoch);
      if (grew)
        agent_enforce_memory_limit (a);
      return r;
    }
    table_exit (t, epoch);
    if (atomic_load (&t->dead)) {
      errno = ENXIO;
      return -1;
    }
    stuck = tries > 0 && entry == last && stuck_on (entry) ? stuck + 1 : 0;
    if (stuck >= MAX_STUCK) {
      sm_error ("vdisk %s: segment %" PRIu64 ": the controller answered %u "
                "faults in a row with RETRY, leaving the entry %s "
                "(0x%016" PRIx64 "), which only a new entry or an order "
                "can unblock: a controller bug; the I/O fails",
                t->name, p->seg, stuck, entry_state_to_string (entry), entry);
      errno = EIO;
      return -1;
    }
    last = entry;
    r = fault_piece (a, t, p, entry);
    if (r != 0)
      return r == 1 ? 0 : -1;
  }
  sm_error ("vdisk %s: segment %" PRIu64 " still not mapped after %d faults",
            t->name, p->seg, MAX_FAULTS);
  errno = EIO;
  return -1;
}

static int
check_range (struct table *t, uint64_t count, uint64_t offset)
{
  if (offset > t->size || count > t->size - offset) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
check_writable (struct agent *a, struct table *t)
{
  if (atomic_load (&a->degraded)) {
    errno = EIO;
    return -1;
  }
  if (atomic_load (&t->read_only)) {
    errno = EROFS;
    return -1;
  }
  return 0;
}

static _Thread_local uint64_t failed_offset;

uint64_t
agent_io_failed_offset (void)
{
  return failed_offset;
}

/* Run OP over [offset, offset+count), one piece per segment. */
static int
for_each_piece (struct agent *a, struct table *t, enum piece_op op,
                void *buf, uint32_t count, uint64_t offset)
{
  uint64_t seg_size = UINT64_C(1) << t->seg_shift;

  failed_offset = UINT64_MAX;

  while (count > 0) {
    uint64_t off = offset & (seg_size - 1);
    struct piece p = {
      .op = op, .buf = buf, .seg = offset >> t->seg_shift, .off = off,
      .len = seg_size - off < count ? seg_size - off : count,
    };
    if (do_piece (a, t, &p) == -1) {
      failed_offset = offset;
      return -1;
    }
    if (buf)
      buf = (char *) buf + p.len;
    count -= p.len;
    offset += p.len;
  }
  return 0;
}

int
agent_pread (struct agent *a, struct table *t, void *buf,
             uint32_t count, uint64_t offset)
{
  if (check_range (t, count, offset) == -1)
    return -1;
  return for_each_piece (a, t, PIECE_READ, buf, count, offset);
}

int
agent_pwrite (struct agent *a, struct table *t, const void *buf,
              uint32_t count, uint64_t offset, bool fua)
{
  if (check_range (t, count, offset) == -1 || check_writable (a, t) == -1)
    return -1;
  if (for_each_piece (a, t, PIECE_WRITE, (void *) buf, count, offset) == -1)
    return -1;
  return fua ? agent_flush (a, t) : 0;
}

/* Sync the containers T wrote (data: cio.c), then have the controller
 * commit (metadata). */
int
agent_flush (struct agent *a, struct table *t)
{
  struct msg m = { .type = MSG_FLUSH, .vdisk = t->vdisk };
  struct agent_table at = { a, t };
  struct msg answer;
  bool synced;

  /* Blocks written to held movements are reported ahead of the FLUSH,
   * so the commit that answers it covers them. */
  if (held_report_all (&t->held, agent_moved, &at) == -1)
    return -1;
  synced = !atomic_load (&a->degraded) && agent_cio_sync (a, t) == 0;

  /* Even after a failed sync the controller hears of the flush: it
   * records that the map needs a check. */
  if (agent_request (a, &m, &answer) == -1)
    return -1;
  if (!synced || answer.type != MSG_REPLY || answer.status != 0) {
    errno = answer.status ? (int) answer.status : EIO;
    msg_clear (&answer);
    return -1;
  }
  msg_clear (&answer);
  return 0;
}

/* Trim or zero: whole segments through the controller, edges in place. */
static int
discard (struct agent *a, struct table *t, uint8_t op, uint32_t count,
         uint64_t offset, bool fua)
{
  uint64_t seg_size = UINT64_C(1) << t->seg_shift;
  uint64_t end = offset + count;
  uint64_t whole_start = (offset + seg_size - 1) & ~(seg_size - 1);
  uint64_t whole_end = end & ~(seg_size - 1);

  failed_offset = UINT64_MAX;
  if (check_range (t, count, offset) == -1 || check_writable (a, t) == -1)
    return -1;
  if (end == t->size)
    whole_end = end;            /* the last segment may be short */
  if (whole_start >= whole_end)
    return for_each_piece (a, t, PIECE_ZERO, NULL, count, offset) == -1
      ? -1 : (fua ? agent_flush (a, t) : 0);

  if (whole_start > offset
      && for_each_piece (a, t, PIECE_ZERO, NULL,
                         whole_start - offset, offset) == -1)
    return -1;
  if (whole_end < end
      && for_each_piece (a, t, PIECE_ZERO, NULL,
                         end - whole_end, whole_end) == -1)
    return -1;

  uint64_t first = whole_start >> t->seg_shift;
  uint64_t last = (whole_end + seg_size - 1) >> t->seg_shift;
  while (first < last) {
    uint32_t n = last - first > UINT32_MAX ? UINT32_MAX : last - first;
    struct msg answer;
    if (agent_fault (a, t, op, first, n, 0, 0, NULL, 0, &answer) == -1
        || handle_answer (&answer) == -1)
      return -1;
    first += n;
  }
  return fua ? agent_flush (a, t) : 0;
}

int
agent_trim (struct agent *a, struct table *t, uint32_t count,
            uint64_t offset, bool fua)
{
  return discard (a, t, FAULT_TRIM, count, offset, fua);
}

int
agent_zero (struct agent *a, struct table *t, uint32_t count,
            uint64_t offset, bool fua)
{
  return discard (a, t, FAULT_ZERO, count, offset, fua);
}

static int entry_for_extents (struct agent *a, struct table *t,
                              uint64_t seg, sm_entry *out);

/* Is the partial segment holding OFFSET already zero (so zeroing part
 * of it writes nothing)?  1 yes, 0 no, -1 error. */
static int
edge_is_zero (struct agent *a, struct table *t, uint64_t offset)
{
  sm_entry e;

  if (entry_for_extents (a, t, table_segment_of (t, offset), &e) == -1)
    return -1;
  return entry_readable (e) && (e & ENTRY_ZERO);
}

int
agent_zero_is_fast (struct agent *a, struct table *t, uint32_t count,
                    uint64_t offset)
{
  uint64_t seg_mask = (UINT64_C(1) << t->seg_shift) - 1;
  uint64_t end = offset + count;
  int r = 1;

  if (check_range (t, count, offset) == -1)
    return -1;
  if (count == 0)
    return 1;
  if (offset & seg_mask)
    r = edge_is_zero (a, t, offset);
  if (r == 1 && (end & seg_mask) && end != t->size)
    r = edge_is_zero (a, t, end - 1);   /* (maybe the head's segment) */
  return r;
}

/* The loaded entry of SEG, faulting it in if needed.  -1 on error. */
static int
entry_for_extents (struct agent *a, struct table *t, uint64_t seg,
                   sm_entry *out)
{
  for (unsigned tries = 0; tries < MAX_FAULTS; tries++) {
    uint64_t epoch = table_enter (t);
    sm_entry e = table_lookup (t, seg);
    table_exit (t, epoch);

    if (e != ENTRY_INVALID) {
      *out = e;
      return 0;
    }
    if (atomic_load (&t->dead)) {
      errno = ENXIO;
      return -1;
    }
    struct piece p = { .op = PIECE_READ, .seg = seg };
    if (fault_piece (a, t, &p, e) == -1)
      return -1;
  }
  errno = EIO;
  return -1;
}

#define EXTENTS_MAX_SEGMENTS 65536  /* bound the work of one request */

int
agent_extents (struct agent *a, struct table *t, uint32_t count,
               uint64_t offset,
               int (*fn) (void *opaque, uint64_t offset, uint64_t len,
                          bool zero),
               void *opaque)
{
  uint64_t seg_size = UINT64_C(1) << t->seg_shift;
  uint64_t end = offset + count, run_start = offset;
  bool run_zero = false;

  if (check_range (t, count, offset) == -1)
    return -1;
  for (unsigned n = 0; offset < end && n < EXTENTS_MAX_SEGMENTS; n++) {
    uint64_t seg = offset >> t->seg_shift;
    uint64_t next = (seg + 1) * seg_size;
    sm_entry e;
    bool zero;

    if (entry_for_extents (a, t, seg, &e) == -1)
      return -1;
    zero = (e & ENTRY_ZERO) != 0;
    if (offset != run_start && zero != run_zero) {
      if (fn (opaque, run_start, offset - run_start, run_zero) == -1)
        return -1;
      run_start = offset;
    }
    run_zero = zero;
    offset = next < end ? next : end;
  }
  return fn (opaque, run_start, offset - run_start, run_zero);
}
