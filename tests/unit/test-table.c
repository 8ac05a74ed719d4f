/* segmap: unit tests of the agent's volatile mapping table
 * (src/agent/table.h, src/agent/table.c).
 *
 * What is checked and how:
 *  - Entries: a new table reads INVALID everywhere; table_store with one
 *    entry for a whole range and with one entry per segment, across leaf
 *    (64) and mid (32768) boundaries, at the last (short) segment and
 *    past the end (ignored, nothing allocated); storing INVALID never
 *    allocates; table_set_bits touches only loaded, valid entries.
 *  - Memory: the accounting in table_memory.bytes is checked exactly
 *    against the sizes of the structures (top array, mid blocks,
 *    leaves): a 1 PiB table costs its top array only, random stores
 *    cost one leaf per touched leaf and one mid per touched mid, and
 *    forget_all / evict / free give everything back.
 *  - Growth keeps entries, also when the top array is reallocated.
 *  - Known zeros and grants: table_load's zero_after makes whole mids
 *    and leaves ZERO through the shared sentinels at no memory cost
 *    (partial absent leaves stay INVALID); table_claim maps a ZERO
 *    entry to the last grant (copying the sentinels: one mid + one
 *    leaf), refuses INVALID and mapped entries and an empty pool; an
 *    answer never overwrites a claimed entry, and an answer older than
 *    an eviction is dropped whole; forget_all, set_bits and grow forget
 *    sentinels, and eviction never frees one.
 *  - Eviction follows the clock: a leaf referenced since the last pass
 *    survives, an unreferenced one goes and its entries read INVALID.
 *  - A claim by an I/O inside its epoch while the table grows (and
 *    drains) finishes: grow does not drain under the table lock.
 *  - Epochs: a drain waits for an I/O that entered before it (200 ms)
 *    but not for one that entered after it started; quiesce times out
 *    with ETIMEDOUT while an I/O is in flight and holds new I/O in
 *    table_enter until table_activate.
 *  - A 2 s stress: 4 readers look up random segments while a writer
 *    stores (and grows the table, and sets bits), an evictor evicts and
 *    forgets, and a setter stores-then-drains like a blocking
 *    set_entry; a reader may only ever see INVALID or the value stored
 *    for that very segment (entry_make (1, seg, VALID), maybe with
 *    NOWRITE), and never outlives a drain that began after it entered.
 *    Run it under valgrind (CK_FORK=no) and ASan as well.
 *
 * Hot loops use EXPECT (libcheck is called only on failure); worker
 * threads never call libcheck (its failure path is not thread-safe
 * without fork) but record failures for the main thread to assert.
 * SEGMAP_TEST_SEED=N reproduces the random tests.
 */
#include <config.h>

#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/table.h"
#include "common/errors.h"

#define MiB (UINT64_C(1) << 20)
#define PiB (UINT64_C(1) << 50)
#define SEG_SHIFT 20
#define MID_SEGMENTS ((uint64_t) TABLE_LEAF_ENTRIES * TABLE_MID_ENTRIES)
#define LEAF_BYTES (sizeof (struct table_leaf))
#define MID_BYTES (sizeof (struct table_mid))

/* Only calls into libcheck when COND fails (for hot loops). */
#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond))                                                        \
      ck_abort_msg ("%s:%d: expected %s", __FILE__, __LINE__, #cond);   \
  } while (0)

/*----------------------------------------------------------------------
 * Helpers.
 */

static struct table_memory mem;
static uint64_t seed;

static void
quiet_sink (const char *fmt, va_list args)
{
  (void) fmt;
  (void) args;
}

static void
setup (void)
{
  const char *s = getenv ("SEGMAP_TEST_SEED");

  memset (&mem, 0, sizeof mem);
  sm_set_log_sinks (quiet_sink, NULL);
  seed = s ? strtoull (s, NULL, 10) : (uint64_t) time (NULL);
  if (seed == 0)
    seed = 1;
}

static void
teardown (void)
{
  sm_set_log_sinks (NULL, NULL);
}

