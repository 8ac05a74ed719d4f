/* segmap: SCSI logical unit tests -- READ/WRITE of every size, VERIFY,
 * WRITE AND VERIFY, PRE-FETCH, SYNCHRONIZE CACHE, UNMAP, WRITE SAME,
 * GET LBA STATUS, and backend errors turned into sense data.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test-lu.h"

static void
fill (uint8_t *b, size_t len, unsigned seed)
{
  size_t i;

  for (i = 0; i < len; i++)
    b[i] = (uint8_t) (i * 31 + seed * 7 + (i >> 9));
}

START_TEST (test_rw_sizes)
{
  struct scsi_task t;
  static uint8_t w[8 * BS], r[8 * BS];

  fill (w, sizeof w, 1);
  /* WRITE(6) at 5, READ(10) back. */
  run (A, &t, CDB (0x0a, 0, 0, 5, 2), w, 2 * BS, NULL, 0);
  GOOD (&t);
  run (A, &t, CDB (0x28, 0, 0, 0, 0, 5, 0, 0, 2), NULL, 0, r, 2 * BS);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 2 * BS);
  ck_assert_uint_eq (t.want_len, 2 * BS);
  ck_assert_mem_eq (r, w, 2 * BS);
  /* WRITE(12) with FUA, READ(6) and READ(12). */
  fill (w, sizeof w, 2);
  run (A, &t, CDB (0xaa, 0x08, 0, 0, 0, 100, 0, 0, 0, 8), w, 8 * BS, NULL,
       0);
  GOOD (&t);
  ck_assert_int_eq (disk.fua_writes, 1);
  ck_assert_mem_eq (disk.data + 100 * BS, w, 8 * BS);
  run (A, &t, CDB (0x08, 0, 0, 100, 8), NULL, 0, r, 8 * BS);
  GOOD (&t);
  ck_assert_mem_eq (r, w, 8 * BS);
  memset (r, 0, sizeof r);
  run (A, &t, CDB (0xa8, 0x18, 0, 0, 0, 100, 0, 0, 0, 8), NULL, 0, r,
       8 * BS);
  GOOD (&t);
  ck_assert_mem_eq (r, w, 8 * BS);
  /* WRITE(10), WRITE(16) at the last block, READ(16). */
  run (A, &t, CDB (0x2a, 0, 0, 0, 0x0f, 0xff, 0, 0, 1), w, BS, NULL, 0);
  GOOD (&t);
  do_read (A, NBLOCKS - 1, 1, r, &t);
  GOOD (&t);
  ck_assert_mem_eq (r, w, BS);
  /* 0 blocks is fine and transfers nothing. */
  run (A, &t, CDB (0x28, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, r, 0);
  GOOD (&t);
  ck_assert_uint_eq (t.want_len, 0);
}

START_TEST (test_rw_errors)
{
  struct scsi_task t;
  static uint8_t w[2 * BS], r[2 * BS];

  /* Past the end. */
  do_read (A, NBLOCKS - 1, 2, r, &t);
  SENSE (&t, 0x05, 0x2100);
  do_write (A, NBLOCKS, 1, w, &t);
  SENSE (&t, 0x05, 0x2100);
  /* Data-Out shorter than the command: the blocks that came. */
  memset (w, 'a', sizeof w);
  do_write (A, 0, 2, w, &t);
  memset (w, 'b', sizeof w);
  run (A, &t, CDB (0x2a, 0, 0, 0, 0, 0, 0, 0, 2), w, BS + 100, NULL, 0);
  GOOD (&t);
  ck_assert_uint_eq (t.want_len, 2 * BS);
  ck_assert_uint_eq (disk.data[BS - 1], 'b');
  ck_assert_uint_eq (disk.data[BS], 'a');
  run (A, &t, CDB (0x2a, 0, 0, 0, 0, 0, 0, 0, 2), w, 0, NULL, 0);
  GOOD (&t);
  ck_assert_uint_eq (disk.data[0], 'b');
  /* ... but not for all-or-nothing commands. */
  run (A, &t, CDB (0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), w, BS,
       NULL, 0);
  SENSE (&t, 0x05, 0x2400);
  /* Data-In room shorter than the command: truncated, residual. */
  do_read (A, 0, 2, r, &t);
  GOOD (&t);
  run (A, &t, CDB (0x28, 0, 0, 0, 0, 0, 0, 0, 2), NULL, 0, r, BS);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, BS);
  ck_assert_uint_eq (t.want_len, 2 * BS);
  /* Over MAXIMUM TRANSFER LENGTH (8 MiB). */
  run (A, &t, CDB (0x28, 0, 0, 0, 0, 0, 0, 0x40, 0x01), NULL, 0, r, 0);
  SENSE (&t, 0x05, 0x2400);
  /* Backend errors. */
  disk.fail_errno = EIO;
  do_read (A, 0, 1, r, &t);
  SENSE (&t, 0x03, 0x1100);
  do_write (A, 0, 1, w, &t);
  SENSE (&t, 0x03, 0x0c00);
  disk.fail_errno = ENOSPC;
  do_write (A, 0, 1, w, &t);
  SENSE (&t, 0x07, 0x2707);
  disk.fail_errno = EROFS;
  do_write (A, 0, 1, w, &t);
  SENSE (&t, 0x07, 0x2700);
  disk.fail_errno = EPERM;
  do_read (A, 0, 1, r, &t);
  SENSE (&t, 0x04, 0x4400);
  run (A, &t, CDB (0x35), NULL, 0, NULL, 0);
  SENSE (&t, 0x04, 0x4400);
  disk.fail_errno = 0;
}

