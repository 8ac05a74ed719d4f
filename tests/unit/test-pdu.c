/* segmap: unit tests for the iSCSI PDU layer (src/iscsi/pdu*.c).
 *
 * One program in two files: this one, and test-pdu-errors.c for the
 * error classes.  What is checked and how:
 *  - CRC32C against the RFC 3720 B.4 vectors (value and wire bytes),
 *    and against a bitwise CRC written here, over random buffers.
 *  - Wire layout: the RFC 3720 B.4 SCSI Read command and a Login
 *    Request built here byte by byte decode to the expected fields.
 *  - Round trips for every opcode, two samples each, with and without
 *    digests and with data lengths 0-5 and 257 (padding): encode,
 *    strict decode, compare, re-encode to identical bytes.
 *  - Reserved bits, by flipping every bit of every sample's BHS: a bit
 *    that strict decoding refuses as reserved is ignored by lenient
 *    decoding, and any bit strict decoding accepts re-encodes as is.
 *  - Every error class: truncation, trailing bytes, DataSegmentLength
 *    over the limit (seen from the first 48 bytes), AHS length/type,
 *    digests, reserved opcodes and wrong sender, fixed bits, Login T+C
 *    and stages and versions, Text F+C, SCSI Command R/W/F, tags, and
 *    what the target answers to each.
 *  - Serial number arithmetic and the CmdSN window across the wrap.
 *  - 200k random and mutated frames: no crash, and whatever strict
 *    decoding accepts re-encodes to the same bytes.
 *    SEGMAP_TEST_SEED=N reproduces a run.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test-pdu.h"

const uint8_t all_ops[N_OPS] = {
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10,
  0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f,
};

uint8_t payload[4096];
static uint8_t ext_cdb[20];

bool
is_target_op (unsigned op)
{
  return op >= 0x20;
}

bool
carries_data (unsigned op)
{
  return op != ISCSI_OP_TASK_MGMT && op != ISCSI_OP_LOGOUT
    && op != ISCSI_OP_SNACK && op != ISCSI_OP_TASK_MGMT_RESP
    && op != ISCSI_OP_LOGOUT_RESP && op != ISCSI_OP_R2T;
}

void
limits (struct iscsi_pdu_limits *lim, unsigned op, bool hd, bool dd)
{
  iscsi_pdu_limits_init (lim);
  lim->max_recv_dsl = ISCSI_MAX_DSL;
  lim->header_digest = hd;
  lim->data_digest = dd;
  lim->from_target = is_target_op (op);
  lim->strict = true;
}

static void
sample_numbers (struct iscsi_pdu *p, bool e)
{
  p->lun = e ? UINT64_MAX : UINT64_C (0x0001000000000000);
  p->itt = e ? 0xfffffffe : 7;
  p->cmdsn = e ? UINT32_MAX : 100;
  p->expstatsn = e ? 0 : 200;
  p->statsn = e ? UINT32_MAX : 300;
  p->expcmdsn = e ? 1 : 101;
  p->maxcmdsn = e ? UINT32_MAX : 132;
  p->datasn = e ? UINT32_MAX : 3;
  p->buffer_offset = e ? UINT32_MAX : 8192;
  p->residual = e ? UINT32_MAX : 512;
}

static void
sample_login (struct iscsi_pdu *p, bool e)
{
  p->transit = !e;
  p->cont = e;
  p->csg = e ? ISCSI_STAGE_OPERATIONAL : ISCSI_STAGE_SECURITY;
  p->nsg = e ? 0 : ISCSI_STAGE_OPERATIONAL;
  p->isid = e ? UINT64_C (0xffffffffffff) : UINT64_C (0x400001370000);
  p->tsih = e ? 0xffff : 0;
  p->cid = e ? 0xffff : 1;
  p->status_class = p->opcode == ISCSI_OP_LOGIN_RESP && e ? 2 : 0;
  p->status_detail = p->status_class ? 1 : 0;
}

static void
sample_scsi_cmd (struct iscsi_pdu *p, bool e)
{
  p->immediate = e;
  p->final = !e;
  p->read = true;
  p->write = e;
  p->attr = e ? ISCSI_ATTR_ACA : ISCSI_ATTR_SIMPLE;
  p->exp_xfer_len = e ? UINT32_MAX : 4096;
  memset (p->cdb, e ? 0xff : 0, sizeof p->cdb);
  p->cdb[0] = e ? 0x7f : 0x28;
  if (e) {
    p->ext_cdb = ext_cdb;
    p->ext_cdb_len = 17;
    p->has_bidi_read_len = true;
    p->bidi_read_len = UINT32_MAX;
  }
}

/* Fill the fields of OP that its BHS has; DATA_LEN bytes of payload. */
void
sample (struct iscsi_pdu *p, unsigned op, bool e, size_t data_len)
{
  iscsi_pdu_init (p, op);
  sample_numbers (p, e);
  switch (op) {
  case ISCSI_OP_NOP_OUT: case ISCSI_OP_NOP_IN:
    p->immediate = op == ISCSI_OP_NOP_OUT && e;
    p->itt = e ? RES : 7;
    p->ttt = e ? 0x1234 : RES;
    break;
  case ISCSI_OP_SCSI_CMD:
    sample_scsi_cmd (p, e);
    break;
  case ISCSI_OP_TASK_MGMT:
    p->function = e ? ISCSI_TMF_TASK_REASSIGN : ISCSI_TMF_LUN_RESET;
    p->ttt = e ? 99 : RES;
    p->refcmdsn = e ? UINT32_MAX : 50;
    p->exp_datasn = 4;
    break;
  case ISCSI_OP_LOGIN: case ISCSI_OP_LOGIN_RESP:
    sample_login (p, e);
    break;
  case ISCSI_OP_TEXT: case ISCSI_OP_TEXT_RESP:
    p->final = !e;
    p->cont = e;
    p->ttt = e ? 5 : RES;
    break;
  case ISCSI_OP_DATA_OUT:
    p->final = !e;
    p->ttt = e ? 9 : RES;
    break;
  case ISCSI_OP_LOGOUT:
    p->immediate = e;
    p->function = e ? 2 : 0;
    p->cid = e ? 0xffff : 1;
    break;
  case ISCSI_OP_SNACK:
    p->function = e ? 3 : 0;
    p->ttt = 17;
    p->begrun = e ? UINT32_MAX : 1;
    p->runlength = e ? UINT32_MAX : 2;
    break;
  case ISCSI_OP_SCSI_RESP:
    p->bidi_overflow = p->underflow = e;
    p->response = e ? 0x80 : 0;
    p->status = e ? 0x02 : 0;
    p->ttt = 3;
    p->exp_datasn = e ? UINT32_MAX : 2;
    p->bidi_residual = e ? UINT32_MAX : 0;
    break;
  case ISCSI_OP_TASK_MGMT_RESP:
    p->response = e ? 255 : 0;
    break;
  case ISCSI_OP_DATA_IN:
    p->final = p->status_present = true;
    p->ack = p->overflow = e;
    p->status = e ? 0x02 : 0;
    p->ttt = e ? 1 : RES;
    break;
  case ISCSI_OP_LOGOUT_RESP:
    p->response = e ? 3 : 0;
    p->time2wait = e ? 0xffff : 2;
    p->time2retain = e ? 0xffff : 20;
    break;
  case ISCSI_OP_R2T:
    p->ttt = e ? 0xfffffffe : 1;
    p->r2tsn = e ? UINT32_MAX : 0;
    p->desired_len = e ? UINT32_MAX : 65536;
    break;
  case ISCSI_OP_ASYNC:
    p->itt = RES;
    p->async_event = e ? 255 : 1;
    p->async_vcode = e ? 0xff : 0;
    p->param1 = e ? 0xffff : 1;
    p->param2 = e ? 0xffff : 2;
    p->param3 = e ? 0xffff : 3;
    break;
  case ISCSI_OP_REJECT:
    p->itt = RES;
    p->reason = e ? ISCSI_REJECT_WAITING_FOR_LOGOUT
      : ISCSI_REJECT_PROTOCOL_ERROR;
    break;
  }
  if (op == ISCSI_OP_SCSI_CMD && data_len > 0)
    p->write = true;
  p->data_len = data_len;
  p->data = data_len ? payload : NULL;
}

