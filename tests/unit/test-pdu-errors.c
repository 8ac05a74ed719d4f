/* segmap: unit tests for the iSCSI PDU layer, part two: every error
 * class of RELIABILITY.md "iSCSI PDUs" that this layer can see, and
 * what the target answers to each (see test-pdu.c for part one).
 *
 *  - Framing: truncation at every length, trailing bytes, a
 *    DataSegmentLength above the limit seen from the first 48 bytes,
 *    AHS length and type errors, header and data digests, padding.
 *  - Fields: Login T+C, stages, versions; Text F+C; SCSI Command
 *    R/W/F and attributes; reserved tags; reserved codes of every
 *    opcode -- refused alike by the encoder and by the decoder.
 *  - Fixed bits, reserved opcodes, the wrong sender, data on PDUs that
 *    carry none, encoder limits, Reject and sense segments, names,
 *    serial number arithmetic.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "test-pdu.h"

/*----------------------------------------------------------------------
 * Framing errors.
 */

START_TEST (test_truncated_and_trailing)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  size_t n, i, need;

  limits (&lim, ISCSI_OP_SCSI_CMD, true, true);
  sample (&p, ISCSI_OP_SCSI_CMD, true, 5);
  n = encode_ok (&p, &lim, buf);
  for (i = 0; i < n; i++) {
    ck_assert_int_eq (decode (buf, i, &lim, &q), ISCSI_PDU_ERR_TRUNCATED);
    ck_assert_int_eq (iscsi_pdu_need (buf, i, &lim, &need), ISCSI_PDU_OK);
    ck_assert_uint_eq (need, i < 48 ? 48 : n);
  }
  ck_assert_int_eq (decode (buf, n + 1, &lim, &q), ISCSI_PDU_ERR_LENGTH);
  ck_assert_int_eq (iscsi_pdu_error_answer (ISCSI_PDU_ERR_TRUNCATED, 1).kind,
                    ISCSI_ANSWER_DROP);
}
END_TEST

/* The limit is enforced from the first 48 bytes, before any data. */
START_TEST (test_data_too_long)
{
  uint8_t bhs[48] = { ISCSI_OP_NOP_OUT | 0x40, 0x80 };
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu_answer a;
  struct iscsi_pdu q;
  size_t need;

  limits (&lim, 0, false, false);
  lim.max_recv_dsl = 8192;
  bhs[5] = 0x00; bhs[6] = 0x20; bhs[7] = 0x00;          /* 8192: fine */
  ck_assert_int_eq (iscsi_pdu_need (bhs, 48, &lim, &need), ISCSI_PDU_OK);
  ck_assert_uint_eq (need, 48 + 8192);
  bhs[7] = 0x01;                                        /* 8193 */
  ck_assert_int_eq (iscsi_pdu_need (bhs, 48, &lim, &need),
                    ISCSI_PDU_ERR_DATA_TOO_LONG);
  ck_assert_int_eq (decode (bhs, 48, &lim, &q), ISCSI_PDU_ERR_DATA_TOO_LONG);
  bhs[5] = bhs[6] = bhs[7] = 0xff;                      /* 2^24 - 1 */
  ck_assert_int_eq (iscsi_pdu_need (bhs, 48, &lim, &need),
                    ISCSI_PDU_ERR_DATA_TOO_LONG);
  lim.max_recv_dsl = ISCSI_MAX_DSL;
  ck_assert_int_eq (iscsi_pdu_need (bhs, 48, &lim, &need), ISCSI_PDU_OK);
  ck_assert_uint_eq (need, 48 + 0xffffff + 1);
  a = iscsi_pdu_error_answer (ISCSI_PDU_ERR_DATA_TOO_LONG, 0);
  ck_assert_int_eq (a.kind, ISCSI_ANSWER_REJECT);
  ck_assert_int_eq (a.reject_reason, ISCSI_REJECT_PROTOCOL_ERROR);
  ck_assert (a.close);
}
END_TEST

