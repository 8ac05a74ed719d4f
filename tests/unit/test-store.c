/* segmap: unit tests of the controller's SQLite store
 * (src/controller/store.c).
 *
 * Every test works on a fresh database in its own temporary directory.
 * Corruption tests build a healthy database through the store, then
 * break it with plain SQL on a second connection (foreign keys are off
 * there, as they are for any tool that opens the file), and expect
 * store_check to name exactly the one problem they made.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/errors.h"
#include "controller/store.h"
#include "store/inject.h"

/* sm_error calls are counted, and the last message kept. */
static unsigned n_errors;
static char last_error[512];

static void
error_sink (const char *fmt, va_list args)
{
  n_errors++;
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

static char dir[64];
static char db_path[128];

static void
setup (void)
{
  sm_set_log_sinks (error_sink, NULL);
  n_errors = 0;
  last_error[0] = '\0';
  snprintf (dir, sizeof dir, "%s/test-store.XXXXXX",
            getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (db_path, sizeof db_path, "%s/segmap.db", dir);
}

static void
teardown (void)
{
  const char *suffix[] = { "", "-wal", "-shm", "-journal" };
  char name[160];
  size_t i;

  for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
    snprintf (name, sizeof name, "%s%s", db_path, suffix[i]);
    unlink (name);
  }
  rmdir (dir);
  sm_set_log_sinks (NULL, NULL);
}

/* Assert that a store call succeeded, showing its error if not. */
#define OK(expr) \
  ck_assert_msg ((expr) == 0, "%s failed: %s", #expr, last_error)

/* Assert that a store call failed with errno ERR. */
#define FAILS(expr, err)                                              \
  do {                                                                \
    errno = 0;                                                        \
    ck_assert_int_eq ((expr), -1);                                    \
    ck_assert_msg (errno == (err), "%s: errno %d (%s), expected %d",  \
                   #expr, errno, last_error, (err));                  \
  } while (0)

static struct store *
open_store (void)
{
  struct store *st = NULL;

  OK (store_open (db_path, &st));
  return st;
}

/* Run SQL on the file through a connection of our own. */
static void
raw_sql (const char *sql)
{
  sqlite3 *db;
  char *err = NULL;

  ck_assert_int_eq (sqlite3_open (db_path, &db), SQLITE_OK);
  ck_assert_msg (sqlite3_exec (db, sql, NULL, NULL, &err) == SQLITE_OK,
                 "%s: %s", sql, err);
  sqlite3_close (db);
}

/* One integer from SQL on the file. */
static int64_t
raw_int (const char *sql)
{
  sqlite3 *db;
  sqlite3_stmt *s;
  int64_t v;

  ck_assert_int_eq (sqlite3_open (db_path, &db), SQLITE_OK);
  ck_assert_int_eq (sqlite3_prepare_v2 (db, sql, -1, &s, NULL), SQLITE_OK);
  ck_assert_int_eq (sqlite3_step (s), SQLITE_ROW);
  v = sqlite3_column_int64 (s, 0);
  sqlite3_finalize (s);
  sqlite3_close (db);
  return v;
}

#define MiB (UINT64_C(1) << 20)
#define MAPPED(c, u) entry_make ((c), (u), ENTRY_VALID)

/*----------------------------------------------------------------------
 * Opening and migrations
 */

START_TEST (test_create_reopen)
{
  struct store *st = open_store ();
  struct sm_container_info *c;
  struct sm_vdisk_info *v;
  char *id1, *id2, *clean;
  uint32_t cid, vid;
  size_t n;

  ck_assert_int_eq (store_schema_version (st),
                    sm_migrations[sm_n_migrations - 1].version);
  ck_assert_str_eq (store_path (st), db_path);
  OK (store_meta_get (st, "instance_id", &id1));
  ck_assert_ptr_nonnull (id1);
  ck_assert_int_eq (strlen (id1), 32);
  OK (store_container_add (st, "c1", "/dev/null", 64 * MiB, &cid));
  OK (store_vdisk_create (st, "v1", 16 * MiB, 20, cid, &vid));
  OK (store_segment_insert (st, cid, 0, 16));
  OK (store_map_set (st, vid, 3, MAPPED (cid, 0)));
  OK (store_meta_set (st, "clean", "0"));
  store_close (st);

  st = open_store ();
  OK (store_meta_get (st, "instance_id", &id2));
  ck_assert_str_eq (id1, id2);      /* migration 1 did not run again */
  OK (store_meta_get (st, "clean", &clean));
  ck_assert_str_eq (clean, "0");
  OK (store_container_list (st, &c, &n));
  ck_assert_int_eq (n, 1);
  ck_assert_str_eq (c[0].name, "c1");
  ck_assert_str_eq (c[0].path, "/dev/null");
  ck_assert_uint_eq (c[0].size, 64 * MiB);
  ck_assert_int_gt (c[0].created, 0);
  sm_container_info_free (c, n);
  OK (store_vdisk_list (st, &v, &n));
  ck_assert_int_eq (n, 1);
  ck_assert_str_eq (v[0].name, "v1");
  ck_assert_uint_eq (v[0].container_id, cid);
  ck_assert_uint_eq (v[0].seg_shift, 20);
  sm_vdisk_info_free (v, n);
  {
    sm_entry e[5];
    OK (store_map_get (st, vid, 0, 5, e));
    ck_assert_uint_eq (e[3], MAPPED (cid, 0));
    ck_assert_uint_eq (e[2], ENTRY_ZERO_SEGMENT);
  }
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
  free (id1);
  free (id2);
  free (clean);
  /* WAL and the version are in the file itself. */
  ck_assert_int_eq (raw_int ("PRAGMA user_version"),
                    sm_migrations[sm_n_migrations - 1].version);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM map"), 1);
}
END_TEST

START_TEST (test_meta)
{
  struct store *st = open_store ();
  char *v;

  OK (store_meta_get (st, "nope", &v));
  ck_assert_ptr_null (v);
  OK (store_meta_set (st, "k", "1"));
  OK (store_meta_set (st, "k", "2"));
  OK (store_meta_get (st, "k", &v));
  ck_assert_str_eq (v, "2");
  free (v);
  OK (store_meta_set (st, "k", NULL));
  OK (store_meta_get (st, "k", &v));
  ck_assert_ptr_null (v);
  store_close (st);
}
END_TEST

/* SEGMAP_INJECT commit rules: the Nth commit fails with the errno,
 * rolled back (its change is gone, on disk too); the next one works. */
START_TEST (test_commit_injected)
{
  struct store *st = open_store ();
  char *v;

  ck_assert_int_eq (inject_configure ("commit:ENOSPC:after=1:count=1"), 0);
  OK (store_begin (st));
  OK (store_meta_set (st, "k", "1"));
  OK (store_commit (st));
  OK (store_begin (st));
  OK (store_meta_set (st, "k", "2"));
  FAILS (store_commit (st), ENOSPC);
  ck_assert_msg (strstr (last_error, "(injected)") != NULL, "%s", last_error);
  ck_assert (!store_in_transaction (st));
  OK (store_meta_get (st, "k", &v));
  ck_assert_str_eq (v, "1");
  free (v);
  ck_assert_int_eq (raw_int ("SELECT value FROM meta WHERE key = 'k'"), 1);
  OK (store_begin (st));
  OK (store_meta_set (st, "k", "3"));
  OK (store_commit (st));
  ck_assert_int_eq (inject_configure (NULL), 0);
  store_close (st);
  ck_assert_int_eq (raw_int ("SELECT value FROM meta WHERE key = 'k'"), 3);
}
END_TEST

static const struct sm_migration fake_migrations[] = {
  { 1, "CREATE TABLE t (x INTEGER);\nINSERT INTO t VALUES (1);" },
  { 2, "INSERT INTO t VALUES (2);" },
  { 3, "INSERT INTO t VALUES (3); SELECT * FROM no_such_table;" },
};

START_TEST (test_migrations)
{
  OK (store_migrate_file (db_path, fake_migrations, 1));
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 1);
  OK (store_migrate_file (db_path, fake_migrations, 2));
  OK (store_migrate_file (db_path, fake_migrations, 2));
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 2);
  /* Each migration ran exactly once. */
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM t"), 2);
  ck_assert_int_eq (raw_int ("SELECT sum (x) FROM t"), 3);
  ck_assert_int_eq (raw_int ("SELECT journal_mode = 'wal'"
                             " FROM pragma_journal_mode"), 1);

  /* A failing migration changes nothing at all. */
  ck_assert_int_eq (store_migrate_file (db_path, fake_migrations, 3), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "migration 3"));
  ck_assert_ptr_nonnull (strstr (last_error, "no_such_table"));
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 2);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM t"), 2);

  /* This database is newer than a binary knowing only version 1. */
  FAILS (store_migrate_file (db_path, fake_migrations, 1), ENOTSUP);
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 2);
}
END_TEST

START_TEST (test_migrations_must_be_contiguous)
{
  static const struct sm_migration gap[] = {
    { 1, "CREATE TABLE t (x);" },
    { 3, "CREATE TABLE u (x);" },
  };

  FAILS (store_migrate_file (db_path, gap, 2), EINVAL);
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 0);
}
END_TEST

