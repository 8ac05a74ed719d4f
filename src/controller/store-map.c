/* segmap: the store's map and physical segments: the allocation path.
 *
 * A map row is a non-zero entry of a vdisk's table; a zero segment has
 * no row.  A segment row is allocated physical space, referenced by
 * REFCOUNT map rows (more than one once snapshots share it).  The
 * controller keeps the two in step inside one transaction: allocate =
 * store_segment_insert + store_map_set, or store_allocate when the
 * controller's allocator placed the segment; free = store_map_set (ZERO) +
 * store_segment_ref (-1), which deletes the segment at 0.  store_map_set
 * refuses a location that has no segment row, so the other order fails
 * instead of leaving a dangling row.  No foreign key does that for us
 * (sql/003): it made every allocation a third more expensive, and
 * store_check proves the reference and the counts.
 *
 * These functions run for every allocation and every fault the
 * controller answers from the database, so each is one or two
 * statements prepared at open, and nothing is formatted unless a call
 * fails.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include "common/errors.h"
#include "common/limits.h"
#include "controller/store.h"
#include "controller/store-internal.h"

#define UNITS_MAX (SM_SEGMENT_SIZE_MAX / SM_UNIT_SIZE)        /* 1024 */
/* Flags a stored map row may carry (never ZERO: zero has no row). */
#define MAP_FLAGS (ENTRY_VALID | ENTRY_NOWRITE | ENTRY_ERROR | ENTRY_ALT \
                   | ENTRY_TRACK | ENTRY_OPEN)

const struct stmt_def store_map_stmts[] = {
  { STMT_MAP_GET,
    "SELECT vseg, container_id, unit, flags FROM map"
    " WHERE vdisk_id = ?1 AND vseg >= ?2 AND vseg < ?3" },
  { STMT_MAP_UPSERT,
    "INSERT INTO map (vdisk_id, vseg, container_id, unit, flags)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (vdisk_id, vseg) DO UPDATE"
    " SET container_id = excluded.container_id, unit = excluded.unit,"
    "     flags = excluded.flags" },
  { STMT_MAP_INSERT,
    "INSERT INTO map (vdisk_id, vseg, container_id, unit, flags)"
    " VALUES (?1, ?2, ?3, ?4, ?5)" },
  { STMT_MAP_DELETE, "DELETE FROM map WHERE vdisk_id = ?1 AND vseg = ?2" },
  { STMT_MAP_FOREACH,
    "SELECT vseg, container_id, unit, flags FROM map"
    " WHERE vdisk_id = ?1 AND vseg >= ?2 ORDER BY vseg" },
  /* Kept by triggers (sql/004): one row, not a count of the map. */
  { STMT_MAP_COUNT, "SELECT mapped FROM vdisk WHERE id = ?1" },

  /* Where could segment ?1:?2 of ?3 units go?  The container's size in
   * units (NULL: no container), and where the segment that starts last
   * before the new one ends ends: segments never overlap, so that one
   * ends last of all those starting before the new end, and the new
   * segment overlaps some segment iff it overlaps that one.  Two index
   * probes.  (An INSERT ... SELECT WHERE NOT EXISTS doing the same is
   * five times slower: reading the table it inserts into, it goes
   * through a temporary table.) */
  { STMT_SEG_FITS,
    "SELECT (SELECT size / 65536 FROM container WHERE id = ?1),"
    " coalesce ((SELECT unit + units FROM segment"
    "            WHERE container_id = ?1 AND unit < ?2 + ?3"
    "            ORDER BY unit DESC LIMIT 1), 0)" },
  { STMT_SEG_INSERT,
    "INSERT INTO segment (container_id, unit, units, refcount)"
    " VALUES (?1, ?2, ?3, 1)" },
  { STMT_SEG_GET,
    "SELECT refcount FROM segment WHERE container_id = ?1 AND unit = ?2" },
  { STMT_SEG_UPDATE,
    "UPDATE segment SET refcount = ?3 WHERE container_id = ?1 AND unit = ?2" },
  { STMT_SEG_DELETE,
    "DELETE FROM segment WHERE container_id = ?1 AND unit = ?2" },
  { STMT_SEG_FOREACH_ALL,
    "SELECT container_id, unit, units, refcount FROM segment"
    " ORDER BY container_id, unit" },
  { STMT_SEG_FOREACH_ONE,
    "SELECT container_id, unit, units, refcount FROM segment"
    " WHERE container_id = ?1 ORDER BY unit" },
  { STMT_COUNT, NULL }
};