/* Build a SCSI Command frame with the given raw AHS bytes. */
static size_t
frame_with_ahs (uint8_t *buf, const uint8_t *ahs, size_t ahs_len)
{
  memset (buf, 0, 48);
  buf[0] = ISCSI_OP_SCSI_CMD;
  buf[1] = 0xc0;                /* F R */
  buf[4] = ahs_len / 4;
  buf[19] = 1;                  /* ITT */
  memcpy (&buf[48], ahs, ahs_len);
  return 48 + ahs_len;
}

START_TEST (test_ahs)
{
  static const uint8_t ext[8] = { 0, 5, 1, 0, 0xa1, 0xa2, 0xa3, 0xa4 };
  static const uint8_t bad_len[8] = { 0, 9, 1, 0, 1, 2, 3, 4 };
  static const uint8_t bad_type[8] = { 0, 1, 7, 0, 0, 0, 0, 0 };
  static const uint8_t twice[16] = { 0, 2, 1, 0, 9, 0, 0, 0,
                                     0, 2, 1, 0, 9, 0, 0, 0 };
  static const uint8_t bidi_rw[8] = { 0, 5, 2, 0, 0, 0, 1, 0 };
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu q;
  uint8_t buf[80];
  size_t n;

  limits (&lim, ISCSI_OP_SCSI_CMD, false, false);
  n = frame_with_ahs (buf, ext, 8);
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_OK);
  ck_assert_uint_eq (q.ext_cdb_len, 4);
  ck_assert_uint_eq (q.ext_cdb[3], 0xa4);
  n = frame_with_ahs (buf, bad_len, 8);
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_AHS_LENGTH);
  n = frame_with_ahs (buf, ext, 4);             /* entry cut short */
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_AHS_LENGTH);
  n = frame_with_ahs (buf, bad_type, 8);
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_AHS_TYPE);
  n = frame_with_ahs (buf, twice, 16);
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_AHS_TYPE);
  n = frame_with_ahs (buf, bidi_rw, 8);         /* needs R and W */
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_DIRECTION);
  buf[1] |= 0x20;
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_OK);
  ck_assert_uint_eq (q.bidi_read_len, 256);
  n = frame_with_ahs (buf, ext, 8);
  buf[0] = ISCSI_OP_NOP_OUT | 0x40;             /* AHS on NOP-Out */
  buf[1] = 0x80;
  buf[16] = buf[17] = buf[18] = buf[19] = 0xff;
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_AHS_FORBIDDEN);
}
END_TEST

START_TEST (test_digests)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  struct iscsi_pdu_answer a;
  size_t n, i, hlen = 48 + 4;

  limits (&lim, ISCSI_OP_NOP_OUT, true, true);
  sample (&p, ISCSI_OP_NOP_OUT, false, 6);
  n = encode_ok (&p, &lim, buf);
  ck_assert_uint_eq (n, 48 + 4 + 8 + 4);
  for (i = 0; i < n; i++) {
    buf[i] ^= 0x10;
    if (i < hlen && (i < 4 || i > 7))
      ck_assert_int_eq (decode (buf, n, &lim, &q),
                        ISCSI_PDU_ERR_HEADER_DIGEST);
    else if (i >= hlen)
      ck_assert_int_eq (decode (buf, n, &lim, &q),
                        ISCSI_PDU_ERR_DATA_DIGEST);
    buf[i] ^= 0x10;
  }
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_OK);
  a = iscsi_pdu_error_answer (ISCSI_PDU_ERR_HEADER_DIGEST, 0);
  ck_assert_int_eq (a.kind, ISCSI_ANSWER_DROP);
  a = iscsi_pdu_error_answer (ISCSI_PDU_ERR_DATA_DIGEST, 1);
  ck_assert_int_eq (a.kind, ISCSI_ANSWER_REJECT);
  ck_assert_int_eq (a.reject_reason, ISCSI_REJECT_DATA_DIGEST);
}
END_TEST

START_TEST (test_padding)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  size_t n;

  limits (&lim, ISCSI_OP_TEXT, false, false);
  sample (&p, ISCSI_OP_TEXT, false, 5);
  n = encode_ok (&p, &lim, buf);
  ck_assert_uint_eq (n, 48 + 8);
  buf[n - 1] = 1;
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_PADDING);
  lim.strict = false;
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_OK);
}
END_TEST

