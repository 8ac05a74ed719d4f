/* segmap: the store's containers and vdisks (administration, not the
 * I/O path).
 *
 * Names follow sm_valid_name (common/names.h) and are unique per kind;
 * a duplicate is found by a lookup first, so that it fails with EEXIST
 * and "container 'X' already exists" rather than a constraint message.
 * Container ids are the 16-bit container field of a map entry, so they
 * are reused (lowest free id first); vdisk ids are never reused
 * (AUTOINCREMENT), so that nothing that outlives a vdisk -- a message,
 * an agent's table -- can be mistaken for a newer one.
 *
 * An object in use is not removed: a container while vdisks allocate
 * from it or segments live in it (EBUSY); a vdisk shrinks only down to
 * its last mapped segment (EBUSY).
 *
 * Deleting a vdisk has two steps (sql/004): store_vdisk_mark_deleting
 * takes it away from users at once (unlisted, its name free), the
 * controller frees its map rows a batch at a time, then
 * store_vdisk_delete removes the row.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "controller/store.h"
#include "controller/store-internal.h"

#define CONTAINER_SIZE_MAX ((ENTRY_MAX_UNIT + 1) * SM_UNIT_SIZE)

/* A vdisk's pool after its first container, "2,3" (sql/011). */
#define VDISK_POOL \
  "(SELECT group_concat (container_id) FROM" \
  " (SELECT container_id FROM vdisk_pool p WHERE p.vdisk_id = vdisk.id" \
  "  ORDER BY position))"

