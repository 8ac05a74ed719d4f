/* segmap: failed containers (DESIGN §5 Container failure; seed 002's
 * error state, seed 003's failed-component handling and late device
 * recovery).
 *
 * A container fails when an I/O on it fails with an errno that says
 * the storage is failing (store/container.h): an agent REPORTs it
 * (io_failed, sync_failed), or the controller's own I/O (copies,
 * zeroing, syncs) meets it.  ctrl_container_fail marks it failed at
 * once (nothing allocates there from then on, no copy is claimed, and
 * faults show its rows as ERROR); the controller loop's next
 * ctrl_failure_step, outside whatever iteration found the failure,
 * then:
 *
 *   1. records it (container.failed, sql/012), so that a restart keeps
 *      it failed;
 *   2. takes the agents' grants on it back (RECALL) and allocates
 *      nothing there any more (placement.c skips it);
 *   3. has every agent forget the entries of every vdisk (SET_ENTRY
 *      invalid, blocking: I/O in flight drains).  Faults then load the
 *      rows again, and a row on the failed container -- or moving from
 *      or to it -- is shown in the ERROR state (ctrl_failed_overlay,
 *      ctrl_failed_fault): the host gets a medium error for those
 *      segments only, everything else serves as before;
 *   4. detaches it from every agent: each syncs it for the tables that
 *      wrote there since their last flush, and on failure REPORTs those
 *      vdisks' writes lost (unsynced_writes), on which the vdisk is
 *      fenced read-only (agent cio.c).
 *
 * The map itself is not changed: the rows keep their locations, so
 * `container online' restores every entry exactly (late recovery).
 * Copies (copy-on-write, migration, evacuation) from or to a failed
 * container wait (faults-move.c does not claim them); freed segments
 * there are not zeroed but given back to the allocator at once, since
 * nothing allocates on a failed container and bringing it online zeroes
 * its free space first.
 *
 * ctrl_container_online opens a new handle, reads its first and last
 * unit and syncs (a container that still fails stays failed), zeroes
 * its free space, attaches the new handle to every agent (DETACH of
 * any old one first), records it serving, and has the agents forget
 * every vdisk's entries again, so the next faults load them plain.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"
#include "store/container.h"

bool
ctrl_container_is_failed (const struct controller *c, uint32_t id)
{
  const struct ctrl_container *cc = id <= ENTRY_MAX_CONTAINER
    ? c->containers[id] : NULL;

  return cc != NULL && cc->failed;
}

/* Have every agent forget every vdisk's entries (blocking), so that
 * the next faults load them as the failed containers now show them. */
static void
forget_all_entries (struct controller *c)
{
  for (size_t i = 0; i < c->n_vdisks; i++) {
    const struct sm_vdisk_info *v = &c->vdisks[i];
    sm_entry invalid = ENTRY_INVALID;
    struct msg forget = {
      .type = MSG_SET_ENTRY, .vdisk = v->id, .first = 0,
      .count = ctrl_vdisk_segments (v),
      .flags = MSG_F_BLOCKING, .entries = &invalid, .n_entries = 1,
    };
    if (forget.count > 0
        && ctrl_broadcast_except (c, &forget, ENOENT) != 0)
      sm_error ("controller: vdisk %s: not every agent confirmed that it "
                "forgot its entries", v->name);
  }
}

/* Record CC's state (WHY NULL: serving) and commit.  0 or -1. */
static int
store_state (struct controller *c, struct ctrl_container *cc, const char *why)
{
  if (ctrl_change (c) == -1
      || store_container_set_failed (c->store, cc->c->id, why,
                                     cc->failed_at) == -1
      || ctrl_commit (c, false) == -1) {
    sm_error ("controller: container %s: its state could not be stored",
              cc->c->name);
    return -1;
  }
  return 0;
}

void
ctrl_container_fail (struct controller *c, uint32_t id, int err,
                     const char *what)
{
  struct ctrl_container *cc = id <= ENTRY_MAX_CONTAINER
    ? c->containers[id] : NULL;
  char *why;

  if (cc == NULL || cc->failed)
    return;
  if (asprintf (&why, "%s: %s", what, strerror (err)) == -1)
    why = NULL;
  cc->failed = true;
  cc->failed_why = why;
  cc->failed_at = time (NULL);
  cc->fail_pending = true;
  c->n_failed++;
  sm_error ("controller: container %s failed (%s): its segments report "
            "medium errors until 'segmapctl container online %s'",
            cc->c->name, why ? why : strerror (err), cc->c->name);
}

void
ctrl_failure_step (struct controller *c)
{
  for (uint32_t id = 1; c->n_failed > 0 && id <= c->max_container; id++) {
    struct ctrl_container *cc = c->containers[id];
    struct msg detach = { .type = MSG_CONTAINER_DETACH, .arg2 = id };

    if (cc == NULL || !cc->fail_pending)
      continue;
    cc->fail_pending = false;
    store_state (c, cc, cc->failed_why ? cc->failed_why : "failed");
    ctrl_recall_grants (c, id);
    forget_all_entries (c);
    if (ctrl_broadcast_except (c, &detach, ENOENT) != 0)
      sm_error ("controller: container %s: not every agent confirmed the "
                "detach", cc->c->name);
  }
}

void
ctrl_container_failed_io (struct controller *c, const struct container *h,
                          int err, const char *what)
{
  if (h && container_error_is_failure (err))
    ctrl_container_fail (c, h->id, err, what);
}

