/* segmap: controller start-up.
 *
 * Order matters:
 *   1. open (or create) the database; note whether the last shutdown was
 *      clean and mark it unclean for this run;
 *   2. reconcile the configuration: declared containers and vdisks that
 *      the database does not know are created; known ones must agree;
 *   3. open every container and rebuild its allocator from the durable
 *      segment table (free space = complement of used space);
 *   4. load the data movements (faults-move.c) of live vdisks and of
 *      those being deleted, before any agent can fault, and the jobs
 *      to resume (jobs.c);
 *   5. after an unclean shutdown, zero every free range: a segment that
 *      was allocated (or freed) in a transaction that never committed may
 *      hold data, and must read zeros before it is handed out again.  A
 *      movement's alt segment is not free (it has a segment row, sql/005),
 *      so the blocks written there survive;
 * Any failure stops start-up with a message naming the problem.  Agents
 * REGISTER afterwards (agents.c): each is then given every container
 * (CONTAINER_ATTACH) and every vdisk's table (NEW_TABLE).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "common/size.h"
#include "config/config.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"
#include "store/container.h"
#include "store/lock.h"

static int
make_state_dir (const char *dir)
{
  if (mkdir (dir, 0700) == -1 && errno != EEXIST) {
    sm_error ("cannot create state directory %s: %m", dir);
    return -1;
  }
  return 0;
}

/* Create DIR if needed and lock it (DIR/segmap.lock holds our pid);
 * again after nbdkit's fork, the lock is already ours. */
static int
lock_state_dir (const char *dir)
{
  CLEANUP_FREE char *path = NULL;
  CLEANUP_FREE char *what = NULL;

  if (make_state_dir (dir) == -1)
    return -1;
  if (asprintf (&path, "%s/segmap.lock", dir) == -1 ||
      asprintf (&what, "state directory %s", dir) == -1) {
    sm_error ("asprintf: %m");
    return -1;
  }
  return sm_lock_take (path, what, SM_LOCK_PIDFILE);
}

struct sm_vdisk_info *
ctrl_find_vdisk (struct controller *c, uint32_t id)
{
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (c->vdisks[i].id == id)
      return &c->vdisks[i];
  return NULL;
}

struct sm_vdisk_info *
ctrl_find_vdisk_by_name (struct controller *c, const char *name)
{
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (strcmp (c->vdisks[i].name, name) == 0)
      return &c->vdisks[i];
  return NULL;
}

int
ctrl_reload_vdisks (struct controller *c)
{
  struct sm_vdisk_info *v;
  size_t n;

  if (store_vdisk_list (c->store, &v, &n) == -1)
    return -1;
  sm_vdisk_info_free (c->vdisks, c->n_vdisks);
  c->vdisks = v;
  c->n_vdisks = n;
  return 0;
}

/* Containers ------------------------------------------------------------ */

static int
mark_segment_used (void *opaque, uint32_t container, uint64_t unit,
                   uint32_t units, uint32_t refcount)
{
  struct ctrl_container *cc = opaque;

  if (alloc_mark_used (cc->alloc, unit, units) == -1) {
    sm_error ("container %s: segment at unit %" PRIu64 " is corrupt "
              "(overlapping or out of range); run 'segmapctl check'",
              cc->c->name, unit);
    return -1;
  }
  cc->n_segments++;
  return 0;
}

/* Open CI for CC at start-up.  A container the database knows whose
 * file or device cannot be opened (gone, failing) is not created
 * again: it gets a placeholder handle and fails (failure.c), and the
 * rest is served.  0, or -1 (out of memory, or its lock is held). */
static int
open_known (struct controller *c, struct ctrl_container *cc,
            const struct sm_container_info *ci, int *open_errno)
{
  cc->c = container_open_existing (ci->id, ci->name, ci->path, ci->size);
  if (cc->c == NULL) {
    *open_errno = errno ? errno : EIO;
    cc->c = container_placeholder (ci->id, ci->name, ci->path, ci->size);
    cc->unlocked = true;
    return cc->c ? 0 : -1;
  }
  return container_lock_exclusive (cc->c);
}

