/* segmap: the controller's answers to agents.
 *
 *   MAP_FAULT READ/WRITE  load the entries of the range from the store
 *                         -> RETRY(entries, zero_after: how many
 *                         segments after the range have no map row);
 *                         a WRITE on a ZERO entry GRANTs segments first
 *                         (thin provisioning, below)
 *   ALLOCATED             the agent mapped a ZERO segment to a granted
 *                         one: record it (segment + map row)
 *   MAP_FAULT TRIM/ZERO   whole segments back to ZERO: the agent forgets
 *                         the range (blocking: in-flight I/O drains), the
 *                         map rows go, unreferenced segments are zeroed
 *                         and freed after the commit -> COMPLETE_TO_HOST
 *   FLUSH                 answered after the next commit (controller.c)
 *   a segment whose data  DO_WRITE / DO_SPLIT_READ, then IO_DONE ->
 *     moves                 COMPLETE_TO_HOST (faults-move.c); a write
 *                         to a no-write entry with no movement: RETRY
 *                         if the stored entry is writable, else FAIL
 *                         EROFS
 *   REGISTER              agents.c: version check, id, bring-up
 *   HEARTBEAT             REPLY (any frame refreshes last_heard)
 *   REPORT                a failed sync (or an ALLOCATED the agent could
 *                         not send): the controller becomes degraded
 *
 * Requests are answered to the agent that sent them (c->from, set for
 * the frame being handled); commands that change a vdisk's table go to
 * every agent (ctrl_broadcast).  An outcome that is unknown is never
 * taken for "not applied" (agents.c): a GRANT that may not have arrived
 * stays outstanding, a blocking SET_ENTRY that may not have been
 * applied fences the vdisk read-only.
 *
 * A newly allocated segment needs no zeroing: free space always reads
 * zeros (zeroed when freed; re-zeroed after an unclean shutdown).
 *
 * Grants.  The controller decides every location, but need not be
 * asked for each first write: it reserves a small pool of free
 * segments per vdisk (alloc_reserve) and GRANTs them to the agent,
 * which maps a write to a ZERO entry to one of them at once and sends
 * ALLOCATED.  The controller records it in queue order, in the open
 * transaction, so a FLUSH queued after it (the host flushes only
 * after the write was acknowledged, and the agent queues ALLOCATED
 * before that) is answered after the commit that covers it.  Pools
 * are topped up after each batch of requests (ctrl_refill_grants) and
 * at once when a write faults on a ZERO entry (its pool ran dry).
 *
 *   reserved --GRANT--> in the agent's pool --first write--> mapped in
 *   the agent --ALLOCATED--> recorded (segment + map row, alloc used)
 *
 * When a write finds its container full, the unused grants of every
 * pool on that container are RECALLed first, so pools never make a
 * write fail that would fit.
 *
 * A grant is never recorded in the store before it is used, so a crash
 * loses only reservations: the allocator is rebuilt from the segment
 * table, and the free space (including grants written but not yet
 * recorded or committed) is zeroed after an unclean shutdown.  Grants
 * of a deleted vdisk, or still outstanding at a clean shutdown, are
 * zeroed and released (a deleted vdisk's agent may have written them).
 *
 * An ALLOCATED for a grant that is not outstanding (the agent holds
 * something the controller does not know it gave) is recorded when the
 * location is free in the allocator and the map row is still zero,
 * else the vdisk is fenced read-only; both are logged as errors.  Only
 * an ALLOCATED of a deleted vdisk is expected (its write drained before
 * the pool was zeroed and released) and merely noted.
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
#include "controller/controller-internal.h"
#include "store/container.h"

/* Answer a request; if the answer cannot be delivered, fail the request
 * instead, so the waiting I/O never hangs. */
void
ctrl_answer (struct controller *c, struct msg *m)
{
  struct msg failed = { .type = MSG_FAIL, .id = m->id, .status = EIO };

  if (ctrl_send (c, c->from, m, NULL) == 0)
    return;
  sm_error ("controller: cannot answer the agent's request %" PRIu64, m->id);
  if (m->type != MSG_FAIL)
    ctrl_send (c, c->from, &failed, NULL);
}


