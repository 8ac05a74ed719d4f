/* segmap: the controller's SQLite store: connection, errors, migrations,
 * transactions, meta.
 *
 * Durability.  The database runs in WAL mode with synchronous=FULL: a
 * COMMIT appends the transaction's pages to the write-ahead log and
 * fsyncs it before returning, so once store_commit (or a call made
 * outside any transaction, which commits on its own) returns 0 the
 * change survives a crash of the process or of the machine.  Checkpoints
 * copy the log back into the database file later, also with fsync.
 * Because every commit costs an fsync (milliseconds), the controller
 * does not commit each change: it opens one transaction (store_begin),
 * makes many changes -- all the allocations of a batch of faults -- and
 * commits them together (group commit); a flush or FUA waits for the
 * commit that covers it.  A change costs microseconds inside a
 * transaction.
 *
 * Ownership.  One connection, used by one thread (the controller), so
 * the connection is opened without SQLite's mutexes and the store has
 * no locking.  A busy timeout covers the rare other process (a checker)
 * holding the database lock for a moment.
 *
 * Statements.  Every statement the store runs is prepared once, at
 * open, into st->stmt[] (SQLITE_PREPARE_PERSISTENT), from the tables of
 * store.c, store-objects.c, store-map.c, store-iscsi.c and
 * store-movement.c, and reset when the function
 * using it returns (CLEANUP_RESET), which also ends any read it had
 * open.  The allocation path never parses SQL.
 *
 * Errors.  SQLite result codes become errno in exactly one place,
 * sql_vfail(), which also reports the failure with sm_error: the file
 * name, what we were doing and sqlite3_errmsg.  Arguments are checked
 * against the schema's rules first and fail with EINVAL/ENOENT/EEXIST/
 * EBUSY and a sentence a user can act on; the schema's CHECK
 * constraints and foreign keys are the backstop.
 *
 * Migrations.  user_version is the schema version.  At open, every
 * migration newer than the database is applied in its own IMMEDIATE
 * transaction with foreign keys off (so that a migration may rebuild a
 * table), followed by foreign_key_check and the user_version bump; then
 * foreign keys are switched on for good.  A database newer than the
 * newest migration we know is refused, never touched.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/errors.h"
#include "controller/store.h"
#include "controller/store-internal.h"
#include "store/inject.h"
#include "store/lock.h"

#define BUSY_TIMEOUT_MS 5000
/* Page cache: the map's b-trees of a large vdisk stay in memory, and a
 * big transaction does not spill to the log before its commit. */
#define CACHE_KIB 65536

static const struct stmt_def core_stmts[] = {
  { STMT_BEGIN, "BEGIN IMMEDIATE" },
  { STMT_COMMIT, "COMMIT" },
  { STMT_ROLLBACK, "ROLLBACK" },
  { STMT_SAVEPOINT, "SAVEPOINT store" },
  { STMT_RELEASE, "RELEASE store" },
  { STMT_ROLLBACK_TO, "ROLLBACK TO store" },
  { STMT_USER_VERSION, "PRAGMA user_version" },
  { STMT_META_GET, "SELECT value FROM meta WHERE key = ?1" },
  { STMT_META_SET,
    "INSERT INTO meta (key, value) VALUES (?1, ?2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value" },
  { STMT_META_DELETE, "DELETE FROM meta WHERE key = ?1" },
  { STMT_COUNT, NULL }
};

static const struct stmt_def *const stmt_tables[] = {
  core_stmts, store_object_stmts, store_map_stmts, store_iscsi_stmts,
  store_movement_stmts, store_clone_stmts, store_job_stmts,
  store_cbt_stmts, store_migrate_stmts, store_evacuate_stmts,
};

static void
finalize_stmt (sqlite3_stmt **s)
{
  sqlite3_finalize (*s);
}
#define CLEANUP_FINALIZE __attribute__ ((cleanup (finalize_stmt)))

/*----------------------------------------------------------------------
 * Errors
 */

