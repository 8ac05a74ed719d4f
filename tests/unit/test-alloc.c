/* segmap: unit tests of the free-space allocator (src/controller/alloc.c).
 *
 * The allocator promises first fit: alloc_get returns the lowest free
 * run of the size asked, aligned to it.  That makes it exactly
 * predictable, so the randomized test compares every answer with a
 * one-byte-per-unit reference model, not just its validity.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "controller/alloc.h"

/* libcheck's ck_assert_* records every passing check through a pipe
 * or file, which costs a system call each; the hot loops below use
 * these instead, which call into libcheck only on failure. */
#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond))                                                        \
      ck_abort_msg ("%s:%d: failed: %s", __FILE__, __LINE__, #cond);    \
  } while (0)
#define EXPECT_EQ(x, y)                                                 \
  do {                                                                  \
    uint64_t x_ = (x), y_ = (y);                                        \
    if (x_ != y_)                                                       \
      ck_abort_msg ("%s:%d: failed: %s == %s (%" PRIu64 " != %" PRIu64  \
                    ")", __FILE__, __LINE__, #x, #y, x_, y_);           \
  } while (0)

/* sm_error calls are counted, and the last message kept. */
static unsigned n_errors;
static char last_error[256];

static void
error_sink (const char *fmt, va_list args)
{
  n_errors++;
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

static void
setup (void)
{
  sm_set_log_sinks (error_sink, NULL);
  n_errors = 0;
  last_error[0] = '\0';
}

static void
teardown (void)
{
  sm_set_log_sinks (NULL, NULL);
}

/* A deterministic PRNG (xorshift64*). */
static uint64_t rng_state;

static uint64_t
rng (void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t
rng_below (uint64_t n)
{
  return rng () % n;
}

/* Expect alloc_get to fail with ENOSPC and no message. */
static void
expect_enospc (struct alloc *a, uint64_t units)
{
  uint64_t unit = 12345;
  unsigned before = n_errors;

  errno = 0;
  EXPECT_EQ (alloc_get (a, units, &unit), -1);
  EXPECT_EQ (errno, ENOSPC);
  EXPECT_EQ (n_errors, before);
  EXPECT_EQ (unit, 12345);
}

/* Every power-of-two size: results are aligned, disjoint, in range, and
 * exhaust exactly the aligned blocks that were free. */
START_TEST (test_alignment)
{
  const uint64_t n = 5 * 1024 + 37;
  uint64_t units, unit, got;

  for (units = 1; units <= 1024; units *= 2) {
    struct alloc *a = alloc_new (n);
    ck_assert_ptr_nonnull (a);
    EXPECT_EQ (alloc_get (a, 1, &unit), 0);
    EXPECT_EQ (unit, 0);
    for (got = 0; alloc_get (a, units, &unit) == 0; got++) {
      EXPECT_EQ (unit % units, 0);
      EXPECT (unit + units <= n);
      EXPECT_EQ (unit, units == 1 ? got + 1 : (got + 1) * units);
      EXPECT (alloc_is_used (a, unit, units));
    }
    EXPECT_EQ (errno, ENOSPC);
    EXPECT_EQ (got, units == 1 ? n - 1 : n / units - 1);
    EXPECT_EQ (alloc_used_units (a), 1 + got * units);
    alloc_free (a);
  }
  EXPECT_EQ (n_errors, 0);
}
END_TEST

START_TEST (test_exhaustion)
{
  struct alloc *a = alloc_new (100);
  uint64_t i, unit;

  expect_enospc (a, 128);       /* larger than the container */
  for (i = 0; i < 100; i++) {
    ck_assert_int_eq (alloc_get (a, 1, &unit), 0);
    ck_assert_uint_eq (unit, i);
  }
  ck_assert_uint_eq (alloc_used_units (a), 100);
  ck_assert_uint_eq (alloc_total_units (a), 100);
  expect_enospc (a, 1);
  expect_enospc (a, 2);
  expect_enospc (a, 64);
  /* Not a power of two: an error, with a message. */
  ck_assert_int_eq (alloc_get (a, 3, &unit), -1);
  ck_assert_int_eq (errno, EINVAL);
  ck_assert_uint_eq (n_errors, 1);
  ck_assert_int_eq (alloc_get (a, 0, &unit), -1);
  ck_assert_int_eq (errno, EINVAL);
  alloc_free (a);

  a = alloc_new (0);            /* an empty container is valid, and full */
  ck_assert_ptr_nonnull (a);
  expect_enospc (a, 1);
  alloc_free (a);
}
END_TEST

START_TEST (test_put_reuse)
{
  struct alloc *a = alloc_new (64 * 5);
  uint64_t i, unit;

  for (i = 0; i < 64 * 5; i++)
    ck_assert_int_eq (alloc_get (a, 1, &unit), 0);
  alloc_put (a, 77, 1);
  ck_assert (!alloc_is_used (a, 77, 1));
  ck_assert (alloc_is_used (a, 76, 2));
  ck_assert_int_eq (alloc_get (a, 1, &unit), 0);
  ck_assert_uint_eq (unit, 77);

  alloc_put (a, 9, 3);          /* 9..11: no aligned pair except 10 */
  ck_assert_int_eq (alloc_get (a, 2, &unit), 0);
  ck_assert_uint_eq (unit, 10);
  expect_enospc (a, 2);
  ck_assert_int_eq (alloc_get (a, 1, &unit), 0);
  ck_assert_uint_eq (unit, 9);

  alloc_put (a, 200, 8);
  alloc_put (a, 128, 64);
  expect_enospc (a, 128);
  ck_assert_int_eq (alloc_get (a, 64, &unit), 0);
  ck_assert_uint_eq (unit, 128);
  ck_assert_int_eq (alloc_get (a, 8, &unit), 0);
  ck_assert_uint_eq (unit, 200);
  ck_assert_uint_eq (alloc_used_units (a), 64 * 5);
  alloc_free (a);
}
END_TEST

START_TEST (test_mark_used)
{
  struct alloc *a = alloc_new (1000);
  uint64_t unit;

  ck_assert_int_eq (alloc_mark_used (a, 10, 5), 0);
  ck_assert_int_eq (alloc_mark_used (a, 999, 1), 0);
  ck_assert_uint_eq (n_errors, 0);

  ck_assert_int_eq (alloc_mark_used (a, 12, 1), -1);
  ck_assert_int_eq (errno, EEXIST);
  ck_assert_int_eq (alloc_mark_used (a, 0, 11), -1);
  ck_assert_int_eq (errno, EEXIST);
  ck_assert_int_eq (alloc_mark_used (a, 995, 6), -1);
  ck_assert_int_eq (errno, ERANGE);
  ck_assert_int_eq (alloc_mark_used (a, 1000, 1), -1);
  ck_assert_int_eq (errno, ERANGE);
  ck_assert_int_eq (alloc_mark_used (a, UINT64_MAX, 2), -1);
  ck_assert_int_eq (errno, ERANGE);
  ck_assert_int_eq (alloc_mark_used (a, 5, 0), -1);
  ck_assert_int_eq (errno, ERANGE);
  ck_assert_uint_eq (n_errors, 6);
  ck_assert_ptr_nonnull (strstr (last_error, "outside"));

  /* The refused calls changed nothing. */
  ck_assert_uint_eq (alloc_used_units (a), 6);
  ck_assert (!alloc_is_used (a, 0, 10));
  ck_assert (!alloc_is_used (a, 15, 984));
  ck_assert (alloc_is_used (a, 998, 5)); /* past the end counts as used */
  ck_assert_int_eq (alloc_get (a, 16, &unit), 0);
  ck_assert_uint_eq (unit, 16);
  ck_assert_int_eq (alloc_get (a, 8, &unit), 0);
  ck_assert_uint_eq (unit, 0);
  alloc_free (a);
}
END_TEST

/* Collect free runs, checking order and maximality on the way. */
struct runs {
  const unsigned char *model;   /* 1 = used, or NULL */
  uint64_t n, free, next, count, stop_at;
};

static int
collect_run (void *opaque, uint64_t unit, uint64_t units)
{
  struct runs *r = opaque;
  uint64_t i;

  EXPECT (units > 0);
  EXPECT (unit >= r->next);
  EXPECT (r->count == 0 || unit > r->next);  /* maximal: a gap between */
  EXPECT (unit + units <= r->n);
  if (r->model != NULL) {
    for (i = r->next; i < unit; i++)
      EXPECT_EQ (r->model[i], 1);
    for (i = unit; i < unit + units; i++)
      EXPECT_EQ (r->model[i], 0);
  }
  r->free += units;
  r->next = unit + units;
  return ++r->count == r->stop_at ? 42 : 0;
}

/* Check alloc_foreach_free against MODEL (n units, 1 = used). */
static void
check_complement (struct alloc *a, const unsigned char *model, uint64_t n)
{
  struct runs r = { .model = model, .n = n };
  uint64_t i;

  EXPECT_EQ (alloc_foreach_free (a, collect_run, &r), 0);
  for (i = r.next; i < n; i++)
    EXPECT_EQ (model[i], 1);
  EXPECT_EQ (r.free, n - alloc_used_units (a));
}

START_TEST (test_foreach_free)
{
  const uint64_t n = 3000 + 11;
  unsigned char *model = calloc (n, 1);
  struct alloc *a = alloc_new (n);
  struct runs r = { .n = n, .stop_at = 3 };
  uint64_t i, unit, len;

  rng_state = 0x5eed;
  check_complement (a, model, n);
  for (i = 0; i < 200; i++) {
    unit = rng_below (n);
    len = 1 + rng_below (n - unit < 40 ? n - unit : 40);
    if (alloc_mark_used (a, unit, len) == 0)
      memset (model + unit, 1, len);
  }
  check_complement (a, model, n);
  free (model);
  alloc_free (a);

  a = alloc_new (n);
  ck_assert_int_eq (alloc_mark_used (a, 1, 1), 0);
  ck_assert_int_eq (alloc_mark_used (a, 3, 1), 0);
  ck_assert_int_eq (alloc_mark_used (a, 5, 1), 0);
  ck_assert_int_eq (alloc_foreach_free (a, collect_run, &r), 42);
  ck_assert_uint_eq (r.count, 3);   /* stopped after the third run */
  ck_assert_uint_eq (r.next, 5);
  alloc_free (a);
}
END_TEST

START_TEST (test_foreach_edges)
{
  const uint64_t n = 64 * 4 + 3;
  unsigned char *model = calloc (n, 1);
  struct alloc *a = alloc_new (n);

  check_complement (a, model, n);   /* one run: everything */
  ck_assert_int_eq (alloc_mark_used (a, 0, 64), 0);
  ck_assert_int_eq (alloc_mark_used (a, n - 1, 1), 0);
  ck_assert_int_eq (alloc_mark_used (a, 127, 2), 0);
  memset (model, 1, 64);
  model[n - 1] = model[127] = model[128] = 1;
  check_complement (a, model, n);
  ck_assert_int_eq (alloc_mark_used (a, 0, n - 1), -1);
  alloc_put (a, 0, 64);
  alloc_put (a, 127, 2);
  ck_assert_int_eq (alloc_mark_used (a, 0, n - 1), 0);
  memset (model, 1, n);
  check_complement (a, model, n);   /* no run at all */
  free (model);
  alloc_free (a);
}
END_TEST

START_TEST (test_grow)
{
  struct alloc *a = alloc_new (100);
  uint64_t unit, i;

  for (i = 0; i < 100; i++)
    ck_assert_int_eq (alloc_get (a, 1, &unit), 0);
  expect_enospc (a, 1);
  ck_assert_int_eq (alloc_grow (a, 50), 0);     /* never shrinks */
  ck_assert_uint_eq (alloc_total_units (a), 100);
  ck_assert_int_eq (alloc_grow (a, 300), 0);
  ck_assert_uint_eq (alloc_total_units (a), 300);
  ck_assert_uint_eq (alloc_used_units (a), 100);
  ck_assert (alloc_is_used (a, 0, 100));
  ck_assert (!alloc_is_used (a, 100, 200));
  ck_assert_int_eq (alloc_get (a, 64, &unit), 0);
  ck_assert_uint_eq (unit, 128);
  ck_assert_int_eq (alloc_get (a, 1, &unit), 0);
  ck_assert_uint_eq (unit, 100);
  expect_enospc (a, 128);       /* 128..255 is split, 256.. too short */
  ck_assert_int_eq (alloc_grow (a, 1 << 20), 0);
  ck_assert_int_eq (alloc_get (a, 1024, &unit), 0);
  ck_assert_uint_eq (unit, 1024);
  ck_assert_int_eq (alloc_grow (a, ALLOC_MAX_UNITS + 1), -1);
  ck_assert_int_eq (errno, ERANGE);
  ck_assert_uint_eq (alloc_total_units (a), 1 << 20);
  alloc_free (a);
  ck_assert_ptr_null (alloc_new (ALLOC_MAX_UNITS + 1));
  ck_assert_int_eq (errno, ERANGE);
}
END_TEST

/* The reference model for the randomized test. */
struct model {
  unsigned char *used;
  uint64_t n, n_used;
  struct { uint64_t unit, units; } *live;
  size_t n_live;
};

static bool
model_free (const struct model *m, uint64_t unit, uint64_t units)
{
  uint64_t i;

  for (i = unit; i < unit + units; i++)
    if (m->used[i])
      return false;
  return true;
}

static void
model_set (struct model *m, uint64_t unit, uint64_t units, int used)
{
  memset (m->used + unit, used, units);
  m->n_used = used ? m->n_used + units : m->n_used - units;
  if (used) {
    m->live[m->n_live].unit = unit;
    m->live[m->n_live++].units = units;
  }
}

/* First fit, as the allocator promises: the lowest aligned free run. */
static int64_t
model_get (const struct model *m, uint64_t units)
{
  uint64_t p;

  for (p = 0; p + units <= m->n; p += units)
    if (model_free (m, p, units))
      return p;
  return -1;
}

static void
random_get (struct alloc *a, struct model *m)
{
  uint64_t units = UINT64_C(1) << (rng_below (4) ? rng_below (4)
                                  : rng_below (11));
  int64_t want = model_get (m, units);
  uint64_t unit;

  if (want == -1) {
    expect_enospc (a, units);
    return;
  }
  EXPECT_EQ (alloc_get (a, units, &unit), 0);
  EXPECT_EQ (unit, want);
  model_set (m, unit, units, 1);
}

static void
random_put (struct alloc *a, struct model *m)
{
  size_t i;

  if (m->n_live == 0)
    return;
  i = rng_below (m->n_live);
  alloc_put (a, m->live[i].unit, m->live[i].units);
  model_set (m, m->live[i].unit, m->live[i].units, 0);
  m->live[i] = m->live[--m->n_live];
}

static void
random_mark (struct alloc *a, struct model *m)
{
  uint64_t unit = rng_below (m->n + 10), units = 1 + rng_below (50);
  unsigned before = n_errors;
  int r = alloc_mark_used (a, unit, units);

  if (unit + units > m->n) {
    EXPECT_EQ (r, -1);
    EXPECT_EQ (errno, ERANGE);
  }
  else if (!model_free (m, unit, units)) {
    EXPECT_EQ (r, -1);
    EXPECT_EQ (errno, EEXIST);
  }
  else {
    EXPECT_EQ (r, 0);
    model_set (m, unit, units, 1);
  }
  EXPECT_EQ (n_errors, before + (r == -1));
}

static void
random_query (struct alloc *a, struct model *m)
{
  uint64_t unit = rng_below (m->n), units = 1 + rng_below (200);
  bool want = unit + units > m->n || !model_free (m, unit, units);

  EXPECT_EQ (alloc_is_used (a, unit, units), want);
}

static void
random_grow (struct alloc *a, struct model *m)
{
  uint64_t n = m->n + rng_below (700);

  EXPECT_EQ (alloc_grow (a, n), 0);
  m->used = realloc (m->used, n);
  memset (m->used + m->n, 0, n - m->n);
  m->n = n;
}

START_TEST (test_reserve)
{
  struct alloc *a = alloc_new (64);
  uint64_t r1, r2, u;

  /* A reservation takes space like alloc_get but is not "used". */
  ck_assert_int_eq (alloc_reserve (a, 16, &r1), 0);
  ck_assert_int_eq (alloc_reserve (a, 16, &r2), 0);
  ck_assert_uint_eq (r1, 0);
  ck_assert_uint_eq (r2, 16);
  ck_assert_uint_eq (alloc_used_units (a), 0);
  ck_assert_uint_eq (alloc_reserved_units (a), 32);
  ck_assert (alloc_is_used (a, r1, 16));
  /* alloc_get never hands reserved space out. */
  ck_assert_int_eq (alloc_get (a, 16, &u), 0);
  ck_assert_uint_eq (u, 32);
  ck_assert_uint_eq (alloc_used_units (a), 16);
  /* Used: it now counts as used. */
  alloc_use_reserved (a, r2, 16);
  ck_assert_uint_eq (alloc_used_units (a), 32);
  ck_assert_uint_eq (alloc_reserved_units (a), 16);
  /* Unreserved: free again, and the lowest fit hands it out next. */
  alloc_unreserve (a, r1, 16);
  ck_assert_uint_eq (alloc_reserved_units (a), 0);
  ck_assert_uint_eq (alloc_used_units (a), 32);
  ck_assert (!alloc_is_used (a, r1, 16));
  ck_assert_int_eq (alloc_get (a, 16, &u), 0);
  ck_assert_uint_eq (u, 0);
  /* Full: a reservation fails like alloc_get, changing nothing. */
  ck_assert_int_eq (alloc_reserve (a, 16, &u), 0);
  errno = 0;
  ck_assert_int_eq (alloc_reserve (a, 1, &u), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_uint_eq (alloc_used_units (a) + alloc_reserved_units (a), 64);
  alloc_free (a);
}
END_TEST

START_TEST (test_random)
{
  const unsigned ops = 100000, max_n = 3000 + 20 * 700;
  struct model m = { .n = 3000 - 5 };
  struct alloc *a = alloc_new (m.n);
  const char *seed = getenv ("SEGMAP_TEST_SEED");
  unsigned i, r;

  rng_state = seed ? strtoull (seed, NULL, 0) : 0x5e93a9;
  m.used = calloc (m.n, 1);
  m.live = calloc (max_n, sizeof *m.live);
  for (i = 0; i < ops; i++) {
    r = rng_below (1000);
    if (m.n_used * 10 > m.n * 9 && r < 600)
      r = 600;                  /* keep it near 90% full at worst */
    if (r < 480) random_get (a, &m);
    else if (r < 900) random_put (a, &m);
    else if (r < 950) random_query (a, &m);
    else if (r < 990) random_mark (a, &m);
    else if (r < 991) {
      if (rng_below (10) == 0 && m.n + 700 <= max_n)
        random_grow (a, &m);
    }
    else check_complement (a, m.used, m.n);
    EXPECT_EQ (alloc_used_units (a), m.n_used);
    EXPECT_EQ (alloc_total_units (a), m.n);
  }
  check_complement (a, m.used, m.n);
  free (m.used);
  free (m.live);
  alloc_free (a);
}
END_TEST

static Suite *
alloc_suite (void)
{
  Suite *s = suite_create ("alloc");
  TCase *tc = tcase_create ("alloc");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 600);  /* the random test under valgrind */
  tcase_add_test (tc, test_alignment);
  tcase_add_test (tc, test_exhaustion);
  tcase_add_test (tc, test_put_reuse);
  tcase_add_test (tc, test_mark_used);
  tcase_add_test (tc, test_foreach_free);
  tcase_add_test (tc, test_foreach_edges);
  tcase_add_test (tc, test_grow);
  tcase_add_test (tc, test_reserve);
  tcase_add_test (tc, test_random);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (alloc_suite ());
}