const struct stmt_def store_object_stmts[] = {
  { STMT_CONTAINER_BY_NAME, "SELECT id FROM container WHERE name = ?1" },
  /* The lowest id in 1..65535 not in use, or NULL. */
  { STMT_CONTAINER_FREE_ID,
    "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM container WHERE id = 1)"
    " THEN 1 ELSE (SELECT min (c.id + 1) FROM container c"
    "              WHERE c.id < 65535 AND NOT EXISTS"
    "                (SELECT 1 FROM container d WHERE d.id = c.id + 1)) END" },
  { STMT_CONTAINER_INSERT,
    "INSERT INTO container (id, name, path, size, created)"
    " VALUES (?1, ?2, ?3, ?4, ?5)" },
  { STMT_CONTAINER_USERS,
    "SELECT (SELECT count (*) FROM vdisk WHERE container_id = ?1)"
    "       + (SELECT count (*) FROM vdisk_pool WHERE container_id = ?1),"
    "       EXISTS (SELECT 1 FROM segment WHERE container_id = ?1)"
    " FROM container WHERE id = ?1" },
  { STMT_CONTAINER_DELETE, "DELETE FROM container WHERE id = ?1" },
  /* Where its last segment ends (NULL: none; no row: no container).
   * Segments never overlap, so the last one ends last. */
  { STMT_CONTAINER_END,
    "SELECT (SELECT unit + units FROM segment WHERE container_id = ?1"
    "        ORDER BY unit DESC LIMIT 1)"
    " FROM container WHERE id = ?1" },
  { STMT_CONTAINER_SET_SIZE, "UPDATE container SET size = ?2 WHERE id = ?1" },
  { STMT_CONTAINER_LIST,
    "SELECT id, name, path, size, created, failed, failed_at"
    " FROM container ORDER BY id" },
  { STMT_CONTAINER_SET_FAILED,
    "UPDATE container SET failed = ?2, failed_at = ?3 WHERE id = ?1" },

  { STMT_VDISK_BY_NAME, "SELECT id FROM vdisk WHERE name = ?1" },
  { STMT_VDISK_INSERT,
    "INSERT INTO vdisk (name, size, seg_shift, container_id, created)"
    " VALUES (?1, ?2, ?3, ?4, ?5)" },
  { STMT_VDISK_DELETE_MAP, "DELETE FROM map WHERE vdisk_id = ?1" },
  { STMT_VDISK_DELETE, "DELETE FROM vdisk WHERE id = ?1" },
  /* Would size ?2 leave map rows past the end? */
  { STMT_VDISK_RESIZE_CHECK,
    "SELECT EXISTS (SELECT 1 FROM map WHERE vdisk_id = ?1 AND vseg >="
    "               (?2 + (1 << seg_shift) - 1) >> seg_shift)"
    " FROM vdisk WHERE id = ?1" },
  { STMT_VDISK_RESIZE, "UPDATE vdisk SET size = ?2 WHERE id = ?1" },
  { STMT_VDISK_SET_RO, "UPDATE vdisk SET read_only = ?2 WHERE id = ?1" },
  { STMT_VDISK_LIST,
    "SELECT id, name, size, seg_shift, container_id, created, read_only,"
    "       parent_id, clone_of, base_id, placement, " VDISK_POOL
    " FROM vdisk WHERE deleting = 0 ORDER BY name" },
  /* The name is given up at once: no valid name contains ':'.  So is
   * the parent (sql/006). */
  { STMT_VDISK_MARK_DELETING,
    "UPDATE vdisk SET deleting = 1, name = 'deleting:' || id,"
    "                 parent_id = NULL"
    " WHERE id = ?1 AND deleting = 0" },
  { STMT_VDISK_LIST_DELETING,
    "SELECT id, name, size, seg_shift, container_id, created, read_only,"
    "       parent_id, clone_of, base_id, placement, " VDISK_POOL
    " FROM vdisk WHERE deleting = 1 ORDER BY id" },

  /* Snapshots (sql/006): the row, from the origin's. */
  { STMT_SNAP_INSERT,
    "INSERT INTO vdisk (name, size, seg_shift, container_id, created,"
    "                   read_only, kind, parent_id, snap_name)"
    " SELECT name || '@' || ?2, size, seg_shift, container_id, ?3, 1,"
    "        'snapshot', id, ?2"
    " FROM vdisk WHERE id = ?1 AND kind = 'vdisk' AND deleting = 0" },
  /* The origin's map rows, plain (no NOWRITE 2, TRACK 32, OPEN 64): a
   * snapshot is never written. */
  { STMT_SNAP_COPY_MAP,
    "INSERT INTO map (vdisk_id, vseg, container_id, unit, flags)"
    " SELECT ?2, vseg, container_id, unit, flags & ~98"
    " FROM map WHERE vdisk_id = ?1" },
  /* One more reference per snapshot row to each segment it maps.  The
   * origin's rows are counted once, grouped by segment (SQLite
   * indexes that result itself for the lookups): map has no index by
   * location (sql/003), and a count per segment straight from map
   * scanned the origin's map once per segment, quadratic (a vdisk with
   * 100,000 mapped segments had not been snapshotted after 9 minutes;
   * now 0.25 s, bench/bench-snapshot.sh).  A CTE, not UPDATE ... FROM,
   * which needs SQLite 3.33. */
  { STMT_SNAP_REF,
    "WITH m AS (SELECT container_id, unit, count (*) AS n FROM map"
    "           WHERE vdisk_id = ?1 AND container_id IS NOT NULL"
    "           GROUP BY container_id, unit)"
    " UPDATE segment SET refcount = refcount + "
    "  (SELECT n FROM m WHERE m.container_id = segment.container_id"
    "   AND m.unit = segment.unit)"
    " WHERE (container_id, unit) IN (SELECT container_id, unit FROM m)" },
  /* The origin's located rows no longer take writes in place; nor are
   * they tracked (TRACK 32, OPEN 64): the marks are the snapshot's. */
  { STMT_SNAP_NOWRITE,
    "UPDATE map SET flags = (flags | 2) & ~96"
    " WHERE vdisk_id = ?1 AND container_id IS NOT NULL" },
  { STMT_COUNT, NULL }
};

static int
no_container (uint32_t id)
{
  return store_fail (ENOENT, "container %" PRIu32 " does not exist", id);
}

static int
no_vdisk (uint32_t id)
{
  return store_fail (ENOENT, "vdisk %" PRIu32 " does not exist", id);
}

/* Does NAME exist according to the by-name statement ID?  1/0/-1. */
static int
name_exists (struct store *st, enum stmt_id id, const char *name)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[id];

  sqlite3_bind_text (s, 1, name, -1, SQLITE_STATIC);
  return stmt_row (st, s, "looking up '%s'", name);
}