/*----------------------------------------------------------------------
 * The map
 */

/* The entry of a map row (columns vseg, container_id, unit, flags).
 * Rows the schema allows always make well-formed entries; anything
 * else is corruption, refused rather than handed to an agent. */
static int
row_entry (struct store *st, sqlite3_stmt *s, uint32_t vdisk, sm_entry *e)
{
  int64_t vseg = sqlite3_column_int64 (s, 0);
  int64_t c = sqlite3_column_int64 (s, 1);      /* NULL -> 0 */
  int64_t u = sqlite3_column_int64 (s, 2);
  int64_t f = sqlite3_column_int64 (s, 3);

  *e = entry_make (c, u, f);
  if (c < 0 || c > ENTRY_MAX_CONTAINER || u < 0 || u > (int64_t) ENTRY_MAX_UNIT
      || f < 0 || (f & ~MAP_FLAGS) || !(f & ENTRY_VALID)
      || (c == 0 && !(f & ENTRY_ERROR)))
    return store_fail (EIO, "%s: corrupt map row: vdisk %" PRIu32
                       " segment %" PRId64 " container %" PRId64 " unit %"
                       PRId64 " flags %" PRId64,
                       store_path (st), vdisk, vseg, c, u, f);
  return 0;
}

int
store_map_get (struct store *st, uint32_t vdisk, uint64_t first,
               uint32_t count, sm_entry *out)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_GET];
  uint32_t i;
  int r;

  if (first > (uint64_t) INT64_MAX - count)
    return store_fail (EINVAL, "map range %" PRIu64 "+%" PRIu32
                       " out of range", first, count);
  for (i = 0; i < count; i++)
    out[i] = ENTRY_ZERO_SEGMENT;
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, first);
  sqlite3_bind_int64 (s, 3, first + count);
  while ((r = stmt_row (st, s, "reading the map of vdisk %" PRIu32,
                        vdisk)) == 1) {
    uint64_t vseg = sqlite3_column_int64 (s, 0);
    if (row_entry (st, s, vdisk, &out[vseg - first]) == -1)
      return -1;
  }
  return r;
}

/* Can E be stored?  (ENTRY_ZERO_SEGMENT is not stored: it deletes.) */
static int
check_map_entry (uint32_t vdisk, uint64_t vseg, sm_entry e)
{
  bool located = entry_container (e) != 0;

  if (vseg > (uint64_t) INT64_MAX)
    return store_fail (EINVAL, "vdisk %" PRIu32 ": segment %" PRIu64
                       " out of range", vdisk, vseg);
  if (!entry_is_well_formed (e) || (entry_flags (e) & ~MAP_FLAGS) ||
      !(e & ENTRY_VALID) || (!located && entry_unit (e) != 0) ||
      (!located && !(e & ENTRY_ERROR)))
    return store_fail (EINVAL, "vdisk %" PRIu32 " segment %" PRIu64
                       ": cannot store entry 0x%" PRIx64, vdisk, vseg, e);
  return 0;
}

/* Bind E's location at ?3 and ?4: NULL, NULL for none. */
static void
bind_location (sqlite3_stmt *s, sm_entry e)
{
  if (entry_container (e) == 0) {
    sqlite3_bind_null (s, 3);
    sqlite3_bind_null (s, 4);
  }
  else {
    sqlite3_bind_int64 (s, 3, entry_container (e));
    sqlite3_bind_int64 (s, 4, entry_unit (e));
  }
}

/* The refcount of segment CONTAINER:UNIT into *RC: 1, 0 if there is
 * no such segment, or -1. */
static int
segment_refcount (struct store *st, uint32_t container, uint64_t unit,
                  int64_t *rc)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_SEG_GET];
  int r;

  sqlite3_bind_int64 (s, 1, container);
  sqlite3_bind_int64 (s, 2, unit);
  r = stmt_row (st, s, "reading segment %" PRIu32 ":%" PRIu64,
                container, unit);
  if (r == 1)
    *rc = sqlite3_column_int64 (s, 0);
  return r;
}

