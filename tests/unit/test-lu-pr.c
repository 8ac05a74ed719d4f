/* segmap: SCSI logical unit tests -- persistent reservations (every
 * service action, conflicts, unit attentions, persistence across a
 * restart, malformed blobs, a failing store) and SPC-2 RESERVE /
 * RELEASE.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "test-lu.h"

#define KA UINT64_C (0xaaaa000000000001)
#define KB UINT64_C (0xbbbb000000000002)

static void
put64 (uint8_t *p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = v >> (56 - 8 * i);
}

static uint64_t
get64 (const uint8_t *p)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* PERSISTENT RESERVE OUT, 24-byte parameter list. */
static void
pr_out (struct scsi_itl *itl, struct scsi_task *t, uint8_t sa, uint8_t type,
        uint64_t key, uint64_t sa_key, uint8_t flags)
{
  uint8_t cdb[16] = { 0x5f, sa, type, 0, 0, 0, 0, 0, 24 };
  static uint8_t list[24];

  memset (list, 0, sizeof list);
  put64 (list, key);
  put64 (&list[8], sa_key);
  list[20] = flags;
  run (itl, t, cdb, list, 24, NULL, 0);
}

static size_t
pr_in (struct scsi_itl *itl, uint8_t sa, uint8_t *b, size_t len)
{
  uint8_t cdb[16] = { 0x5e, sa, 0, 0, 0, 0, 0, len >> 8, len & 0xff };
  struct scsi_task t;

  run (itl, &t, cdb, NULL, 0, b, len);
  GOOD (&t);
  return t.data_in_len;
}

static uint32_t
generation (void)
{
  uint8_t b[8];

  pr_in (A, 0, b, 8);
  return b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
}