/*----------------------------------------------------------------------
 * Field errors, one PDU at a time: SAMPLE (op, e, data) then MUTATE.
 */

struct field_case {
  const char *what;
  unsigned op;
  void (*mutate) (struct iscsi_pdu *p);
  enum iscsi_pdu_error expect;
};

static void m_login_tc (struct iscsi_pdu *p) { p->transit = p->cont = true; }
static void m_login_csg2 (struct iscsi_pdu *p) { p->csg = 2; }
static void m_login_nsg2 (struct iscsi_pdu *p) { p->nsg = 2; }
static void m_login_back (struct iscsi_pdu *p) { p->csg = 1; p->nsg = 0; }
static void m_login_ffp (struct iscsi_pdu *p) { p->csg = 3; p->transit = 0; }
static void m_login_ver (struct iscsi_pdu *p) { p->version_min = 1; }
static void m_login_itt (struct iscsi_pdu *p) { p->itt = RES; }
static void m_text_fc (struct iscsi_pdu *p) { p->final = p->cont = true; }
static void m_cmd_attr (struct iscsi_pdu *p) { p->attr = 5; }
static void m_cmd_nofw (struct iscsi_pdu *p) { p->final = p->write = 0; }
static void m_cmd_nodir (struct iscsi_pdu *p) { p->read = p->write = 0; }
static void m_cmd_itt (struct iscsi_pdu *p) { p->itt = RES; }
static void m_nop_noimm (struct iscsi_pdu *p) { p->itt = RES; p->ttt = RES; }
static void m_nop_both (struct iscsi_pdu *p) { p->itt = 1; p->ttt = 2; }
static void m_tmf_zero (struct iscsi_pdu *p) { p->function = 0; }
static void m_tmf_nine (struct iscsi_pdu *p) { p->function = 9; }
static void m_tmf_rtt (struct iscsi_pdu *p)
{
  p->function = ISCSI_TMF_ABORT_TASK;
  p->ttt = RES;
}
static void m_logout_3 (struct iscsi_pdu *p) { p->function = 3; }
static void m_snack_4 (struct iscsi_pdu *p) { p->function = 4; }
static void m_dout_itt (struct iscsi_pdu *p) { p->itt = RES; }
static void m_resp_ou (struct iscsi_pdu *p) { p->overflow = 1; p->underflow = 1; }
static void m_resp_code (struct iscsi_pdu *p) { p->response = 2; }
static void m_din_s_nof (struct iscsi_pdu *p) { p->final = 0; }
static void m_r2t_zero (struct iscsi_pdu *p) { p->desired_len = 0; }
static void m_reject_0 (struct iscsi_pdu *p) { p->reason = 0; }
static void m_reject_itt (struct iscsi_pdu *p) { p->itt = 5; }
static void m_async_ev (struct iscsi_pdu *p) { p->async_event = 5; }
static void m_tmfr_code (struct iscsi_pdu *p) { p->response = 7; }
static void m_lor_code (struct iscsi_pdu *p) { p->response = 4; }