static void
answer_fail (struct controller *c, const struct msg *req, int err)
{
  struct msg m = { .type = MSG_FAIL, .id = req->id, .status = err };
  ctrl_answer (c, &m);
}

/* Grants ------------------------------------------------------------ */

static bool take_grant (struct vdisk_grants *g, sm_entry e);

static size_t
outstanding (const struct vdisk_grants *g)
{
  return g->out.len - g->head;
}

/* Pool size: GRANT_POOL segments, at most GRANT_POOL_BYTES of them and
 * at most 1/GRANT_FREE_SHARE of the container's free space, so that
 * pools never make a nearly full container refuse a write (a write
 * fault always gets one segment while any is free).  Pools are topped
 * up after every batch. */
#define GRANT_POOL 1024
#define GRANT_POOL_BYTES (UINT64_C(1) << 30)
#define GRANT_FREE_SHARE 8

static uint32_t
pool_target (struct controller *c, const struct sm_vdisk_info *v)
{
  struct ctrl_container *cc = c->containers[ctrl_place_grants (c, v)];
  uint64_t n = GRANT_POOL_BYTES >> v->seg_shift, units, free_units;

  if (cc == NULL || cc->failed || v->base != 0)
    return 0;                   /* tracked (cbt.c) or spread: allocated by
                                 * faults; nothing on a failed container */
  units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  free_units = alloc_free_units (cc->alloc);
  if (n > free_units / GRANT_FREE_SHARE / units)
    n = free_units / GRANT_FREE_SHARE / units;
  return n < GRANT_POOL ? n : GRANT_POOL;
}

static struct vdisk_grants *
grants_of (struct controller *c, const struct ctrl_agent *ag, uint32_t vdisk)
{
  for (size_t i = 0; i < c->grants.len; i++)
    if (c->grants.ptr[i].vdisk == vdisk && c->grants.ptr[i].agent == ag)
      return &c->grants.ptr[i];
  return NULL;
}

uint64_t
ctrl_grants_of_agent (struct controller *c, const struct ctrl_agent *ag)
{
  uint64_t n = 0;

  for (size_t i = 0; i < c->grants.len; i++)
    if (c->grants.ptr[i].agent == ag)
      n += c->grants.ptr[i].out.len - c->grants.ptr[i].head;
  return n;
}

/* Zero the granted segment E (the agent may have written it) and give
 * it back to the allocator after the next commit, like a freed one. */
static void
release_grant (struct controller *c, const struct vdisk_grants *g, sm_entry e)
{
  struct ctrl_container *cc = c->containers[g->container];

  if (cc == NULL)
    return;
  alloc_use_reserved (cc->alloc, entry_unit (e), g->units);
  /* (A failed container's free space is zeroed when it comes back.) */
  if ((!cc->failed
       && container_zero (cc->c, entry_offset (e),
                          (uint64_t) g->units * SM_UNIT_SIZE) == -1)
      || pending_free_vector_append (&c->frees, (struct pending_free) {
           g->container, entry_unit (e), g->units, false }) == -1) {
    /* Left used: a leak until restart, never a stale read. */
    ctrl_set_degraded (c, "a granted segment could not be released");
    return;
  }
  cc->unsynced = true;
}

/* Drop the pool at index I of c->grants, releasing its grants. */
static void
drop_pool (struct controller *c, size_t i)
{
  struct vdisk_grants *g = &c->grants.ptr[i];

  for (size_t j = g->head; j < g->out.len; j++)
    release_grant (c, g, g->out.ptr[j]);
  free (g->out.ptr);
  c->grants.ptr[i] = c->grants.ptr[--c->grants.len];
}

/* Give back the last K grants of G (never sent, or refused by the
 * agent: never written, so no zeroing). */
static void
unreserve_last (struct controller *c, struct vdisk_grants *g, uint32_t k)
{
  struct ctrl_container *cc = c->containers[g->container];

  for (; k > 0; k--) {
    sm_entry e = g->out.ptr[--g->out.len];
    alloc_unreserve (cc->alloc, entry_unit (e), g->units);
  }
}

