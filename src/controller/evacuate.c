/* segmap: evacuating a container, a background job (jobs.c, sql/010;
 * DESIGN §1 `container evacuate NAME').
 *
 * `container evacuate NAME [--to CONTAINER]' empties container NAME
 * while clients keep working, so that `container remove' can take it
 * away.  It first replaces NAME by the destination (--to, or the other
 * container with the most free space) in the pool of every vdisk and
 * snapshot (placement.c), so that nothing new lands on NAME, and starts
 * a job that walks NAME's segments in unit order.
 * Each segment moves one of two ways:
 *
 *   written by one vdisk      a movement of that row (the migration's,
 *   (one map row, refcount    cow.c/faults-move.c): host writes go to
 *   1, no NOWRITE)            the new location at once, the copier
 *                             copies the rest in the background, the
 *                             end maps the new location and frees the
 *                             old one
 *   immutable                 copied here, synced, and every map row
 *   (a snapshot's, or rows    that references it (origin, snapshots,
 *   with NOWRITE: shared      clones) is pointed at the copy in one
 *   with snapshots/clones)    transaction, the agents told with a
 *                             blocking SET_ENTRY, then the old one
 *                             freed
 *
 * So sharing survives: a segment three vdisks share is copied once and
 * still shared.  Nothing writes an immutable segment (a write to a
 * NOWRITE row is a fault, which this thread answers, and never during
 * the step that copies and repoints), so copying it needs no bitmap and
 * no redirect.  A segment whose row is moving already (a copy-on-write,
 * a migration), a movement's new location, and the rows of a vdisk
 * being deleted are left for a later pass: the walk starts over until
 * NAME holds no segment and no movement from or to it, and the segments
 * freed on it are zeroed (so `container remove' can follow at once).
 *
 * Bounds: at most EVACUATE_INFLIGHT movements on NAME at a time, and at
 * most EVACUATE_COPIES immutable segments copied per step (one sync of
 * each destination per step); the copies run on the controller thread,
 * so a step holds up fault answers for the time of a few segment
 * copies.  Pause, cancel and the resume after a restart are the job
 * machinery's; a cancel leaves every segment with one location (moved
 * or not).  NAME takes no new vdisk or migration while an evacuation of
 * it runs.
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

#define EVACUATE_INFLIGHT 8     /* movements off the container at once */
#define EVACUATE_COPIES 8       /* immutable segments copied per step */
#define COPY_CHUNK (UINT64_C(1) << 20)

/* An immutable segment copied in this step, not yet repointed. */
struct shared_copy {
  sm_entry from, to;            /* plain locations */
  uint32_t units;
  struct sm_map_ref *rows;      /* every row referencing FROM */
  size_t n_rows;
};

/* What the walk did with a segment. */
enum evac_take {
  EVAC_LEFT,                    /* for a later pass */
  EVAC_MOVING,                  /* a movement began */
  EVAC_COPIED,                  /* copied: repoint it */
  EVAC_FAILED,                  /* *ERROR set */
};

bool
ctrl_container_evacuating (const struct controller *c, uint32_t id)
{
  for (size_t i = 0; i < c->jobs.len; i++)
    if (c->jobs.ptr[i].kind == SM_JOB_EVACUATE
        && c->jobs.ptr[i].container == id)
      return true;
  return false;
}

void
ctrl_evacuate_ended (struct controller *c)
{
  for (size_t i = 0; i < c->jobs.len; i++)
    if (c->jobs.ptr[i].kind == SM_JOB_EVACUATE)
      return;                   /* another one still needs the index */
  if (ctrl_change (c) == -1 || store_evacuate_index (c->store, false) == -1)
    sm_error ("controller: the map's location index could not be dropped "
              "(allocations stay slower until it is): %s", sm_last_error ());
}

/* Copy segment FROM (UNITS units) to a new segment that V's placement
 * picks for its segment SEG (not synced).  0, or -1 with *ERROR. */