START_TEST (test_verify)
{
  struct scsi_task t;
  static uint8_t w[4 * BS], v[4 * BS];
  uint8_t cdb[16];

  fill (w, sizeof w, 3);
  do_write (A, 10, 4, w, &t);
  GOOD (&t);
  /* BYTCHK 0: the medium reads. */
  run (A, &t, CDB (0x2f, 0, 0, 0, 0, 10, 0, 0, 4), NULL, 0, NULL, 0);
  GOOD (&t);
  disk.fail_errno = EIO;
  run (A, &t, CDB (0x2f, 0, 0, 0, 0, 10, 0, 0, 4), NULL, 0, NULL, 0);
  SENSE (&t, 0x03, 0x1100);
  disk.fail_errno = 0;
  /* BYTCHK 1: equal, then a difference at byte 1000. */
  memcpy (v, w, sizeof v);
  run (A, &t, CDB (0x2f, 0x02, 0, 0, 0, 10, 0, 0, 4), v, sizeof v, NULL, 0);
  GOOD (&t);
  v[1000] ^= 1;
  run (A, &t, CDB (0x2f, 0x02, 0, 0, 0, 10, 0, 0, 4), v, sizeof v, NULL, 0);
  SENSE (&t, 0x0e, 0x1d00);
  ck_assert_uint_eq (t.sense[0], 0xf0);         /* VALID */
  ck_assert_uint_eq (t.sense[5] << 8 | t.sense[6], 1000);
  /* BYTCHK 11b: every block equals the one sent. */
  memset (v, 0xab, BS);
  memset (w, 0xab, sizeof w);
  do_write (A, 20, 4, w, &t);
  cdb16 (cdb, 0x8f, 20, 4);
  cdb[1] = 0x06;
  run (A, &t, cdb, v, BS, NULL, 0);
  GOOD (&t);
  disk.data[22 * BS + 7] = 0;
  run (A, &t, cdb, v, BS, NULL, 0);
  SENSE (&t, 0x0e, 0x1d00);
  ck_assert_uint_eq (t.sense[5] << 8 | t.sense[6], 2 * BS + 7);
  /* WRITE AND VERIFY(16): written with FUA and read back. */
  fill (w, sizeof w, 4);
  cdb16 (cdb, 0x8e, 30, 4);
  run (A, &t, cdb, w, sizeof w, NULL, 0);
  GOOD (&t);
  ck_assert_int_ge (disk.fua_writes, 1);
  ck_assert_mem_eq (disk.data + 30 * BS, w, sizeof w);
  run (A, &t, CDB (0x2e, 0, 0, 0, 0, 30, 0, 0, 4), w, sizeof w, NULL, 0);
  GOOD (&t);
}

