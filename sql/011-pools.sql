-- segmap schema version 11: container pools (src/controller/placement.c).
--
-- A vdisk may take its new segments from several containers, its pool:
-- vdisk.container_id is the first, and VDISK_POOL lists the others in
-- order (POSITION 1, 2, ...; a vdisk without rows here has a pool of one).
-- PLACEMENT says how a new segment picks its container:
--   'fill'    the first container of the pool with a free segment
--             (concatenation: the next one when one is full)
--   'spread'  the container at position (segment number mod pool size),
--             the next one with room if that is full (striping)
-- Snapshots keep their origin's first container, and a pool row goes
-- with its vdisk.  A container in a pool cannot be removed (the foreign
-- key, and `container remove' says so first).

ALTER TABLE vdisk ADD COLUMN placement TEXT NOT NULL DEFAULT 'fill'
  CHECK (placement IN ('fill', 'spread'));

CREATE TABLE vdisk_pool (
  vdisk_id     INTEGER NOT NULL REFERENCES vdisk (id) ON DELETE CASCADE,
  position     INTEGER NOT NULL CHECK (position BETWEEN 1 AND 15),
  container_id INTEGER NOT NULL REFERENCES container (id),
  PRIMARY KEY (vdisk_id, position),
  UNIQUE (vdisk_id, container_id)
);

CREATE INDEX vdisk_pool_container ON vdisk_pool (container_id);
