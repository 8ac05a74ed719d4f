/* segmap: administration commands, run on the controller thread.
 *
 * The control socket (src/ctl) hands each request here through the
 * controller's queue; the command table below maps a command name to its
 * handler.  A handler returns a json-c object, or NULL with *error set
 * (malloc'd, one human sentence).  Commands that change anything commit
 * before they answer, so a successful answer is durable.
 *
 * The JSON shapes are documented in src/ctl/ctl-proto.h and segmapctl(8).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "common/size.h"
#include "config/config.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"
#include "store/container.h"

json_object *
fail (char **error, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  if (vasprintf (error, fmt, args) == -1)
    *error = NULL;
  va_end (args);
  return NULL;
}

/* Arguments ---------------------------------------------------------------- */

const char *
arg_string (json_object *args, const char *key)
{
  json_object *v;

  if (!json_object_object_get_ex (args, key, &v)
      || !json_object_is_type (v, json_type_string))
    return NULL;
  return json_object_get_string (v);
}

int
arg_u64 (json_object *args, const char *key, uint64_t *out)
{
  json_object *v;
  int64_t i;

  if (!json_object_object_get_ex (args, key, &v) || json_object_is_type (v, json_type_null))
    return 0;
  if (!json_object_is_type (v, json_type_int))
    return -1;
  i = json_object_get_int64 (v);
  if (i < 0)
    return -1;
  *out = i;
  return 1;
}

/* The name argument, checked; NULL with *error set. */
const char *
arg_name (json_object *args, const char *key, char **error)
{
  const char *name = arg_string (args, key);

  if (name == NULL)
    fail (error, "missing argument '%s'", key);
  else if (!sm_valid_name (name))
    fail (error, "invalid name '%s': names are %s", name, SM_NAME_RULE);
  else
    return name;
  return NULL;
}

/* Containers ----------------------------------------------------------------- */

struct ctrl_container *
ctrl_container_by_name (struct controller *c, const char *name)
{
  for (uint32_t id = 1; id <= c->max_container; id++)
    if (c->containers[id] && strcmp (c->containers[id]->c->name, name) == 0)
      return c->containers[id];
  return NULL;
}

static json_object *
container_row (struct controller *c, struct ctrl_container *cc)
{
  json_object *o = json_object_new_object ();
  uint64_t allocated = 0;

  container_allocated_bytes (cc->c, &allocated);
  json_add_string (o, "name", cc->c->name);
  json_add_string (o, "path", cc->c->path);
  json_add_string (o, "kind", container_kind_to_string (cc->c->kind));
  json_add_u64 (o, "size", cc->c->size);
  json_add_u64 (o, "used", alloc_used_units (cc->alloc) * SM_UNIT_SIZE);
  json_add_u64 (o, "allocated", allocated);
  json_add_u64 (o, "segments", cc->n_segments);
  json_add_bool (o, "evacuating", ctrl_container_evacuating (c, cc->c->id));
  json_add_string (o, "state", cc->failed ? "failed" : "online");
  if (cc->failed) {
    json_add_string (o, "failed", cc->failed_why ? cc->failed_why : "");
    json_add_u64 (o, "failed_at", cc->failed_at);
  }
  return o;
}

static json_object *
cmd_container_list (struct controller *c, json_object *args, char **error)
{
  json_object *list = json_object_new_array ();

  for (uint32_t id = 1; id <= c->max_container; id++)
    if (c->containers[id])
      json_object_array_add (list, container_row (c, c->containers[id]));
  return list;
}

/* Detach container ID from every agent (blocking: each answers when no
 * I/O uses its handle).  0; -1 if an agent refused or may still use it. */
static int
detach_container (struct controller *c, uint32_t id)
{
  struct msg m = { .type = MSG_CONTAINER_DETACH, .arg2 = id };

  return ctrl_broadcast_except (c, &m, ENOENT) == 0 ? 0 : -1;
}

