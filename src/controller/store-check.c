/* segmap: the store's consistency check (segmapctl check).
 *
 * It proves the invariants of sql/001-initial.sql on the durable state:
 * SQLite's own integrity; every reference between rows; map rows point
 * at the start of an allocated segment of the vdisk's segment size;
 * refcount = number of map rows and data movements referencing the
 * segment (0 references is a leak); a movement's vdisk exists, its
 * segment's map row is at its orig, its alt is an allocated segment of
 * the vdisk's segment size that no map row and no other movement
 * references, and its bitmap has one bit per block; a clone's link
 * names a live snapshot, the tree of snapshots and clones has no
 * cycle, and a running or paused job's vdisk exists (sql/007);
 * segments of a container never overlap and lie inside it;
 * map rows lie inside their vdisk; flags are well formed.
 *
 * Each check is one query whose rows are the problems it found, already
 * phrased as sentences (SQL printf), so adding a check is adding a
 * query.  The queries use the primary keys and one sort of the map by
 * location: the whole check is a few linear scans.  The references
 * checked in detail here (map to segment has no foreign key since
 * sql/003; movements are checked with sentences of their own) are left
 * out of the generic foreign_key_check, which remains
 * for tables added by later schemas.
 * All queries run in one read transaction, so they see one state.
 */
#include <config.h>

#include <stdbool.h>

#include "controller/store.h"
#include "controller/store-internal.h"

/* How a vdisk is named in problems: 'name', or #id if it is missing. */
#define VDISK_NAME(v, id) \
  "coalesce ('''' || " v ".name || '''', '#' || " id ")"

