/* segmap: what the store's files share (not for use outside them).
 *
 * The store is split by concern: store.c (connection, errors,
 * migrations, transactions, meta), store-objects.c (containers and
 * vdisks), store-map.c (the map and segments: the allocation path),
 * store-movement.c (data movements), store-clone.c (clones and shared
 * maps), store-job.c (background jobs), store-cbt.c (changed-block
 * tracking), store-iscsi.c (access lists) and
 * store-check.c (the consistency check).  Each file lists the SQL it
 * runs in a stmt_def table next to its code; store_open prepares all of
 * them into st->stmt[] once.
 */
#ifndef SEGMAP_STORE_INTERNAL_H
#define SEGMAP_STORE_INTERNAL_H

#include <stdbool.h>

#include <sqlite3.h>

#include "controller/store.h"

enum stmt_id {
  /* store.c */
  STMT_BEGIN, STMT_COMMIT, STMT_ROLLBACK,
  STMT_SAVEPOINT, STMT_RELEASE, STMT_ROLLBACK_TO,
  STMT_USER_VERSION,
  STMT_META_GET, STMT_META_SET, STMT_META_DELETE,
  /* store-objects.c */
  STMT_CONTAINER_BY_NAME, STMT_CONTAINER_FREE_ID, STMT_CONTAINER_INSERT,
  STMT_CONTAINER_USERS, STMT_CONTAINER_DELETE, STMT_CONTAINER_END,
  STMT_CONTAINER_SET_SIZE, STMT_CONTAINER_LIST, STMT_CONTAINER_SET_FAILED,
  STMT_VDISK_BY_NAME, STMT_VDISK_INSERT, STMT_VDISK_DELETE_MAP,
  STMT_VDISK_DELETE, STMT_VDISK_RESIZE_CHECK, STMT_VDISK_RESIZE,
  STMT_VDISK_SET_RO, STMT_VDISK_LIST,
  STMT_VDISK_MARK_DELETING, STMT_VDISK_LIST_DELETING,
  STMT_SNAP_INSERT, STMT_SNAP_COPY_MAP, STMT_SNAP_REF, STMT_SNAP_NOWRITE,
  /* store-map.c */
  STMT_MAP_GET, STMT_MAP_UPSERT, STMT_MAP_INSERT, STMT_MAP_DELETE,
  STMT_MAP_FOREACH, STMT_MAP_COUNT,
  STMT_SEG_FITS, STMT_SEG_INSERT, STMT_SEG_GET, STMT_SEG_UPDATE,
  STMT_SEG_DELETE, STMT_SEG_FOREACH_ALL, STMT_SEG_FOREACH_ONE,
  /* store-iscsi.c */
  STMT_HOST_LIST, STMT_HOST_VDISKS, STMT_HOST_UPSERT, STMT_HOST_DELETE,
  STMT_HOST_CLEAR_VDISKS, STMT_HOST_ADD_VDISK, STMT_HOST_BY_INITIATOR,
  STMT_PR_GET, STMT_PR_SET,
  /* store-movement.c */
  STMT_MOVE_INSERT, STMT_MOVE_UPDATE, STMT_MOVE_DELETE,
  STMT_MOVE_LIST_ALL, STMT_MOVE_LIST_ONE,
  /* store-clone.c */
  STMT_CLONE_INSERT, STMT_CLONE_SET_LINK, STMT_SHARE_EMPTY, STMT_SHARE_COPY,
  STMT_SHARE_REF, STMT_MAP_NEXT_SHARED, STMT_MAP_COUNT_SHARED,
  /* store-job.c */
  STMT_JOB_INSERT, STMT_JOB_UPDATE, STMT_JOB_GET, STMT_JOB_LIST_ALL,
  STMT_JOB_LIST_ACTIVE,
  STMT_JOB_PURGE,
  /* store-cbt.c */
  STMT_CBT_GET, STMT_CBT_PUT, STMT_CBT_FOREACH, STMT_CBT_MOVE,
  STMT_CBT_DELETE_OWNER, STMT_CBT_SET_BASE, STMT_CBT_REBASE,
  STMT_CBT_BASE_OF, STMT_CBT_CHILDREN,
  /* store-migrate.c */
  STMT_VDISK_SET_PLACEMENT, STMT_POOL_CLEAR, STMT_POOL_ADD,
  STMT_MAP_DISTRIBUTION,
  /* store-evacuate.c */
  STMT_SEG_NEXT, STMT_MAP_AT,
  STMT_COUNT
};

/* One statement of a file's table; tables end with { STMT_COUNT, NULL }. */
struct stmt_def {
  enum stmt_id id;
  const char *sql;
};

extern const struct stmt_def store_object_stmts[];    /* store-objects.c */
extern const struct stmt_def store_map_stmts[];       /* store-map.c */
extern const struct stmt_def store_iscsi_stmts[];     /* store-iscsi.c */
extern const struct stmt_def store_movement_stmts[];  /* store-movement.c */
extern const struct stmt_def store_clone_stmts[];     /* store-clone.c */
extern const struct stmt_def store_job_stmts[];       /* store-job.c */
extern const struct stmt_def store_cbt_stmts[];       /* store-cbt.c */
extern const struct stmt_def store_migrate_stmts[];   /* store-migrate.c */
extern const struct stmt_def store_evacuate_stmts[];  /* store-evacuate.c */

struct store {
  sqlite3 *db;
  char *path;                   /* as given to store_open */
  sqlite3_stmt *stmt[STMT_COUNT];  /* prepared at open, reset after use */
};

/* Reset a statement of st->stmt[] when it goes out of scope, ending
 * any read it had open: sqlite3_stmt *s CLEANUP_RESET = st->stmt[ID]. */
static inline void
store_reset_stmt (sqlite3_stmt **s)
{
  if (*s)
    sqlite3_reset (*s);
}
#define CLEANUP_RESET __attribute__ ((cleanup (store_reset_stmt)))

/* store.c: running statements; every failure goes through sm_error with
 * "PATH: <what FMT says>: <sqlite3_errmsg>" and errno set. */

/* Step S, which returns no rows, to completion: 0 or -1. */
int stmt_run (struct store *st, sqlite3_stmt *s, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Step S once: 1 if it produced a row, 0 at the end, -1 on failure. */
int stmt_row (struct store *st, sqlite3_stmt *s, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Report SQLite result code RC (after a call on st->db).  Returns -1. */
int store_sql_fail (struct store *st, int rc, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Report a failure that is not SQLite's and set errno to ERR.  -1. */
int store_fail (int err, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Run SQL text with no result rows (not for the hot path). */
int store_exec (struct store *st, const char *sql, const char *what);

/* Make room for one more element in *V (N used of *CAP elements of
 * ELEM bytes).  0 or -1. */
int store_grow (void **v, size_t *cap, size_t n, size_t elem);

/* A copy of text column COL of S into *OUT ("" for NULL).  0 or -1. */
int store_column_strdup (sqlite3_stmt *s, int col, char **out);

/* An atomic group of statements, inside or outside of a transaction:
 * store_savepoint, then store_savepoint_end (keep the changes or not). */
int store_savepoint (struct store *st);
int store_savepoint_end (struct store *st, bool keep);

#endif /* SEGMAP_STORE_INTERNAL_H */
