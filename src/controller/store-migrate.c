/* segmap: the store's side of migration (sql/009, migrate.c).
 *
 * A migrate job points its vdisk at the target container (new segments
 * go there from then on) and walks the map for rows still located
 * elsewhere; it is complete when none is left.  Rows without a
 * location (zero) have nothing to move, and error rows (flag 8, the
 * data is lost) stay where they are.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_migrate_stmts[] = {
  { STMT_VDISK_SET_CONTAINER,
    "UPDATE vdisk SET container_id = ?2 WHERE id = ?1 AND deleting = 0" },
  { STMT_MAP_NEXT_ELSEWHERE,
    "SELECT vseg FROM map WHERE vdisk_id = ?1 AND vseg >= ?3"
    " AND container_id IS NOT NULL AND container_id <> ?2 AND flags & 8 = 0"
    " ORDER BY vseg LIMIT 1" },
  { STMT_MAP_COUNT_ELSEWHERE,
    "SELECT count (*) FROM map WHERE vdisk_id = ?1"
    " AND container_id IS NOT NULL AND container_id <> ?2 AND flags & 8 = 0" },
  { STMT_COUNT, NULL }
};

int
store_vdisk_set_container (struct store *st, uint32_t id, uint32_t cid)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_VDISK_SET_CONTAINER];

  sqlite3_bind_int64 (s, 1, id);
  sqlite3_bind_int64 (s, 2, cid);
  if (stmt_run (st, s, "moving vdisk %" PRIu32 " to container %" PRIu32,
                id, cid) == -1)
    return -1;
  return sqlite3_changes (st->db)
    ? 0 : store_fail (ENOENT, "vdisk %" PRIu32 " does not exist", id);
}

int
store_map_next_elsewhere (struct store *st, uint32_t vdisk, uint32_t cid,
                          uint64_t first, uint64_t *vseg)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_NEXT_ELSEWHERE];
  int r;

  if (first > (uint64_t) INT64_MAX)
    return 0;
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, cid);
  sqlite3_bind_int64 (s, 3, first);
  r = stmt_row (st, s, "looking for segments of vdisk %" PRIu32
                " to migrate", vdisk);
  if (r == 1)
    *vseg = sqlite3_column_int64 (s, 0);
  return r;
}

int
store_map_count_elsewhere (struct store *st, uint32_t vdisk, uint32_t cid,
                           uint64_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_COUNT_ELSEWHERE];

  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, cid);
  if (stmt_row (st, s, "counting segments of vdisk %" PRIu32
                " to migrate", vdisk) != 1)
    return -1;
  *n = sqlite3_column_int64 (s, 0);
  return 0;
}
