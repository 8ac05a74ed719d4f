/* segmap: `vdisk diff': the blocks changed between two points of a
 * vdisk's history, from the changed-block marks alone (sql/008, cbt.c).
 *
 * Every snapshot and the live vdisk is a node of the base tree (a
 * node's base: the snapshot its content derives from).  A node's marks
 * are the blocks changed between its base and it.  The blocks that
 * differ between nodes A and B are among those changed on the path
 * A -> common ancestor <- B, so the diff is the union of the marks of
 * the nodes on that path, the ancestor excluded.  No data is read.
 *
 * A node with no base ends the walk up: two nodes whose walks never
 * meet have no common tracked history (the vdisk was not tracked when
 * one was taken), and the diff is refused.  Deleting snapshots keeps
 * the walks meeting: a snapshot's marks pass to its children, and a
 * root that goes leaves its oldest snapshot child as the root
 * (store-cbt.c).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"

#define PATH_MAX_NODES 4096     /* a chain longer than this is refused */

/* One segment's marks, united over the path. */
struct seg_marks {
  uint64_t vseg;
  uint8_t *blocks;
};
DEFINE_VECTOR_TYPE (seg_marks_vector, struct seg_marks);

struct diff {
  uint32_t n_bytes;             /* bitmap bytes per segment */
  struct seg_marks_vector segs;
};

static void
diff_free (struct diff *d)
{
  for (size_t i = 0; i < d->segs.len; i++)
    free (d->segs.ptr[i].blocks);
  free (d->segs.ptr);
}

/* The nodes from ID up its base chain (ID first) into PATH; how many,
 * or 0 if the chain is longer than PATH_MAX_NODES (a cycle: check
 * reports it). */
static size_t
ancestors (struct controller *c, uint32_t id, uint32_t *path)
{
  size_t n = 0;

  while (id != 0 && n < PATH_MAX_NODES) {
    const struct sm_vdisk_info *v = ctrl_find_vdisk (c, id);
    path[n++] = id;
    id = v ? v->base : 0;
  }
  return id == 0 ? n : 0;
}

/* Keep a copy of one row of marks (merged with its segment's others
 * after the sort). */
static int
add_marks (void *opaque, uint64_t vseg, const uint8_t *blocks,
           uint32_t n_bytes)
{
  struct diff *d = opaque;
  struct seg_marks s = { vseg, calloc (1, d->n_bytes) };

  if (s.blocks == NULL || seg_marks_vector_append (&d->segs, s) == -1) {
    free (s.blocks);
    return -1;
  }
  memcpy (s.blocks, blocks, n_bytes < d->n_bytes ? n_bytes : d->n_bytes);
  return 0;
}

static int
by_vseg (const void *a, const void *b)
{
  const struct seg_marks *x = a, *y = b;

  return x->vseg < y->vseg ? -1 : x->vseg > y->vseg;
}

/* Sort D's rows by segment and OR the rows of one segment together. */
static void
merge_segments (struct diff *d)
{
  size_t out = 0;

  if (d->segs.len == 0)
    return;                     /* (qsort must not see NULL) */
  qsort (d->segs.ptr, d->segs.len, sizeof d->segs.ptr[0], by_vseg);
  for (size_t i = 0; i < d->segs.len; i++) {
    struct seg_marks *s = &d->segs.ptr[i];
    if (out > 0 && d->segs.ptr[out - 1].vseg == s->vseg) {
      for (uint32_t k = 0; k < d->n_bytes; k++)
        d->segs.ptr[out - 1].blocks[k] |= s->blocks[k];
      free (s->blocks);
    }
    else
      d->segs.ptr[out++] = *s;
  }
  d->segs.len = out;
}