static uint32_t recall_pool (struct controller *c, struct vdisk_grants *g);

/* Reserve up to N segments for V and GRANT them.  Returns how many were
 * granted or may have been (0: the container is full, or the agent
 * refused them). */
static uint32_t
grant (struct controller *c, const struct sm_vdisk_info *v,
       struct vdisk_grants *g, uint32_t n)
{
  uint32_t cid = ctrl_place_grants (c, v);
  struct ctrl_container *cc = c->containers[cid];
  struct msg m = { .type = MSG_GRANT, .vdisk = v->id };
  size_t start;
  uint32_t k = 0;

  if (cc == NULL)
    return 0;
  if (g->container != cid) {
    /* The vdisk moved (migrate.c), or its pool's current container
     * filled up (placement.c): the pool follows once the agent holds
     * none of its old grants. */
    if (outstanding (g) > 0)
      recall_pool (c, g);
    if (outstanding (g) > 0)
      return 0;
    g->container = cid;
  }
  if (g->head > 0) {            /* drop the used ones from the front */
    memmove (g->out.ptr, &g->out.ptr[g->head],
             outstanding (g) * sizeof g->out.ptr[0]);
    g->out.len -= g->head;
    g->head = 0;
  }
  start = g->out.len;
  for (; k < n; k++) {
    uint64_t unit;
    if (alloc_reserve (cc->alloc, g->units, &unit) == -1)
      break;
    if (entry_vector_append (&g->out, entry_make (cid, unit,
                                                  ENTRY_VALID)) == -1) {
      alloc_unreserve (cc->alloc, unit, g->units);
      break;
    }
  }
  if (k == 0)
    return 0;
  m.entries = &g->out.ptr[start];
  m.n_entries = k;
  switch (ctrl_send (c, g->agent, &m, NULL)) {
  case 0:
    return k;
  case CTRL_UNKNOWN:
    /* The agent may hold them: they stay outstanding and count as
     * granted (an ALLOCATED for one is recorded; an agent that does
     * not hold them faults again; the rest go at delete or
     * shutdown). */
    return k;
  default:
    unreserve_last (c, g, k);   /* refused: never written */
    return 0;
  }
}

/* RECALL the unused grants of G at its agent: they were never written,
 * so they go straight back to the allocator.  How many came back. */
static uint32_t
recall_pool (struct controller *c, struct vdisk_grants *g)
{
  struct ctrl_container *cc = c->containers[g->container];
  struct msg m = { .type = MSG_RECALL, .vdisk = g->vdisk }, r;
  uint32_t n = 0;

  if (outstanding (g) == 0 || ctrl_send (c, g->agent, &m, &r) != 0)
    return 0;
  for (uint32_t j = 0; j < r.n_entries; j++)
    if (take_grant (g, r.entries[j])) {
      alloc_unreserve (cc->alloc, entry_unit (r.entries[j]), g->units);
      n++;
    }
  msg_clear (&r);
  return n;
}

void
ctrl_recall_vdisk_grants (struct controller *c, uint32_t vdisk)
{
  for (size_t i = 0; i < c->grants.len; i++)
    if (c->grants.ptr[i].vdisk == vdisk)
      recall_pool (c, &c->grants.ptr[i]);
}

uint32_t
ctrl_recall_grants (struct controller *c, uint32_t cid)
{
  uint32_t n = 0;

  for (size_t i = 0; i < c->grants.len; i++)
    if (c->grants.ptr[i].container == cid)
      n += recall_pool (c, &c->grants.ptr[i]);
  return n;
}

/* The pool of V, created if missing.  NULL on ENOMEM. */
static struct vdisk_grants *
pool_for (struct controller *c, struct ctrl_agent *ag,
          const struct sm_vdisk_info *v)
{
  struct vdisk_grants *g = grants_of (c, ag, v->id);
  struct vdisk_grants fresh = {
    .agent = ag, .vdisk = v->id, .container = ctrl_place_grants (c, v),
    .units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE,
  };

  if (g != NULL)
    return g;
  if (grants_vector_append (&c->grants, fresh) == -1)
    return NULL;
  return &c->grants.ptr[c->grants.len - 1];
}