/* The errno for SQLite result code RC (extended codes accepted). */
static int
sqlite_errno (sqlite3 *db, int rc)
{
  int sys = db ? sqlite3_system_errno (db) : 0;

  switch (rc & 0xff) {
  case SQLITE_NOMEM: return ENOMEM;
  case SQLITE_BUSY: case SQLITE_LOCKED: return EBUSY;
  case SQLITE_READONLY: return EROFS;
  case SQLITE_PERM: case SQLITE_AUTH: return EACCES;
  case SQLITE_INTERRUPT: return EINTR;
  case SQLITE_FULL: return ENOSPC;
  case SQLITE_TOOBIG: return EFBIG;
  case SQLITE_CANTOPEN: return sys ? sys : ENOENT;
  case SQLITE_IOERR: return sys ? sys : EIO;
  case SQLITE_CONSTRAINT:
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
      return EEXIST;
    return EINVAL;              /* CHECK, NOT NULL, FOREIGN KEY */
  case SQLITE_MISMATCH: case SQLITE_RANGE: case SQLITE_MISUSE:
    return EINVAL;
  default: return EIO;          /* CORRUPT, NOTADB, PROTOCOL, SCHEMA... */
  }
}

/* The one place where a SQLite failure becomes errno and a message:
 * "PATH: <what we were doing>: <sqlite3_errmsg>".  Returns -1. */
static int
sql_vfail (sqlite3 *db, const char *path, int rc,
           const char *fmt, va_list args)
{
  char what[256];
  int err = sqlite_errno (db, rc);

  vsnprintf (what, sizeof what, fmt, args);
  sm_error ("%s: %s: %s", path, what,
            db ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
  errno = err;
  return -1;
}

static int __attribute__ ((format (printf, 4, 5)))
sql_fail (sqlite3 *db, const char *path, int rc, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  sql_vfail (db, path, rc, fmt, args);
  va_end (args);
  return -1;
}

int
store_sql_fail (struct store *st, int rc, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  sql_vfail (st->db, st->path, rc, fmt, args);
  va_end (args);
  return -1;
}

int
store_fail (int err, const char *fmt, ...)
{
  char msg[512];
  va_list args;

  va_start (args, fmt);
  vsnprintf (msg, sizeof msg, fmt, args);
  va_end (args);
  sm_error ("%s", msg);
  errno = err;
  return -1;
}

/*----------------------------------------------------------------------
 * Running statements
 */

int
stmt_run (struct store *st, sqlite3_stmt *s, const char *fmt, ...)
{
  int rc = sqlite3_step (s);
  va_list args;

  if (rc == SQLITE_DONE)
    return 0;
  va_start (args, fmt);
  sql_vfail (st->db, st->path, rc, fmt, args);
  va_end (args);
  return -1;
}

int
stmt_row (struct store *st, sqlite3_stmt *s, const char *fmt, ...)
{
  int rc = sqlite3_step (s);
  va_list args;

  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  va_start (args, fmt);
  sql_vfail (st->db, st->path, rc, fmt, args);
  va_end (args);
  return -1;
}

/* Run SQL (any number of statements) on DB with no result rows. */
static int
exec_sql (sqlite3 *db, const char *path, const char *sql, const char *what)
{
  int rc = sqlite3_exec (db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    return sql_fail (db, path, rc, "%s", what);
  return 0;
}

int
store_exec (struct store *st, const char *sql, const char *what)
{
  return exec_sql (st->db, st->path, sql, what);
}

/* Run a statement returning one text value into BUF (empty if none). */
static int
query_text (sqlite3 *db, const char *path, const char *sql,
            char *buf, size_t len)
{
  sqlite3_stmt *s CLEANUP_FINALIZE = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &s, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step (s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sql_fail (db, path, rc, "%s", sql);
  snprintf (buf, len, "%s",
            rc == SQLITE_ROW && sqlite3_column_text (s, 0)
            ? (const char *) sqlite3_column_text (s, 0) : "");
  return 0;
}

int
store_savepoint (struct store *st)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_SAVEPOINT];

  return stmt_run (st, s, "starting a savepoint");
}

int
store_savepoint_end (struct store *st, bool keep)
{
  if (!keep) {
    sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_ROLLBACK_TO];
    if (stmt_run (st, s, "rolling back a savepoint") == -1)
      return -1;
  }
  {
    sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_RELEASE];
    return stmt_run (st, s, "releasing a savepoint");
  }
}

