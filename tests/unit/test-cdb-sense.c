/* segmap: unit tests for SCSI sense data, UNMAP parameter lists and
 * residuals, part two of the test-cdb program (see test-cdb.c).
 *
 *  - UNMAP: overlapping descriptors accepted, a partial trailing one
 *    ignored, too many descriptors, a range past the end or wrapping
 *    2^64 (with the LBA in INFORMATION), a total above MAXIMUM UNMAP
 *    LBA COUNT, a parameter list of 1-7 bytes.
 *  - Residuals: overflow and underflow against the transport's length.
 *  - Sense data: exact fixed (70h) and descriptor (72h) bytes with a
 *    field pointer and with INFORMATION, parse round trips, names.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "test-cdb.h"

/*----------------------------------------------------------------------
 * UNMAP.
 */

static size_t
unmap_list (uint8_t *p, const uint64_t *lbas, const uint32_t *counts,
            size_t n)
{
  size_t i, j;

  memset (p, 0, 8 + 16 * n);
  p[0] = (6 + 16 * n) >> 8;
  p[1] = (6 + 16 * n) & 0xff;
  p[2] = (16 * n) >> 8;
  p[3] = (16 * n) & 0xff;
  for (i = 0; i < n; i++) {
    for (j = 0; j < 8; j++)
      p[8 + 16 * i + j] = lbas[i] >> (56 - 8 * j);
    for (j = 0; j < 4; j++)
      p[16 + 16 * i + j] = counts[i] >> (24 - 8 * j);
  }
  return 8 + 16 * n;
}