static uint64_t
rnd (uint64_t *state)
{
  uint64_t x = *state;

  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* The value every test stores for SEG: verifiable from SEG alone. */
static sm_entry
mapped (uint64_t seg)
{
  return entry_make (1, seg, ENTRY_VALID);
}

/* Bytes of the top array of a table of N_SEGMENTS segments. */
static uint64_t
top_bytes (uint64_t n_segments)
{
  uint64_t slots = (n_segments + MID_SEGMENTS - 1) / MID_SEGMENTS;

  return sizeof (struct table_top) + slots * sizeof (void *);
}

static sm_entry
get (struct table *t, uint64_t seg)
{
  uint64_t e = table_enter (t);
  sm_entry v = table_lookup (t, seg);

  table_exit (t, e);
  return v;
}

static struct table *
new_table (uint64_t n_segments, unsigned seg_shift)
{
  struct table *t = table_new (7, "vd", n_segments << seg_shift, seg_shift,
                               &mem);

  ck_assert_ptr_nonnull (t);
  return t;
}

/* Store mapped (seg) for every seg of [FIRST, FIRST+COUNT). */
static void
store_mapped (struct table *t, uint64_t first, uint64_t count)
{
  sm_entry *v = malloc (count * sizeof *v);

  ck_assert_ptr_nonnull (v);
  for (uint64_t i = 0; i < count; i++)
    v[i] = mapped (first + i);
  ck_assert_int_eq (table_store (t, first, count, v, count), 0);
  free (v);
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

/* Distinct values of V[0..N) after shifting each right by SHIFT. */
static uint64_t
distinct_shifted (const uint64_t *v, size_t n, unsigned shift)
{
  uint64_t *w = malloc (n * sizeof *w), count = 0;

  ck_assert_ptr_nonnull (w);
  for (size_t i = 0; i < n; i++)
    w[i] = v[i] >> shift;
  qsort (w, n, sizeof *w, cmp_u64);
  for (size_t i = 0; i < n; i++)
    if (i == 0 || w[i] != w[i - 1])
      count++;
  free (w);
  return count;
}

/*----------------------------------------------------------------------
 * Entries.
 */

START_TEST (test_new_all_invalid)
{
  uint64_t n = 3 * MID_SEGMENTS + 17;
  struct table *t = new_table (n, SEG_SHIFT);

  ck_assert_uint_eq (t->n_segments, n);
  ck_assert_uint_eq (t->size, n << SEG_SHIFT);
  ck_assert_uint_eq (t->seg_shift, SEG_SHIFT);
  ck_assert_uint_eq (t->vdisk, 7);
  ck_assert_str_eq (t->name, "vd");
  ck_assert_uint_eq (mem.bytes, top_bytes (n));   /* no mid, no leaf yet */
  for (uint64_t seg = 0; seg < n; seg++)
    EXPECT (get (t, seg) == ENTRY_INVALID);
  ck_assert_uint_eq (get (t, n + 1000000), ENTRY_INVALID);
  ck_assert_uint_eq (mem.bytes, top_bytes (n));   /* lookups allocate nothing */
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

START_TEST (test_store_one_entry_for_range)
{
  struct table *t = new_table (2 * MID_SEGMENTS + 100, SEG_SHIFT);
  sm_entry z = ENTRY_ZERO_SEGMENT;
  uint64_t first = MID_SEGMENTS - 70, count = 200;  /* 5 leaves, 2 mids */

  ck_assert_int_eq (table_store (t, first, count, &z, 1), 0);
  for (uint64_t seg = first - 70; seg < first + count + 70; seg++)
    EXPECT (get (t, seg)
            == (seg >= first && seg < first + count ? z : ENTRY_INVALID));
  /* Segments 32698..32897: leaves 510-511 of mid 0, 0-2 of mid 1. */
  uint64_t leaves = ((first + count - 1) / TABLE_LEAF_ENTRIES)
    - (first / TABLE_LEAF_ENTRIES) + 1;
  ck_assert_uint_eq (mem.bytes, top_bytes (t->n_segments)
                     + 2 * MID_BYTES + leaves * LEAF_BYTES);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

START_TEST (test_store_per_entry)
{
  struct table *t = new_table (3 * MID_SEGMENTS, 16);

  /* Inside one leaf, across a leaf boundary, across a mid boundary. */
  store_mapped (t, 3, 5);
  store_mapped (t, TABLE_LEAF_ENTRIES - 2, 4);
  store_mapped (t, 2 * MID_SEGMENTS - 3, 7);
  for (uint64_t seg = 0; seg < 3 * MID_SEGMENTS; seg++) {
    bool in = (seg >= 3 && seg < 8)
      || (seg >= TABLE_LEAF_ENTRIES - 2 && seg < TABLE_LEAF_ENTRIES + 2)
      || (seg >= 2 * MID_SEGMENTS - 3 && seg < 2 * MID_SEGMENTS + 4);
    EXPECT (get (t, seg) == (in ? mapped (seg) : ENTRY_INVALID));
  }
  /* Overwrite part of a run with different states. */
  sm_entry v[3] = { ENTRY_ZERO_SEGMENT, mapped (99) | ENTRY_NOWRITE,
                    ENTRY_VALID | ENTRY_ERROR };
  ck_assert_int_eq (table_store (t, 4, 3, v, 3), 0);
  ck_assert_uint_eq (get (t, 3), mapped (3));
  ck_assert_uint_eq (get (t, 4), v[0]);
  ck_assert_uint_eq (get (t, 5), v[1]);
  ck_assert_uint_eq (get (t, 6), v[2]);
  ck_assert_uint_eq (get (t, 7), mapped (7));
  table_free (t);
}
END_TEST

/* One entry per segment where the first entry of a leaf that is not
 * loaded is INVALID: the valid entries after it in the same leaf must
 * still be stored ("Store entries for [FIRST, FIRST+COUNT)"). */
START_TEST (test_store_invalid_then_valid)
{
  struct table *t = new_table (256, SEG_SHIFT);
  sm_entry v[4] = { ENTRY_INVALID, mapped (1), ENTRY_INVALID, mapped (3) };

  ck_assert_int_eq (table_store (t, 0, 4, v, 4), 0);
  ck_assert_uint_eq (get (t, 0), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 2), ENTRY_INVALID);
  sm_entry got1 = get (t, 1), got3 = get (t, 3);
  table_free (t);
  ck_assert_msg (got1 == mapped (1) && got3 == mapped (3),
                 "table_store skipped the rest of a leaf after an INVALID "
                 "entry: seg 1 = 0x%" PRIx64 ", seg 3 = 0x%" PRIx64,
                 got1, got3);
}
END_TEST

START_TEST (test_store_last_segment_and_past_end)
{
  /* 100 whole segments and a short 101st (512 bytes). */
  struct table *t = table_new (1, "vd", 100 * MiB + 512, SEG_SHIFT, &mem);
  sm_entry z = ENTRY_ZERO_SEGMENT;
  uint64_t base;

  ck_assert_ptr_nonnull (t);
  ck_assert_uint_eq (t->n_segments, 101);
  store_mapped (t, 100, 1);
  ck_assert_uint_eq (get (t, 100), mapped (100));
  ck_assert_uint_eq (get (t, 99), ENTRY_INVALID);

  /* A range running past the end is cut at the end. */
  ck_assert_int_eq (table_store (t, 98, 50, &z, 1), 0);
  ck_assert_uint_eq (get (t, 97), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 98), z);
  ck_assert_uint_eq (get (t, 100), z);
  ck_assert_uint_eq (get (t, 101), ENTRY_INVALID);

  /* Wholly past the end: ignored, nothing allocated. */
  base = mem.bytes;
  ck_assert_int_eq (table_store (t, 101, 1, &z, 1), 0);
  ck_assert_int_eq (table_store (t, 128, 64, &z, 1), 0);
  ck_assert_int_eq (table_store (t, 5 * MID_SEGMENTS, 10, &z, 1), 0);
  ck_assert_int_eq (table_store (t, UINT64_MAX - 5, 3, &z, 1), 0);
  ck_assert_uint_eq (mem.bytes, base);
  ck_assert_uint_eq (get (t, 101), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 128), ENTRY_INVALID);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

START_TEST (test_store_invalid_never_allocates)
{
  uint64_t n = 4 * MID_SEGMENTS;
  struct table *t = new_table (n, SEG_SHIFT);
  sm_entry inv = ENTRY_INVALID, *v = calloc (1000, sizeof *v);
  uint64_t base = mem.bytes;

  ck_assert_ptr_nonnull (v);
  ck_assert_int_eq (table_store (t, 0, n, &inv, 1), 0);
  ck_assert_int_eq (table_store (t, MID_SEGMENTS - 500, 1000, v, 1000), 0);
  ck_assert_int_eq (table_store (t, n - 1, 1, &inv, 1), 0);
  ck_assert_uint_eq (mem.bytes, base);

  /* INVALID over loaded entries forgets them (the leaf stays). */
  store_mapped (t, 60, 8);
  uint64_t loaded = mem.bytes;
  ck_assert_uint_eq (loaded, base + MID_BYTES + 2 * LEAF_BYTES);
  ck_assert_int_eq (table_store (t, 62, 3, &inv, 1), 0);
  ck_assert_int_eq (table_store (t, 0, n, v, 1), 0);
  ck_assert_uint_eq (mem.bytes, loaded);
  for (uint64_t seg = 56; seg < 72; seg++)
    ck_assert_uint_eq (get (t, seg), ENTRY_INVALID);
  free (v);
  table_free (t);
}
END_TEST

START_TEST (test_set_bits)
{
  struct table *t = new_table (2 * MID_SEGMENTS, SEG_SHIFT);
  sm_entry v[4] = { mapped (10), ENTRY_INVALID, ENTRY_ZERO_SEGMENT,
                    mapped (13) | ENTRY_NOWRITE };
  uint64_t loaded;

  ck_assert_int_eq (table_store (t, 10, 4, v, 4), 0);
  loaded = mem.bytes;

  /* On: over the loaded leaf, unloaded leaves and an unloaded mid. */
  table_set_bits (t, 0, 2 * MID_SEGMENTS, ENTRY_NOWRITE, true);
  ck_assert_uint_eq (mem.bytes, loaded);        /* nothing created */
  ck_assert_uint_eq (get (t, 9), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 10), mapped (10) | ENTRY_NOWRITE);
  ck_assert_uint_eq (get (t, 11), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 12), ENTRY_ZERO_SEGMENT | ENTRY_NOWRITE);
  ck_assert_uint_eq (get (t, 13), mapped (13) | ENTRY_NOWRITE);
  ck_assert_uint_eq (get (t, 14), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 5), ENTRY_INVALID);

  /* Off, on a sub-range only. */
  table_set_bits (t, 11, 2, ENTRY_NOWRITE, false);
  ck_assert_uint_eq (get (t, 10), mapped (10) | ENTRY_NOWRITE);
  ck_assert_uint_eq (get (t, 11), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 12), ENTRY_ZERO_SEGMENT);
  ck_assert_uint_eq (get (t, 13), mapped (13) | ENTRY_NOWRITE);

  /* Two bits at once, and the range cut at the end of the table. */
  table_set_bits (t, 13, UINT32_MAX, ENTRY_NOWRITE | ENTRY_ALT, false);
  ck_assert_uint_eq (get (t, 13), mapped (13));
  table_set_bits (t, 10, 1, ENTRY_ALT, true);
  ck_assert_uint_eq (get (t, 10), mapped (10) | ENTRY_NOWRITE | ENTRY_ALT);
  ck_assert_uint_eq (mem.bytes, loaded);
  table_free (t);
}
END_TEST

