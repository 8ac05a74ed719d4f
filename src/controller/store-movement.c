/* segmap: the store's data movements (sql/005-movement.sql).
 *
 * A movement row is the durable part of a registry entry of
 * faults-move.c: the segment (vdisk, vseg), where its data was (orig:
 * a location, or none for a zero segment), where it goes (alt), whether
 * host writes are redirected, and the bitmap of blocks already at alt.
 *
 * The alt segment's reference.  store_movement_put records the alt
 * segment (a segment row, refcount 1: the movement's reference) and the
 * movement row together, all or nothing, as store_allocate records a
 * segment with its map row: the controller's allocator chose the place.
 * store_movement_delete removes the row only: the reference it held
 * passes to the caller, who in the same transaction either maps alt
 * (the map row takes the reference over) or drops it
 * (store_segment_ref -1).  So refcount = map rows + movement rows at
 * every commit.
 *
 * Movements are few and short-lived, and a row changes once per
 * redirected write or copied range: statements are prepared at open as
 * everywhere, but nothing here is on the allocation path.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "controller/store.h"
#include "controller/store-internal.h"

/* Bitmap bytes of the smallest and the largest segment. */
#define AT_ALT_MIN (SM_SEGMENT_SIZE_MIN / SM_BLOCK_SIZE / 8)
#define AT_ALT_MAX (SM_SEGMENT_SIZE_MAX / SM_BLOCK_SIZE / 8)

const struct stmt_def store_movement_stmts[] = {
  { STMT_MOVE_INSERT,
    "INSERT INTO movement (vdisk_id, vseg, orig_container_id, orig_unit,"
    " alt_container_id, alt_unit, redirect, at_alt)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" },
  { STMT_MOVE_UPDATE,
    "UPDATE movement SET at_alt = ?3 WHERE vdisk_id = ?1 AND vseg = ?2" },
  { STMT_MOVE_DELETE,
    "DELETE FROM movement WHERE vdisk_id = ?1 AND vseg = ?2" },
  { STMT_MOVE_LIST_ALL,
    "SELECT vdisk_id, vseg, orig_container_id, orig_unit, alt_container_id,"
    " alt_unit, redirect, at_alt FROM movement ORDER BY vdisk_id, vseg" },
  { STMT_MOVE_LIST_ONE,
    "SELECT vdisk_id, vseg, orig_container_id, orig_unit, alt_container_id,"
    " alt_unit, redirect, at_alt FROM movement WHERE vdisk_id = ?1"
    " ORDER BY vseg" },
  { STMT_COUNT, NULL }
};

/* Can M be stored?  orig: a plain location or the zero segment; alt: a
 * plain location elsewhere; the bitmap of a possible segment size. */
static int
check_movement (const struct sm_movement *m)
{
  bool zero = m->orig == ENTRY_ZERO_SEGMENT;

  if (m->vseg > (uint64_t) INT64_MAX
      || (!zero && (entry_flags (m->orig) != ENTRY_VALID
                    || entry_container (m->orig) == 0))
      || entry_flags (m->alt) != ENTRY_VALID || entry_container (m->alt) == 0
      || m->alt == m->orig || m->n_bytes < AT_ALT_MIN
      || m->n_bytes > AT_ALT_MAX || (m->n_bytes & (m->n_bytes - 1)) != 0)
    return store_fail (EINVAL, "vdisk %" PRIu32 " segment %" PRIu64
                       ": cannot store a movement from 0x%" PRIx64
                       " to 0x%" PRIx64 " (%" PRIu32 " bitmap bytes)",
                       m->vdisk, m->vseg, m->orig, m->alt, m->n_bytes);
  return 0;
}

/* The movement row of M. */
static int
movement_row_insert (struct store *st, const struct sm_movement *m)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MOVE_INSERT];

  sqlite3_bind_int64 (s, 1, m->vdisk);
  sqlite3_bind_int64 (s, 2, m->vseg);
  if (m->orig != ENTRY_ZERO_SEGMENT) {
    sqlite3_bind_int64 (s, 3, entry_container (m->orig));
    sqlite3_bind_int64 (s, 4, entry_unit (m->orig));
  }
  else {
    sqlite3_bind_null (s, 3);
    sqlite3_bind_null (s, 4);
  }
  sqlite3_bind_int64 (s, 5, entry_container (m->alt));
  sqlite3_bind_int64 (s, 6, entry_unit (m->alt));
  sqlite3_bind_int (s, 7, m->redirect);
  sqlite3_bind_blob (s, 8, m->at_alt, m->n_bytes, SQLITE_STATIC);
  return stmt_run (st, s, "recording the movement of vdisk %" PRIu32
                   " segment %" PRIu64, m->vdisk, m->vseg);
}