START_TEST (test_unmap)
{
  uint8_t p[8 + 16 * 20];
  uint64_t lbas[20];
  uint32_t counts[20];
  struct scsi_unmap_desc d[20];
  struct scsi_sense s;
  size_t len, n, i;

  lu_init ();
  BAD (B (0x42, 0, 0, 0, 0, 0, 0, 0, 4), SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  BAD_FIELD (B (0x42, 0x01, 0, 0, 0, 0, 0, 0, 24), 1, 0);       /* ANCHOR */
  lu.thin = false;
  BAD (B (0x42, 0, 0, 0, 0, 0, 0, 0, 24), SCSI_ASC_INVALID_COMMAND_OPCODE);
  lu.thin = true;
  /* overlapping descriptors are fine */
  lbas[0] = 0; counts[0] = 100;
  lbas[1] = 50; counts[1] = 100;
  len = unmap_list (p, lbas, counts, 2);
  ck_assert_int_eq (scsi_unmap_parse (p, len, &lu, d, 20, &n, &s), 0);
  ck_assert_uint_eq (n, 2);
  ck_assert_uint_eq (d[1].lba, 50);
  ck_assert_uint_eq (d[1].nblocks, 100);
  /* a trailing partial descriptor is ignored; the length field cannot
   * claim more than was sent */
  ck_assert_int_eq (scsi_unmap_parse (p, len - 4, &lu, d, 20, &n, &s), 0);
  ck_assert_uint_eq (n, 1);
  ck_assert_int_eq (scsi_unmap_parse (p, 0, &lu, d, 20, &n, &s), 0);
  ck_assert_uint_eq (n, 0);
  ck_assert_int_eq (scsi_unmap_parse (p, 5, &lu, d, 20, &n, &s), -1);
  ck_assert_uint_eq (s.asc, 0x1a);
  /* too many descriptors */
  for (i = 0; i < 17; i++) {
    lbas[i] = i * 10;
    counts[i] = 1;
  }
  len = unmap_list (p, lbas, counts, 17);
  ck_assert_int_eq (scsi_unmap_parse (p, len, &lu, NULL, 0, &n, &s), -1);
  ck_assert_uint_eq (s.asc, 0x26);
  ck_assert (s.sks_valid && !(s.sks[0] & 0x40) && s.sks[2] == 2);
  ck_assert_int_eq (scsi_unmap_parse (p, len, &lu, d, 4, &n, &s), -1);
  /* out of range, and wrapping: LBA OUT OF RANGE with the LBA */
  lbas[0] = CAP - 1; counts[0] = 2;
  len = unmap_list (p, lbas, counts, 1);
  ck_assert_int_eq (scsi_unmap_parse (p, len, &lu, d, 20, &n, &s), -1);
  ck_assert_uint_eq (s.asc, 0x21);
  ck_assert (s.info_valid && s.info == CAP - 1);
  lbas[0] = UINT64_MAX; counts[0] = 2;
  len = unmap_list (p, lbas, counts, 1);
  ck_assert_int_eq (scsi_unmap_parse (p, len, &lu, d, 20, &n, &s), -1);
  ck_assert_uint_eq (s.asc, 0x21);
  /* more blocks than MAXIMUM UNMAP LBA COUNT, in total */
  lbas[0] = 0; counts[0] = 1 << 19;
  lbas[1] = 1 << 19; counts[1] = (1 << 19) + 1;
  len = unmap_list (p, lbas, counts, 2);
  ck_assert_int_eq (scsi_unmap_parse (p, len, &lu, d, 20, &n, &s), -1);
  ck_assert_uint_eq (s.asc, 0x26);
  ck_assert_uint_eq (s.sks[2], 8 + 16 + 8);
}
END_TEST

START_TEST (test_residual)
{
  struct scsi_cdb c;
  struct scsi_residual r;

  lu_init ();
  OK (B (0x28, 0, 0, 0, 0, 0, 0, 0, 8), &c);     /* READ(10), 4096 bytes */
  scsi_cdb_residual (&c, 4096, &r);
  ck_assert (!r.overflow && !r.underflow && r.transfer == 4096);
  scsi_cdb_residual (&c, 1024, &r);
  ck_assert (r.overflow && r.residual == 3072 && r.transfer == 1024);
  scsi_cdb_residual (&c, 8192, &r);
  ck_assert (r.underflow && r.residual == 4096 && r.transfer == 4096);
  ck_assert_str_eq (scsi_data_dir_to_string (SCSI_DIR_IN), "data-in");
}
END_TEST

/*----------------------------------------------------------------------
 * Sense data.
 */

START_TEST (test_sense_bytes)
{
  static const uint8_t fixed[18] = {
    0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, 0xcc, 0, 2,
  };
  static const uint8_t desc[16] = {
    0x72, 0x05, 0x24, 0x00, 0, 0, 0, 0x08, 0x02, 0x06, 0, 0, 0xcc, 0, 2, 0,
  };
  static const uint8_t desc_info[20] = {
    0x72, 0x05, 0x21, 0x00, 0, 0, 0, 0x0c, 0x00, 0x0a, 0x80, 0,
    0, 0, 0, 0, 0, 0, 0x12, 0x34,
  };
  struct scsi_sense s, t;
  uint8_t buf[SCSI_SENSE_MAX];

  lu_init ();
  BAD_FIELD (B (0x28, 0x10 | 0x04), 1, 2);      /* sanity of the helpers */
  scsi_sense_set_field (&s, SCSI_ASC_INVALID_FIELD_IN_CDB, true, 2, 4);
  ck_assert_uint_eq (scsi_sense_build (&s, false, buf, sizeof buf), 18);
  ck_assert_mem_eq (buf, fixed, 18);
  ck_assert_int_eq (scsi_sense_parse (buf, 18, &t), 0);
  ck_assert_mem_eq (&s, &t, sizeof s);
  ck_assert_uint_eq (scsi_sense_build (&s, true, buf, sizeof buf), 16);
  ck_assert_mem_eq (buf, desc, 16);
  ck_assert_int_eq (scsi_sense_parse (buf, 16, &t), 0);
  ck_assert_mem_eq (&s, &t, sizeof s);
  ck_assert_uint_eq (scsi_sense_build (&s, true, buf, 15), 0);
  ck_assert_uint_eq (scsi_sense_build (&s, false, buf, 17), 0);
  scsi_sense_set (&s, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
  scsi_sense_set_info (&s, 0x1234);
  ck_assert_uint_eq (scsi_sense_build (&s, true, buf, sizeof buf), 20);
  ck_assert_mem_eq (buf, desc_info, 20);
  ck_assert_uint_eq (scsi_sense_build (&s, false, buf, sizeof buf), 18);
  ck_assert_uint_eq (buf[0], 0xf0);             /* VALID */
  ck_assert_uint_eq (buf[5] << 8 | buf[6], 0x1234);
  ck_assert_int_eq (scsi_sense_parse (buf, 18, &t), 0);
  ck_assert_mem_eq (&s, &t, sizeof s);
  scsi_sense_set_info (&s, UINT64_C (1) << 40); /* does not fit fixed */
  scsi_sense_build (&s, false, buf, sizeof buf);
  ck_assert_uint_eq (buf[0], 0x70);
  buf[0] = 0x7f;
  ck_assert_int_eq (scsi_sense_parse (buf, 18, &t), -1);
  ck_assert_int_eq (scsi_sense_parse (buf, 4, &t), -1);
}
END_TEST

START_TEST (test_sense_strings)
{
  unsigned k;

  for (k = 0; k < 16; k++)
    ck_assert (scsi_sense_key_to_string (k)[0] != '\0');
  ck_assert_str_eq (scsi_sense_key_to_string (5), "ILLEGAL REQUEST");
  ck_assert_str_eq (scsi_asc_to_string (0x24, 0), "INVALID FIELD IN CDB");
  ck_assert_str_eq (scsi_asc_to_string (0x20, 0),
                    "INVALID COMMAND OPERATION CODE");
  ck_assert_str_eq (scsi_asc_to_string (0x21, 0),
                    "LOGICAL BLOCK ADDRESS OUT OF RANGE");
  ck_assert_str_eq (scsi_asc_to_string (0x7e, 0x7e),
                    "unknown additional sense code");
  ck_assert_str_eq (scsi_status_to_string (2), "CHECK CONDITION");
  ck_assert_str_eq (scsi_status_to_string (1), "unknown status");
}
END_TEST

void
add_sense_tests (TCase *tc)
{
  tcase_add_test (tc, test_unmap);
  tcase_add_test (tc, test_residual);
  tcase_add_test (tc, test_sense_bytes);
  tcase_add_test (tc, test_sense_strings);
}
