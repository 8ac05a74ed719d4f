-- segmap schema version 13: mirrored vdisks (src/controller/mirror.c).
--
-- A vdisk with MIRROR_ID set keeps a second copy of every mapped
-- segment on that container.  MIRROR holds the copy of map row (VDISK_ID,
-- VSEG): its location (CONTAINER_ID, UNIT; both NULL while it has none
-- yet) and STALE, the bitmap of the 4 KiB blocks in which the copy is
-- behind the map row's segment (NULL: identical).  The map row's segment
-- is the one that serves; the copy is written with it while STALE is
-- NULL, and the blocks written while it is not are added to STALE, which
-- a resync job copies and clears.  The copy's segment has a segment row
-- of its own (refcount 1), so the allocator and `check' count it.

ALTER TABLE vdisk ADD COLUMN mirror_id INTEGER REFERENCES container (id);

CREATE TABLE mirror (
  vdisk_id     INTEGER NOT NULL,
  vseg         INTEGER NOT NULL CHECK (typeof (vseg) = 'integer'
                                       AND vseg >= 0),
  container_id INTEGER,
  unit         INTEGER,
  stale        BLOB,
  CHECK ((container_id IS NULL) = (unit IS NULL)),
  CHECK (container_id IS NOT NULL OR stale IS NOT NULL),
  PRIMARY KEY (vdisk_id, vseg)
) WITHOUT ROWID;

CREATE INDEX mirror_stale ON mirror (vdisk_id, vseg) WHERE stale IS NOT NULL;
