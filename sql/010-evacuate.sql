-- segmap schema version 10: evacuating a container
-- (src/controller/evacuate.c).
--
-- An evacuate job works on a container, not on a vdisk: CONTAINER_ID
-- names it, VDISK_ID is NULL, and the VDISK column holds the container's
-- name (the name of what a job works on, for display).  Every other
-- kind keeps its vdisk and has no container.  SQLite cannot change a
-- column's constraints, so the job table is rebuilt; its rows, ids and
-- the AUTOINCREMENT sequence stay.
--
-- While an evacuation runs, the shared segments it moves are found by
-- location: it creates the index map_location (container_id, unit) and
-- drops it when the last evacuation ends, so that the allocation path
-- pays for the index only then (sql/003 dropped it for that cost).

CREATE TABLE job_v10 (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind         TEXT NOT NULL CHECK (length (kind) BETWEEN 1 AND 32),
  vdisk_id     INTEGER CHECK (vdisk_id BETWEEN 1 AND 4294967295),
  vdisk        TEXT NOT NULL CHECK (length (vdisk) BETWEEN 1 AND 64),
  state        TEXT NOT NULL CHECK (state IN ('running', 'paused', 'done',
                                              'cancelled', 'failed')),
  done         INTEGER NOT NULL DEFAULT 0 CHECK (done >= 0),
  total        INTEGER NOT NULL DEFAULT 0 CHECK (total >= 0),
  cursor       INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0),
  created      INTEGER NOT NULL,
  updated      INTEGER NOT NULL,
  error        TEXT,
  rate         INTEGER NOT NULL DEFAULT 0
    CHECK (typeof (rate) = 'integer' AND rate >= 0),
  container_id INTEGER CHECK (container_id BETWEEN 1 AND 65535),
  CHECK ((error IS NULL) OR state = 'failed'),
  CHECK ((vdisk_id IS NULL) <> (container_id IS NULL))
);

INSERT INTO job_v10 (id, kind, vdisk_id, vdisk, state, done, total, cursor,
                     created, updated, error, rate)
  SELECT id, kind, vdisk_id, vdisk, state, done, total, cursor, created,
         updated, error, rate FROM job;

-- Ids of jobs already forgotten are not given again either.
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'job_v10', 0 WHERE NOT EXISTS
    (SELECT 1 FROM sqlite_sequence WHERE name = 'job_v10');
UPDATE sqlite_sequence
  SET seq = max (seq, coalesce ((SELECT seq FROM sqlite_sequence
                                 WHERE name = 'job'), 0))
  WHERE name = 'job_v10';

DROP TABLE job;                 -- and its index job_active
ALTER TABLE job_v10 RENAME TO job;

CREATE INDEX job_active ON job (state) WHERE state IN ('running', 'paused');