/* E's location, if it has one, must be an allocated segment. */
static int
check_location (struct store *st, sm_entry e)
{
  int64_t rc;
  int r;

  if (entry_container (e) == 0)
    return 0;
  r = segment_refcount (st, entry_container (e), entry_unit (e), &rc);
  if (r == 0)
    return store_fail (EINVAL, "container %" PRIu32 " unit %" PRIu64
                       " is not an allocated segment",
                       entry_container (e), entry_unit (e));
  return r == 1 ? 0 : -1;
}

int
store_map_set (struct store *st, uint32_t vdisk, uint64_t vseg, sm_entry e)
{
  bool zero = e == ENTRY_ZERO_SEGMENT;
  sqlite3_stmt *s CLEANUP_RESET =
    st->stmt[zero ? STMT_MAP_DELETE : STMT_MAP_UPSERT];

  if (!zero && (check_map_entry (vdisk, vseg, e) == -1
                || check_location (st, e) == -1))
    return -1;
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  if (!zero) {
    bind_location (s, e);
    sqlite3_bind_int64 (s, 5, entry_flags (e));
  }
  return stmt_run (st, s, "setting vdisk %" PRIu32 " segment %" PRIu64
                   " to entry 0x%" PRIx64, vdisk, vseg, e);
}

/* S is about to be walked: refuse a walk nested in another walk of the
 * same statement (a callback calling the same foreach). */
static int
check_not_walking (struct store *st, sqlite3_stmt *s)
{
  if (sqlite3_stmt_busy (s))
    return store_fail (EBUSY, "%s: nested walk of the same table",
                       store_path (st));
  return 0;
}

int
store_map_foreach (struct store *st, uint32_t vdisk, uint64_t first,
                   int (*fn) (void *opaque, uint64_t vseg, sm_entry e),
                   void *opaque)
{
  sqlite3_stmt *s = st->stmt[STMT_MAP_FOREACH];
  int r;

  if (check_not_walking (st, s) == -1)
    return -1;
  if (first > (uint64_t) INT64_MAX)
    return 0;
  {
    sqlite3_stmt *walk CLEANUP_RESET = s;
    sqlite3_bind_int64 (walk, 1, vdisk);
    sqlite3_bind_int64 (walk, 2, first);
    while ((r = stmt_row (st, walk, "walking the map of vdisk %" PRIu32,
                          vdisk)) == 1) {
      sm_entry e;
      if (row_entry (st, walk, vdisk, &e) == -1)
        return -1;
      if ((r = fn (opaque, sqlite3_column_int64 (walk, 0), e)) != 0)
        return r;
    }
  }
  return r;
}

int
store_map_count (struct store *st, uint32_t vdisk, uint64_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_COUNT];
  int r;

  sqlite3_bind_int64 (s, 1, vdisk);
  r = stmt_row (st, s, "counting the map of vdisk %" PRIu32, vdisk);
  if (r == -1)
    return -1;
  *n = r == 1 ? sqlite3_column_int64 (s, 0) : 0;      /* no vdisk: none */
  return 0;
}

/*----------------------------------------------------------------------
 * Segments
 */

/* Is there room for the segment in its container, overlapping none? */
static int
segment_fits (struct store *st, uint32_t container, uint64_t unit,
              uint32_t units)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_SEG_FITS];

  sqlite3_bind_int64 (s, 1, container);
  sqlite3_bind_int64 (s, 2, unit);
  sqlite3_bind_int64 (s, 3, units);
  if (stmt_row (st, s, "placing segment %" PRIu32 ":%" PRIu64,
                container, unit) != 1)
    return -1;
  if (sqlite3_column_type (s, 0) == SQLITE_NULL)
    return store_fail (ENOENT, "container %" PRIu32 " does not exist",
                       container);
  if (unit + units > (uint64_t) sqlite3_column_int64 (s, 0))
    return store_fail (EINVAL, "segment %" PRIu32 ":%" PRIu64 " (%" PRIu32
                       " units) ends past the end of its container (%"
                       PRId64 " units)", container, unit, units,
                       (int64_t) sqlite3_column_int64 (s, 0));
  if ((uint64_t) sqlite3_column_int64 (s, 1) > unit)
    return store_fail (EEXIST, "segment %" PRIu32 ":%" PRIu64 " (%" PRIu32
                       " units) overlaps an allocated segment",
                       container, unit, units);
  return 0;
}

