/* segmap: the controller's SQLite store.
 *
 * The durable, authoritative copy of containers, vdisks, the segment map
 * and the reference counts of physical segments (schema: sql/NNN-*.sql).
 * Only the controller thread uses a store: one connection, one thread,
 * no locking here.
 *
 * Every function follows the libsegmap convention: 0 (or the documented
 * value) on success; -1 with sm_error() and errno set on failure.  errno
 * is EEXIST for a duplicate name, ENOENT for a missing object, EBUSY for
 * an object still in use, EINVAL for a value outside the schema's rules,
 * and otherwise what the SQLite failure maps to (EIO, ENOSPC, ENOMEM...).
 *
 * Outside store_begin/store_commit each call is its own durable
 * transaction; the controller groups many changes in one transaction
 * instead, which is much faster (one fsync per commit).
 */
#ifndef SEGMAP_STORE_H
#define SEGMAP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/entry.h"

struct store;

/* One schema migration: the SQL bringing user_version to VERSION. */
struct sm_migration {
  int version;
  const char *sql;
};

/* The migrations built into the binary (schema.c, generated from
 * sql/NNN-*.sql), versions 1, 2, ... in order. */
extern const struct sm_migration sm_migrations[];
extern const size_t sm_n_migrations;

/* Open (creating if missing) the database at PATH, check it (quick_check),
 * bring its schema up to date and prepare the statements.  Refuses a
 * database whose schema is newer than this binary knows. */
int store_open (const char *path, struct store **st);

/* Apply migrations M[0..N-1] (versions 1..N) that the database at PATH
 * does not have yet, each in its own transaction, then close it.  What
 * store_open does with sm_migrations; exposed for tools and tests. */
int store_migrate_file (const char *path,
                        const struct sm_migration *m, size_t n);

/* Finalize everything and close.  An open transaction is rolled back. */
void store_close (struct store *st);

/* The database's schema version (PRAGMA user_version), or -1. */
int store_schema_version (struct store *st);

/* The file name the store was opened with. */
const char *store_path (struct store *st);

/* Transactions.  store_begin starts a write transaction (BEGIN
 * IMMEDIATE) and fails (EINVAL) if one is open.  store_commit returns 0
 * once the changes are durable; on failure the transaction is rolled
 * back, so no transaction is open after store_commit either way.
 * store_rollback discards the open transaction, if any (none: 0). */
int store_begin (struct store *st);
int store_commit (struct store *st);
int store_rollback (struct store *st);
bool store_in_transaction (struct store *st);

/* Meta facts.  *VALUE is a new string (caller frees), NULL if KEY is
 * absent.  Setting a NULL value removes the key. */
int store_meta_get (struct store *st, const char *key, char **value);
int store_meta_set (struct store *st, const char *key, const char *value);

/* Containers. */
struct sm_container_info {
  uint32_t id;
  char *name;
  char *path;
  uint64_t size;                /* bytes, multiple of SM_UNIT_SIZE */
  int64_t created;              /* seconds since the epoch */
  char *failed;                 /* why it failed (sql/012), or NULL */
  int64_t failed_at;            /* when, or 0 */
};

/* Add a container with the lowest free id (1..65535) into *ID.  A
 * duplicate name fails with EEXIST, no free id with ENOSPC. */
int store_container_add (struct store *st, const char *name, const char *path,
                         uint64_t size, uint32_t *id);

/* Remove a container: ENOENT if absent, EBUSY while segments or vdisks
 * reference it. */
int store_container_remove (struct store *st, uint32_t id);

/* Change the size: EBUSY if a segment would end past the new size. */
int store_container_set_size (struct store *st, uint32_t id, uint64_t size);

/* Record container ID as failed because of WHY (at WHEN, seconds since
 * the epoch), or as serving again (WHY NULL).  ENOENT if absent. */
int store_container_set_failed (struct store *st, uint32_t id,
                                const char *why, int64_t when);

/* All containers ordered by id, into a new array (*N elements). */
int store_container_list (struct store *st,
                          struct sm_container_info **out, size_t *n);
void sm_container_info_free (struct sm_container_info *v, size_t n);

/* Vdisks.  A vdisk's new segments come from its pool of containers
 * (sql/011), placed as PLACEMENT says (controller/placement.c). */