static const char *const check_sql[] = {
  "SELECT 'SQLite integrity check: ' || integrity_check"
  " FROM pragma_integrity_check WHERE integrity_check <> 'ok'",

  "SELECT printf ('table %s row %s references a missing row of table %s',"
  "               t.name, coalesce (f.rowid, '?'), f.parent)"
  " FROM sqlite_master t, pragma_foreign_key_check (t.name) f"
  " WHERE t.type = 'table'"
  "   AND t.name NOT IN ('map', 'vdisk', 'segment', 'movement')",

  "SELECT printf ('vdisk #%d does not exist but has %d map entries',"
  "               vdisk_id, count (*))"
  " FROM map WHERE vdisk_id NOT IN (SELECT id FROM vdisk) GROUP BY vdisk_id",

  "SELECT printf ('vdisk ''%s'' counts %d mapped segments but has %d map"
  " entries', v.name, v.mapped, count (m.vseg))"
  " FROM vdisk v LEFT JOIN map m ON m.vdisk_id = v.id"
  " GROUP BY v.id HAVING v.mapped <> count (m.vseg)",

  "SELECT printf ('vdisk ''%s'' allocates from container #%d, which does"
  " not exist', name, container_id)"
  " FROM vdisk WHERE container_id NOT IN (SELECT id FROM container)",

  "SELECT printf ('container #%d does not exist but holds %d segments',"
  "               container_id, count (*))"
  " FROM segment WHERE container_id NOT IN (SELECT id FROM container)"
  " GROUP BY container_id",

  "SELECT printf ('vdisk %s segment %d maps container %d unit %d, which is"
  " not an allocated segment', " VDISK_NAME ("v", "m.vdisk_id") ","
  "               m.vseg, m.container_id, m.unit)"
  " FROM map m LEFT JOIN vdisk v ON v.id = m.vdisk_id"
  " WHERE m.container_id IS NOT NULL AND NOT EXISTS"
  "  (SELECT 1 FROM segment s"
  "   WHERE s.container_id = m.container_id AND s.unit = m.unit)",

  "SELECT printf ('vdisk ''%s'' segment %d maps segment %d:%d of %d units,"
  " but its segments are %d units', v.name, m.vseg, s.container_id, s.unit,"
  "               s.units, 1 << (v.seg_shift - 16))"
  " FROM map m JOIN vdisk v ON v.id = m.vdisk_id"
  " JOIN segment s ON s.container_id = m.container_id AND s.unit = m.unit"
  " WHERE s.units <> 1 << (v.seg_shift - 16)",

  "WITH refs AS (SELECT container_id, unit, sum (m) AS n_map,"
  "                     sum (1 - m) AS n_move"
  "              FROM (SELECT container_id, unit, 1 AS m FROM map"
  "                    WHERE container_id IS NOT NULL"
  "                    UNION ALL SELECT alt_container_id, alt_unit, 0"
  "                    FROM movement)"
  "              GROUP BY container_id, unit)"
  " SELECT CASE WHEN r.n_map IS NULL"
  "  THEN printf ('segment %d:%d (%d units) is referenced by no map entry"
  " or movement (leaked)', s.container_id, s.unit, s.units)"
  "  ELSE printf ('segment %d:%d has reference count %d but %d map entries"
  " and %d movements reference it', s.container_id, s.unit, s.refcount,"
  "               r.n_map, r.n_move) END"
  " FROM segment s LEFT JOIN refs r"
  "  ON r.container_id = s.container_id AND r.unit = s.unit"
  " WHERE coalesce (r.n_map + r.n_move, 0) <> s.refcount",

  /* Data movements (sql/005). */
  "SELECT printf ('vdisk #%d does not exist but has %d data movements',"
  "               vdisk_id, count (*))"
  " FROM movement WHERE vdisk_id NOT IN (SELECT id FROM vdisk)"
  " GROUP BY vdisk_id",

  "SELECT printf ('vdisk %s segment %d moves from %s, but its map entry is"
  " %s', " VDISK_NAME ("v", "mv.vdisk_id") ", mv.vseg,"
  "               coalesce (mv.orig_container_id || ':' || mv.orig_unit,"
  "                         'zero'),"
  "               CASE WHEN m.vseg IS NULL THEN 'zero'"
  "               ELSE coalesce (m.container_id || ':' || m.unit,"
  "                              'an error entry') END)"
  " FROM movement mv LEFT JOIN vdisk v ON v.id = mv.vdisk_id"
  " LEFT JOIN map m ON m.vdisk_id = mv.vdisk_id AND m.vseg = mv.vseg"
  " WHERE CASE WHEN mv.orig_container_id IS NULL THEN m.vseg IS NOT NULL"
  "  ELSE m.container_id IS NOT mv.orig_container_id"
  "    OR m.unit IS NOT mv.orig_unit END",

  "SELECT printf ('vdisk %s segment %d moves to container %d unit %d, which"
  " is not an allocated segment', " VDISK_NAME ("v", "mv.vdisk_id") ","
  "               mv.vseg, mv.alt_container_id, mv.alt_unit)"
  " FROM movement mv LEFT JOIN vdisk v ON v.id = mv.vdisk_id"
  " WHERE NOT EXISTS (SELECT 1 FROM segment s"
  "  WHERE s.container_id = mv.alt_container_id AND s.unit = mv.alt_unit)",

  "SELECT printf ('vdisk ''%s'' segment %d moves to segment %d:%d of %d"
  " units, but its segments are %d units', v.name, mv.vseg,"
  "               s.container_id, s.unit, s.units, 1 << (v.seg_shift - 16))"
  " FROM movement mv JOIN vdisk v ON v.id = mv.vdisk_id"
  " JOIN segment s ON s.container_id = mv.alt_container_id"
  "  AND s.unit = mv.alt_unit"
  " WHERE s.units <> 1 << (v.seg_shift - 16)",

  "SELECT printf ('vdisk ''%s'' segment %d: the bitmap of its movement has"
  " %d bytes, but its segments have %d blocks (%d bytes)', v.name,"
  "               mv.vseg, length (mv.at_alt), 1 << (v.seg_shift - 12),"
  "               1 << (v.seg_shift - 15))"
  " FROM movement mv JOIN vdisk v ON v.id = mv.vdisk_id"
  " WHERE typeof (mv.at_alt) <> 'blob'"
  "    OR length (mv.at_alt) <> 1 << (v.seg_shift - 15)",

  "SELECT printf ('segment %d:%d is where vdisk %s segment %d moves, but"
  " vdisk %s segment %d maps it', m.container_id, m.unit, "
  VDISK_NAME ("v", "mv.vdisk_id") ", mv.vseg, "
  VDISK_NAME ("w", "m.vdisk_id") ", m.vseg)"
  " FROM map m JOIN movement mv ON mv.alt_container_id = m.container_id"
  "  AND mv.alt_unit = m.unit"
  " LEFT JOIN vdisk v ON v.id = mv.vdisk_id"
  " LEFT JOIN vdisk w ON w.id = m.vdisk_id",

  "SELECT printf ('segment %d:%d is where %d movements move', "
  "               alt_container_id, alt_unit, count (*))"
  " FROM movement GROUP BY alt_container_id, alt_unit HAVING count (*) > 1",

  /* Clones and jobs (sql/007). */
  "SELECT printf ('vdisk ''%s'' is a clone of vdisk #%d, which is not a"
  " snapshot', v.name, v.clone_of)"
  " FROM vdisk v LEFT JOIN vdisk s ON s.id = v.clone_of"
  " WHERE v.clone_of IS NOT NULL"
  "   AND (s.id IS NULL OR s.kind <> 'snapshot' OR s.deleting = 1)",

  /* Up the tree from each vdisk (a snapshot to its origin, a clone to
   * its snapshot), at most as many steps as there are vdisks. */
  "WITH RECURSIVE up (start, node, depth) AS"
  " (SELECT id, coalesce (parent_id, clone_of), 1 FROM vdisk"
  "  WHERE coalesce (parent_id, clone_of) IS NOT NULL"
  "  UNION ALL SELECT up.start, coalesce (v.parent_id, v.clone_of),"
  "                   up.depth + 1"
  "  FROM up JOIN vdisk v ON v.id = up.node"
  "  WHERE up.node <> up.start"
  "    AND up.depth <= (SELECT count (*) FROM vdisk))"
  " SELECT DISTINCT printf ('the tree of snapshots and clones has a cycle"
  " through vdisk ''%s''', v.name)"
  " FROM up JOIN vdisk v ON v.id = up.start WHERE up.node = up.start",

  "SELECT printf ('job %d (%s) is %s for vdisk #%d (''%s''), which does"
  " not exist', j.id, j.kind, j.state, j.vdisk_id, j.vdisk)"
  " FROM job j LEFT JOIN vdisk v ON v.id = j.vdisk_id AND v.deleting = 0"
  " WHERE j.state IN ('running', 'paused') AND v.id IS NULL",

  "SELECT printf ('segment %d:%d (%d units) overlaps an earlier segment of"
  " container %d, which ends at unit %d', container_id, unit, units,"
  "               container_id, prev_end)"
  " FROM (SELECT container_id, unit, units,"
  "              max (unit + units) OVER (PARTITION BY container_id"
  "                ORDER BY unit ROWS BETWEEN UNBOUNDED PRECEDING"
  "                AND 1 PRECEDING) AS prev_end FROM segment)"
  " WHERE prev_end > unit",

  "SELECT printf ('segment %d:%d (%d units) extends past the end of"
  " container ''%s'' (%d units)', s.container_id, s.unit, s.units, c.name,"
  "               c.size / 65536)"
  " FROM segment s JOIN container c ON c.id = s.container_id"
  " WHERE (s.unit + s.units) * 65536 > c.size",

  "SELECT printf ('vdisk ''%s'' maps segment %d, past its end (%d segments)',"
  "               v.name, m.vseg,"
  "               (v.size + (1 << v.seg_shift) - 1) >> v.seg_shift)"
  " FROM vdisk v JOIN map m ON m.vdisk_id = v.id"
  " WHERE m.vseg >= (v.size + (1 << v.seg_shift) - 1) >> v.seg_shift",

  "SELECT printf ('vdisk %s segment %d has malformed flags %s', "
  VDISK_NAME ("v", "m.vdisk_id") ", m.vseg, quote (m.flags))"
  " FROM map m LEFT JOIN vdisk v ON v.id = m.vdisk_id"
  " WHERE typeof (m.flags) <> 'integer' OR m.flags & 1 = 0"
  "    OR m.flags & ~123 <> 0",

  /* Changed-block tracking (sql/008). */
  "SELECT printf ('%s %s: its base %s is not a snapshot', v.kind, v.name,"
  "               coalesce (b.name, b.id, v.base_id))"
  " FROM vdisk v LEFT JOIN vdisk b ON b.id = v.base_id"
  " WHERE v.base_id IS NOT NULL AND v.deleting = 0"
  "   AND (b.id IS NULL OR b.kind <> 'snapshot' OR b.deleting = 1)",

  "WITH RECURSIVE up (start, id, depth) AS ("
  "  SELECT id, base_id, 1 FROM vdisk WHERE base_id IS NOT NULL"
  "  UNION ALL SELECT up.start, v.base_id, up.depth + 1"
  "  FROM up JOIN vdisk v ON v.id = up.id"
  "  WHERE v.base_id IS NOT NULL AND up.id <> up.start AND up.depth < 100000)"
  " SELECT DISTINCT printf ('the base links of %s make a cycle', v.name)"
  " FROM up JOIN vdisk v ON v.id = up.start WHERE up.id = up.start",

  "SELECT printf ('%s %s has changed-block marks but no base snapshot',"
  "               v.kind, v.name)"
  " FROM vdisk v WHERE v.base_id IS NULL"
  "  AND EXISTS (SELECT 1 FROM cbt_mark c WHERE c.owner_id = v.id)",

  "SELECT printf ('%s ''%s'' segment %d: its changed-block marks have %d"
  " bytes, its segments %d', v.kind, v.name, c.vseg, length (c.blocks),"
  "               1 << (v.seg_shift - 15))"
  " FROM cbt_mark c JOIN vdisk v ON v.id = c.owner_id"
  " WHERE typeof (c.blocks) <> 'blob'"
  "    OR length (c.blocks) <> 1 << (v.seg_shift - 15)",
  "SELECT printf ('vdisk %s segment %d has no location but is not an"
  " error entry', " VDISK_NAME ("v", "m.vdisk_id") ", m.vseg)"
  " FROM map m LEFT JOIN vdisk v ON v.id = m.vdisk_id"
  " WHERE (m.container_id IS NULL) <> (m.unit IS NULL)"
  "    OR (m.container_id IS NULL AND m.flags & 8 = 0)",
};

