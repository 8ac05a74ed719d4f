/* segmap: unit tests of the agent's cache of changed-block marks
 * (src/agent/marks.h, src/agent/marks.c).
 *
 * What is checked: an empty cache covers nothing (and allocates
 * nothing); an added range covers exactly the 4 KiB blocks it touches
 * (partial blocks count whole, block boundaries, the segment's last
 * block, nothing of another segment); marks_add with a stale generation
 * (a forget came between the fault and its answer) adds nothing;
 * forgetting a range drops only its segments, forgetting more segments
 * than there are slots drops everything; a segment that evicts another
 * from its slot starts with no marks; the slot count follows the
 * bitmap size (1 MiB and 64 MiB segments).
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "agent/marks.h"
#include "common/limits.h"
#include "test-util.h"

#define B SM_BLOCK_SIZE
#define SEG1M 20

START_TEST (test_empty)
{
  struct marks m;

  marks_init (&m, SEG1M);
  ck_assert (!marks_cover (&m, 0, 0, B, NULL));
  ck_assert (!marks_cover (&m, 5, 0, 1, NULL));
  ck_assert_uint_eq (m.n_slots, 0);
  ck_assert_uint_eq (m.n_bytes, 32);
  marks_destroy (&m);
}
END_TEST

START_TEST (test_blocks)
{
  struct marks m;
  uint64_t gen;

  marks_init (&m, SEG1M);
  gen = marks_generation (&m);
  marks_add (&m, 3, B + 100, 10, gen);          /* block 1 only */
  ck_assert (marks_cover (&m, 3, B, B, NULL));
  ck_assert (marks_cover (&m, 3, B + 4000, 96, NULL));
  ck_assert (!marks_cover (&m, 3, B - 1, 2, NULL));   /* blocks 0 and 1 */
  ck_assert (!marks_cover (&m, 3, 2 * B, 1, NULL));
  ck_assert (!marks_cover (&m, 4, B, B, NULL));       /* another segment */
  ck_assert (!marks_cover (&m, 3, B, 0, NULL));       /* nothing to write */
  marks_add (&m, 3, 0, B, gen);
  ck_assert (marks_cover (&m, 3, B - 1, 2, NULL));
  /* The last block of the segment, and a range across many blocks. */
  marks_add (&m, 3, (1 << SEG1M) - 1, 1, gen);
  ck_assert (marks_cover (&m, 3, (1 << SEG1M) - B, B, NULL));
  marks_add (&m, 9, 10 * B + 1, 5 * B, gen);     /* blocks 10..15 */
  for (unsigned b = 10; b <= 15; b++)
    ck_assert (marks_cover (&m, 9, b * B, B, NULL));
  ck_assert (!marks_cover (&m, 9, 9 * B, B, NULL));
  ck_assert (!marks_cover (&m, 9, 16 * B, B, NULL));
  marks_destroy (&m);
}
END_TEST

START_TEST (test_generation)
{
  struct marks m;
  uint64_t gen;

  marks_init (&m, SEG1M);
  gen = marks_generation (&m);
  marks_forget (&m, 100, 1);                    /* a snapshot came */
  marks_add (&m, 7, 0, B, gen);                 /* a stale answer */
  ck_assert (!marks_cover (&m, 7, 0, B, NULL));
  marks_add (&m, 7, 0, B, marks_generation (&m));
  ck_assert (marks_cover (&m, 7, 0, B, NULL));
  marks_destroy (&m);
}
END_TEST

START_TEST (test_forget)
{
  struct marks m;

  marks_init (&m, SEG1M);
  marks_add (&m, 1, 0, B, marks_generation (&m));
  marks_add (&m, 2, 0, B, marks_generation (&m));
  marks_forget (&m, 2, 1);
  ck_assert (marks_cover (&m, 1, 0, B, NULL));
  ck_assert (!marks_cover (&m, 2, 0, B, NULL));
  marks_forget (&m, 0, UINT64_MAX);             /* all of them */
  ck_assert (!marks_cover (&m, 1, 0, B, NULL));
  marks_destroy (&m);
}
END_TEST

/* Two segments in one slot: the newer evicts the older's marks. */
START_TEST (test_eviction)
{
  struct marks m;
  uint64_t other = 0;

  marks_init (&m, SEG1M);
  marks_add (&m, 0, 0, B, marks_generation (&m));
  for (uint64_t seg = 1; seg < 1000000 && other == 0; seg++) {
    uint64_t gen = marks_generation (&m);
    marks_add (&m, seg, 2 * B, B, gen);
    if (!marks_cover (&m, 0, 0, B, NULL))
      other = seg;                              /* it took 0's slot */
    else
      marks_forget (&m, seg, 1);
  }
  ck_assert_uint_ne (other, 0);
  ck_assert (!marks_cover (&m, other, 0, B, NULL));   /* not 0's marks */
  ck_assert (marks_cover (&m, other, 2 * B, B, NULL));
  marks_destroy (&m);
}
END_TEST

START_TEST (test_sizes)
{
  struct marks big, small;

  marks_init (&small, SEG1M);
  marks_init (&big, 26);                        /* 64 MiB segments */
  marks_add (&small, 0, 0, B, 0);
  marks_add (&big, 0, 0, B, 0);
  ck_assert_uint_eq (big.n_bytes, 2048);
  ck_assert_uint_gt (small.n_slots, big.n_slots);
  ck_assert_uint_le ((uint64_t) small.n_slots * small.n_bytes, 64 << 10);
  ck_assert_uint_le ((uint64_t) big.n_slots * big.n_bytes, 64 << 10);
  ck_assert (marks_cover (&big, 0, 0, B, NULL));
  marks_add (&big, 0, (UINT64_C(64) << 20) - B, B, 0);
  ck_assert (marks_cover (&big, 0, (UINT64_C(64) << 20) - B, B, NULL));
  marks_destroy (&small);
  marks_destroy (&big);
}
END_TEST

static Suite *
marks_suite (void)
{
  Suite *s = suite_create ("marks");
  TCase *tc = tcase_create ("marks");

  tcase_add_test (tc, test_empty);
  tcase_add_test (tc, test_blocks);
  tcase_add_test (tc, test_generation);
  tcase_add_test (tc, test_forget);
  tcase_add_test (tc, test_eviction);
  tcase_add_test (tc, test_sizes);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (marks_suite ());
}