#define SM_POOL_MAX 16
enum sm_placement {
  SM_PLACE_FILL,                /* the first container with room */
  SM_PLACE_SPREAD,              /* segment number mod pool size */
};
const char *sm_placement_to_string (enum sm_placement p);
/* 0, or -1 if S names no placement. */
int sm_placement_from_string (const char *s, enum sm_placement *p);

struct sm_vdisk_info {
  uint32_t id;
  char *name;
  uint64_t size;                /* bytes, multiple of SM_SECTOR_SIZE */
  unsigned seg_shift;           /* segment size = 1 << seg_shift */
  uint32_t container_id;        /* where new segments go; 0 = none */
  uint32_t pool[SM_POOL_MAX];   /* the pool: pool[0] == container_id */
  unsigned n_pool;              /* 0 when container_id is 0 */
  enum sm_placement placement;
  int64_t created;              /* seconds since the epoch */
  bool read_only;
  uint32_t parent;              /* a snapshot's origin vdisk; 0: a vdisk */
  uint32_t clone_of;            /* a clone's snapshot (sql/007); 0: none */
  uint32_t base;                /* the snapshot it derives from (sql/008);
                                 * 0: none, so a vdisk is not tracked */
};

/* Create a vdisk (CONTAINER_ID 0: none) with a new, never reused id.
 * A duplicate name fails with EEXIST, a missing container with ENOENT. */
int store_vdisk_create (struct store *st, const char *name, uint64_t size,
                        unsigned seg_shift, uint32_t container_id,
                        uint32_t *id);

/* Take snapshot SNAP of each of the N vdisks ORIGINS[i] (named
 * NAMES[i]) into IDS[i], all or none (sql/006): per origin a read-only
 * vdisk row named NAME@SNAP, a copy of its map rows, one more reference
 * to each shared segment, and NOWRITE on its located rows.  EEXIST if
 * a NAME@SNAP exists, EINVAL for a bad name or a full name longer than
 * SM_NAME_MAX, ENOENT if an origin is not a vdisk (a snapshot has no
 * snapshots). */
int store_snapshot_create (struct store *st, size_t n,
                           const uint32_t *origins,
                           const char *const *names, const char *snap,
                           uint32_t *ids);

/* Clones and shared maps (store-clone.c, sql/007).  store_map_share
 * copies the map rows of vdisk FROM into vdisk TO, which has none
 * (EBUSY otherwise), atomically: one more reference to each segment
 * per copied row, NOWRITE on the copies that have a location. */
int store_map_share (struct store *st, uint32_t from, uint32_t to);

/* Create clone NAME of snapshot SNAP into *ID, atomically: a writable
 * vdisk with the snapshot's size, segment size and container, linked
 * to it (clone_of), and the snapshot's map shared into it.  EEXIST for
 * a duplicate name, EINVAL for a bad one, ENOENT if SNAP is not a
 * snapshot. */
int store_clone_create (struct store *st, uint32_t snap, const char *name,
                        uint32_t *id);

/* Link vdisk ID to snapshot SNAP (0: no link).  ENOENT. */
int store_vdisk_set_clone_of (struct store *st, uint32_t id, uint32_t snap);

/* The first map row of VDISK at or after FIRST whose segment has more
 * than one reference: 1 and *VSEG, 0 if there is none, -1. */
int store_map_next_shared (struct store *st, uint32_t vdisk, uint64_t first,
                           uint64_t *vseg);
/* How many map rows of VDISK have a segment with more than one
 * reference. */
int store_map_count_shared (struct store *st, uint32_t vdisk, uint64_t *n);

/* Where new segments go (store-migrate.c, sql/011): vdisk ID's pool
 * becomes IDS[0..N-1] (N <= SM_POOL_MAX; IDS[0] is its container_id)
 * with PLACEMENT.  ENOENT, EINVAL. */
int store_vdisk_set_pool (struct store *st, uint32_t id,
                          enum sm_placement placement, const uint32_t *ids,
                          unsigned n);
/* FN for each container holding map rows of VDISK, with their count. */
int store_map_distribution (struct store *st, uint32_t vdisk,
                            void (*fn) (void *opaque, uint32_t container,
                                        uint64_t n),
                            void *opaque);

/* Evacuation (store-evacuate.c, sql/010).  The index that finds map
 * rows by location: created (ON) while an evacuation runs, dropped
 * after, in the open transaction. */