/* The marks between nodes A and B into *D.  0, or -1 with *ERROR. */
static int
compute (struct controller *c, uint32_t a, uint32_t b, unsigned seg_shift,
         struct diff *d, char **error)
{
  uint32_t *pa = calloc (PATH_MAX_NODES, sizeof *pa);
  uint32_t *pb = calloc (PATH_MAX_NODES, sizeof *pb);
  size_t na, nb, ia = 0, ib = 0;
  bool met = false;
  int r = 0;

  d->n_bytes = (UINT64_C(1) << seg_shift) / SM_BLOCK_SIZE / 8;
  if (pa == NULL || pb == NULL) {
    free (pa);
    free (pb);
    fail (error, "out of memory");
    return -1;
  }
  na = ancestors (c, a, pa);
  nb = ancestors (c, b, pb);
  /* The first node of A's chain that is on B's chain is the ancestor. */
  for (ia = 0; ia < na && !met; ia++)
    for (ib = 0; ib < nb && !met; ib++)
      met = pa[ia] == pb[ib];
  if (!met) {
    fail (error, "the two points have no common tracked history (the "
          "vdisk was not tracked when one of them was taken)");
    r = -1;
  }
  /* (the loops stepped once past the meeting point) */
  for (size_t i = 0; r == 0 && i + 1 < ia; i++)
    r = store_cbt_foreach (c->store, pa[i], add_marks, d);
  for (size_t i = 0; r == 0 && i + 1 < ib; i++)
    r = store_cbt_foreach (c->store, pb[i], add_marks, d);
  if (r == -1 && *error == NULL)
    fail (error, "cannot read the changed-block marks: %s",
          sm_last_error ());
  free (pa);
  free (pb);
  if (r == 0)
    merge_segments (d);
  return r;
}

DEFINE_VECTOR_TYPE (word_vector, uint64_t);

/* Append [START, END) clipped at SIZE to OUT as (offset, length). */
static int
add_range (struct word_vector *out, uint64_t start, uint64_t end,
           uint64_t size)
{
  if (end > size)
    end = size;
  if (end <= start)
    return 0;
  if (word_vector_append (out, start) == -1
      || word_vector_append (out, end - start) == -1)
    return -1;
  return 0;
}

/* D's marked blocks as ascending, apart (offset, length) byte ranges
 * clipped at SIZE, into OUT.  0 or -1 (ENOMEM). */
static int
to_ranges (const struct diff *d, unsigned seg_shift, uint64_t size,
           struct word_vector *out)
{
  uint64_t start = 0, end = 0;  /* the open range [start, end) */

  for (size_t i = 0; i < d->segs.len; i++) {
    const struct seg_marks *s = &d->segs.ptr[i];
    for (uint64_t b = 0; b < (uint64_t) d->n_bytes * 8; b++) {
      uint64_t off = (s->vseg << seg_shift) + b * SM_BLOCK_SIZE;
      if (!((s->blocks[b / 8] >> (b % 8)) & 1))
        continue;
      if (off != end || end == start) {
        if (add_range (out, start, end, size) == -1)
          return -1;
        start = off;
      }
      end = off + SM_BLOCK_SIZE;
    }
  }
  return add_range (out, start, end, size);
}

int
ctrl_diff_ranges (struct controller *c, uint32_t from, uint32_t to,
                  uint64_t **ranges, uint32_t *n_words, char **error)
{
  const struct sm_vdisk_info *a = ctrl_find_vdisk (c, from);
  const struct sm_vdisk_info *b = ctrl_find_vdisk (c, to);
  struct diff d = { 0 };
  struct word_vector out = { 0 };
  int r;

  if (a == NULL || b == NULL || a->parent == 0 || a->seg_shift != b->seg_shift) {
    fail (error, "a diff goes from a snapshot to a snapshot or vdisk of "
          "the same family");
    return -1;
  }
  /* Blocks an agent wrote to a movement it holds are marked changed
   * only once reported. */
  if (ctrl_move_take_back_vdisk (c, b->id) == -1
      || ctrl_cbt_flush (c) == -1) {
    fail (error, "vdisk '%s': its agents' writes could not be collected",
          b->name);
    return -1;
  }
  r = compute (c, a->id, b->id, b->seg_shift, &d, error);
  if (r == 0 && to_ranges (&d, b->seg_shift, b->size, &out) == -1) {
    fail (error, "out of memory");
    r = -1;
  }
  diff_free (&d);
  if (r == -1) {
    free (out.ptr);
    return -1;
  }
  *ranges = out.ptr;
  *n_words = out.len;
  return 0;
}