/* Close and free CC, container ID. */
static void
free_container (struct controller *c, struct ctrl_container *cc, uint32_t id)
{
  c->n_failed -= cc->failed;
  container_close (cc->c);
  alloc_free (cc->alloc);
  free (cc->failed_why);
  free (cc);
  c->containers[id] = NULL;
}

/* Detach (best effort) and close the controller's handle of ID. */
static void
drop_container (struct controller *c, uint32_t id)
{
  detach_container (c, id);
  free_container (c, c->containers[id], id);
}

static json_object *
cmd_container_add (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);
  const char *path = arg_string (args, "path");
  struct sm_container_info ci = { 0 };
  uint64_t size = 0;

  if (name == NULL)
    return NULL;
  if (path == NULL || *path == '\0')
    return fail (error, "missing argument 'path'");
  if (arg_u64 (args, "size", &size) == -1)
    return fail (error, "'size' must be a number of bytes");
  if (size % SM_UNIT_SIZE)
    return fail (error, "container size must be a multiple of 64K");
  if (ctrl_container_by_name (c, name))
    return fail (error, "container '%s' already exists", name);
  /* Open it once to learn its real size (an existing file or a block
   * device needs no SIZE) and to refuse what cannot be used. */
  if (container_probe_size (name, path, size, &ci.size) == -1)
    return fail (error, "%s", sm_last_error ());
  if (ctrl_change (c) == -1
      || store_container_add (c->store, name, path, ci.size, &ci.id) == -1)
    return fail (error, "cannot record container '%s': %s", name,
                 sm_last_error ());
  ci.name = (char *) name;
  ci.path = (char *) path;
  if (ctrl_open_container (c, &ci) == -1) {
    store_container_remove (c->store, ci.id);
    return fail (error, "%s", sm_last_error ());
  }
  if (c->containers[ci.id]->failed) {     /* (gone since the probe) */
    fail (error, "container '%s': %s", name,
          c->containers[ci.id]->failed_why);
    free_container (c, c->containers[ci.id], ci.id);
    store_container_remove (c->store, ci.id);
    return NULL;
  }
  if (ctrl_attach_container (c, NULL, c->containers[ci.id]) != 0) {
    fail (error, "the agents cannot attach container '%s': %s", name,
          sm_last_error ());
    drop_container (c, ci.id);
    store_container_remove (c->store, ci.id);
    return NULL;
  }
  if (ctrl_commit (c, false) == -1)
    return fail (error, "cannot commit container '%s'", name);
  return container_row (c, c->containers[ci.id]);
}

static json_object *
cmd_container_remove (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);
  struct ctrl_container *cc;
  uint32_t id;

  if (name == NULL)
    return NULL;
  if ((cc = ctrl_container_by_name (c, name)) == NULL)
    return fail (error, "no container '%s'", name);
  id = cc->c->id;
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (ctrl_pool_has (&c->vdisks[i], id))
      return fail (error, "container '%s' is used by vdisk '%s'", name,
                   c->vdisks[i].name);
  if (cc->n_segments > 0)
    return fail (error, "container '%s' still holds %" PRIu64 " segments",
                 name, cc->n_segments);
  if (ctrl_delete_units_held (c, id) > 0)
    return fail (error, "container '%s' still holds freed segments being "
                 "zeroed; try again in a moment", name);
  /* The agents first: a DETACH answers once no I/O (a flush's sync
   * included) uses the agent's handle. */
  if (detach_container (c, id) == -1)
    return fail (error, "container '%s': an agent did not detach it (see "
                 "the server log); it stays", name);
  if (ctrl_change (c) == -1 || store_container_remove (c->store, id) == -1
      || ctrl_commit (c, false) == -1) {
    ctrl_attach_container (c, NULL, cc);
    return fail (error, "cannot remove container '%s'", name);
  }
  if (!cc->unlocked)
    container_unlock (cc->c);   /* another server may use it now */
  free_container (c, cc, id);
  return json_object_new_object ();
}

/* container.online {name}: a failed container serves again
 * (failure.c). */
