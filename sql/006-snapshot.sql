-- segmap schema version 6: snapshots (DESIGN §5 Snapshot, seed 001
-- FIG. 3/4: forward delta).
--
-- A snapshot is a read-only vdisk row: KIND = 'snapshot', PARENT_ID =
-- the origin vdisk, SNAP_NAME its own short name.  Its NAME is the
-- export name ORIGIN@SNAP_NAME ('@' is in no valid vdisk name, so it
-- never collides with one).  An ordinary vdisk has KIND = 'vdisk' and
-- no parent or snap_name.  A vdisk being deleted (sql/004) gives up
-- its parent as it gives up its name, so an origin whose snapshots are
-- being freed can be deleted too.
--
-- A snapshot's map rows are copies of the origin's rows at the moment
-- it was taken: both point at the same segments, and segment.refcount
-- counts every map row (and movement, sql/005) referencing the segment,
-- so shared segments have refcount > 1.  The origin's rows carry
-- NOWRITE (flag 2) from the snapshot on: a write faults, and the
-- controller moves the segment to a new one (copy-on-write) or, when
-- the segment is no longer shared, clears the flag.

ALTER TABLE vdisk ADD COLUMN kind TEXT NOT NULL DEFAULT 'vdisk'
  CHECK (kind IN ('vdisk', 'snapshot'));
ALTER TABLE vdisk ADD COLUMN parent_id INTEGER REFERENCES vdisk (id)
  CHECK (parent_id IS NULL
         OR (kind = 'snapshot' AND parent_id <> id));
ALTER TABLE vdisk ADD COLUMN snap_name TEXT
  CHECK ((snap_name IS NULL) = (kind = 'vdisk')
         AND (snap_name IS NULL OR length (snap_name) BETWEEN 1 AND 64));

-- The snapshots of a vdisk, and the foreign key when one is deleted.
CREATE INDEX vdisk_parent ON vdisk (parent_id);
