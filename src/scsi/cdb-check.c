/* segmap: command-specific CDB rules (SBC-3, SPC-4), the UNMAP
 * parameter list.
 *
 * Each scsi_check_* runs after the reserved bits were checked and the
 * fields extracted (struct scsi_cdb), before the generic maximum length
 * and LBA range checks.  It returns 0, or -1 with the sense filled.
 * Field pointers name the most significant bit of the offending field
 * (or the whole byte, bit -1, for multi-byte fields).
 */
#include <config.h>

#include <string.h>

#include "scsi/cdb-internal.h"

/* EVPD=0 asks for standard data: the page code must then be 0. */
int
scsi_check_inquiry (const struct scsi_cmd *cmd, const uint8_t *cdb,
                    const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                    struct scsi_sense *s)
{
  if (!(c->flags & SCSI_CDB_EVPD) && c->page != 0)
    return scsi_cdb_bad_field (s, 2, -1);
  return 0;
}

/* READ CAPACITY(10)/(16): the (obsolete) LBA must be 0 unless PMI. */
int
scsi_check_read_capacity (const struct scsi_cmd *cmd, const uint8_t *cdb,
                          const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                          struct scsi_sense *s)
{
  if (!(c->flags & SCSI_CDB_PMI) && c->lba != 0)
    return scsi_cdb_bad_field (s, 2, -1);
  if (cmd->len == 10) {         /* fixed 8 bytes of parameter data */
    c->dir = SCSI_DIR_IN;
    c->xfer_bytes = 8;
  }
  return 0;
}

/* The starting LBA must be a block of the LU. */
int
scsi_check_get_lba_status (const struct scsi_cmd *cmd, const uint8_t *cdb,
                           const struct scsi_lu_limits *lu,
                           struct scsi_cdb *c, struct scsi_sense *s)
{
  if (c->lba >= lu->nblocks)
    return scsi_cdb_illegal (s, SCSI_ASC_LBA_OUT_OF_RANGE);
  return 0;
}

/* Nothing can be saved (SP=1). */
int
scsi_check_mode_select (const struct scsi_cmd *cmd, const uint8_t *cdb,
                        const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                        struct scsi_sense *s)
{
  if (c->flags & SCSI_CDB_SP)
    return scsi_cdb_bad_field (s, 1, 0);
  return 0;
}

/* BYTCHK 00b: verify the medium (no data); 01b: compare with nblocks of
 * data-out; 11b: compare every block with one block; 10b reserved. */
int
scsi_check_verify (const struct scsi_cmd *cmd, const uint8_t *cdb,
                   const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                   struct scsi_sense *s)
{
  switch (c->bytchk) {
  case 0:
    c->dir = SCSI_DIR_NONE;
    break;
  case 1:
    c->dir = SCSI_DIR_OUT;
    c->xfer_bytes = (uint64_t) c->nblocks * lu->block_size;
    break;
  case 3:
    c->dir = SCSI_DIR_OUT;
    c->xfer_bytes = c->nblocks ? lu->block_size : 0;
    break;
  default:
    return scsi_cdb_bad_field (s, 1, 2);
  }
  return 0;
}

/* WRITE AND VERIFY: BYTCHK 00b or 01b only. */
int
scsi_check_write_verify (const struct scsi_cmd *cmd, const uint8_t *cdb,
                         const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                         struct scsi_sense *s)
{
  return c->bytchk > 1 ? scsi_cdb_bad_field (s, 1, 2) : 0;
}

/* WRITE SAME(10)/(16): ANCHOR needs UNMAP and LU support, UNMAP needs
 * thin provisioning, 0 blocks means "to the end" unless WSNZ, at most
 * MAXIMUM WRITE SAME LENGTH; one block of data-out unless NDOB. */
