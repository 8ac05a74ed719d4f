/* segmap: snapshot commands (DESIGN §5 Snapshot, sql/006).
 *
 * A snapshot is a read-only vdisk named VDISK@SNAP whose map rows share
 * the origin's segments (refcount > 1).  Taking one costs metadata
 * only, O(mapped segments), and no data is copied; copy-on-write
 * (cow.c) moves a shared segment of the origin when it is next
 * written.
 *
 * create (one vdisk, or a consistency group: the same snapshot name for
 * several vdisks, seed 001 quiesce/activate), on the controller thread:
 *
 *   QUIESCE the vdisks at the agents   new I/O waits, in-flight I/O
 *                                      drains, on every front-end
 *                                      (timeout: ACTIVATE, fail)
 *   copy-on-write still running on     the request is parked (WAITING);
 *   one of them?                       the copier serves these vdisks
 *                                      first; each later turn looks
 *                                      again (ctrl_snapshot_step); the
 *                                      quiesce timeout, a stop or the
 *                                      degraded state: ACTIVATE, fail
 *   one transaction, committed with    per vdisk: the snapshot row, a
 *   the containers synced               copy of the map rows, refcount
 *                                      += 1 per shared row, NOWRITE on
 *                                      the located rows
 *   SET_STATUS NOWRITE (blocking)      over the runs of mapped segments
 *                                      at the agents
 *   NEW_TABLE per snapshot             served read-only as VDISK@SNAP
 *   ACTIVATE
 *
 * A moving segment's map row does not say where all its data is, which
 * is why a create waits for the copies; writes cannot start new ones
 * meanwhile, so the wait ends.  A vdisk is in at most one waiting
 * create.
 *
 * Every write acknowledged before the command is in the snapshot: the
 * agent queues a first write's ALLOCATED before acknowledging it, and
 * the command is queued after it, so the commit covers it; the sync
 * makes the data durable as a FLUSH would.  No write acknowledged after
 * the command began is in it: the vdisks are quiesced until the
 * snapshot rows are committed.
 *
 * If the agents do not take NOWRITE after the commit, the origin is
 * fenced read-only: a write in place would change the snapshot.
 *
 * delete is vdisk delete's path (the agents drop the table, the map
 * rows' references go in the background, segments no longer referenced
 * are freed).  The origin's rows keep NOWRITE; a write to one whose
 * segment is no longer shared just clears it (cow.c).  An origin with
 * snapshots cannot be deleted (admin.c).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"


/* A create waiting, quiesced, for the copy-on-write of its vdisks. */
struct snap_wait {
  struct creq *req;             /* the parked request */
  char *snap;
  uint32_t *ids;                /* the origins */
  char (*names)[SM_NAME_MAX + 1];       /* and their names */
  size_t n;
  bool group;                   /* answer with a list */
  uint64_t deadline_ms;
};

static void
activate (struct controller *c, uint32_t *ids, size_t n)
{
  if (ctrl_quiesce (c, ids, n, false) == -1)
    sm_error ("controller: an agent did not take ACTIVATE after a "
              "snapshot");
}

/* Runs of mapped segments, for SET_STATUS. */
struct run { uint64_t first, count; };
DEFINE_VECTOR_TYPE (run_vector, struct run);

static int
add_to_run (void *opaque, uint64_t vseg, sm_entry e)
{
  struct run_vector *runs = opaque;
  struct run *last = runs->len ? &runs->ptr[runs->len - 1] : NULL;

  if (!(e & ENTRY_NOWRITE))
    return 0;
  if (last && last->first + last->count == vseg) {
    last->count++;
    return 0;
  }
  return run_vector_append (runs, (struct run) { vseg, 1 });
}

/* NOWRITE on the origin's mapped entries at every agent (blocking).
 * 0 or -1. */
static int
show_nowrite (struct controller *c, uint32_t id)
{
  struct run_vector runs = { 0 };
  int r = store_map_foreach (c->store, id, 0, add_to_run, &runs);

  for (size_t i = 0; i < runs.len && r == 0; i++) {
    struct msg m = { .type = MSG_SET_STATUS, .vdisk = id,
                     .first = runs.ptr[i].first, .count = runs.ptr[i].count,
                     .arg = ENTRY_NOWRITE,
                     .flags = MSG_F_ON | MSG_F_BLOCKING };
    if (ctrl_broadcast (c, &m) != 0)
      r = -1;
  }
  free (runs.ptr);
  return r == 0 ? 0 : -1;
}

/* Does any of the N vdisks IDS have a segment moving? */
static bool
moving (struct controller *c, const uint32_t *ids, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (ctrl_move_zero_run (c, ids[i], 0, UINT64_MAX) != UINT64_MAX)
      return true;
  return false;
}

