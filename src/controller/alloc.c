/* segmap: free-space allocator of one container (see alloc.h).
 *
 * Design.  Two structures, always kept in step:
 *
 *  - bits[]: one bit per unit, 1 = used, in 64-bit words.  The bits of
 *    the last word past n_units are set (sentinels), so no word-level
 *    scan can ever find free space past the end.
 *
 *  - tree[]: a complete binary tree over the words (heap order, root 1,
 *    the words themselves are the leaves at index n_leaves + w).  Each
 *    node holds the ORDER of the largest aligned free run inside it:
 *    k if a free run of 2^k units aligned to 2^k exists, -1 if none.
 *    A leaf's order (0..6) is computed from its word with shift-and
 *    tricks; a node of height h (covering 2^h words, 2^(h+6) units) is
 *    h+6 when both children are wholly free, else the max of the two.
 *    Only the internal nodes are stored (one byte each).
 *
 * Invariants: every tree[i] equals the value recomputed from bits[];
 * n_used + n_reserved equals the number of set bits below n_units (a
 * reservation is a set bit that is not yet counted as used); words past
 * n_words and up to n_leaves are absent and count as wholly used.
 *
 * alloc_get(2^k units) looks at the root (ENOSPC at once if its order
 * is below k), then walks down, going left whenever the left child's
 * order is >= k: it finds the lowest-addressed fitting run.  Requests
 * of 64 units or more stop at the node of height k-6, which is wholly
 * free; smaller ones pick the run inside the leaf word.  So the search
 * never scans: O(log n) whatever the fill level or fragmentation, and
 * a request that cannot be met costs O(1).  Marking or freeing a range
 * rewrites units/64 words and the tree above them, level by level:
 * O(units/64 + log n).  alloc_foreach_free and alloc_grow are O(n/64).
 *
 * First fit (lowest address) rather than a rotating next-fit hint: with
 * the tree it costs no scan, and it keeps sparse container files
 * compact and fragmentation low.  Memory: n/8 bytes of bitmap plus
 * about n/64 bytes of tree, i.e. 2 MiB + 256 KiB per TiB.
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/size.h"
#include "controller/alloc.h"

#define WORD_BITS 64
#define WORD_ORDER 6            /* log2 (WORD_BITS) */

struct alloc {
  uint64_t n_units;             /* units in the container */
  uint64_t n_used;              /* used units (sentinels not counted) */
  uint64_t n_reserved;          /* of the set bits, reserved (grants) */
  uint64_t n_words;             /* ceil (n_units / 64) */
  uint64_t *bits;               /* n_words words, 1 = used */
  uint64_t n_leaves;            /* power of two >= n_words, >= 1 */
  unsigned height;              /* log2 (n_leaves) */
  int8_t *tree;                 /* n_leaves bytes; [1, n_leaves) used */
};

/* Bits at the start of every aligned group of 2^k bits, k = 0..6. */
static const uint64_t group_starts[WORD_ORDER + 1] = {
  UINT64_C(0xffffffffffffffff), UINT64_C(0x5555555555555555),
  UINT64_C(0x1111111111111111), UINT64_C(0x0101010101010101),
  UINT64_C(0x0001000100010001), UINT64_C(0x0000000100000001),
  UINT64_C(0x0000000000000001),
};

/* Bit i of the result is set iff FREE has bits i .. i+2^k-1 all set and
 * i is a multiple of 2^k: the starts of aligned free runs of order K. */
static uint64_t
run_starts (uint64_t free, unsigned k)
{
  unsigned i;

  for (i = 0; i < k; i++)
    free &= free >> (1u << i);
  return free & group_starts[k];
}

/* Order of the largest aligned free run in a word of used bits. */
static int
word_order (uint64_t used)
{
  uint64_t g = ~used;
  int k;

  if (g == 0)
    return -1;
  for (k = 1; k <= WORD_ORDER; k++) {
    g &= g >> (1u << (k - 1));
    if ((g & group_starts[k]) == 0)
      break;
  }
  return k - 1;
}

/* Order of node IDX at height H. */
static int
node_order (const struct alloc *a, uint64_t idx, unsigned h)
{
  uint64_t w;

  if (h > 0)
    return a->tree[idx];
  w = idx - a->n_leaves;
  return w < a->n_words ? word_order (a->bits[w]) : -1;
}

/* Order of a node at height H from the orders of its children. */
static int
combine (int left, int right, unsigned h)
{
  int child_full = (int) h - 1 + WORD_ORDER;

  if (left == child_full && right == child_full)
    return child_full + 1;
  return left > right ? left : right;
}

/* Recompute the tree above words W0 .. W1 (inclusive). */
static void
tree_update (struct alloc *a, uint64_t w0, uint64_t w1)
{
  uint64_t lo = (w0 + a->n_leaves) >> 1, hi = (w1 + a->n_leaves) >> 1, i;
  unsigned h;

  for (h = 1; h <= a->height; h++, lo >>= 1, hi >>= 1) {
    for (i = lo; i <= hi; i++)
      a->tree[i] = combine (node_order (a, 2 * i, h - 1),
                            node_order (a, 2 * i + 1, h - 1), h);
  }
}