START_TEST (test_pr_register_and_keys)
{
  struct scsi_task t;
  uint8_t b[64];

  /* Unregistered with a non-zero key: conflict. */
  pr_out (A, &t, 0, 0, KA, KA, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  ck_assert_uint_eq (generation (), 0);
  /* Register A and B; SA key 0 for an unregistered nexus: no-op. */
  pr_out (A, &t, 0, 0, 0, KA, 0);
  GOOD (&t);
  pr_out (B, &t, 0, 0, 0, 0, 0);
  GOOD (&t);
  pr_out (B, &t, 0, 0, 0, KB, 0);
  GOOD (&t);
  ck_assert_uint_eq (pr_in (A, 0, b, 64), 24);
  ck_assert_uint_eq (b[3], 2);
  ck_assert_uint_eq (b[7], 16);
  ck_assert (get64 (&b[8]) == KA && get64 (&b[16]) == KB);
  /* Wrong key: conflict; right key: change it; REGISTER AND IGNORE. */
  pr_out (A, &t, 0, 0, KB, 5, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  pr_out (A, &t, 0, 0, KA, 5, 0);
  GOOD (&t);
  pr_out (A, &t, 6, 0, 12345, KA, 0);
  GOOD (&t);
  ck_assert_uint_eq (generation (), 4);
  /* Unregister B. */
  pr_out (B, &t, 0, 0, KB, 0, 0);
  GOOD (&t);
  ck_assert_uint_eq (pr_in (A, 0, b, 64), 16);
  ck_assert (get64 (&b[8]) == KA);
  /* SPEC_I_PT is not supported. */
  pr_out (B, &t, 0, 0, 0, KB, 0x08);
  SENSE (&t, 0x05, 0x2600);
  ck_assert_uint_eq (t.sense[15], 0x88 | 3);
  ck_assert_uint_eq (t.sense[17], 20);
}

START_TEST (test_pr_reserve_conflicts)
{
  struct scsi_task t;
  uint8_t b[64], r[BS];

  pr_out (A, &t, 0, 0, 0, KA, 0);
  GOOD (&t);
  /* Reserve needs the nexus's key. */
  pr_out (B, &t, 1, 1, KB, 0, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  pr_out (A, &t, 1, 1, KA, 0, 0);               /* write exclusive */
  GOOD (&t);
  pr_out (A, &t, 1, 1, KA, 0, 0);               /* again: fine */
  GOOD (&t);
  ck_assert_uint_eq (pr_in (B, 1, b, 64), 24);
  ck_assert (get64 (&b[8]) == KA);
  ck_assert_uint_eq (b[21], 0x01);
  /* B may read but not write; A may do both. */
  do_read (B, 0, 1, r, &t);
  GOOD (&t);
  do_write (B, 0, 1, r, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  ck_assert_uint_eq (t.sense_len, 0);
  do_write (A, 0, 1, r, &t);
  GOOD (&t);
  run (B, &t, CDB (0x35), NULL, 0, NULL, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  run (B, &t, CDB (0x25), NULL, 0, b, 8);
  GOOD (&t);
  /* Another type from the holder: conflict.  Release with the wrong
   * type: INVALID RELEASE. */
  pr_out (A, &t, 1, 3, KA, 0, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  pr_out (A, &t, 2, 3, KA, 0, 0);
  SENSE (&t, 0x05, 0x2604);
  /* Exclusive access, registrants only: registered B may write. */
  pr_out (A, &t, 2, 1, KA, 0, 0);
  GOOD (&t);
  pr_out (A, &t, 1, 6, KA, 0, 0);
  GOOD (&t);
  do_read (B, 0, 1, r, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  pr_out (B, &t, 0, 0, 0, KB, 0);
  GOOD (&t);
  do_write (B, 0, 1, r, &t);
  GOOD (&t);
  /* The holder unregisters: the reservation goes, B hears it. */
  pr_out (A, &t, 0, 0, KA, 0, 0);
  GOOD (&t);
  ck_assert_uint_eq (pr_in (A, 1, b, 64), 8);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2a04);
}

START_TEST (test_pr_exclusive_access)
{
  struct scsi_task t;
  uint8_t r[BS], b[256];

  pr_out (A, &t, 0, 0, 0, KA, 0);
  pr_out (A, &t, 1, 3, KA, 0, 0);
  GOOD (&t);
  do_read (B, 0, 1, r, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  run (B, &t, CDB (0x1a, 0, 0x3f, 0, 255), NULL, 0, b, 255);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  run (B, &t, CDB (0x12, 0, 0, 0, 36), NULL, 0, b, 36);
  GOOD (&t);
  run (B, &t, CDB (0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16), NULL, 0, b, 16);
  GOOD (&t);
  /* All registrants: every registrant holds it. */
  pr_out (A, &t, 2, 3, KA, 0, 0);
  GOOD (&t);
  pr_out (A, &t, 1, 8, KA, 0, 0);
  GOOD (&t);
  pr_out (B, &t, 0, 0, 0, KB, 0);
  do_read (B, 0, 1, r, &t);
  GOOD (&t);
  pr_in (A, 1, b, 64);
  ck_assert (get64 (&b[8]) == 0);               /* key 0 for AR types */
  ck_assert_uint_eq (b[21], 0x08);
  /* Read full status: both hold it. */
  pr_in (A, 3, b, 256);
  ck_assert_uint_eq (b[8 + 12] & 1, 1);
  ck_assert_uint_eq (b[8 + 13], 0x08);
  ck_assert_uint_eq (b[8 + 19], 1);
  ck_assert_uint_eq (b[8 + 24], 0x45);          /* iSCSI, format 01b */
  ck_assert_str_eq ((char *) &b[8 + 28],
                    "iqn.1994-05.com.example:a,i,0x23d000000001");
}

START_TEST (test_pr_preempt_clear)
{
  struct scsi_task t;
  uint8_t b[64];

  pr_out (A, &t, 0, 0, 0, KA, 0);
  pr_out (B, &t, 0, 0, 0, KB, 0);
  pr_out (A, &t, 1, 1, KA, 0, 0);
  GOOD (&t);
  /* Preempting a key nobody has: conflict; key 0: bad parameter. */
  pr_out (B, &t, 4, 3, KB, 77, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  pr_out (B, &t, 4, 3, KB, 0, 0);
  SENSE (&t, 0x05, 0x2600);
  /* B preempts A: A is unregistered, B holds exclusive access. */
  pr_out (B, &t, 5, 3, KB, KA, 0);
  GOOD (&t);
  pr_in (B, 1, b, 64);
  ck_assert (get64 (&b[8]) == KB);
  ck_assert_uint_eq (b[21], 0x03);
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2a05);
  ck_assert_uint_eq (pr_in (B, 0, b, 64), 16);
  /* A registers again; B clears everything; A hears it. */
  pr_out (A, &t, 0, 0, 0, KA, 0);
  pr_out (A, &t, 3, 0, KB, 0, 0);             /* A's key is KA */
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  pr_out (B, &t, 3, 0, KB, 0, 0);
  GOOD (&t);
  ck_assert_uint_eq (pr_in (B, 0, b, 64), 8);
  ck_assert_uint_eq (pr_in (B, 1, b, 64), 8);
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2a03);
}

START_TEST (test_pr_register_and_move)
{
  struct scsi_task t;
  uint8_t list[24 + 48] = { 0 }, b[64];
  const char *dst = "iqn.1994-05.com.example:b,i,0x23d000000002";
  uint8_t cdb[16] = { 0x5f, 7, 1, 0, 0, 0, 0, 0, sizeof list };

  pr_out (A, &t, 0, 0, 0, KA, 0);
  pr_out (A, &t, 1, 1, KA, 0, 0);
  put64 (list, KA);
  put64 (&list[8], KB);
  list[17] = 0x02;                              /* UNREG */
  list[19] = 1;
  list[23] = 48;
  list[24] = 0x45;
  list[27] = 44;
  memcpy (&list[28], dst, strlen (dst));
  run (A, &t, cdb, list, sizeof list, NULL, 0);
  GOOD (&t);
  pr_in (A, 1, b, 64);
  ck_assert (get64 (&b[8]) == KB);
  ck_assert_uint_eq (pr_in (A, 0, b, 64), 16);
  /* B holds: B writes, A cannot. */
  do_write (A, 0, 1, b, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
}

START_TEST (test_pr_persistence)
{
  struct scsi_task t;
  uint8_t b[64], r[BS];
  int saves;

  pr_out (A, &t, 0, 0, 0, KA, 0x01);            /* APTPL */
  pr_out (B, &t, 0, 0, 0, KB, 0);
  pr_out (A, &t, 1, 5, KA, 0, 0);
  GOOD (&t);
  ck_assert_int_eq (store.saves, 3);
  restart ();
  ck_assert_uint_eq (pr_in (A, 0, b, 64), 24);
  ck_assert_uint_eq (b[3], 2);
  pr_in (B, 1, b, 64);
  ck_assert (get64 (&b[8]) == KA);
  ck_assert_uint_eq (b[21], 0x05);
  /* Still enforced after the restart. */
  scsi_lu_detach (B);
  B = scsi_lu_attach (lu, "iqn.x:other,i,0x1", 1);
  clear_ua (B);
  do_write (B, 0, 1, r, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  /* A failing store: the command fails and nothing changes. */
  store.fail_save = true;
  saves = store.saves;
  pr_out (A, &t, 2, 5, KA, 0, 0);
  SENSE (&t, 0x04, 0x4400);
  store.fail_save = false;
  ck_assert_int_eq (store.saves, saves);
  pr_in (A, 1, b, 64);
  ck_assert_uint_eq (b[21], 0x05);
}

START_TEST (test_pr_bad_blob)
{
  uint8_t *blob;
  size_t len, i;
  struct scsi_task t;

  pr_out (A, &t, 0, 0, 0, KA, 0);
  pr_out (A, &t, 1, 1, KA, 0, 0);
  scsi_lu_detach (A);
  scsi_lu_detach (B);
  A = B = NULL;
  scsi_lu_free (lu);
  lu = NULL;
  len = store.len;
  blob = malloc (len + 1);
  memcpy (blob, store.blob, len);
  /* Every truncation fails, as do trailing bytes and a bad magic. */
  for (i = 0; i < len; i++) {
    store.len = i;
    ck_assert_msg (lu_open (NBLOCKS * BS, true) == NULL, "length %zu", i);
  }
  store.len = len + 1;
  store.blob = realloc (store.blob, len + 1);
  ((uint8_t *) store.blob)[len] = 0;
  ck_assert (lu_open (NBLOCKS * BS, true) == NULL);
  store.len = len;
  ((uint8_t *) store.blob)[0] = 'X';
  ck_assert (lu_open (NBLOCKS * BS, true) == NULL);
  memcpy (store.blob, blob, len);
  ((uint8_t *) store.blob)[12] = 2;             /* no such type */
  ck_assert (lu_open (NBLOCKS * BS, true) == NULL);
  memcpy (store.blob, blob, len);
  lu = lu_open (NBLOCKS * BS, true);
  ck_assert (lu != NULL);
  A = scsi_lu_attach (lu, "iqn.x:a,i,0x1", 1);
  B = scsi_lu_attach (lu, "iqn.x:b,i,0x1", 1);
  free (blob);
}

START_TEST (test_spc2_reserve)
{
  struct scsi_task t;
  uint8_t r[BS];

  run (A, &t, CDB (0x16), NULL, 0, NULL, 0);
  GOOD (&t);
  do_read (B, 0, 1, r, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  run (B, &t, CDB (0x56), NULL, 0, NULL, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  run (B, &t, CDB (0x17), NULL, 0, NULL, 0);     /* not the holder: no-op */
  GOOD (&t);
  do_read (B, 0, 1, r, &t);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  run (B, &t, CDB (0x12, 0, 0, 0, 36), NULL, 0, r, 36);
  GOOD (&t);
  pr_out (B, &t, 0, 0, 0, KB, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
  do_read (A, 0, 1, r, &t);
  GOOD (&t);
  run (A, &t, CDB (0x57), NULL, 0, NULL, 0);
  GOOD (&t);
  do_read (B, 0, 1, r, &t);
  GOOD (&t);
  /* Released by a LUN reset and by the holder's detach. */
  run (A, &t, CDB (0x16), NULL, 0, NULL, 0);
  GOOD (&t);
  scsi_lu_reset (B);
  clear_ua (B);
  do_read (B, 0, 1, r, &t);
  GOOD (&t);
  clear_ua (A);
  run (A, &t, CDB (0x16), NULL, 0, NULL, 0);
  GOOD (&t);
  scsi_lu_detach (A);
  A = scsi_lu_attach (lu, "iqn.x:a,i,0x1", 1);
  clear_ua (A);
  do_read (B, 0, 1, r, &t);
  GOOD (&t);
  /* With a PR registration, RESERVE conflicts. */
  pr_out (B, &t, 0, 0, 0, KB, 0);
  GOOD (&t);
  run (A, &t, CDB (0x16), NULL, 0, NULL, 0);
  STATUS (&t, SCSI_STATUS_RESERVATION_CONFLICT);
}

void
add_pr_tests (Suite *s)
{
  TCase *tc = tcase_create ("reservations");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_pr_register_and_keys);
  tcase_add_test (tc, test_pr_reserve_conflicts);
  tcase_add_test (tc, test_pr_exclusive_access);
  tcase_add_test (tc, test_pr_preempt_clear);
  tcase_add_test (tc, test_pr_register_and_move);
  tcase_add_test (tc, test_pr_persistence);
  tcase_add_test (tc, test_pr_bad_blob);
  tcase_add_test (tc, test_spc2_reserve);
  suite_add_tcase (s, tc);
}
