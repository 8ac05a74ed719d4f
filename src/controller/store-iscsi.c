/* segmap: the store's iSCSI rows -- access lists and persistent
 * reservations (schema: sql/002-iscsi.sql).
 *
 * A host is written whole: store_host_put replaces the row of that name
 * and its list of vdisks in one savepoint, so a reader never sees a host
 * with half of its new list.  An initiator name belongs to at most one
 * host (the UNIQUE constraint, compared without case as iSCSI names
 * are); putting a host whose initiator another host has fails with
 * EEXIST naming that host.
 *
 * A persistent-reservation blob is opaque here (the SCSI layer versions
 * and checks it); each vdisk has at most one, dropped with the vdisk by
 * the foreign key.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/errors.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_iscsi_stmts[] = {
  { STMT_HOST_LIST,
    "SELECT name, initiator, chap_user, chap_secret_file FROM iscsi_host"
    " ORDER BY name" },
  { STMT_HOST_VDISKS,
    "SELECT vdisk FROM iscsi_host_vdisk WHERE host = ?1 ORDER BY vdisk" },
  { STMT_HOST_UPSERT,
    "INSERT INTO iscsi_host (name, initiator, chap_user, chap_secret_file)"
    " VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (name) DO UPDATE SET initiator = excluded.initiator,"
    " chap_user = excluded.chap_user,"
    " chap_secret_file = excluded.chap_secret_file" },
  { STMT_HOST_DELETE, "DELETE FROM iscsi_host WHERE name = ?1" },
  { STMT_HOST_CLEAR_VDISKS, "DELETE FROM iscsi_host_vdisk WHERE host = ?1" },
  { STMT_HOST_ADD_VDISK,
    "INSERT OR IGNORE INTO iscsi_host_vdisk (host, vdisk) VALUES (?1, ?2)" },
  { STMT_HOST_BY_INITIATOR,
    "SELECT name FROM iscsi_host WHERE initiator = ?1 AND name != ?2" },
  { STMT_PR_GET, "SELECT state FROM scsi_pr WHERE vdisk_id = ?1" },
  { STMT_PR_SET,
    "INSERT INTO scsi_pr (vdisk_id, state) VALUES (?1, ?2)"
    " ON CONFLICT (vdisk_id) DO UPDATE SET state = excluded.state" },
  { STMT_COUNT, NULL }
};

/*----------------------------------------------------------------------
 * Hosts
 */

static void
host_info_clear (struct sm_host_info *h)
{
  free (h->name);
  free (h->initiator);
  free (h->chap_user);
  free (h->chap_secret_file);
  for (size_t i = 0; i < h->n_vdisks; i++)
    free (h->vdisks[i]);
  free (h->vdisks);
  memset (h, 0, sizeof *h);
}

void
sm_host_info_free (struct sm_host_info *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    host_info_clear (&v[i]);
  free (v);
}

/* A copy of nullable text column COL into *OUT (NULL stays NULL). */
static int
column_strdup_or_null (sqlite3_stmt *s, int col, char **out)
{
  *out = NULL;
  if (sqlite3_column_type (s, col) == SQLITE_NULL)
    return 0;
  return store_column_strdup (s, col, out);
}

static int
host_vdisks (struct store *st, struct sm_host_info *h)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_VDISKS];
  size_t cap = 0;
  int r;

  sqlite3_bind_text (s, 1, h->name, -1, SQLITE_STATIC);
  while ((r = stmt_row (st, s, "listing the vdisks of host '%s'",
                        h->name)) == 1) {
    if (store_grow ((void **) &h->vdisks, &cap, h->n_vdisks,
                    sizeof *h->vdisks) == -1
        || store_column_strdup (s, 0, &h->vdisks[h->n_vdisks]) == -1)
      return -1;
    h->n_vdisks++;
  }
  return r;
}

static int
host_row (sqlite3_stmt *s, struct sm_host_info *h)
{
  memset (h, 0, sizeof *h);
  if (store_column_strdup (s, 0, &h->name) == -1
      || store_column_strdup (s, 1, &h->initiator) == -1
      || column_strdup_or_null (s, 2, &h->chap_user) == -1
      || column_strdup_or_null (s, 3, &h->chap_secret_file) == -1)
    return -1;
  return 0;
}