static json_object *
cmd_container_online (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);
  struct ctrl_container *cc;

  if (name == NULL)
    return NULL;
  if ((cc = ctrl_container_by_name (c, name)) == NULL)
    return fail (error, "no container '%s'", name);
  if (ctrl_container_online (c, cc, error) == -1) {
    if (*error == NULL)
      fail (error, "container '%s' could not be brought online", name);
    return NULL;
  }
  return container_row (c, cc);
}

/* Vdisks ----------------------------------------------------------------------- */

/* Segments per container, into a JSON object by container name. */
struct distribution {
  struct controller *c;
  json_object *o;
};

static void
count_on (void *opaque, uint32_t container, uint64_t n)
{
  struct distribution *d = opaque;
  struct ctrl_container *cc = container <= d->c->max_container
    ? d->c->containers[container] : NULL;

  json_add_u64 (d->o, cc ? cc->c->name : "?", n);
}

/* V's pool, placement and segments per container into row O:
 * "containers": [NAME...], "placement", "distribution": {NAME: N}. */
static void
add_pool (struct controller *c, json_object *o, const struct sm_vdisk_info *v)
{
  json_object *names = json_object_new_array ();
  struct distribution d = { c, json_object_new_object () };

  for (unsigned i = 0; i < v->n_pool; i++) {
    struct ctrl_container *cc = c->containers[v->pool[i]];
    json_object_array_add (names, json_object_new_string (cc ? cc->c->name
                                                          : "?"));
  }
  json_object_object_add (o, "containers", names);
  json_add_string (o, "placement", sm_placement_to_string (v->placement));
  store_map_distribution (c->store, v->id, count_on, &d);
  json_object_object_add (o, "distribution", d.o);
}

static json_object *
vdisk_row (struct controller *c, const struct sm_vdisk_info *v)
{
  json_object *o = json_object_new_object ();
  struct ctrl_container *cc = c->containers[v->container_id];
  uint64_t mapped = 0, shared = 0;

  store_map_count (c->store, v->id, &mapped);
  store_map_count_shared (c->store, v->id, &shared);
  json_add_string (o, "name", v->name);
  json_add_u64 (o, "id", v->id);
  json_add_u64 (o, "created", v->created > 0 ? (uint64_t) v->created : 0);
  json_add_u64 (o, "size", v->size);
  json_add_u64 (o, "segment_size", UINT64_C(1) << v->seg_shift);
  json_add_string (o, "container", cc ? cc->c->name : "?");
  add_pool (c, o, v);
  json_add_u64 (o, "mapped_segments", mapped);
  json_add_u64 (o, "mapped", mapped << v->seg_shift);
  /* Space held by this vdisk alone, and shared with snapshots or
   * clones (freed only when the last of them goes). */
  json_add_u64 (o, "exclusive", (mapped - shared) << v->seg_shift);
  json_add_u64 (o, "shared", shared << v->seg_shift);
  json_add_bool (o, "read_only", v->read_only || c->degraded);
  if (v->clone_of && ctrl_find_vdisk (c, v->clone_of))  /* sql/007 */
    json_add_string (o, "clone_of", ctrl_find_vdisk (c, v->clone_of)->name);
  return o;
}

static json_object *
cmd_vdisk_list (struct controller *c, json_object *args, char **error)
{
  json_object *list = json_object_new_array ();

  for (size_t i = 0; i < c->n_vdisks; i++)
    if (c->vdisks[i].parent == 0)         /* snapshots: snapshot list */
      json_object_array_add (list, vdisk_row (c, &c->vdisks[i]));
  return list;
}

static const struct sm_vdisk_info *
vdisk_arg (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);
  const struct sm_vdisk_info *v;

  if (name == NULL)
    return NULL;
  if ((v = ctrl_find_vdisk_by_name (c, name)) == NULL)
    fail (error, "no vdisk '%s'", name);
  return v;
}

/* Check a vdisk size; NULL if fine, else the reason. */
static const char *
bad_vdisk_size (uint64_t size)
{
  if (size == 0)
    return "a vdisk size must be greater than 0";
  if (size % SM_SECTOR_SIZE)
    return "a vdisk size must be a multiple of 512 bytes";
  if (size > SM_VDISK_SIZE_MAX)
    return "a vdisk can be at most 8P";
  return NULL;
}