/*----------------------------------------------------------------------
 * Helpers for the store's files
 */

/* Make room for one more element in *V (N used of *CAP). */
int
store_grow (void **v, size_t *cap, size_t n, size_t elem)
{
  void *p;
  size_t new_cap;

  if (n < *cap)
    return 0;
  new_cap = *cap ? *cap * 2 : 16;
  p = reallocarray (*v, new_cap, elem);
  if (p == NULL)
    return store_fail (errno, "realloc: %m");
  *v = p;
  *cap = new_cap;
  return 0;
}

/* A copy of text column COL of S into *OUT. */
int
store_column_strdup (sqlite3_stmt *s, int col, char **out)
{
  const char *t = (const char *) sqlite3_column_text (s, col);

  *out = strdup (t ? t : "");
  if (*out == NULL)
    return store_fail (errno, "strdup: %m");
  return 0;
}

/*----------------------------------------------------------------------
 * Migrations
 */

/* The database's user_version into *V. */
static int
read_user_version (sqlite3 *db, const char *path, int *v)
{
  char buf[32];

  if (query_text (db, path, "PRAGMA user_version", buf, sizeof buf) == -1)
    return -1;
  *v = atoi (buf);
  return 0;
}

/* The newest version in M[0..N-1], checking they run 1, 2, ..., N. */
static int
check_migrations (const struct sm_migration *m, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (m[i].version != (int) i + 1 || m[i].sql == NULL)
      return store_fail (EINVAL, "schema migration %zu has version %d, "
                         "expected %zu", i, m[i].version, i + 1);
  return (int) n;
}

/* Apply migration M inside an open transaction. */
static int
apply_migration (sqlite3 *db, const char *path, const struct sm_migration *m)
{
  char sql[64], what[64], buf[256];

  snprintf (what, sizeof what, "applying schema migration %d", m->version);
  if (exec_sql (db, path, m->sql, what) == -1)
    return -1;
  if (query_text (db, path, "PRAGMA foreign_key_check", buf, sizeof buf) == -1)
    return -1;
  if (buf[0] != '\0')
    return store_fail (EINVAL, "%s: schema migration %d breaks a foreign "
                       "key (table %s)", path, m->version, buf);
  snprintf (sql, sizeof sql, "PRAGMA user_version = %d", m->version);
  return exec_sql (db, path, sql, what);
}

/* Apply the one migration the database needs next, if any: 1 if it
 * applied one, 0 if the schema is up to date, -1 on failure. */