/*----------------------------------------------------------------------
 * Growth and memory.
 */

START_TEST (test_grow)
{
  struct table *t = new_table (100, SEG_SHIFT);
  struct table_top *old_top = t->top;
  uint64_t n;

  store_mapped (t, 0, 100);
  ck_assert_uint_eq (get (t, 100), ENTRY_INVALID);

  /* Inside the same top array. */
  ck_assert_int_eq (table_grow (t, 200 * MiB), 0);
  ck_assert_uint_eq (t->n_segments, 200);
  ck_assert_uint_eq (t->size, 200 * MiB);
  ck_assert_ptr_eq (t->top, old_top);
  store_mapped (t, 199, 1);
  ck_assert_uint_eq (get (t, 199), mapped (199));

  /* Never shrinks. */
  ck_assert_int_eq (table_grow (t, 50 * MiB), 0);
  ck_assert_uint_eq (t->n_segments, 200);
  ck_assert_uint_eq (t->size, 200 * MiB);

  /* By more than 2^15 segments: a new top array. */
  n = 200 + MID_SEGMENTS + 40000;
  ck_assert_int_eq (table_grow (t, n * MiB + 4096), 0);
  ck_assert_uint_eq (t->n_segments, n + 1);
  ck_assert_uint_eq (t->top->n, (n + 1 + MID_SEGMENTS - 1) / MID_SEGMENTS);
  /* Leaves 0-1 (segments 0..99) and 3 (199) of mid 0. */
  ck_assert_uint_eq (mem.bytes, top_bytes (n + 1) + MID_BYTES
                     + 3 * LEAF_BYTES);
  for (uint64_t seg = 0; seg < 200; seg++)
    EXPECT (get (t, seg) == (seg < 100 || seg == 199
                             ? mapped (seg) : ENTRY_INVALID));
  ck_assert_uint_eq (get (t, n), ENTRY_INVALID);
  store_mapped (t, n - 3, 4);
  store_mapped (t, MID_SEGMENTS - 1, 2);
  ck_assert_uint_eq (get (t, n), mapped (n));
  ck_assert_uint_eq (get (t, MID_SEGMENTS), mapped (MID_SEGMENTS));
  ck_assert_uint_eq (get (t, n + 1), ENTRY_INVALID);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

START_TEST (test_huge_table_memory)
{
  struct table *t = table_new (3, "big", PiB, SEG_SHIFT, &mem);
  const unsigned n = 10000;
  uint64_t *segs = malloc (n * sizeof *segs), base, state = seed;
  uint64_t leaves, mids;

  ck_assert_ptr_nonnull (t);
  ck_assert_ptr_nonnull (segs);
  ck_assert_uint_eq (t->n_segments, PiB >> SEG_SHIFT);
  base = mem.bytes;
  /* The top array only: 2^15 pointers for 2^30 segments. */
  ck_assert_uint_eq (base, top_bytes (PiB >> SEG_SHIFT));
  ck_assert_uint_le (base, 256 * 1024 + 64);

  for (unsigned i = 0; i < n; i++) {
    /* Mostly spread over the whole PiB, sometimes clustered. */
    segs[i] = i % 4 == 0 ? rnd (&state) % 5000
      : rnd (&state) % t->n_segments;
    sm_entry e = mapped (segs[i]);
    EXPECT (table_store (t, segs[i], 1, &e, 1) == 0);
  }
  leaves = distinct_shifted (segs, n, TABLE_LEAF_SHIFT);
  mids = distinct_shifted (segs, n, TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  ck_assert_uint_eq (mem.bytes,
                     base + leaves * LEAF_BYTES + mids * MID_BYTES);
  ck_assert_uint_le (mem.bytes - base, n * (LEAF_BYTES + MID_BYTES));
  for (unsigned i = 0; i < n; i++)
    EXPECT (get (t, segs[i]) == mapped (segs[i]));

  table_forget_all (t);
  ck_assert_uint_eq (mem.bytes, base);
  for (unsigned i = 0; i < n; i++)
    EXPECT (get (t, segs[i]) == ENTRY_INVALID);
  free (segs);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

/*----------------------------------------------------------------------
 * Eviction.
 */

/* White box: is the leaf holding SEG published?  (Reads the pointers
 * only, so it does not set the referenced bit as a lookup does.) */
static struct table_leaf *
leaf_of (struct table *t, uint64_t seg)
{
  struct table_top *top = t->top;
  uint64_t m = seg >> (TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  struct table_mid *mid = m < top->n ? top->mid[m] : NULL;

  return mid ? mid->leaf[(seg >> TABLE_LEAF_SHIFT) % TABLE_MID_ENTRIES]
    : NULL;
}

START_TEST (test_evict_clock)
{
  struct table *t = new_table (2 * MID_SEGMENTS, SEG_SHIFT);
  /* Three leaves in mid 0, one in mid 1. */
  const uint64_t first[4] = { 0, 64, 640, MID_SEGMENTS + 320 };
  uint64_t base = mem.bytes, before, freed;
  unsigned gone = 4, keep = 4, n_loaded = 0;

  ck_assert_uint_eq (table_evict (t, UINT64_MAX), 0);  /* nothing yet */
  for (unsigned i = 0; i < 4; i++)
    store_mapped (t, first[i], TABLE_LEAF_ENTRIES);
  ck_assert_uint_eq (mem.bytes, base + 2 * MID_BYTES + 4 * LEAF_BYTES);

  /* New leaves are referenced: the clock's first pass only clears the
   * bits, the second takes one leaf, which is all one byte needs. */
  ck_assert_uint_eq (table_evict (t, 1), LEAF_BYTES);
  ck_assert_uint_eq (mem.evicted_leaves, 1);
  for (unsigned i = 0; i < 4; i++) {
    struct table_leaf *leaf = leaf_of (t, first[i]);
    if (leaf == NULL)
      gone = i;
    else {
      n_loaded++;
      ck_assert_uint_eq (leaf->referenced, 0);   /* cleared by the pass */
      if (keep == 4)
        keep = i;
    }
  }
  ck_assert_uint_eq (n_loaded, 3);
  for (uint64_t s = first[gone]; s < first[gone] + TABLE_LEAF_ENTRIES; s++)
    EXPECT (get (t, s) == ENTRY_INVALID);

  /* Reference KEEP only; asking for two leaves takes the two others. */
  ck_assert_uint_eq (get (t, first[keep] + 1), mapped (first[keep] + 1));
  before = mem.bytes;
  freed = table_evict (t, 2 * LEAF_BYTES);
  ck_assert_uint_eq (freed, before - mem.bytes);
  ck_assert_uint_eq (mem.evicted_leaves, 3);
  ck_assert_uint_eq (mem.bytes, base + MID_BYTES + LEAF_BYTES);
  for (unsigned i = 0; i < 4; i++) {
    ck_assert ((leaf_of (t, first[i]) != NULL) == (i == keep));
    for (uint64_t s = first[i]; s < first[i] + TABLE_LEAF_ENTRIES; s++)
      EXPECT (get (t, s) == (i == keep ? mapped (s) : ENTRY_INVALID));
  }

  /* Evicted leaves come back on the next store. */
  store_mapped (t, first[gone] + 3, 1);
  ck_assert_uint_eq (get (t, first[gone] + 3), mapped (first[gone] + 3));
  ck_assert_uint_eq (get (t, first[gone] + 4), ENTRY_INVALID);

  /* forget_all returns the accounting to where it was before any store. */
  table_forget_all (t);
  ck_assert_uint_eq (mem.bytes, base);
  ck_assert_ptr_null (leaf_of (t, first[keep]));
  ck_assert_uint_eq (get (t, first[keep] + 1), ENTRY_INVALID);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

/* "As much as possible": the hand passes twice, so even leaves
 * referenced just before the call go, and their mids with them. */
START_TEST (test_evict_everything)
{
  struct table *t = new_table (3 * MID_SEGMENTS, SEG_SHIFT);
  uint64_t base = mem.bytes;

  store_mapped (t, 100, 1000);
  store_mapped (t, 2 * MID_SEGMENTS + 5, 3);
  ck_assert_uint_eq (get (t, 100), mapped (100));
  uint64_t leaves = (1099 / 64 - 100 / 64 + 1) + 1;
  ck_assert_uint_eq (mem.bytes, base + 2 * MID_BYTES + leaves * LEAF_BYTES);
  ck_assert_uint_eq (table_evict (t, UINT64_MAX),
                     2 * MID_BYTES + leaves * LEAF_BYTES);
  ck_assert_uint_eq (mem.bytes, base);
  ck_assert_uint_eq (mem.evicted_leaves, leaves);
  for (uint64_t s = 0; s < 3 * MID_SEGMENTS; s++)
    EXPECT (get (t, s) == ENTRY_INVALID);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

/* WANT is in bytes, and the bytes a leaf frees include its mid block
 * when it was the mid's last leaf: asking for one leaf-and-mid must not
 * free nine of them ("Evict up to WANT bytes"). */
START_TEST (test_evict_want_counts_mids)
{
  struct table *t = new_table (32 * MID_SEGMENTS, SEG_SHIFT);
  uint64_t base = mem.bytes, freed;
  sm_entry z = ENTRY_ZERO_SEGMENT;

  for (uint64_t m = 0; m < 20; m++)      /* one leaf in each of 20 mids */
    ck_assert_int_eq (table_store (t, m * MID_SEGMENTS + 7, 1, &z, 1), 0);
  ck_assert_uint_eq (mem.bytes, base + 20 * (LEAF_BYTES + MID_BYTES));
  /* Clears every bit and takes one leaf, which takes its mid along. */
  ck_assert_uint_eq (table_evict (t, 1), LEAF_BYTES + MID_BYTES);
  freed = table_evict (t, LEAF_BYTES + MID_BYTES);
  ck_assert_uint_eq (mem.bytes, base + (19 * (LEAF_BYTES + MID_BYTES))
                     - freed);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
  ck_assert_msg (freed >= LEAF_BYTES + MID_BYTES
                 && freed < 2 * (LEAF_BYTES + MID_BYTES),
                 "table_evict (t, %zu) freed %" PRIu64 " bytes (%" PRIu64
                 " leaves with their mids)", LEAF_BYTES + MID_BYTES, freed,
                 freed / (LEAF_BYTES + MID_BYTES));
}
END_TEST

/*----------------------------------------------------------------------
 * Epochs: drain and quiesce.
 */

struct io_thread {
  struct table *t;
  unsigned hold_ms;             /* time inside the epoch */
  bool wait_for_drain;          /* enter only once a drain has begun */
  uint64_t epoch_before;
  _Atomic bool entered, exited;
  _Atomic uint64_t entered_at, exited_at;
};

/* Time scale: valgrind runs threads one at a time and slowly, so hold
 * times and upper bounds stretch under it (SEGMAP_VALGRIND=1). */
static unsigned slow = 1;

static void *
io_thread_run (void *arg)
{
  struct io_thread *io = arg;
  uint64_t e;

  if (io->wait_for_drain)
    while (atomic_load (&io->t->epoch) == io->epoch_before)
      sm_test_sleep_ms (1);
  e = table_enter (io->t);
  io->entered_at = sm_test_now_ms ();
  io->entered = true;
  sm_test_sleep_ms (io->hold_ms * slow);
  io->exited_at = sm_test_now_ms ();
  io->exited = true;
  table_exit (io->t, e);
  return NULL;
}

static void
io_start (pthread_t *th, struct io_thread *io)
{
  ck_assert_int_eq (pthread_create (th, NULL, io_thread_run, io), 0);
}

static void
wait_entered (struct io_thread *io)
{
  while (!io->entered)
    sm_test_sleep_ms (1);
}

START_TEST (test_drain_waits_for_older_io)
{
  struct table *t = new_table (64, SEG_SHIFT);
  struct io_thread io = { .t = t, .hold_ms = 200 };
  pthread_t th;
  uint64_t start, done;

  /* Nothing in flight: immediate. */
  start = sm_test_now_ms ();
  table_drain (t);
  ck_assert_uint_lt (sm_test_now_ms () - start, 100 * slow);

  io_start (&th, &io);
  wait_entered (&io);
  table_drain (t);
  done = sm_test_now_ms ();
  ck_assert (io.exited);
  ck_assert_uint_ge (done - io.entered_at, 200);
  ck_assert_uint_ge (done, io.exited_at);
  pthread_join (th, NULL);
  table_free (t);
}
END_TEST

START_TEST (test_drain_ignores_newer_io)
{
  struct table *t = new_table (64, SEG_SHIFT);
  struct io_thread old = { .t = t, .hold_ms = 200 };
  struct io_thread young = { .t = t, .hold_ms = 2000,
                             .wait_for_drain = true };
  pthread_t th_old, th_young;
  uint64_t start, done, took;

  young.epoch_before = t->epoch;
  io_start (&th_old, &old);
  wait_entered (&old);
  io_start (&th_young, &young);
  start = sm_test_now_ms ();
  table_drain (t);
  done = sm_test_now_ms ();
  took = done - start;
  /* It waited for the older I/O (not for a time: on a loaded machine
   * starting the young thread can take most of the old one's 200 ms)... */
  ck_assert (old.exited);
  ck_assert_uint_ge (done, old.exited_at);
  ck_assert_uint_ge (done - old.entered_at, 200);
  /* ... and not for the younger one. */
  ck_assert_msg (!young.exited, "the drain waited for an I/O that entered "
                 "after it started (%" PRIu64 " ms)", took);
  ck_assert_uint_lt (took, 1500 * slow);
  pthread_join (th_old, NULL);
  pthread_join (th_young, NULL);
  ck_assert (young.entered);
  table_free (t);
}
END_TEST

START_TEST (test_quiesce)
{
  struct table *t = new_table (64, SEG_SHIFT);
  struct io_thread busy = { .t = t, .hold_ms = 600 };
  struct io_thread late = { .t = t, .hold_ms = 0 };
  pthread_t th_busy, th_late;
  uint64_t start;

  /* Nothing in flight: quiesce succeeds at once; activate undoes it. */
  ck_assert_int_eq (table_quiesce (t, 1000), 0);
  ck_assert (t->quiesced);
  table_activate (t);
  ck_assert (!t->quiesced);

  io_start (&th_busy, &busy);
  wait_entered (&busy);
  start = sm_test_now_ms ();
  errno = 0;
  ck_assert_int_eq (table_quiesce (t, 100), -1);
  ck_assert_int_eq (errno, ETIMEDOUT);
  ck_assert_uint_ge (sm_test_now_ms () - start, 95);
  ck_assert (!busy.exited);
  ck_assert (t->quiesced);              /* still quiesced after timeout */

  /* New I/O waits in table_enter, even after the busy one is gone. */
  io_start (&th_late, &late);
  pthread_join (th_busy, NULL);
  sm_test_sleep_ms (200);
  ck_assert_msg (!late.entered, "table_enter returned while quiesced");
  table_activate (t);
  pthread_join (th_late, NULL);
  ck_assert (late.entered);
  ck_assert_uint_ge (late.entered_at, busy.exited_at);

  /* With the old I/O drained, a new quiesce succeeds and a drain works
   * while quiesced. */
  ck_assert_int_eq (table_quiesce (t, 1000), 0);
  table_drain (t);
  table_activate (t);
  table_free (t);
}
END_TEST

static void *
drain_thread_run (void *arg)
{
  table_drain (arg);
  return NULL;
}

/* Two drains at once (an eviction and a grow, or a blocking set_entry):
 * the second must wait for every I/O that entered before it too, also
 * for one that the first drain is still waiting for.  (If it only waits
 * for the epoch it ends, table_grow frees the old top array, and
 * table_evict leaves, under a reader's feet.) */
START_TEST (test_overlapping_drains)
{
  struct table *t = new_table (64, SEG_SHIFT);
  struct io_thread io = { .t = t, .hold_ms = 500 };
  pthread_t th_io, th_drain;
  uint64_t epoch;
  bool exited;

  io_start (&th_io, &io);
  wait_entered (&io);
  epoch = t->epoch;
  ck_assert_int_eq (pthread_create (&th_drain, NULL, drain_thread_run, t),
                    0);
  while (t->epoch == epoch)               /* the first drain has begun */
    sm_test_sleep_ms (1);
  sm_test_sleep_ms (50);
  table_drain (t);
  exited = io.exited;
  pthread_join (th_drain, NULL);
  pthread_join (th_io, NULL);
  table_free (t);
  ck_assert_msg (exited, "a drain returned while an I/O that entered "
                 "before it was still in flight (another drain was "
                 "waiting for it)");
}
END_TEST

/* A quiesce that timed out leaves its I/O in flight; a later drain
 * (say a blocking set_entry after the activate) must still wait for it. */
START_TEST (test_drain_after_quiesce_timeout)
{
  struct table *t = new_table (64, SEG_SHIFT);
  struct io_thread io = { .t = t, .hold_ms = 500 };
  pthread_t th_io;
  bool exited;

  io_start (&th_io, &io);
  wait_entered (&io);
  errno = 0;
  ck_assert_int_eq (table_quiesce (t, 50), -1);
  ck_assert_int_eq (errno, ETIMEDOUT);
  table_activate (t);
  table_drain (t);
  exited = io.exited;
  pthread_join (th_io, NULL);
  table_free (t);
  ck_assert_msg (exited, "a drain returned while an I/O that entered "
                 "before it was still in flight (a quiesce had timed out "
                 "waiting for it)");
}
END_TEST

/*----------------------------------------------------------------------
 * Concurrency stress.
 *
 * Segment 0 belongs to a "blocking setter" that stores generation G
 * there (entry_make (2, G, VALID)), drains, and only then publishes G
 * in st->drained.  A reader that looked up generation g inside its
 * epoch section, and still inside it sees st->drained > g, has caught a
 * drain that returned while an I/O that had entered before it was in
 * flight.  Readers sometimes stay in their section ~100 us, like an I/O
 * doing its storage access.
 */

#define STRESS_MS 2000
/* A run goes on past STRESS_MS until a reader has seen the setter's
 * entry and the setter has drained once: under valgrind, or on a busy
 * machine, 2 s may pass without that interleaving. */
#define STRESS_MAX_MS 60000
#define STRESS_READERS 4
#define STRESS_GROWS 8
#define STRESS_GROW_SEGMENTS (MID_SEGMENTS + 7000)  /* a new top array */
#define GEN_SEG 0

struct stress {
  struct table *t;
  _Atomic bool stop;
  _Atomic unsigned failures, drain_failures;
  _Atomic uint64_t bad_seg, bad_value, bad_gen, bad_drained;
  _Atomic uint64_t lookups, seen_valid, gen_checks, stores, evictions;
  _Atomic uint64_t grows, drained;
  _Atomic bool saw_gen;         /* a reader found GEN_SEG mapped */
  uint64_t seed;
};

static void
stress_fail (struct stress *st, uint64_t seg, sm_entry v)
{
  if (atomic_fetch_add (&st->failures, 1) == 0) {
    st->bad_seg = seg;
    st->bad_value = v;
  }
}

/* 16 random lookups (never GEN_SEG), each checked. */
static void
stress_lookups (struct stress *st, uint64_t *state, uint64_t *valid)
{
  uint64_t n = st->t->n_segments;

  for (unsigned k = 0; k < 16; k++) {
    uint64_t seg = 1 + rnd (state) % (n - 1);
    sm_entry v = table_lookup (st->t, seg);

    if (v != ENTRY_INVALID && v != mapped (seg)
        && v != (mapped (seg) | ENTRY_NOWRITE))
      stress_fail (st, seg, v);
    *valid += v != ENTRY_INVALID;
  }
}

static void *
stress_reader (void *arg)
{
  struct stress *st = arg;
  uint64_t state = st->seed ^ (uintptr_t) &state, valid = 0;
  uint64_t sections = 0, gen_checks = 0;

  while (!st->stop) {
    uint64_t e = table_enter (st->t);
    sm_entry g = table_lookup (st->t, GEN_SEG);

    stress_lookups (st, &state, &valid);
    if (sections % 8 == 0) {
      struct timespec ts = { .tv_nsec = 100000 };
      nanosleep (&ts, NULL);               /* "storage I/O" */
      stress_lookups (st, &state, &valid);
    }
    if (g != ENTRY_INVALID) {
      uint64_t drained = st->drained;
      if (gen_checks++ == 0)
        st->saw_gen = true;
      if (drained > entry_unit (g)
          && atomic_fetch_add (&st->drain_failures, 1) == 0) {
        st->bad_gen = entry_unit (g);
        st->bad_drained = drained;
      }
    }
    table_exit (st->t, e);
    sections++;
  }
  st->lookups += sections * 16;
  st->seen_valid += valid;
  st->gen_checks += gen_checks;
  return NULL;
}

/* Stores runs of correct entries; sets and clears NOWRITE; grows the
 * table STRESS_GROWS times (each time reallocating the top array, which
 * is freed after a drain while readers run). */
static void *
stress_writer (void *arg)
{
  struct stress *st = arg;
  uint64_t state = st->seed * 3 + 1, start = sm_test_now_ms (), stores = 0;
  sm_entry v[300];
  unsigned grown = 0;

  while (!st->stop) {
    uint64_t n = st->t->n_segments;
    uint64_t count = 1 + rnd (&state) % 300;
    uint64_t first = 1 + rnd (&state) % (n - 1);

    for (uint64_t i = 0; i < count; i++)
      v[i] = mapped (first + i);
    if (table_store (st->t, first, count, v, count) == -1)
      stress_fail (st, first, 0);
    if (stores % 7 == 0)
      table_set_bits (st->t, 1 + rnd (&state) % (n - 1),
                      1 + rnd (&state) % 500, ENTRY_NOWRITE,
                      rnd (&state) & 1);
    stores++;
    if (grown < STRESS_GROWS
        && sm_test_now_ms () - start > (grown + 1) * STRESS_MS / (STRESS_GROWS + 1)) {
      if (table_grow (st->t, (n + STRESS_GROW_SEGMENTS) << SEG_SHIFT) == -1)
        stress_fail (st, n, 0);
      grown++;
    }
  }
  st->stores = stores;
  st->grows = grown;
  return NULL;
}

/* A blocking set_entry, over and over, on GEN_SEG. */
static void *
stress_setter (void *arg)
{
  struct stress *st = arg;

  for (uint64_t gen = 1; !st->stop; gen++) {
    sm_entry e = entry_make (2, gen, ENTRY_VALID);

    if (table_store (st->t, GEN_SEG, 1, &e, 1) == -1)
      stress_fail (st, GEN_SEG, e);
    table_drain (st->t);
    st->drained = gen;
  }
  return NULL;
}

static void *
stress_evictor (void *arg)
{
  struct stress *st = arg;
  uint64_t state = st->seed * 5 + 3, rounds = 0;

  while (!st->stop) {
    if (rounds % 64 == 63)
      table_forget_all (st->t);
    else
      table_evict (st->t, 1 + rnd (&state) % (64 * LEAF_BYTES));
    rounds++;
  }
  st->evictions = rounds;
  return NULL;
}

START_TEST (test_stress)
{
  uint64_t n0 = 2 * MID_SEGMENTS + 100;
  struct stress st = { .t = new_table (n0, SEG_SHIFT), .seed = seed };
  void *(*const others[3]) (void *) = { stress_writer, stress_setter,
                                        stress_evictor };
  pthread_t threads[STRESS_READERS + 3];

  for (unsigned i = 0; i < STRESS_READERS + 3; i++)
    ck_assert_int_eq (pthread_create (&threads[i], NULL,
                                      i < STRESS_READERS ? stress_reader
                                      : others[i - STRESS_READERS], &st),
                      0);
  uint64_t start = sm_test_now_ms ();
  sm_test_sleep_ms (STRESS_MS);
  while (!(st.saw_gen && st.drained > 0)
         && sm_test_now_ms () - start < STRESS_MAX_MS)
    sm_test_sleep_ms (50);
  st.stop = true;
  for (unsigned i = 0; i < STRESS_READERS + 3; i++)
    pthread_join (threads[i], NULL);

  /* The accounting survived the races: forget_all leaves the top only.
   * (Checked and freed first, so that a failure below leaks nothing.) */
  uint64_t n_segments = st.t->n_segments;
  table_forget_all (st.t);
  ck_assert_uint_eq (mem.bytes, top_bytes (n_segments));
  table_free (st.t);
  ck_assert_uint_eq (mem.bytes, 0);

  ck_assert_msg (st.failures == 0,
                 "%u bad lookups/stores (seed %" PRIu64 "), first: segment %"
                 PRIu64 " read 0x%" PRIx64, st.failures, seed,
                 st.bad_seg, st.bad_value);
  ck_assert_msg (st.drain_failures == 0,
                 "%u times a reader still held generation %" PRIu64
                 " after the drain of generation %" PRIu64 " had returned "
                 "(seed %" PRIu64 ")", st.drain_failures, st.bad_gen,
                 st.bad_drained, seed);
  ck_assert_uint_gt (st.lookups, 0);
  ck_assert_uint_gt (st.seen_valid, 0);      /* the test saw real entries */
  ck_assert_uint_gt (st.gen_checks, 0);
  ck_assert_uint_gt (st.drained, 0);
  ck_assert_uint_gt (st.stores, 0);
  ck_assert_uint_gt (st.evictions, 0);
  ck_assert_uint_gt (mem.evicted_leaves, 0);
  ck_assert_uint_eq (st.grows, STRESS_GROWS);
  ck_assert_uint_eq (n_segments, n0 + STRESS_GROWS * STRESS_GROW_SEGMENTS);
}
END_TEST


/*----------------------------------------------------------------------
 * Known zeros, grants, fault answers.
 */

static const sm_entry ZERO = ENTRY_ZERO_SEGMENT;

/* The ALLOCATED messages a claim would send: counted, or refused. */
static unsigned notified;
static bool notify_fails;

static int
count_notify (void *opaque, sm_entry e)
{
  (void) opaque;
  (void) e;
  if (notify_fails)
    return -1;
  notified++;
  return 0;
}

/* table_claim: the claimed entry, or ENTRY_INVALID if there was none. */
static sm_entry
claim (struct table *t, uint64_t seg, bool *grew)
{
  sm_entry e;
  int r = table_claim (t, seg, count_notify, NULL, &e, grew);

  ck_assert_int_ge (r, 0);
  return r == 1 ? e : ENTRY_INVALID;
}

START_TEST (test_zero_hint_sentinels)
{
  uint64_t n = 3 * MID_SEGMENTS + 100;
  struct table *t = new_table (n, SEG_SHIFT);
  uint64_t base = mem.bytes;

  /* An answer for segment 10 that ends at 100 zeros: the loaded leaf
   * gets its INVALID entries filled in, the partial absent leaf after
   * it stays INVALID. */
  ck_assert_int_eq (table_load (t, 10, 1, &ZERO, 90, 0), 0);
  ck_assert_uint_eq (get (t, 9), ENTRY_INVALID);
  for (uint64_t seg = 10; seg < 64; seg++)
    EXPECT (get (t, seg) == ZERO);
  ck_assert_uint_eq (get (t, 64), ENTRY_INVALID);
  ck_assert_uint_eq (mem.bytes, base + MID_BYTES + LEAF_BYTES);
  /* The rest of the table is zero: whole absent leaves and mids become
   * sentinels (the last, short mid too: it reaches the end), at no
   * cost. */
  ck_assert_int_eq (table_load (t, 5, 1, &ZERO, n - 6, 0), 0);
  for (uint64_t seg = 5; seg < MID_SEGMENTS + 100; seg++)
    EXPECT (get (t, seg) == ZERO);
  ck_assert_uint_eq (get (t, 4), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 2 * MID_SEGMENTS + 12345), ZERO);
  ck_assert_uint_eq (get (t, n - 1), ZERO);
  ck_assert_uint_eq (mem.bytes, base + MID_BYTES + LEAF_BYTES);
  /* Eviction frees the one real leaf (and its mid), never a sentinel;
   * forget_all drops them all. */
  ck_assert_uint_eq (table_evict (t, UINT64_MAX), LEAF_BYTES + MID_BYTES);
  ck_assert_uint_eq (get (t, 5), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 1), ZERO);
  table_forget_all (t);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 1), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, n - 1), ENTRY_INVALID);
  ck_assert_uint_eq (mem.bytes, base);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

START_TEST (test_claim)
{
  uint64_t n = 2 * MID_SEGMENTS;
  struct table *t = new_table (n, SEG_SHIFT);
  sm_entry g[2] = { mapped (100000), mapped (100001) };
  uint64_t base;
  bool grew;

  notified = 0;
  ck_assert_int_eq (table_load (t, 0, 1, &ZERO, n - 1, 0), 0);
  /* No grants: nothing to claim. */
  ck_assert_uint_eq (claim (t, MID_SEGMENTS + 3, &grew), ENTRY_INVALID);
  ck_assert_int_eq (table_add_grants (t, g, 2), 0);
  ck_assert_uint_eq (table_grants (t), 2);
  base = mem.bytes;
  /* A claim in a sentinel mid copies it: one mid and one leaf.  Grants
   * go in the order granted. */
  ck_assert_uint_eq (claim (t, MID_SEGMENTS + 3, &grew), g[0]);
  ck_assert (grew);
  ck_assert_uint_eq (mem.bytes, base + MID_BYTES + LEAF_BYTES);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 3), g[0]);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 2), ZERO);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 64), ZERO);
  ck_assert_uint_eq (table_grants (t), 1);
  /* A mapped entry, an INVALID one, or past the end: no claim. */
  ck_assert_uint_eq (claim (t, MID_SEGMENTS + 3, &grew), ENTRY_INVALID);
  table_store (t, 7, 1, (sm_entry[]) { ENTRY_INVALID }, 1);
  ck_assert_uint_eq (claim (t, 7, &grew), ENTRY_INVALID);
  ck_assert_uint_eq (claim (t, n, &grew), ENTRY_INVALID);
  ck_assert_uint_eq (table_grants (t), 1);
  /* A later answer computed before the controller saw the claim does
   * not undo it; it does fill INVALID and ZERO entries. */
  sm_entry answer[3] = { ZERO, ZERO, mapped (9) };
  ck_assert_int_eq (table_load (t, MID_SEGMENTS + 3, 3, answer, 0, 0), 0);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 3), g[0]);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 4), ZERO);
  ck_assert_uint_eq (get (t, MID_SEGMENTS + 5), mapped (9));
  /* A claim whose ALLOCATED cannot be sent changes nothing. */
  notify_fails = true;
  ck_assert_int_eq (table_claim (t, 6, count_notify, NULL, &answer[0], &grew),
                    -1);
  notify_fails = false;
  ck_assert_uint_eq (get (t, 6), ZERO);
  ck_assert_uint_eq (table_grants (t), 1);
  /* Grants added later are used after the ones still held. */
  ck_assert_int_eq (table_add_grants (t, &answer[2], 1), 0);
  ck_assert_uint_eq (claim (t, 6, &grew), g[1]);
  ck_assert (!grew);                    /* leaf 0 was already private */
  ck_assert_uint_eq (table_grants (t), 1);
  ck_assert_uint_eq (claim (t, 8, &grew), mapped (9));
  ck_assert_uint_eq (table_grants (t), 0);
  ck_assert_uint_eq (notified, 3);
  ck_assert_uint_eq (table_claim_seq (t), 3);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

