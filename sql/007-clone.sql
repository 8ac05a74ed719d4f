-- segmap schema version 7: writable clones and background jobs.
--
-- A clone is an ordinary vdisk (KIND = 'vdisk') made from a snapshot:
-- its map rows are copies of the snapshot's rows and share their
-- segments (segment.refcount counts them, as for snapshots, sql/006),
-- with NOWRITE on the located rows, so its first write to a shared
-- segment is a copy-on-write.  CLONE_OF is the snapshot it was made
-- from, kept for display and for `clone flatten', which clears it once
-- the clone shares nothing.  The clone's rows hold their own
-- references, so the snapshot may be deleted: marking it deleting
-- (sql/004) clears the link of its clones (the trigger below), and the
-- clone keeps sharing the segments with whatever else still maps them.
-- The tree vdisk -> snapshot -> clone -> snapshot ... has no cycles:
-- a snapshot is younger than its origin and a clone than its snapshot,
-- so every link points at a smaller id (store_check proves it).

ALTER TABLE vdisk ADD COLUMN clone_of INTEGER REFERENCES vdisk (id)
  CHECK (clone_of IS NULL OR (kind = 'vdisk' AND clone_of < id));

CREATE INDEX vdisk_clone_of ON vdisk (clone_of);

CREATE TRIGGER vdisk_deleting_unlinks_clones
  AFTER UPDATE OF deleting ON vdisk WHEN NEW.deleting = 1
BEGIN
  UPDATE vdisk SET clone_of = NULL WHERE clone_of = NEW.id;
END;

-- A long operation of the controller that runs in the background,
-- between requests, and resumes after a restart (src/controller/
-- jobs.c): a clone flatten now, migrations and evacuations later.
-- KIND names what it does; the code knows the kinds, so a later kind
-- needs no change here.  VDISK_ID is the vdisk it works on (no foreign
-- key: a finished job outlives its vdisk, and vdisk ids are never
-- reused), VDISK its name when the job was created, for display.
-- STATE: running -> done | cancelled | failed, and running <-> paused.
-- DONE/TOTAL count the job's units of work (segments for a flatten);
-- CURSOR is where a running job carries on (a flatten: the next
-- segment to look at).  ERROR says why a job failed.  Times are
-- seconds since the epoch.
CREATE TABLE job (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  kind     TEXT NOT NULL CHECK (length (kind) BETWEEN 1 AND 32),
  vdisk_id INTEGER NOT NULL CHECK (vdisk_id BETWEEN 1 AND 4294967295),
  vdisk    TEXT NOT NULL CHECK (length (vdisk) BETWEEN 1 AND 64),
  state    TEXT NOT NULL CHECK (state IN ('running', 'paused', 'done',
                                          'cancelled', 'failed')),
  done     INTEGER NOT NULL DEFAULT 0 CHECK (done >= 0),
  total    INTEGER NOT NULL DEFAULT 0 CHECK (total >= 0),
  cursor   INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0),
  created  INTEGER NOT NULL,
  updated  INTEGER NOT NULL,
  error    TEXT,
  CHECK ((error IS NULL) OR state = 'failed')
);

-- The jobs still to run, loaded at start-up.
CREATE INDEX job_active ON job (state) WHERE state IN ('running', 'paused');