/* Mask of the bits of word W inside units [UNIT, END). */
static uint64_t
range_mask (uint64_t w, uint64_t unit, uint64_t end)
{
  uint64_t base = w * WORD_BITS;
  uint64_t lo = unit > base ? unit - base : 0;
  uint64_t hi = end < base + WORD_BITS ? end - base : WORD_BITS;

  if (hi - lo == WORD_BITS)
    return ~UINT64_C(0);
  return ((UINT64_C(1) << (hi - lo)) - 1) << lo;
}

/* Number of used units in [UNIT, UNIT+UNITS), which is in range. */
static uint64_t
range_used (const struct alloc *a, uint64_t unit, uint64_t units)
{
  uint64_t end = unit + units, w, n = 0;

  for (w = unit / WORD_BITS; w * WORD_BITS < end; w++)
    n += __builtin_popcountll (a->bits[w] & range_mask (w, unit, end));
  return n;
}

/* Set the bits of [UNIT, UNIT+UNITS) to used or free, leaving the tree
 * alone.  Returns the index of the last word touched plus one. */
static uint64_t
bits_set (struct alloc *a, uint64_t unit, uint64_t units, bool used)
{
  uint64_t end = unit + units, w;

  for (w = unit / WORD_BITS; w * WORD_BITS < end; w++) {
    if (used)
      a->bits[w] |= range_mask (w, unit, end);
    else
      a->bits[w] &= ~range_mask (w, unit, end);
  }
  return w;
}

/* Set [UNIT, UNIT+UNITS) (in range, UNITS > 0) used or free and fix the
 * tree above it. */
static void
range_set (struct alloc *a, uint64_t unit, uint64_t units, bool used)
{
  uint64_t w_end = bits_set (a, unit, units, used);

  tree_update (a, unit / WORD_BITS, w_end - 1);
}

static bool
in_range (const struct alloc *a, uint64_t unit, uint64_t units)
{
  return unit <= a->n_units && units <= a->n_units - unit;
}

static uint64_t
words_for (uint64_t n_units)
{
  return (n_units + WORD_BITS - 1) / WORD_BITS;
}

static uint64_t
leaves_for (uint64_t n_words)
{
  uint64_t p = 1;

  while (p < n_words)
    p <<= 1;
  return p;
}

struct alloc *
alloc_new (uint64_t n_units)
{
  struct alloc *a;

  if (n_units > ALLOC_MAX_UNITS) {
    errno = ERANGE;
    sm_error ("allocator: %" PRIu64 " units is more than the maximum %"
              PRIu64, n_units, ALLOC_MAX_UNITS);
    return NULL;
  }
  a = calloc (1, sizeof *a);
  if (a == NULL) {
    sm_error ("allocator: calloc: %m");
    return NULL;
  }
  if (alloc_grow (a, n_units) == -1) {
    alloc_free (a);
    return NULL;
  }
  return a;
}

void
alloc_free (struct alloc *a)
{
  if (a == NULL)
    return;
  free (a->bits);
  free (a->tree);
  free (a);
}

/* Resize the word array to N_WORDS; new words are wholly used. */
static int
grow_bits (struct alloc *a, uint64_t n_words)
{
  uint64_t *bits;

  if (n_words == a->n_words)
    return 0;
  if (n_words > SIZE_MAX / sizeof *bits
      || (bits = realloc (a->bits, n_words * sizeof *bits)) == NULL) {
    errno = ENOMEM;
    sm_error ("allocator: cannot grow the bitmap to %" PRIu64 " words: %m",
              n_words);
    return -1;
  }
  memset (bits + a->n_words, 0xff, (n_words - a->n_words) * sizeof *bits);
  a->bits = bits;
  a->n_words = n_words;
  return 0;
}

int
alloc_grow (struct alloc *a, uint64_t n_units)
{
  uint64_t n_leaves, old_units = a->n_units;
  int8_t *tree = NULL;

  if (n_units > ALLOC_MAX_UNITS) {
    errno = ERANGE;
    sm_error ("allocator: cannot grow to %" PRIu64 " units (maximum %"
              PRIu64 ")", n_units, ALLOC_MAX_UNITS);
    return -1;
  }
  if (n_units <= old_units && a->tree != NULL)
    return 0;                   /* never shrinks */
  n_leaves = leaves_for (words_for (n_units));
  if (n_leaves != a->n_leaves || a->tree == NULL) {
    tree = malloc (n_leaves);
    if (tree == NULL) {
      sm_error ("allocator: cannot allocate the summary tree: %m");
      return -1;
    }
  }
  if (grow_bits (a, words_for (n_units)) == -1) {
    free (tree);
    return -1;
  }
  if (tree != NULL) {
    free (a->tree);
    a->tree = tree;
    a->n_leaves = n_leaves;
    a->height = sm_log2 (n_leaves);
  }
  a->n_units = n_units;
  bits_set (a, old_units, n_units - old_units, false);
  tree_update (a, 0, a->n_leaves - 1);        /* O(n / 64): rare */
  return 0;
}

