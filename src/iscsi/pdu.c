/* segmap: the iSCSI Basic Header Segment, table-driven (RFC 7143 §11).
 *
 * Each opcode is one row of ops[]: its name, what it may carry and the
 * list of its BHS fields.  A field is a byte offset plus either a bit
 * mask within that byte (flags, small codes) or a big-endian width
 * (1-8 bytes), and the struct iscsi_pdu member it lands in.  FIXED
 * fields must hold one value (the "1" F bit of single-PDU requests,
 * Login's I bit); their member is set on decode and must be set (to 1)
 * for encode.
 *
 * Everything a row does not cover, apart from the opcode and bytes 4-7
 * (TotalAHSLength, DataSegmentLength) that every PDU has, is reserved:
 * ignored on receipt, as RFC 7143 §11 requires, unless strict, and
 * always written as zero.
 *
 * The rules that tie fields together are in pdu-check.c; they run on
 * decode and before encode, so the two stay symmetric.
 */
#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/cleanup.h"
#include "iscsi/pdu-internal.h"

enum field_kind { FK_BITS, FK_FIXED, FK_INT, FK_BYTES };

struct field {
  uint8_t off;                  /* byte offset in the BHS */
  uint8_t kind;                 /* enum field_kind */
  uint8_t mask;                 /* FK_BITS, FK_FIXED: bits of byte OFF */
  uint8_t width;                /* FK_INT: 1-8 bytes; FK_BYTES: count */
  uint8_t value;                /* FK_FIXED: (byte & mask) required */
  uint16_t member;              /* offsetof (struct iscsi_pdu, ...) */
  uint8_t msize;                /* its size; 0: no member */
};

#define MEMBER(m) offsetof (struct iscsi_pdu, m), \
    sizeof (((struct iscsi_pdu *) 0)->m)
#define BITS(o, mk, m)   { o, FK_BITS, mk, 0, 0, MEMBER (m) }
#define FIXED(o, mk, m)  { o, FK_FIXED, mk, 0, mk, MEMBER (m) }
#define INT(o, w, m)     { o, FK_INT, 0, w, 0, MEMBER (m) }
#define BYTES(o, w, m)   { o, FK_BYTES, 0, w, 0, MEMBER (m) }

/* Fields shared by many opcodes. */
#define F_IMMEDIATE   BITS (0, 0x40, immediate)
#define F_FINAL_1     FIXED (1, 0x80, final)
#define F_LUN         INT (8, 8, lun)
#define F_ITT         INT (16, 4, itt)
#define F_TTT         INT (20, 4, ttt)
#define F_CMDSN       INT (24, 4, cmdsn)
#define F_EXPSTATSN   INT (28, 4, expstatsn)
#define F_STATSN      INT (24, 4, statsn)
#define F_EXPCMDSN    INT (28, 4, expcmdsn)
#define F_MAXCMDSN    INT (32, 4, maxcmdsn)