START_TEST (test_answer_after_eviction_dropped)
{
  struct table *t = new_table (1000, SEG_SHIFT);
  uint64_t seq = table_claim_seq (t);
  sm_entry g = mapped (500), m7 = mapped (7);
  bool grew;

  ck_assert_int_eq (table_load (t, 0, 1, &ZERO, 999, seq), 0);
  ck_assert_int_eq (table_add_grants (t, &g, 1), 0);
  /* A fault for segment 200 is sent (seq), segment 100 is claimed, its
   * leaf evicted before the controller has seen the ALLOCATED, and the
   * fault's answer (all zero) arrives: it must not bring 100 back as
   * ZERO, so nothing of it is applied. */
  ck_assert_uint_eq (claim (t, 100, &grew), g);
  ck_assert_uint_gt (table_evict (t, UINT64_MAX), 0);
  ck_assert_uint_eq (get (t, 100), ENTRY_INVALID);
  ck_assert_int_eq (table_load (t, 200, 1, &ZERO, 799, seq), 1);
  ck_assert_uint_eq (get (t, 200), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 100), ENTRY_INVALID);
  /* An answer to a fault sent after the claim applies, even after more
   * evictions of leaves without later claims. */
  seq = table_claim_seq (t);
  ck_assert_int_eq (table_load (t, 7, 1, &m7, 0, seq), 0);
  ck_assert_uint_gt (table_evict (t, UINT64_MAX), 0);
  ck_assert_int_eq (table_load (t, 200, 1, &ZERO, 0, seq), 0);
  ck_assert_uint_eq (get (t, 200), ZERO);
  table_free (t);
}
END_TEST