int
ctrl_open_container (struct controller *c, const struct sm_container_info *ci)
{
  struct ctrl_container *cc = calloc (1, sizeof *cc);
  int open_errno = 0;

  if (cc == NULL) {
    sm_error ("cannot allocate container: %m");
    return -1;
  }
  if (open_known (c, cc, ci, &open_errno) == -1)
    goto fail;
  cc->alloc = alloc_new (cc->c->size / SM_UNIT_SIZE);
  if (cc->alloc == NULL)
    goto fail;
  if (store_segment_foreach (c->store, ci->id, mark_segment_used, cc) != 0)
    goto fail;
  c->containers[ci->id] = cc;
  if (ci->id > c->max_container)
    c->max_container = ci->id;
  if (ci->failed) {
    cc->failed = true;
    cc->failed_why = strdup (ci->failed);
    cc->failed_at = ci->failed_at;
    c->n_failed++;
    sm_error ("container %s failed earlier (%s): its segments report "
              "medium errors until 'segmapctl container online %s'",
              ci->name, ci->failed, ci->name);
  }
  else if (open_errno)
    ctrl_container_fail (c, ci->id, open_errno, "opening it at start-up");
  return 0;

 fail:
  container_close (cc->c);
  alloc_free (cc->alloc);
  free (cc);
  return -1;
}

void
ctrl_close_containers (struct controller *c)
{
  for (uint32_t id = 1; id <= c->max_container; id++) {
    struct ctrl_container *cc = c->containers[id];
    if (cc == NULL)
      continue;
    container_close (cc->c);
    alloc_free (cc->alloc);
    free (cc->failed_why);
    free (cc);
    c->containers[id] = NULL;
  }
}

/* Find a declared container in the store, adding it if new. */
static int
reconcile_container (struct controller *c, const struct cfg_container *cc,
                     struct sm_container_info *known, size_t n_known)
{
  uint64_t size;
  uint32_t id;

  if (cc->uri) {
    sm_error ("%s:%u: container %s: iSCSI containers (uri=) are not "
              "supported by this build yet", c->cfg->file, cc->line,
              cc->name);
    return -1;
  }
  for (size_t i = 0; i < n_known; i++) {
    if (strcmp (known[i].name, cc->name) != 0)
      continue;
    if (strcmp (known[i].path, cc->path) != 0) {
      sm_error ("container %s is recorded with path %s, but the "
                "configuration says %s", cc->name, known[i].path, cc->path);
      return -1;
    }
    if (cc->size > known[i].size)
      return store_container_set_size (c->store, known[i].id, cc->size);
    return 0;
  }
  /* New: without size =, an existing file or device gives its own. */
  if (container_probe_size (cc->name, cc->path, cc->size, &size) == -1)
    return -1;
  return store_container_add (c->store, cc->name, cc->path, size, &id);
}

static int
open_containers (struct controller *c)
{
  struct sm_container_info *ci;
  size_t n;
  int r = 0;

  if (store_container_list (c->store, &ci, &n) == -1)
    return -1;
  for (size_t i = 0; i < c->cfg->n_containers && r == 0; i++)
    r = reconcile_container (c, &c->cfg->containers[i], ci, n);
  sm_container_info_free (ci, n);
  if (r == -1 || store_container_list (c->store, &ci, &n) == -1)
    return -1;
  for (size_t i = 0; i < n && r == 0; i++) {
    r = ctrl_open_container (c, &ci[i]);
    /* A new container learns its real size from the file. */
    if (r == 0 && c->containers[ci[i].id]->c->size != ci[i].size)
      r = store_container_set_size (c->store, ci[i].id,
                                    c->containers[ci[i].id]->c->size);
  }
  sm_container_info_free (ci, n);
  return r;
}

/* Vdisks ------------------------------------------------------------------ */