static void
finalize_stmt (sqlite3_stmt **s)
{
  sqlite3_finalize (*s);
}

/* Run one check query: the number of problems it reported, or -1. */
static int
run_check (struct store *st, const char *sql,
           void (*report) (void *opaque, const char *problem), void *opaque)
{
  __attribute__ ((cleanup (finalize_stmt))) sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2 (st->db, sql, -1, &s, NULL);
  int n = 0;

  if (rc != SQLITE_OK)
    return store_sql_fail (st, rc, "preparing a check");
  while ((rc = sqlite3_step (s)) == SQLITE_ROW) {
    const char *problem = (const char *) sqlite3_column_text (s, 0);
    if (report)
      report (opaque, problem ? problem : "(unprintable problem)");
    n++;
  }
  if (rc != SQLITE_DONE)
    return store_sql_fail (st, rc, "checking the database");
  return n;
}

int
store_check (struct store *st,
             void (*report) (void *opaque, const char *problem), void *opaque)
{
  bool own_txn = !store_in_transaction (st);
  int total = 0;
  size_t i;

  if (own_txn && store_exec (st, "BEGIN", "starting a check") == -1)
    return -1;
  for (i = 0; i < sizeof check_sql / sizeof check_sql[0] && total >= 0; i++) {
    int n = run_check (st, check_sql[i], report, opaque);
    total = n == -1 ? -1 : total + n;
  }
  if (own_txn && store_exec (st, "COMMIT", "ending a check") == -1)
    sqlite3_exec (st->db, "ROLLBACK", NULL, NULL, NULL);
  return total;
}
