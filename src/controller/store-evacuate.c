/* segmap: the store's side of evacuating a container (sql/010,
 * evacuate.c).
 *
 * The evacuation walks a container's segments in unit order and needs,
 * for a shared segment, every map row that references it, so that all
 * of them move to the copy together.  Finding rows by location takes
 * the index map_location, which exists only while an evacuation runs
 * (sql/003 and sql/010 say why): store_evacuate_index creates and drops
 * it in the open transaction.  The statements below are correct without
 * it, only slower (SQLite prepares them again when the schema changes,
 * and then uses the index).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_evacuate_stmts[] = {
  { STMT_SEG_NEXT,
    "SELECT unit, units, refcount FROM segment"
    " WHERE container_id = ?1 AND unit >= ?2 ORDER BY unit LIMIT 1" },
  { STMT_MAP_AT,
    "SELECT vdisk_id, vseg, flags FROM map"
    " WHERE container_id = ?1 AND unit = ?2 ORDER BY vdisk_id, vseg" },
  { STMT_COUNT, NULL }
};

int
store_evacuate_index (struct store *st, bool on)
{
  return store_exec (st, on
                     ? "CREATE INDEX IF NOT EXISTS map_location"
                       " ON map (container_id, unit)"
                     : "DROP INDEX IF EXISTS map_location",
                     on ? "creating the map's location index"
                     : "dropping the map's location index");
}

int
store_segment_next (struct store *st, uint32_t container, uint64_t from,
                    uint64_t *unit, uint32_t *units, uint32_t *refcount)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_SEG_NEXT];
  int r;

  if (from > ENTRY_MAX_UNIT)
    return 0;
  sqlite3_bind_int64 (s, 1, container);
  sqlite3_bind_int64 (s, 2, from);
  r = stmt_row (st, s, "walking the segments of container %" PRIu32,
                container);
  if (r == 1) {
    *unit = sqlite3_column_int64 (s, 0);
    *units = sqlite3_column_int64 (s, 1);
    *refcount = sqlite3_column_int64 (s, 2);
  }
  return r;
}

int
store_map_at (struct store *st, uint32_t container, uint64_t unit,
              struct sm_map_ref **out, size_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_AT];
  struct sm_map_ref *v = NULL;
  size_t len = 0, cap = 0;
  int r;

  sqlite3_bind_int64 (s, 1, container);
  sqlite3_bind_int64 (s, 2, unit);
  while ((r = stmt_row (st, s, "finding the map rows of segment %" PRIu32
                        ":%" PRIu64, container, unit)) == 1) {
    int64_t flags = sqlite3_column_int64 (s, 2);
    if (store_grow ((void **) &v, &cap, len, sizeof *v) == -1) {
      r = -1;
      break;
    }
    v[len].vdisk = sqlite3_column_int64 (s, 0);
    v[len].vseg = sqlite3_column_int64 (s, 1);
    v[len].e = entry_make (container, unit, flags & ENTRY_FLAG_MASK);
    len++;
  }
  if (r != 0) {
    free (v);
    return -1;
  }
  *out = v;
  *n = len;
  return 0;
}
