-- segmap schema version 4: kept map counts and vdisks being deleted.
--
-- vdisk.mapped is the number of map rows of the vdisk, kept by triggers
-- in the same transaction as the rows, so `vdisk list', `vdisk info'
-- and an iSCSI login read one row instead of counting the map.
-- store_check proves it equals the count.
--
-- vdisk.deleting = 1: the vdisk is being deleted.  It is gone for every
-- user (not listed, not served; its name is given up for
-- 'deleting:ID', which no valid name can equal), and the controller
-- frees its map rows and segments a bounded batch at a time between
-- other requests, then deletes the row.  Each batch is committed with
-- the map, so a crash in the middle leaves a vdisk still marked
-- deleting, whose deletion the next start resumes.

ALTER TABLE vdisk ADD COLUMN mapped INTEGER NOT NULL DEFAULT 0
  CHECK (mapped >= 0);
ALTER TABLE vdisk ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0
  CHECK (deleting IN (0, 1));

UPDATE vdisk SET mapped = (SELECT count (*) FROM map
                           WHERE map.vdisk_id = vdisk.id);

CREATE TRIGGER map_count_insert AFTER INSERT ON map
BEGIN
  UPDATE vdisk SET mapped = mapped + 1 WHERE id = NEW.vdisk_id;
END;

CREATE TRIGGER map_count_delete AFTER DELETE ON map
BEGIN
  UPDATE vdisk SET mapped = mapped - 1 WHERE id = OLD.vdisk_id;
END;