START_TEST (test_migration_breaking_foreign_key)
{
  static const struct sm_migration m[] = {
    { 1, "CREATE TABLE p (id INTEGER PRIMARY KEY);"
         "CREATE TABLE c (p INTEGER REFERENCES p (id));"
         "INSERT INTO c VALUES (7);" },
  };

  FAILS (store_migrate_file (db_path, m, 1), EINVAL);
  ck_assert_ptr_nonnull (strstr (last_error, "foreign key"));
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 0);
}
END_TEST

/* Version 3 rebuilt the map without its foreign key to segment: a
 * version-2 database keeps every row, and the reference it no longer
 * enforces is still proven by store_check. */
START_TEST (test_migrate_map_to_v3)
{
  struct store *st;

  OK (store_migrate_file (db_path, sm_migrations, 2));
  raw_sql ("INSERT INTO container VALUES (1, 'c', '/c', 67108864, 0);"
           "INSERT INTO vdisk (id, name, size, seg_shift, container_id)"
           " VALUES (1, 'v', 16777216, 20, 1);"
           "INSERT INTO segment VALUES (1, 0, 16, 1), (1, 16, 16, 1);"
           "INSERT INTO map VALUES (1, 0, 1, 0, 1), (1, 5, 1, 16, 3),"
           " (1, 7, NULL, NULL, 9);");
  st = open_store ();
  ck_assert_int_eq (store_schema_version (st), (int) sm_n_migrations);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM map"), 3);
  ck_assert_int_eq (raw_int ("SELECT sum (vseg * 100 + coalesce (unit, 0)"
                             " + flags) FROM map"), 1 + 519 + 709);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM pragma_foreign_key_list"
                             " ('map') WHERE \"table\" = 'segment'"), 0);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM sqlite_master"
                             " WHERE name = 'map_location'"), 0);
}
END_TEST

/* An existing version-0 database (someone's empty file) is migrated. */
START_TEST (test_migrate_from_zero)
{
  struct store *st;

  raw_sql ("CREATE TABLE unrelated (x); INSERT INTO unrelated VALUES (42);");
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 0);
  st = open_store ();
  ck_assert_int_eq (store_schema_version (st), (int) sm_n_migrations);
  store_close (st);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM meta"), 3);
  ck_assert_int_eq (raw_int ("SELECT x FROM unrelated"), 42);
}
END_TEST

START_TEST (test_too_new)
{
  struct store *st = open_store ();

  store_close (st);
  raw_sql ("PRAGMA user_version = 999");
  st = NULL;
  FAILS (store_open (db_path, &st), ENOTSUP);
  ck_assert_ptr_null (st);
  ck_assert_ptr_nonnull (strstr (last_error, db_path));
  ck_assert_ptr_nonnull (strstr (last_error, "999"));
  ck_assert_int_eq (raw_int ("PRAGMA user_version"), 999);
}
END_TEST

START_TEST (test_not_a_database)
{
  struct store *st = NULL;
  FILE *fp = fopen (db_path, "w");

  ck_assert_ptr_nonnull (fp);
  for (int i = 0; i < 512; i++)
    fputs ("this is not a database\n", fp);
  fclose (fp);
  ck_assert_int_eq (store_open (db_path, &st), -1);
  ck_assert_ptr_null (st);
  ck_assert_ptr_nonnull (strstr (last_error, db_path));
}
END_TEST

START_TEST (test_cannot_open)
{
  struct store *st = NULL;
  char path[200];

  snprintf (path, sizeof path, "%s/no/such/dir/segmap.db", dir);
  FAILS (store_open (path, &st), ENOENT);
  ck_assert_ptr_null (st);
  ck_assert_ptr_nonnull (strstr (last_error, path));
}
END_TEST

START_TEST (test_damaged_database)
{
  struct store *st = open_store ();
  uint32_t cid, vid;
  FILE *fp;
  long pos;

  /* Enough rows for several b-tree pages, then scribble on one. */
  OK (store_container_add (st, "c", "/x", 1024 * MiB, &cid));
  OK (store_vdisk_create (st, "v", 1024 * MiB, 16, cid, &vid));
  OK (store_begin (st));
  for (uint64_t u = 0; u < 4000; u++) {
    OK (store_segment_insert (st, cid, u, 1));
    OK (store_map_set (st, vid, u, MAPPED (cid, u)));
  }
  OK (store_commit (st));
  store_close (st);                 /* checkpoints the WAL into the file */
  fp = fopen (db_path, "r+");
  ck_assert_ptr_nonnull (fp);
  fseek (fp, 0, SEEK_END);
  pos = ftell (fp);
  ck_assert_int_gt (pos, 16 * 4096);
  fseek (fp, pos - 3 * 4096 + 100, SEEK_SET);
  for (int i = 0; i < 2000; i++)
    fputc (0x5a, fp);
  fclose (fp);
  st = NULL;
  ck_assert_int_eq (store_open (db_path, &st), -1);
  ck_assert_ptr_null (st);
  ck_assert_ptr_nonnull (strstr (last_error, db_path));
}
END_TEST

/*----------------------------------------------------------------------
 * Containers and vdisks
 */