int
ctrl_pool_arg (struct controller *c, json_object *args, uint32_t *ids,
               unsigned *n, enum sm_placement *placement, char **error)
{
  const char *list = arg_string (args, "container");
  const char *how = arg_string (args, "placement");

  *n = 0;
  if (how && sm_placement_from_string (how, placement) == -1) {
    fail (error, "placement: 'fill' or 'spread', not '%s'", how);
    return -1;
  }
  char name[SM_NAME_MAX + 2];

  if (list && !sm_valid_name_list (list)) {
    fail (error, "container: NAME[,NAME...], names are %s", SM_NAME_RULE);
    return -1;
  }
  while (sm_name_list_next (&list, name)) {
    struct ctrl_container *cc;

    if ((cc = ctrl_container_by_name (c, name)) == NULL) {
      fail (error, "no container '%s'", name);
      return -1;
    }
    if (ctrl_container_evacuating (c, cc->c->id)) {
      fail (error, "container '%s' is being evacuated", name);
      return -1;
    }
    if (cc->failed) {
      fail (error, "container '%s' has failed (see 'segmapctl container "
            "list')", name);
      return -1;
    }
    for (unsigned i = 0; i < *n; i++)
      if (ids[i] == cc->c->id) {
        fail (error, "container '%s' is named twice", name);
        return -1;
      }
    if (*n == SM_POOL_MAX) {
      fail (error, "a pool has at most %d containers", SM_POOL_MAX);
      return -1;
    }
    ids[(*n)++] = cc->c->id;
  }
  return 0;
}

/* The pool of a new vdisk: named, or the first container not being
 * evacuated.  0, or -1 with *ERROR. */
static int
pick_pool (struct controller *c, json_object *args, uint32_t *ids,
           unsigned *n, enum sm_placement *placement, char **error)
{
  *placement = SM_PLACE_FILL;
  if (ctrl_pool_arg (c, args, ids, n, placement, error) == -1)
    return -1;
  for (uint32_t id = 1; *n == 0 && id <= c->max_container; id++)
    if (c->containers[id] && !ctrl_container_evacuating (c, id)
        && !c->containers[id]->failed)
      ids[(*n)++] = id;
  if (*n > 0)
    return 0;
  fail (error, "there is no container to put the vdisk on "
        "(add one with 'segmapctl container add')");
  return -1;
}

static json_object *
cmd_vdisk_create (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);
  uint64_t size = 0, seg_size = SM_SEGMENT_SIZE_DEFAULT;
  const struct sm_vdisk_info *v;
  const char *why;
  uint32_t ids[SM_POOL_MAX], id;
  enum sm_placement placement;
  unsigned n;

  if (name == NULL)
    return NULL;
  if (arg_u64 (args, "size", &size) != 1)
    return fail (error, "missing or invalid argument 'size' (bytes)");
  if ((why = bad_vdisk_size (size)) != NULL)
    return fail (error, "%s", why);
  if (arg_u64 (args, "segment_size", &seg_size) == -1
      || !sm_is_power_of_2 (seg_size) || seg_size < SM_SEGMENT_SIZE_MIN
      || seg_size > SM_SEGMENT_SIZE_MAX)
    return fail (error, "the segment size must be a power of two from 64K "
                 "to 64M");
  if (ctrl_find_vdisk_by_name (c, name))
    return fail (error, "vdisk '%s' already exists", name);
  if (pick_pool (c, args, ids, &n, &placement, error) == -1)
    return NULL;
  if (ctrl_change (c) == -1
      || store_vdisk_create (c->store, name, size, sm_log2 (seg_size),
                             ids[0], &id) == -1
      || store_vdisk_set_pool (c->store, id, placement, ids, n) == -1
      || ctrl_commit (c, false) == -1 || ctrl_reload_vdisks (c) == -1)
    return fail (error, "cannot record vdisk '%s'", name);
  v = ctrl_find_vdisk (c, id);
  if (ctrl_announce_vdisk (c, NULL, v) == -1)
    return fail (error, "vdisk '%s' was recorded but could not be served",
                 name);
  return vdisk_row (c, v);
}