/* A write met a ZERO entry of V with the agent's pool empty: grant at
 * least one segment now.  0 or an errno. */
static int
grant_for_fault (struct controller *c, const struct sm_vdisk_info *v)
{
  struct vdisk_grants *g;
  uint32_t target = pool_target (c, v), n, cid = ctrl_place_grants (c, v);

  if (c->degraded)
    return EIO;
  if (v->read_only)
    return EROFS;
  if (c->containers[cid] == NULL) {
    sm_error ("vdisk %s: its container (id %u) is not open", v->name, cid);
    return EIO;
  }
  if (c->containers[cid]->failed)
    return EIO;                 /* every container of its pool failed */
  if ((g = pool_for (c, c->from, v)) == NULL)
    return ENOMEM;
  n = outstanding (g) < target ? target - outstanding (g) : 1;
  if (grant (c, v, g, n) == 0 && grant (c, v, g, 1) == 0
      && (ctrl_recall_grants (c, cid) == 0 || grant (c, v, g, 1) == 0)) {
    sm_error ("container %s is full: cannot allocate a segment for "
              "vdisk %s", c->containers[cid]->c->name, v->name);
    return ENOSPC;
  }
  return 0;
}

/* A write met the ZERO row SEG of V: GRANT segments to the agent, or,
 * for a vdisk that takes no grants (placement.c: spread), allocate SEG
 * on its stripe into *E.  0 or an errno. */
static int
allocate_for_fault (struct controller *c, const struct sm_vdisk_info *v,
                    uint64_t seg, sm_entry *e)
{
  int err = 0;

  if (ctrl_place_grants (c, v) != 0)
    return grant_for_fault (c, v);
  *e = ctrl_allocate_segment (c, v, seg, 0, &err);
  return *e ? 0 : err;
}

void
ctrl_refill_grants (struct controller *c)
{
  for (size_t i = 0; i < c->grants.len; ) {
    struct vdisk_grants *g = &c->grants.ptr[i];
    const struct sm_vdisk_info *v = ctrl_find_vdisk (c, g->vdisk);
    uint32_t target;

    if (v == NULL) {
      drop_pool (c, i);         /* deleted: its agent table is gone */
      continue;
    }
    target = pool_target (c, v);
    if (!c->degraded && !v->read_only && outstanding (g) < target)
      grant (c, v, g, target - outstanding (g));
    i++;
  }
}

void
ctrl_release_grants (struct controller *c)
{
  while (c->grants.len > 0)
    drop_pool (c, c->grants.len - 1);
  free (c->grants.ptr);
  c->grants.ptr = NULL;
  c->grants.cap = 0;
}

void
ctrl_drop_grants (struct controller *c, uint32_t vdisk)
{
  for (size_t i = 0; i < c->grants.len; )
    if (c->grants.ptr[i].vdisk == vdisk)
      drop_pool (c, i);
    else
      i++;
}

/* Take E out of G's outstanding grants.  false if it is not there.
 * The agent uses its pool in the order granted and reports each use in
 * that order, so E is nearly always the first; the first takes the
 * place of one found further on (RECALL). */
static bool
take_grant (struct vdisk_grants *g, sm_entry e)
{
  for (size_t i = g->head; i < g->out.len; i++)
    if (g->out.ptr[i] == e) {
      g->out.ptr[i] = g->out.ptr[g->head++];
      return true;
    }
  return false;
}

/* Record SEG of V -> E in the open transaction.  0 or -1.  Neither SEG
 * nor E is looked up first: the agent claims only an entry it holds as
 * ZERO, which it learned from this controller, and its table is never
 * behind the controller's map (agent/table.h); E was an outstanding
 * grant (take_grant), which the allocator reserved for V.  The map
 * row's key still refuses a segment that already has one. */
static int
record_allocation (struct controller *c, const struct sm_vdisk_info *v,
                   uint64_t seg, sm_entry e, uint32_t units)
{
  if (ctrl_change (c) == -1)
    return -1;
  return store_allocate (c->store, v->id, seg, e, units);
}

