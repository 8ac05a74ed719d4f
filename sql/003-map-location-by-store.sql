-- segmap schema version 3: the map's reference to its segment is kept by
-- the store and proven by store_check, no longer by a foreign key.
--
-- Every first write to a thin vdisk inserts one segment row and one map
-- row.  The foreign key from map to segment made SQLite probe the segment
-- table on each map insert, and it needed the map_location index (for
-- segment deletes) maintained on each insert as well: together about a
-- third of the instructions an allocation cost (callgrind, 60,000 random
-- allocations: 29,000 -> 19,000 per allocation).  What they guarded is
-- guarded anyway:
--   * store_allocate inserts the segment row before the map row, and
--     store_map_set refuses a location that is not an allocated segment;
--   * a segment row goes only when its reference count reaches 0, and
--     the count is the number of map rows referencing it;
--   * store_check proves both (a map row naming no segment, and a count
--     that differs from the map rows naming the segment).
-- A later feature that must find a segment's map rows by location (moving
-- shared segments) adds the index it needs then.
--
-- The map table is rebuilt (SQLite cannot drop a table constraint); the
-- other foreign keys, the checks and the rows stay as they were.

CREATE TABLE map_v3 (
  vdisk_id     INTEGER NOT NULL REFERENCES vdisk (id),
  vseg         INTEGER NOT NULL CHECK (typeof (vseg) = 'integer'
                                       AND vseg >= 0),
  container_id INTEGER,
  unit         INTEGER,
  flags        INTEGER NOT NULL CHECK (flags & 1 = 1 AND flags & ~27 = 0),
  PRIMARY KEY (vdisk_id, vseg),
  CHECK ((container_id IS NULL) = (unit IS NULL)),
  CHECK (container_id IS NOT NULL OR flags & 8 = 8)
) WITHOUT ROWID;

INSERT INTO map_v3 (vdisk_id, vseg, container_id, unit, flags)
  SELECT vdisk_id, vseg, container_id, unit, flags FROM map;

DROP TABLE map;                 -- and its index map_location

ALTER TABLE map_v3 RENAME TO map;
