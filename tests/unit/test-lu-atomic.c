/* segmap: SCSI logical unit tests -- COMPARE AND WRITE and WRITE
 * ATOMIC(16), alone and under threads (gate.c):
 *  - readers never see a torn WRITE ATOMIC (the backend writes block by
 *    block, yielding between blocks, to open the window wide);
 *  - COMPARE AND WRITE increments of one counter from several threads
 *    are never lost, while plain writes run elsewhere on the LU;
 *  - a WRITE ATOMIC that fails half way leaves the old contents.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test-lu.h"

#define ATOMIC_BLOCKS 64
#define ROUNDS        300
#define THREADS       4
#define INCREMENTS    150

static void
write_atomic (struct scsi_itl *itl, uint64_t lba, uint32_t n,
              const void *buf, struct scsi_task *t)
{
  uint8_t cdb[16];

  cdb16 (cdb, 0x9c, lba, 0);
  cdb[12] = n >> 8;
  cdb[13] = n;
  run (itl, t, cdb, buf, n * BS, NULL, 0);
}

static void
compare_and_write (struct scsi_itl *itl, uint64_t lba, uint8_t n,
                   const void *both, struct scsi_task *t)
{
  uint8_t cdb[16];

  cdb16 (cdb, 0x89, lba, 0);
  cdb[13] = n;
  run (itl, t, cdb, both, 2 * n * BS, NULL, 0);
}

START_TEST (test_caw_single)
{
  struct scsi_task t;
  static uint8_t both[4 * BS], r[2 * BS];

  memset (both, 0, 2 * BS);
  memset (both + 2 * BS, 0x77, 2 * BS);
  compare_and_write (A, 8, 2, both, &t);
  GOOD (&t);
  do_read (A, 8, 2, r, &t);
  ck_assert_mem_eq (r, both + 2 * BS, 2 * BS);
  /* Mismatch at byte 700: nothing written, INFORMATION = 700. */
  memcpy (both, r, 2 * BS);
  both[700] ^= 0xff;
  memset (both + 2 * BS, 0x11, 2 * BS);
  compare_and_write (A, 8, 2, both, &t);
  SENSE (&t, 0x0e, 0x1d00);
  ck_assert_uint_eq (t.sense[0], 0xf0);
  ck_assert_uint_eq (t.sense[5] << 8 | t.sense[6], 700);
  ck_assert_uint_eq (disk.data[8 * BS], 0x77);
  /* Data-Out with only the verify half. */
  run (A, &t, (const uint8_t[16]) { 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0,
                                    0, 2 }, both, 2 * BS, NULL, 0);
  SENSE (&t, 0x05, 0x2400);
}

START_TEST (test_write_atomic_single)
{
  struct scsi_task t;
  static uint8_t w[300 * BS];

  memset (w, 0x42, sizeof w);
  write_atomic (A, 100, 256, w, &t);
  GOOD (&t);
  ck_assert_uint_eq (disk.data[355 * BS], 0x42);
  write_atomic (A, 0, 257, w, &t);              /* over the maximum */
  SENSE (&t, 0x05, 0x2400);
  /* Fails half way: the old contents come back. */
  memset (w, 0x99, sizeof w);
  disk.fail_write_half = true;
  write_atomic (A, 100, 16, w, &t);
  disk.fail_write_half = false;
  SENSE (&t, 0x03, 0x0c00);
  ck_assert_uint_eq (disk.data[100 * BS], 0x42);
  ck_assert_uint_eq (disk.data[115 * BS + BS - 1], 0x42);
}

/* Threads. */

static atomic_int torn, done_writers;

static void *
atomic_writer (void *arg)
{
  struct scsi_itl *itl = arg;
  static _Thread_local uint8_t w[ATOMIC_BLOCKS * BS];
  struct scsi_task t;
  int i;

  for (i = 0; i < ROUNDS; i++) {
    memset (w, (uint8_t) (i * 2 + (itl == A)), sizeof w);
    write_atomic (itl, 0, ATOMIC_BLOCKS, w, &t);
    assert (t.status == SCSI_STATUS_GOOD);
  }
  atomic_fetch_add (&done_writers, 1);
  return NULL;
}

static void *
reader (void *arg)
{
  struct scsi_itl *itl = arg;
  static _Thread_local uint8_t r[ATOMIC_BLOCKS * BS];
  struct scsi_task t;
  size_t i;

  while (atomic_load (&done_writers) < 2) {
    do_read (itl, 0, ATOMIC_BLOCKS, r, &t);
    assert (t.status == SCSI_STATUS_GOOD);
    for (i = 1; i < sizeof r; i++)
      if (r[i] != r[0]) {
        atomic_fetch_add (&torn, 1);
        break;
      }
  }
  return NULL;
}

START_TEST (test_no_torn_atomic_writes)
{
  pthread_t th[4];
  int i;

  disk.slow_writes = true;
  atomic_store (&torn, 0);
  atomic_store (&done_writers, 0);
  pthread_create (&th[0], NULL, atomic_writer, A);
  pthread_create (&th[1], NULL, atomic_writer, B);
  pthread_create (&th[2], NULL, reader, A);
  pthread_create (&th[3], NULL, reader, B);
  for (i = 0; i < 4; i++)
    pthread_join (th[i], NULL);
  ck_assert_msg (atomic_load (&torn) == 0, "%d torn reads",
                 atomic_load (&torn));
}

static uint64_t
get_counter (const uint8_t *b)
{
  uint64_t v;

  memcpy (&v, b, sizeof v);
  return v;
}

static void *
incrementer (void *arg)
{
  struct scsi_itl *itl = arg;
  uint8_t both[2 * BS], plain[8 * BS];
  struct scsi_task t;
  int i, misses = 0;

  memset (plain, 0x3c, sizeof plain);
  for (i = 0; i < INCREMENTS; ) {
    uint64_t v;

    do_read (itl, 7, 1, both, &t);
    assert (t.status == SCSI_STATUS_GOOD);
    v = get_counter (both) + 1;
    memcpy (both + BS, both, BS);
    memcpy (both + BS, &v, sizeof v);
    compare_and_write (itl, 7, 1, both, &t);
    if (t.status == SCSI_STATUS_GOOD)
      i++;
    else {
      assert (t.status == SCSI_STATUS_CHECK_CONDITION
              && t.sense[2] == SCSI_SK_MISCOMPARE);
      misses++;
    }
    /* Plain writes elsewhere keep the fast path busy. */
    do_write (itl, 1000 + (i % 8) * 8, 8, plain, &t);
    assert (t.status == SCSI_STATUS_GOOD);
  }
  return NULL;
}

START_TEST (test_caw_increments)
{
  pthread_t th[THREADS];
  uint8_t b[BS];
  struct scsi_task t;
  int i;

  disk.slow_writes = true;
  for (i = 0; i < THREADS; i++)
    pthread_create (&th[i], NULL, incrementer, i % 2 ? A : B);
  for (i = 0; i < THREADS; i++)
    pthread_join (th[i], NULL);
  do_read (A, 7, 1, b, &t);
  GOOD (&t);
  ck_assert_uint_eq (get_counter (b), THREADS * INCREMENTS);
}

void
add_atomic_tests (Suite *s)
{
  TCase *tc = tcase_create ("atomic");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_caw_single);
  tcase_add_test (tc, test_write_atomic_single);
  tcase_add_test (tc, test_no_torn_atomic_writes);
  tcase_add_test (tc, test_caw_increments);
  suite_add_tcase (s, tc);
}