/* An ALLOCATED of V for a location that is not an outstanding grant of
 * the sending agent (a GRANT whose outcome was unknown and was given up
 * on, or a confused agent).  Record it if nothing else can own the
 * location: free in the allocator, on V's container, and the map row
 * still zero; else fence V.  Logged at error level either way. */
static void
unknown_allocated (struct controller *c, struct sm_vdisk_info *v,
                   struct msg *req)
{
  uint32_t cid = entry_container (req->alt);
  struct ctrl_container *cc = c->containers[cid];
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  uint64_t unit = entry_unit (req->alt);
  uint64_t n_segs = (v->size + (UINT64_C(1) << v->seg_shift) - 1)
    >> v->seg_shift;
  sm_entry row = ENTRY_INVALID;

  if (req->first < n_segs && cc != NULL && ctrl_pool_has (v, cid)
      && unit % units == 0 && unit + units <= alloc_total_units (cc->alloc)
      && !alloc_is_used (cc->alloc, unit, units)
      && store_map_get (c->store, v->id, req->first, 1, &row) == 0
      && row == ENTRY_ZERO_SEGMENT
      && alloc_mark_used (cc->alloc, unit, units) == 0) {
    if (record_allocation (c, v, req->first, req->alt, units) == 0) {
      cc->n_segments++;
      c->from->allocations++;
      atomic_fetch_add (&c->allocations, 1);
      sm_error ("controller: vdisk %s: segment %" PRIu64 " was allocated "
                "at unit %" PRIu64 " of container %s from a grant that "
                "was not outstanding: recorded (the location was free)",
                v->name, req->first, unit, cc->c->name);
      return;
    }
    alloc_put (cc->alloc, unit, units);
  }
  ctrl_fence_vdisk (c, v, "an allocation from a grant that was not "
                    "outstanding could not be recorded");
}

static void
handle_allocated (struct controller *c, struct msg *req)
{
  struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  struct vdisk_grants *g = grants_of (c, c->from, req->vdisk);
  sm_entry invalid = ENTRY_INVALID;
  struct msg revoke = { .type = MSG_SET_ENTRY, .vdisk = req->vdisk,
                        .first = req->first, .count = 1,
                        .flags = MSG_F_BLOCKING, .entries = &invalid,
                        .n_entries = 1 };
  uint64_t n_segs;

  if (g == NULL || !take_grant (g, req->alt)) {
    if (v == NULL)              /* deleted: its pool was zeroed after */
      sm_debug ("controller: allocated %" PRIu32 ":%" PRIu64 " of a "
                "deleted vdisk: released with its pool", req->vdisk,
                req->first);
    else
      unknown_allocated (c, v, req);
    return;
  }
  if (v == NULL) {              /* deleted since: its agent table is gone */
    release_grant (c, g, req->alt);
    return;
  }
  n_segs = (v->size + (UINT64_C(1) << v->seg_shift) - 1) >> v->seg_shift;
  if (req->first >= n_segs) {
    sm_error ("controller: vdisk %s has no segment %" PRIu64 " to allocate",
              v->name, req->first);
    release_grant (c, g, req->alt);
    return;
  }
  if (record_allocation (c, v, req->first, req->alt, g->units) == 0) {
    struct ctrl_container *cc = c->containers[g->container];
    alloc_use_reserved (cc->alloc, entry_unit (req->alt), g->units);
    cc->n_segments++;
    c->from->allocations++;
    atomic_fetch_add (&c->allocations, 1);
    /* A grant used after the vdisk became tracked (a write in flight
     * at its first snapshot): which blocks it wrote is not known, so
     * all count as changed (cbt.c). */
    ctrl_cbt_note_segment (c, v->id, req->first);
    return;
  }
  /* Unrecordable: take the mapping back from the agent (draining the
   * write), then zero and release the segment. */
  if (ctrl_broadcast (c, &revoke) != 0) {
    /* An agent may still map it: keep the segment, fence the vdisk. */
    alloc_use_reserved (c->containers[g->container]->alloc,
                        entry_unit (req->alt), g->units);
    ctrl_fence_vdisk (c, v, "an allocation could neither be recorded nor "
                      "taken back");
  }
  else
    release_grant (c, g, req->alt);
  ctrl_set_degraded (c, "the map could not be updated");
}