/* The quiesced part of create: record W's snapshots in one transaction
 * and show them.  The new snapshots' ids in SNAPS; 0, or -1 with
 * *ERROR. */
static int
take (struct controller *c, const struct snap_wait *w, uint32_t *snaps,
      char **error)
{
  const char *names[SM_GROUP_MAX];
  int r = 0;

  for (size_t i = 0; i < w->n; i++) {
    names[i] = w->names[i];
    /* The writes that drained: their ALLOCATED and MARK frames belong
     * before the snapshot (its rows, its marks). */
    ctrl_take_allocated (c, w->ids[i]);
    ctrl_recall_vdisk_grants (c, w->ids[i]);   /* tracked from now on */
  }
  if (ctrl_change (c) == -1 || ctrl_cbt_flush (c) == -1
      || store_snapshot_create (c->store, w->n, w->ids, names, w->snap,
                                snaps) == -1) {
    fail (error, "cannot record snapshot '%s@%s': %s", names[0], w->snap,
          sm_last_error ());
    return -1;
  }
  if (ctrl_commit (c, true) == -1) {
    fail (error, "cannot commit snapshot '%s@%s'", names[0], w->snap);
    return -1;
  }
  for (size_t i = 0; i < w->n; i++)
    if (show_nowrite (c, w->ids[i]) == -1) {
      ctrl_fence_vdisk (c, ctrl_find_vdisk (c, w->ids[i]), "an agent did "
                        "not take the no-write state of a snapshot's "
                        "origin");
      if (r == 0)
        fail (error, "snapshot '%s@%s' was taken, but vdisk '%s' had to "
              "be fenced read-only (see the server log)", names[i],
              w->snap, names[i]);
      r = -1;
    }
  if (ctrl_reload_vdisks (c) == -1) {
    if (r == 0)
      fail (error, "snapshot '%s@%s' was taken but cannot be served",
            names[0], w->snap);
    return -1;
  }
  for (size_t i = 0; i < w->n; i++)
    if (ctrl_announce_vdisk (c, NULL, ctrl_find_vdisk (c, snaps[i])) == -1
        && r == 0) {
      fail (error, "snapshot '%s@%s' was taken but cannot be served",
            names[i], w->snap);
      r = -1;
    }
  return r;
}

static json_object *snapshot_row (struct controller *c,
                                  const struct sm_vdisk_info *s);

/* Take W's snapshots (its vdisks are quiesced and nothing of them
 * moves), activate, and answer.  The result, or NULL with *ERROR. */
static json_object *
take_and_activate (struct controller *c, const struct snap_wait *w,
                   char **error)
{
  uint32_t snaps[SM_GROUP_MAX];
  json_object *res = NULL;
  int r = take (c, w, snaps, error);

  activate (c, w->ids, w->n);
  if (r == -1)
    return NULL;
  if (!w->group)
    return snapshot_row (c, ctrl_find_vdisk (c, snaps[0]));
  res = json_object_new_array ();
  for (size_t i = 0; i < w->n; i++)
    json_object_array_add (res, snapshot_row (c, ctrl_find_vdisk (c,
                                                                  snaps[i])));
  return res;
}

static void
snap_wait_free (struct snap_wait *w)
{
  if (w) {
    free (w->snap);
    free (w->ids);
    free (w->names);
    free (w);
  }
}

bool
ctrl_snapshot_waiting (const struct controller *c)
{
  return c->snap_waits.len > 0;
}

bool
ctrl_snapshot_waits_for (const struct controller *c, uint32_t vdisk)
{
  for (size_t i = 0; i < c->snap_waits.len; i++)
    for (size_t j = 0; j < c->snap_waits.ptr[i]->n; j++)
      if (c->snap_waits.ptr[i]->ids[j] == vdisk)
        return true;
  return false;
}

/* Answer the parked create I (taken, or failed with ERR) and forget it. */
static void
finish_wait (struct controller *c, size_t i, const char *err)
{
  struct snap_wait *w = c->snap_waits.ptr[i];
  char *error = NULL;
  json_object *res = NULL;

  if (err) {
    activate (c, w->ids, w->n);
    fail (&error, "%s", err);
  }
  else
    res = take_and_activate (c, w, &error);
  ctrl_admin_finish (c, w->req, res, error);
  memmove (&c->snap_waits.ptr[i], &c->snap_waits.ptr[i + 1],
           (c->snap_waits.len - i - 1) * sizeof c->snap_waits.ptr[0]);
  c->snap_waits.len--;
  snap_wait_free (w);
}