int
alloc_mark_used (struct alloc *a, uint64_t unit, uint64_t units)
{
  if (units == 0 || !in_range (a, unit, units)) {
    errno = ERANGE;
    sm_error ("allocator: units %" PRIu64 "+%" PRIu64 " are outside the "
              "container (%" PRIu64 " units)", unit, units, a->n_units);
    return -1;
  }
  if (range_used (a, unit, units) != 0) {
    errno = EEXIST;
    sm_error ("allocator: units %" PRIu64 "+%" PRIu64 " overlap space "
              "already in use", unit, units);
    return -1;
  }
  range_set (a, unit, units, true);
  a->n_used += units;
  return 0;
}

/* The first unit of the lowest free run of order K; the root says one
 * exists. */
static uint64_t
find_run (const struct alloc *a, unsigned k)
{
  unsigned stop = k > WORD_ORDER ? k - WORD_ORDER : 0, h = a->height;
  uint64_t idx = 1, w;

  for (; h > stop; h--) {
    idx *= 2;
    if (node_order (a, idx, h - 1) < (int) k)
      idx++;
  }
  w = (idx << h) - a->n_leaves;
  if (k >= WORD_ORDER)
    return w * WORD_BITS;
  return w * WORD_BITS + __builtin_ctzll (run_starts (~a->bits[w], k));
}

int
alloc_get (struct alloc *a, uint64_t units, uint64_t *unit)
{
  unsigned k;

  if (!sm_is_power_of_2 (units) || units > ALLOC_MAX_UNITS) {
    errno = EINVAL;
    sm_error ("allocator: cannot allocate %" PRIu64 " units: not a power "
              "of two", units);
    return -1;
  }
  k = sm_log2 (units);
  if (node_order (a, 1, a->height) < (int) k) {
    errno = ENOSPC;
    return -1;
  }
  *unit = find_run (a, k);
  assert (range_used (a, *unit, units) == 0);
  range_set (a, *unit, units, true);
  a->n_used += units;
  return 0;
}

int
alloc_reserve (struct alloc *a, uint64_t units, uint64_t *unit)
{
  if (alloc_get (a, units, unit) == -1)
    return -1;
  a->n_used -= units;
  a->n_reserved += units;
  return 0;
}

void
alloc_use_reserved (struct alloc *a, uint64_t unit, uint64_t units)
{
  assert (units > 0 && in_range (a, unit, units));
  assert (range_used (a, unit, units) == units);
  assert (a->n_reserved >= units);
  a->n_reserved -= units;
  a->n_used += units;
}

void
alloc_unreserve (struct alloc *a, uint64_t unit, uint64_t units)
{
  alloc_use_reserved (a, unit, units);
  alloc_put (a, unit, units);
}

void
alloc_put (struct alloc *a, uint64_t unit, uint64_t units)
{
  assert (units > 0 && in_range (a, unit, units));
  assert (range_used (a, unit, units) == units);
  range_set (a, unit, units, false);
  a->n_used -= units;
}

bool
alloc_is_used (struct alloc *a, uint64_t unit, uint64_t units)
{
  if (units == 0)
    return false;
  if (!in_range (a, unit, units))
    return true;
  return range_used (a, unit, units) != 0;
}

uint64_t
alloc_used_units (const struct alloc *a)
{
  return a->n_used;
}

uint64_t
alloc_reserved_units (const struct alloc *a)
{
  return a->n_reserved;
}

uint64_t
alloc_free_units (const struct alloc *a)
{
  return alloc_total_units (a) - alloc_used_units (a)
    - alloc_reserved_units (a);
}

uint64_t
alloc_total_units (const struct alloc *a)
{
  return a->n_units;
}

/* The first unit >= POS that is free (WANT_FREE) or used, or n_units. */
static uint64_t
next_unit (const struct alloc *a, uint64_t pos, bool want_free)
{
  uint64_t w = pos / WORD_BITS, x, u;

  if (pos >= a->n_units)
    return a->n_units;
  x = (want_free ? ~a->bits[w] : a->bits[w]) & (~UINT64_C(0) << pos % WORD_BITS);
  while (x == 0) {
    if (++w >= a->n_words)
      return a->n_units;
    x = want_free ? ~a->bits[w] : a->bits[w];
  }
  u = w * WORD_BITS + __builtin_ctzll (x);
  return u < a->n_units ? u : a->n_units;
}

int
alloc_foreach_free (struct alloc *a,
                    int (*fn) (void *opaque, uint64_t unit, uint64_t units),
                    void *opaque)
{
  uint64_t start, end = 0;
  int r;

  for (;;) {
    start = next_unit (a, end, true);
    if (start >= a->n_units)
      return 0;
    end = next_unit (a, start, false);
    r = fn (opaque, start, end - start);
    if (r != 0)
      return r;
  }
}