/* Is NAME valid and free for a new KIND (STMT_*_BY_NAME = ID)? */
static int
check_new_name (struct store *st, enum stmt_id id, const char *kind,
                const char *name)
{
  int r;

  if (!sm_valid_name (name))
    return store_fail (EINVAL, "invalid %s name '%s' (%s)", kind, name,
                       SM_NAME_RULE);
  r = name_exists (st, id, name);
  if (r == 1)
    return store_fail (EEXIST, "%s '%s' already exists", kind, name);
  return r;
}

/*----------------------------------------------------------------------
 * Containers
 */

static int
check_container_size (uint64_t size)
{
  if (size == 0 || size % SM_UNIT_SIZE || size > CONTAINER_SIZE_MAX)
    return store_fail (EINVAL, "invalid container size %" PRIu64
                       " (a non-zero multiple of %" PRIu64 " up to %"
                       PRIu64 ")", size, SM_UNIT_SIZE, CONTAINER_SIZE_MAX);
  return 0;
}

static int
free_container_id (struct store *st, uint32_t *id)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CONTAINER_FREE_ID];

  if (stmt_row (st, s, "finding a free container id") != 1)
    return -1;
  if (sqlite3_column_type (s, 0) == SQLITE_NULL)
    return store_fail (ENOSPC, "all %d container ids are in use",
                       SM_MAX_CONTAINERS);
  *id = sqlite3_column_int64 (s, 0);
  return 0;
}

int
store_container_add (struct store *st, const char *name, const char *path,
                     uint64_t size, uint32_t *id)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CONTAINER_INSERT];
  uint32_t new_id = 0;

  if (check_container_size (size) == -1)
    return -1;
  if (*path == '\0')
    return store_fail (EINVAL, "container '%s': empty path", name);
  if (check_new_name (st, STMT_CONTAINER_BY_NAME, "container", name) == -1 ||
      free_container_id (st, &new_id) == -1)
    return -1;
  sqlite3_bind_int64 (s, 1, new_id);
  sqlite3_bind_text (s, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (s, 3, path, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (s, 4, size);
  sqlite3_bind_int64 (s, 5, time (NULL));
  if (stmt_run (st, s, "adding container '%s'", name) == -1)
    return -1;
  *id = new_id;
  return 0;
}

int
store_container_remove (struct store *st, uint32_t id)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CONTAINER_USERS];
  sqlite3_stmt *d CLEANUP_RESET = st->stmt[STMT_CONTAINER_DELETE];
  int r;

  sqlite3_bind_int64 (s, 1, id);
  r = stmt_row (st, s, "checking the users of container %" PRIu32, id);
  if (r <= 0)
    return r == -1 ? -1 : no_container (id);
  if (sqlite3_column_int64 (s, 0) > 0)
    return store_fail (EBUSY, "container %" PRIu32 " is in use by %" PRId64
                       " vdisk(s)", id, (int64_t) sqlite3_column_int64 (s, 0));
  if (sqlite3_column_int (s, 1))
    return store_fail (EBUSY, "container %" PRIu32 " still holds segments",
                       id);
  sqlite3_bind_int64 (d, 1, id);
  return stmt_run (st, d, "removing container %" PRIu32, id);
}

int
store_container_set_size (struct store *st, uint32_t id, uint64_t size)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CONTAINER_END];
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_CONTAINER_SET_SIZE];
  int r;

  if (check_container_size (size) == -1)
    return -1;
  sqlite3_bind_int64 (s, 1, id);
  r = stmt_row (st, s, "reading the end of container %" PRIu32, id);
  if (r <= 0)
    return r == -1 ? -1 : no_container (id);
  if ((uint64_t) sqlite3_column_int64 (s, 0) > size / SM_UNIT_SIZE)
    return store_fail (EBUSY, "container %" PRIu32 " holds segments past %"
                       PRIu64 " bytes", id, size);
  sqlite3_bind_int64 (u, 1, id);
  sqlite3_bind_int64 (u, 2, size);
  return stmt_run (st, u, "resizing container %" PRIu32, id);
}