static int
copy_segment (struct controller *c, sm_entry from, uint32_t units,
              const struct sm_vdisk_info *v, uint64_t seg, sm_entry *to,
              char **error)
{
  struct ctrl_container *src = c->containers[entry_container (from)], *dst;
  uint64_t len = (uint64_t) units * SM_UNIT_SIZE;
  CLEANUP_FREE uint8_t *buf = malloc (COPY_CHUNK);
  int err;

  if (buf == NULL) {
    fail (error, "out of memory");
    return -1;
  }
  if ((err = ctrl_pool_alloc (c, v, seg, to)) != 0) {
    fail (error, "no room for a copy: %s", strerror (err));
    return -1;
  }
  dst = c->containers[entry_container (*to)];
  for (uint64_t off = 0; off < len; off += COPY_CHUNK) {
    uint64_t n = len - off < COPY_CHUNK ? len - off : COPY_CHUNK;
    struct container *failed = NULL;
    if (container_pread (src->c, buf, n, entry_offset (from) + off) == -1)
      failed = src->c;
    else if (container_pwrite (dst->c, buf, n,
                               entry_offset (*to) + off) == -1)
      failed = dst->c;
    if (failed) {
      err = errno;
      fail (error, "copying a segment from container '%s' to '%s' "
            "failed: %m", src->c->name, dst->c->name);
      alloc_put (dst->alloc, entry_unit (*to), units);
      ctrl_container_failed_io (c, failed, err, "evacuation copy");
      return -1;
    }
  }
  return 0;
}

/* Is ROW immutable: a snapshot's, or no-write (shared)? */
static bool
immutable (const struct sm_vdisk_info *v, const struct sm_map_ref *row)
{
  return v->parent != 0 || (row->e & ENTRY_NOWRITE);
}

/* Decide what to do with segment UNIT (UNITS units, REFS references)
 * of J's container, and do it: begin its movement, or copy it into
 * *CP. */
static enum evac_take
take_segment (struct controller *c, struct sm_job *j, uint64_t unit,
              uint32_t units, uint32_t refs, struct shared_copy *cp,
              char **error)
{
  struct sm_map_ref *rows;
  const struct sm_vdisk_info *first = NULL;
  uint64_t first_seg = 0;
  bool all_immutable = true;
  size_t n;

  if (store_map_at (c->store, j->container, unit, &rows, &n) == -1) {
    fail (error, "cannot read the map: %s", sm_last_error ());
    return EVAC_FAILED;
  }
  /* A movement's new location (its reference is not a map row), or
   * being freed: later. */
  if (n == 0 || n != refs)
    goto left;
  for (size_t i = 0; i < n; i++) {
    const struct sm_vdisk_info *v = ctrl_find_vdisk (c, rows[i].vdisk);
    if (v == NULL || ctrl_move_find (c, rows[i].vdisk, rows[i].vseg))
      goto left;                /* being deleted, or moving */
    if (rows[i].e & ENTRY_ERROR) {
      fail (error, "vdisk '%s' segment %" PRIu64 " is in the error state",
            v->name, rows[i].vseg);
      free (rows);
      return EVAC_FAILED;
    }
    if (ctrl_pool_has (v, j->container)) {
      fail (error, "vdisk '%s' still takes new segments from container "
            "'%s'", v->name, j->name);
      free (rows);
      return EVAC_FAILED;
    }
    all_immutable = all_immutable && immutable (v, &rows[i]);
    if (first == NULL || (first->parent != 0 && v->parent == 0)) {
      first = v;                /* a live vdisk's placement, if any */
      first_seg = rows[i].vseg;
    }
  }
  if (!all_immutable) {
    struct sm_vdisk_info *v = ctrl_find_vdisk (c, rows[0].vdisk);
    int err = n == 1 ? ctrl_cow_begin (c, v, rows[0].vseg, rows[0].e)
                     : EINVAL;
    free (rows);
    if (err == 0)
      return EVAC_MOVING;
    if (n != 1)
      fail (error, "segment %" PRIu64 " of container '%s' is shared but "
            "writable (run 'segmapctl check')", unit, j->name);
    else
      fail (error, "vdisk '%s' segment %" PRIu64 ": cannot start its move: "
            "%s", v->name, rows[0].vseg,
            err == ENOSPC ? "its container is full" : strerror (err));
    return EVAC_FAILED;
  }
  cp->from = entry_make (j->container, unit, ENTRY_VALID);
  cp->units = units;
  if (copy_segment (c, cp->from, units, first, first_seg, &cp->to,
                    error) == -1) {
    free (rows);
    return EVAC_FAILED;
  }
  cp->rows = rows;
  cp->n_rows = n;
  return EVAC_COPIED;

 left:
  free (rows);
  return EVAC_LEFT;
}

/* Give back the new segments of CP[0..N-1] (never referenced). */
static void
drop_copies (struct controller *c, struct shared_copy *cp, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    alloc_put (c->containers[entry_container (cp[i].to)]->alloc,
               entry_unit (cp[i].to), cp[i].units);
    free (cp[i].rows);
  }
}

