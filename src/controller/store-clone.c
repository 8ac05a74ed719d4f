/* segmap: the store's clones and shared maps (sql/007-clone.sql).
 *
 * Sharing a map: store_map_share copies the map rows of one vdisk (a
 * snapshot) to another that has none, adds one reference per copied
 * row to each segment, and marks the copies' located rows NOWRITE, so
 * that the first write to any of them is a copy-on-write (cow.c).  It
 * is what `clone create' and `snapshot rollback' store, and costs
 * O(mapped segments) in metadata, no data.
 *
 * A clone is a vdisk row made from a snapshot's row (its size, segment
 * size and container) with CLONE_OF naming the snapshot, plus a shared
 * map.  `clone flatten' walks the clone's shared rows with
 * store_map_next_shared and clears the link at the end.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <time.h>

#include "common/errors.h"
#include "common/names.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_clone_stmts[] = {
  /* The clone's row, from the snapshot's. */
  { STMT_CLONE_INSERT,
    "INSERT INTO vdisk (name, size, seg_shift, container_id, created,"
    "                   clone_of)"
    " SELECT ?2, size, seg_shift, container_id, ?3, id"
    " FROM vdisk WHERE id = ?1 AND kind = 'snapshot' AND deleting = 0" },
  { STMT_CLONE_SET_LINK, "UPDATE vdisk SET clone_of = ?2 WHERE id = ?1" },
  /* Only into an empty map: the refcount update below counts every
   * row of the target. */
  { STMT_SHARE_EMPTY, "SELECT EXISTS (SELECT 1 FROM map WHERE vdisk_id = ?1)" },
  { STMT_SHARE_COPY,
    "INSERT INTO map (vdisk_id, vseg, container_id, unit, flags)"
    " SELECT ?2, vseg, container_id, unit,"
    "        flags | CASE WHEN container_id IS NULL THEN 0 ELSE 2 END"
    " FROM map WHERE vdisk_id = ?1" },
  { STMT_SHARE_REF,
    "UPDATE segment SET refcount = refcount + "
    "  (SELECT count (*) FROM map m WHERE m.vdisk_id = ?1"
    "   AND m.container_id = segment.container_id AND m.unit = segment.unit)"
    " WHERE (container_id, unit) IN"
    "  (SELECT container_id, unit FROM map WHERE vdisk_id = ?1"
    "   AND container_id IS NOT NULL)" },
  /* The first row at or after ?2 whose segment something else maps. */
  { STMT_MAP_NEXT_SHARED,
    "SELECT m.vseg FROM map m JOIN segment s"
    "  ON s.container_id = m.container_id AND s.unit = m.unit"
    " WHERE m.vdisk_id = ?1 AND m.vseg >= ?2 AND s.refcount > 1"
    " ORDER BY m.vseg LIMIT 1" },
  { STMT_MAP_COUNT_SHARED,
    "SELECT count (*) FROM map m JOIN segment s"
    "  ON s.container_id = m.container_id AND s.unit = m.unit"
    " WHERE m.vdisk_id = ?1 AND s.refcount > 1" },
  { STMT_COUNT, NULL }
};

/* Share the rows of FROM into the empty map of TO (inside a
 * savepoint). */
static int
share_rows (struct store *st, uint32_t from, uint32_t to)
{
  sqlite3_stmt *e CLEANUP_RESET = st->stmt[STMT_SHARE_EMPTY];
  sqlite3_stmt *copy CLEANUP_RESET = st->stmt[STMT_SHARE_COPY];
  sqlite3_stmt *ref CLEANUP_RESET = st->stmt[STMT_SHARE_REF];

  sqlite3_bind_int64 (e, 1, to);
  if (stmt_row (st, e, "reading the map of vdisk %" PRIu32, to) != 1)
    return -1;
  if (sqlite3_column_int (e, 0))
    return store_fail (EBUSY, "vdisk %" PRIu32 " still has map rows", to);
  sqlite3_bind_int64 (copy, 1, from);
  sqlite3_bind_int64 (copy, 2, to);
  sqlite3_bind_int64 (ref, 1, to);
  if (stmt_run (st, copy, "copying the map of vdisk %" PRIu32, from) == -1
      || stmt_run (st, ref, "sharing the segments of vdisk %" PRIu32,
                   from) == -1)
    return -1;
  return 0;
}

int
store_map_share (struct store *st, uint32_t from, uint32_t to)
{
  int r;

  if (store_savepoint (st) == -1)
    return -1;
  r = share_rows (st, from, to);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}

/* The rows of clone NAME of SNAP (inside a savepoint). */
static int
clone_rows (struct store *st, uint32_t snap, const char *name, uint32_t *id)
{
  sqlite3_stmt *by_name CLEANUP_RESET = st->stmt[STMT_VDISK_BY_NAME];
  sqlite3_stmt *ins CLEANUP_RESET = st->stmt[STMT_CLONE_INSERT];
  int r;

  sqlite3_bind_text (by_name, 1, name, -1, SQLITE_STATIC);
  r = stmt_row (st, by_name, "looking up '%s'", name);
  if (r == 1)
    return store_fail (EEXIST, "vdisk '%s' already exists", name);
  if (r == -1)
    return -1;
  sqlite3_bind_int64 (ins, 1, snap);
  sqlite3_bind_text (ins, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ins, 3, time (NULL));
  if (stmt_run (st, ins, "creating clone '%s'", name) == -1)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return store_fail (ENOENT, "snapshot %" PRIu32 " does not exist", snap);
  *id = sqlite3_last_insert_rowid (st->db);
  if (share_rows (st, snap, *id) == -1
      || store_cbt_reset (st, *id, snap) == -1)   /* tracked from birth */
    return -1;
  return 0;
}

int
store_clone_create (struct store *st, uint32_t snap, const char *name,
                    uint32_t *id)
{
  int r;

  if (!sm_valid_name (name))
    return store_fail (EINVAL, "invalid vdisk name '%s' (%s)", name,
                       SM_NAME_RULE);
  if (store_savepoint (st) == -1)
    return -1;
  r = clone_rows (st, snap, name, id);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}

int
store_vdisk_set_clone_of (struct store *st, uint32_t id, uint32_t snap)
{
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_CLONE_SET_LINK];

  sqlite3_bind_int64 (u, 1, id);
  if (snap)
    sqlite3_bind_int64 (u, 2, snap);
  else
    sqlite3_bind_null (u, 2);
  if (stmt_run (st, u, "linking vdisk %" PRIu32 " to its snapshot", id) == -1)
    return -1;
  return sqlite3_changes (st->db) ? 0
    : store_fail (ENOENT, "vdisk %" PRIu32 " does not exist", id);
}

int
store_map_next_shared (struct store *st, uint32_t vdisk, uint64_t first,
                       uint64_t *vseg)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_NEXT_SHARED];
  int r;

  if (first > (uint64_t) INT64_MAX)
    return 0;
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, first);
  r = stmt_row (st, s, "looking for shared segments of vdisk %" PRIu32,
                vdisk);
  if (r == 1)
    *vseg = sqlite3_column_int64 (s, 0);
  return r;
}

int
store_map_count_shared (struct store *st, uint32_t vdisk, uint64_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_COUNT_SHARED];

  sqlite3_bind_int64 (s, 1, vdisk);
  if (stmt_row (st, s, "counting shared segments of vdisk %" PRIu32,
                vdisk) != 1)
    return -1;
  *n = sqlite3_column_int64 (s, 0);
  return 0;
}