/* Faults ------------------------------------------------------------ */

/* How many segments after SEG (up to N_SEGS) have no map row. */
struct next_row { uint64_t vseg; };

static int
stop_at_row (void *opaque, uint64_t vseg, sm_entry e)
{
  ((struct next_row *) opaque)->vseg = vseg;
  return 1;
}

static uint64_t
zero_run_after (struct controller *c, const struct sm_vdisk_info *v,
                uint64_t seg, uint64_t n_segs)
{
  struct next_row next = { .vseg = n_segs };

  if (seg >= n_segs
      || store_map_foreach (c->store, v->id, seg, stop_at_row, &next) < 0)
    return 0;
  return next.vseg < n_segs ? next.vseg - seg : n_segs - seg;
}

/* Entries one RETRY loads at most: a fault's count comes from the
 * agent and is not trusted to size an allocation (the agent asks for
 * 64; a RETRY covering less than asked for is still a valid answer). */
#define FAULT_LOAD_MAX 65536
_Static_assert (FAULT_LOAD_MAX <= MSG_MAX_ENTRIES, "a RETRY can carry it");

static void
fault_load (struct controller *c, struct msg *req,
            const struct sm_vdisk_info *v, uint64_t n_segs)
{
  struct msg m = { .type = MSG_RETRY, .id = req->id, .vdisk = req->vdisk,
                   .first = req->first, .count = req->count };
  CLEANUP_FREE sm_entry *entries = NULL;
  int err;

  if (req->first + req->count > n_segs)
    m.count = n_segs - req->first;
  if (m.count > FAULT_LOAD_MAX)
    m.count = FAULT_LOAD_MAX;
  entries = malloc (m.count * sizeof *entries);
  if (entries == NULL) {
    answer_fail (c, req, ENOMEM);
    return;
  }
  if (store_map_get (c->store, v->id, m.first, m.count, entries) == -1) {
    answer_fail (c, req, EIO);
    return;
  }
  if (req->op == FAULT_WRITE && entries[0] == ENTRY_ZERO_SEGMENT
      && (err = allocate_for_fault (c, v, req->first, &entries[0])) != 0) {
    answer_fail (c, req, err);
    return;
  }
  if (req->op == FAULT_WRITE && (entries[0] & (ENTRY_NOWRITE | ENTRY_ALT))) {
    sm_error ("controller: vdisk %s: a write to segment %" PRIu64 ", which "
              "is %s with no data movement registered: refused", v->name,
              req->first, entry_state_to_string (entries[0]));
    answer_fail (c, req, EROFS);
    return;
  }
  ctrl_move_overlay (c, v->id, m.first, m.count, entries);
  ctrl_failed_overlay (c, v->id, m.first, m.count, entries);
  if (entries[m.count - 1] == ENTRY_ZERO_SEGMENT)
    m.arg = ctrl_move_zero_run (c, v->id, m.first + m.count,
                                zero_run_after (c, v, m.first + m.count,
                                                n_segs));
  m.entries = entries;
  m.n_entries = m.count;
  ctrl_answer (c, &m);
}

/* Collect the mapped rows of a range, in batches. */
struct row { uint64_t vseg; sm_entry e; };
DEFINE_VECTOR_TYPE (row_vector, struct row);
struct rows { struct row_vector v; uint64_t end; };

#define FREE_BATCH 4096

static int
collect_row (void *opaque, uint64_t vseg, sm_entry e)
{
  struct rows *rows = opaque;

  if (vseg >= rows->end)
    return 1;
  if (row_vector_append (&rows->v, (struct row) { vseg, e }) == -1)
    return -1;
  return rows->v.len == FREE_BATCH ? 1 : 0;
}

