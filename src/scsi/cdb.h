/* segmap: SCSI CDB decoding and validation for a block device (SBC-3,
 * SPC-4; WRITE ATOMIC(16) from SBC-4).
 *
 * Groundwork for a future iSCSI target; nothing in segmap uses it yet.
 *
 * scsi_cdb_decode turns the bytes of a CDB into struct scsi_cdb (LBA,
 * block count, allocation or parameter list length, flags, service
 * action, data direction and size) and checks it against the logical
 * unit (struct scsi_lu_limits), or fills a struct scsi_sense with the
 * exact CHECK CONDITION to return:
 *
 *   unknown opcode (incl. vendor-specific and variable-length)
 *       ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (20h/00h)
 *   unknown service action, a reserved bit set, an unsupported option
 *   (PROTECT fields, NACA/LINK, BYTCHK 10b, ANCHOR, SP, ...), a length
 *   above the LU's maximum
 *       ILLEGAL REQUEST / INVALID FIELD IN CDB (24h/00h), with the
 *       sense-key specific field pointer (byte, bit) of the culprit
 *   LBA beyond the end, or LBA + length past it (including 2^64 wrap)
 *       ILLEGAL REQUEST / LOGICAL BLOCK ADDRESS OUT OF RANGE (21h/00h)
 *   PERSISTENT RESERVE OUT parameter list length not 24
 *       ILLEGAL REQUEST / PARAMETER LIST LENGTH ERROR (1Ah/00h)
 *
 * Order of checks: opcode, service action, CDB length, reserved bits,
 * command-specific fields, maximum lengths, LBA range.  A transfer
 * length of 0 is not an error (except READ(6)/WRITE(6), where 0 means
 * 256 blocks); the LBA is still checked, so LBA == capacity with 0
 * blocks is fine and LBA > capacity is out of range.
 *
 * Bad CDBs are expected input: these functions return -1 with the
 * sense filled, never calling sm_error.
 */
#ifndef SEGMAP_SCSI_CDB_H
#define SEGMAP_SCSI_CDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/sense.h"

enum scsi_opcode {
  SCSI_OP_TEST_UNIT_READY = 0x00,
  SCSI_OP_REQUEST_SENSE = 0x03,
  SCSI_OP_READ6 = 0x08,
  SCSI_OP_WRITE6 = 0x0a,
  SCSI_OP_INQUIRY = 0x12,
  SCSI_OP_MODE_SELECT6 = 0x15,
  SCSI_OP_RESERVE6 = 0x16,
  SCSI_OP_RELEASE6 = 0x17,
  SCSI_OP_MODE_SENSE6 = 0x1a,
  SCSI_OP_READ_CAPACITY10 = 0x25,
  SCSI_OP_READ10 = 0x28,
  SCSI_OP_WRITE10 = 0x2a,
  SCSI_OP_WRITE_VERIFY10 = 0x2e,
  SCSI_OP_VERIFY10 = 0x2f,
  SCSI_OP_PRE_FETCH10 = 0x34,
  SCSI_OP_SYNCHRONIZE_CACHE10 = 0x35,
  SCSI_OP_WRITE_SAME10 = 0x41,
  SCSI_OP_UNMAP = 0x42,
  SCSI_OP_MODE_SELECT10 = 0x55,
  SCSI_OP_RESERVE10 = 0x56,
  SCSI_OP_RELEASE10 = 0x57,
  SCSI_OP_MODE_SENSE10 = 0x5a,
  SCSI_OP_PERSISTENT_RESERVE_IN = 0x5e,
  SCSI_OP_PERSISTENT_RESERVE_OUT = 0x5f,
  SCSI_OP_VARIABLE_LENGTH = 0x7f,
  SCSI_OP_READ16 = 0x88,
  SCSI_OP_COMPARE_AND_WRITE = 0x89,
  SCSI_OP_WRITE16 = 0x8a,
  SCSI_OP_WRITE_VERIFY16 = 0x8e,
  SCSI_OP_VERIFY16 = 0x8f,
  SCSI_OP_PRE_FETCH16 = 0x90,
  SCSI_OP_SYNCHRONIZE_CACHE16 = 0x91,
  SCSI_OP_WRITE_SAME16 = 0x93,
  SCSI_OP_WRITE_ATOMIC16 = 0x9c,
  SCSI_OP_SERVICE_ACTION_IN16 = 0x9e,
  SCSI_OP_REPORT_LUNS = 0xa0,
  SCSI_OP_MAINTENANCE_IN = 0xa3,
  SCSI_OP_READ12 = 0xa8,
  SCSI_OP_WRITE12 = 0xaa,
  SCSI_OP_WRITE_VERIFY12 = 0xae,
  SCSI_OP_VERIFY12 = 0xaf,
};