static const struct field_case field_cases[] = {
  { "Login T+C", ISCSI_OP_LOGIN, m_login_tc, ISCSI_PDU_ERR_TRANSIT_CONTINUE },
  { "Login CSG 2", ISCSI_OP_LOGIN, m_login_csg2, ISCSI_PDU_ERR_FIELD_VALUE },
  { "Login NSG 2", ISCSI_OP_LOGIN, m_login_nsg2, ISCSI_PDU_ERR_FIELD_VALUE },
  { "Login 1->0", ISCSI_OP_LOGIN, m_login_back, ISCSI_PDU_ERR_STAGE },
  { "Login CSG 3", ISCSI_OP_LOGIN, m_login_ffp, ISCSI_PDU_ERR_STAGE },
  { "Login min > max", ISCSI_OP_LOGIN, m_login_ver, ISCSI_PDU_ERR_VERSION },
  { "Login ITT", ISCSI_OP_LOGIN, m_login_itt, ISCSI_PDU_ERR_TAG },
  { "Login Resp T+C", ISCSI_OP_LOGIN_RESP, m_login_tc,
    ISCSI_PDU_ERR_TRANSIT_CONTINUE },
  { "Text F+C", ISCSI_OP_TEXT, m_text_fc, ISCSI_PDU_ERR_TRANSIT_CONTINUE },
  { "Text Resp F+C", ISCSI_OP_TEXT_RESP, m_text_fc,
    ISCSI_PDU_ERR_TRANSIT_CONTINUE },
  { "SCSI ATTR 5", ISCSI_OP_SCSI_CMD, m_cmd_attr, ISCSI_PDU_ERR_FIELD_VALUE },
  { "SCSI no F no W", ISCSI_OP_SCSI_CMD, m_cmd_nofw, ISCSI_PDU_ERR_DIRECTION },
  { "SCSI length no R/W", ISCSI_OP_SCSI_CMD, m_cmd_nodir,
    ISCSI_PDU_ERR_DIRECTION },
  { "SCSI reserved ITT", ISCSI_OP_SCSI_CMD, m_cmd_itt, ISCSI_PDU_ERR_TAG },
  { "NOP-Out ITT without I", ISCSI_OP_NOP_OUT, m_nop_noimm,
    ISCSI_PDU_ERR_TAG },
  { "NOP-Out two tags", ISCSI_OP_NOP_OUT, m_nop_both, ISCSI_PDU_ERR_TAG },
  { "NOP-In two tags", ISCSI_OP_NOP_IN, m_nop_both, ISCSI_PDU_ERR_TAG },
  { "TMF function 0", ISCSI_OP_TASK_MGMT, m_tmf_zero,
    ISCSI_PDU_ERR_FIELD_VALUE },
  { "TMF function 9", ISCSI_OP_TASK_MGMT, m_tmf_nine,
    ISCSI_PDU_ERR_FIELD_VALUE },
  { "ABORT TASK without RTT", ISCSI_OP_TASK_MGMT, m_tmf_rtt,
    ISCSI_PDU_ERR_TAG },
  { "Logout reason 3", ISCSI_OP_LOGOUT, m_logout_3,
    ISCSI_PDU_ERR_FIELD_VALUE },
  { "SNACK type 4", ISCSI_OP_SNACK, m_snack_4, ISCSI_PDU_ERR_FIELD_VALUE },
  { "Data-Out reserved ITT", ISCSI_OP_DATA_OUT, m_dout_itt,
    ISCSI_PDU_ERR_TAG },
  { "SCSI Resp O+U", ISCSI_OP_SCSI_RESP, m_resp_ou, ISCSI_PDU_ERR_FLAGS },
  { "SCSI Resp response 2", ISCSI_OP_SCSI_RESP, m_resp_code,
    ISCSI_PDU_ERR_FIELD_VALUE },
  { "Data-In S without F", ISCSI_OP_DATA_IN, m_din_s_nof,
    ISCSI_PDU_ERR_FLAGS },
  { "R2T length 0", ISCSI_OP_R2T, m_r2t_zero, ISCSI_PDU_ERR_FIELD_VALUE },
  { "Reject reason 0", ISCSI_OP_REJECT, m_reject_0,
    ISCSI_PDU_ERR_FIELD_VALUE },
  { "Reject with ITT", ISCSI_OP_REJECT, m_reject_itt, ISCSI_PDU_ERR_TAG },
  { "Async event 5", ISCSI_OP_ASYNC, m_async_ev, ISCSI_PDU_ERR_FIELD_VALUE },
  { "TMF Resp 7", ISCSI_OP_TASK_MGMT_RESP, m_tmfr_code,
    ISCSI_PDU_ERR_FIELD_VALUE },
  { "Logout Resp 4", ISCSI_OP_LOGOUT_RESP, m_lor_code,
    ISCSI_PDU_ERR_FIELD_VALUE },
};

/* The encoder refuses the mutated struct; a frame with the same bits
 * (encoded before the mutation, then patched) is refused by the
 * decoder with the same error. */