/* Sync every container CP[0..N-1] wrote, once.  0, or -1 with *ERROR. */
static int
sync_copies (struct controller *c, const struct shared_copy *cp, size_t n,
             char **error)
{
  for (size_t i = 0; i < n; i++) {
    uint32_t id = entry_container (cp[i].to);
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = entry_container (cp[k].to) == id;
    if (!seen && container_sync (c->containers[id]->c) == -1) {
      int err = errno;
      fail (error, "syncing container '%s' failed: %m",
            c->containers[id]->c->name);
      ctrl_container_failed_io (c, c->containers[id]->c, err,
                                "evacuation sync");
      return -1;
    }
  }
  return 0;
}

/* Point every row of CP at its copy: the store, then the agents, then
 * the old segment loses the references the agents gave up. */
static void
repoint (struct controller *c, struct shared_copy *cp)
{
  uint32_t to_id = entry_container (cp->to);

  if (ctrl_change (c) == -1
      || store_segment_insert (c->store, to_id, entry_unit (cp->to),
                               cp->units) == -1) {
    ctrl_set_degraded (c, "an evacuated segment could not be recorded");
    return;
  }
  c->containers[to_id]->n_segments++;
  for (size_t i = 0; i < cp->n_rows; i++) {
    struct sm_map_ref *r = &cp->rows[i];
    sm_entry e = cp->to | (r->e & ENTRY_FLAG_MASK);
    if ((i > 0 && store_segment_ref (c->store, to_id, entry_unit (cp->to),
                                     1, NULL) == -1)
        || store_map_set (c->store, r->vdisk, r->vseg, e) == -1) {
      ctrl_set_degraded (c, "an evacuated segment could not be recorded");
      return;
    }
  }
  for (size_t i = 0; i < cp->n_rows; i++) {
    struct sm_map_ref *r = &cp->rows[i];
    struct sm_vdisk_info *v = ctrl_find_vdisk (c, r->vdisk);
    sm_entry e = cp->to | (r->e & ENTRY_FLAG_MASK);
    struct msg set = { .type = MSG_SET_ENTRY, .vdisk = r->vdisk,
                       .first = r->vseg, .count = 1,
                       .flags = MSG_F_BLOCKING, .entries = &e,
                       .n_entries = 1 };
    if (ctrl_broadcast (c, &set) != 0) {
      /* An agent may still read the old segment: it stays referenced
       * (a leak 'segmapctl check' reports), and the vdisk is fenced. */
      ctrl_fence_vdisk (c, v, "the move of an evacuated segment has an "
                        "unknown outcome at an agent");
      continue;
    }
    if (ctrl_unref_segment (c, cp->from, cp->units) == -1)
      ctrl_set_degraded (c, "the old location of an evacuated segment "
                         "could not be released");
  }
}

/* Are freed segments of container ID still to be committed or zeroed?
 * The job ends after them, so that `container remove' may follow. */
static bool
freeing (const struct controller *c, uint32_t id)
{
  for (size_t i = 0; i < c->frees.len; i++)
    if (c->frees.ptr[i].container == id)
      return true;
  return ctrl_delete_units_held (c, id) > 0;
}

int
ctrl_evacuate_step (struct controller *c, struct sm_job *j, char **error)
{
  struct ctrl_container *cc = c->containers[j->container];
  struct shared_copy copies[EVACUATE_COPIES];
  unsigned moving = ctrl_move_count_on (c, j->container);
  size_t n_copies = 0;
  int r = 1;

  while (moving < EVACUATE_INFLIGHT && n_copies < EVACUATE_COPIES) {
    uint64_t unit;
    uint32_t units, refs;

    r = store_segment_next (c->store, j->container, j->cursor, &unit,
                            &units, &refs);
    if (r != 1)
      break;
    switch (take_segment (c, j, unit, units, refs, &copies[n_copies],
                          error)) {
    case EVAC_LEFT:
      break;
    case EVAC_MOVING:
      moving++;
      j->done++;
      break;
    case EVAC_COPIED:
      n_copies++;
      break;
    case EVAC_FAILED:
      drop_copies (c, copies, n_copies);
      return -1;
    }
    j->cursor = unit + units;
  }
  if (r == -1) {
    drop_copies (c, copies, n_copies);
    fail (error, "cannot walk container '%s': %s", j->name,
          sm_last_error ());
    return -1;
  }
  if (n_copies > 0 && sync_copies (c, copies, n_copies, error) == -1) {
    drop_copies (c, copies, n_copies);
    return -1;
  }
  for (size_t i = 0; i < n_copies; i++) {
    repoint (c, &copies[i]);
    free (copies[i].rows);
  }
  j->done += n_copies;
  if (r == 1)
    return 0;                   /* the walk carries on */
  if (cc->n_segments == 0 && ctrl_move_count_on (c, j->container) == 0
      && !freeing (c, j->container)) {
    j->done = j->total = j->done > j->total ? j->done : j->total;
    return 1;
  }
  j->cursor = 0;                /* moving or left: another pass */
  j->total = j->done + cc->n_segments;
  return 0;
}

