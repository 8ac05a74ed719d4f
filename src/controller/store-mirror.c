/* segmap: the store's mirror rows (sql/013, controller/mirror.c).
 *
 * One row per mapped segment of a mirrored vdisk: where its second copy
 * is (or none yet) and which 4 KiB blocks of it are behind (STALE; NULL
 * when the copy is identical).  The copy's segment row is an ordinary
 * segment row with refcount 1 (store_segment_insert / _ref), created and
 * dropped by the caller in the same transaction.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_mirror_stmts[] = {
  { STMT_MIRROR_GET,
    "SELECT vseg, container_id, unit, stale FROM mirror"
    " WHERE vdisk_id = ?1 AND vseg BETWEEN ?2 AND ?3 ORDER BY vseg" },
  { STMT_MIRROR_PUT,
    "INSERT OR REPLACE INTO mirror (vdisk_id, vseg, container_id, unit,"
    "                               stale) VALUES (?1, ?2, ?3, ?4, ?5)" },
  { STMT_MIRROR_DELETE,
    "DELETE FROM mirror WHERE vdisk_id = ?1 AND vseg = ?2" },
  { STMT_MIRROR_NEXT_STALE,
    "SELECT vseg FROM mirror WHERE vdisk_id = ?1 AND stale IS NOT NULL"
    " AND vseg >= ?2 ORDER BY vseg LIMIT 1" },
  { STMT_MIRROR_SET_ID,
    "UPDATE vdisk SET mirror_id = ?2 WHERE id = ?1" },
  { STMT_COUNT, NULL }
};

/* The mirror row at the current result row of S (vseg, container, unit,
 * stale) into *M (STALE, if not NULL, gets the bitmap, N_BYTES). */
static void
mirror_row (sqlite3_stmt *s, struct sm_mirror *m, uint8_t *stale,
            uint32_t n_bytes)
{
  memset (m, 0, sizeof *m);
  m->present = true;
  if (sqlite3_column_type (s, 1) != SQLITE_NULL)
    m->loc = entry_make (sqlite3_column_int64 (s, 1),
                         sqlite3_column_int64 (s, 2), ENTRY_VALID);
  m->stale = sqlite3_column_type (s, 3) != SQLITE_NULL;
  if (stale) {
    uint32_t len = sqlite3_column_bytes (s, 3);
    memset (stale, 0, n_bytes);
    if (m->stale)
      memcpy (stale, sqlite3_column_blob (s, 3),
              len < n_bytes ? len : n_bytes);
  }
}

int
store_mirror_get (struct store *st, uint32_t vdisk, uint64_t first,
                  uint32_t count, struct sm_mirror *out)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MIRROR_GET];
  int r;

  memset (out, 0, count * sizeof *out);
  if (count == 0)
    return 0;
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, first);
  sqlite3_bind_int64 (s, 3, first + count - 1);
  while ((r = stmt_row (st, s, "reading the mirror of vdisk %" PRIu32,
                        vdisk)) == 1)
    mirror_row (s, &out[sqlite3_column_int64 (s, 0) - first], NULL, 0);
  return r;
}

int
store_mirror_get_one (struct store *st, uint32_t vdisk, uint64_t vseg,
                      struct sm_mirror *m, uint8_t *stale, uint32_t n_bytes)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MIRROR_GET];
  int r;

  memset (m, 0, sizeof *m);
  memset (stale, 0, n_bytes);
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  sqlite3_bind_int64 (s, 3, vseg);
  r = stmt_row (st, s, "reading the mirror of vdisk %" PRIu32 " segment %"
                PRIu64, vdisk, vseg);
  if (r == 1)
    mirror_row (s, m, stale, n_bytes);
  return r == -1 ? -1 : 0;
}

int
store_mirror_put (struct store *st, uint32_t vdisk, uint64_t vseg,
                  sm_entry loc, const uint8_t *stale, uint32_t n_bytes)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MIRROR_PUT];

  if (loc == 0 && stale == NULL)
    return store_fail (EINVAL, "vdisk %" PRIu32 " segment %" PRIu64 ": a "
                       "mirror row without a copy must be stale", vdisk,
                       vseg);
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  if (loc) {
    sqlite3_bind_int64 (s, 3, entry_container (loc));
    sqlite3_bind_int64 (s, 4, entry_unit (loc));
  }
  else {
    sqlite3_bind_null (s, 3);
    sqlite3_bind_null (s, 4);
  }
  if (stale)
    sqlite3_bind_blob (s, 5, stale, n_bytes, SQLITE_STATIC);
  else
    sqlite3_bind_null (s, 5);
  return stmt_run (st, s, "recording the mirror of vdisk %" PRIu32
                   " segment %" PRIu64, vdisk, vseg);
}

int
store_mirror_delete (struct store *st, uint32_t vdisk, uint64_t vseg)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MIRROR_DELETE];

  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  return stmt_run (st, s, "dropping the mirror of vdisk %" PRIu32
                   " segment %" PRIu64, vdisk, vseg);
}

int
store_mirror_next_stale (struct store *st, uint32_t vdisk, uint64_t from,
                         uint64_t *vseg)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MIRROR_NEXT_STALE];
  int r;

  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, from);
  r = stmt_row (st, s, "finding a stale mirror of vdisk %" PRIu32, vdisk);
  if (r == 1)
    *vseg = sqlite3_column_int64 (s, 0);
  return r;
}

int
store_vdisk_set_mirror (struct store *st, uint32_t vdisk, uint32_t container)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MIRROR_SET_ID];

  sqlite3_bind_int64 (s, 1, vdisk);
  if (container)
    sqlite3_bind_int64 (s, 2, container);
  else
    sqlite3_bind_null (s, 2);
  return stmt_run (st, s, "setting the mirror of vdisk %" PRIu32, vdisk);
}