int
scsi_check_write_same (const struct scsi_cmd *cmd, const uint8_t *cdb,
                       const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                       struct scsi_sense *s)
{
  if ((c->flags & SCSI_CDB_ANCHOR)
      && (!lu->anchor || !(c->flags & SCSI_CDB_UNMAP)))
    return scsi_cdb_bad_field (s, 1, 4);
  if ((c->flags & SCSI_CDB_UNMAP) && !lu->thin)
    return scsi_cdb_bad_field (s, 1, 3);
  if (c->nblocks == 0) {
    uint64_t rest = c->lba < lu->nblocks ? lu->nblocks - c->lba : 0;

    if (lu->wsnz)
      return scsi_cdb_bad_field (s, cmd->n_off, -1);
    c->nblocks = rest > UINT32_MAX ? UINT32_MAX : rest;
  }
  if (lu->max_write_same_blocks && c->nblocks > lu->max_write_same_blocks)
    return scsi_cdb_bad_field (s, cmd->n_off, -1);
  c->dir = (c->flags & SCSI_CDB_NDOB) ? SCSI_DIR_NONE : SCSI_DIR_OUT;
  c->xfer_bytes = (c->flags & SCSI_CDB_NDOB) ? 0 : lu->block_size;
  return 0;
}

/* UNMAP: only on thin LUs; a parameter list of 1-7 bytes cannot hold
 * its header. */
