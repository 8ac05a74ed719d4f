/* segmap: the store's background jobs (sql/007-clone.sql).
 *
 * A job row is the durable state of a long operation the controller
 * runs between requests (jobs.c): its kind, the vdisk it works on (or,
 * for an evacuation, the container: sql/010), its state, its progress (done/total units of work) and the cursor where
 * it carries on.  Rows are written when a job is created and updated
 * in the controller's open transaction as it progresses, so a restart
 * resumes from the last commit; finished jobs stay listed.
 *
 * Kinds and states are stored as text (what `job list --json' shows);
 * a row whose text this binary does not know is refused when read
 * (EINVAL), never guessed at.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "controller/store.h"
#include "controller/store-internal.h"

/* Finished jobs (done, cancelled, failed) stay listed for a week, the
 * JOBS_KEPT latest at most; older ones go when a job is added. */
#define JOBS_KEPT     100
#define JOBS_KEPT_FOR (7 * 24 * 3600)

#define JOB_COLUMNS \
  "id, kind, vdisk_id, vdisk, state, done, total, cursor, created," \
  " updated, error, rate, container_id"

const struct stmt_def store_job_stmts[] = {
  { STMT_JOB_INSERT,
    "INSERT INTO job (kind, vdisk_id, vdisk, state, done, total, cursor,"
    "                 created, updated, rate, container_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)" },
  { STMT_JOB_UPDATE,
    "UPDATE job SET state = ?2, done = ?3, total = ?4, cursor = ?5,"
    "               updated = ?6, error = ?7 WHERE id = ?1" },
  { STMT_JOB_GET, "SELECT " JOB_COLUMNS " FROM job WHERE id = ?1" },
  { STMT_JOB_LIST_ALL, "SELECT " JOB_COLUMNS " FROM job ORDER BY id" },
  { STMT_JOB_LIST_ACTIVE,
    "SELECT " JOB_COLUMNS " FROM job"
    " WHERE state IN ('running', 'paused') ORDER BY id" },
  { STMT_JOB_PURGE,
    "DELETE FROM job WHERE state NOT IN ('running', 'paused')"
    " AND (updated < ?1 OR id NOT IN (SELECT id FROM job"
    "      WHERE state NOT IN ('running', 'paused')"
    "      ORDER BY id DESC LIMIT ?2))" },
  { STMT_COUNT, NULL }
};

static const char *const kind_names[] = {
  [SM_JOB_FLATTEN] = "flatten",
  [SM_JOB_MIGRATE] = "migrate",
  [SM_JOB_EVACUATE] = "evacuate",
};

static const char *const state_names[] = {
  [SM_JOB_RUNNING] = "running",
  [SM_JOB_PAUSED] = "paused",
  [SM_JOB_DONE] = "done",
  [SM_JOB_CANCELLED] = "cancelled",
  [SM_JOB_FAILED] = "failed",
};

const char *
sm_job_kind_to_string (enum sm_job_kind k)
{
  return (unsigned) k < sizeof kind_names / sizeof kind_names[0]
    ? kind_names[k] : "unknown";
}

const char *
sm_job_state_to_string (enum sm_job_state s)
{
  return (unsigned) s < sizeof state_names / sizeof state_names[0]
    ? state_names[s] : "unknown";
}

/* The index of TEXT in NAMES[0..N-1], or -1. */
static int
lookup (const char *const *names, size_t n, const unsigned char *text)
{
  for (size_t i = 0; text && i < n; i++)
    if (strcmp (names[i], (const char *) text) == 0)
      return i;
  return -1;
}

/* Forget the finished jobs that are too old or too many. */
static int
purge_finished (struct store *st, int64_t now)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_JOB_PURGE];

  sqlite3_bind_int64 (s, 1, now - JOBS_KEPT_FOR);
  sqlite3_bind_int64 (s, 2, JOBS_KEPT);
  return stmt_run (st, s, "forgetting finished jobs");
}

