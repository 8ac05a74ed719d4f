-- segmap schema version 1: containers, vdisks, physical segments, the map.
--
-- The controller's durable, authoritative state.  Units: sizes are in
-- bytes; a physical location is (container, unit) where a unit is 64 KiB
-- (SM_UNIT_SIZE), the smallest segment size, so that every segment of
-- every vdisk starts on a unit boundary of its container.
--
-- Invariants (store_check proves them):
--   * a map row points at the start of an existing segment whose size is
--     the vdisk's segment size;
--   * segment.refcount = number of map rows pointing at the segment
--     (several rows share a segment once snapshots and clones exist:
--     copy the map rows, add to the refcounts; a write to a shared
--     segment gives the writer a new one and drops one reference);
--   * segments of one container never overlap and lie inside it;
--   * no map row lies beyond its vdisk's last segment;
--   * a segment that no map row references does not exist: freeing is
--     deleting the row (the allocator zeroes the space before reuse).
-- A zero (never written or trimmed) virtual segment has no map row.
--
-- This file is applied once, inside a transaction, by store_open, which
-- then sets PRAGMA user_version = 1.  Never edit it once released: add
-- sql/NNN-what.sql instead.

-- Key/value facts about the database and its last run: 'clean' ('1' after
-- a clean shutdown, '0' while running), 'needs_check', 'instance_id'.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL CHECK (length (key) > 0),
  value TEXT NOT NULL
);

INSERT INTO meta (key, value) VALUES
  ('instance_id', lower (hex (randomblob (16)))),
  ('clean', '1'),
  ('needs_check', '0');

-- A backing store: a file or block device.  Ids are the 16-bit container
-- field of a map entry (proto/entry.h); 0 means "no container".
CREATE TABLE container (
  id      INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 65535),
  name    TEXT UNIQUE NOT NULL CHECK (length (name) BETWEEN 1 AND 64),
  path    TEXT NOT NULL CHECK (length (path) > 0),
  -- bytes, a whole number of units, at most 2^40 units
  size    INTEGER NOT NULL CHECK (typeof (size) = 'integer'
                                  AND size > 0 AND size % 65536 = 0
                                  AND size <= 72057594037927936),
  created INTEGER
);

-- A virtual disk.  AUTOINCREMENT: an id is never reused, so a message or
-- a volatile table that outlives a deleted vdisk can never be mistaken
-- for a newer one.  container_id is where new segments are allocated.
CREATE TABLE vdisk (
  id           INTEGER PRIMARY KEY AUTOINCREMENT
                 CHECK (id BETWEEN 1 AND 4294967295),
  name         TEXT UNIQUE NOT NULL CHECK (length (name) BETWEEN 1 AND 64),
  -- bytes, a whole number of 512-byte sectors, at most 8 PiB
  size         INTEGER NOT NULL CHECK (typeof (size) = 'integer'
                                       AND size > 0 AND size % 512 = 0
                                       AND size <= 9007199254740992),
  seg_shift    INTEGER NOT NULL CHECK (seg_shift BETWEEN 16 AND 26),
  container_id INTEGER REFERENCES container (id),
  created      INTEGER,
  read_only    INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1))
);

CREATE INDEX vdisk_container ON vdisk (container_id);

-- An allocated physical segment: UNITS units of the container starting
-- at UNIT, referenced by REFCOUNT map rows.
CREATE TABLE segment (
  container_id INTEGER NOT NULL REFERENCES container (id),
  unit         INTEGER NOT NULL CHECK (typeof (unit) = 'integer'
                                       AND unit BETWEEN 0 AND 1099511627775),
  units        INTEGER NOT NULL CHECK (units BETWEEN 1 AND 1024),
  refcount     INTEGER NOT NULL CHECK (refcount > 0),
  PRIMARY KEY (container_id, unit)
) WITHOUT ROWID;

-- The non-zero entries of each vdisk's table.  FLAGS are the entry flags
-- of proto/entry.h that are worth keeping: VALID (1, always), NOWRITE (2),
-- ERROR (8), ALT (16); never ZERO (4): a zero segment has no row.  Only
-- an ERROR entry may lack a location (both columns NULL).
CREATE TABLE map (
  vdisk_id     INTEGER NOT NULL REFERENCES vdisk (id),
  vseg         INTEGER NOT NULL CHECK (typeof (vseg) = 'integer'
                                       AND vseg >= 0),
  container_id INTEGER,
  unit         INTEGER,
  flags        INTEGER NOT NULL CHECK (flags & 1 = 1 AND flags & ~27 = 0),
  PRIMARY KEY (vdisk_id, vseg),
  FOREIGN KEY (container_id, unit) REFERENCES segment (container_id, unit),
  CHECK ((container_id IS NULL) = (unit IS NULL)),
  CHECK (container_id IS NOT NULL OR flags & 8 = 8)
) WITHOUT ROWID;

-- Who references a segment: used by the foreign key when a segment row
-- is deleted, by snapshots and migrations, and by store_check.
CREATE INDEX map_location ON map (container_id, unit);