int
store_container_set_failed (struct store *st, uint32_t id, const char *why,
                            int64_t when)
{
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_CONTAINER_SET_FAILED];

  sqlite3_bind_int64 (u, 1, id);
  if (why) {
    sqlite3_bind_text (u, 2, why, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (u, 3, when);
  }
  else {
    sqlite3_bind_null (u, 2);
    sqlite3_bind_null (u, 3);
  }
  if (stmt_run (st, u, "recording the state of container %" PRIu32, id)
      == -1)
    return -1;
  return sqlite3_changes (st->db) == 1 ? 0 : no_container (id);
}

static int
container_row (sqlite3_stmt *s, struct sm_container_info *c)
{
  memset (c, 0, sizeof *c);
  c->id = sqlite3_column_int64 (s, 0);
  c->size = sqlite3_column_int64 (s, 3);
  c->created = sqlite3_column_int64 (s, 4);
  c->failed_at = sqlite3_column_int64 (s, 6);
  if (store_column_strdup (s, 1, &c->name) == -1 ||
      store_column_strdup (s, 2, &c->path) == -1 ||
      (sqlite3_column_type (s, 5) != SQLITE_NULL
       && store_column_strdup (s, 5, &c->failed) == -1))
    return -1;
  return 0;
}

int
store_container_list (struct store *st, struct sm_container_info **out,
                      size_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CONTAINER_LIST];
  struct sm_container_info *v = NULL;
  size_t len = 0, cap = 0;
  int r;

  while ((r = stmt_row (st, s, "listing containers")) == 1)
    if (store_grow ((void **) &v, &cap, len, sizeof *v) == -1 ||
        container_row (s, &v[len++]) == -1) {
      r = -1;
      break;
    }
  if (r != 0) {
    sm_container_info_free (v, len);
    return -1;
  }
  *out = v;
  *n = len;
  return 0;
}

void
sm_container_info_free (struct sm_container_info *v, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    free (v[i].name);
    free (v[i].path);
    free (v[i].failed);
  }
  free (v);
}

/*----------------------------------------------------------------------
 * Vdisks
 */

static int
check_vdisk_size (uint64_t size)
{
  if (size == 0 || size % SM_SECTOR_SIZE || size > SM_VDISK_SIZE_MAX)
    return store_fail (EINVAL, "invalid vdisk size %" PRIu64 " (a non-zero "
                       "multiple of %d up to %" PRIu64 ")",
                       size, SM_SECTOR_SIZE, SM_VDISK_SIZE_MAX);
  return 0;
}

/* 0 if container ID exists, else -1 (ENOENT). */
static int
container_exists (struct store *st, uint32_t id)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CONTAINER_END];
  int r;

  sqlite3_bind_int64 (s, 1, id);
  r = stmt_row (st, s, "looking up container %" PRIu32, id);
  if (r == 0)
    return no_container (id);
  return r == 1 ? 0 : -1;
}

int
store_vdisk_create (struct store *st, const char *name, uint64_t size,
                    unsigned seg_shift, uint32_t container_id, uint32_t *id)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_VDISK_INSERT];

  if (check_vdisk_size (size) == -1)
    return -1;
  if (seg_shift < 16 || seg_shift > 26)
    return store_fail (EINVAL, "invalid segment size 2^%u (64K to 64M)",
                       seg_shift);
  if (container_id != 0 && container_exists (st, container_id) == -1)
    return -1;
  if (check_new_name (st, STMT_VDISK_BY_NAME, "vdisk", name) == -1)
    return -1;
  sqlite3_bind_text (s, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (s, 2, size);
  sqlite3_bind_int (s, 3, seg_shift);
  if (container_id)
    sqlite3_bind_int64 (s, 4, container_id);
  else
    sqlite3_bind_null (s, 4);
  sqlite3_bind_int64 (s, 5, time (NULL));
  if (stmt_run (st, s, "creating vdisk '%s'", name) == -1)
    return -1;
  *id = sqlite3_last_insert_rowid (st->db);
  return 0;
}