static const struct field nop_out_fields[] = {
  F_IMMEDIATE, F_FINAL_1, F_LUN, F_ITT, F_TTT, F_CMDSN, F_EXPSTATSN,
};
static const struct field scsi_cmd_fields[] = {
  F_IMMEDIATE, BITS (1, 0x80, final), BITS (1, 0x40, read),
  BITS (1, 0x20, write), BITS (1, 0x07, attr), F_LUN, F_ITT,
  INT (20, 4, exp_xfer_len), F_CMDSN, F_EXPSTATSN, BYTES (32, 16, cdb),
};
static const struct field task_mgmt_fields[] = {
  F_IMMEDIATE, F_FINAL_1, BITS (1, 0x7f, function), F_LUN, F_ITT,
  F_TTT, F_CMDSN, F_EXPSTATSN, INT (32, 4, refcmdsn),
  INT (36, 4, exp_datasn),
};
static const struct field login_fields[] = {
  FIXED (0, 0x40, immediate), BITS (1, 0x80, transit), BITS (1, 0x40, cont),
  BITS (1, 0x0c, csg), BITS (1, 0x03, nsg), INT (2, 1, version_max),
  INT (3, 1, version_min), INT (8, 6, isid), INT (14, 2, tsih), F_ITT,
  INT (20, 2, cid), F_CMDSN, F_EXPSTATSN,
};
static const struct field text_fields[] = {
  F_IMMEDIATE, BITS (1, 0x80, final), BITS (1, 0x40, cont), F_LUN, F_ITT,
  F_TTT, F_CMDSN, F_EXPSTATSN,
};
static const struct field data_out_fields[] = {
  BITS (1, 0x80, final), F_LUN, F_ITT, F_TTT, F_EXPSTATSN,
  INT (36, 4, datasn), INT (40, 4, buffer_offset),
};
static const struct field logout_fields[] = {
  F_IMMEDIATE, F_FINAL_1, BITS (1, 0x7f, function), F_ITT,
  INT (20, 2, cid), F_CMDSN, F_EXPSTATSN,
};
static const struct field snack_fields[] = {
  F_FINAL_1, BITS (1, 0x0f, function), F_LUN, F_ITT, F_TTT, F_EXPSTATSN,
  INT (40, 4, begrun), INT (44, 4, runlength),
};
static const struct field nop_in_fields[] = {
  F_FINAL_1, F_LUN, F_ITT, F_TTT, F_STATSN, F_EXPCMDSN, F_MAXCMDSN,
};
static const struct field scsi_resp_fields[] = {
  F_FINAL_1, BITS (1, 0x10, bidi_overflow), BITS (1, 0x08, bidi_underflow),
  BITS (1, 0x04, overflow), BITS (1, 0x02, underflow),
  INT (2, 1, response), INT (3, 1, status), F_ITT, F_TTT, F_STATSN,
  F_EXPCMDSN, F_MAXCMDSN, INT (36, 4, exp_datasn),
  INT (40, 4, bidi_residual), INT (44, 4, residual),
};
static const struct field task_mgmt_resp_fields[] = {
  F_FINAL_1, INT (2, 1, response), F_ITT, F_STATSN, F_EXPCMDSN,
  F_MAXCMDSN,
};
static const struct field login_resp_fields[] = {
  BITS (1, 0x80, transit), BITS (1, 0x40, cont), BITS (1, 0x0c, csg),
  BITS (1, 0x03, nsg), INT (2, 1, version_max), INT (3, 1, version_min),
  INT (8, 6, isid), INT (14, 2, tsih), F_ITT, F_STATSN, F_EXPCMDSN,
  F_MAXCMDSN, INT (36, 1, status_class), INT (37, 1, status_detail),
};
static const struct field text_resp_fields[] = {
  BITS (1, 0x80, final), BITS (1, 0x40, cont), F_LUN, F_ITT, F_TTT,
  F_STATSN, F_EXPCMDSN, F_MAXCMDSN,
};
static const struct field data_in_fields[] = {
  BITS (1, 0x80, final), BITS (1, 0x40, ack), BITS (1, 0x04, overflow),
  BITS (1, 0x02, underflow), BITS (1, 0x01, status_present),
  INT (3, 1, status), F_LUN, F_ITT, F_TTT, F_STATSN, F_EXPCMDSN,
  F_MAXCMDSN, INT (36, 4, datasn), INT (40, 4, buffer_offset),
  INT (44, 4, residual),
};
static const struct field logout_resp_fields[] = {
  F_FINAL_1, INT (2, 1, response), F_ITT, F_STATSN, F_EXPCMDSN,
  F_MAXCMDSN, INT (40, 2, time2wait), INT (42, 2, time2retain),
};
static const struct field r2t_fields[] = {
  F_FINAL_1, F_LUN, F_ITT, F_TTT, F_STATSN, F_EXPCMDSN, F_MAXCMDSN,
  INT (36, 4, r2tsn), INT (40, 4, buffer_offset), INT (44, 4, desired_len),
};
static const struct field async_fields[] = {
  F_FINAL_1, F_LUN, F_ITT, F_STATSN, F_EXPCMDSN, F_MAXCMDSN,
  INT (36, 1, async_event), INT (37, 1, async_vcode), INT (38, 2, param1),
  INT (40, 2, param2), INT (42, 2, param3),
};
static const struct field reject_fields[] = {
  F_FINAL_1, INT (2, 1, reason), F_ITT, F_STATSN, F_EXPCMDSN, F_MAXCMDSN,
  INT (36, 4, datasn),
};

/*----------------------------------------------------------------------
 * The opcode table.
 */

struct opdesc {
  const char *name;             /* NULL: reserved opcode */
  uint8_t flags;                /* ISCSI_OPF_* */
  uint8_t n_fields;
  const struct field *fields;
};

#define OP(nm, fl, f) { nm, ISCSI_OPF_KNOWN | (fl), ARRAY_SIZE (f), f }
#define T ISCSI_OPF_TARGET
#define D ISCSI_OPF_DATA