int store_evacuate_index (struct store *st, bool on);
/* The first segment of CONTAINER at or after unit FROM: 1 with *UNIT,
 * *UNITS and *REFCOUNT, 0 if none, -1. */
int store_segment_next (struct store *st, uint32_t container, uint64_t from,
                        uint64_t *unit, uint32_t *units, uint32_t *refcount);
/* The map rows located at segment CONTAINER:UNIT, by vdisk and
 * segment, into a new array (*N elements; free it). */
struct sm_map_ref {
  uint32_t vdisk;
  uint64_t vseg;
  sm_entry e;                   /* the row's entry, flags included */
};
int store_map_at (struct store *st, uint32_t container, uint64_t unit,
                  struct sm_map_ref **out, size_t *n);

/* Background jobs (store-job.c, sql/007).  A job works on one vdisk;
 * DONE/TOTAL are its units of work, CURSOR where it carries on. */
enum sm_job_kind {
  SM_JOB_FLATTEN,               /* clone flatten: segments copied */
  SM_JOB_MIGRATE,               /* migrate: segments moved */
  SM_JOB_EVACUATE,              /* container evacuate: segments moved */
};
enum sm_job_state {
  SM_JOB_RUNNING,
  SM_JOB_PAUSED,
  SM_JOB_DONE,
  SM_JOB_CANCELLED,
  SM_JOB_FAILED,
};
const char *sm_job_kind_to_string (enum sm_job_kind k);
const char *sm_job_state_to_string (enum sm_job_state s);

struct sm_job {
  uint64_t id;
  enum sm_job_kind kind;
  enum sm_job_state state;
  uint32_t vdisk;               /* 0 for an evacuation */
  uint32_t container;           /* an evacuation's container, else 0 */
  char *name;                   /* what it works on, at creation: the
                                 * vdisk's name, or the container's */
  uint64_t done, total, cursor;
  int64_t created, updated;     /* seconds since the epoch */
  char *error;                  /* why it failed, or NULL */
  uint64_t rate;                /* bytes/s it may start moving, 0: any */
  /* the controller's pacing of RATE (not stored) */
  int64_t pace_since_ms;
  uint64_t pace_bytes;
};

/* Record new job J (kind, vdisk or container, name, done, total, cursor): it
 * is running; J gets its id and times. */
int store_job_add (struct store *st, struct sm_job *j);
/* Store J's state, progress, cursor and error; J->updated is now.
 * ENOENT. */
int store_job_update (struct store *st, struct sm_job *j);
/* Job ID into *OUT (sm_job_clear it).  ENOENT. */
int store_job_get (struct store *st, uint64_t id, struct sm_job *out);
/* All jobs, or only running and paused ones (ACTIVE), by id, into a new
 * array. */
int store_job_list (struct store *st, bool active, struct sm_job **out,
                    size_t *n);
void sm_job_clear (struct sm_job *j);
void sm_job_free (struct sm_job *v, size_t n);

/* Delete the vdisk and all its map rows, atomically.  Segments are not
 * touched: the controller drops their references first. */
int store_vdisk_delete (struct store *st, uint32_t id);

/* Resize: EBUSY when shrinking would leave map rows past the new end. */
int store_vdisk_resize (struct store *st, uint32_t id, uint64_t size);

int store_vdisk_set_read_only (struct store *st, uint32_t id, bool ro);

/* Take vdisk ID away from users: it is no longer listed and its name
 * is free (it becomes 'deleting:ID'); its map rows stay until the
 * controller frees them, then store_vdisk_delete.  ENOENT if there is
 * no such vdisk not already being deleted. */
int store_vdisk_mark_deleting (struct store *st, uint32_t id);

/* All vdisks ordered by name, into a new array (*N elements); not
 * those being deleted, which store_vdisk_list_deleting lists (by id). */
int store_vdisk_list (struct store *st, struct sm_vdisk_info **out, size_t *n);
int store_vdisk_list_deleting (struct store *st, struct sm_vdisk_info **out,
                               size_t *n);
void sm_vdisk_info_free (struct sm_vdisk_info *v, size_t n);

/* The map.  store_map_get fills OUT[0..COUNT-1] with the entries of
 * segments FIRST.. of VDISK: stored rows as entry_make (container, unit,
 * flags), absent rows as ENTRY_ZERO_SEGMENT. */
int store_map_get (struct store *st, uint32_t vdisk, uint64_t first,
                   uint32_t count, sm_entry *out);