/* The rows of a new snapshot SNAP_ID of ORIGIN (inside a savepoint). */
static int
snapshot_rows (struct store *st, uint32_t origin, const char *snap,
               uint32_t *snap_id)
{
  sqlite3_stmt *ins CLEANUP_RESET = st->stmt[STMT_SNAP_INSERT];
  sqlite3_stmt *copy CLEANUP_RESET = st->stmt[STMT_SNAP_COPY_MAP];
  sqlite3_stmt *ref CLEANUP_RESET = st->stmt[STMT_SNAP_REF];
  sqlite3_stmt *nw CLEANUP_RESET = st->stmt[STMT_SNAP_NOWRITE];

  sqlite3_bind_int64 (ins, 1, origin);
  sqlite3_bind_text (ins, 2, snap, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ins, 3, time (NULL));
  if (stmt_run (st, ins, "creating snapshot '%s'", snap) == -1)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return no_vdisk (origin);
  *snap_id = sqlite3_last_insert_rowid (st->db);
  sqlite3_bind_int64 (copy, 1, origin);
  sqlite3_bind_int64 (copy, 2, *snap_id);
  sqlite3_bind_int64 (ref, 1, origin);
  sqlite3_bind_int64 (nw, 1, origin);
  if (stmt_run (st, copy, "copying the map of vdisk %" PRIu32, origin) == -1
      || stmt_run (st, ref, "sharing the segments of vdisk %" PRIu32,
                   origin) == -1
      || stmt_run (st, nw, "marking the map of vdisk %" PRIu32 " no-write",
                   origin) == -1
      || store_cbt_on_snapshot (st, origin, *snap_id) == -1)
    return -1;
  return 0;
}

int
store_snapshot_create (struct store *st, size_t n, const uint32_t *origins,
                       const char *const *names, const char *snap,
                       uint32_t *ids)
{
  int r = 0;

  if (!sm_valid_name (snap))
    return store_fail (EINVAL, "invalid snapshot name '%s' (%s)", snap,
                       SM_NAME_RULE);
  for (size_t i = 0; i < n; i++)
    if (strlen (names[i]) + 1 + strlen (snap) > SM_NAME_MAX)
      return store_fail (EINVAL, "snapshot '%s@%s': VDISK@SNAPSHOT is at "
                         "most %d characters", names[i], snap, SM_NAME_MAX);
  if (store_savepoint (st) == -1)
    return -1;
  for (size_t i = 0; i < n && r == 0; i++)
    r = snapshot_rows (st, origins[i], snap, &ids[i]);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}

/* Delete the map rows and the row of vdisk ID (inside a savepoint). */
static int
vdisk_delete_rows (struct store *st, uint32_t id)
{
  sqlite3_stmt *m CLEANUP_RESET = st->stmt[STMT_VDISK_DELETE_MAP];
  sqlite3_stmt *v CLEANUP_RESET = st->stmt[STMT_VDISK_DELETE];

  sqlite3_bind_int64 (m, 1, id);
  sqlite3_bind_int64 (v, 1, id);
  if (stmt_run (st, m, "deleting the map of vdisk %" PRIu32, id) == -1 ||
      stmt_run (st, v, "deleting vdisk %" PRIu32, id) == -1)
    return -1;
  return sqlite3_changes (st->db) ? 0 : no_vdisk (id);
}

int
store_vdisk_delete (struct store *st, uint32_t id)
{
  int r;

  if (store_savepoint (st) == -1)
    return -1;
  r = vdisk_delete_rows (st, id);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}

int
store_vdisk_resize (struct store *st, uint32_t id, uint64_t size)
{
  sqlite3_stmt *c CLEANUP_RESET = st->stmt[STMT_VDISK_RESIZE_CHECK];
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_VDISK_RESIZE];
  int r;

  if (check_vdisk_size (size) == -1)
    return -1;
  sqlite3_bind_int64 (c, 1, id);
  sqlite3_bind_int64 (c, 2, size);
  r = stmt_row (st, c, "checking the resize of vdisk %" PRIu32, id);
  if (r <= 0)
    return r == -1 ? -1 : no_vdisk (id);
  if (sqlite3_column_int (c, 0))
    return store_fail (EBUSY, "vdisk %" PRIu32 " has allocated segments "
                       "past %" PRIu64 " bytes", id, size);
  sqlite3_bind_int64 (u, 1, id);
  sqlite3_bind_int64 (u, 2, size);
  return stmt_run (st, u, "resizing vdisk %" PRIu32, id);
}