START_TEST (test_prefetch_sync)
{
  struct scsi_task t;

  run (A, &t, CDB (0x34, 0, 0, 0, 0, 0, 0, 0, 8), NULL, 0, NULL, 0);
  STATUS (&t, SCSI_STATUS_CONDITION_MET);
  ck_assert_uint_eq (t.sense_len, 0);
  run (A, &t, CDB (0x90, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 1), NULL, 0,
       NULL, 0);
  SENSE (&t, 0x05, 0x2100);
  run (A, &t, CDB (0x35), NULL, 0, NULL, 0);
  GOOD (&t);
  run (A, &t, CDB (0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8), NULL, 0,
       NULL, 0);
  GOOD (&t);
  ck_assert_int_eq (disk.flushes, 2);
}

/* GET LBA STATUS from LBA into descriptors D (each lba, n, status). */
static size_t
lba_status (uint64_t lba, uint64_t d[][3], size_t max)
{
  struct scsi_task t;
  uint8_t cdb[16], b[8 + 16 * 32];
  size_t n, i, j;

  cdb16 (cdb, 0x9e, lba, sizeof b);
  cdb[1] = 0x12;
  run (A, &t, cdb, NULL, 0, b, sizeof b);
  GOOD (&t);
  n = ((b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) - 4) / 16;
  ck_assert_uint_eq (t.data_in_len, 8 + 16 * n);
  ck_assert_uint_le (n, max);
  for (i = 0; i < n; i++) {
    const uint8_t *p = &b[8 + 16 * i];

    d[i][0] = d[i][1] = 0;
    for (j = 0; j < 8; j++)
      d[i][0] = d[i][0] << 8 | p[j];
    for (j = 8; j < 12; j++)
      d[i][1] = d[i][1] << 8 | p[j];
    d[i][2] = p[12];
  }
  return n;
}

START_TEST (test_unmap_and_lba_status)
{
  struct scsi_task t;
  static uint8_t w[64 * BS];
  uint8_t list[8 + 2 * 16] = { 0, 38, 0, 32 };
  uint64_t d[32][3];
  size_t n;

  /* Map 0-199, then unmap 10-19 and 100-149. */
  memset (w, 0x5a, sizeof w);
  for (n = 0; n < 200; n += 50)
    do_write (A, n, 50, w, &t);
  list[8 + 7] = 10;
  list[8 + 11] = 10;
  list[24 + 7] = 100;
  list[24 + 11] = 50;
  run (A, &t, CDB (0x42, 0, 0, 0, 0, 0, 0, 0, sizeof list), list,
       sizeof list, NULL, 0);
  GOOD (&t);
  ck_assert_int_eq (disk.trims, 2);
  ck_assert_uint_eq (disk.data[15 * BS], 0);
  ck_assert_uint_eq (disk.data[20 * BS], 0x5a);
  n = lba_status (0, d, 32);
  ck_assert_uint_ge (n, 5);
  ck_assert (d[0][0] == 0 && d[0][1] == 10 && d[0][2] == 0);
  ck_assert (d[1][0] == 10 && d[1][1] == 10 && d[1][2] == 1);
  ck_assert (d[2][0] == 20 && d[2][1] == 80 && d[2][2] == 0);
  ck_assert (d[3][0] == 100 && d[3][1] == 50 && d[3][2] == 1);
  ck_assert (d[4][0] == 150 && d[4][1] == 50 && d[4][2] == 0);
  ck_assert (d[5][0] == 200 && d[5][1] == NBLOCKS - 200 && d[5][2] == 1);
  ck_assert_uint_eq (n, 6);
  n = lba_status (120, d, 32);
  ck_assert (d[0][0] == 120 && d[0][1] == 30 && d[0][2] == 1);
  /* Out of range; bad parameter lists. */
  {
    uint8_t cdb[16], b[64];

    cdb16 (cdb, 0x9e, NBLOCKS, sizeof b);
    cdb[1] = 0x12;
    run (A, &t, cdb, NULL, 0, b, sizeof b);
    SENSE (&t, 0x05, 0x2100);
  }
  list[24 + 7] = 0xff;
  list[24 + 6] = 0xff;
  run (A, &t, CDB (0x42, 0, 0, 0, 0, 0, 0, 0, sizeof list), list,
       sizeof list, NULL, 0);
  SENSE (&t, 0x05, 0x2100);
  run (A, &t, CDB (0x42, 0, 0, 0, 0, 0, 0, 0, 4), list, 4, NULL, 0);
  SENSE (&t, 0x05, 0x1a00);
}

