/* segmap: the SCSI command table and the generic CDB decoder.
 *
 * One row per supported command (opcode, or opcode + service action
 * for the SERVICE ACTION IN(16) and MAINTENANCE IN families): its CDB
 * length, where the LBA, block count and allocation / parameter list
 * length fields are, the reserved bits of every byte, the flags and
 * small fields to decode, what it transfers, and an optional check
 * function (cdb-check.c) for the rules that are not just "these bits
 * must be zero".
 *
 * Reserved masks include obsolete bits and the CONTROL byte's NACA,
 * LINK and reserved bits (0x3f): we support neither NACA nor linked
 * commands, so SAM-5 wants INVALID FIELD IN CDB for them.  The vendor
 * bits 6-7 of CONTROL are ignored.  FUA_NV and SYNC_NV are accepted
 * and ignored (no non-volatile cache).
 */
#include <config.h>

#include <string.h>

#include "common/cleanup.h"
#include "scsi/cdb-internal.h"

#define CTRL 0x3f
#define LBA(o, w) .lba_off = o, .lba_size = w
#define NB(o, w)  .n_off = o, .n_size = w
#define AL(o, w)  .al_off = o, .al_size = w
#define FLAG(b, m, f)  { b, m, B_FLAG, SCSI_CDB_##f }
#define FIELD(b, m, t) { b, m, B_##t, 0 }
#define PROTECT        FIELD (1, 0xe0, PROTECT)
#define DPO            FLAG (1, 0x10, DPO)
#define FUA            FLAG (1, 0x08, FUA)
#define IMMED          FLAG (1, 0x02, IMMED)
#define BYTCHK         FIELD (1, 0x06, BYTCHK)
#define NOSA           .sa = SCSI_SA_NONE

/* READ/WRITE/VERIFY-like commands of each size. */
#define RW10(op, nm, xf, r1, chk, ...) \
  { .opcode = op, NOSA, .len = 10, .name = nm, .xfer = xf, \
    .cflags = C_RANGE | C_MAXLEN, LBA (2, 4), NB (7, 2), \
    .rsv = { [1] = r1, [6] = 0xe0, [9] = CTRL }, \
    .bits = { __VA_ARGS__, FIELD (6, 0x1f, GROUP) }, .check = chk }
#define RW12(op, nm, xf, r1, chk, ...) \
  { .opcode = op, NOSA, .len = 12, .name = nm, .xfer = xf, \
    .cflags = C_RANGE | C_MAXLEN, LBA (2, 4), NB (6, 4), \
    .rsv = { [1] = r1, [10] = 0xe0, [11] = CTRL }, \
    .bits = { __VA_ARGS__, FIELD (10, 0x1f, GROUP) }, .check = chk }
#define RW16(op, nm, xf, r1, chk, ...) \
  { .opcode = op, NOSA, .len = 16, .name = nm, .xfer = xf, \
    .cflags = C_RANGE | C_MAXLEN, LBA (2, 8), NB (10, 4), \
    .rsv = { [1] = r1, [14] = 0xe0, [15] = CTRL }, \
    .bits = { __VA_ARGS__, FIELD (14, 0x1f, GROUP) }, .check = chk }
/* SYNCHRONIZE CACHE and PRE-FETCH: no data, 0 blocks = to the end. */
#define CACHE10(op, nm, r1) \
  { .opcode = op, NOSA, .len = 10, .name = nm, .xfer = X_NONE, \
    .cflags = C_RANGE | C_ZERO_TO_END, LBA (2, 4), NB (7, 2), \
    .rsv = { [1] = r1, [6] = 0xe0, [9] = CTRL }, \
    .bits = { IMMED, FIELD (6, 0x1f, GROUP) } }
#define CACHE16(op, nm, r1) \
  { .opcode = op, NOSA, .len = 16, .name = nm, .xfer = X_NONE, \
    .cflags = C_RANGE | C_ZERO_TO_END, LBA (2, 8), NB (10, 4), \
    .rsv = { [1] = r1, [14] = 0xe0, [15] = CTRL }, \
    .bits = { IMMED, FIELD (14, 0x1f, GROUP) } }

