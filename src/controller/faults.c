/* segmap: the controller's answers to agents.
 *
 *   MAP_FAULT READ/WRITE  load the entries of the range from the store;
 *                         a WRITE on a ZERO entry allocates a segment
 *                         first (thin provisioning) -> RETRY(entries)
 *   MAP_FAULT TRIM/ZERO   whole segments back to ZERO: the agent forgets
 *                         the range (blocking: in-flight I/O drains), the
 *                         map rows go, unreferenced segments are zeroed
 *                         and freed after the commit -> COMPLETE_TO_HOST
 *   FLUSH                 answered after the next commit (controller.c)
 *   REGISTER, HEARTBEAT   REPLY (one in-process agent for now)
 *
 * A newly allocated segment needs no zeroing: free space always reads
 * zeros (zeroed when freed; re-zeroed after an unclean shutdown).
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

/* Answer a request; if the answer cannot be delivered, fail the request
 * instead, so the waiting I/O never hangs. */
static void
answer (struct controller *c, struct msg *m)
{
  struct msg failed = { .type = MSG_FAIL, .id = m->id, .status = EIO };

  if (ctrl_send (c, m, NULL) == 0)
    return;
  sm_error ("controller: cannot answer the agent's request %" PRIu64, m->id);
  if (m->type != MSG_FAIL)
    ctrl_send (c, &failed, NULL);
}

static void
answer_fail (struct controller *c, const struct msg *req, int err)
{
  struct msg m = { .type = MSG_FAIL, .id = req->id, .status = err };
  answer (c, &m);
}

/* Reserve a physical segment for V in memory; *E gets its entry.
 * 0 or an errno. */
static int
reserve_segment (struct controller *c, const struct sm_vdisk_info *v,
                 sm_entry *e)
{
  struct ctrl_container *cc = c->containers[v->container_id];
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  uint64_t unit;

  if (cc == NULL) {
    sm_error ("vdisk %s: its container (id %u) is not open", v->name,
              v->container_id);
    return EIO;
  }
  if (alloc_get (cc->alloc, units, &unit) == -1) {
    sm_error ("container %s is full: cannot allocate a segment for "
              "vdisk %s", cc->c->name, v->name);
    return ENOSPC;
  }
  *e = entry_make (v->container_id, unit, ENTRY_VALID);
  return 0;
}

/* Record the reserved segment E as SEG of V in the open transaction.
 * Runs after the answer went out (the writer proceeds meanwhile) but
 * before the controller handles anything else, so every later request,
 * flush and commit sees it.  If it cannot be recorded, the mapping is
 * revoked from the agent (draining the write), the segment zeroed and
 * released, and the controller degraded. */
static void
record_segment (struct controller *c, const struct sm_vdisk_info *v,
                uint64_t seg, sm_entry e)
{
  struct ctrl_container *cc = c->containers[v->container_id];
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  sm_entry invalid = ENTRY_INVALID;
  struct msg revoke = { .type = MSG_SET_ENTRY, .vdisk = v->id, .first = seg,
                        .count = 1, .flags = MSG_F_BLOCKING,
                        .entries = &invalid, .n_entries = 1 };

  if (ctrl_change (c) == 0
      && store_segment_insert (c->store, v->container_id, entry_unit (e),
                               units) == 0
      && store_map_set (c->store, v->id, seg, e) == 0) {
    cc->n_segments++;
    atomic_fetch_add (&c->allocations, 1);
    return;
  }
  ctrl_send (c, &revoke, NULL);
  container_zero (cc->c, entry_offset (e), (uint64_t) units * SM_UNIT_SIZE);
  alloc_put (cc->alloc, entry_unit (e), units);
  ctrl_set_degraded (c, "the map could not be updated");
}

static void
fault_load (struct controller *c, struct msg *req,
            const struct sm_vdisk_info *v, uint64_t n_segs)
{
  struct msg m = { .type = MSG_RETRY, .id = req->id, .vdisk = req->vdisk,
                   .first = req->first, .count = req->count };
  CLEANUP_FREE sm_entry *entries = NULL;
  bool allocated = false;
  int err;

  if (req->first + req->count > n_segs)
    m.count = n_segs - req->first;
  entries = malloc (m.count * sizeof *entries);
  if (entries == NULL) {
    answer_fail (c, req, ENOMEM);
    return;
  }
  if (store_map_get (c->store, v->id, m.first, m.count, entries) == -1) {
    answer_fail (c, req, EIO);
    return;
  }
  if (req->op == FAULT_WRITE && (entries[0] & ENTRY_ZERO)) {
    if (c->degraded)
      err = EIO;
    else if (v->read_only)
      err = EROFS;
    else
      err = reserve_segment (c, v, &entries[0]);
    if (err) {
      answer_fail (c, req, err);
      return;
    }
    allocated = true;
  }
  m.entries = entries;
  m.n_entries = m.count;
  answer (c, &m);
  if (allocated)
    record_segment (c, v, req->first, entries[0]);
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

/* Drop one reference to the segment of E; zero and queue it for the
 * allocator when it was the last. */
static int
unref_segment (struct controller *c, sm_entry e, uint32_t units)
{
  uint32_t cid = entry_container (e), refs;
  struct ctrl_container *cc = c->containers[cid];

  if (store_segment_ref (c->store, cid, entry_unit (e), -1, &refs) == -1)
    return -1;
  if (refs > 0)
    return 0;
  if (cc == NULL)
    return 0;
  if (container_zero (cc->c, entry_offset (e),
                      (uint64_t) units * SM_UNIT_SIZE) == -1)
    return -1;
  if (pending_free_vector_append (&c->frees, (struct pending_free) {
        cid, entry_unit (e), units }) == -1)
    return -1;
  c->frees_unsynced = true;
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
          || unref_segment (c, rows.v.ptr[i].e, units) == -1)
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
  if (ctrl_send (c, &forget, NULL) == -1
      || ctrl_free_vdisk_range (c, v, forget.first, forget.count) == -1) {
    ctrl_set_degraded (c, "a trim could not be recorded");
    answer_fail (c, req, EIO);
    return;
  }
  answer (c, &done);
}

static void
handle_map_fault (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  uint64_t n_segs;

  atomic_fetch_add (&c->faults, 1);
  if (v == NULL) {
    answer_fail (c, req, ENXIO);
    return;
  }
  n_segs = (v->size + (UINT64_C(1) << v->seg_shift) - 1) >> v->seg_shift;
  if (req->first >= n_segs) {
    answer_fail (c, req, EINVAL);
    return;
  }
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
  if (id_vector_append (&c->flushers, req->id) == -1) {
    struct msg m = { .type = MSG_REPLY, .id = req->id, .status = ENOMEM };
    answer (c, &m);
  }
}

void
ctrl_handle_frame (struct controller *c, const uint8_t *frame, size_t len)
{
  struct msg req;

  if (msg_decode (frame, len, &req) == -1) {
    sm_error ("controller: dropping a malformed frame from the agent");
    return;
  }
  switch (req.type) {
  case MSG_MAP_FAULT:
    handle_map_fault (c, &req);
    break;
  case MSG_FLUSH:
    queue_flusher (c, &req);
    break;
  case MSG_REGISTER:
  case MSG_HEARTBEAT: {
    struct msg m = { .type = MSG_REPLY, .id = req.id };
    answer (c, &m);
    break;
  }
  default:
    sm_error ("controller: unexpected %s from the agent",
              msg_type_to_string (req.type));
    answer_fail (c, &req, EPROTO);
  }
  msg_clear (&req);
}