START_TEST (test_containers)
{
  struct store *st = open_store ();
  struct sm_container_info *c;
  uint32_t a, b, x, vid;
  size_t n;

  OK (store_container_add (st, "a", "/a", 64 * MiB, &a));
  OK (store_container_add (st, "b", "/b", 64 * MiB, &b));
  ck_assert_uint_eq (a, 1);
  ck_assert_uint_eq (b, 2);
  FAILS (store_container_add (st, "a", "/other", 64 * MiB, &x), EEXIST);
  ck_assert_str_eq (last_error, "container 'a' already exists");
  FAILS (store_container_add (st, "bad/name", "/x", 64 * MiB, &x), EINVAL);
  FAILS (store_container_add (st, "c", "/c", 1000, &x), EINVAL);
  FAILS (store_container_add (st, "c", "/c", 0, &x), EINVAL);
  FAILS (store_container_add (st, "c", "", 64 * MiB, &x), EINVAL);

  /* Lowest free id is reused. */
  OK (store_container_remove (st, a));
  OK (store_container_add (st, "c", "/c", 128 * MiB, &x));
  ck_assert_uint_eq (x, 1);
  FAILS (store_container_remove (st, 77), ENOENT);

  OK (store_container_list (st, &c, &n));
  ck_assert_int_eq (n, 2);
  ck_assert_str_eq (c[0].name, "c");
  ck_assert_uint_eq (c[0].size, 128 * MiB);
  ck_assert_str_eq (c[1].name, "b");
  sm_container_info_free (c, n);

  /* Refused while referenced by a vdisk, then by a segment. */
  OK (store_vdisk_create (st, "v", 16 * MiB, 20, b, &vid));
  FAILS (store_container_remove (st, b), EBUSY);
  OK (store_vdisk_delete (st, vid));
  OK (store_segment_insert (st, b, 32, 16));
  FAILS (store_container_remove (st, b), EBUSY);
  FAILS (store_container_set_size (st, b, 2 * MiB), EBUSY);  /* 48 units */
  OK (store_container_set_size (st, b, 3 * MiB));
  OK (store_container_set_size (st, b, 256 * MiB));
  OK (store_segment_ref (st, b, 32, -1, NULL));
  OK (store_container_remove (st, b));
  FAILS (store_container_set_size (st, b, 64 * MiB), ENOENT);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

START_TEST (test_container_ids_exhausted)
{
  struct store *st = open_store ();
  uint32_t id;

  raw_sql ("WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
           "                         WHERE i < 65535)"
           " INSERT INTO container (id, name, path, size)"
           " SELECT i, 'c' || i, '/x', 65536 FROM n");
  FAILS (store_container_add (st, "more", "/x", 65536, &id), ENOSPC);
  raw_sql ("DELETE FROM container WHERE id = 40000");
  OK (store_container_add (st, "more", "/x", 65536, &id));
  ck_assert_uint_eq (id, 40000);
  store_close (st);
}
END_TEST

START_TEST (test_vdisks)
{
  struct store *st = open_store ();
  struct sm_vdisk_info *v;
  uint32_t cid, z, a, b, x;
  uint64_t count;
  size_t n;

  OK (store_container_add (st, "c", "/c", 64 * MiB, &cid));
  OK (store_vdisk_create (st, "zeta", 16 * MiB, 20, cid, &z));
  OK (store_vdisk_create (st, "alpha", 512, 16, 0, &a));
  FAILS (store_vdisk_create (st, "zeta", 16 * MiB, 20, cid, &x), EEXIST);
  ck_assert_str_eq (last_error, "vdisk 'zeta' already exists");
  FAILS (store_vdisk_create (st, "w", 16 * MiB, 20, 99, &x), ENOENT);
  FAILS (store_vdisk_create (st, "w", 1000, 20, cid, &x), EINVAL);
  FAILS (store_vdisk_create (st, "w", 16 * MiB, 15, cid, &x), EINVAL);
  FAILS (store_vdisk_create (st, "w", 16 * MiB, 27, cid, &x), EINVAL);
  FAILS (store_vdisk_create (st, "a@b", 16 * MiB, 20, cid, &x), EINVAL);

  OK (store_vdisk_set_read_only (st, a, true));
  OK (store_vdisk_resize (st, a, MiB));
  FAILS (store_vdisk_resize (st, 1234, MiB), ENOENT);
  FAILS (store_vdisk_set_read_only (st, 1234, true), ENOENT);
  OK (store_vdisk_list (st, &v, &n));
  ck_assert_int_eq (n, 2);
  ck_assert_str_eq (v[0].name, "alpha");
  ck_assert (v[0].read_only);
  ck_assert_uint_eq (v[0].size, MiB);
  ck_assert_uint_eq (v[0].container_id, 0);
  ck_assert_str_eq (v[1].name, "zeta");
  ck_assert (!v[1].read_only);
  ck_assert_uint_eq (v[1].seg_shift, 20);
  sm_vdisk_info_free (v, n);

  /* Shrinking past a mapped segment is refused; to its end is fine. */
  OK (store_segment_insert (st, cid, 0, 16));
  OK (store_map_set (st, z, 9, MAPPED (cid, 0)));
  FAILS (store_vdisk_resize (st, z, 9 * MiB), EBUSY);
  OK (store_vdisk_resize (st, z, 9 * MiB + 512));
  OK (store_vdisk_resize (st, z, 32 * MiB));

  /* Delete takes the map rows along but leaves segments alone. */
  OK (store_vdisk_delete (st, z));
  OK (store_map_count (st, z, &count));
  ck_assert_uint_eq (count, 0);
  OK (store_segment_ref (st, cid, 0, 0, NULL));
  FAILS (store_vdisk_delete (st, z), ENOENT);

  /* Ids are never reused. */
  OK (store_vdisk_create (st, "zeta", 16 * MiB, 20, cid, &b));
  ck_assert_uint_gt (b, z);
  store_close (st);
}
END_TEST

/*----------------------------------------------------------------------
 * Map and segments
 */

struct walk {
  uint64_t vseg[16];
  sm_entry e[16];
  unsigned n, stop_after;
};

static int
walk_fn (void *opaque, uint64_t vseg, sm_entry e)
{
  struct walk *w = opaque;

  w->vseg[w->n] = vseg;
  w->e[w->n] = e;
  w->n++;
  return w->n == w->stop_after ? 42 : 0;
}

/* A store with container 1 (64 MiB) and vdisk "v" (1 GiB, 1 MiB). */
static struct store *
open_with_vdisk (uint32_t *cid, uint32_t *vid)
{
  struct store *st = open_store ();

  OK (store_container_add (st, "c", "/c", 64 * MiB, cid));
  OK (store_vdisk_create (st, "v", 1024 * MiB, 20, *cid, vid));
  return st;
}

START_TEST (test_map_get_set)
{
  uint32_t cid, vid;
  struct store *st = open_with_vdisk (&cid, &vid);
  sm_entry e[8];
  sm_entry err = ENTRY_VALID | ENTRY_ERROR;
  uint64_t n;

  OK (store_map_get (st, vid, 0, 8, e));
  for (int i = 0; i < 8; i++)
    ck_assert_uint_eq (e[i], ENTRY_ZERO_SEGMENT);
  OK (store_segment_insert (st, cid, 16, 16));
  OK (store_segment_insert (st, cid, 48, 16));
  OK (store_map_set (st, vid, 2, MAPPED (cid, 16)));
  OK (store_map_set (st, vid, 5, entry_make (cid, 48,
                                             ENTRY_VALID | ENTRY_NOWRITE)));
  OK (store_map_set (st, vid, 7, err));          /* no location */
  OK (store_map_get (st, vid, 1, 6, e));
  ck_assert_uint_eq (e[0], ENTRY_ZERO_SEGMENT);
  ck_assert_uint_eq (e[1], MAPPED (cid, 16));
  ck_assert_uint_eq (e[4], entry_make (cid, 48, ENTRY_VALID | ENTRY_NOWRITE));
  ck_assert_uint_eq (e[5], ENTRY_ZERO_SEGMENT);
  OK (store_map_get (st, vid, 7, 1, e));
  ck_assert_uint_eq (e[0], err);
  OK (store_map_count (st, vid, &n));
  ck_assert_uint_eq (n, 3);

  /* Overwrite, then back to zero deletes the row. */
  OK (store_map_set (st, vid, 2, MAPPED (cid, 48)));
  OK (store_map_get (st, vid, 2, 1, e));
  ck_assert_uint_eq (e[0], MAPPED (cid, 48));
  OK (store_map_set (st, vid, 2, ENTRY_ZERO_SEGMENT));
  OK (store_map_set (st, vid, 3, ENTRY_ZERO_SEGMENT));   /* absent: fine */
  OK (store_map_count (st, vid, &n));
  ck_assert_uint_eq (n, 2);
  OK (store_map_get (st, vid, 2, 1, e));
  ck_assert_uint_eq (e[0], ENTRY_ZERO_SEGMENT);

  /* What cannot be stored. */
  FAILS (store_map_set (st, vid, 0, ENTRY_INVALID), EINVAL);
  FAILS (store_map_set (st, vid, 0, ENTRY_ZERO_SEGMENT | ENTRY_NOWRITE),
         EINVAL);
  FAILS (store_map_set (st, vid, 0, entry_make (0, 0, ENTRY_VALID)), EINVAL);
  FAILS (store_map_set (st, vid, 0, entry_make (cid, 16, 0x80 | 1)), EINVAL);
  FAILS (store_map_set (st, vid, 0, MAPPED (cid, 17)), EINVAL); /* no seg */
  FAILS (store_map_set (st, 999, 0, MAPPED (cid, 16)), EINVAL); /* no vdisk */
  FAILS (store_map_set (st, vid, UINT64_MAX, MAPPED (cid, 16)), EINVAL);
  FAILS (store_map_get (st, vid, UINT64_MAX - 2, 8, e), EINVAL);
  OK (store_map_count (st, vid, &n));
  ck_assert_uint_eq (n, 2);
  store_close (st);
}
END_TEST

START_TEST (test_map_foreach)
{
  uint32_t cid, vid, other;
  struct store *st = open_with_vdisk (&cid, &vid);
  const uint64_t order[] = { 9, 1, 30, 4, 0 };
  struct walk w = { .stop_after = 0 };

  OK (store_vdisk_create (st, "other", 64 * MiB, 20, cid, &other));
  for (size_t i = 0; i < 5; i++) {
    OK (store_segment_insert (st, cid, 16 * i, 16));
    OK (store_map_set (st, vid, order[i], MAPPED (cid, 16 * i)));
  }
  OK (store_segment_insert (st, cid, 16 * 5, 16));
  OK (store_map_set (st, other, 2, MAPPED (cid, 16 * 5)));

  ck_assert_int_eq (store_map_foreach (st, vid, 0, walk_fn, &w), 0);
  ck_assert_uint_eq (w.n, 5);
  ck_assert_uint_eq (w.vseg[0], 0);
  ck_assert_uint_eq (w.vseg[1], 1);
  ck_assert_uint_eq (w.vseg[2], 4);
  ck_assert_uint_eq (w.vseg[3], 9);
  ck_assert_uint_eq (w.vseg[4], 30);
  ck_assert_uint_eq (w.e[3], MAPPED (cid, 0));          /* vseg 9 */

  memset (&w, 0, sizeof w);
  ck_assert_int_eq (store_map_foreach (st, vid, 2, walk_fn, &w), 0);
  ck_assert_uint_eq (w.n, 3);
  ck_assert_uint_eq (w.vseg[0], 4);

  /* Early stop returns the callback's value. */
  memset (&w, 0, sizeof w);
  w.stop_after = 2;
  ck_assert_int_eq (store_map_foreach (st, vid, 0, walk_fn, &w), 42);
  ck_assert_uint_eq (w.n, 2);
  /* ...and leaves the store usable (the walk was reset). */
  memset (&w, 0, sizeof w);
  ck_assert_int_eq (store_map_foreach (st, other, 0, walk_fn, &w), 0);
  ck_assert_uint_eq (w.n, 1);
  ck_assert_uint_eq (w.vseg[0], 2);
  store_close (st);
}
END_TEST

/* A map walk whose callback drops references: the controller's way to
 * delete a vdisk. */
struct unref_ctx {
  struct store *st;
  unsigned freed;
};

static int
unref_fn (void *opaque, uint64_t vseg, sm_entry e)
{
  struct unref_ctx *u = opaque;
  uint32_t rc;

  if (store_segment_ref (u->st, entry_container (e), entry_unit (e),
                         -1, &rc) == -1)
    return -1;
  u->freed += rc == 0;
  return 0;
}

static int
nested_fn (void *opaque, uint64_t vseg, sm_entry e)
{
  struct walk w = { .stop_after = 0 };

  return store_map_foreach (opaque, 1, 0, walk_fn, &w) == -1 ? 7 : 0;
}

/* What store_check reports, collected. */
struct problems {
  unsigned n;
  char text[8][256];
};

static void
collect (void *opaque, const char *problem)
{
  struct problems *p = opaque;

  if (p->n < 8)
    snprintf (p->text[p->n], sizeof p->text[0], "%s", problem);
  p->n++;
}

/* sql/004: the kept map count follows inserts, updates and deletes
 * (store_check proves it), and a vdisk marked deleting is gone for
 * users (unlisted, its name free) until its rows are freed and the row
 * deleted. */
START_TEST (test_counts_and_deleting)
{
  uint32_t cid, vid, again;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct sm_vdisk_info *v;
  uint64_t count;
  size_t n;

  for (uint64_t seg = 0; seg < 3; seg++) {
    OK (store_segment_insert (st, cid, seg * 16, 16));
    OK (store_map_set (st, vid, seg, MAPPED (cid, seg * 16)));
  }
  OK (store_map_set (st, vid, 1, MAPPED (cid, 16) | ENTRY_NOWRITE));
  OK (store_map_count (st, vid, &count));
  ck_assert_uint_eq (count, 3);
  OK (store_map_set (st, vid, 2, ENTRY_ZERO_SEGMENT));
  OK (store_segment_ref (st, cid, 32, -1, NULL));
  OK (store_map_count (st, vid, &count));
  ck_assert_uint_eq (count, 2);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  raw_sql ("UPDATE vdisk SET mapped = 7");
  {
    struct problems p = { 0 };
    ck_assert_int_eq (store_check (st, collect, &p), 1);
    ck_assert_ptr_nonnull (strstr (p.text[0], "counts 7 mapped segments "
                                   "but has 2 map entries"));
  }
  raw_sql ("UPDATE vdisk SET mapped = 2");

  OK (store_vdisk_mark_deleting (st, vid));
  FAILS (store_vdisk_mark_deleting (st, vid), ENOENT);
  OK (store_vdisk_list (st, &v, &n));
  ck_assert_uint_eq (n, 0);
  sm_vdisk_info_free (v, n);
  OK (store_vdisk_list_deleting (st, &v, &n));
  ck_assert_uint_eq (n, 1);
  ck_assert_uint_eq (v[0].id, vid);
  sm_vdisk_info_free (v, n);
  /* The name is free at once; the rows are still there. */
  OK (store_vdisk_create (st, "v", 16 * MiB, 20, cid, &again));
  ck_assert_uint_ne (again, vid);
  OK (store_map_count (st, vid, &count));
  ck_assert_uint_eq (count, 2);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  for (uint64_t seg = 0; seg < 2; seg++) {
    OK (store_map_set (st, vid, seg, ENTRY_ZERO_SEGMENT));
    OK (store_segment_ref (st, cid, seg * 16, -1, NULL));
  }
  OK (store_vdisk_delete (st, vid));
  OK (store_vdisk_list_deleting (st, &v, &n));
  ck_assert_uint_eq (n, 0);
  sm_vdisk_info_free (v, n);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

START_TEST (test_map_foreach_calls_store)
{
  uint32_t cid, vid;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct unref_ctx u = { .st = st };

  for (uint64_t i = 0; i < 4; i++) {
    OK (store_segment_insert (st, cid, 16 * i, 16));
    OK (store_map_set (st, vid, i, MAPPED (cid, 16 * i)));
  }
  /* A nested walk on the same statement is refused, not corrupted. */
  ck_assert_int_eq (store_map_foreach (st, vid, 0, nested_fn, st), 7);
  ck_assert_ptr_nonnull (strstr (last_error, "nested walk"));

  /* Freeing segments under their map rows is the caller's mistake: the
   * store does not refuse it (no foreign key, sql/003), store_check
   * names every map row left dangling. */
  OK (store_begin (st));
  OK (store_map_set (st, vid, 1, ENTRY_ZERO_SEGMENT));
  OK (store_segment_ref (st, cid, 16, -1, NULL));
  ck_assert_int_eq (store_map_foreach (st, vid, 0, unref_fn, &u), 0);
  ck_assert_uint_eq (u.freed, 3);
  {
    struct problems p = { 0 };
    ck_assert_int_eq (store_check (st, collect, &p), 3);
    for (unsigned i = 0; i < 3; i++)
      ck_assert_ptr_nonnull (strstr (p.text[i], "not an allocated segment"));
  }
  OK (store_rollback (st));

  /* Drop the map first, as the controller does, then the references. */
  {
    struct walk w = { .stop_after = 0 };
    OK (store_begin (st));
    ck_assert_int_eq (store_map_foreach (st, vid, 0, walk_fn, &w), 0);
    OK (store_vdisk_delete (st, vid));
    for (unsigned i = 0; i < w.n; i++)
      OK (store_segment_ref (st, cid, entry_unit (w.e[i]), -1, NULL));
    OK (store_commit (st));
  }
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM segment"), 0);
}
END_TEST

struct seg_walk {
  unsigned n;
  uint32_t container[8];
  uint64_t unit[8];
  uint32_t refcount[8];
};

static int
seg_fn (void *opaque, uint32_t c, uint64_t unit, uint32_t units, uint32_t rc)
{
  struct seg_walk *w = opaque;

  w->container[w->n] = c;
  w->unit[w->n] = unit;
  w->refcount[w->n] = rc;
  w->n++;
  return 0;
}

START_TEST (test_segments)
{
  uint32_t cid, vid, c2, rc = 0;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct seg_walk w = { 0 };

  OK (store_container_add (st, "d", "/d", 64 * MiB, &c2));
  OK (store_segment_insert (st, cid, 32, 16));
  OK (store_segment_insert (st, cid, 16, 16));
  OK (store_segment_insert (st, c2, 0, 1));
  OK (store_segment_ref (st, cid, 16, +1, &rc));
  ck_assert_uint_eq (rc, 2);
  OK (store_segment_ref (st, cid, 16, +3, &rc));
  ck_assert_uint_eq (rc, 5);
  OK (store_segment_ref (st, cid, 16, -4, &rc));
  ck_assert_uint_eq (rc, 1);
  FAILS (store_segment_ref (st, cid, 16, -2, &rc), EINVAL);
  OK (store_segment_ref (st, cid, 16, 0, &rc));
  ck_assert_uint_eq (rc, 1);

  OK (store_segment_foreach (st, 0, seg_fn, &w));
  ck_assert_uint_eq (w.n, 3);
  ck_assert_uint_eq (w.unit[0], 16);
  ck_assert_uint_eq (w.unit[1], 32);
  ck_assert_uint_eq (w.container[2], c2);
  memset (&w, 0, sizeof w);
  OK (store_segment_foreach (st, c2, seg_fn, &w));
  ck_assert_uint_eq (w.n, 1);

  /* Reaching 0 deletes the row. */
  OK (store_segment_ref (st, cid, 16, -1, &rc));
  ck_assert_uint_eq (rc, 0);
  FAILS (store_segment_ref (st, cid, 16, -1, &rc), ENOENT);
  memset (&w, 0, sizeof w);
  OK (store_segment_foreach (st, cid, seg_fn, &w));
  ck_assert_uint_eq (w.n, 1);
  ck_assert_uint_eq (w.unit[0], 32);

  /* Overlaps, containers' ends and bad arguments are refused. */
  FAILS (store_segment_insert (st, cid, 32, 16), EEXIST);
  FAILS (store_segment_insert (st, cid, 40, 16), EEXIST);
  FAILS (store_segment_insert (st, cid, 17, 16), EEXIST);
  OK (store_segment_insert (st, cid, 16, 16));               /* fits again */
  OK (store_segment_insert (st, cid, 48, 16));
  FAILS (store_segment_insert (st, cid, 1020, 16), EINVAL);  /* past end */
  OK (store_segment_insert (st, cid, 1008, 16));             /* last one */
  FAILS (store_segment_insert (st, 77, 0, 16), ENOENT);
  FAILS (store_segment_insert (st, 0, 0, 16), EINVAL);
  FAILS (store_segment_insert (st, cid, 0, 0), EINVAL);
  FAILS (store_segment_insert (st, cid, 0, 2048), EINVAL);

  /* A map row needs an allocated segment; the reference count is
   * read back as it was stored. */
  FAILS (store_map_set (st, vid, 0, MAPPED (cid, 64)), EINVAL);
  ck_assert_ptr_nonnull (strstr (last_error, "not an allocated segment"));
  OK (store_map_set (st, vid, 0, MAPPED (cid, 48)));
  OK (store_segment_ref (st, cid, 48, 0, &rc));
  ck_assert_uint_eq (rc, 1);
  store_close (st);
}
END_TEST

/* The allocation path: segment and map row in one call, all or
 * nothing, never replacing a row. */
START_TEST (test_allocate)
{
  uint32_t cid, vid, rc = 0;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct seg_walk w = { 0 };
  sm_entry e[2];

  OK (store_allocate (st, vid, 3, MAPPED (cid, 16), 16));
  OK (store_map_get (st, vid, 3, 2, e));
  ck_assert_uint_eq (e[0], MAPPED (cid, 16));
  ck_assert_uint_eq (e[1], ENTRY_ZERO_SEGMENT);
  OK (store_segment_ref (st, cid, 16, 0, &rc));
  ck_assert_uint_eq (rc, 1);

  /* A segment that already has a row, or a vdisk that does not exist:
   * refused, and no segment row is left behind. */
  FAILS (store_allocate (st, vid, 3, MAPPED (cid, 32), 16), EEXIST);
  ck_assert_int_eq (store_allocate (st, vid + 7, 0, MAPPED (cid, 48), 16), -1);
  FAILS (store_allocate (st, vid, 4, ENTRY_ZERO_SEGMENT, 16), EINVAL);
  FAILS (store_allocate (st, vid, 4, MAPPED (cid, 64), 0), EINVAL);
  OK (store_segment_foreach (st, cid, seg_fn, &w));
  ck_assert_uint_eq (w.n, 1);
  ck_assert_uint_eq (w.unit[0], 16);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

/*----------------------------------------------------------------------
 * Transactions
 */

START_TEST (test_transactions)
{
  uint32_t cid, vid;
  struct store *st = open_with_vdisk (&cid, &vid);
  uint64_t n;

  ck_assert (!store_in_transaction (st));
  FAILS (store_commit (st), EINVAL);
  OK (store_rollback (st));                 /* nothing to roll back */

  OK (store_begin (st));
  ck_assert (store_in_transaction (st));
  FAILS (store_begin (st), EINVAL);
  OK (store_segment_insert (st, cid, 0, 16));
  OK (store_map_set (st, vid, 0, MAPPED (cid, 0)));
  OK (store_rollback (st));
  ck_assert (!store_in_transaction (st));
  OK (store_map_count (st, vid, &n));
  ck_assert_uint_eq (n, 0);
  FAILS (store_segment_ref (st, cid, 0, 0, NULL), ENOENT);

  OK (store_begin (st));
  OK (store_segment_insert (st, cid, 0, 16));
  OK (store_map_set (st, vid, 0, MAPPED (cid, 0)));
  /* A vdisk delete inside a transaction nests as a savepoint. */
  {
    uint32_t tmp;
    OK (store_vdisk_create (st, "tmp", MiB, 20, 0, &tmp));
    OK (store_vdisk_delete (st, tmp));
    FAILS (store_vdisk_delete (st, tmp), ENOENT);
    ck_assert (store_in_transaction (st));
  }
  OK (store_commit (st));
  ck_assert (!store_in_transaction (st));

  /* Closing with a transaction open commits nothing. */
  OK (store_begin (st));
  OK (store_map_set (st, vid, 0, ENTRY_ZERO_SEGMENT));
  OK (store_segment_ref (st, cid, 0, -1, NULL));
  store_close (st);

  st = open_store ();
  OK (store_map_count (st, vid, &n));
  ck_assert_uint_eq (n, 1);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

/*----------------------------------------------------------------------
 * store_check
 */

/* A healthy database: container 1 "c" of 64 MiB (1024 units); vdisks
 * 1 "v1" and 2 "v2" of 16 MiB in 1 MiB (16-unit) segments; segment 0
 * shared by v1:0 and v2:0, segment 16 for v1:1, segment 32 for v2:3,
 * and an error entry without location at v2:5. */
static void
make_healthy (void)
{
  struct store *st = open_store ();
  uint32_t c, v1, v2, rc;

  OK (store_container_add (st, "c", "/c", 64 * MiB, &c));
  OK (store_vdisk_create (st, "v1", 16 * MiB, 20, c, &v1));
  OK (store_vdisk_create (st, "v2", 16 * MiB, 20, c, &v2));
  ck_assert_uint_eq (c, 1);
  ck_assert_uint_eq (v1, 1);
  ck_assert_uint_eq (v2, 2);
  OK (store_begin (st));
  OK (store_segment_insert (st, c, 0, 16));
  OK (store_segment_insert (st, c, 16, 16));
  OK (store_segment_insert (st, c, 32, 16));
  OK (store_map_set (st, v1, 0, MAPPED (c, 0)));
  OK (store_map_set (st, v2, 0, entry_make (c, 0,
                                            ENTRY_VALID | ENTRY_NOWRITE)));
  OK (store_segment_ref (st, c, 0, +1, &rc));
  ck_assert_uint_eq (rc, 2);
  OK (store_map_set (st, v1, 1, MAPPED (c, 16)));
  OK (store_map_set (st, v2, 3, MAPPED (c, 32)));
  OK (store_map_set (st, v2, 5, ENTRY_VALID | ENTRY_ERROR));
  OK (store_commit (st));
  store_close (st);
}

START_TEST (test_check_healthy)
{
  struct problems p = { 0 };
  struct store *st;

  make_healthy ();
  st = open_store ();
  ck_assert_int_eq (store_check (st, collect, &p), 0);
  ck_assert_uint_eq (p.n, 0);
  /* Inside a transaction, too. */
  OK (store_begin (st));
  ck_assert_int_eq (store_check (st, collect, &p), 0);
  ck_assert (store_in_transaction (st));
  OK (store_commit (st));
  store_close (st);
}
END_TEST

/* One way to break the healthy database, and what check must say.
 * The SQL runs on a second connection while the store is open (a
 * database breaking CHECK constraints would not even open: quick_check
 * verifies them).  Those cases are also reported by integrity_check,
 * hence two problems. */
static const struct corruption {
  const char *name;
  const char *sql;
  int problems;
  const char *expect;
} corruptions[] = {
  { "wrong refcount",
    "UPDATE segment SET refcount = 3 WHERE unit = 16", 1,
    "segment 1:16 has reference count 3 but 1 map entries and 0 movements "
    "reference it" },
  { "dangling map row",
    "INSERT INTO map VALUES (1, 7, 1, 512, 1)", 1,
    "vdisk 'v1' segment 7 maps container 1 unit 512, which is not an "
    "allocated segment" },
  { "map row of a missing vdisk",
    "DELETE FROM vdisk WHERE id = 1", 1,
    "vdisk #1 does not exist but has 2 map entries" },
  { "overlapping segments",
    "INSERT INTO segment VALUES (1, 40, 16, 1);"
    "INSERT INTO map VALUES (1, 9, 1, 40, 1)", 1,
    "segment 1:40 (16 units) overlaps an earlier segment of container 1" },
  { "leaked segment",
    "INSERT INTO segment VALUES (1, 320, 16, 1)", 1,
    "segment 1:320 (16 units) is referenced by no map entry or movement "
    "(leaked)" },
  { "segment past its container",
    "UPDATE container SET size = 40 * 65536", 1,
    "segment 1:32 (16 units) extends past the end of container 'c' "
    "(40 units)" },
  { "segment of a missing container",
    "INSERT INTO segment VALUES (9, 0, 16, 1);"
    "INSERT INTO map VALUES (2, 8, 9, 0, 1)", 1,
    "container #9 does not exist but holds 1 segments" },
  { "vdisk of a missing container",
    "UPDATE vdisk SET container_id = 5 WHERE id = 2", 1,
    "vdisk 'v2' allocates from container #5, which does not exist" },
  { "vseg past the end",
    "INSERT INTO segment VALUES (1, 64, 16, 1);"
    "INSERT INTO map VALUES (2, 16, 1, 64, 1)", 1,
    "vdisk 'v2' maps segment 16, past its end (16 segments)" },
  { "segment of the wrong size",
    "INSERT INTO segment VALUES (1, 64, 8, 1);"
    "INSERT INTO map VALUES (2, 4, 1, 64, 1)", 1,
    "vdisk 'v2' segment 4 maps segment 1:64 of 8 units, but its segments "
    "are 16 units" },
  { "malformed flags",
    "PRAGMA ignore_check_constraints = ON;"
    "UPDATE map SET flags = 129 WHERE vdisk_id = 1 AND vseg = 1", 2,
    "vdisk 'v1' segment 1 has malformed flags 129" },
  { "dangling reference in a table of a later schema",
    "CREATE TABLE future (v INTEGER REFERENCES vdisk (id));"
    "INSERT INTO future VALUES (99)", 1,
    "table future row 1 references a missing row of table vdisk" },
  { "no location on a mapped entry",
    "PRAGMA ignore_check_constraints = ON;"
    "UPDATE map SET flags = 1 WHERE vdisk_id = 2 AND vseg = 5", 2,
    "vdisk 'v2' segment 5 has no location but is not an error entry" },
  { "movement bitmap of the wrong size",
    "INSERT INTO segment VALUES (1, 64, 16, 1);"
    "INSERT INTO movement VALUES (1, 1, 1, 16, 1, 64, 1, zeroblob (16))", 1,
    "vdisk 'v1' segment 1: the bitmap of its movement has 16 bytes, but "
    "its segments have 256 blocks (32 bytes)" },
  { "movement from where the map does not point",
    "INSERT INTO segment VALUES (1, 64, 16, 1);"
    "INSERT INTO movement VALUES (1, 1, 1, 32, 1, 64, 1, zeroblob (32))", 1,
    "vdisk 'v1' segment 1 moves from 1:32, but its map entry is 1:16" },
  { "movement of a zero segment that is mapped",
    "INSERT INTO segment VALUES (1, 64, 16, 1);"
    "INSERT INTO movement VALUES (1, 1, NULL, NULL, 1, 64, 1,"
    "                             zeroblob (32))", 1,
    "vdisk 'v1' segment 1 moves from zero, but its map entry is 1:16" },
  { "movement to a missing segment",
    "INSERT INTO movement VALUES (1, 1, 1, 16, 1, 64, 0, zeroblob (32))", 1,
    "vdisk 'v1' segment 1 moves to container 1 unit 64, which is not an "
    "allocated segment" },
  { "movement to a mapped segment",
    "UPDATE segment SET refcount = 2 WHERE unit = 32;"
    "INSERT INTO movement VALUES (1, 1, 1, 16, 1, 32, 1, zeroblob (32))", 1,
    "segment 1:32 is where vdisk 'v1' segment 1 moves, but vdisk 'v2' "
    "segment 3 maps it" },
  { "movement not counted by its alt segment",
    "INSERT INTO segment VALUES (1, 64, 16, 2);"
    "INSERT INTO movement VALUES (1, 1, 1, 16, 1, 64, 1, zeroblob (32))", 1,
    "segment 1:64 has reference count 2 but 0 map entries and 1 movements "
    "reference it" },
  { "two movements to one segment",
    "INSERT INTO segment VALUES (1, 64, 16, 2);"
    "INSERT INTO movement VALUES (1, 1, 1, 16, 1, 64, 1, zeroblob (32));"
    "INSERT INTO movement VALUES (2, 3, 1, 32, 1, 64, 1, zeroblob (32))", 1,
    "segment 1:64 is where 2 movements move" },
  { "clone of a vdisk that is not a snapshot",
    "UPDATE vdisk SET clone_of = 1 WHERE id = 2", 1,
    "vdisk 'v2' is a clone of vdisk #1, which is not a snapshot" },
  { "cycle of snapshots and clones",
    "UPDATE vdisk SET kind = 'snapshot', parent_id = 2, snap_name = 's'"
    " WHERE id = 1;"
    "UPDATE vdisk SET clone_of = 1 WHERE id = 2", 2,
    "the tree of snapshots and clones has a cycle through vdisk 'v1'" },
  { "running job of a missing vdisk",
    "INSERT INTO job (kind, vdisk_id, vdisk, state, created, updated)"
    " VALUES ('flatten', 9, 'gone', 'running', 0, 0)", 1,
    "job 1 (flatten) is running for vdisk #9 ('gone'), which does not "
    "exist" },
  { "movement of a missing vdisk",
    "INSERT INTO segment VALUES (1, 64, 16, 1);"
    "INSERT INTO movement VALUES (1, 1, 1, 16, 1, 64, 1, zeroblob (32));"
    "DELETE FROM vdisk WHERE id = 1", 2,
    "vdisk #1 does not exist but has 1 data movements" },
};

/* Is EXPECT in one of the problems? */
static bool
found (const struct problems *p, const char *expect)
{
  for (unsigned i = 0; i < p->n && i < 8; i++)
    if (strstr (p->text[i], expect))
      return true;
  return false;
}

START_TEST (test_check_finds_corruption)
{
  const struct corruption *c = &corruptions[_i];
  struct problems p = { 0 };
  struct store *st;

  make_healthy ();
  st = open_store ();
  raw_sql (c->sql);
  ck_assert_msg (store_check (st, collect, &p) == c->problems,
                 "%s: %u problems, first: %s", c->name, p.n, p.text[0]);
  ck_assert_msg (found (&p, c->expect), "%s: got \"%s\"",
                 c->name, p.text[0]);
  store_close (st);
}
END_TEST

/* A row that breaks the schema's rules is never handed out as an entry. */
START_TEST (test_map_get_refuses_corrupt_row)
{
  struct store *st;
  sm_entry e[2];

  make_healthy ();
  st = open_store ();
  raw_sql ("PRAGMA ignore_check_constraints = ON;"
           "UPDATE map SET flags = 129 WHERE vdisk_id = 1 AND vseg = 1");
  FAILS (store_map_get (st, 1, 0, 2, e), EIO);
  ck_assert_ptr_nonnull (strstr (last_error, "corrupt map row"));
  OK (store_map_get (st, 2, 0, 2, e));      /* other rows still readable */
  store_close (st);

  /* Nor does such a database open again. */
  st = NULL;
  FAILS (store_open (db_path, &st), EIO);
  ck_assert_ptr_nonnull (strstr (last_error, "quick_check"));
  ck_assert_ptr_nonnull (strstr (last_error, db_path));
}
END_TEST

/*----------------------------------------------------------------------
 * iSCSI hosts and persistent reservations
 */

START_TEST (test_hosts)
{
  struct store *st = open_store ();
  struct sm_host_info *v;
  size_t n;
  char *web_vdisks[] = { "db", "logs" };
  struct sm_host_info web = {
    .name = "web", .initiator = "iqn.2026-01.com.example:web",
    .vdisks = web_vdisks, .n_vdisks = 2,
  };
  struct sm_host_info other = {
    .name = "other", .initiator = "IQN.2026-01.COM.EXAMPLE:WEB",
    .chap_user = "u", .chap_secret_file = "/s",
  };

  OK (store_host_list (st, &v, &n));
  ck_assert_uint_eq (n, 0);
  sm_host_info_free (v, n);

  OK (store_host_put (st, &web));
  /* Initiator names are compared without case. */
  FAILS (store_host_put (st, &other), EEXIST);
  ck_assert_str_eq (last_error, "initiator IQN.2026-01.COM.EXAMPLE:WEB "
                    "already belongs to host 'web'");
  other.initiator = "iqn.2026-01.com.example:other";
  OK (store_host_put (st, &other));

  /* Putting a host again replaces its list. */
  web.n_vdisks = 1;
  web.vdisks = (char *[]) { "logs" };
  OK (store_host_put (st, &web));
  OK (store_host_list (st, &v, &n));
  ck_assert_uint_eq (n, 2);
  ck_assert_str_eq (v[0].name, "other");
  ck_assert_str_eq (v[0].chap_user, "u");
  ck_assert_uint_eq (v[0].n_vdisks, 0);
  ck_assert_str_eq (v[1].name, "web");
  ck_assert_ptr_null (v[1].chap_user);
  ck_assert_uint_eq (v[1].n_vdisks, 1);
  ck_assert_str_eq (v[1].vdisks[0], "logs");
  sm_host_info_free (v, n);

  /* CHAP user and file go together (schema CHECK). */
  other.chap_secret_file = NULL;
  FAILS (store_host_put (st, &other), EINVAL);

  OK (store_host_delete (st, "web"));
  FAILS (store_host_delete (st, "web"), ENOENT);
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM iscsi_host_vdisk"), 0);
  store_close (st);
}
END_TEST

START_TEST (test_pr_blobs)
{
  struct store *st = open_store ();
  uint32_t cid, id;
  void *blob;
  size_t len;

  OK (store_container_add (st, "c", "/c", 64 * MiB, &cid));
  OK (store_vdisk_create (st, "d", 16 * MiB, 20, cid, &id));
  OK (store_pr_get (st, id, &blob, &len));
  ck_assert_ptr_null (blob);
  OK (store_pr_set (st, id, "abc", 3));
  OK (store_pr_set (st, id, "wxyz", 4));
  OK (store_pr_get (st, id, &blob, &len));
  ck_assert_uint_eq (len, 4);
  ck_assert_mem_eq (blob, "wxyz", 4);
  free (blob);
  FAILS (store_pr_set (st, id, "", 0), EINVAL);
  /* Reservations go with their vdisk. */
  OK (store_vdisk_delete (st, id));
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM scsi_pr"), 0);
  store_close (st);
}
END_TEST

/*----------------------------------------------------------------------
 * Clones, shared maps and jobs (sql/007)
 */

/* Vdisk "v" with rows at 0 (unit 16), 2 (unit 32) and an error entry
 * at 5, snapshot "v@s" (*SID) and clone "c" of it (*CLID). */
static struct store *
open_with_clone (uint32_t *cid, uint32_t *vid, uint32_t *sid,
                 uint32_t *clid)
{
  struct store *st = open_with_vdisk (cid, vid);

  OK (store_allocate (st, *vid, 0, MAPPED (*cid, 16), 16));
  OK (store_allocate (st, *vid, 2, MAPPED (*cid, 32), 16));
  OK (store_map_set (st, *vid, 5, ENTRY_VALID | ENTRY_ERROR));
  {
    const char *name = "v";
    OK (store_snapshot_create (st, 1, vid, &name, "s", sid));
  }
  OK (store_clone_create (st, *sid, "c", clid));
  return st;
}

/*----------------------------------------------------------------------
 * Changed-block tracking (sql/008)
 */

static uint32_t
base_of (struct store *st, uint32_t id)
{
  uint32_t b = 12345;

  OK (store_cbt_base (st, id, &b));
  return b;
}

/* Take snapshot SNAP of V (named "v"); its id. */
static uint32_t
snap (struct store *st, uint32_t v, const char *name)
{
  const char *vname = "v";
  uint32_t id;

  OK (store_snapshot_create (st, 1, &v, &vname, name, &id));
  return id;
}

/* The first bitmap byte of (OWNER, VSEG), -1 if none. */
static int
mark0 (struct store *st, uint32_t owner, uint64_t vseg)
{
  uint8_t b[32];
  int r = store_cbt_get (st, owner, vseg, b, sizeof b);

  ck_assert_int_ge (r, 0);
  return r == 1 ? b[0] : -1;
}

/* Snapshots chain the bases and freeze the live marks; marks are OR-ed;
 * deleting a middle snapshot merges its delta into its child, deleting
 * the oldest leaves the rest untracked; check passes throughout. */
START_TEST (test_cbt_chain)
{
  uint32_t cid, v, s1, s2, s3;
  struct store *st = open_with_vdisk (&cid, &v);
  uint8_t a[32] = { 0x01 }, b[32] = { 0x04 }, c[32] = { 0x10 };
  bool added;

  OK (store_allocate (st, v, 0, MAPPED (cid, 16), 16));
  ck_assert_uint_eq (base_of (st, v), 0);
  s1 = snap (st, v, "s1");
  ck_assert_uint_eq (base_of (st, v), s1);
  ck_assert_uint_eq (base_of (st, s1), 0);
  OK (store_cbt_mark (st, v, 0, a, 32, &added));
  ck_assert (added);
  OK (store_cbt_mark (st, v, 0, a, 32, &added));
  ck_assert (!added);
  s2 = snap (st, v, "s2");
  ck_assert_uint_eq (base_of (st, s2), s1);
  ck_assert_int_eq (mark0 (st, s2, 0), 0x01);   /* frozen as s2's delta */
  ck_assert_int_eq (mark0 (st, v, 0), -1);      /* live marks start over */
  OK (store_cbt_mark (st, v, 0, b, 32, NULL));
  s3 = snap (st, v, "s3");
  OK (store_cbt_mark (st, v, 0, c, 32, NULL));
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  /* s2 goes: s3 derives from s1 and holds both deltas. */
  OK (store_vdisk_mark_deleting (st, s2));
  ck_assert_uint_eq (base_of (st, s3), s1);
  ck_assert_int_eq (mark0 (st, s3, 0), 0x05);
  ck_assert_int_eq (mark0 (st, v, 0), 0x10);
  /* s1 goes: nothing is tracked from before s3 any more. */
  OK (store_vdisk_mark_deleting (st, s1));
  ck_assert_uint_eq (base_of (st, s3), 0);
  ck_assert_int_eq (mark0 (st, s3, 0), -1);
  ck_assert_uint_eq (base_of (st, v), s3);
  ck_assert_int_eq (mark0 (st, v, 0), 0x10);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

/* A root that goes with several children (the branches a rollback
 * makes) leaves its oldest snapshot child as the root: the others are
 * based on it with the marks of the path between them, so that diffs
 * between the branches still have a common history. */
START_TEST (test_cbt_reroot)
{
  uint32_t cid, v, r, sa, sb;
  struct store *st = open_with_vdisk (&cid, &v);
  uint8_t a[32] = { 0x01 }, b[32] = { 0x04 }, c[32] = { 0x10 };

  OK (store_allocate (st, v, 0, MAPPED (cid, 16), 16));
  r = snap (st, v, "r");
  OK (store_cbt_mark (st, v, 0, a, 32, NULL));
  sa = snap (st, v, "a");                 /* r <- a */
  OK (store_cbt_reset (st, v, r));        /* rolled back to r */
  OK (store_cbt_mark (st, v, 0, b, 32, NULL));
  /* r's children: a and the vdisk (not a snapshot: a is the root). */
  OK (store_vdisk_mark_deleting (st, r));
  ck_assert_uint_eq (base_of (st, sa), 0);
  ck_assert_int_eq (mark0 (st, sa, 0), -1);
  ck_assert_uint_eq (base_of (st, v), sa);
  ck_assert_int_eq (mark0 (st, v, 0), 0x05);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  /* Again with two snapshot children: a <- b and a <- c. */
  sb = snap (st, v, "b");                 /* a <- b (marks 0x05) */
  OK (store_cbt_reset (st, v, sa));
  OK (store_cbt_mark (st, v, 0, c, 32, NULL));
  r = snap (st, v, "c");                  /* a <- c (marks 0x10) */
  OK (store_vdisk_mark_deleting (st, sa));
  ck_assert_uint_eq (base_of (st, sb), 0);
  ck_assert_int_eq (mark0 (st, sb, 0), -1);
  ck_assert_uint_eq (base_of (st, r), sb);
  ck_assert_int_eq (mark0 (st, r, 0), 0x15);
  ck_assert_uint_eq (base_of (st, v), r);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

/* The clone_of of vdisk ID as listed (0: none), -1 if not listed. */
static int64_t
listed_clone_of (struct store *st, uint32_t id)
{
  struct sm_vdisk_info *v;
  size_t n;
  int64_t r = -1;

  OK (store_vdisk_list (st, &v, &n));
  for (size_t i = 0; i < n; i++)
    if (v[i].id == id)
      r = v[i].clone_of;
  sm_vdisk_info_free (v, n);
  return r;
}

START_TEST (test_clone_create)
{
  uint32_t cid, vid, sid, clid, dup, rc = 0;
  struct store *st = open_with_clone (&cid, &vid, &sid, &clid);
  sm_entry e[6];
  uint64_t seg = 99, n = 0;

  /* The clone's rows: the snapshot's, NOWRITE where located. */
  OK (store_map_get (st, clid, 0, 6, e));
  ck_assert_uint_eq (e[0], entry_make (cid, 16, ENTRY_VALID | ENTRY_NOWRITE));
  ck_assert_uint_eq (e[1], ENTRY_ZERO_SEGMENT);
  ck_assert_uint_eq (e[2], entry_make (cid, 32, ENTRY_VALID | ENTRY_NOWRITE));
  ck_assert_uint_eq (e[5], ENTRY_VALID | ENTRY_ERROR);
  OK (store_segment_ref (st, cid, 16, 0, &rc));
  ck_assert_uint_eq (rc, 3);                  /* v, v@s, c */
  ck_assert_int_eq (listed_clone_of (st, clid), sid);
  ck_assert_int_eq (listed_clone_of (st, vid), 0);
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);

  /* Refused: a duplicate name, a vdisk that is not a snapshot, a bad
   * name, sharing into a map that has rows. */
  FAILS (store_clone_create (st, sid, "c", &dup), EEXIST);
  FAILS (store_clone_create (st, vid, "d", &dup), ENOENT);
  FAILS (store_clone_create (st, sid, "a@b", &dup), EINVAL);
  FAILS (store_map_share (st, sid, clid), EBUSY);
  FAILS (store_vdisk_set_clone_of (st, 999, 0), ENOENT);

  /* Shared rows, in segment order. */
  ck_assert_int_eq (store_map_next_shared (st, clid, 0, &seg), 1);
  ck_assert_uint_eq (seg, 0);
  ck_assert_int_eq (store_map_next_shared (st, clid, 1, &seg), 1);
  ck_assert_uint_eq (seg, 2);
  ck_assert_int_eq (store_map_next_shared (st, clid, 3, &seg), 0);
  OK (store_map_count_shared (st, clid, &n));
  ck_assert_uint_eq (n, 2);

  /* Deleting the snapshot unlinks the clone, whose rows stay. */
  OK (store_vdisk_mark_deleting (st, sid));
  ck_assert_int_eq (listed_clone_of (st, clid), 0);
  OK (store_map_count (st, clid, &n));
  ck_assert_uint_eq (n, 3);
  store_close (st);
}
END_TEST

START_TEST (test_map_share_into_empty)
{
  uint32_t cid, vid, sid, clid, other, rc = 0;
  struct store *st = open_with_clone (&cid, &vid, &sid, &clid);
  sm_entry e;

  OK (store_vdisk_create (st, "o", 16 * MiB, 20, cid, &other));
  OK (store_map_share (st, sid, other));
  OK (store_map_get (st, other, 2, 1, &e));
  ck_assert_uint_eq (e, entry_make (cid, 32, ENTRY_VALID | ENTRY_NOWRITE));
  OK (store_segment_ref (st, cid, 32, 0, &rc));
  ck_assert_uint_eq (rc, 4);                  /* v, v@s, c, o */
  ck_assert_int_eq (store_check (st, NULL, NULL), 0);
  store_close (st);
}
END_TEST

/* How many jobs are listed that are neither running nor paused. */
static size_t
finished_jobs (struct store *st)
{
  struct sm_job *list;
  size_t n, k = 0;

  OK (store_job_list (st, false, &list, &n));
  for (size_t i = 0; i < n; i++)
    k += list[i].state != SM_JOB_RUNNING && list[i].state != SM_JOB_PAUSED;
  sm_job_free (list, n);
  return k;
}

START_TEST (test_jobs)
{
  uint32_t cid, vid;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct sm_job j = { .kind = SM_JOB_FLATTEN, .vdisk = vid,
                      .name = (char *) "v", .total = 7 }, got, *list;
  size_t n;

  ck_assert_str_eq (sm_job_kind_to_string (SM_JOB_FLATTEN), "flatten");
  ck_assert_str_eq (sm_job_state_to_string (SM_JOB_CANCELLED), "cancelled");
  OK (store_job_add (st, &j));
  ck_assert_uint_eq (j.id, 1);
  ck_assert_int_eq (j.state, SM_JOB_RUNNING);
  j.state = SM_JOB_PAUSED;
  j.done = 3;
  j.cursor = 5;
  OK (store_job_update (st, &j));
  OK (store_job_get (st, 1, &got));
  ck_assert_int_eq (got.state, SM_JOB_PAUSED);
  ck_assert_uint_eq (got.done, 3);
  ck_assert_uint_eq (got.total, 7);
  ck_assert_uint_eq (got.cursor, 5);
  ck_assert_str_eq (got.name, "v");
  ck_assert_ptr_null (got.error);
  sm_job_clear (&got);
  OK (store_job_list (st, true, &list, &n));
  ck_assert_uint_eq (n, 1);
  sm_job_free (list, n);

  /* An error only with the failed state; failed jobs are not active. */
  j.error = (char *) "broken";
  ck_assert_int_eq (store_job_update (st, &j), -1);
  j.state = SM_JOB_FAILED;
  OK (store_job_update (st, &j));
  OK (store_job_get (st, 1, &got));
  ck_assert_str_eq (got.error, "broken");
  sm_job_clear (&got);
  OK (store_job_list (st, true, &list, &n));
  ck_assert_uint_eq (n, 0);
  free (list);
  OK (store_job_list (st, false, &list, &n));
  ck_assert_uint_eq (n, 1);
  sm_job_free (list, n);
  FAILS (store_job_get (st, 99, &got), ENOENT);

  /* Finished jobs are forgotten when a job is added: beyond the 100
   * latest, or a week after they ended. */
  j.error = NULL;
  for (int i = 0; i < 105; i++) {
    OK (store_job_add (st, &j));
    j.state = SM_JOB_DONE;
    OK (store_job_update (st, &j));
  }
  OK (store_job_add (st, &j));          /* running */
  ck_assert_uint_eq (finished_jobs (st), 100);
  raw_sql ("UPDATE job SET updated = 0 WHERE id = 106");
  OK (store_job_add (st, &j));
  ck_assert_uint_eq (finished_jobs (st), 99);
  OK (store_job_get (st, 107, &got));   /* running jobs stay */
  sm_job_clear (&got);
  FAILS (store_job_get (st, 106, &got), ENOENT);

  /* A kind this binary does not know is refused, not guessed. */
  raw_sql ("UPDATE job SET kind = 'bogus'");
  FAILS (store_job_get (st, 107, &got), EINVAL);
  store_close (st);
}
END_TEST

/* A vdisk's pool: the first container is its container_id, the others
 * come back in order, with the placement (sql/011). */
START_TEST (test_vdisk_pool)
{
  uint32_t cid, vid, c2, c3;
  struct store *st = open_with_vdisk (&cid, &vid);
  uint32_t pool[3];
  struct sm_vdisk_info *v;
  size_t n;

  OK (store_container_add (st, "c2", "/c2", 64 * MiB, &c2));
  OK (store_container_add (st, "c3", "/c3", 64 * MiB, &c3));
  pool[0] = c3, pool[1] = cid, pool[2] = c2;
  OK (store_vdisk_set_pool (st, vid, SM_PLACE_SPREAD, pool, 3));
  OK (store_vdisk_list (st, &v, &n));
  ck_assert_uint_eq (n, 1);
  ck_assert_uint_eq (v[0].container_id, c3);
  ck_assert_uint_eq (v[0].n_pool, 3);
  ck_assert_uint_eq (v[0].pool[1], cid);
  ck_assert_uint_eq (v[0].pool[2], c2);
  ck_assert_int_eq (v[0].placement, SM_PLACE_SPREAD);
  sm_vdisk_info_free (v, n);
  FAILS (store_container_remove (st, c2), EBUSY);    /* in a pool */
  OK (store_vdisk_set_pool (st, vid, SM_PLACE_FILL, pool, 1));
  OK (store_vdisk_list (st, &v, &n));
  ck_assert_uint_eq (v[0].n_pool, 1);
  ck_assert_int_eq (v[0].placement, SM_PLACE_FILL);
  sm_vdisk_info_free (v, n);
  OK (store_container_remove (st, c2));
  pool[1] = pool[0];
  ck_assert_int_eq (store_vdisk_set_pool (st, vid, SM_PLACE_FILL, pool, 2),
                    -1);        /* twice */
  FAILS (store_vdisk_set_pool (st, 999, SM_PLACE_FILL, pool, 1), ENOENT);
  store_close (st);
}
END_TEST

/* An evacuation works on a container: no vdisk (sql/010). */
START_TEST (test_job_of_container)
{
  uint32_t cid, vid;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct sm_job j = { .kind = SM_JOB_EVACUATE, .container = cid,
                      .name = (char *) "c", .total = 3 }, got;

  OK (store_job_add (st, &j));
  OK (store_job_get (st, j.id, &got));
  ck_assert_int_eq (got.kind, SM_JOB_EVACUATE);
  ck_assert_uint_eq (got.container, cid);
  ck_assert_uint_eq (got.vdisk, 0);
  ck_assert_str_eq (got.name, "c");
  sm_job_clear (&got);
  /* One of the two, never both or neither. */
  j.vdisk = vid;
  ck_assert_int_eq (store_job_add (st, &j), -1);
  j.vdisk = j.container = 0;
  ck_assert_int_eq (store_job_add (st, &j), -1);
  store_close (st);
}
END_TEST

/* The walk of an evacuation: a container's segments in unit order, and
 * the map rows of each, with or without the location index. */
START_TEST (test_segments_by_location)
{
  uint32_t cid, vid, vid2, units, refs;
  struct store *st = open_with_vdisk (&cid, &vid);
  struct sm_map_ref *rows;
  uint64_t unit;
  size_t n;

  OK (store_vdisk_create (st, "w", 1024 * MiB, 20, cid, &vid2));
  OK (store_segment_insert (st, cid, 32, 16));
  OK (store_segment_insert (st, cid, 16, 16));
  OK (store_map_set (st, vid, 4, MAPPED (cid, 16)));
  OK (store_map_set (st, vid, 9, entry_make (cid, 32, ENTRY_VALID
                                             | ENTRY_NOWRITE)));
  OK (store_map_set (st, vid2, 1, entry_make (cid, 32, ENTRY_VALID
                                              | ENTRY_NOWRITE)));
  OK (store_segment_ref (st, cid, 32, 1, NULL));
  ck_assert_int_eq (store_segment_next (st, cid, 0, &unit, &units, &refs), 1);
  ck_assert_uint_eq (unit, 16);
  ck_assert_uint_eq (units, 16);
  ck_assert_uint_eq (refs, 1);
  ck_assert_int_eq (store_segment_next (st, cid, 17, &unit, &units, &refs),
                    1);
  ck_assert_uint_eq (unit, 32);
  ck_assert_uint_eq (refs, 2);
  ck_assert_int_eq (store_segment_next (st, cid, 48, &unit, &units, &refs),
                    0);
  for (int indexed = 0; indexed < 2; indexed++) {
    OK (store_evacuate_index (st, indexed));
    OK (store_map_at (st, cid, 32, &rows, &n));
    ck_assert_uint_eq (n, 2);
    ck_assert_uint_eq (rows[0].vdisk, vid);
    ck_assert_uint_eq (rows[0].vseg, 9);
    ck_assert_uint_eq (rows[0].e, entry_make (cid, 32, ENTRY_VALID
                                              | ENTRY_NOWRITE));
    ck_assert_uint_eq (rows[1].vdisk, vid2);
    ck_assert_uint_eq (rows[1].vseg, 1);
    free (rows);
    OK (store_map_at (st, cid, 48, &rows, &n));
    ck_assert_uint_eq (n, 0);
    free (rows);
  }
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM sqlite_master"
                             " WHERE name = 'map_location'"), 1);
  OK (store_evacuate_index (st, false));
  ck_assert_int_eq (raw_int ("SELECT count (*) FROM sqlite_master"
                             " WHERE name = 'map_location'"), 0);
  store_close (st);
}
END_TEST

static Suite *
store_suite (void)
{
  Suite *s = suite_create ("store");
  TCase *tc = tcase_create ("store");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_create_reopen);
  tcase_add_test (tc, test_meta);
  tcase_add_test (tc, test_commit_injected);
  tcase_add_test (tc, test_migrations);
  tcase_add_test (tc, test_migrations_must_be_contiguous);
  tcase_add_test (tc, test_migration_breaking_foreign_key);
  tcase_add_test (tc, test_migrate_map_to_v3);
  tcase_add_test (tc, test_migrate_from_zero);
  tcase_add_test (tc, test_too_new);
  tcase_add_test (tc, test_not_a_database);
  tcase_add_test (tc, test_cannot_open);
  tcase_add_test (tc, test_damaged_database);
  tcase_add_test (tc, test_containers);
  tcase_add_test (tc, test_container_ids_exhausted);
  tcase_add_test (tc, test_vdisks);
  tcase_add_test (tc, test_map_get_set);
  tcase_add_test (tc, test_map_foreach);
  tcase_add_test (tc, test_map_foreach_calls_store);
  tcase_add_test (tc, test_counts_and_deleting);
  tcase_add_test (tc, test_segments);
  tcase_add_test (tc, test_allocate);
  tcase_add_test (tc, test_transactions);
  tcase_add_test (tc, test_check_healthy);
  tcase_add_loop_test (tc, test_check_finds_corruption, 0,
                       sizeof corruptions / sizeof corruptions[0]);
  tcase_add_test (tc, test_map_get_refuses_corrupt_row);
  tcase_add_test (tc, test_cbt_chain);
  tcase_add_test (tc, test_cbt_reroot);
  tcase_add_test (tc, test_clone_create);
  tcase_add_test (tc, test_map_share_into_empty);
  tcase_add_test (tc, test_jobs);
  tcase_add_test (tc, test_job_of_container);
  tcase_add_test (tc, test_vdisk_pool);
  tcase_add_test (tc, test_segments_by_location);
  tcase_add_test (tc, test_hosts);
  tcase_add_test (tc, test_pr_blobs);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (store_suite ());
}