START_TEST (test_field_errors)
{
  static uint8_t good[BUF_SIZE], bad[BUF_SIZE];
  const struct field_case *c = &field_cases[_i];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  size_t n, m;
  unsigned i;

  limits (&lim, c->op, false, false);
  lim.strict = false;
  sample (&p, c->op, false, 0);
  n = encode_ok (&p, &lim, good);
  c->mutate (&p);
  ck_assert_msg (iscsi_pdu_encode (&p, &lim, bad, BUF_SIZE, &m) == c->expect,
                 "%s: encoder", c->what);
  /* The same bits on the wire, patched into the good frame by hand. */
  memcpy (bad, good, n);
  bad[1] = 0;
  bad[0] = c->op | (p.immediate ? 0x40 : 0);
  switch (c->op) {
  case ISCSI_OP_LOGIN: case ISCSI_OP_LOGIN_RESP:
    bad[1] = p.transit << 7 | p.cont << 6 | p.csg << 2 | p.nsg;
    bad[3] = p.version_min;
    break;
  case ISCSI_OP_TEXT: case ISCSI_OP_TEXT_RESP:
    bad[1] = p.final << 7 | p.cont << 6;
    break;
  case ISCSI_OP_SCSI_CMD:
    bad[1] = p.final << 7 | p.read << 6 | p.write << 5 | p.attr;
    break;
  case ISCSI_OP_TASK_MGMT: case ISCSI_OP_LOGOUT: case ISCSI_OP_SNACK:
    bad[1] = 0x80 | p.function;
    break;
  case ISCSI_OP_SCSI_RESP:
    bad[1] = 0x80 | p.overflow << 2 | p.underflow << 1;
    bad[2] = p.response;
    break;
  case ISCSI_OP_DATA_IN:
    bad[1] = p.final << 7 | p.status_present;
    break;
  case ISCSI_OP_REJECT:
    bad[1] = 0x80;
    bad[2] = p.reason;
    break;
  case ISCSI_OP_TASK_MGMT_RESP: case ISCSI_OP_LOGOUT_RESP:
    bad[1] = 0x80;
    bad[2] = p.response;
    break;
  case ISCSI_OP_ASYNC:
    bad[1] = 0x80;
    bad[36] = p.async_event;
    break;
  default:
    bad[1] = good[1];
    break;
  }
  for (i = 0; i < 4; i++) {
    bad[16 + i] = p.itt >> (24 - 8 * i);
    if (c->op != ISCSI_OP_SCSI_CMD)
      bad[20 + i] = p.ttt >> (24 - 8 * i);
    if (c->op == ISCSI_OP_R2T)
      bad[44 + i] = p.desired_len >> (24 - 8 * i);
  }
  ck_assert_msg (decode (bad, n, &lim, &q) == c->expect,
                 "%s: decoder says %s", c->what,
                 iscsi_pdu_error_to_string (decode (bad, n, &lim, &q)));
}
END_TEST

START_TEST (test_fixed_bits_and_sender)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  size_t n;
  unsigned op;

  /* NOP-Out with F=0, Login without I */
  limits (&lim, ISCSI_OP_NOP_OUT, false, false);
  sample (&p, ISCSI_OP_NOP_OUT, false, 0);
  n = encode_ok (&p, &lim, buf);
  buf[1] &= 0x7f;
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_FIXED_BIT);
  sample (&p, ISCSI_OP_LOGIN, false, 0);
  n = encode_ok (&p, &lim, buf);
  buf[0] &= ~0x40;
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_ERR_FIXED_BIT);
  p.final = false;
  iscsi_pdu_init (&p, ISCSI_OP_NOP_OUT);
  p.final = false;
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, BUF_SIZE, &n),
                    ISCSI_PDU_ERR_FIXED_BIT);
  /* Every opcode: reserved ones refused, others only from their side. */
  for (op = 0; op < 64; op++) {
    memset (buf, 0, 48);
    buf[0] = op;
    lim.from_target = false;
    if (iscsi_opcode_to_string (op)[0] == 'r')   /* "reserved opcode" */
      ck_assert_int_eq (decode (buf, 48, &lim, &q), ISCSI_PDU_ERR_OPCODE);
    else if (is_target_op (op))
      ck_assert_int_eq (decode (buf, 48, &lim, &q),
                        ISCSI_PDU_ERR_WRONG_SENDER);
    lim.from_target = true;
    if (!is_target_op (op) && iscsi_opcode_to_string (op)[0] != 'r')
      ck_assert_int_eq (decode (buf, 48, &lim, &q),
                        ISCSI_PDU_ERR_WRONG_SENDER);
  }
  ck_assert_int_eq (iscsi_pdu_error_answer (ISCSI_PDU_ERR_OPCODE, 0x1f)
                    .reject_reason, ISCSI_REJECT_PROTOCOL_ERROR);
}
END_TEST