static uint32_t
container_id_by_name (struct controller *c, const char *name)
{
  for (uint32_t id = 1; id <= c->max_container; id++)
    if (c->containers[id] && strcmp (c->containers[id]->c->name, name) == 0)
      return id;
  return 0;
}

/* The pool of CV ("container = NAME[,NAME...]") into IDS[0..*N-1].  0,
 * or -1 logged. */
static int
config_pool (struct controller *c, const struct cfg_vdisk *cv, uint32_t *ids,
             unsigned *n)
{
  const char *list = cv->container;
  char name[SM_NAME_MAX + 2];

  for (*n = 0; sm_name_list_next (&list, name); (*n)++) {
    if (*n == SM_POOL_MAX) {
      sm_error ("%s:%u: vdisk %s: a pool has at most %d containers",
                c->cfg->file ? c->cfg->file : "(defaults)", cv->line,
                cv->name, SM_POOL_MAX);
      return -1;
    }
    if ((ids[*n] = container_id_by_name (c, name)) == 0) {
      sm_error ("%s:%u: vdisk %s: no container %s", c->cfg->file
                ? c->cfg->file : "(defaults)", cv->line, cv->name, name);
      return -1;
    }
  }
  return 0;
}

/* A vdisk of the configuration: created with its pool if new (an
 * existing one keeps its pool: `segmapctl migrate' changes it), grown
 * if the configuration makes it bigger. */
static int
reconcile_vdisk (struct controller *c, const struct cfg_vdisk *cv)
{
  struct sm_vdisk_info *v = ctrl_find_vdisk_by_name (c, cv->name);
  unsigned shift = sm_log2 (cv->segment_size ? cv->segment_size
                            : SM_SEGMENT_SIZE_DEFAULT);
  enum sm_placement placement = SM_PLACE_FILL;
  uint32_t ids[SM_POOL_MAX], id;
  unsigned n;

  if (config_pool (c, cv, ids, &n) == -1)
    return -1;
  if (cv->placement)
    sm_placement_from_string (cv->placement, &placement);
  if (v == NULL)
    return store_vdisk_create (c->store, cv->name, cv->size, shift, ids[0],
                               &id) == -1
      || store_vdisk_set_pool (c->store, id, placement, ids, n) == -1
      ? -1 : 0;
  if (v->seg_shift != shift) {
    sm_error ("vdisk %s exists with segment size %" PRIu64 ", but the "
              "configuration says %" PRIu64, cv->name,
              UINT64_C(1) << v->seg_shift, UINT64_C(1) << shift);
    return -1;
  }
  if (cv->size < v->size) {
    sm_error ("vdisk %s is %" PRIu64 " bytes; the configuration's %" PRIu64
              " would shrink it (vdisks only grow)", cv->name, v->size,
              cv->size);
    return -1;
  }
  if (cv->size > v->size)
    return store_vdisk_resize (c->store, v->id, cv->size);
  return 0;
}

int
ctrl_announce_vdisk (struct controller *c, struct ctrl_agent *ag,
                     const struct sm_vdisk_info *v)
{
  struct msg m = { .type = MSG_NEW_TABLE, .vdisk = v->id, .arg = v->size,
                   .arg2 = v->seg_shift, .name = v->name,
                   .flags = v->read_only ? MSG_F_READ_ONLY : 0 };
  int r = ag ? ctrl_send (c, ag, &m, NULL) : ctrl_broadcast (c, &m);

  if (r == -1)
    sm_error ("cannot create the agent's table for vdisk %s: %m", v->name);
  else if (r == CTRL_UNKNOWN)
    sm_error ("cannot tell whether the agents serve vdisk %s at its "
              "new size", v->name);
  return r == 0 ? 0 : -1;
}

/* Recovery ---------------------------------------------------------------- */

static int
zero_free_run (void *opaque, uint64_t unit, uint64_t units)
{
  return container_zero (opaque, unit * SM_UNIT_SIZE, units * SM_UNIT_SIZE);
}

