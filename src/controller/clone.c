/* segmap: writable clones and snapshot rollback (sql/007-clone.sql).
 *
 * Both make a vdisk's map a copy of a snapshot's: the rows are copied,
 * each segment gains a reference per copy, and the copies that have a
 * location carry NOWRITE, so the first write to a shared segment is a
 * copy-on-write (cow.c) and the snapshot never changes.  Metadata only,
 * O(mapped segments), one transaction.
 *
 * clone create VDISK SNAP NEW: a new ordinary vdisk (served on NBD and
 * iSCSI like any other) with the snapshot's size, segment size and
 * container, linked to the snapshot (clone_of) until `clone flatten'
 * (flatten.c) gives it its own segments.  The snapshot is read-only,
 * so nothing needs to drain: record, commit, NEW_TABLE.  Snapshots of
 * a clone are snapshots like any other, so clones and snapshots make a
 * tree.  Deleting the snapshot leaves the clone intact (its rows hold
 * their own references) and clears its link (a trigger, sql/007).
 *
 * snapshot rollback VDISK SNAP: VDISK's content becomes SNAP's, in the
 * order snapshot create uses:
 *
 *   refuse                     a copy-on-write in progress (movements:
 *                              the map does not yet say where a moving
 *                              segment's data is: EBUSY, try again), a
 *                              job on the vdisk (cancel it first)
 *   QUIESCE the vdisk          new I/O waits, in-flight I/O drains;
 *                              then the ALLOCATED messages of the writes
 *                              that drained are recorded first
 *   one transaction            the vdisk's rows go (references dropped;
 *                              segments nothing else references are
 *                              zeroed, freed after the commit), the
 *                              snapshot's rows are shared in, the size
 *                              becomes the snapshot's
 *   the agents                 same size: every entry made invalid
 *                              (SET_ENTRY, blocking), so the next I/O
 *                              loads the new rows; smaller (the vdisk
 *                              grew since the snapshot): the table is
 *                              dropped and made again at the new size
 *                              (connections holding it fail their I/O
 *                              and must reconnect)
 *   ACTIVATE
 *
 * All of it runs in one controller turn, so no segment freed by the
 * rollback is handed out while an agent may still map it.  Segments
 * only the vdisk held are zeroed after the commit (by the delete
 * pipeline's worker) and then given to the allocator, as a trim's are:
 * a store failure in the middle
 * makes the controller degraded, and the vdisk may then read zeros
 * where its discarded data was.  If an agent
 * does not confirm the new table after the commit, the vdisk is fenced
 * read-only, as for snapshot create.
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

/* The snapshot named by the arguments VDISK and SNAPSHOT, or NULL with
 * *ERROR. */
static const struct sm_vdisk_info *
snapshot_of_args (struct controller *c, json_object *args, char **error)
{
  const char *vdisk = arg_name (args, "vdisk", error);
  const char *snap = vdisk ? arg_name (args, "snapshot", error) : NULL;
  const struct sm_vdisk_info *v, *s;
  char full[2 * SM_NAME_MAX + 2];

  if (snap == NULL)
    return NULL;
  if ((v = ctrl_find_vdisk_by_name (c, vdisk)) == NULL || v->parent) {
    fail (error, "no vdisk '%s'", vdisk);
    return NULL;
  }
  snprintf (full, sizeof full, "%s@%s", vdisk, snap);
  s = ctrl_find_vdisk_by_name (c, full);
  if (s == NULL || s->parent != v->id) {
    fail (error, "no snapshot '%s' of vdisk '%s'", snap, vdisk);
    return NULL;
  }
  return s;
}

json_object *
ctrl_cmd_clone_create (struct controller *c, json_object *args,
                       char **error)
{
  const struct sm_vdisk_info *s = snapshot_of_args (c, args, error);
  const char *name = s ? arg_name (args, "name", error) : NULL;
  char snap[SM_NAME_MAX + 1];
  json_object *o;
  uint32_t id;

  if (name == NULL)
    return NULL;
  if (ctrl_find_vdisk_by_name (c, name))
    return fail (error, "vdisk '%s' already exists", name);
  if (c->degraded)
    return fail (error, "the controller is read-only (see 'segmapctl "
                 "status')");
  snprintf (snap, sizeof snap, "%s", s->name);
  if (ctrl_change (c) == -1
      || store_clone_create (c->store, s->id, name, &id) == -1) {
    return fail (error, "cannot record clone '%s' of snapshot '%s': %s",
                 name, snap, sm_last_error ());
  }
  if (ctrl_commit (c, false) == -1 || ctrl_reload_vdisks (c) == -1)
    return fail (error, "cannot record clone '%s'", name);
  if (ctrl_announce_vdisk (c, NULL, ctrl_find_vdisk (c, id)) == -1)
    return fail (error, "clone '%s' was recorded but could not be served",
                 name);
  o = json_object_new_object ();
  json_add_string (o, "name", name);
  json_add_string (o, "clone_of", snap);
  json_add_u64 (o, "size", ctrl_find_vdisk (c, id)->size);
  return o;
}