int
store_vdisk_set_read_only (struct store *st, uint32_t id, bool ro)
{
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_VDISK_SET_RO];

  sqlite3_bind_int64 (u, 1, id);
  sqlite3_bind_int (u, 2, ro);
  if (stmt_run (st, u, "changing vdisk %" PRIu32, id) == -1)
    return -1;
  return sqlite3_changes (st->db) ? 0 : no_vdisk (id);
}

/* The pool after the first container, "2,3" (VDISK_POOL), into V. */
static void
add_pool (struct sm_vdisk_info *v, const char *text)
{
  while (text && *text && v->n_pool < SM_POOL_MAX) {
    char *end;
    v->pool[v->n_pool++] = strtoul (text, &end, 10);
    text = *end == ',' ? end + 1 : NULL;
  }
}

static int
vdisk_row (sqlite3_stmt *s, struct sm_vdisk_info *v)
{
  memset (v, 0, sizeof *v);
  v->id = sqlite3_column_int64 (s, 0);
  v->size = sqlite3_column_int64 (s, 2);
  v->seg_shift = sqlite3_column_int (s, 3);
  v->container_id = sqlite3_column_int64 (s, 4);     /* NULL -> 0 */
  v->created = sqlite3_column_int64 (s, 5);
  v->read_only = sqlite3_column_int (s, 6) != 0;
  v->parent = sqlite3_column_int64 (s, 7);            /* NULL -> 0 */
  v->clone_of = sqlite3_column_int64 (s, 8);          /* NULL -> 0 */
  v->base = sqlite3_column_int64 (s, 9);              /* NULL -> 0 */
  if (sm_placement_from_string ((const char *) sqlite3_column_text (s, 10),
                                &v->placement) == -1)
    return store_fail (EINVAL, "vdisk %" PRIu32 " has an unknown placement",
                       v->id);
  if (v->container_id != 0)
    v->pool[v->n_pool++] = v->container_id;
  add_pool (v, (const char *) sqlite3_column_text (s, 11));
  return store_column_strdup (s, 1, &v->name);
}

int
store_vdisk_mark_deleting (struct store *st, uint32_t id)
{
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_VDISK_MARK_DELETING];

  sqlite3_bind_int64 (u, 1, id);
  /* Its marks go to the snapshots and vdisk derived from it (sql/008)
   * in the same transaction. */
  if (store_cbt_unlink (st, id) == -1
      || stmt_run (st, u, "marking vdisk %" PRIu32 " deleted", id) == -1)
    return -1;
  return sqlite3_changes (st->db) ? 0 : no_vdisk (id);
}

/* The vdisks of the list statement ID into a new array. */
static int
list_vdisks (struct store *st, enum stmt_id id, struct sm_vdisk_info **out,
             size_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[id];
  struct sm_vdisk_info *v = NULL;
  size_t len = 0, cap = 0;
  int r;

  while ((r = stmt_row (st, s, "listing vdisks")) == 1)
    if (store_grow ((void **) &v, &cap, len, sizeof *v) == -1 ||
        vdisk_row (s, &v[len++]) == -1) {
      r = -1;
      break;
    }
  if (r != 0) {
    sm_vdisk_info_free (v, len);
    return -1;
  }
  *out = v;
  *n = len;
  return 0;
}

int
store_vdisk_list (struct store *st, struct sm_vdisk_info **out, size_t *n)
{
  return list_vdisks (st, STMT_VDISK_LIST, out, n);
}

int
store_vdisk_list_deleting (struct store *st, struct sm_vdisk_info **out,
                           size_t *n)
{
  return list_vdisks (st, STMT_VDISK_LIST_DELETING, out, n);
}

void
sm_vdisk_info_free (struct sm_vdisk_info *v, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    free (v[i].name);
  free (v);
}