int
ctrl_zero_free (struct ctrl_container *cc, struct container *h)
{
  return alloc_foreach_free (cc->alloc, zero_free_run, h);
}

static int
zero_free_space (struct controller *c)
{
  unsigned n = 0;

  for (uint32_t id = 1; id <= c->max_container; id++) {
    struct ctrl_container *cc = c->containers[id];
    if (cc == NULL || cc->failed)
      continue;                 /* (zeroed when it comes online) */
    if (ctrl_zero_free (cc, cc->c) != 0)
      return -1;
    n++;
  }
  if (ctrl_sync_containers (c) == -1)
    return -1;
  sm_debug ("unclean shutdown: zeroed the free space of %u containers", n);
  return 0;
}

/* Steps 1 and 5 of start-up: the clean flag and needs_check. */
static int
read_flags (struct controller *c, bool *was_clean)
{
  CLEANUP_FREE char *clean = NULL;
  CLEANUP_FREE char *needs_check = NULL;

  if (store_meta_get (c->store, "clean", &clean) == -1
      || store_meta_get (c->store, "needs_check", &needs_check) == -1)
    return -1;
  /* A brand-new database has no flag and nothing to recover. */
  *was_clean = clean == NULL || strcmp (clean, "1") == 0;
  if (needs_check && strcmp (needs_check, "1") == 0)
    c->degraded = true;         /* agents learn it when they register */
  if (ctrl_change (c) == -1
      || store_meta_set (c->store, "clean", "0") == -1)
    return -1;
  return 0;
}

int
ctrl_startup (struct controller *c)
{
  bool was_clean;

  c->started = time (NULL);
  if (lock_state_dir (c->cfg->state_dir) == -1
      || store_open (c->cfg->database, &c->store) == -1
      || read_flags (c, &was_clean) == -1
      || open_containers (c) == -1
      || ctrl_reload_vdisks (c) == -1)
    return -1;
  for (size_t i = 0; i < c->cfg->n_vdisks; i++)
    if (reconcile_vdisk (c, &c->cfg->vdisks[i]) == -1)
      return -1;
  if (ctrl_reload_vdisks (c) == -1 || ctrl_reconcile_iscsi (c) == -1
      || ctrl_delete_resume (c) == -1 || ctrl_move_load (c) == -1
      || ctrl_job_load (c) == -1 || ctrl_cbt_recover (c, was_clean) == -1)
    return -1;
  if (!was_clean && zero_free_space (c) == -1)
    return -1;
  if (ctrl_commit (c, false) == -1)
    return -1;
  return 0;
}

/* Preflight -------------------------------------------------------------- */

/* Open a container once and close it again; 0 or -1 (with sm_error). */
static int
probe_container (uint32_t id, const char *name, const char *path,
                 uint64_t size)
{
  struct container *probe = container_open (id, name, path, size);
  int r;

  if (probe == NULL)
    return -1;
  /* The lock outlives the probe: it covers nbdkit's fork. */
  r = container_lock_exclusive (probe);
  container_close (probe);
  return r;
}

int
controller_preflight (const struct segmap_config *cfg)
{
  struct sm_container_info *ci = NULL;
  struct store *st;
  size_t n = 0;
  int r = 0;

  if (lock_state_dir (cfg->state_dir) == -1
      || store_open (cfg->database, &st) == -1)
    return -1;
  if (store_container_list (st, &ci, &n) == -1)
    r = -1;
  for (size_t i = 0; i < n && r == 0; i++)
    r = probe_container (ci[i].id, ci[i].name, ci[i].path, ci[i].size);
  for (size_t i = 0; i < cfg->n_containers && r == 0; i++)
    if (cfg->containers[i].path)
      r = probe_container (0, cfg->containers[i].name,
                           cfg->containers[i].path, cfg->containers[i].size);
  sm_container_info_free (ci, n);
  store_close (st);
  return r;
}