START_TEST (test_data_forbidden)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  size_t n;

  limits (&lim, ISCSI_OP_TASK_MGMT, false, false);
  sample (&p, ISCSI_OP_TASK_MGMT, false, 0);
  n = encode_ok (&p, &lim, buf);
  p.data = payload;
  p.data_len = 4;
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, BUF_SIZE, &n),
                    ISCSI_PDU_ERR_DATA_FORBIDDEN);
  sample (&p, ISCSI_OP_TASK_MGMT, false, 0);
  n = encode_ok (&p, &lim, buf);
  buf[7] = 4;
  memset (&buf[48], 'x', 4);
  ck_assert_int_eq (decode (buf, 52, &lim, &q), ISCSI_PDU_ERR_DATA_FORBIDDEN);
  /* SCSI Command: immediate data needs W */
  sample (&p, ISCSI_OP_SCSI_CMD, false, 4);
  p.write = false;
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, BUF_SIZE, &n),
                    ISCSI_PDU_ERR_DIRECTION);
}
END_TEST

START_TEST (test_encoder_limits)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p;
  size_t n;

  limits (&lim, ISCSI_OP_DATA_IN, false, false);
  sample (&p, ISCSI_OP_DATA_IN, false, 300);
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, 48 + 299, &n),
                    ISCSI_PDU_ERR_BUFFER);
  ck_assert_uint_eq (n, 0);
  lim.max_recv_dsl = 299;       /* the peer's MaxRecvDataSegmentLength */
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, BUF_SIZE, &n),
                    ISCSI_PDU_ERR_DATA_TOO_LONG);
  sample (&p, ISCSI_OP_LOGIN_RESP, false, 0);
  p.isid = UINT64_C (1) << 48;  /* does not fit 6 bytes */
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, BUF_SIZE, &n),
                    ISCSI_PDU_ERR_FIELD_VALUE);
  iscsi_pdu_init (&p, 0x3e);
  ck_assert_int_eq (iscsi_pdu_encode (&p, &lim, buf, BUF_SIZE, &n),
                    ISCSI_PDU_ERR_OPCODE);
}
END_TEST

START_TEST (test_login_answers)
{
  struct iscsi_pdu_answer a;

  a = iscsi_pdu_error_answer (ISCSI_PDU_ERR_TRANSIT_CONTINUE,
                              ISCSI_OP_LOGIN);
  ck_assert_int_eq (a.kind, ISCSI_ANSWER_LOGIN_REJECT);
  ck_assert_uint_eq (a.login_status, ISCSI_LOGIN_INITIATOR_ERROR);
  ck_assert (a.close);
  a = iscsi_pdu_error_answer (ISCSI_PDU_ERR_VERSION, ISCSI_OP_LOGIN);
  ck_assert_uint_eq (a.login_status, ISCSI_LOGIN_UNSUPPORTED_VERSION);
  a = iscsi_pdu_error_answer (ISCSI_PDU_ERR_TAG, ISCSI_OP_SCSI_CMD);
  ck_assert_int_eq (a.kind, ISCSI_ANSWER_REJECT);
  ck_assert_uint_eq (a.reject_reason, ISCSI_REJECT_INVALID_PDU_FIELD);
  a = iscsi_pdu_error_answer (ISCSI_PDU_OK, 0);
  ck_assert_int_eq (a.kind, ISCSI_ANSWER_NONE);
}
END_TEST