START_TEST (test_sentinels_forgotten)
{
  uint64_t n = MID_SEGMENTS + 10;
  struct table *t = new_table (n, SEG_SHIFT);
  sm_entry inv = ENTRY_INVALID;

  ck_assert_int_eq (table_load (t, 0, 1, &ZERO, n - 1, 0), 0);
  ck_assert_uint_eq (get (t, 100), ZERO);
  /* set_status on a known-zero leaf forgets it (INVALID) rather than
   * leave its zeros without the bit. */
  table_set_bits (t, 100, 1, ENTRY_NOWRITE, true);
  ck_assert_uint_eq (get (t, 100), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, 128), ZERO);
  /* Storing INVALID (the controller's forget) drops a sentinel. */
  ck_assert_int_eq (table_store (t, 130, 1, &inv, 1), 0);
  ck_assert_uint_eq (get (t, 150), ENTRY_INVALID);
  /* The sentinel at the end (the short last mid) is forgotten when the
   * table grows: the new segments are not known. */
  ck_assert_uint_eq (get (t, n - 1), ZERO);
  ck_assert_int_eq (table_grow (t, (n + MID_SEGMENTS) << SEG_SHIFT), 0);
  ck_assert_uint_eq (get (t, n - 1), ENTRY_INVALID);
  ck_assert_uint_eq (get (t, n + 5), ENTRY_INVALID);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