static json_object *
cmd_vdisk_info (struct controller *c, json_object *args, char **error)
{
  const struct sm_vdisk_info *v = vdisk_arg (c, args, error);
  json_object *o;

  if (v == NULL)
    return NULL;
  o = vdisk_row (c, v);
  json_add_u64 (o, "segments",
                (v->size + (UINT64_C(1) << v->seg_shift) - 1) >> v->seg_shift);
  return o;
}

static json_object *
cmd_vdisk_resize (struct controller *c, json_object *args, char **error)
{
  const struct sm_vdisk_info *v = vdisk_arg (c, args, error);
  char name[SM_NAME_MAX + 1];
  uint64_t size;
  uint32_t id;
  const char *why;

  if (v == NULL)
    return NULL;
  snprintf (name, sizeof name, "%s", v->name);
  if (arg_u64 (args, "size", &size) != 1)
    return fail (error, "missing or invalid argument 'size' (bytes)");
  if ((why = bad_vdisk_size (size)) != NULL)
    return fail (error, "%s", why);
  if (size < v->size)
    return fail (error, "vdisk '%s' is %" PRIu64 " bytes: vdisks only grow",
                 v->name, v->size);
  id = v->id;
  if (ctrl_change (c) == -1
      || store_vdisk_resize (c->store, id, size) == -1
      || ctrl_commit (c, false) == -1 || ctrl_reload_vdisks (c) == -1
      || ctrl_announce_vdisk (c, NULL, ctrl_find_vdisk (c, id)) == -1)
    return fail (error, "cannot resize vdisk '%s'", name);
  return vdisk_row (c, ctrl_find_vdisk (c, id));
}

int
ctrl_admin_delete_vdisk (struct controller *c, uint32_t id, char **error)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, id);
  struct msg m = { .type = MSG_DELETE_TABLE, .vdisk = id };
  char name[SM_NAME_MAX + 1];

  snprintf (name, sizeof name, "%s", v->name);
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (c->vdisks[i].parent == id) {
      fail (error, "vdisk '%s' has snapshots (%s...): delete them first",
            name, c->vdisks[i].name);
      return -1;
    }
  /* The agents first: they stop serving and drain, so nothing writes
   * the segments about to be freed.  An unknown outcome frees
   * nothing. */
  if (ctrl_broadcast_except (c, &m, ENOENT) != 0) {
    fail (error, "cannot stop serving vdisk '%s'", name);
    return -1;
  }
  /* Its segments are freed in the background (delete.c); V goes with
   * the reload. */
  if (ctrl_delete_start (c, id) == -1) {
    fail (error, "cannot delete vdisk '%s'", name);
    return -1;
  }
  return 0;
}

static json_object *
cmd_vdisk_delete (struct controller *c, json_object *args, char **error)
{
  const struct sm_vdisk_info *v = vdisk_arg (c, args, error);

  if (v == NULL || ctrl_admin_delete_vdisk (c, v->id, error) == -1)
    return NULL;
  return json_object_new_object ();
}

/* vdisk.set {name, read_only}: stored first, then the agent's table is
 * told (NEW_TABLE with its flag), so the answer means "no write starts
 * any more" (or "writes work again"). */
static json_object *
cmd_vdisk_set (struct controller *c, json_object *args, char **error)
{
  const struct sm_vdisk_info *v = vdisk_arg (c, args, error);
  char name[SM_NAME_MAX + 1];
  json_object *ro;
  uint32_t id;

  if (v == NULL)
    return NULL;
  if (!json_object_object_get_ex (args, "read_only", &ro)
      || !json_object_is_type (ro, json_type_boolean))
    return fail (error, "missing or invalid argument 'read_only' "
                 "(true or false)");
  snprintf (name, sizeof name, "%s", v->name);
  id = v->id;
  if (ctrl_change (c) == -1
      || store_vdisk_set_read_only (c->store, id,
                                    json_object_get_boolean (ro)) == -1
      || ctrl_commit (c, false) == -1 || ctrl_reload_vdisks (c) == -1
      || ctrl_announce_vdisk (c, NULL, ctrl_find_vdisk (c, id)) == -1)
    return fail (error, "cannot set the mode of vdisk '%s'", name);
  return vdisk_row (c, ctrl_find_vdisk (c, id));
}