static int
migrate_step (sqlite3 *db, const char *path,
              const struct sm_migration *m, int newest)
{
  int v;

  if (exec_sql (db, path, "BEGIN IMMEDIATE", "starting a migration") == -1)
    return -1;
  if (read_user_version (db, path, &v) == -1)
    goto rollback;
  if (v > newest || v < 0) {
    store_fail (ENOTSUP, "%s: the database has schema version %d, this "
                "segmap knows versions up to %d; use a newer segmap",
                path, v, newest);
    goto rollback;
  }
  if (v < newest && apply_migration (db, path, &m[v]) == -1)
    goto rollback;
  if (exec_sql (db, path, "COMMIT", "committing a migration") == -1)
    goto rollback;
  if (v < newest)
    sm_debug ("%s: schema upgraded to version %d", path, v + 1);
  return v < newest;

 rollback:
  sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

/* Bring DB up to the newest of M[0..N-1], one transaction per step. */
static int
migrate (sqlite3 *db, const char *path, const struct sm_migration *m, size_t n)
{
  int newest = check_migrations (m, n);
  int r;

  if (newest == -1)
    return -1;
  if (exec_sql (db, path, "PRAGMA foreign_keys = OFF", "migrating") == -1)
    return -1;
  while ((r = migrate_step (db, path, m, newest)) == 1)
    ;
  return r;
}

/*----------------------------------------------------------------------
 * Opening and closing
 */

/* PRAGMA quick_check must answer exactly "ok". */
static int
quick_check (sqlite3 *db, const char *path)
{
  char buf[256];

  if (query_text (db, path, "PRAGMA quick_check", buf, sizeof buf) == -1)
    return -1;
  if (strcmp (buf, "ok") != 0)
    return store_fail (EIO, "%s: the database is damaged (quick_check: %s)",
                       path, buf);
  return 0;
}

/* WAL, full synchronous commits, a page cache of CACHE_KIB. */
static int
set_durability (sqlite3 *db, const char *path)
{
  char mode[32], sql[64];

  if (query_text (db, path, "PRAGMA journal_mode = WAL",
                  mode, sizeof mode) == -1)
    return -1;
  if (strcmp (mode, "wal") != 0)
    return store_fail (ENOTSUP, "%s: cannot use write-ahead logging "
                       "(journal mode is '%s')", path, mode);
  snprintf (sql, sizeof sql, "PRAGMA synchronous = FULL;"
            "PRAGMA cache_size = -%d", CACHE_KIB);
  return exec_sql (db, path, sql, "setting up the connection");
}

/* Before SQLite's first use in the process: no memory statistics.  They
 * take a global mutex on every allocation SQLite makes (several per
 * statement) and nothing reads them; off, an allocation's SQL costs 7%
 * fewer instructions.  If the library is in use already (the call is
 * then refused), nothing changes. */
static void
configure_library (void)
{
  sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Open PATH (creating it), check it and set the connection up. */
static int
db_open (const char *path, sqlite3 **dbp)
{
  static pthread_once_t configured = PTHREAD_ONCE_INIT;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
    SQLITE_OPEN_NOMUTEX;
  sqlite3 *db = NULL;
  int rc;

  pthread_once (&configured, configure_library);
  if (inject_init () == -1)     /* for SEGMAP_INJECT's commit rules */
    return -1;
  rc = sqlite3_open_v2 (path, &db, flags, NULL);

  if (rc != SQLITE_OK) {
    sql_fail (db, path, rc, "cannot open the database");
    goto err;
  }
  sqlite3_extended_result_codes (db, 1);
  sqlite3_busy_timeout (db, BUSY_TIMEOUT_MS);
  if (quick_check (db, path) == -1 || set_durability (db, path) == -1)
    goto err;
  *dbp = db;
  return 0;

 err:
  sqlite3_close (db);
  return -1;
}

int
store_migrate_file (const char *path, const struct sm_migration *m, size_t n)
{
  sqlite3 *db;
  int r;

  if (db_open (path, &db) == -1)
    return -1;
  r = migrate (db, path, m, n);
  sqlite3_close (db);
  return r;
}

/* Turn foreign keys on and make sure they really are. */
static int
enable_foreign_keys (sqlite3 *db, const char *path)
{
  char buf[8];

  if (exec_sql (db, path, "PRAGMA foreign_keys = ON",
                "enabling foreign keys") == -1 ||
      query_text (db, path, "PRAGMA foreign_keys", buf, sizeof buf) == -1)
    return -1;
  if (strcmp (buf, "1") != 0)
    return store_fail (ENOTSUP, "%s: this SQLite does not enforce foreign "
                       "keys", path);
  return 0;
}

static int
prepare (struct store *st, const struct stmt_def *d)
{
  int rc;

  if (st->stmt[d->id] != NULL)
    return store_fail (EINVAL, "store: statement %d defined twice", d->id);
  rc = sqlite3_prepare_v3 (st->db, d->sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &st->stmt[d->id], NULL);
  if (rc != SQLITE_OK)
    return store_sql_fail (st, rc, "preparing '%s'", d->sql);
  return 0;
}

/* Prepare every statement of every table, each id exactly once. */
static int
prepare_all (struct store *st)
{
  const struct stmt_def *d;
  size_t i;

  for (i = 0; i < sizeof stmt_tables / sizeof stmt_tables[0]; i++)
    for (d = stmt_tables[i]; d->sql != NULL; d++)
      if (prepare (st, d) == -1)
        return -1;
  for (i = 0; i < STMT_COUNT; i++)
    if (st->stmt[i] == NULL)
      return store_fail (EINVAL, "store: statement %zu is not defined", i);
  return 0;
}

int
store_open (const char *path, struct store **stp)
{
  struct store *st = calloc (1, sizeof *st);

  if (st == NULL || (st->path = strdup (path)) == NULL) {
    sm_error ("%s: %m", path);
    free (st);
    return -1;
  }
  /* Locked before SQLite touches it: a second server stops here. */
  if (sm_lock_take (path, "database", SM_LOCK_CREATE) == -1 ||
      db_open (path, &st->db) == -1 ||
      migrate (st->db, path, sm_migrations, sm_n_migrations) == -1 ||
      enable_foreign_keys (st->db, path) == -1 ||
      prepare_all (st) == -1) {
    store_close (st);
    return -1;
  }
  *stp = st;
  return 0;
}

void
store_close (struct store *st)
{
  size_t i;

  if (st == NULL)
    return;
  for (i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize (st->stmt[i]);
  if (st->db && !sqlite3_get_autocommit (st->db))
    sqlite3_exec (st->db, "ROLLBACK", NULL, NULL, NULL);
  if (st->db && sqlite3_close (st->db) != SQLITE_OK)
    sm_error ("%s: closing the database: %s", st->path,
              sqlite3_errmsg (st->db));
  free (st->path);
  free (st);
}

int
store_schema_version (struct store *st)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_USER_VERSION];

  if (stmt_row (st, s, "reading the schema version") != 1)
    return -1;
  return sqlite3_column_int (s, 0);
}

const char *
store_path (struct store *st)
{
  return st->path;
}

/*----------------------------------------------------------------------
 * Transactions
 */

int
store_begin (struct store *st)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_BEGIN];

  if (store_in_transaction (st))
    return store_fail (EINVAL, "%s: a transaction is already open",
                       st->path);
  return stmt_run (st, s, "starting a transaction");
}