/* An I/O inside its epoch claims a segment while the table grows (a
 * vdisk resize under first writes): the grow's drain waits for the I/O,
 * so the grow must not hold the table lock the claim needs.  Both must
 * finish within a deadline (a deadlock fails instead of hanging). */
struct claim_during_grow {
  struct table *t;
  uint64_t new_size;
  _Atomic bool grow_started, claimed, grown;
  int r_grow, r_claim;
};

static void *
grow_thread (void *arg)
{
  struct claim_during_grow *c = arg;

  atomic_store (&c->grow_started, true);
  c->r_grow = table_grow (c->t, c->new_size);
  atomic_store (&c->grown, true);
  return NULL;
}

static void *
claim_thread (void *arg)
{
  struct claim_during_grow *c = arg;
  uint64_t ep = table_enter (c->t);
  pthread_t grower;
  sm_entry e;
  bool grew;

  /* Start the grow while we hold the epoch; give it time to reach its
   * drain, then claim. */
  pthread_create (&grower, NULL, grow_thread, c);
  while (!atomic_load (&c->grow_started))
    sm_test_sleep_ms (1);
  sm_test_sleep_ms (100 * slow);
  c->r_claim = table_claim (c->t, 5, count_notify, NULL, &e, &grew);
  atomic_store (&c->claimed, true);
  table_exit (c->t, ep);
  pthread_join (grower, NULL);
  return NULL;
}

