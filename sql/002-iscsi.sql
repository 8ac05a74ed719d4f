-- segmap schema version 2: the iSCSI front-end's durable state.
--
-- Access lists: an iSCSI initiator (host) and the vdisks it may see,
-- declared in the configuration ([host NAME]) or with segmapctl; at
-- start-up the configuration's hosts replace the rows of the same name.
-- Vdisks are named, not referenced by id: a host may be allowed a vdisk
-- that does not exist yet, and deleting a vdisk does not silently widen
-- or narrow anyone's access.  When the table is empty every initiator
-- may see every vdisk (the embedded defaults, on 127.0.0.1).
--
-- CHAP: a host row may carry its own CHAP user name and the file holding
-- the secret; the secrets themselves never enter the database.  The
-- target-wide settings live in meta ('iscsi_chap_user', ...).
--
-- Persistent reservations (SPC-4 PERSISTENT RESERVE OUT): the logical
-- unit's whole state (registrations, the reservation, the generation) as
-- one versioned blob per vdisk, written before the command completes and
-- dropped with the vdisk.

CREATE TABLE iscsi_host (
  name             TEXT PRIMARY KEY NOT NULL
                     CHECK (length (name) BETWEEN 1 AND 64),
  initiator        TEXT UNIQUE NOT NULL COLLATE NOCASE
                     CHECK (length (initiator) BETWEEN 1 AND 223),
  chap_user        TEXT CHECK (length (chap_user) BETWEEN 1 AND 255),
  chap_secret_file TEXT CHECK (length (chap_secret_file) > 0),
  CHECK ((chap_user IS NULL) = (chap_secret_file IS NULL))
) WITHOUT ROWID;

CREATE TABLE iscsi_host_vdisk (
  host  TEXT NOT NULL REFERENCES iscsi_host (name) ON DELETE CASCADE,
  vdisk TEXT NOT NULL CHECK (length (vdisk) BETWEEN 1 AND 64),
  PRIMARY KEY (host, vdisk)
) WITHOUT ROWID;

CREATE TABLE scsi_pr (
  vdisk_id INTEGER PRIMARY KEY REFERENCES vdisk (id) ON DELETE CASCADE,
  state    BLOB NOT NULL CHECK (length (state) BETWEEN 1 AND 1048576)
);