static const struct opdesc ops[64] = {
  [ISCSI_OP_NOP_OUT] = OP ("NOP-Out", D, nop_out_fields),
  [ISCSI_OP_SCSI_CMD] = OP ("SCSI Command", D | ISCSI_OPF_AHS,
                            scsi_cmd_fields),
  [ISCSI_OP_TASK_MGMT] = OP ("Task Management Request", 0,
                             task_mgmt_fields),
  [ISCSI_OP_LOGIN] = OP ("Login Request", D, login_fields),
  [ISCSI_OP_TEXT] = OP ("Text Request", D, text_fields),
  [ISCSI_OP_DATA_OUT] = OP ("SCSI Data-Out", D, data_out_fields),
  [ISCSI_OP_LOGOUT] = OP ("Logout Request", 0, logout_fields),
  [ISCSI_OP_SNACK] = OP ("SNACK Request", 0, snack_fields),
  [ISCSI_OP_NOP_IN] = OP ("NOP-In", T | D, nop_in_fields),
  [ISCSI_OP_SCSI_RESP] = OP ("SCSI Response", T | D, scsi_resp_fields),
  [ISCSI_OP_TASK_MGMT_RESP] = OP ("Task Management Response", T,
                                  task_mgmt_resp_fields),
  [ISCSI_OP_LOGIN_RESP] = OP ("Login Response", T | D, login_resp_fields),
  [ISCSI_OP_TEXT_RESP] = OP ("Text Response", T | D, text_resp_fields),
  [ISCSI_OP_DATA_IN] = OP ("SCSI Data-In", T | D, data_in_fields),
  [ISCSI_OP_LOGOUT_RESP] = OP ("Logout Response", T, logout_resp_fields),
  [ISCSI_OP_R2T] = OP ("Ready To Transfer", T, r2t_fields),
  [ISCSI_OP_ASYNC] = OP ("Asynchronous Message", T | D, async_fields),
  [ISCSI_OP_REJECT] = OP ("Reject", T | D, reject_fields),
};

#undef T
#undef D

static const struct opdesc *
opdesc (unsigned opcode)
{
  if (opcode >= ARRAY_SIZE (ops) || ops[opcode].name == NULL)
    return NULL;
  return &ops[opcode];
}

unsigned
iscsi_opcode_flags (unsigned opcode)
{
  const struct opdesc *d = opdesc (opcode);

  return d ? d->flags : 0;
}

const char *
iscsi_opcode_to_string (unsigned opcode)
{
  const struct opdesc *d = opdesc (opcode);

  return d ? d->name : "reserved opcode";
}

/*----------------------------------------------------------------------
 * Moving values between fields and struct members.
 */

static uint64_t
member_get (const struct iscsi_pdu *pdu, const struct field *f)
{
  const char *p = (const char *) pdu + f->member;
  uint8_t v8;
  uint16_t v16;
  uint32_t v32;
  uint64_t v64;

  switch (f->msize) {
  case 1: memcpy (&v8, p, 1); return v8;
  case 2: memcpy (&v16, p, 2); return v16;
  case 4: memcpy (&v32, p, 4); return v32;
  case 8: memcpy (&v64, p, 8); return v64;
  default: return 0;
  }
}

static void
member_set (struct iscsi_pdu *pdu, const struct field *f, uint64_t v)
{
  char *p = (char *) pdu + f->member;
  uint8_t v8 = v;
  uint16_t v16 = v;
  uint32_t v32 = v;

  switch (f->msize) {
  case 1: memcpy (p, &v8, 1); break;
  case 2: memcpy (p, &v16, 2); break;
  case 4: memcpy (p, &v32, 4); break;
  case 8: memcpy (p, &v, 8); break;
  }
}

static unsigned
mask_shift (uint8_t mask)
{
  return __builtin_ctz (mask);
}

/* Decode one field of BHS into PDU. */
static enum iscsi_pdu_error
field_decode (const struct field *f, const uint8_t *bhs,
              struct iscsi_pdu *pdu)
{
  uint8_t bits = bhs[f->off] & f->mask;

  switch (f->kind) {
  case FK_FIXED:
    if (bits != f->value)
      return ISCSI_PDU_ERR_FIXED_BIT;
    __attribute__ ((fallthrough));      /* store it as a bit field */
  case FK_BITS:
    member_set (pdu, f, bits >> mask_shift (f->mask));
    break;
  case FK_INT:
    member_set (pdu, f, get_be (&bhs[f->off], f->width));
    break;
  case FK_BYTES:
    memcpy ((char *) pdu + f->member, &bhs[f->off], f->width);
    break;
  }
  return ISCSI_PDU_OK;
}

/* Encode one field of PDU into BHS; the value must fit. */
static enum iscsi_pdu_error
field_encode (const struct field *f, const struct iscsi_pdu *pdu,
              uint8_t *bhs)
{
  uint64_t v;

  switch (f->kind) {
  case FK_FIXED:
    if (member_get (pdu, f) != 1)
      return ISCSI_PDU_ERR_FIXED_BIT;
    bhs[f->off] |= f->value;
    break;
  case FK_BITS:
    v = member_get (pdu, f);
    if (v > (uint64_t) (f->mask >> mask_shift (f->mask)))
      return ISCSI_PDU_ERR_FIELD_VALUE;
    bhs[f->off] |= v << mask_shift (f->mask);
    break;
  case FK_INT:
    v = member_get (pdu, f);
    if (f->width < 8 && v >> (8 * f->width) != 0)
      return ISCSI_PDU_ERR_FIELD_VALUE;
    put_be (&bhs[f->off], f->width, v);
    break;
  case FK_BYTES:
    memcpy (&bhs[f->off], (const char *) pdu + f->member, f->width);
    break;
  }
  return ISCSI_PDU_OK;
}