int
ctrl_unref_segment (struct controller *c, sm_entry e, uint32_t units)
{
  uint32_t cid = entry_container (e), refs;
  struct ctrl_container *cc = c->containers[cid];

  if (store_segment_ref (c->store, cid, entry_unit (e), -1, &refs) == -1)
    return -1;
  if (refs > 0)
    return 0;
  if (cc == NULL)
    return 0;
  /* Zeroed after the commit, off this thread (release_pending_frees). */
  if (pending_free_vector_append (&c->frees, (struct pending_free) {
        cid, entry_unit (e), units, true }) == -1)
    return -1;
  cc->n_segments--;
  atomic_fetch_add (&c->frees_total, 1);
  return 0;
}

/* Return [FIRST, FIRST+COUNT) of V to the zero state in the store and
 * free the segments.  The agent must already have forgotten the range. */
int
ctrl_free_vdisk_range (struct controller *c, const struct sm_vdisk_info *v,
                       uint64_t first, uint64_t count)
{
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  struct rows rows = { .end = first + count };
  int r = 0;

  if (ctrl_change (c) == -1)
    return -1;
  for (;;) {
    rows.v.len = 0;
    r = store_map_foreach (c->store, v->id, first, collect_row, &rows);
    if (r < 0 || rows.v.len == 0)
      break;
    for (size_t i = 0; i < rows.v.len && r >= 0; i++)
      if (store_map_set (c->store, v->id, rows.v.ptr[i].vseg,
                         ENTRY_ZERO_SEGMENT) == -1
          || ctrl_unref_segment (c, rows.v.ptr[i].e, units) == -1
          || ctrl_cbt_note_segment (c, v->id, rows.v.ptr[i].vseg) == -1)
        r = -1;
    if (r < 0)
      break;
    first = rows.v.ptr[rows.v.len - 1].vseg + 1;
  }
  free (rows.v.ptr);
  return r < 0 ? -1 : 0;
}

static void
fault_discard (struct controller *c, struct msg *req,
               const struct sm_vdisk_info *v, uint64_t n_segs)
{
  struct msg forget = { .type = MSG_SET_ENTRY, .vdisk = v->id,
                        .first = req->first, .count = req->count,
                        .flags = MSG_F_BLOCKING };
  sm_entry invalid = ENTRY_INVALID;
  struct msg done = { .type = MSG_COMPLETE_TO_HOST, .id = req->id };

  if (c->degraded || v->read_only) {
    answer_fail (c, req, c->degraded ? EIO : EROFS);
    return;
  }
  if (forget.first + forget.count > n_segs)
    forget.count = n_segs - forget.first;
  forget.entries = &invalid;
  forget.n_entries = 1;
  switch (ctrl_broadcast (c, &forget)) {
  case 0:
    break;
  case CTRL_UNKNOWN:
    /* Some agent may or may not still map the range: freeing it could
     * hand out a segment still written; keeping it is safe, writing
     * on is not. */
    ctrl_fence_vdisk (c, ctrl_find_vdisk (c, v->id),
                      "a trim's set_entry has an unknown outcome");
    answer_fail (c, req, EIO);
    return;
  default:
    answer_fail (c, req, EIO);
    return;
  }
  if (ctrl_free_vdisk_range (c, v, forget.first, forget.count) == -1) {
    ctrl_set_degraded (c, "a trim could not be recorded");
    answer_fail (c, req, EIO);
    return;
  }
  ctrl_answer (c, &done);
}

static void
handle_map_fault (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  uint64_t n_segs;

  atomic_fetch_add (&c->faults, 1);
  c->from->faults++;
  if (v == NULL) {
    answer_fail (c, req, ENXIO);
    return;
  }
  n_segs = (v->size + (UINT64_C(1) << v->seg_shift) - 1) >> v->seg_shift;
  if (req->first >= n_segs) {
    answer_fail (c, req, EINVAL);
    return;
  }
  if (ctrl_failed_fault (c, req) || ctrl_cow_fault (c, req)
      || ctrl_move_fault (c, req) || ctrl_cbt_fault (c, req))
    return;
  switch (req->op) {
  case FAULT_READ:
  case FAULT_WRITE:
    fault_load (c, req, v, n_segs);
    break;
  case FAULT_TRIM:
  case FAULT_ZERO:
    fault_discard (c, req, v, n_segs);
    break;
  default:
    answer_fail (c, req, EINVAL);
  }
}