static const struct scsi_cmd cmds[] = {
  { .opcode = SCSI_OP_TEST_UNIT_READY, NOSA, .len = 6,
    .name = "TEST UNIT READY", .xfer = X_NONE,
    .rsv = { [1] = 0xff, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = CTRL } },
  { .opcode = SCSI_OP_REQUEST_SENSE, NOSA, .len = 6, .name = "REQUEST SENSE",
    .xfer = X_ALLOC_IN, AL (4, 1),
    .rsv = { [1] = 0xfe, [2] = 0xff, [3] = 0xff, [5] = CTRL },
    .bits = { FLAG (1, 0x01, DESC) } },
  { .opcode = SCSI_OP_READ6, NOSA, .len = 6, .name = "READ(6)",
    .xfer = X_READ, .cflags = C_RANGE | C_MAXLEN | C_LBA21 | C_ZERO_256,
    LBA (1, 3), NB (4, 1), .rsv = { [1] = 0xe0, [5] = CTRL } },
  { .opcode = SCSI_OP_WRITE6, NOSA, .len = 6, .name = "WRITE(6)",
    .xfer = X_WRITE, .cflags = C_RANGE | C_MAXLEN | C_LBA21 | C_ZERO_256,
    LBA (1, 3), NB (4, 1), .rsv = { [1] = 0xe0, [5] = CTRL } },
  { .opcode = SCSI_OP_INQUIRY, NOSA, .len = 6, .name = "INQUIRY",
    .xfer = X_ALLOC_IN, AL (3, 2), .rsv = { [1] = 0xfe, [5] = CTRL },
    .bits = { FLAG (1, 0x01, EVPD), FIELD (2, 0xff, PAGE) },
    .check = scsi_check_inquiry },
  { .opcode = SCSI_OP_MODE_SELECT6, NOSA, .len = 6, .name = "MODE SELECT(6)",
    .xfer = X_PARAM_OUT, AL (4, 1),
    .rsv = { [1] = 0xee, [2] = 0xff, [3] = 0xff, [5] = CTRL },
    .bits = { FLAG (1, 0x10, PF), FLAG (1, 0x01, SP) },
    .check = scsi_check_mode_select },
  { .opcode = SCSI_OP_RESERVE6, NOSA, .len = 6, .name = "RESERVE(6)",
    .xfer = X_NONE,
    .rsv = { [1] = 0xff, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = CTRL } },
  { .opcode = SCSI_OP_RELEASE6, NOSA, .len = 6, .name = "RELEASE(6)",
    .xfer = X_NONE,
    .rsv = { [1] = 0xff, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = CTRL } },
  { .opcode = SCSI_OP_MODE_SENSE6, NOSA, .len = 6, .name = "MODE SENSE(6)",
    .xfer = X_ALLOC_IN, AL (4, 1), .rsv = { [1] = 0xf7, [5] = CTRL },
    .bits = { FLAG (1, 0x08, DBD), FIELD (2, 0xc0, PC), FIELD (2, 0x3f, PAGE),
              FIELD (3, 0xff, SUBPAGE) } },
  { .opcode = SCSI_OP_READ_CAPACITY10, NOSA, .len = 10,
    .name = "READ CAPACITY(10)", .xfer = X_CUSTOM, LBA (2, 4),
    .rsv = { [1] = 0xff, [6] = 0xff, [7] = 0xff, [8] = 0xfe, [9] = CTRL },
    .bits = { FLAG (8, 0x01, PMI) }, .check = scsi_check_read_capacity },
  RW10 (SCSI_OP_READ10, "READ(10)", X_READ, 0x05, NULL, PROTECT, DPO, FUA),
  RW10 (SCSI_OP_WRITE10, "WRITE(10)", X_WRITE, 0x05, NULL, PROTECT, DPO,
        FUA),
  RW10 (SCSI_OP_WRITE_VERIFY10, "WRITE AND VERIFY(10)", X_WRITE, 0x09,
        scsi_check_write_verify, PROTECT, DPO, BYTCHK),
  RW10 (SCSI_OP_VERIFY10, "VERIFY(10)", X_CUSTOM, 0x09, scsi_check_verify,
        PROTECT, DPO, BYTCHK),
  CACHE10 (SCSI_OP_PRE_FETCH10, "PRE-FETCH(10)", 0xfd),
  CACHE10 (SCSI_OP_SYNCHRONIZE_CACHE10, "SYNCHRONIZE CACHE(10)", 0xf9),
  { .opcode = SCSI_OP_WRITE_SAME10, NOSA, .len = 10, .name = "WRITE SAME(10)",
    .xfer = X_CUSTOM, .cflags = C_RANGE, LBA (2, 4), NB (7, 2),
    .rsv = { [1] = 0x07, [6] = 0xe0, [9] = CTRL },
    .bits = { PROTECT, FLAG (1, 0x10, ANCHOR), FLAG (1, 0x08, UNMAP),
              FIELD (6, 0x1f, GROUP) },
    .check = scsi_check_write_same },
  { .opcode = SCSI_OP_UNMAP, NOSA, .len = 10, .name = "UNMAP",
    .xfer = X_PARAM_OUT, AL (7, 2),
    .rsv = { [1] = 0xfe, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff,
             [6] = 0xe0, [9] = CTRL },
    .bits = { FLAG (1, 0x01, ANCHOR), FIELD (6, 0x1f, GROUP) },
    .check = scsi_check_unmap },
  { .opcode = SCSI_OP_MODE_SELECT10, NOSA, .len = 10,
    .name = "MODE SELECT(10)", .xfer = X_PARAM_OUT, AL (7, 2),
    .rsv = { [1] = 0xee, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff,
             [6] = 0xff, [9] = CTRL },
    .bits = { FLAG (1, 0x10, PF), FLAG (1, 0x01, SP) },
    .check = scsi_check_mode_select },
  { .opcode = SCSI_OP_RESERVE10, NOSA, .len = 10, .name = "RESERVE(10)",
    .xfer = X_NONE,
    .rsv = { [1] = 0xff, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff,
             [6] = 0xff, [7] = 0xff, [8] = 0xff, [9] = CTRL } },
  { .opcode = SCSI_OP_RELEASE10, NOSA, .len = 10, .name = "RELEASE(10)",
    .xfer = X_NONE,
    .rsv = { [1] = 0xff, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff,
             [6] = 0xff, [7] = 0xff, [8] = 0xff, [9] = CTRL } },
  { .opcode = SCSI_OP_MODE_SENSE10, NOSA, .len = 10, .name = "MODE SENSE(10)",
    .xfer = X_ALLOC_IN, AL (7, 2),
    .rsv = { [1] = 0xe7, [4] = 0xff, [5] = 0xff, [6] = 0xff, [9] = CTRL },
    .bits = { FLAG (1, 0x10, LLBAA), FLAG (1, 0x08, DBD),
              FIELD (2, 0xc0, PC), FIELD (2, 0x3f, PAGE),
              FIELD (3, 0xff, SUBPAGE) } },
  { .opcode = SCSI_OP_PERSISTENT_RESERVE_IN, NOSA, .len = 10,
    .name = "PERSISTENT RESERVE IN", .xfer = X_ALLOC_IN, AL (7, 2),
    .rsv = { [1] = 0xe0, [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff,
             [6] = 0xff, [9] = CTRL },
    .bits = { FIELD (1, 0x1f, SA) }, .check = scsi_check_pr_in },
  { .opcode = SCSI_OP_PERSISTENT_RESERVE_OUT, NOSA, .len = 10,
    .name = "PERSISTENT RESERVE OUT", .xfer = X_PARAM_OUT, AL (5, 4),
    .rsv = { [1] = 0xe0, [3] = 0xff, [4] = 0xff, [9] = CTRL },
    .bits = { FIELD (1, 0x1f, SA), FIELD (2, 0xf0, SCOPE),
              FIELD (2, 0x0f, TYPE) },
    .check = scsi_check_pr_out },
  RW16 (SCSI_OP_READ16, "READ(16)", X_READ, 0x05, NULL, PROTECT, DPO, FUA),
  { .opcode = SCSI_OP_COMPARE_AND_WRITE, NOSA, .len = 16,
    .name = "COMPARE AND WRITE", .xfer = X_CUSTOM, .cflags = C_RANGE,
    LBA (2, 8), NB (13, 1),
    .rsv = { [1] = 0x05, [10] = 0xff, [11] = 0xff, [12] = 0xff,
             [14] = 0xe0, [15] = CTRL },
    .bits = { PROTECT, DPO, FUA, FIELD (14, 0x1f, GROUP) },
    .check = scsi_check_compare_write },
  RW16 (SCSI_OP_WRITE16, "WRITE(16)", X_WRITE, 0x05, NULL, PROTECT, DPO,
        FUA),
  RW16 (SCSI_OP_WRITE_VERIFY16, "WRITE AND VERIFY(16)", X_WRITE, 0x09,
        scsi_check_write_verify, PROTECT, DPO, BYTCHK),
  RW16 (SCSI_OP_VERIFY16, "VERIFY(16)", X_CUSTOM, 0x09, scsi_check_verify,
        PROTECT, DPO, BYTCHK),
  CACHE16 (SCSI_OP_PRE_FETCH16, "PRE-FETCH(16)", 0xfd),
  CACHE16 (SCSI_OP_SYNCHRONIZE_CACHE16, "SYNCHRONIZE CACHE(16)", 0xf9),
  { .opcode = SCSI_OP_WRITE_SAME16, NOSA, .len = 16, .name = "WRITE SAME(16)",
    .xfer = X_CUSTOM, .cflags = C_RANGE, LBA (2, 8), NB (10, 4),
    .rsv = { [1] = 0x06, [14] = 0xe0, [15] = CTRL },
    .bits = { PROTECT, FLAG (1, 0x10, ANCHOR), FLAG (1, 0x08, UNMAP),
              FLAG (1, 0x01, NDOB), FIELD (14, 0x1f, GROUP) },
    .check = scsi_check_write_same },
  { .opcode = SCSI_OP_WRITE_ATOMIC16, NOSA, .len = 16,
    .name = "WRITE ATOMIC(16)", .xfer = X_WRITE, .cflags = C_RANGE,
    LBA (2, 8), NB (12, 2), .rsv = { [1] = 0x07, [14] = 0xc0, [15] = CTRL },
    .bits = { PROTECT, DPO, FUA, FIELD (14, 0x3f, GROUP) },
    .check = scsi_check_write_atomic },
  { .opcode = SCSI_OP_SERVICE_ACTION_IN16, .sa = SCSI_SAI_READ_CAPACITY16,
    .len = 16, .name = "READ CAPACITY(16)", .xfer = X_ALLOC_IN,
    .cflags = C_SA_LOOKUP, LBA (2, 8), AL (10, 4),
    .rsv = { [1] = 0xe0, [14] = 0xfe, [15] = CTRL },
    .bits = { FLAG (14, 0x01, PMI) }, .check = scsi_check_read_capacity },
  { .opcode = SCSI_OP_SERVICE_ACTION_IN16, .sa = SCSI_SAI_GET_LBA_STATUS,
    .len = 16, .name = "GET LBA STATUS", .xfer = X_ALLOC_IN,
    .cflags = C_SA_LOOKUP, LBA (2, 8), AL (10, 4),
    .rsv = { [1] = 0xe0, [14] = 0xff, [15] = CTRL },
    .check = scsi_check_get_lba_status },
  { .opcode = SCSI_OP_REPORT_LUNS, NOSA, .len = 12, .name = "REPORT LUNS",
    .xfer = X_ALLOC_IN, AL (6, 4),
    .rsv = { [1] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff, [10] = 0xff,
             [11] = CTRL },
    .bits = { FIELD (2, 0xff, SELECT) }, .check = scsi_check_report_luns },
  { .opcode = SCSI_OP_MAINTENANCE_IN,
    .sa = SCSI_MI_REPORT_TARGET_PORT_GROUPS, .len = 12,
    .name = "REPORT TARGET PORT GROUPS", .xfer = X_ALLOC_IN,
    .cflags = C_SA_LOOKUP, AL (6, 4),
    .rsv = { [2] = 0xff, [3] = 0xff, [4] = 0xff, [5] = 0xff, [10] = 0xff,
             [11] = CTRL },
    .bits = { FIELD (1, 0xe0, FORMAT) }, .check = scsi_check_rtpg },
  { .opcode = SCSI_OP_MAINTENANCE_IN,
    .sa = SCSI_MI_REPORT_SUPPORTED_OPCODES, .len = 12,
    .name = "REPORT SUPPORTED OPERATION CODES", .xfer = X_ALLOC_IN,
    .cflags = C_SA_LOOKUP, AL (6, 4),
    .rsv = { [1] = 0xe0, [2] = 0x78, [10] = 0xff, [11] = CTRL },
    .bits = { FLAG (2, 0x80, RCTD), FIELD (2, 0x07, OPTIONS),
              FIELD (3, 0xff, REQ_OP) },
    .check = scsi_check_rsoc },
  RW12 (SCSI_OP_READ12, "READ(12)", X_READ, 0x05, NULL, PROTECT, DPO, FUA),
  RW12 (SCSI_OP_WRITE12, "WRITE(12)", X_WRITE, 0x05, NULL, PROTECT, DPO,
        FUA),
  RW12 (SCSI_OP_WRITE_VERIFY12, "WRITE AND VERIFY(12)", X_WRITE, 0x09,
        scsi_check_write_verify, PROTECT, DPO, BYTCHK),
  RW12 (SCSI_OP_VERIFY12, "VERIFY(12)", X_CUSTOM, 0x09, scsi_check_verify,
        PROTECT, DPO, BYTCHK),
};

/*----------------------------------------------------------------------
 * Sense helpers.
 */

int
scsi_cdb_bad_field (struct scsi_sense *s, uint16_t byte, int bit)
{
  scsi_sense_set_field (s, SCSI_ASC_INVALID_FIELD_IN_CDB, true, byte, bit);
  return -1;
}

int
scsi_cdb_illegal (struct scsi_sense *s, uint16_t asc_ascq)
{
  scsi_sense_set (s, SCSI_SK_ILLEGAL_REQUEST, asc_ascq);
  return -1;
}

/*----------------------------------------------------------------------
 * Decoding.
 */

size_t
scsi_cdb_length (const uint8_t *cdb, size_t avail)
{
  static const uint8_t by_group[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };

  if (avail < 1)
    return 0;
  if (cdb[0] == SCSI_OP_VARIABLE_LENGTH)
    return avail >= 8 ? 8 + (size_t) cdb[7] : 0;
  return by_group[cdb[0] >> 5];
}

/* The row for CDB: -1 with INVALID COMMAND OPERATION CODE, or INVALID
 * FIELD IN CDB (service action) if the opcode is a family. */
static int
lookup (const uint8_t *cdb, size_t len, const struct scsi_cmd **cmd,
        struct scsi_sense *s)
{
  bool family = false;
  size_t i;

  for (i = 0; i < ARRAY_SIZE (cmds); i++) {
    if (cmds[i].opcode != cdb[0])
      continue;
    if (!(cmds[i].cflags & C_SA_LOOKUP)) {
      *cmd = &cmds[i];
      return 0;
    }
    family = true;
    if (len > 1 && cmds[i].sa == (cdb[1] & 0x1f)) {
      *cmd = &cmds[i];
      return 0;
    }
  }
  if (family)
    return scsi_cdb_bad_field (s, 1, 4);
  return scsi_cdb_illegal (s, SCSI_ASC_INVALID_COMMAND_OPCODE);
}

/* Reserved bits: point at the first byte with one set, and its most
 * significant offending bit. */
static int
check_reserved (const struct scsi_cmd *cmd, const uint8_t *cdb,
                struct scsi_sense *s)
{
  size_t i;

  for (i = 1; i < cmd->len; i++) {
    uint8_t bad = cdb[i] & cmd->rsv[i];

    if (bad != 0)
      return scsi_cdb_bad_field (s, i, 31 - __builtin_clz (bad));
  }
  return 0;
}

static void
store_bits (const struct bitspec *b, uint8_t v, struct scsi_cdb *c)
{
  switch (b->target) {
  case B_FLAG: if (v) c->flags |= b->flag; break;
  case B_SA: c->service_action = v; break;
  case B_PROTECT: c->protect = v; break;
  case B_BYTCHK: c->bytchk = v; break;
  case B_GROUP: c->group = v; break;
  case B_PAGE: c->page = v; break;
  case B_SUBPAGE: c->subpage = v; break;
  case B_PC: c->pc = v; break;
  case B_SELECT: c->select_report = v; break;
  case B_SCOPE: c->pr_scope = v; break;
  case B_TYPE: c->pr_type = v; break;
  case B_OPTIONS: c->options = v; break;
  case B_REQ_OP: c->requested_op = v; break;
  case B_FORMAT: c->param_format = v; break;
  }
}

static void
extract (const struct scsi_cmd *cmd, const uint8_t *cdb, struct scsi_cdb *c)
{
  size_t i;

  c->opcode = cmd->opcode;
  c->service_action = cmd->sa;
  c->length = cmd->len;
  c->name = cmd->name;
  if (cmd->lba_size)
    c->lba = get_be (&cdb[cmd->lba_off], cmd->lba_size);
  if (cmd->cflags & C_LBA21)
    c->lba &= 0x1fffff;
  if (cmd->n_size)
    c->nblocks = get_be (&cdb[cmd->n_off], cmd->n_size);
  if ((cmd->cflags & C_ZERO_256) && c->nblocks == 0)
    c->nblocks = 256;
  if (cmd->al_size)
    c->alloc_len = get_be (&cdb[cmd->al_off], cmd->al_size);
  for (i = 0; i < ARRAY_SIZE (cmd->bits) && cmd->bits[i].mask; i++) {
    const struct bitspec *b = &cmd->bits[i];

    store_bits (b, (cdb[b->byte] & b->mask) >> __builtin_ctz (b->mask), c);
  }
}

static void
set_xfer (const struct scsi_cmd *cmd, const struct scsi_lu_limits *lu,
          struct scsi_cdb *c)
{
  switch (cmd->xfer) {
  case X_READ: case X_WRITE:
    c->dir = cmd->xfer == X_READ ? SCSI_DIR_IN : SCSI_DIR_OUT;
    c->xfer_bytes = (uint64_t) c->nblocks * lu->block_size;
    break;
  case X_ALLOC_IN:
    c->dir = SCSI_DIR_IN;
    c->xfer_bytes = c->alloc_len;
    break;
  case X_PARAM_OUT:
    c->dir = SCSI_DIR_OUT;
    c->xfer_bytes = c->alloc_len;
    break;
  default:                      /* X_NONE; X_CUSTOM set by its check */
    break;
  }
}

/* LBA and LBA + nblocks within the capacity (no wrap past 2^64). */
static int
check_range (const struct scsi_cmd *cmd, const struct scsi_lu_limits *lu,
             struct scsi_cdb *c, struct scsi_sense *s)
{
  if (c->lba > lu->nblocks)
    return scsi_cdb_illegal (s, SCSI_ASC_LBA_OUT_OF_RANGE);
  if ((cmd->cflags & C_ZERO_TO_END) && c->nblocks == 0) {
    uint64_t rest = lu->nblocks - c->lba;

    c->nblocks = rest > UINT32_MAX ? UINT32_MAX : rest;
  }
  if (c->nblocks > lu->nblocks - c->lba)
    return scsi_cdb_illegal (s, SCSI_ASC_LBA_OUT_OF_RANGE);
  return 0;
}

static int
check_fields (const struct scsi_cmd *cmd, const uint8_t *cdb,
              const struct scsi_lu_limits *lu, struct scsi_cdb *c,
              struct scsi_sense *s)
{
  if (check_reserved (cmd, cdb, s) == -1)
    return -1;
  extract (cmd, cdb, c);
  if (c->protect != 0)          /* no protection information */
    return scsi_cdb_bad_field (s, 1, 7);
  set_xfer (cmd, lu, c);
  if (cmd->check && cmd->check (cmd, cdb, lu, c, s) == -1)
    return -1;
  if ((cmd->cflags & C_MAXLEN) && lu->max_xfer_blocks
      && c->nblocks > lu->max_xfer_blocks)
    return scsi_cdb_bad_field (s, cmd->n_off, -1);
  return 0;
}

int
scsi_cdb_decode (const uint8_t *cdb, size_t len,
                 const struct scsi_lu_limits *lu, struct scsi_cdb *out,
                 struct scsi_sense *sense)
{
  const struct scsi_cmd *cmd = NULL;

  memset (out, 0, sizeof *out);
  memset (sense, 0, sizeof *sense);
  if (len < 1)
    return scsi_cdb_illegal (sense, SCSI_ASC_INVALID_COMMAND_OPCODE);
  out->opcode = cdb[0];
  out->service_action = SCSI_SA_NONE;
  if (lookup (cdb, len, &cmd, sense) == -1)
    return -1;
  if (len < cmd->len)           /* the transport cut the CDB short */
    return scsi_cdb_bad_field (sense, len, -1);
  if (check_fields (cmd, cdb, lu, out, sense) == -1)
    return -1;
  if ((cmd->cflags & C_RANGE) && check_range (cmd, lu, out, sense) == -1)
    return -1;
  return 0;
}

void
scsi_cdb_residual (const struct scsi_cdb *c, uint64_t expected,
                   struct scsi_residual *r)
{
  memset (r, 0, sizeof *r);
  r->transfer = c->xfer_bytes < expected ? c->xfer_bytes : expected;
  if (c->xfer_bytes > expected) {
    r->overflow = true;
    r->residual = c->xfer_bytes - expected;
  }
  else if (c->xfer_bytes < expected) {
    r->underflow = true;
    r->residual = expected - c->xfer_bytes;
  }
}

int
scsi_cdb_usage (uint8_t opcode, uint8_t sa, uint8_t *usage, size_t *len)
{
  size_t i, j;

  for (i = 0; i < ARRAY_SIZE (cmds); i++) {
    const struct scsi_cmd *cmd = &cmds[i];

    if (cmd->opcode != opcode
        || ((cmd->cflags & C_SA_LOOKUP) && cmd->sa != sa))
      continue;
    usage[0] = opcode;
    for (j = 1; j < cmd->len; j++)
      usage[j] = ~cmd->rsv[j];
    if (sa != SCSI_SA_NONE)
      usage[1] = (usage[1] & 0xe0) | (sa & 0x1f);
    *len = cmd->len;
    return 0;
  }
  *len = 0;
  return -1;
}

const char *
scsi_opcode_to_string (uint8_t opcode, uint8_t service_action)
{
  size_t i;

  for (i = 0; i < ARRAY_SIZE (cmds); i++)
    if (cmds[i].opcode == opcode
        && (!(cmds[i].cflags & C_SA_LOOKUP)
            || cmds[i].sa == service_action))
      return cmds[i].name;
  return "unknown command";
}

const char *
scsi_data_dir_to_string (enum scsi_data_dir dir)
{
  switch (dir) {
  case SCSI_DIR_NONE: return "none";
  case SCSI_DIR_IN: return "data-in";
  case SCSI_DIR_OUT: return "data-out";
  default: return "unknown direction";
  }
}