int
store_job_add (struct store *st, struct sm_job *j)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_JOB_INSERT];
  int64_t now = time (NULL);

  if (purge_finished (st, now) == -1)
    return -1;

  sqlite3_bind_text (s, 1, sm_job_kind_to_string (j->kind), -1,
                     SQLITE_STATIC);
  if (j->vdisk)
    sqlite3_bind_int64 (s, 2, j->vdisk);
  else
    sqlite3_bind_null (s, 2);
  sqlite3_bind_text (s, 3, j->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (s, 4, sm_job_state_to_string (SM_JOB_RUNNING), -1,
                     SQLITE_STATIC);
  sqlite3_bind_int64 (s, 5, j->done);
  sqlite3_bind_int64 (s, 6, j->total);
  sqlite3_bind_int64 (s, 7, j->cursor);
  sqlite3_bind_int64 (s, 8, now);
  sqlite3_bind_int64 (s, 9, j->rate);
  if (j->container)
    sqlite3_bind_int64 (s, 10, j->container);
  else
    sqlite3_bind_null (s, 10);
  if (stmt_run (st, s, "creating a %s job for vdisk '%s'",
                sm_job_kind_to_string (j->kind), j->name) == -1)
    return -1;
  j->id = sqlite3_last_insert_rowid (st->db);
  j->state = SM_JOB_RUNNING;
  j->created = j->updated = now;
  return 0;
}

int
store_job_update (struct store *st, struct sm_job *j)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_JOB_UPDATE];
  int64_t now = time (NULL);

  sqlite3_bind_int64 (s, 1, j->id);
  sqlite3_bind_text (s, 2, sm_job_state_to_string (j->state), -1,
                     SQLITE_STATIC);
  sqlite3_bind_int64 (s, 3, j->done);
  sqlite3_bind_int64 (s, 4, j->total);
  sqlite3_bind_int64 (s, 5, j->cursor);
  sqlite3_bind_int64 (s, 6, now);
  if (j->error)
    sqlite3_bind_text (s, 7, j->error, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (s, 7);
  if (stmt_run (st, s, "updating job %" PRIu64, j->id) == -1)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return store_fail (ENOENT, "job %" PRIu64 " does not exist", j->id);
  j->updated = now;
  return 0;
}

void
sm_job_clear (struct sm_job *j)
{
  free (j->name);
  free (j->error);
  memset (j, 0, sizeof *j);
}

void
sm_job_free (struct sm_job *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sm_job_clear (&v[i]);
  free (v);
}

/* The job of the current row of S into J. */
static int
job_row (struct store *st, sqlite3_stmt *s, struct sm_job *j)
{
  int kind = lookup (kind_names, sizeof kind_names / sizeof kind_names[0],
                     sqlite3_column_text (s, 1));
  int state = lookup (state_names,
                      sizeof state_names / sizeof state_names[0],
                      sqlite3_column_text (s, 4));

  memset (j, 0, sizeof *j);
  j->id = sqlite3_column_int64 (s, 0);
  if (kind < 0 || state < 0)
    return store_fail (EINVAL, "%s: job %" PRIu64 " has an unknown kind or "
                       "state", store_path (st), j->id);
  j->kind = kind;
  j->state = state;
  j->vdisk = sqlite3_column_int64 (s, 2);
  j->done = sqlite3_column_int64 (s, 5);
  j->total = sqlite3_column_int64 (s, 6);
  j->cursor = sqlite3_column_int64 (s, 7);
  j->created = sqlite3_column_int64 (s, 8);
  j->updated = sqlite3_column_int64 (s, 9);
  j->rate = sqlite3_column_int64 (s, 11);
  j->container = sqlite3_column_int64 (s, 12);   /* NULL -> 0 */
  if (store_column_strdup (s, 3, &j->name) == -1)
    return -1;
  if (sqlite3_column_type (s, 10) != SQLITE_NULL
      && store_column_strdup (s, 10, &j->error) == -1) {
    sm_job_clear (j);
    return -1;
  }
  return 0;
}

int
store_job_get (struct store *st, uint64_t id, struct sm_job *out)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_JOB_GET];
  int r;

  sqlite3_bind_int64 (s, 1, id);
  r = stmt_row (st, s, "reading job %" PRIu64, id);
  if (r == 0)
    return store_fail (ENOENT, "job %" PRIu64 " does not exist", id);
  return r == 1 ? job_row (st, s, out) : -1;
}

int
store_job_list (struct store *st, bool active, struct sm_job **out,
                size_t *n)
{
  sqlite3_stmt *s CLEANUP_RESET =
    st->stmt[active ? STMT_JOB_LIST_ACTIVE : STMT_JOB_LIST_ALL];
  struct sm_job *v = NULL;
  size_t len = 0, cap = 0;
  int r;

  while ((r = stmt_row (st, s, "listing jobs")) == 1) {
    if (store_grow ((void **) &v, &cap, len, sizeof *v) == -1
        || job_row (st, s, &v[len]) == -1) {
      r = -1;
      break;
    }
    len++;
  }
  if (r != 0) {
    sm_job_free (v, len);
    return -1;
  }
  *out = v;
  *n = len;
  return 0;
}