int
store_commit (struct store *st)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_COMMIT];
  int err;

  if (!store_in_transaction (st))
    return store_fail (EINVAL, "%s: commit without a transaction", st->path);
  if ((err = inject_check (INJECT_COMMIT)) != 0) {
    sqlite3_exec (st->db, "ROLLBACK", NULL, NULL, NULL);
    return store_fail (err, "%s: committing: %s (injected)", st->path,
                       strerror (err));
  }
  if (stmt_run (st, s, "committing") == 0)
    return 0;
  if (store_in_transaction (st))
    sqlite3_exec (st->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

int
store_rollback (struct store *st)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_ROLLBACK];

  if (!store_in_transaction (st))
    return 0;
  return stmt_run (st, s, "rolling back");
}

bool
store_in_transaction (struct store *st)
{
  return !sqlite3_get_autocommit (st->db);
}

/*----------------------------------------------------------------------
 * Meta
 */

int
store_meta_get (struct store *st, const char *key, char **value)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_META_GET];
  const char *v;
  int r;

  sqlite3_bind_text (s, 1, key, -1, SQLITE_STATIC);
  r = stmt_row (st, s, "reading meta '%s'", key);
  if (r == -1)
    return -1;
  *value = NULL;
  v = r ? (const char *) sqlite3_column_text (s, 0) : NULL;
  if (v && (*value = strdup (v)) == NULL)
    return store_fail (errno, "strdup: %m");
  return 0;
}

int
store_meta_set (struct store *st, const char *key, const char *value)
{
  sqlite3_stmt *s CLEANUP_RESET =
    st->stmt[value ? STMT_META_SET : STMT_META_DELETE];

  sqlite3_bind_text (s, 1, key, -1, SQLITE_STATIC);
  if (value)
    sqlite3_bind_text (s, 2, value, -1, SQLITE_STATIC);
  return stmt_run (st, s, "setting meta '%s'", key);
}