int
store_movement_put (struct store *st, const struct sm_movement *m)
{
  uint32_t units = (uint32_t) ((uint64_t) m->n_bytes * 8 * SM_BLOCK_SIZE
                               / SM_UNIT_SIZE);
  int r;

  if (check_movement (m) == -1 || store_savepoint (st) == -1)
    return -1;
  r = store_segment_insert (st, entry_container (m->alt),
                            entry_unit (m->alt), units);
  if (r == 0)
    r = movement_row_insert (st, m);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}

/* R, the result of a statement on the movement of VSEG of VDISK: ENOENT
 * if it changed no row (there is no such movement). */
static int
one_changed (struct store *st, int r, uint32_t vdisk, uint64_t vseg)
{
  if (r == -1)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return store_fail (ENOENT, "vdisk %" PRIu32 " segment %" PRIu64
                       " has no movement", vdisk, vseg);
  return 0;
}

int
store_movement_update (struct store *st, uint32_t vdisk, uint64_t vseg,
                       const uint8_t *at_alt, uint32_t n_bytes)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MOVE_UPDATE];

  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  sqlite3_bind_blob (s, 3, at_alt, n_bytes, SQLITE_STATIC);
  return one_changed (st, stmt_run (st, s, "updating the movement of vdisk %"
                                    PRIu32 " segment %" PRIu64, vdisk, vseg),
                      vdisk, vseg);
}

int
store_movement_delete (struct store *st, uint32_t vdisk, uint64_t vseg)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MOVE_DELETE];

  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  return one_changed (st, stmt_run (st, s, "deleting the movement of vdisk %"
                                    PRIu32 " segment %" PRIu64, vdisk, vseg),
                      vdisk, vseg);
}

/* A location column pair (COL, COL+1) as an entry: NULL is zero. */
static sm_entry
column_location (sqlite3_stmt *s, int col)
{
  if (sqlite3_column_type (s, col) == SQLITE_NULL)
    return ENTRY_ZERO_SEGMENT;
  return entry_make (sqlite3_column_int64 (s, col),
                     sqlite3_column_int64 (s, col + 1), ENTRY_VALID);
}

/* The movement of the current row of S into *M (a copy of the bitmap). */
static int
row_movement (struct store *st, sqlite3_stmt *s, struct sm_movement *m)
{
  const void *blob = sqlite3_column_blob (s, 7);

  *m = (struct sm_movement) {
    .vdisk = sqlite3_column_int64 (s, 0),
    .vseg = sqlite3_column_int64 (s, 1),
    .orig = column_location (s, 2), .alt = column_location (s, 4),
    .redirect = sqlite3_column_int (s, 6) != 0,
    .n_bytes = sqlite3_column_bytes (s, 7),
  };
  if (check_movement (m) == -1)
    return store_fail (EIO, "%s: corrupt movement row: vdisk %" PRIu32
                       " segment %" PRIu64, store_path (st), m->vdisk,
                       m->vseg);
  m->at_alt = malloc (m->n_bytes);
  if (m->at_alt == NULL)
    return store_fail (errno, "malloc: %m");
  memcpy (m->at_alt, blob, m->n_bytes);
  return 0;
}

int
store_movement_list (struct store *st, uint32_t vdisk,
                     struct sm_movement **out, size_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET =
    st->stmt[vdisk ? STMT_MOVE_LIST_ONE : STMT_MOVE_LIST_ALL];
  struct sm_movement *v = NULL;
  size_t len = 0, cap = 0;
  int r;

  if (vdisk)
    sqlite3_bind_int64 (s, 1, vdisk);
  while ((r = stmt_row (st, s, "listing movements")) == 1) {
    if (store_grow ((void **) &v, &cap, len, sizeof *v) == -1
        || row_movement (st, s, &v[len]) == -1) {
      r = -1;
      break;
    }
    len++;
  }
  if (r == -1) {
    sm_movement_free (v, len);
    return -1;
  }
  *out = v;
  *n = len;
  return 0;
}

void
sm_movement_free (struct sm_movement *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i].at_alt);
  free (v);
}