static uint64_t
n_segments (const struct sm_vdisk_info *v)
{
  return (v->size + (UINT64_C(1) << v->seg_shift) - 1) >> v->seg_shift;
}

/* The agents' tables of V (OLD_SIZE bytes before the rollback) show the
 * new map.  0 or -1. */
static int
show_rollback (struct controller *c, const struct sm_vdisk_info *v,
               uint64_t old_size)
{
  sm_entry invalid = ENTRY_INVALID;
  struct msg forget = { .type = MSG_SET_ENTRY, .vdisk = v->id, .first = 0,
                        .count = (old_size + (UINT64_C(1) << v->seg_shift)
                                  - 1) >> v->seg_shift,
                        .flags = MSG_F_BLOCKING, .entries = &invalid,
                        .n_entries = 1 };
  struct msg drop = { .type = MSG_DELETE_TABLE, .vdisk = v->id };

  if (v->size == old_size)
    return ctrl_broadcast (c, &forget) == 0 ? 0 : -1;
  if (ctrl_broadcast_except (c, &drop, ENOENT) != 0)
    return -1;
  ctrl_drop_grants (c, v->id);  /* they went with the tables */
  return ctrl_announce_vdisk (c, NULL, v);
}

/* The quiesced part of rollback: V's map becomes S's.  0, or -1 with
 * *ERROR. */
static int
roll_back (struct controller *c, uint32_t vid, uint32_t sid, char **error)
{
  const struct sm_vdisk_info *v, *s;
  uint64_t old_size, size;
  char name[SM_NAME_MAX + 1];

  ctrl_take_allocated (c, vid);
  v = ctrl_find_vdisk (c, vid);
  s = ctrl_find_vdisk (c, sid);
  if (v == NULL || s == NULL || v->read_only || c->degraded) {
    fail (error, "vdisk %" PRIu32 " became read-only or went while its "
          "I/O drained; nothing was changed", vid);
    return -1;
  }
  old_size = v->size;
  size = s->size;
  snprintf (name, sizeof name, "%s", v->name);
  if (ctrl_change (c) == -1
      || ctrl_free_vdisk_range (c, v, 0, n_segments (v)) == -1
      || store_map_share (c->store, sid, vid) == -1
      || store_cbt_reset (c->store, vid, sid) == -1
      || (size != old_size && store_vdisk_resize (c->store, vid, size) == -1)) {
    ctrl_set_degraded (c, "a rollback could not be recorded");
    fail (error, "cannot roll vdisk '%s' back: %s", name, sm_last_error ());
    return -1;
  }
  if (ctrl_commit (c, false) == -1 || ctrl_reload_vdisks (c) == -1) {
    fail (error, "cannot commit the rollback of vdisk '%s'", name);
    return -1;
  }
  v = ctrl_find_vdisk (c, vid);
  if (show_rollback (c, v, old_size) == -1) {
    ctrl_fence_vdisk (c, ctrl_find_vdisk (c, vid), "an agent did not take "
                      "the table of a rolled back vdisk");
    fail (error, "vdisk '%s' was rolled back, but had to be fenced "
          "read-only (see the server log)", name);
    return -1;
  }
  return 0;
}

json_object *
ctrl_cmd_snapshot_rollback (struct controller *c, json_object *args,
                            char **error)
{
  const struct sm_vdisk_info *s = snapshot_of_args (c, args, error);
  const struct sm_vdisk_info *v = s ? ctrl_find_vdisk (c, s->parent) : NULL;
  const struct sm_job *busy;
  char name[SM_NAME_MAX + 1];
  uint32_t vid, sid;
  json_object *o;
  int r;

  if (v == NULL)
    return NULL;
  snprintf (name, sizeof name, "%s", v->name);
  if (c->degraded || v->read_only)
    return fail (error, "vdisk '%s' is read-only", name);
  if ((busy = ctrl_job_of_vdisk (c, v->id)) != NULL)
    return fail (error, "vdisk '%s' has job %" PRIu64 " (%s, %s): cancel "
                 "it first", name, busy->id,
                 sm_job_kind_to_string (busy->kind),
                 sm_job_state_to_string (busy->state));
  if (ctrl_move_zero_run (c, v->id, 0, UINT64_MAX) != UINT64_MAX)
    return fail (error, "vdisk '%s' is still copying shared segments "
                 "(copy-on-write); try again in a moment", name);
  vid = v->id;
  sid = s->id;
  if (ctrl_quiesce (c, &vid, 1, true) == -1) {
    ctrl_quiesce (c, &vid, 1, false);
    return fail (error, "vdisk '%s': its I/O did not drain within %d ms; "
                 "nothing was changed", name, CTRL_QUIESCE_TIMEOUT_MS);
  }
  r = roll_back (c, vid, sid, error);
  if (ctrl_quiesce (c, &vid, 1, false) == -1)
    sm_error ("controller: vdisk %s: an agent did not take ACTIVATE", name);
  if (r == -1)
    return NULL;
  o = json_object_new_object ();
  json_add_string (o, "vdisk", name);
  json_add_string (o, "snapshot", ctrl_find_vdisk (c, sid)->name);
  json_add_u64 (o, "size", ctrl_find_vdisk (c, vid)->size);
  return o;
}