int
scsi_check_unmap (const struct scsi_cmd *cmd, const uint8_t *cdb,
                  const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                  struct scsi_sense *s)
{
  if (!lu->thin)
    return scsi_cdb_illegal (s, SCSI_ASC_INVALID_COMMAND_OPCODE);
  if ((c->flags & SCSI_CDB_ANCHOR) && !lu->anchor)
    return scsi_cdb_bad_field (s, 1, 0);
  if (c->alloc_len > 0 && c->alloc_len < 8)
    return scsi_cdb_illegal (s, SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  return 0;
}

/* COMPARE AND WRITE: N blocks to compare plus N to write. */
int
scsi_check_compare_write (const struct scsi_cmd *cmd, const uint8_t *cdb,
                          const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                          struct scsi_sense *s)
{
  if (lu->max_compare_write_blocks == 0)
    return scsi_cdb_illegal (s, SCSI_ASC_INVALID_COMMAND_OPCODE);
  if (c->nblocks > lu->max_compare_write_blocks)
    return scsi_cdb_bad_field (s, 13, -1);
  c->dir = SCSI_DIR_OUT;
  c->xfer_bytes = 2 * (uint64_t) c->nblocks * lu->block_size;
  return 0;
}

/* WRITE ATOMIC(16): the range, then no boundary support; length,
 * alignment and granularity within the LU's atomic limits. */
int
scsi_check_write_atomic (const struct scsi_cmd *cmd, const uint8_t *cdb,
                         const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                         struct scsi_sense *s)
{
  if (lu->max_atomic_blocks == 0)
    return scsi_cdb_illegal (s, SCSI_ASC_INVALID_COMMAND_OPCODE);
  c->atomic_boundary = get_be (&cdb[10], 2);
  /* The range first: a write past the end is out of range whatever its
   * length (what libiscsi's WriteAtomic16.BeyondEol expects). */
  if (c->lba > lu->nblocks || c->nblocks > lu->nblocks - c->lba)
    return scsi_cdb_illegal (s, SCSI_ASC_LBA_OUT_OF_RANGE);
  if (c->atomic_boundary != 0)
    return scsi_cdb_bad_field (s, 10, -1);
  if (c->nblocks > lu->max_atomic_blocks
      || (lu->atomic_granularity && c->nblocks % lu->atomic_granularity))
    return scsi_cdb_bad_field (s, 12, -1);
  if (lu->atomic_alignment && c->lba % lu->atomic_alignment)
    return scsi_cdb_bad_field (s, 2, -1);
  return 0;
}

/* READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL STATUS */
int
scsi_check_pr_in (const struct scsi_cmd *cmd, const uint8_t *cdb,
                  const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                  struct scsi_sense *s)
{
  return c->service_action > 3 ? scsi_cdb_bad_field (s, 1, 4) : 0;
}

static bool
pr_type_valid (uint8_t type)
{
  /* write exclusive, exclusive access, their registrants-only and
   * all-registrants variants */
  return type == 1 || type == 3 || (type >= 5 && type <= 8);
}

/* REGISTER ... REGISTER AND MOVE (0-7).  The parameter list is 24 bytes
 * (we do not support SPEC_I_PT), at least 24 for REGISTER AND MOVE.
 * RESERVE, RELEASE, PREEMPT (AND ABORT) need LU_SCOPE and a valid
 * type. */
int
scsi_check_pr_out (const struct scsi_cmd *cmd, const uint8_t *cdb,
                   const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                   struct scsi_sense *s)
{
  uint8_t sa = c->service_action;

  if (sa > 7)
    return scsi_cdb_bad_field (s, 1, 4);
  if (sa == 7 ? c->alloc_len < 24 : c->alloc_len != 24)
    return scsi_cdb_illegal (s, SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  if (sa == 1 || sa == 2 || sa == 4 || sa == 5) {
    if (c->pr_scope != 0)
      return scsi_cdb_bad_field (s, 2, 7);
    if (!pr_type_valid (c->pr_type))
      return scsi_cdb_bad_field (s, 2, 3);
  }
  return 0;
}

/* SELECT REPORT 00h-02h and 10h-12h (SPC-4). */
int
scsi_check_report_luns (const struct scsi_cmd *cmd, const uint8_t *cdb,
                        const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                        struct scsi_sense *s)
{
  uint8_t sel = c->select_report;

  if (sel <= 2 || (sel >= 0x10 && sel <= 0x12))
    return 0;
  return scsi_cdb_bad_field (s, 2, -1);
}

/* REPORT SUPPORTED OPERATION CODES: reporting options 0-3. */
int
scsi_check_rsoc (const struct scsi_cmd *cmd, const uint8_t *cdb,
                 const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                 struct scsi_sense *s)
{
  if (c->options > 3)
    return scsi_cdb_bad_field (s, 2, 2);
  c->requested_sa = get_be (&cdb[4], 2);
  return 0;
}

/* REPORT TARGET PORT GROUPS: length-only or extended header. */
int
scsi_check_rtpg (const struct scsi_cmd *cmd, const uint8_t *cdb,
                 const struct scsi_lu_limits *lu, struct scsi_cdb *c,
                 struct scsi_sense *s)
{
  return c->param_format > 1 ? scsi_cdb_bad_field (s, 1, 7) : 0;
}

/*----------------------------------------------------------------------
 * UNMAP parameter list (SBC-3 §5.28.2):
 *   0-1 UNMAP DATA LENGTH, 2-3 BLOCK DESCRIPTOR DATA LENGTH, 4-7 rsvd,
 *   then 16-byte descriptors: 8 LBA, 4 NUMBER OF LOGICAL BLOCKS, 4 rsvd.
 */

static int
bad_param (struct scsi_sense *s, uint16_t byte)
{
  scsi_sense_set_field (s, SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, false,
                        byte, -1);
  return -1;
}

static int
unmap_desc (const uint8_t *d, size_t i, const struct scsi_lu_limits *lu,
            struct scsi_unmap_desc *out, uint64_t *total,
            struct scsi_sense *s)
{
  uint64_t lba = get_be (d, 8);
  uint32_t nb = get_be (&d[8], 4);

  if (lba > lu->nblocks || nb > lu->nblocks - lba) {
    scsi_sense_set (s, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
    scsi_sense_set_info (s, lba);
    return -1;
  }
  *total += nb;
  if (lu->max_unmap_blocks && *total > lu->max_unmap_blocks)
    return bad_param (s, 8 + 16 * i + 8);
  if (out != NULL) {
    out->lba = lba;
    out->nblocks = nb;
  }
  return 0;
}

int
scsi_unmap_parse (const uint8_t *param, size_t len,
                  const struct scsi_lu_limits *lu,
                  struct scsi_unmap_desc *descs, size_t max, size_t *n,
                  struct scsi_sense *sense)
{
  size_t bd_len, count, i;
  uint64_t total = 0;

  *n = 0;
  memset (sense, 0, sizeof *sense);
  if (len == 0)
    return 0;
  if (len < 8)
    return scsi_cdb_illegal (sense, SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  bd_len = get_be (&param[2], 2);
  if (bd_len > len - 8)
    bd_len = len - 8;
  count = bd_len / 16;
  if ((lu->max_unmap_descriptors && count > lu->max_unmap_descriptors)
      || (descs != NULL && count > max))
    return bad_param (sense, 2);
  for (i = 0; i < count; i++)
    if (unmap_desc (&param[8 + 16 * i], i, lu,
                    descs ? &descs[i] : NULL, &total, sense) == -1)
      return -1;
  *n = count;
  return 0;
}