/* Set one entry: ENTRY_ZERO_SEGMENT deletes the row; any other
 * well-formed valid entry without the ZERO flag is stored.  EINVAL for
 * another entry, a missing vdisk, or a location that is not the start
 * of a segment (only an ERROR entry may have no location). */
int store_map_set (struct store *st, uint32_t vdisk, uint64_t vseg,
                   sm_entry e);

/* Call FN for each stored entry of VDISK with vseg >= FIRST, in vseg
 * order.  FN returning non-zero stops the walk, and that value is
 * returned.  FN may call other store functions, but not this walk again
 * (EBUSY); whether the walk sees map rows FN changes is unspecified. */
int store_map_foreach (struct store *st, uint32_t vdisk, uint64_t first,
                       int (*fn) (void *opaque, uint64_t vseg, sm_entry e),
                       void *opaque);

/* Number of stored (non-zero) entries of VDISK. */
int store_map_count (struct store *st, uint32_t vdisk, uint64_t *n);

/* Physical segments.  store_segment_insert records a new segment of
 * UNITS (1..1024) units with refcount 1: EEXIST if it overlaps another
 * segment, EINVAL if it ends past its container, ENOENT if there is no
 * such container. */
int store_segment_insert (struct store *st, uint32_t container,
                          uint64_t unit, uint32_t units);

/* The first allocation of segment VSEG of VDISK, at E's location, which
 * the controller's allocator chose: the segment row (UNITS units,
 * refcount 1) and the map row, in one call on the allocation path.
 * Unlike store_segment_insert it does not probe for overlaps: the
 * allocator owns placement, and store_check proves it.  A map row
 * already present for VSEG is EEXIST (the entry was not zero), never
 * replaced; a missing vdisk or container fails as in the calls above. */
int store_allocate (struct store *st, uint32_t vdisk, uint64_t vseg,
                    sm_entry e, uint32_t units);

/* Add DELTA to the refcount; *REFCOUNT (may be NULL) gets the new value.
 * At 0 the row is deleted: set the map entries first (nothing refuses
 * the other order since sql/003; store_check reports the map rows left
 * dangling).  Below 0 fails with EINVAL, changing nothing.  ENOENT if
 * there is no such segment. */
int store_segment_ref (struct store *st, uint32_t container, uint64_t unit,
                       int delta, uint32_t *refcount);

/* Call FN for each segment of CONTAINER (0: all), ordered by container
 * then unit.  FN returning non-zero stops the walk and is returned.  FN
 * may call other store functions, but not this walk again (EBUSY). */
int store_segment_foreach (struct store *st, uint32_t container,
                           int (*fn) (void *opaque, uint32_t container,
                                      uint64_t unit, uint32_t units,
                                      uint32_t refcount),
                           void *opaque);

/* Data movements (store-movement.c, sql/005): segment VSEG of VDISK
 * moves from ORIG (a plain location, or ENTRY_ZERO_SEGMENT) to ALT (a
 * plain location); AT_ALT has N_BYTES bytes (segment size / 4096 / 8),
 * one bit per 4 KiB block, LSB first: set = the block's data is at
 * alt. */
struct sm_movement {
  uint32_t vdisk;
  uint64_t vseg;
  sm_entry orig, alt;
  bool redirect;                /* host writes go to alt */
  uint8_t *at_alt;
  uint32_t n_bytes;
};

/* Record M and its alt segment (a segment row of N_BYTES * 8 blocks,
 * refcount 1: the movement's reference), all or nothing.  EEXIST if
 * the segment has a movement or alt overlaps an allocated segment,
 * EINVAL for a movement the schema refuses or a missing vdisk, ENOENT
 * for a missing container. */
int store_movement_put (struct store *st, const struct sm_movement *m);

/* Replace the bitmap of the movement of VSEG of VDISK.  ENOENT if there
 * is none. */
int store_movement_update (struct store *st, uint32_t vdisk, uint64_t vseg,
                           const uint8_t *at_alt, uint32_t n_bytes);

/* Delete the movement row; its alt segment's reference passes to the
 * caller, who maps alt (the map row takes the reference over) or drops
 * it (store_segment_ref -1) in the same transaction.  ENOENT if there
 * is none. */
int store_movement_delete (struct store *st, uint32_t vdisk, uint64_t vseg);

/* The movements of VDISK (0: of every vdisk), ordered by vdisk then
 * segment, into a new array (*N elements). */