START_TEST (test_write_same)
{
  struct scsi_task t;
  uint8_t block[BS], cdb[16];
  int i, zeros;

  /* A pattern, replicated. */
  for (i = 0; i < BS; i++)
    block[i] = i;
  run (A, &t, CDB (0x41, 0, 0, 0, 0, 50, 0, 0, 20), block, BS, NULL, 0);
  GOOD (&t);
  for (i = 50; i < 70; i++)
    ck_assert_mem_eq (disk.data + i * BS, block, BS);
  ck_assert_uint_eq (disk.data[70 * BS], 0);
  /* Zeros: the backend's zero; with UNMAP: trim. */
  memset (block, 0, BS);
  zeros = disk.zeros;
  run (A, &t, CDB (0x41, 0, 0, 0, 0, 50, 0, 0, 10), block, BS, NULL, 0);
  GOOD (&t);
  ck_assert_int_eq (disk.zeros, zeros + 1);
  ck_assert_uint_eq (disk.data[55 * BS], 0);
  ck_assert (disk.alloc[55]);
  run (A, &t, CDB (0x41, 0x08, 0, 0, 0, 50, 0, 0, 10), block, BS, NULL, 0);
  GOOD (&t);
  ck_assert (!disk.alloc[55]);
  ck_assert (disk.alloc[65]);
  /* NDOB with UNMAP (16): no data at all. */
  cdb16 (cdb, 0x93, 60, 10);
  cdb[1] = 0x09;
  run (A, &t, cdb, NULL, 0, NULL, 0);
  GOOD (&t);
  ck_assert (!disk.alloc[65]);
  /* UNMAP with a non-zero block: unmapped all the same (reads zeros). */
  block[3] = 1;
  run (A, &t, CDB (0x41, 0, 0, 0, 0, 50, 0, 0, 2), block, BS, NULL, 0);
  GOOD (&t);
  ck_assert (disk.alloc[51]);
  ck_assert_uint_eq (disk.data[51 * BS + 3], 1);
  run (A, &t, CDB (0x41, 0x08, 0, 0, 0, 50, 0, 0, 2), block, BS, NULL, 0);
  GOOD (&t);
  ck_assert (!disk.alloc[51]);
  ck_assert_uint_eq (disk.data[51 * BS + 3], 0);
  /* No data block. */
  run (A, &t, CDB (0x41, 0, 0, 0, 0, 50, 0, 0, 2), NULL, 0, NULL, 0);
  SENSE (&t, 0x05, 0x2400);
}

START_TEST (test_not_thin)
{
  struct scsi_lu *full;
  struct scsi_itl *c;
  struct scsi_task t;
  uint8_t b[64], list[24] = { 0, 22, 0, 16 };

  full = lu_open (NBLOCKS * BS, false);
  c = scsi_lu_attach (full, "iqn.x:c,i,0x1", 1);
  clear_ua (c);
  run (c, &t, CDB (0x42, 0, 0, 0, 0, 0, 0, 0, 24), list, 24, NULL, 0);
  SENSE (&t, 0x05, 0x2000);
  run (c, &t, CDB (0x41, 0x08, 0, 0, 0, 0, 0, 0, 1), b, BS, NULL, 0);
  SENSE (&t, 0x05, 0x2400);
  run (c, &t, CDB (0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 64), NULL, 0,
       b, 64);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 24);
  ck_assert_uint_eq (b[8 + 7], 5);
  ck_assert_uint_eq (b[8 + 12], 0);              /* mapped */
  scsi_lu_detach (c);
  scsi_lu_free (full);
}

void
add_data_tests (Suite *s)
{
  TCase *tc = tcase_create ("data");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_rw_sizes);
  tcase_add_test (tc, test_rw_errors);
  tcase_add_test (tc, test_verify);
  tcase_add_test (tc, test_prefetch_sync);
  tcase_add_test (tc, test_unmap_and_lba_status);
  tcase_add_test (tc, test_write_same);
  tcase_add_test (tc, test_not_thin);
  suite_add_tcase (s, tc);
}
