/* segmap: the store's changed-block tracking (sql/008-cbt.sql).
 *
 * Marks are bitmaps of 4 KiB blocks per (owner, virtual segment), the
 * owner being a vdisk (its live marks: blocks changed since its base
 * snapshot) or a snapshot (its delta: blocks changed between its base
 * and it).  They are only ever OR-ed into, moved whole from a vdisk to
 * a new snapshot (store_cbt_on_snapshot), merged into the children of
 * a snapshot that goes (store_cbt_unlink: a root that goes hands the
 * root over to its oldest snapshot child, so its children keep a common
 * history), and read for a diff.
 *
 * Bitmaps of one owner all have the owner's segment size / 4096 / 8
 * bytes; a row shorter than asked for reads as padded with zeros, so a
 * mismatch can never mark a block that was not marked.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "controller/store.h"
#include "controller/store-internal.h"

const struct stmt_def store_cbt_stmts[] = {
  { STMT_CBT_GET,
    "SELECT blocks FROM cbt_mark WHERE owner_id = ?1 AND vseg = ?2" },
  { STMT_CBT_PUT,
    "INSERT INTO cbt_mark (owner_id, vseg, blocks) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (owner_id, vseg) DO UPDATE SET blocks = excluded.blocks" },
  { STMT_CBT_FOREACH,
    "SELECT vseg, blocks FROM cbt_mark WHERE owner_id = ?1 ORDER BY vseg" },
  { STMT_CBT_MOVE,
    "UPDATE cbt_mark SET owner_id = ?2 WHERE owner_id = ?1" },
  { STMT_CBT_DELETE_OWNER,
    "DELETE FROM cbt_mark WHERE owner_id = ?1" },
  { STMT_CBT_SET_BASE,
    "UPDATE vdisk SET base_id = ?2 WHERE id = ?1" },
  { STMT_CBT_REBASE,
    "UPDATE vdisk SET base_id = ?2 WHERE base_id = ?1" },
  { STMT_CBT_BASE_OF,
    "SELECT base_id FROM vdisk WHERE id = ?1" },
  { STMT_CBT_CHILDREN,         /* snapshots first */
    "SELECT id, kind = 'snapshot' FROM vdisk WHERE base_id = ?1"
    " ORDER BY kind <> 'snapshot', id" },
  { STMT_COUNT, NULL }
};

int
store_cbt_get (struct store *st, uint32_t owner, uint64_t vseg,
               uint8_t *blocks, uint32_t n_bytes)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CBT_GET];
  int r;

  memset (blocks, 0, n_bytes);
  sqlite3_bind_int64 (s, 1, owner);
  sqlite3_bind_int64 (s, 2, vseg);
  r = stmt_row (st, s, "reading the marks of %" PRIu32 " segment %" PRIu64,
                owner, vseg);
  if (r == 1) {
    uint32_t len = sqlite3_column_bytes (s, 0);
    memcpy (blocks, sqlite3_column_blob (s, 0),
            len < n_bytes ? len : n_bytes);
  }
  return r;
}

static int
put (struct store *st, uint32_t owner, uint64_t vseg, const uint8_t *blocks,
     uint32_t n_bytes)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CBT_PUT];

  sqlite3_bind_int64 (s, 1, owner);
  sqlite3_bind_int64 (s, 2, vseg);
  sqlite3_bind_blob (s, 3, blocks, n_bytes, SQLITE_STATIC);
  return stmt_run (st, s, "recording the marks of %" PRIu32 " segment %"
                   PRIu64, owner, vseg);
}

int
store_cbt_mark (struct store *st, uint32_t owner, uint64_t vseg,
                const uint8_t *blocks, uint32_t n_bytes, bool *added)
{
  CLEANUP_FREE uint8_t *have = malloc (n_bytes);
  bool more = false;

  if (have == NULL)
    return store_fail (errno, "malloc: %m");
  if (store_cbt_get (st, owner, vseg, have, n_bytes) == -1)
    return -1;
  for (uint32_t i = 0; i < n_bytes; i++) {
    more |= (blocks[i] & ~have[i]) != 0;
    have[i] |= blocks[i];
  }
  if (added)
    *added = more;
  return more ? put (st, owner, vseg, have, n_bytes) : 0;
}

int
store_cbt_foreach (struct store *st, uint32_t owner,
                   int (*fn) (void *opaque, uint64_t vseg,
                              const uint8_t *blocks, uint32_t n_bytes),
                   void *opaque)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CBT_FOREACH];
  int r;

  sqlite3_bind_int64 (s, 1, owner);
  while ((r = stmt_row (st, s, "listing the marks of %" PRIu32, owner)) == 1)
    if (fn (opaque, sqlite3_column_int64 (s, 0), sqlite3_column_blob (s, 1),
            sqlite3_column_bytes (s, 1)) == -1)
      return -1;
  return r;
}

/* Run the two-id statement ID on (A, B). */
static int
run2 (struct store *st, enum stmt_id id, uint32_t a, uint32_t b,
      const char *what)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[id];

  sqlite3_bind_int64 (s, 1, a);
  if (b)
    sqlite3_bind_int64 (s, 2, b);
  else
    sqlite3_bind_null (s, 2);
  return stmt_run (st, s, "%s (%" PRIu32 ", %" PRIu32 ")", what, a, b);
}