START_TEST (test_claim_during_grow)
{
  uint64_t n = MID_SEGMENTS;               /* one top slot */
  struct table *t = new_table (n, SEG_SHIFT);
  sm_entry grant = entry_make (1, 77, ENTRY_VALID);
  struct claim_during_grow c = { .t = t,
                                 .new_size = (4 * n) << SEG_SHIFT };
  pthread_t th;
  uint64_t deadline;

  ck_assert_int_eq (table_load (t, 0, 1, &ZERO, n - 1, 0), 0);
  ck_assert_int_eq (table_add_grants (t, &grant, 1), 0);
  notify_fails = false;
  pthread_create (&th, NULL, claim_thread, &c);
  deadline = sm_test_now_ms () + 10000 * slow;
  while (!(atomic_load (&c.claimed) && atomic_load (&c.grown))
         && sm_test_now_ms () < deadline)
    sm_test_sleep_ms (10);
  if (!atomic_load (&c.claimed) || !atomic_load (&c.grown))
    ck_abort_msg ("deadlock: claimed %d, grown %d after 10 s",
                  atomic_load (&c.claimed), atomic_load (&c.grown));
  pthread_join (th, NULL);
  ck_assert_int_eq (c.r_claim, 1);
  ck_assert_int_eq (c.r_grow, 0);
  ck_assert_uint_eq (get (t, 5), grant);
  ck_assert_uint_eq (t->n_segments, 4 * n);
  table_free (t);
  ck_assert_uint_eq (mem.bytes, 0);
}
END_TEST