void
ctrl_snapshot_step (struct controller *c)
{
  for (size_t i = 0; i < c->snap_waits.len; ) {
    struct snap_wait *w = c->snap_waits.ptr[i];
    if (c->degraded)
      finish_wait (c, i, "the server is degraded: no snapshot taken");
    else if (!moving (c, w->ids, w->n))
      finish_wait (c, i, NULL);
    else if (sm_now_ms () >= w->deadline_ms)
      finish_wait (c, i, "copy-on-write of an earlier snapshot did not "
                   "finish within the quiesce timeout; no snapshot taken");
    else
      i++;
  }
}

void
ctrl_snapshot_stop (struct controller *c)
{
  while (c->snap_waits.len > 0)
    finish_wait (c, 0, "the server is stopping: no snapshot taken");
  free (c->snap_waits.ptr);
  c->snap_waits = (struct snap_wait_vector) { 0 };
}

/* Quiesce W's vdisks, then take the snapshots now or park the request
 * until their copy-on-write is done.  The result, NULL with *ERROR, or
 * NULL with no error (parked: W is owned by the controller). */
static json_object *
start (struct controller *c, struct snap_wait *w, char **error)
{
  json_object *res;

  if (ctrl_quiesce (c, w->ids, w->n, true) == -1) {
    activate (c, w->ids, w->n);
    /* A QUIESCE ends the vdisks' delegated movements at the agent, and
     * a failed one may have ended some: REVOKE them all, so that the
     * controller does not answer faults on them as delegated to an
     * agent that no longer holds them (ctrl_move_commanded undoes a
     * delegation only for a QUIESCE that succeeded). */
    for (size_t i = 0; i < w->n; i++)
      ctrl_move_take_back_vdisk (c, w->ids[i]);
    snap_wait_free (w);
    return fail (error, "the vdisks' I/O did not drain within %d ms; no "
                 "snapshot taken", CTRL_QUIESCE_TIMEOUT_MS);
  }
  if (moving (c, w->ids, w->n)) {
    /* Writes wait at the agents; the copier finishes these vdisks'
     * copies first (ctrl_move_claim_copy). */
    w->deadline_ms = sm_now_ms () + CTRL_QUIESCE_TIMEOUT_MS;
    if (snap_wait_vector_append (&c->snap_waits, w) == -1) {
      activate (c, w->ids, w->n);
      snap_wait_free (w);
      return fail (error, "out of memory");
    }
    w->req = ctrl_admin_park (c);
    sm_debug ("controller: snapshot %s of %s%s waits for copy-on-write",
              w->snap, w->names[0], w->n > 1 ? " (a group)" : "");
    return NULL;
  }
  res = take_and_activate (c, w, error);
  snap_wait_free (w);
  return res;
}

/* Check that vdisk NAME can have a snapshot SNAP and that it is not
 * already named in IDS[0..N).  Its id, or 0 with *ERROR. */
static uint32_t
origin_arg (struct controller *c, const char *name, const char *snap,
            const uint32_t *ids, size_t n, char **error)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk_by_name (c, name);
  char full[2 * SM_NAME_MAX + 2];

  if (v == NULL || v->parent) {
    fail (error, "no vdisk '%s'", name);
    return 0;
  }
  snprintf (full, sizeof full, "%s@%s", name, snap);
  if (strlen (full) > SM_NAME_MAX)
    fail (error, "'%s' is too long: VDISK@SNAPSHOT is at most %d "
          "characters", full, SM_NAME_MAX);
  else if (ctrl_find_vdisk_by_name (c, full))
    fail (error, "snapshot '%s' already exists", full);
  else if (c->degraded || v->read_only)
    fail (error, "vdisk '%s' is read-only", name);
  else if (ctrl_snapshot_waits_for (c, v->id))
    fail (error, "vdisk '%s' is already being snapshotted", name);
  else {
    for (size_t i = 0; i < n; i++)
      if (ids[i] == v->id) {
        fail (error, "vdisk '%s' is named twice", name);
        return 0;
      }
    return v->id;
  }
  return 0;
}

/* A new waiting create for SNAP of the N vdisks NAMES; NULL + *ERROR. */
static struct snap_wait *
snap_wait_new (struct controller *c, const char *snap, const char **names,
               size_t n, bool group, char **error)
{
  struct snap_wait *w = calloc (1, sizeof *w);

  if (w == NULL || (w->snap = strdup (snap)) == NULL
      || (w->ids = calloc (n, sizeof *w->ids)) == NULL
      || (w->names = calloc (n, sizeof *w->names)) == NULL) {
    snap_wait_free (w);
    fail (error, "out of memory");
    return NULL;
  }
  w->group = group;
  for (w->n = 0; w->n < n; w->n++) {
    if ((w->ids[w->n] = origin_arg (c, names[w->n], snap, w->ids, w->n,
                                    error)) == 0) {
      snap_wait_free (w);
      return NULL;
    }
    snprintf (w->names[w->n], sizeof w->names[w->n], "%s", names[w->n]);
  }
  return w;
}