/* Status and check ------------------------------------------------------------- */

/* The database's needs_check flag; true when it cannot be read (a
 * database that cannot answer needs checking). */
static bool
stored_needs_check (struct controller *c)
{
  CLEANUP_FREE char *v = NULL;

  if (store_meta_get (c->store, "needs_check", &v) == -1)
    return true;
  return v != NULL && strcmp (v, "1") == 0;
}

static json_object *
cmd_status (struct controller *c, json_object *args, char **error)
{
  bool needs_check = stored_needs_check (c);  /* one read of the store */
  json_object *o = json_object_new_object ();
  json_object *agent = json_object_new_object ();
  json_object *ctrl = json_object_new_object ();
  uint64_t st[MSG_STAT_COUNT];
  unsigned n_containers = 0;

  for (uint32_t id = 1; id <= c->max_container; id++)
    n_containers += c->containers[id] != NULL;
  /* The agents' counters, asked by GET_STATS and summed. */
  ctrl_agent_stats (c, NULL, st);
  json_add_string (o, "version", PACKAGE_VERSION);
  json_add_u64 (o, "uptime", time (NULL) - c->started);
  json_add_string (o, "state_dir", c->cfg->state_dir);
  json_add_string (o, "database", c->cfg->database);
  json_add_string (o, "socket", c->cfg->socket);
  /* The stored flag, as the next start will see it; read-only also
   * while this run is degraded but could not store it. */
  json_add_bool (o, "read_only", c->degraded || needs_check);
  json_add_bool (o, "needs_check", needs_check);
  json_add_u64 (o, "vdisks", c->n_vdisks);
  json_add_u64 (o, "containers", n_containers);
  json_add_u64 (o, "failed_containers", c->n_failed);
  json_add_u64 (o, "agents", c->agents.len);
  json_add_u64 (agent, "entries", st[MSG_STAT_ENTRIES]);
  json_add_u64 (agent, "memory", st[MSG_STAT_MEMORY]);
  json_add_u64 (agent, "memory_limit", st[MSG_STAT_MEMORY_LIMIT]);
  json_add_u64 (agent, "faults", st[MSG_STAT_FAULTS]);
  json_add_u64 (agent, "forgotten", st[MSG_STAT_EVICTED]);
  json_add_u64 (agent, "granted_writes", st[MSG_STAT_GRANTS_USED]);
  json_add_u64 (ctrl, "commits", atomic_load (&c->commits));
  json_add_u64 (ctrl, "allocations", atomic_load (&c->allocations));
  json_add_u64 (ctrl, "pending", c->frees.len);
  json_object_object_add (o, "agent", agent);
  json_object_object_add (o, "controller", ctrl);
  return o;
}

/* One row of `segmapctl agents': the controller's view of the agent,
 * and what the agent itself says (GET_STATS; null when it did not
 * answer). */
static json_object *
agent_row (struct controller *c, struct ctrl_agent *ag)
{
  json_object *o = json_object_new_object ();
  uint64_t st[MSG_STAT_COUNT];
  bool answered = ctrl_agent_stats (c, ag, st) == 1;
  time_t now = time (NULL);

  json_add_u64 (o, "id", ag->id);
  json_add_string (o, "name", ag->name);
  json_add_u64 (o, "version", ag->version);
  if (answered) {
    json_add_u64 (o, "tables", st[MSG_STAT_TABLES]);
    json_add_bool (o, "degraded", st[MSG_STAT_DEGRADED] != 0);
  }
  else {
    json_object_object_add (o, "tables", NULL);
    json_object_object_add (o, "degraded", NULL);
  }
  json_add_u64 (o, "grants", ctrl_grants_of_agent (c, ag));
  json_add_u64 (o, "faults", ag->faults);
  json_add_u64 (o, "allocations", ag->allocations);
  json_add_u64 (o, "flushes", ag->flushes);
  json_add_u64 (o, "unknown_outcomes", ag->unknown);
  json_add_u64 (o, "registered", (uint64_t) ag->registered);
  json_add_u64 (o, "last_heard", (uint64_t) ag->last_heard);
  json_add_u64 (o, "last_heard_ago",
                now > ag->last_heard ? (uint64_t) (now - ag->last_heard) : 0);
  return o;
}