int store_movement_list (struct store *st, uint32_t vdisk,
                         struct sm_movement **out, size_t *n);
void sm_movement_free (struct sm_movement *v, size_t n);

/* Changed-block tracking (sql/008, store-cbt.c).  OWNER is a vdisk
 * (live marks) or a snapshot (its delta from its base).  Bitmaps are
 * N_BYTES long: one bit per 4 KiB block of a segment. */
/* The marks of (OWNER, VSEG) into BLOCKS (zeros if none): 1 found, 0
 * none, -1. */
int store_cbt_get (struct store *st, uint32_t owner, uint64_t vseg,
                   uint8_t *blocks, uint32_t n_bytes);
/* OR BLOCKS into the marks of (OWNER, VSEG); *ADDED (if not NULL):
 * whether a block was not marked before.  0 or -1. */
int store_cbt_mark (struct store *st, uint32_t owner, uint64_t vseg,
                    const uint8_t *blocks, uint32_t n_bytes, bool *added);
/* FN for each marked segment of OWNER, in order; FN returns 0 or -1
 * (stops).  0 or -1. */
int store_cbt_foreach (struct store *st, uint32_t owner,
                       int (*fn) (void *opaque, uint64_t vseg,
                                  const uint8_t *blocks, uint32_t n_bytes),
                       void *opaque);
/* The base of ID into *BASE (0: none).  0, or -1 (ENOENT). */
int store_cbt_base (struct store *st, uint32_t id, uint32_t *base);
/* SNAP was just taken of ORIGIN: SNAP's base is ORIGIN's, ORIGIN's is
 * SNAP, ORIGIN's live marks become SNAP's delta.  0 or -1. */
int store_cbt_on_snapshot (struct store *st, uint32_t origin,
                           uint32_t snap);
/* ID's content is BASE's now (a clone of it was created, or ID was
 * rolled back to it): ID's base is BASE, it has no marks.  0 or -1. */
int store_cbt_reset (struct store *st, uint32_t id, uint32_t base);
/* ID goes (a snapshot deleted): its children (base ID) take its base
 * and its delta OR-ed into theirs (or, with no base, lose their marks:
 * they are no longer tracked); its own marks and base go.  All or
 * nothing.  0 or -1. */
int store_cbt_unlink (struct store *st, uint32_t id);

/* Consistency check: SQLite integrity and foreign keys; map rows whose
 * segment is missing or of the wrong size; refcounts that differ from
 * the number of referencing map rows and movements; movements whose
 * vdisk, map row at orig or alt segment is missing or does not match,
 * or whose alt is also mapped; overlapping segments or segments
 * past their container's end; leaked (unreferenced) segments; map rows
 * past their vdisk's end; malformed flags.  REPORT (may be NULL) gets
 * one sentence per problem.  Returns the number of problems, or -1 if
 * the check itself failed. */
int store_check (struct store *st,
                 void (*report) (void *opaque, const char *problem),
                 void *opaque);


/* iSCSI access lists (store-iscsi.c).  A host: an initiator name, the
 * vdisks (by name) it may see, and optionally its own CHAP user and the
 * file holding the secret (both or neither). */
struct sm_host_info {
  char *name;
  char *initiator;
  char *chap_user, *chap_secret_file;   /* or NULL */
  char **vdisks;
  size_t n_vdisks;
};

/* All hosts ordered by name, each with its vdisks, into a new array. */
int store_host_list (struct store *st, struct sm_host_info **out, size_t *n);
void sm_host_info_free (struct sm_host_info *v, size_t n);

/* Create or replace the host named H->NAME with everything in H.  EEXIST
 * if another host has the same initiator. */
int store_host_put (struct store *st, const struct sm_host_info *h);

/* Delete a host: ENOENT if absent. */
int store_host_delete (struct store *st, const char *name);

/* Persistent reservations of a vdisk (an opaque blob of 1 to
 * SM_PR_BLOB_MAX bytes).  store_pr_get sets *BLOB to a malloc'd copy,
 * or NULL when none was saved. */
#define SM_PR_BLOB_MAX 1048576
int store_pr_get (struct store *st, uint32_t vdisk, void **blob, size_t *len);
int store_pr_set (struct store *st, uint32_t vdisk, const void *blob,
                  size_t len);

#endif /* SEGMAP_STORE_H */
