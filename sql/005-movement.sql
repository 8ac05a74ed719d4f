-- segmap schema version 5: data movements (src/controller/faults-move.c).
--
-- A movement is one segment of one vdisk whose data moves from ORIG (its
-- map row's location, or nothing for a zero segment) to ALT, block by
-- block: a snapshot's first write, a migration.  AT_ALT has one bit per
-- 4 KiB block of the segment, LSB first within each byte (block b is bit
-- b % 8 of byte b / 8): set when the block's current data is at alt
-- (copied, or written there by a redirected host write), clear when it
-- is at orig.  Its length is the vdisk's segment size / 4096 / 8 bytes.
-- REDIRECT = 1: host writes go to alt while the movement lasts; 0: they
-- wait for its end.  The map row keeps pointing at orig until the
-- movement ends; the agent's entries carry NOWRITE (and ALT once a
-- block is at alt), which the controller adds from the movements.
--
-- The row is written when the movement begins, updated in the
-- transaction that answers each IO_DONE (or copy) marking blocks, so a
-- FLUSH after the host's acknowledgement covers the mark, and deleted
-- when the movement ends.  A start reloads every row before any fault
-- is answered.
--
-- ALT is a real allocated segment: it has a segment row whose refcount
-- counts the movement's reference.  The invariant of sql/001 becomes
--   segment.refcount = map rows referencing the segment
--                      + movement rows referencing it as alt
-- and a segment is never both a movement's alt and mapped.  An unclean
-- start zeroes all space without a segment row (startup.c), so an alt
-- without one would lose the blocks written there.  store_check proves
-- all of this.

CREATE TABLE movement (
  vdisk_id          INTEGER NOT NULL REFERENCES vdisk (id),
  vseg              INTEGER NOT NULL CHECK (typeof (vseg) = 'integer'
                                            AND vseg >= 0),
  orig_container_id INTEGER CHECK (orig_container_id BETWEEN 1 AND 65535),
  orig_unit         INTEGER CHECK (orig_unit IS NULL
                                   OR (typeof (orig_unit) = 'integer'
                                       AND orig_unit BETWEEN 0
                                                         AND 1099511627775)),
  alt_container_id  INTEGER NOT NULL,
  alt_unit          INTEGER NOT NULL,
  redirect          INTEGER NOT NULL CHECK (redirect IN (0, 1)),
  -- 2 bytes (64 KiB segments) to 2048 (64 MiB), a power of two
  at_alt            BLOB NOT NULL CHECK (typeof (at_alt) = 'blob'
                                         AND length (at_alt) BETWEEN 2
                                                                 AND 2048
                                         AND length (at_alt)
                                             & (length (at_alt) - 1) = 0),
  PRIMARY KEY (vdisk_id, vseg),
  FOREIGN KEY (alt_container_id, alt_unit)
    REFERENCES segment (container_id, unit),
  CHECK ((orig_container_id IS NULL) = (orig_unit IS NULL)),
  CHECK (orig_container_id IS NOT alt_container_id
         OR orig_unit IS NOT alt_unit)
) WITHOUT ROWID;

-- For the foreign key when a segment row is deleted, and for the check.
CREATE INDEX movement_alt ON movement (alt_container_id, alt_unit);