/* Does E (a stored row, or a movement's location) lie on a failed
 * container? */
static bool
on_failed (const struct controller *c, sm_entry e)
{
  return entry_is_valid (e) && !(e & ENTRY_ZERO)
    && ctrl_container_is_failed (c, entry_container (e));
}

/* The ERROR entry shown for the row E. */
static sm_entry
error_entry (sm_entry e)
{
  return (e & ~ENTRY_FLAG_MASK) | ENTRY_VALID | ENTRY_ERROR;
}

/* Is segment SEG of VDISK, whose row is E, on a failed container (the
 * row, or either end of its movement)? */
static bool
segment_failed (struct controller *c, uint32_t vdisk, uint64_t seg,
                sm_entry e)
{
  sm_entry orig, alt;

  if (on_failed (c, e))
    return true;
  return ctrl_move_locations (c, vdisk, seg, &orig, &alt)
    && (on_failed (c, orig) || on_failed (c, alt));
}

void
ctrl_failed_overlay (struct controller *c, uint32_t vdisk, uint64_t first,
                     uint32_t count, sm_entry *entries)
{
  if (c->n_failed == 0)
    return;
  for (uint32_t i = 0; i < count; i++)
    if (segment_failed (c, vdisk, first + i, entries[i]))
      entries[i] = error_entry (entries[i]);
}

bool
ctrl_failed_fault (struct controller *c, struct msg *req)
{
  sm_entry e;
  struct msg m = { .type = MSG_RETRY, .id = req->id, .vdisk = req->vdisk,
                   .first = req->first, .count = 1, .entries = &e,
                   .n_entries = 1 };

  /* (A load of several entries goes on to fault_load, which shows
   * each one as ctrl_failed_overlay says.) */
  if (c->n_failed == 0 || req->count != 1
      || (req->op != FAULT_READ && req->op != FAULT_WRITE)
      || store_map_get (c->store, req->vdisk, req->first, 1, &e) == -1
      || !segment_failed (c, req->vdisk, req->first, e))
    return false;
  e = error_entry (e);
  ctrl_answer (c, &m);
  return true;
}

/* Online ---------------------------------------------------------------- */

/* *ERROR = "container 'NAME' still fails: STEP: errno". */
static void
still_fails (char **error, const struct ctrl_container *cc, const char *step,
             int err)
{
  fail (error, "container '%s' still fails: %s: %s", cc->c->name, step,
        strerror (err));
}

/* A new handle of CC's container that reads, zeroes its free space and
 * syncs; NULL with *ERROR. */
static struct container *
probe (struct ctrl_container *cc, char **error)
{
  struct container *h = container_open_existing (cc->c->id, cc->c->name,
                                                 cc->c->path, cc->c->size);
  CLEANUP_FREE char *buf = malloc (SM_UNIT_SIZE);
  const char *step = NULL;

  if (h == NULL) {
    still_fails (error, cc, "opening it", errno);
    return NULL;
  }
  if (h->size < cc->c->size) {
    fail (error, "container '%s': %s is %" PRIu64 " bytes now, smaller "
          "than its recorded %" PRIu64, cc->c->name, cc->c->path, h->size,
          cc->c->size);
    container_close (h);
    return NULL;
  }
  if (buf == NULL)
    step = "allocating a buffer";
  else if (container_pread (h, buf, SM_UNIT_SIZE, 0) == -1)
    step = "reading its first unit";
  else if (container_pread (h, buf, SM_UNIT_SIZE,
                            cc->c->size - SM_UNIT_SIZE) == -1)
    step = "reading its last unit";
  else if (ctrl_zero_free (cc, h) != 0)
    step = "zeroing its free space";
  else if (container_sync (h) == -1)
    step = "syncing it";
  if (step) {
    still_fails (error, cc, step, errno ? errno : EIO);
    container_close (h);
    return NULL;
  }
  return h;
}

int
ctrl_container_online (struct controller *c, struct ctrl_container *cc,
                       char **error)
{
  struct msg detach = { .type = MSG_CONTAINER_DETACH, .arg2 = cc->c->id };
  struct container *h;

  if (!cc->failed) {
    fail (error, "container '%s' has not failed", cc->c->name);
    return -1;
  }
  if ((h = probe (cc, error)) == NULL)
    return -1;
  if (cc->unlocked && container_lock_exclusive (h) == -1) {
    fail (error, "%s", sm_last_error ());
    container_close (h);
    return -1;
  }
  cc->unlocked = false;
  h->size = cc->c->size;        /* serve what is recorded */
  container_close (cc->c);
  cc->c = h;
  if (ctrl_broadcast_except (c, &detach, ENOENT) != 0
      || ctrl_attach_container (c, NULL, cc) != 0) {
    fail (error, "container '%s': not every agent could attach it again "
          "(see the server log); it stays failed", cc->c->name);
    return -1;
  }
  cc->failed = false;
  free (cc->failed_why);
  cc->failed_why = NULL;
  cc->failed_at = 0;
  c->n_failed--;
  sm_error ("controller: container %s is online again", cc->c->name);
  if (store_state (c, cc, NULL) == -1)
    sm_error ("controller: container %s: a restart will show it failed "
              "again", cc->c->name);
  forget_all_entries (c);
  return 0;
}