/* One row of `snapshot list'. */
static json_object *
snapshot_row (struct controller *c, const struct sm_vdisk_info *s)
{
  json_object *o = json_object_new_object ();
  const struct sm_vdisk_info *p = ctrl_find_vdisk (c, s->parent);
  const struct sm_vdisk_info *base = ctrl_find_vdisk (c, s->base);
  const char *at = strchr (s->name, '@');
  uint64_t mapped = 0, shared = 0;

  store_map_count (c->store, s->id, &mapped);
  store_map_count_shared (c->store, s->id, &shared);
  json_add_string (o, "name", at ? at + 1 : s->name);
  json_add_string (o, "vdisk", p ? p->name : "?");
  json_add_string (o, "export", s->name);
  /* The snapshot it derives from (sql/008): the tree of snapshots. */
  if (base)
    json_add_string (o, "parent", base->name);
  else
    json_object_object_add (o, "parent", NULL);
  json_add_u64 (o, "created", s->created > 0 ? (uint64_t) s->created : 0);
  json_add_u64 (o, "size", s->size);
  json_add_u64 (o, "exclusive", (mapped - shared) << s->seg_shift);
  json_add_u64 (o, "shared", shared << s->seg_shift);
  return o;
}

/* The snapshot named by the arguments VDISK and SNAP, or NULL with
 * *ERROR. */
static const struct sm_vdisk_info *
snapshot_arg (struct controller *c, json_object *args, char **error)
{
  const char *vdisk = arg_name (args, "vdisk", error);
  const char *snap = vdisk ? arg_name (args, "snapshot", error) : NULL;
  char full[2 * SM_NAME_MAX + 2];
  const struct sm_vdisk_info *s;

  if (snap == NULL)
    return NULL;
  snprintf (full, sizeof full, "%s@%s", vdisk, snap);
  s = ctrl_find_vdisk_by_name (c, full);
  if (s == NULL || s->parent == 0)
    fail (error, "no snapshot '%s' of vdisk '%s'", snap, vdisk);
  return s && s->parent ? s : NULL;
}

json_object *
ctrl_cmd_snapshot_create (struct controller *c, json_object *args,
                          char **error)
{
  const char *vdisk = arg_name (args, "vdisk", error);
  const char *snap = vdisk ? arg_name (args, "snapshot", error) : NULL;
  struct snap_wait *w;

  if (snap == NULL
      || (w = snap_wait_new (c, snap, &vdisk, 1, false, error)) == NULL)
    return NULL;
  return start (c, w, error);
}

json_object *
ctrl_cmd_snapshot_create_group (struct controller *c, json_object *args,
                                char **error)
{
  const char *snap = arg_name (args, "snapshot", error);
  json_object *list;
  size_t n;
  struct snap_wait *w;

  if (snap == NULL)
    return NULL;
  if (!json_object_object_get_ex (args, "vdisks", &list)
      || !json_object_is_type (list, json_type_array)
      || (n = json_object_array_length (list)) == 0
      || n > SM_GROUP_MAX)
    return fail (error, "a group snapshot names 1 to %d vdisks",
                 SM_GROUP_MAX);
  {
    const char *names[SM_GROUP_MAX];
    for (size_t i = 0; i < n; i++) {
      json_object *e = json_object_array_get_idx (list, i);
      names[i] = json_object_is_type (e, json_type_string)
        ? json_object_get_string (e) : "";
    }
    if ((w = snap_wait_new (c, snap, names, n, true, error)) == NULL)
      return NULL;
  }
  return start (c, w, error);
}

json_object *
ctrl_cmd_snapshot_list (struct controller *c, json_object *args,
                        char **error)
{
  const char *vdisk = arg_string (args, "vdisk");
  const struct sm_vdisk_info *v = NULL;
  json_object *list;

  if (vdisk && ((v = ctrl_find_vdisk_by_name (c, vdisk)) == NULL
                || v->parent))
    return fail (error, "no vdisk '%s'", vdisk);
  list = json_object_new_array ();
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (c->vdisks[i].parent && (v == NULL || c->vdisks[i].parent == v->id))
      json_object_array_add (list, snapshot_row (c, &c->vdisks[i]));
  return list;
}

json_object *
ctrl_cmd_snapshot_delete (struct controller *c, json_object *args,
                          char **error)
{
  const struct sm_vdisk_info *s = snapshot_arg (c, args, error);

  if (s == NULL)
    return NULL;
  if (ctrl_admin_delete_vdisk (c, s->id, error) == -1)
    return NULL;
  return json_object_new_object ();
}