/* The command -------------------------------------------------------- */

/* The destination: TO if named, else the other container with the most
 * free space.  NULL with *ERROR. */
static struct ctrl_container *
destination (struct controller *c, const struct ctrl_container *from,
             const char *to, char **error)
{
  struct ctrl_container *best = NULL;

  if (to != NULL) {
    if ((best = ctrl_container_by_name (c, to)) == NULL)
      fail (error, "no container '%s'", to);
    else if (best == from)
      fail (error, "container '%s' cannot be evacuated to itself", to);
    else if (ctrl_container_evacuating (c, best->c->id))
      fail (error, "container '%s' is being evacuated itself", to);
    else if (best->failed)
      fail (error, "container '%s' has failed", to);
    else
      return best;
    return NULL;
  }
  for (uint32_t id = 1; id <= c->max_container; id++) {
    struct ctrl_container *cc = c->containers[id];
    if (cc && cc != from && !ctrl_container_evacuating (c, id) && !cc->failed
        && (best == NULL || alloc_free_units (cc->alloc) > alloc_free_units (best->alloc)))
      best = cc;
  }
  if (best == NULL)
    fail (error, "there is no other container to evacuate '%s' to; add "
          "one first", from->c->name);
  return best;
}

/* Take FROM out of every pool (snapshots' too), TO in its place.  0,
 * or -1 with *ERROR (the vdisks changed before stay so: each is a
 * plain migration target). */
static int
retarget_all (struct controller *c, const struct ctrl_container *from,
              const struct ctrl_container *to, char **error)
{
  /* Each change reloads c->vdisks, in the same order (by name). */
  for (size_t i = 0; i < c->n_vdisks; i++) {
    const struct sm_vdisk_info *v = &c->vdisks[i];
    uint32_t ids[SM_POOL_MAX];
    unsigned n = 0;

    if (!ctrl_pool_has (v, from->c->id))
      continue;
    for (unsigned k = 0; k < v->n_pool; k++) {
      uint32_t id = v->pool[k] == from->c->id ? to->c->id : v->pool[k];
      if (id != to->c->id || !ctrl_pool_has (v, to->c->id))
        ids[n++] = id;
    }
    if (ctrl_set_pool (c, v, v->placement, ids, n, error) == -1)
      return -1;
  }
  return 0;
}

json_object *
ctrl_cmd_container_evacuate (struct controller *c, json_object *args,
                             char **error)
{
  const char *name = arg_name (args, "name", error);
  const char *to = arg_string (args, "to");
  struct ctrl_container *cc, *dest;
  struct sm_job j = { .kind = SM_JOB_EVACUATE };
  uint64_t need;

  if (name == NULL)
    return NULL;
  if ((cc = ctrl_container_by_name (c, name)) == NULL)
    return fail (error, "no container '%s'", name);
  if (c->degraded)
    return fail (error, "the controller is degraded (see 'segmapctl "
                 "status')");
  if (ctrl_container_evacuating (c, cc->c->id))
    return fail (error, "container '%s' is being evacuated already (see "
                 "'segmapctl job list')", name);
  if (cc->failed)
    return fail (error, "container '%s' has failed: bring it online "
                 "first ('segmapctl container online %s')", name, name);
  if ((dest = destination (c, cc, to, error)) == NULL)
    return NULL;
  need = alloc_used_units (cc->alloc);
  if (need > alloc_free_units (dest->alloc))
    return fail (error, "container '%s' has %" PRIu64 " MiB free, and '%s' "
                 "holds %" PRIu64 " MiB", dest->c->name,
                 alloc_free_units (dest->alloc) * SM_UNIT_SIZE >> 20, name,
                 need * SM_UNIT_SIZE >> 20);
  if (retarget_all (c, cc, dest, error) == -1)
    return NULL;
  if (ctrl_change (c) == -1 || store_evacuate_index (c->store, true) == -1)
    return fail (error, "cannot index the map for the evacuation: %s",
                 sm_last_error ());
  j.container = cc->c->id;
  j.total = cc->n_segments;
  if ((j.name = strdup (name)) == NULL)
    return fail (error, "out of memory");
  if (ctrl_job_start (c, &j, error) == -1) {
    sm_job_clear (&j);
    ctrl_evacuate_ended (c);
    return NULL;
  }
  return ctrl_job_row (&j);
}