/* The bits of the BHS that fields of D (or every PDU) define. */
static void
defined_bits (const struct opdesc *d, uint8_t defined[ISCSI_BHS_SIZE])
{
  size_t i, j;

  memset (defined, 0, ISCSI_BHS_SIZE);
  defined[0] = 0x3f;            /* opcode */
  memset (&defined[4], 0xff, 4);        /* TotalAHSLength, DSL */
  for (i = 0; i < d->n_fields; i++) {
    const struct field *f = &d->fields[i];

    if (f->kind == FK_BITS || f->kind == FK_FIXED)
      defined[f->off] |= f->mask;
    else
      for (j = 0; j < f->width; j++)
        defined[f->off + j] = 0xff;
  }
}

static bool
reserved_bits_clear (const struct opdesc *d, const uint8_t *bhs)
{
  uint8_t defined[ISCSI_BHS_SIZE];
  size_t i;

  defined_bits (d, defined);
  for (i = 0; i < ISCSI_BHS_SIZE; i++)
    if (bhs[i] & ~defined[i])
      return false;
  return true;
}

enum iscsi_pdu_error
iscsi_bhs_decode (const uint8_t *bhs, bool strict, struct iscsi_pdu *pdu)
{
  const struct opdesc *d = opdesc (bhs[0] & 0x3f);
  enum iscsi_pdu_error e;
  size_t i;

  memset (pdu, 0, sizeof *pdu);
  pdu->opcode = bhs[0] & 0x3f;
  pdu->itt = get_be (&bhs[16], 4);
  pdu->total_ahs_len = bhs[4];
  pdu->data_len = get_be (&bhs[5], 3);
  if (d == NULL)
    return ISCSI_PDU_ERR_OPCODE;
  for (i = 0; i < d->n_fields; i++) {
    e = field_decode (&d->fields[i], bhs, pdu);
    if (e != ISCSI_PDU_OK)
      return e;
  }
  if (strict && !reserved_bits_clear (d, bhs))
    return ISCSI_PDU_ERR_RESERVED;
  return ISCSI_PDU_OK;
}

enum iscsi_pdu_error
iscsi_bhs_encode (const struct iscsi_pdu *pdu, uint8_t *bhs)
{
  const struct opdesc *d = opdesc (pdu->opcode);
  enum iscsi_pdu_error e;
  size_t i;

  if (d == NULL)
    return ISCSI_PDU_ERR_OPCODE;
  memset (bhs, 0, ISCSI_BHS_SIZE);
  bhs[0] = pdu->opcode;
  for (i = 0; i < d->n_fields; i++) {
    e = field_encode (&d->fields[i], pdu, bhs);
    if (e != ISCSI_PDU_OK)
      return e;
  }
  return ISCSI_PDU_OK;
}

bool
iscsi_bhs_fields_equal (const struct iscsi_pdu *a, const struct iscsi_pdu *b)
{
  const struct opdesc *d = opdesc (a->opcode);
  size_t i;

  if (a->opcode != b->opcode || d == NULL)
    return false;
  for (i = 0; i < d->n_fields; i++) {
    const struct field *f = &d->fields[i];

    if (f->kind == FK_BYTES) {
      if (memcmp ((const char *) a + f->member,
                  (const char *) b + f->member, f->width) != 0)
        return false;
    }
    else if (member_get (a, f) != member_get (b, f))
      return false;
  }
  return true;
}

void
iscsi_pdu_init (struct iscsi_pdu *pdu, enum iscsi_opcode op)
{
  const struct opdesc *d = opdesc (op);
  size_t i;

  memset (pdu, 0, sizeof *pdu);
  pdu->opcode = op;
  for (i = 0; d != NULL && i < d->n_fields; i++)
    if (d->fields[i].kind == FK_FIXED)
      member_set (pdu, &d->fields[i], 1);
  switch (op) {
  case ISCSI_OP_NOP_OUT: case ISCSI_OP_NOP_IN:
    pdu->ttt = ISCSI_RESERVED_TAG;
    break;
  case ISCSI_OP_TEXT: case ISCSI_OP_TEXT_RESP:
    pdu->ttt = ISCSI_RESERVED_TAG;
    pdu->final = true;
    break;
  case ISCSI_OP_SCSI_CMD:
    pdu->final = true;
    break;
  case ISCSI_OP_ASYNC: case ISCSI_OP_REJECT:
    pdu->itt = ISCSI_RESERVED_TAG;
    break;
  default:
    break;
  }
}
