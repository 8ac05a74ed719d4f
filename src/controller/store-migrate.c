/* segmap: the store's side of where a vdisk's segments go: its pool of
 * containers and placement (sql/011, placement.c) and the rows a
 * migration moves (sql/009, migrate.c).
 *
 * The first container of a pool is vdisk.container_id (where a vdisk
 * of one container has always kept it), the others are vdisk_pool rows
 * by position.  A migration sets a new pool and walks the map for rows
 * the placement does not want where they are (the controller decides,
 * placement.c); rows without a location (zero) have nothing to move,
 * and error rows (flag 8, the data is lost) stay where they are.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "common/cleanup.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_migrate_stmts[] = {
  { STMT_VDISK_SET_PLACEMENT,
    "UPDATE vdisk SET container_id = ?2, placement = ?3"
    " WHERE id = ?1 AND deleting = 0" },
  { STMT_POOL_CLEAR, "DELETE FROM vdisk_pool WHERE vdisk_id = ?1" },
  { STMT_POOL_ADD,
    "INSERT INTO vdisk_pool (vdisk_id, position, container_id)"
    " VALUES (?1, ?2, ?3)" },
  { STMT_MAP_DISTRIBUTION,
    "SELECT container_id, count (*) FROM map"
    " WHERE vdisk_id = ?1 AND container_id IS NOT NULL"
    " GROUP BY container_id ORDER BY container_id" },
  { STMT_COUNT, NULL }
};

static const char *const placement_names[] = {
  [SM_PLACE_FILL] = "fill",
  [SM_PLACE_SPREAD] = "spread",
};

const char *
sm_placement_to_string (enum sm_placement p)
{
  return (unsigned) p < sizeof placement_names / sizeof placement_names[0]
    ? placement_names[p] : "unknown";
}

int
sm_placement_from_string (const char *s, enum sm_placement *p)
{
  for (size_t i = 0; s && i < sizeof placement_names / sizeof placement_names[0];
       i++)
    if (strcmp (s, placement_names[i]) == 0) {
      *p = i;
      return 0;
    }
  return -1;
}

int
store_vdisk_set_pool (struct store *st, uint32_t id,
                      enum sm_placement placement, const uint32_t *ids,
                      unsigned n)
{
  sqlite3_stmt *u CLEANUP_RESET = st->stmt[STMT_VDISK_SET_PLACEMENT];
  sqlite3_stmt *clear CLEANUP_RESET = st->stmt[STMT_POOL_CLEAR];
  sqlite3_stmt *add CLEANUP_RESET = st->stmt[STMT_POOL_ADD];

  if (n == 0 || n > SM_POOL_MAX)
    return store_fail (EINVAL, "a pool has 1 to %d containers", SM_POOL_MAX);
  for (unsigned i = 1; i < n; i++)
    for (unsigned k = 0; k < i; k++)
      if (ids[k] == ids[i])
        return store_fail (EINVAL, "container %" PRIu32 " is twice in the "
                           "pool of vdisk %" PRIu32, ids[i], id);
  sqlite3_bind_int64 (u, 1, id);
  sqlite3_bind_int64 (u, 2, ids[0]);
  sqlite3_bind_text (u, 3, sm_placement_to_string (placement), -1,
                     SQLITE_STATIC);
  if (stmt_run (st, u, "moving vdisk %" PRIu32 " to container %" PRIu32,
                id, ids[0]) == -1)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return store_fail (ENOENT, "vdisk %" PRIu32 " does not exist", id);
  sqlite3_bind_int64 (clear, 1, id);
  if (stmt_run (st, clear, "clearing the pool of vdisk %" PRIu32, id) == -1)
    return -1;
  for (unsigned i = 1; i < n; i++) {
    sqlite3_bind_int64 (add, 1, id);
    sqlite3_bind_int (add, 2, i);
    sqlite3_bind_int64 (add, 3, ids[i]);
    if (stmt_run (st, add, "adding container %" PRIu32 " to the pool of "
                  "vdisk %" PRIu32, ids[i], id) == -1)
      return -1;
    sqlite3_reset (add);
  }
  return 0;
}

int
store_map_distribution (struct store *st, uint32_t vdisk,
                        void (*fn) (void *opaque, uint32_t container,
                                    uint64_t n),
                        void *opaque)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_DISTRIBUTION];
  int r;

  sqlite3_bind_int64 (s, 1, vdisk);
  while ((r = stmt_row (st, s, "counting the segments of vdisk %" PRIu32
                        " per container", vdisk)) == 1)
    fn (opaque, sqlite3_column_int64 (s, 0), sqlite3_column_int64 (s, 1));
  return r;
}