int
store_host_list (struct store *st, struct sm_host_info **out, size_t *n)
{
  struct sm_host_info *v = NULL;
  size_t len = 0, cap = 0;
  int r;

  {
    sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_LIST];

    while ((r = stmt_row (st, s, "listing iSCSI hosts")) == 1) {
      if (store_grow ((void **) &v, &cap, len, sizeof *v) == -1) {
        r = -1;
        break;
      }
      if (host_row (s, &v[len]) == -1) {
        host_info_clear (&v[len]);
        r = -1;
        break;
      }
      len++;
    }
  }
  for (size_t i = 0; r == 0 && i < len; i++)
    r = host_vdisks (st, &v[i]);
  if (r != 0) {
    sm_host_info_free (v, len);
    return -1;
  }
  *out = v;
  *n = len;
  return 0;
}

/* Fail with EEXIST if another host than H has H's initiator. */
static int
check_initiator_free (struct store *st, const struct sm_host_info *h)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_BY_INITIATOR];
  int r;

  sqlite3_bind_text (s, 1, h->initiator, -1, SQLITE_STATIC);
  sqlite3_bind_text (s, 2, h->name, -1, SQLITE_STATIC);
  r = stmt_row (st, s, "looking up initiator %s", h->initiator);
  if (r == 1)
    return store_fail (EEXIST, "initiator %s already belongs to host '%s'",
                       h->initiator, (const char *) sqlite3_column_text (s, 0));
  return r;
}

static void
bind_text_or_null (sqlite3_stmt *s, int i, const char *v)
{
  if (v)
    sqlite3_bind_text (s, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (s, i);
}

static int
host_put_rows (struct store *st, const struct sm_host_info *h)
{
  if (check_initiator_free (st, h) == -1)
    return -1;
  {
    sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_UPSERT];

    sqlite3_bind_text (s, 1, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_text (s, 2, h->initiator, -1, SQLITE_STATIC);
    bind_text_or_null (s, 3, h->chap_user);
    bind_text_or_null (s, 4, h->chap_secret_file);
    if (stmt_run (st, s, "storing host '%s'", h->name) == -1)
      return -1;
  }
  {
    sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_CLEAR_VDISKS];

    sqlite3_bind_text (s, 1, h->name, -1, SQLITE_STATIC);
    if (stmt_run (st, s, "clearing the vdisks of host '%s'", h->name) == -1)
      return -1;
  }
  for (size_t i = 0; i < h->n_vdisks; i++) {
    sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_ADD_VDISK];

    sqlite3_bind_text (s, 1, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_text (s, 2, h->vdisks[i], -1, SQLITE_STATIC);
    if (stmt_run (st, s, "allowing host '%s' vdisk '%s'",
                  h->name, h->vdisks[i]) == -1)
      return -1;
  }
  return 0;
}

int
store_host_put (struct store *st, const struct sm_host_info *h)
{
  int r;

  if (store_savepoint (st) == -1)
    return -1;
  r = host_put_rows (st, h);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}

int
store_host_delete (struct store *st, const char *name)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_HOST_DELETE];

  sqlite3_bind_text (s, 1, name, -1, SQLITE_STATIC);
  if (stmt_run (st, s, "deleting host '%s'", name) == -1)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return store_fail (ENOENT, "host '%s' does not exist", name);
  return 0;
}

/*----------------------------------------------------------------------
 * Persistent reservations
 */

int
store_pr_get (struct store *st, uint32_t vdisk, void **blob, size_t *len)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_PR_GET];
  const void *p;
  int r;

  *blob = NULL;
  *len = 0;
  sqlite3_bind_int64 (s, 1, vdisk);
  r = stmt_row (st, s, "reading the reservations of vdisk %" PRIu32, vdisk);
  if (r <= 0)
    return r;
  p = sqlite3_column_blob (s, 0);
  *len = sqlite3_column_bytes (s, 0);
  *blob = malloc (*len ? *len : 1);
  if (*blob == NULL)
    return store_fail (errno, "malloc: %m");
  memcpy (*blob, p, *len);
  return 0;
}

int
store_pr_set (struct store *st, uint32_t vdisk, const void *blob, size_t len)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_PR_SET];

  if (len == 0 || len > SM_PR_BLOB_MAX)
    return store_fail (EINVAL, "reservation state of %zu bytes (1 to %d)",
                       len, SM_PR_BLOB_MAX);
  sqlite3_bind_int64 (s, 1, vdisk);
  sqlite3_bind_blob (s, 2, blob, len, SQLITE_STATIC);
  return stmt_run (st, s, "saving the reservations of vdisk %" PRIu32, vdisk);
}