START_TEST (test_reject_and_sense_segment)
{
  static uint8_t buf[BUF_SIZE];
  struct iscsi_pdu_limits lim;
  struct iscsi_pdu p, q;
  uint8_t seg[20], sense[18] = { 0x70, 0, 5 };
  size_t n;

  limits (&lim, ISCSI_OP_REJECT, true, true);
  iscsi_pdu_make_reject (&p, ISCSI_REJECT_PROTOCOL_ERROR, rfc_read_pdu);
  p.statsn = 5;
  n = encode_ok (&p, &lim, buf);
  ck_assert_int_eq (decode (buf, n, &lim, &q), ISCSI_PDU_OK);
  ck_assert_uint_eq (q.itt, RES);
  ck_assert_uint_eq (q.data_len, 48);
  ck_assert_mem_eq (q.data, rfc_read_pdu, 48);
  ck_assert_uint_eq (iscsi_sense_segment (sense, 18, seg, sizeof seg), 20);
  ck_assert_uint_eq (seg[0], 0);
  ck_assert_uint_eq (seg[1], 18);
  ck_assert_mem_eq (&seg[2], sense, 18);
  ck_assert_uint_eq (iscsi_sense_segment (sense, 18, seg, 19), 0);
}
END_TEST

START_TEST (test_to_string)
{
  unsigned i;

  for (i = 0; i < ISCSI_PDU_ERR__COUNT; i++) {
    const char *s = iscsi_pdu_error_to_string (i);

    ck_assert (s != NULL && *s && strcmp (s, "unknown PDU error") != 0);
  }
  ck_assert_str_eq (iscsi_pdu_error_to_string (999), "unknown PDU error");
  for (i = 0; i < N_OPS; i++)
    ck_assert (strcmp (iscsi_opcode_to_string (all_ops[i]),
                       "reserved opcode") != 0);
  ck_assert_str_eq (iscsi_opcode_to_string (0x07), "reserved opcode");
  for (i = 2; i <= 0x0c; i++)
    ck_assert (strcmp (iscsi_reject_reason_to_string (i),
                       "reserved reason") != 0);
  ck_assert_str_eq (iscsi_reject_reason_to_string (0x0d), "reserved reason");
  ck_assert_str_eq (iscsi_login_status_to_string (0x0201),
                    "authentication failure");
  ck_assert_str_eq (iscsi_login_status_to_string (0x0999),
                    "unknown login status");
}
END_TEST

START_TEST (test_sequence_numbers)
{
  ck_assert (iscsi_sn_before (1, 2));
  ck_assert (!iscsi_sn_before (2, 1));
  ck_assert (iscsi_sn_before (UINT32_MAX, 0));          /* wraps */
  ck_assert (!iscsi_sn_before (0, UINT32_MAX));
  ck_assert (!iscsi_sn_before (5, 5));
  ck_assert (!iscsi_sn_before (0, 0x80000000));         /* unordered */
  ck_assert (!iscsi_sn_before (0x80000000, 0));
  ck_assert (iscsi_cmdsn_in_window (10, 10, 41));
  ck_assert (iscsi_cmdsn_in_window (41, 10, 41));
  ck_assert (!iscsi_cmdsn_in_window (9, 10, 41));
  ck_assert (!iscsi_cmdsn_in_window (42, 10, 41));
  ck_assert (iscsi_cmdsn_in_window (2, UINT32_MAX - 1, 5));
  ck_assert (!iscsi_cmdsn_in_window (UINT32_MAX - 2, UINT32_MAX - 1, 5));
  ck_assert (!iscsi_cmdsn_in_window (10, 10, 9));       /* closed */
  ck_assert (!iscsi_cmdsn_in_window (9, 10, 9));
}
END_TEST

void
add_error_tests (TCase *tc)
{
  tcase_add_test (tc, test_truncated_and_trailing);
  tcase_add_test (tc, test_data_too_long);
  tcase_add_test (tc, test_ahs);
  tcase_add_test (tc, test_digests);
  tcase_add_test (tc, test_padding);
  tcase_add_loop_test (tc, test_field_errors, 0,
                       sizeof field_cases / sizeof field_cases[0]);
  tcase_add_test (tc, test_fixed_bits_and_sender);
  tcase_add_test (tc, test_data_forbidden);
  tcase_add_test (tc, test_encoder_limits);
  tcase_add_test (tc, test_login_answers);
  tcase_add_test (tc, test_reject_and_sense_segment);
  tcase_add_test (tc, test_to_string);
  tcase_add_test (tc, test_sequence_numbers);
}
