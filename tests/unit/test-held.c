/* segmap: unit tests of the agent's delegated movements
 * (src/agent/held.h, src/agent/held.c).
 *
 * What is checked: a segment is held once (a second install is
 * EEXIST) with the controller's bitmap; writes are reported in batches
 * (none before REPORT_EVERY writes, all of them at the batch's end),
 * every unreported block at held_report_all and nothing twice; a drop
 * reports what is left, takes the segment out of the map, and a user
 * that got it before the drop finds it dropped at begin (and its put
 * frees it); a drop covers exactly its range; an exclusive user makes
 * a drop wait.
 */
#include <config.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "agent/held.h"
#include "common/limits.h"
#include "test-util.h"

#define NB 32                   /* bitmap bytes: a 1 MiB segment */

struct reports {
  unsigned n;
  uint64_t seg;
  uint8_t bits[NB];             /* union of everything reported */
};

static int
record (void *opaque, uint64_t seg, const uint8_t *blocks, uint32_t n)
{
  struct reports *r = opaque;

  ck_assert_uint_eq (n, NB);
  r->n++;
  r->seg = seg;
  for (uint32_t i = 0; i < n; i++)
    r->bits[i] |= blocks[i];
  return 0;
}

static sm_entry
loc (uint64_t unit)
{
  return entry_make (1, unit, ENTRY_VALID);
}

/* Write block B of H (as io.c does: begin, wrote, end). */
static void
write_block (struct held *h, unsigned b, struct reports *r)
{
  ck_assert_int_eq (held_begin (h, false), 0);
  ck_assert_int_eq (held_wrote (h, (uint64_t) b * SM_BLOCK_SIZE,
                                SM_BLOCK_SIZE, record, r), 0);
  held_end (h);
}

START_TEST (test_install)
{
  struct held_map hm;
  uint8_t at_alt[NB] = { 0x0f };
  struct held *h;

  held_map_init (&hm);
  ck_assert_ptr_null (held_get (&hm, 3));
  ck_assert_int_eq (held_install (&hm, 3, loc (16), loc (32), at_alt, 1, NB),
                    0);
  ck_assert_int_eq (held_install (&hm, 3, loc (16), loc (48), at_alt, 1, NB),
                    -1);
  ck_assert_int_eq (held_install (&hm, 1, ENTRY_ZERO_SEGMENT, loc (64),
                                  NULL, 0, NB), 0);
  ck_assert_uint_eq (held_count (&hm), 2);
  h = held_get (&hm, 3);
  ck_assert_ptr_nonnull (h);
  ck_assert_uint_eq (h->alt, loc (32));
  ck_assert_uint_eq (h->at_alt[0], 0x0f);
  ck_assert_uint_eq (h->at_alt[1], 0);
  held_put (&hm, h);
  ck_assert_ptr_null (held_get (&hm, 2));
  held_map_destroy (&hm);
}
END_TEST

START_TEST (test_batches)
{
  struct held_map hm;
  struct reports r = { 0 };
  struct held *h;

  held_map_init (&hm);
  ck_assert_int_eq (held_install (&hm, 7, loc (16), loc (32), NULL, 0, NB),
                    0);
  h = held_get (&hm, 7);
  for (unsigned i = 0; i < 63; i++)
    write_block (h, i % 200, &r);
  ck_assert_uint_eq (r.n, 0);
  ck_assert (h->at_alt[0] == 0xff);     /* set at once, reported later */
  write_block (h, 255, &r);             /* the 64th: the batch goes */
  ck_assert_uint_eq (r.n, 1);
  ck_assert_uint_eq (r.seg, 7);
  ck_assert_uint_eq (r.bits[0], 0xff);
  ck_assert_uint_eq (r.bits[31], 0x80);
  /* One more, then a flush's report_all: that block only, once. */
  memset (&r, 0, sizeof r);
  write_block (h, 100, &r);
  ck_assert_uint_eq (r.n, 0);
  ck_assert_int_eq (held_report_all (&hm, record, &r), 0);
  ck_assert_uint_eq (r.n, 1);
  for (unsigned i = 0; i < NB; i++)
    ck_assert_uint_eq (r.bits[i], i == 100 / 8 ? 1u << (100 % 8) : 0);
  ck_assert_int_eq (held_report_all (&hm, record, &r), 0);
  ck_assert_uint_eq (r.n, 1);
  held_put (&hm, h);
  held_map_destroy (&hm);
}
END_TEST

START_TEST (test_drop)
{
  struct held_map hm;
  struct reports r = { 0 };
  struct held *h, *late;

  held_map_init (&hm);
  for (uint64_t seg = 10; seg < 14; seg++)
    ck_assert_int_eq (held_install (&hm, seg, loc (seg * 16), loc (seg * 32),
                                    NULL, 0, NB), 0);
  h = held_get (&hm, 11);
  write_block (h, 5, &r);
  held_put (&hm, h);
  late = held_get (&hm, 12);            /* got before the drop */
  ck_assert_int_eq (held_drop (&hm, 11, 2, record, &r), 0);
  ck_assert_uint_eq (r.n, 1);           /* 11's block 5; 12 wrote none */
  ck_assert_uint_eq (r.seg, 11);
  ck_assert_uint_eq (r.bits[0], 1u << 5);
  ck_assert_uint_eq (held_count (&hm), 2);
  ck_assert_ptr_null (held_get (&hm, 11));
  ck_assert_ptr_null (held_get (&hm, 12));
  ck_assert_int_eq (held_begin (late, false), -1);
  held_put (&hm, late);                 /* frees it (valgrind sees) */
  h = held_get (&hm, 13);
  ck_assert_ptr_nonnull (h);
  held_put (&hm, h);
  ck_assert_int_eq (held_drop (&hm, 0, UINT64_MAX, record, &r), 0);
  ck_assert_uint_eq (held_count (&hm), 0);
  held_map_destroy (&hm);
}
END_TEST

struct dropper {
  struct held_map *hm;
  struct reports r;
  _Atomic bool done;
};

static void *
drop_run (void *arg)
{
  struct dropper *d = arg;

  held_drop (d->hm, 0, UINT64_MAX, record, &d->r);
  d->done = true;
  return NULL;
}

START_TEST (test_drop_waits)
{
  struct held_map hm;
  static struct dropper d;
  pthread_t th;
  struct held *h;

  held_map_init (&hm);
  d.hm = &hm;
  ck_assert_int_eq (held_install (&hm, 0, loc (16), loc (32), NULL, 0, NB),
                    0);
  h = held_get (&hm, 0);
  ck_assert_int_eq (held_begin (h, true), 0);     /* a merging write */
  ck_assert_int_eq (pthread_create (&th, NULL, drop_run, &d), 0);
  sm_test_sleep_ms (50);
  ck_assert (!d.done);
  ck_assert_int_eq (held_wrote (h, SM_BLOCK_SIZE, 100, record, &d.r), 0);
  held_end (h);
  pthread_join (th, NULL);
  ck_assert (d.done);
  ck_assert_uint_eq (d.r.n, 1);         /* the write's block, by the drop */
  ck_assert_uint_eq (d.r.bits[0], 0x02);
  held_put (&hm, h);
  held_map_destroy (&hm);
}
END_TEST

static Suite *
held_suite (void)
{
  Suite *s = suite_create ("held");
  TCase *tc = tcase_create ("held");

  tcase_add_test (tc, test_install);
  tcase_add_test (tc, test_batches);
  tcase_add_test (tc, test_drop);
  tcase_add_test (tc, test_drop_waits);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (held_suite ());
}
