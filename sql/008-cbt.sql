-- segmap schema version 8: changed-block tracking (DESIGN §5 Snapshot;
-- src/controller/cbt.c).
--
-- BASE_ID is the snapshot a vdisk's or a snapshot's content derives
-- from: for a vdisk, its latest snapshot (or the snapshot it was rolled
-- back to or cloned from); for a snapshot, the vdisk's base when it was
-- taken.  NULL: derived from nothing tracked (a vdisk never
-- snapshotted, its first snapshot).  The base links make a tree whose
-- path between two nodes is what `vdisk diff' unites.
--
-- A CBT_MARK row holds, for one owner (a vdisk or snapshot) and one
-- virtual segment, one bit per 4 KiB block (LSB first within each byte,
-- as movement.at_alt) set when the block was written, trimmed or zeroed
-- between the owner's base and the owner: for a vdisk, since its base
-- (live marks); for a snapshot, between its base and the moment it was
-- taken (its delta, frozen then).  A vdisk with no base has no marks.
--
-- Crash exactness: a block written in place is marked, and the mark
-- committed (synchronous=FULL), before the agent may write it; a block
-- written to a new location (a first write, a copy-on-write) is marked
-- in the transaction that makes that location's data authoritative, so
-- losing the mark loses the data with it.

-- Map rows gain the flags TRACK (32) and OPEN (64), of a tracked vdisk
-- whose segment is written in place: TRACK (closed), a write to a block
-- not yet marked faults; OPEN, the agent writes and reports the blocks
-- it wrote (MARK), and after an unclean stop the unmarked blocks of
-- open segments are compared with the base (proto/entry.h, cbt.c).  The map table is rebuilt for its flags CHECK
-- (SQLite cannot alter a constraint), and its triggers (sql/004) with
-- it; rows and counts stay as they were.

CREATE TABLE map_v7 (
  vdisk_id     INTEGER NOT NULL REFERENCES vdisk (id),
  vseg         INTEGER NOT NULL CHECK (typeof (vseg) = 'integer'
                                       AND vseg >= 0),
  container_id INTEGER,
  unit         INTEGER,
  flags        INTEGER NOT NULL CHECK (flags & 1 = 1 AND flags & ~123 = 0),
  PRIMARY KEY (vdisk_id, vseg),
  CHECK ((container_id IS NULL) = (unit IS NULL)),
  CHECK (container_id IS NOT NULL OR flags & 8 = 8)
) WITHOUT ROWID;

INSERT INTO map_v7 (vdisk_id, vseg, container_id, unit, flags)
  SELECT vdisk_id, vseg, container_id, unit, flags FROM map;

DROP TABLE map;                 -- and its triggers

ALTER TABLE map_v7 RENAME TO map;

CREATE TRIGGER map_count_insert AFTER INSERT ON map
BEGIN
  UPDATE vdisk SET mapped = mapped + 1 WHERE id = NEW.vdisk_id;
END;

CREATE TRIGGER map_count_delete AFTER DELETE ON map
BEGIN
  UPDATE vdisk SET mapped = mapped - 1 WHERE id = OLD.vdisk_id;
END;

ALTER TABLE vdisk ADD COLUMN base_id INTEGER REFERENCES vdisk (id)
  CHECK (base_id IS NULL OR base_id <> id);

CREATE TABLE cbt_mark (
  owner_id INTEGER NOT NULL REFERENCES vdisk (id),
  vseg     INTEGER NOT NULL CHECK (typeof (vseg) = 'integer' AND vseg >= 0),
  blocks   BLOB NOT NULL CHECK (length (blocks) BETWEEN 1 AND 2048),
  PRIMARY KEY (owner_id, vseg)
) WITHOUT ROWID;

CREATE INDEX vdisk_base ON vdisk (base_id);
