/* segmap: snapshot commands (DESIGN §5 Snapshot, sql/006).
 *
 * A snapshot is a read-only vdisk named VDISK@SNAP whose map rows share
 * the origin's segments (refcount > 1).  Taking one costs metadata
 * only, O(mapped segments), and no data is copied; copy-on-write
 * (cow.c) moves a shared segment of the origin when it is next
 * written.
 *
 * create, on the controller thread, in one turn:
 *
 *   QUIESCE the origin at the agents   new I/O waits, in-flight I/O
 *                                      drains (timeout: ACTIVATE, fail)
 *   one transaction, committed with    the snapshot row, a copy of the
 *   the containers synced               map rows, refcount += 1 per
 *                                      shared row, NOWRITE on the
 *                                      origin's located rows
 *   SET_STATUS NOWRITE (blocking)      over the runs of mapped segments
 *                                      at the agents
 *   NEW_TABLE for the snapshot         served read-only as VDISK@SNAP
 *   ACTIVATE
 *
 * Every write acknowledged before the command is in the snapshot: the
 * agent queues a first write's ALLOCATED before acknowledging it, and
 * the command is queued after it, so the commit covers it; the sync
 * makes the data durable as a FLUSH would.  A vdisk with a
 * copy-on-write in progress is refused (EBUSY, try again): its map rows
 * do not yet say where all of a moving segment's data is.
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

#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"

#define QUIESCE_TIMEOUT_MS 10000

/* QUIESCE (ON) or ACTIVATE vdisk ID at every agent.  0 or -1. */
static int
quiesce (struct controller *c, uint32_t id, bool on)
{
  struct msg m = { .type = on ? MSG_QUIESCE : MSG_ACTIVATE,
                   .vdisks = &id, .n_vdisks = 1,
                   .arg = on ? QUIESCE_TIMEOUT_MS : 0 };

  return ctrl_broadcast (c, &m) == 0 ? 0 : -1;
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

/* The quiesced part of create: record SNAP of ORIGIN and show it.  The
 * new snapshot's id in *ID; 0, or -1 with *ERROR. */
static int
take (struct controller *c, uint32_t origin, const char *snap, uint32_t *id,
      char **error)
{
  char name[SM_NAME_MAX + 1];

  snprintf (name, sizeof name, "%s", ctrl_find_vdisk (c, origin)->name);
  if (ctrl_change (c) == -1
      || store_snapshot_create (c->store, origin, name, snap, id) == -1) {
    fail (error, "cannot record snapshot '%s@%s': %s", name, snap,
          sm_last_error ());
    return -1;
  }
  if (ctrl_commit (c, true) == -1) {
    fail (error, "cannot commit snapshot '%s@%s'", name, snap);
    return -1;
  }
  if (show_nowrite (c, origin) == -1) {
    ctrl_fence_vdisk (c, ctrl_find_vdisk (c, origin), "an agent did not "
                      "take the no-write state of a snapshot's origin");
    fail (error, "snapshot '%s@%s' was taken, but vdisk '%s' had to be "
          "fenced read-only (see the server log)", name, snap, name);
    return -1;
  }
  if (ctrl_reload_vdisks (c) == -1
      || ctrl_announce_vdisk (c, NULL, ctrl_find_vdisk (c, *id)) == -1) {
    fail (error, "snapshot '%s@%s' was taken but cannot be served", name,
          snap);
    return -1;
  }
  return 0;
}

/* One row of `snapshot list'. */
static json_object *
snapshot_row (struct controller *c, const struct sm_vdisk_info *s)
{
  json_object *o = json_object_new_object ();
  const struct sm_vdisk_info *p = ctrl_find_vdisk (c, s->parent);
  const char *at = strchr (s->name, '@');

  json_add_string (o, "name", at ? at + 1 : s->name);
  json_add_string (o, "vdisk", p ? p->name : "?");
  json_add_string (o, "export", s->name);
  json_add_u64 (o, "created", s->created > 0 ? (uint64_t) s->created : 0);
  json_add_u64 (o, "size", s->size);
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
  const struct sm_vdisk_info *v;
  char full[2 * SM_NAME_MAX + 2];
  uint32_t origin, id;
  int r;

  if (snap == NULL)
    return NULL;
  if ((v = ctrl_find_vdisk_by_name (c, vdisk)) == NULL || v->parent)
    return fail (error, "no vdisk '%s'", vdisk);
  snprintf (full, sizeof full, "%s@%s", vdisk, snap);
  if (strlen (full) > SM_NAME_MAX)
    return fail (error, "'%s' is too long: VDISK@SNAPSHOT is at most %d "
                 "characters", full, SM_NAME_MAX);
  if (ctrl_find_vdisk_by_name (c, full))
    return fail (error, "snapshot '%s' already exists", full);
  if (c->degraded || v->read_only)
    return fail (error, "vdisk '%s' is read-only", vdisk);
  origin = v->id;
  if (ctrl_move_zero_run (c, origin, 0, UINT64_MAX) != UINT64_MAX)
    return fail (error, "vdisk '%s' is still copying shared segments "
                 "(copy-on-write of an earlier snapshot); try again in a "
                 "moment", vdisk);
  if (quiesce (c, origin, true) == -1) {
    quiesce (c, origin, false);
    return fail (error, "vdisk '%s': its I/O did not drain within %d ms; "
                 "no snapshot taken", vdisk, QUIESCE_TIMEOUT_MS);
  }
  r = take (c, origin, snap, &id, error);
  if (quiesce (c, origin, false) == -1)
    sm_error ("controller: vdisk %s: an agent did not take ACTIVATE",
              full);
  if (r == -1)
    return NULL;
  return snapshot_row (c, ctrl_find_vdisk (c, id));
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
