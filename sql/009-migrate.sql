-- segmap schema version 9: live migration of a vdisk to another
-- container (src/controller/migrate.c).
--
-- A migrate job moves every located map row of its vdisk that is not on
-- the vdisk's container (set to the target when the job starts) with
-- the copy-on-write machinery: a movement per segment, the copier
-- copies, host writes are redirected, the old location is dropped at
-- the end.  RATE bounds the bytes a job starts moving per second (0:
-- no bound); it is kept so that a job resumed after a restart keeps
-- its pace.

ALTER TABLE job ADD COLUMN rate INTEGER NOT NULL DEFAULT 0
  CHECK (typeof (rate) = 'integer' AND rate >= 0);