static Suite *
table_suite (void)
{
  Suite *s = suite_create ("table");
  TCase *tc = tcase_create ("table");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);           /* valgrind */
  tcase_add_test (tc, test_new_all_invalid);
  tcase_add_test (tc, test_store_one_entry_for_range);
  tcase_add_test (tc, test_store_per_entry);
  tcase_add_test (tc, test_store_invalid_then_valid);
  tcase_add_test (tc, test_store_last_segment_and_past_end);
  tcase_add_test (tc, test_store_invalid_never_allocates);
  tcase_add_test (tc, test_set_bits);
  tcase_add_test (tc, test_grow);
  tcase_add_test (tc, test_huge_table_memory);
  tcase_add_test (tc, test_evict_clock);
  tcase_add_test (tc, test_evict_everything);
  tcase_add_test (tc, test_evict_want_counts_mids);
  tcase_add_test (tc, test_drain_waits_for_older_io);
  tcase_add_test (tc, test_drain_ignores_newer_io);
  tcase_add_test (tc, test_quiesce);
  tcase_add_test (tc, test_overlapping_drains);
  tcase_add_test (tc, test_drain_after_quiesce_timeout);
  tcase_add_test (tc, test_zero_hint_sentinels);
  tcase_add_test (tc, test_claim);
  tcase_add_test (tc, test_claim_during_grow);
  tcase_add_test (tc, test_answer_after_eviction_dropped);
  tcase_add_test (tc, test_sentinels_forgotten);
  tcase_add_test (tc, test_stress);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  const char *vg = getenv ("SEGMAP_VALGRIND");

  if (vg && strcmp (vg, "1") == 0)
    slow = 10;
  return sm_test_run (table_suite ());
}