static json_object *
cmd_agents (struct controller *c, json_object *args, char **error)
{
  json_object *list = json_object_new_array ();

  for (size_t i = 0; i < c->agents.len; i++)
    json_object_array_add (list, agent_row (c, c->agents.ptr[i]));
  return list;
}

static json_object *
cmd_check (struct controller *c, json_object *args, char **error)
{
  json_object *o = json_object_new_object ();
  json_object *problems = json_object_new_array ();
  json_object *checked = json_object_new_object ();
  int n = ctrl_check (c, problems, checked);

  if (n < 0) {
    json_object_put (o);
    json_object_put (problems);
    json_object_put (checked);
    return fail (error, "the check itself failed (see the server log)");
  }
  json_add_bool (o, "ok", n == 0);
  json_object_object_add (o, "problems", problems);
  json_object_object_add (o, "checked", checked);
  return o;
}

static const struct {
  const char *name;
  admin_fn *fn;
} commands[] = {
  { "status", cmd_status },
  { "check", cmd_check },
  { "agents", cmd_agents },
  { "container.list", cmd_container_list },
  { "container.add", cmd_container_add },
  { "container.remove", cmd_container_remove },
  { "container.evacuate", ctrl_cmd_container_evacuate },
  { "container.online", cmd_container_online },
  { "vdisk.list", cmd_vdisk_list },
  { "vdisk.create", cmd_vdisk_create },
  { "vdisk.info", cmd_vdisk_info },
  { "vdisk.resize", cmd_vdisk_resize },
  { "vdisk.delete", cmd_vdisk_delete },
  { "vdisk.set", cmd_vdisk_set },
  { "vdisk.diff", ctrl_cmd_vdisk_diff },
  { "snapshot.create", ctrl_cmd_snapshot_create },
  { "snapshot.create-group", ctrl_cmd_snapshot_create_group },
  { "snapshot.list", ctrl_cmd_snapshot_list },
  { "snapshot.delete", ctrl_cmd_snapshot_delete },
  { "snapshot.rollback", ctrl_cmd_snapshot_rollback },
  { "clone.create", ctrl_cmd_clone_create },
  { "clone.flatten", ctrl_cmd_clone_flatten },
  { "migrate", ctrl_cmd_migrate },
  { "job.list", ctrl_cmd_job_list },
  { "job.info", ctrl_cmd_job_info },
  { "job.cancel", ctrl_cmd_job_cancel },
  { "job.pause", ctrl_cmd_job_pause },
  { "job.resume", ctrl_cmd_job_resume },
  { "iscsi.host.list", ctrl_cmd_host_list },
  { "iscsi.host.add", ctrl_cmd_host_add },
  { "iscsi.host.remove", ctrl_cmd_host_remove },
  { "iscsi.host.allow", ctrl_cmd_host_allow },
  { "iscsi.host.deny", ctrl_cmd_host_deny },
  { "iscsi.host.chap", ctrl_cmd_host_chap },
  { "iscsi.chap.get", ctrl_cmd_chap_get },
  { "iscsi.chap.set", ctrl_cmd_chap_set },
};

json_object *
ctrl_admin (struct controller *c, const char *cmd, json_object *args,
            char **error)
{
  *error = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (commands[i].name, cmd) == 0) {
      json_object *r = commands[i].fn (c, args, error);
      if (r == NULL && *error == NULL && c->admin_req != NULL)
        *error = strdup ("internal error");   /* not parked: a bug */
      return r;
    }
  return fail (error, "unknown command '%s'", cmd);
}
