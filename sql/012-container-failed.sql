-- segmap schema version 12: failed containers (src/controller/failure.c).
--
-- A container whose I/O failed (EIO, its file or device gone) is marked
-- failed: FAILED holds why, in words, and FAILED_AT when (seconds since
-- the epoch); both are NULL while it serves.  The map rows it backs are
-- kept as they are: the controller shows them to agents in the error
-- state while FAILED is set, and `container online' clears it, so the
-- mapping is restored exactly as it was (late device recovery).  A
-- failed container takes no new segment.

ALTER TABLE container ADD COLUMN failed TEXT
  CHECK (failed IS NULL OR length (failed) > 0);
ALTER TABLE container ADD COLUMN failed_at INTEGER;