/* Service actions. */
#define SCSI_SAI_READ_CAPACITY16          0x10   /* SERVICE ACTION IN(16) */
#define SCSI_SAI_GET_LBA_STATUS           0x12
#define SCSI_MI_REPORT_TARGET_PORT_GROUPS 0x0a   /* MAINTENANCE IN */
#define SCSI_MI_REPORT_SUPPORTED_OPCODES  0x0c
#define SCSI_SA_NONE                      0xff

/* struct scsi_cdb flags. */
#define SCSI_CDB_FUA    0x0001
#define SCSI_CDB_DPO    0x0002
#define SCSI_CDB_IMMED  0x0004
#define SCSI_CDB_UNMAP  0x0008
#define SCSI_CDB_ANCHOR 0x0010
#define SCSI_CDB_NDOB   0x0020
#define SCSI_CDB_EVPD   0x0040
#define SCSI_CDB_DBD    0x0080
#define SCSI_CDB_LLBAA  0x0100
#define SCSI_CDB_PF     0x0200
#define SCSI_CDB_SP     0x0400
#define SCSI_CDB_PMI    0x0800
#define SCSI_CDB_DESC   0x1000
#define SCSI_CDB_RCTD   0x2000

enum scsi_data_dir { SCSI_DIR_NONE, SCSI_DIR_IN, SCSI_DIR_OUT };

/* What the logical unit is and supports (0 limits: no limit). */
struct scsi_lu_limits {
  uint64_t nblocks;             /* capacity in logical blocks */
  uint32_t block_size;          /* bytes per logical block */
  uint32_t max_xfer_blocks;     /* MAXIMUM TRANSFER LENGTH */
  uint32_t max_write_same_blocks; /* MAXIMUM WRITE SAME LENGTH */
  uint32_t max_unmap_blocks;    /* MAXIMUM UNMAP LBA COUNT */
  uint32_t max_unmap_descriptors; /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
  uint8_t max_compare_write_blocks; /* 0: COMPARE AND WRITE unsupported */
  uint32_t max_atomic_blocks;   /* 0: WRITE ATOMIC(16) unsupported */
  uint32_t atomic_alignment;    /* LBA multiple, 0: any */
  uint32_t atomic_granularity;  /* length multiple, 0: any */
  bool thin;                    /* UNMAP and WRITE SAME's UNMAP bit */
  bool wsnz;                    /* WRITE SAME of 0 blocks is refused */
  bool anchor;                  /* the ANCHOR bit is supported */
};