void
ctrl_diff_answer (struct controller *c, struct msg *req)
{
  struct msg m = { .type = MSG_DIFF, .id = req->id };
  const struct sm_vdisk_info *b = ctrl_find_vdisk (c, req->vdisk);
  char *error = NULL;

  if (ctrl_diff_ranges (c, req->arg, req->vdisk, &m.extents, &m.n_extents,
                        &error) == -1) {
    sm_error ("controller: diff %" PRIu64 "..%" PRIu32 ": %s", req->arg,
              req->vdisk, error ? error : "failed");
    m.status = EINVAL;
  }
  else if (m.n_extents > MSG_MAX_EXTENTS) {
    sm_error ("controller: diff %" PRIu64 "..%" PRIu32 ": %" PRIu32
              " ranges, more than one answer carries", req->arg, req->vdisk,
              m.n_extents / 2);
    m.status = EFBIG;
  }
  if (m.status == 0)
    m.arg = b->size;
  else {
    free (m.extents);
    m.extents = NULL;
    m.n_extents = 0;
  }
  free (error);
  ctrl_answer (c, &m);
  free (m.extents);
}

/* The node named NAME of vdisk V: V itself for NULL, else V@NAME. */
static const struct sm_vdisk_info *
node_arg (struct controller *c, const struct sm_vdisk_info *v,
          const char *name, char **error)
{
  char full[2 * SM_NAME_MAX + 2];
  const struct sm_vdisk_info *s;

  if (name == NULL)
    return v;
  snprintf (full, sizeof full, "%s@%s", v->name, name);
  s = ctrl_find_vdisk_by_name (c, full);
  if (s == NULL || s->parent != v->id)
    fail (error, "no snapshot '%s' of vdisk '%s'", name, v->name);
  return s && s->parent == v->id ? s : NULL;
}

json_object *
ctrl_cmd_vdisk_diff (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "vdisk", error);
  const char *from = name ? arg_name (args, "from", error) : NULL;
  const char *to = arg_string (args, "to");
  const struct sm_vdisk_info *v, *a, *b;
  json_object *res, *list;
  uint64_t bytes = 0, *words;
  uint32_t n;

  if (from == NULL)
    return NULL;
  if (to && !sm_valid_name (to))
    return fail (error, "invalid snapshot name '%s'", to);
  if ((v = ctrl_find_vdisk_by_name (c, name)) == NULL || v->parent)
    return fail (error, "no vdisk '%s'", name);
  if ((a = node_arg (c, v, from, error)) == NULL
      || (b = node_arg (c, v, to, error)) == NULL)
    return NULL;
  if (ctrl_diff_ranges (c, a->id, b->id, &words, &n, error) == -1)
    return NULL;
  list = json_object_new_array ();
  for (uint32_t i = 0; i < n; i += 2) {
    json_object *o = json_object_new_object ();
    json_add_u64 (o, "offset", words[i]);
    json_add_u64 (o, "length", words[i + 1]);
    json_object_array_add (list, o);
    bytes += words[i + 1];
  }
  free (words);
  res = json_object_new_object ();
  json_add_string (res, "vdisk", v->name);
  json_add_string (res, "from", from);
  json_add_string (res, "to", to ? to : "");
  json_add_u64 (res, "size", b->size);
  json_add_u64 (res, "block_size", SM_BLOCK_SIZE);
  json_add_u64 (res, "changed_bytes", bytes);
  json_object_object_add (res, "ranges", list);
  return res;
}