size_t
encode_ok (const struct iscsi_pdu *p, const struct iscsi_pdu_limits *lim,
           uint8_t *buf)
{
  size_t n;
  enum iscsi_pdu_error e = iscsi_pdu_encode (p, lim, buf, BUF_SIZE, &n);

  ck_assert_msg (e == ISCSI_PDU_OK, "encode %s: %s",
                 iscsi_opcode_to_string (p->opcode),
                 iscsi_pdu_error_to_string (e));
  ck_assert_uint_eq (n, iscsi_pdu_encoded_size (p, lim));
  return n;
}

enum iscsi_pdu_error
decode (const uint8_t *buf, size_t len, const struct iscsi_pdu_limits *lim,
        struct iscsi_pdu *out)
{
  return iscsi_pdu_decode (buf, len, lim, out);
}

/*----------------------------------------------------------------------
 * CRC32C.
 */

static uint32_t
ref_crc32c (const uint8_t *p, size_t n)
{
  uint32_t crc = 0xffffffff;
  int k;

  while (n-- > 0) {
    crc ^= *p++;
    for (k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (crc & 1 ? 0x82f63b78 : 0);
  }
  return ~crc;
}

const uint8_t rfc_read_pdu[48] = {
  0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
  0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
  0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

START_TEST (test_crc32c_rfc3720)
{
  uint8_t buf[32], wire[4];
  const uint8_t expect_wire[4] = { 0xaa, 0x36, 0x91, 0x8a };
  int i;

  memset (buf, 0, 32);
  ck_assert_uint_eq (iscsi_crc32c (buf, 32), 0x8a9136aa);
  iscsi_digest_put (wire, iscsi_crc32c (buf, 32));
  ck_assert_mem_eq (wire, expect_wire, 4);
  ck_assert_uint_eq (iscsi_digest_get (wire), 0x8a9136aa);
  memset (buf, 0xff, 32);
  ck_assert_uint_eq (iscsi_crc32c (buf, 32), 0x62a8ab43);
  for (i = 0; i < 32; i++)
    buf[i] = i;
  ck_assert_uint_eq (iscsi_crc32c (buf, 32), 0x46dd794e);
  for (i = 0; i < 32; i++)
    buf[i] = 31 - i;
  ck_assert_uint_eq (iscsi_crc32c (buf, 32), 0x113fdb5c);
  ck_assert_uint_eq (iscsi_crc32c (rfc_read_pdu, 48), 0xd9963a56);
  /* chaining in two parts gives the same digest */
  ck_assert_uint_eq (iscsi_crc32c_update (iscsi_crc32c_update
                                          (UINT32_MAX, rfc_read_pdu, 20),
                                          rfc_read_pdu + 20, 28)
                     ^ UINT32_MAX, 0xd9963a56);
}
END_TEST

START_TEST (test_crc32c_random)
{
  size_t n, i;

  for (n = 0; n < 600; n++) {
    for (i = 0; i < n; i++)
      payload[i] = random ();
    ck_assert_uint_eq (iscsi_crc32c (payload, n), ref_crc32c (payload, n));
  }
}
END_TEST

/*----------------------------------------------------------------------
 * Wire layout.
 */

START_TEST (test_golden_read_command)
{
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p;
  uint8_t buf[52];
  size_t n;

  limits (&lim, ISCSI_OP_SCSI_CMD, true, false);
  memcpy (buf, rfc_read_pdu, 48);
  iscsi_digest_put (&buf[48], iscsi_crc32c (buf, 48));
  ck_assert_int_eq (iscsi_pdu_need (buf, 48, &lim, &n), ISCSI_PDU_OK);
  ck_assert_uint_eq (n, 52);
  ck_assert_int_eq (decode (buf, 52, &lim, &p), ISCSI_PDU_OK);
  ck_assert_uint_eq (p.opcode, ISCSI_OP_SCSI_CMD);
  ck_assert (!p.immediate && p.final && p.read && !p.write);
  ck_assert_uint_eq (p.attr, ISCSI_ATTR_UNTAGGED);
  ck_assert_uint_eq (p.itt, 0x14000000);
  ck_assert_uint_eq (p.exp_xfer_len, 0x400);
  ck_assert_uint_eq (p.cmdsn, 0x14);
  ck_assert_uint_eq (p.expstatsn, 0x18);
  ck_assert_uint_eq (p.cdb[0], 0x28);
  ck_assert_uint_eq (p.cdb[8], 0x02);
  ck_assert_uint_eq (p.lun, 0);
}
END_TEST

START_TEST (test_golden_login)
{
  uint8_t b[48 + 4] = { 0x43, 0x81, 0x00, 0x00, 0, 0, 0, 4,
                        0x40, 0x00, 0x01, 0x37, 0x00, 0x00, 0x00, 0x00,
                        0, 0, 0, 1, 0x00, 0x01 };
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p;

  b[24 + 3] = 9;                /* CmdSN */
  b[28 + 3] = 10;               /* ExpStatSN */
  memcpy (&b[48], "A=B", 4);
  limits (&lim, ISCSI_OP_LOGIN, false, false);
  ck_assert_int_eq (decode (b, sizeof b, &lim, &p), ISCSI_PDU_OK);
  ck_assert (p.immediate && p.transit && !p.cont);
  ck_assert_uint_eq (p.csg, ISCSI_STAGE_SECURITY);
  ck_assert_uint_eq (p.nsg, ISCSI_STAGE_OPERATIONAL);
  ck_assert_uint_eq (p.isid, UINT64_C (0x400001370000));
  ck_assert_uint_eq (p.tsih, 0);
  ck_assert_uint_eq (p.itt, 1);
  ck_assert_uint_eq (p.cid, 1);
  ck_assert_uint_eq (p.cmdsn, 9);
  ck_assert_uint_eq (p.expstatsn, 10);
  ck_assert_uint_eq (p.data_len, 4);
  ck_assert_str_eq ((const char *) p.data, "A=B");
}
END_TEST

/*----------------------------------------------------------------------
 * Round trips.
 */

static void
roundtrip_one (unsigned op, bool e, size_t data_len, bool hd, bool dd)
{
  static uint8_t buf[BUF_SIZE], again[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  enum iscsi_pdu_error err;
  size_t n, m, need;

  limits (&lim, op, hd, dd);
  sample (&p, op, e, data_len);
  n = encode_ok (&p, &lim, buf);
  ck_assert_int_eq (iscsi_pdu_need (buf, 48, &lim, &need), ISCSI_PDU_OK);
  ck_assert_uint_eq (need, n);
  err = decode (buf, n, &lim, &q);
  ck_assert_msg (err == ISCSI_PDU_OK, "decode %s (e=%d, data %zu): %s",
                 iscsi_opcode_to_string (op), e, data_len,
                 iscsi_pdu_error_to_string (err));
  ck_assert_msg (iscsi_pdu_equal (&p, &q), "%s differs after round trip",
                 iscsi_opcode_to_string (op));
  m = encode_ok (&q, &lim, again);
  ck_assert_uint_eq (m, n);
  ck_assert_mem_eq (buf, again, n);
}

START_TEST (test_roundtrip)
{
  static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 257 };
  unsigned op = all_ops[_i], d, e, l;

  for (d = 0; d < 4; d++)
    for (e = 0; e < 2; e++)
      for (l = 0; l < sizeof lens / sizeof lens[0]; l++)
        if (lens[l] == 0 || carries_data (op))
          roundtrip_one (op, e, lens[l], d & 1, d & 2);
}
END_TEST

/* Every bit of every sample BHS: reserved bits are ignored unless
 * strict; bits strict decoding accepts are encoded faithfully. */
START_TEST (test_reserved_bits)
{
  static uint8_t buf[BUF_SIZE], flipped[BUF_SIZE], again[BUF_SIZE];
  unsigned op = all_ops[_i], e, byte, bit;
  struct iscsi_pdu_limits strict, lenient;
  struct iscsi_pdu p, q;
  size_t n, m;

  limits (&strict, op, false, false);
  lenient = strict;
  lenient.strict = false;
  for (e = 0; e < 2; e++) {
    sample (&p, op, e, carries_data (op) ? 4 : 0);
    n = encode_ok (&p, &strict, buf);
    for (byte = 0; byte < 48; byte++)
      for (bit = 0; bit < 8; bit++) {
        if ((byte >= 4 && byte < 8)     /* lengths: other tests */
            || (byte == 0 && bit < 6))  /* another opcode */
          continue;
        memcpy (flipped, buf, n);
        flipped[byte] ^= 1 << bit;
        if (decode (flipped, n, &strict, &q) == ISCSI_PDU_ERR_RESERVED) {
          ck_assert_msg (decode (flipped, n, &lenient, &q) == ISCSI_PDU_OK,
                         "%s e=%u byte %u bit %u: %s",
                         iscsi_opcode_to_string (op), e, byte, bit,
                         iscsi_pdu_error_to_string
                         (decode (flipped, n, &lenient, &q)));
          ck_assert_msg (iscsi_pdu_equal (&p, &q), "%s e=%u byte %u bit %u",
                         iscsi_opcode_to_string (op), e, byte, bit);
          continue;
        }
        if (decode (flipped, n, &strict, &q) != ISCSI_PDU_OK)
          continue;
        ck_assert_int_eq (iscsi_pdu_encode (&q, &strict, again, BUF_SIZE, &m),
                          ISCSI_PDU_OK);
        ck_assert_mem_eq (again, flipped, n);
      }
  }
}
END_TEST

/* RFC 7143 sets no order for the AHS entries: a command whose
 * Bidirectional Read Expected Length comes before its Extended CDB
 * decodes, and re-encodes to the same bytes (found by fuzz-pdu). */
START_TEST (test_ahs_order)
{
  static const uint8_t ahs[2][16] = {
    { 0, 5, 1, 0, 0xa1, 0xa2, 0xa3, 0xa4, 0, 5, 2, 0, 0, 0, 0x10, 0 },
    { 0, 5, 2, 0, 0, 0, 0x10, 0, 0, 5, 1, 0, 0xa1, 0xa2, 0xa3, 0xa4 },
  };
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  uint8_t buf[64], again[64];
  size_t m;
  int i;

  limits (&lim, ISCSI_OP_SCSI_CMD, false, false);
  for (i = 0; i < 2; i++) {
    iscsi_pdu_init (&p, ISCSI_OP_SCSI_CMD);
    p.final = p.read = p.write = true;
    p.cdb[0] = 0x7f;
    m = encode_ok (&p, &lim, buf);
    ck_assert_uint_eq (m, 48);
    buf[4] = 4;
    memcpy (&buf[48], ahs[i], 16);
    ck_assert_int_eq (decode (buf, 64, &lim, &q), ISCSI_PDU_OK);
    ck_assert (q.has_bidi_read_len && q.bidi_read_len == 0x1000);
    ck_assert_uint_eq (q.ext_cdb_len, 4);
    ck_assert_int_eq (iscsi_pdu_encode (&q, &lim, again, sizeof again, &m),
                      ISCSI_PDU_OK);
    ck_assert_uint_eq (m, 64);
    ck_assert_mem_eq (again, buf, 64);
  }
}
END_TEST

/*----------------------------------------------------------------------
 * Random frames.
 */

static unsigned seed;

/* Decode BUF both ways; whatever strict decoding accepts must encode
 * back to the very same bytes, and lenient decoding must agree. */
static void
check_frame (const uint8_t *buf, size_t len, struct iscsi_pdu_limits *lim)
{
  static uint8_t again[BUF_SIZE + 8];
  struct iscsi_pdu q, r;
  size_t m;

  lim->strict = false;
  if (decode (buf, len, lim, &r) != ISCSI_PDU_OK)
    return;
  lim->strict = true;
  if (decode (buf, len, lim, &q) != ISCSI_PDU_OK)
    return;
  ck_assert (iscsi_pdu_equal (&q, &r));
  ck_assert_int_eq (iscsi_pdu_encode (&q, lim, again, sizeof again, &m),
                    ISCSI_PDU_OK);
  ck_assert_uint_eq (m, len);
  ck_assert_mem_eq (again, buf, len);
}

START_TEST (test_random_frames)
{
  static uint8_t buf[BUF_SIZE + 8];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p;
  unsigned iter, i;
  size_t n, need;

  srandom (seed);
  for (iter = 0; iter < 200000; iter++) {
    unsigned op = all_ops[random () % N_OPS];

    limits (&lim, op, random () & 1, random () & 1);
    if (iter & 1) {             /* a mutated valid frame */
      sample (&p, op, random () & 1,
              carries_data (op) ? random () % 9 : 0);
      n = encode_ok (&p, &lim, buf);
      for (i = random () % 4; i > 0; i--)
        buf[random () % n] ^= 1 << (random () % 8);
    }
    else {                      /* random bytes with a plausible top */
      n = 48 + random () % 80;
      for (i = 0; i < n; i++)
        buf[i] = random ();
      buf[0] = op | (random () & 0xc0);
      buf[4] = random () % 3;
      buf[5] = buf[6] = 0;
      buf[7] = random () % 24;
    }
    lim.max_recv_dsl = 64;
    if (iscsi_pdu_need (buf, n, &lim, &need) == ISCSI_PDU_OK
        && need <= sizeof buf)
      n = need;
    check_frame (buf, n, &lim);
  }
}
END_TEST

static Suite *
pdu_suite (void)
{
  Suite *s = suite_create ("pdu");
  TCase *tc = tcase_create ("pdu");

  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_crc32c_rfc3720);
  tcase_add_test (tc, test_crc32c_random);
  tcase_add_test (tc, test_golden_read_command);
  tcase_add_test (tc, test_golden_login);
  tcase_add_loop_test (tc, test_roundtrip, 0, N_OPS);
  tcase_add_loop_test (tc, test_reserved_bits, 0, N_OPS);
  tcase_add_test (tc, test_ahs_order);
  tcase_add_test (tc, test_random_frames);
  add_error_tests (tc);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  const char *env = getenv ("SEGMAP_TEST_SEED");
  SRunner *sr = srunner_create (pdu_suite ());
  int failed;

  seed = env ? strtoul (env, NULL, 0) : (unsigned) time (NULL);
  printf ("test-pdu: SEGMAP_TEST_SEED=%u\n", seed);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