struct scsi_cdb {
  uint8_t opcode;
  uint8_t service_action;       /* or SCSI_SA_NONE */
  uint8_t length;               /* CDB bytes */
  const char *name;
  uint64_t lba;
  uint32_t nblocks;             /* transfer / verification / range length
                                 * (READ(6) 0 -> 256; "to the end" made
                                 * explicit for SYNCHRONIZE CACHE,
                                 * PRE-FETCH and WRITE SAME) */
  uint32_t alloc_len;           /* ALLOCATION or PARAMETER LIST LENGTH */
  uint32_t flags;               /* SCSI_CDB_* */
  uint8_t protect;              /* RD/WR/VRPROTECT (always 0 if valid) */
  uint8_t bytchk;               /* VERIFY, WRITE AND VERIFY */
  uint8_t group;                /* GROUP NUMBER */
  uint8_t page, subpage, pc;    /* INQUIRY page; MODE SENSE page/PC */
  uint8_t select_report;        /* REPORT LUNS */
  uint8_t pr_scope, pr_type;    /* PERSISTENT RESERVE OUT */
  uint8_t options;              /* REPORT SUPPORTED OPCODES: options */
  uint8_t requested_op;         /* ... REQUESTED OPERATION CODE */
  uint16_t requested_sa;        /* ... REQUESTED SERVICE ACTION */
  uint8_t param_format;         /* REPORT TARGET PORT GROUPS */
  uint16_t atomic_boundary;     /* WRITE ATOMIC(16) */
  uint8_t dir;                  /* enum scsi_data_dir */
  uint64_t xfer_bytes;          /* bytes to move (data-in: at most) */
};

/* One UNMAP block descriptor. */
struct scsi_unmap_desc {
  uint64_t lba;
  uint32_t nblocks;
};

/* How much the transport should move, and the residual (iSCSI EDTL vs
 * what the CDB asks for). */
struct scsi_residual {
  uint64_t transfer;            /* min (CDB bytes, expected) */
  uint64_t residual;
  bool overflow;                /* the CDB wants more than expected */
  bool underflow;               /* the CDB wants less than expected */
};

/* Length of the CDB whose first bytes are CDB (AVAIL of them): 6, 10,
 * 12 or 16 from the group code, 8 + ADDITIONAL CDB LENGTH for 0x7f, 0
 * for vendor-specific groups or when AVAIL is too short to tell. */
size_t scsi_cdb_length (const uint8_t *cdb, size_t avail);

/* Decode and validate LEN bytes of CDB for LU.  Returns 0 and fills
 * *OUT, or -1 and fills *SENSE (ILLEGAL REQUEST ...). */
int scsi_cdb_decode (const uint8_t *cdb, size_t len,
                     const struct scsi_lu_limits *lu, struct scsi_cdb *out,
                     struct scsi_sense *sense);

/* Validate the UNMAP parameter list PARAM (LEN bytes received) and
 * store up to MAX descriptors in DESCS (may be NULL to only check).
 * Incomplete trailing descriptors are ignored (SBC-3).  Returns 0 with
 * *N descriptors, or -1 with *SENSE: PARAMETER LIST LENGTH ERROR (1-7
 * bytes), INVALID FIELD IN PARAMETER LIST (too many descriptors, a
 * count or total above the LU's maximum), LBA OUT OF RANGE. */
int scsi_unmap_parse (const uint8_t *param, size_t len,
                      const struct scsi_lu_limits *lu,
                      struct scsi_unmap_desc *descs, size_t max, size_t *n,
                      struct scsi_sense *sense);

/* Residual of C against EXPECTED bytes from the transport. */
void scsi_cdb_residual (const struct scsi_cdb *c, uint64_t expected,
                        struct scsi_residual *r);

/* CDB USAGE DATA (SPC-4 REPORT SUPPORTED OPERATION CODES) of the
 * command OPCODE (service action SA, or SCSI_SA_NONE): the opcode, then
 * per byte the bits a CDB may set, with the service action in its
 * field.  Writes up to 16 bytes to USAGE and sets *LEN to the CDB
 * length.  Returns 0, or -1 if the command is not supported. */
int scsi_cdb_usage (uint8_t opcode, uint8_t sa, uint8_t *usage,
                    size_t *len);

/* The command's name ("READ(10)", "READ CAPACITY(16)"), or "unknown
 * command". */
const char *scsi_opcode_to_string (uint8_t opcode, uint8_t service_action);
const char *scsi_data_dir_to_string (enum scsi_data_dir dir);

#endif /* SEGMAP_SCSI_CDB_H */