/* Store refcount RC for segment CONTAINER:UNIT; 0 deletes the row. */
static int
segment_store_ref (struct store *st, uint32_t container, uint64_t unit,
                   int64_t rc)
{
  sqlite3_stmt *s CLEANUP_RESET =
    st->stmt[rc == 0 ? STMT_SEG_DELETE : STMT_SEG_UPDATE];

  sqlite3_bind_int64 (s, 1, container);
  sqlite3_bind_int64 (s, 2, unit);
  if (rc)
    sqlite3_bind_int64 (s, 3, rc);
  return stmt_run (st, s, "%s segment %" PRIu32 ":%" PRIu64,
                   rc ? "updating" : "freeing", container, unit);
}

static int
check_segment (uint32_t container, uint64_t unit, uint32_t units)
{
  if (container == 0 || container > ENTRY_MAX_CONTAINER ||
      unit > ENTRY_MAX_UNIT || units == 0 || units > UNITS_MAX)
    return store_fail (EINVAL, "invalid segment %" PRIu32 ":%" PRIu64
                       " (%" PRIu32 " units)", container, unit, units);
  return 0;
}

/* The segment row, refcount 1, with no placement check. */
static int
segment_row_insert (struct store *st, uint32_t container, uint64_t unit,
                    uint32_t units)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_SEG_INSERT];

  sqlite3_bind_int64 (s, 1, container);
  sqlite3_bind_int64 (s, 2, unit);
  sqlite3_bind_int64 (s, 3, units);
  return stmt_run (st, s, "inserting segment %" PRIu32 ":%" PRIu64,
                   container, unit);
}

int
store_segment_insert (struct store *st, uint32_t container, uint64_t unit,
                      uint32_t units)
{
  if (check_segment (container, unit, units) == -1
      || segment_fits (st, container, unit, units) == -1)
    return -1;
  return segment_row_insert (st, container, unit, units);
}

int
store_allocate (struct store *st, uint32_t vdisk, uint64_t vseg,
                sm_entry e, uint32_t units)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_MAP_INSERT];

  if (check_map_entry (vdisk, vseg, e) == -1
      || check_segment (entry_container (e), entry_unit (e), units) == -1
      || segment_row_insert (st, entry_container (e), entry_unit (e),
                             units) == -1)
    return -1;
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_int64 (s, 2, vseg);
  bind_location (s, e);
  sqlite3_bind_int64 (s, 5, entry_flags (e));
  if (stmt_run (st, s, "allocating vdisk %" PRIu32 " segment %" PRIu64,
                vdisk, vseg) == 0)
    return 0;
  /* All or nothing: take the segment row back (keeping the error). */
  int err = errno;
  segment_store_ref (st, entry_container (e), entry_unit (e), 0);
  errno = err;
  return -1;
}

int
store_segment_ref (struct store *st, uint32_t container, uint64_t unit,
                   int delta, uint32_t *refcount)
{
  int64_t old, rc;
  int r = segment_refcount (st, container, unit, &old);

  if (r <= 0)
    return r == -1 ? -1 : store_fail (ENOENT, "segment %" PRIu32 ":%"
                                      PRIu64 " does not exist",
                                      container, unit);
  rc = old + delta;
  if (rc < 0 || rc > UINT32_MAX)
    return store_fail (EINVAL, "segment %" PRIu32 ":%" PRIu64 ": reference "
                       "count %" PRId64 " %+d out of range",
                       container, unit, old, delta);
  if (delta != 0 && segment_store_ref (st, container, unit, rc) == -1)
    return -1;
  if (refcount)
    *refcount = rc;
  return 0;
}

int
store_segment_foreach (struct store *st, uint32_t container,
                       int (*fn) (void *opaque, uint32_t container,
                                  uint64_t unit, uint32_t units,
                                  uint32_t refcount),
                       void *opaque)
{
  sqlite3_stmt *s =
    st->stmt[container ? STMT_SEG_FOREACH_ONE : STMT_SEG_FOREACH_ALL];
  int r;

  if (check_not_walking (st, s) == -1)
    return -1;
  {
    sqlite3_stmt *walk CLEANUP_RESET = s;
    if (container)
      sqlite3_bind_int64 (walk, 1, container);
    while ((r = stmt_row (st, walk, "walking segments")) == 1) {
      r = fn (opaque, sqlite3_column_int64 (walk, 0),
              sqlite3_column_int64 (walk, 1), sqlite3_column_int64 (walk, 2),
              sqlite3_column_int64 (walk, 3));
      if (r != 0)
        return r;
    }
  }
  return r;
}