static void
queue_flusher (struct controller *c, struct msg *req)
{
  c->from->flushes++;
  if (flusher_vector_append (&c->flushers, (struct flusher) {
        c->from, req->id }) == -1) {
    struct msg m = { .type = MSG_REPLY, .id = req->id, .status = ENOMEM };
    ctrl_answer (c, &m);
  }
}

/* REPORT: an agent's container failed (an I/O or a sync: the container
 * fails, failure.c), a vdisk's writes to a failed container were never
 * synced (it is fenced read-only), or the agent could not send an
 * ALLOCATED (durability can no longer be promised). */
static void
handle_report (struct controller *c, struct msg *req)
{
  struct sm_vdisk_info *v;
  char why[256];

  switch (req->op) {
  case REPORT_SYNC_FAILED:
  case REPORT_IO_FAILED:
    snprintf (why, sizeof why, "agent %s: %s", c->from->name,
              req->op == REPORT_SYNC_FAILED ? "sync" : "I/O");
    ctrl_container_fail (c, req->arg2, req->status, why);
    break;
  case REPORT_UNSYNCED:
    if ((v = ctrl_find_vdisk (c, req->vdisk)) == NULL)
      break;
    snprintf (why, sizeof why, "agent %s: its writes to container %s "
              "since its last flush may be lost (%s)", c->from->name,
              c->containers[req->arg2] ? c->containers[req->arg2]->c->name
              : "(unknown)", strerror (req->status));
    ctrl_fence_vdisk (c, v, why);
    break;
  default:
    snprintf (why, sizeof why, "agent %s could not report an allocation",
              c->from->name);
    ctrl_set_degraded (c, why);
  }
}

/* A frame from a transport that has not registered: refused. */
static void
refuse_unregistered (struct controller *c, struct transport *from,
                     struct msg *req)
{
  struct ctrl_agent anon = { .name = (char *) "(unregistered)", .tr = from };
  struct msg m = { .type = MSG_FAIL, .id = req->id, .status = EPROTO };

  sm_error ("controller: %s from an agent that has not registered: "
            "refused", msg_type_to_string (req->type));
  if (req->type == MSG_MAP_FAULT || req->type == MSG_FLUSH
      || req->type == MSG_HEARTBEAT)
    ctrl_send (c, &anon, &m, NULL);
}

void
ctrl_handle_frame (struct controller *c, struct transport *from,
                   const uint8_t *frame, size_t len)
{
  struct msg req;

  if (msg_decode (frame, len, &req) == -1) {
    sm_error ("controller: dropping a malformed frame from an agent: %s",
              sm_last_error ());
    return;
  }
  if (req.type == MSG_REGISTER) {
    ctrl_register_agent (c, from, &req);
    msg_clear (&req);
    return;
  }
  c->from = ctrl_agent_of (c, from);
  if (c->from == NULL) {
    refuse_unregistered (c, from, &req);
    msg_clear (&req);
    return;
  }
  c->from->last_heard = time (NULL);
  switch (req.type) {
  case MSG_MAP_FAULT:
    handle_map_fault (c, &req);
    break;
  case MSG_FLUSH:
    queue_flusher (c, &req);
    break;
  case MSG_ALLOCATED:
    handle_allocated (c, &req);
    break;
  case MSG_IO_DONE:
    ctrl_move_io_done (c, &req);
    break;
  case MSG_REPORT:
    handle_report (c, &req);
    break;
  case MSG_GET_DIFF:
    ctrl_diff_answer (c, &req);
    break;
  case MSG_MARK:
    ctrl_cbt_mark (c, &req);
    break;
  case MSG_MOVED:
    ctrl_move_moved (c, &req);
    break;
  case MSG_HEARTBEAT: {
    struct msg m = { .type = MSG_REPLY, .id = req.id };
    ctrl_answer (c, &m);
    break;
  }
  default:
    sm_error ("controller: unexpected %s from agent %s",
              msg_type_to_string (req.type), c->from->name);
    answer_fail (c, &req, EPROTO);
  }
  c->from = NULL;
  msg_clear (&req);
}