int
store_cbt_base (struct store *st, uint32_t id, uint32_t *base)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CBT_BASE_OF];
  int r;

  sqlite3_bind_int64 (s, 1, id);
  r = stmt_row (st, s, "reading the base of %" PRIu32, id);
  if (r == 0)
    return store_fail (ENOENT, "vdisk %" PRIu32 " does not exist", id);
  if (r == 1)
    *base = sqlite3_column_int64 (s, 0);        /* NULL -> 0 */
  return r == 1 ? 0 : -1;
}

int
store_cbt_on_snapshot (struct store *st, uint32_t origin, uint32_t snap)
{
  uint32_t base;

  if (store_cbt_base (st, origin, &base) == -1
      || run2 (st, STMT_CBT_SET_BASE, snap, base, "setting a base") == -1
      || run2 (st, STMT_CBT_SET_BASE, origin, snap, "setting a base") == -1
      || run2 (st, STMT_CBT_MOVE, origin, snap, "freezing marks") == -1)
    return -1;
  return 0;
}

int
store_cbt_reset (struct store *st, uint32_t id, uint32_t base)
{
  if (run2 (st, STMT_CBT_DELETE_OWNER, id, 0, "dropping marks") == -1
      || run2 (st, STMT_CBT_SET_BASE, id, base, "setting a base") == -1)
    return -1;
  return 0;
}

/* OR every mark of FROM into TO. */
struct merge { struct store *st; uint32_t to; };

static int
merge_row (void *opaque, uint64_t vseg, const uint8_t *blocks,
           uint32_t n_bytes)
{
  struct merge *m = opaque;

  return store_cbt_mark (m->st, m->to, vseg, blocks, n_bytes, NULL);
}

/* The ids of ID's children (base_id = ID) into *OUT (caller frees),
 * its snapshots first; *FIRST_IS_SNAPSHOT says whether there is one. */
static int
children (struct store *st, uint32_t id, uint32_t **out, size_t *n,
          bool *first_is_snapshot)
{
  sqlite3_stmt *s CLEANUP_RESET = st->stmt[STMT_CBT_CHILDREN];
  size_t cap = 0;
  int r;

  *out = NULL;
  *n = 0;
  *first_is_snapshot = false;
  sqlite3_bind_int64 (s, 1, id);
  while ((r = stmt_row (st, s, "listing the children of %" PRIu32, id)) == 1) {
    if (store_grow ((void **) out, &cap, *n, sizeof **out) == -1)
      return -1;
    if (*n == 0)
      *first_is_snapshot = sqlite3_column_int (s, 1);
    (*out)[(*n)++] = sqlite3_column_int64 (s, 0);
  }
  return r;
}

/* ID, a root of the base tree, goes and leaves several children: its
 * first snapshot child KIDS[0] becomes the root, and every other child
 * is based on it, with the marks of the path between them (its own and
 * KIDS[0]'s).  Without that, the children would become roots with no
 * common history, and no diff between them could be made. */
static int
reroot (struct store *st, const uint32_t *kids, size_t n)
{
  for (size_t i = 1; i < n; i++) {
    struct merge m = { st, kids[i] };
    if (store_cbt_foreach (st, kids[0], merge_row, &m) == -1
        || run2 (st, STMT_CBT_SET_BASE, kids[i], kids[0],
                 "setting a base") == -1)
      return -1;
  }
  if (run2 (st, STMT_CBT_DELETE_OWNER, kids[0], 0, "dropping marks") == -1
      || run2 (st, STMT_CBT_SET_BASE, kids[0], 0, "clearing a base") == -1)
    return -1;
  return 0;
}

/* Inside a savepoint: see store_cbt_unlink. */
static int
unlink_rows (struct store *st, uint32_t id)
{
  CLEANUP_FREE uint32_t *kids = NULL;
  size_t n;
  uint32_t base;
  bool snapshot_child;

  if (store_cbt_base (st, id, &base) == -1
      || children (st, id, &kids, &n, &snapshot_child) == -1)
    return -1;
  if (base == 0 && n > 1 && snapshot_child) {
    if (reroot (st, kids, n) == -1)
      return -1;
    return run2 (st, STMT_CBT_DELETE_OWNER, id, 0, "dropping marks");
  }
  for (size_t i = 0; i < n; i++) {
    struct merge m = { st, kids[i] };
    int r = base
      ? store_cbt_foreach (st, id, merge_row, &m)
      : run2 (st, STMT_CBT_DELETE_OWNER, kids[i], 0, "dropping marks");
    if (r == -1)
      return -1;
  }
  if (run2 (st, STMT_CBT_REBASE, id, base, "rebasing") == -1
      || run2 (st, STMT_CBT_DELETE_OWNER, id, 0, "dropping marks") == -1
      || run2 (st, STMT_CBT_SET_BASE, id, 0, "clearing a base") == -1)
    return -1;
  return 0;
}

int
store_cbt_unlink (struct store *st, uint32_t id)
{
  int r;

  if (store_savepoint (st) == -1)
    return -1;
  r = unlink_rows (st, id);
  if (store_savepoint_end (st, r == 0) == -1)
    return -1;
  return r;
}
