/* segmap: the CDB command table shared by cdb.c (table, generic decode)
 * and cdb-check.c (command-specific rules).  Not for use elsewhere.
 */
#ifndef SEGMAP_SCSI_CDB_INTERNAL_H
#define SEGMAP_SCSI_CDB_INTERNAL_H

#include <stdint.h>

#include "common/be.h"
#include "scsi/cdb.h"
#include "scsi/sense.h"

/* What the command transfers. */
enum xfer_kind {
  X_NONE,                       /* nothing */
  X_READ,                       /* data-in: nblocks blocks */
  X_WRITE,                      /* data-out: nblocks blocks */
  X_ALLOC_IN,                   /* data-in: up to alloc_len bytes */
  X_PARAM_OUT,                  /* data-out: alloc_len bytes */
  X_CUSTOM,                     /* the check function sets dir, xfer */
};

/* Command properties. */
#define C_RANGE       0x01      /* check LBA + nblocks against capacity */
#define C_MAXLEN      0x02      /* nblocks <= MAXIMUM TRANSFER LENGTH */
#define C_LBA21       0x04      /* READ(6)/WRITE(6): 21-bit LBA */
#define C_ZERO_256    0x08      /* a length of 0 means 256 */
#define C_ZERO_TO_END 0x10      /* a length of 0 means up to the end */
#define C_SA_LOOKUP   0x20      /* the opcode is a family: byte 1 SA */

/* Where a decoded bit field goes. */
enum bit_target {
  B_END, B_FLAG, B_SA, B_PROTECT, B_BYTCHK, B_GROUP, B_PAGE, B_SUBPAGE,
  B_PC, B_SELECT, B_SCOPE, B_TYPE, B_OPTIONS, B_REQ_OP, B_FORMAT,
};

struct bitspec {
  uint8_t byte, mask;
  uint8_t target;               /* enum bit_target */
  uint16_t flag;                /* B_FLAG: SCSI_CDB_* */
};

struct scsi_cmd;
typedef int (*cmd_check_fn) (const struct scsi_cmd *cmd, const uint8_t *cdb,
                             const struct scsi_lu_limits *lu,
                             struct scsi_cdb *c, struct scsi_sense *s);

struct scsi_cmd {
  uint8_t opcode, sa, len;
  uint8_t xfer;                 /* enum xfer_kind */
  uint8_t cflags;               /* C_* */
  uint8_t lba_off, lba_size;    /* LBA field (size 0: none) */
  uint8_t n_off, n_size;        /* block count field */
  uint8_t al_off, al_size;      /* allocation / parameter list length */
  const char *name;
  uint8_t rsv[16];              /* bits that must be zero, per byte */
  struct bitspec bits[6];       /* flags and small fields (B_END ends) */
  cmd_check_fn check;
};

/* Fill *S with INVALID FIELD IN CDB at BYTE/BIT; returns -1. */
int scsi_cdb_bad_field (struct scsi_sense *s, uint16_t byte, int bit);
/* Fill *S with ILLEGAL REQUEST / ASC_ASCQ (no pointer); returns -1. */
int scsi_cdb_illegal (struct scsi_sense *s, uint16_t asc_ascq);

/* cdb-check.c: command-specific rules. */
int scsi_check_inquiry (const struct scsi_cmd *, const uint8_t *,
                        const struct scsi_lu_limits *, struct scsi_cdb *,
                        struct scsi_sense *);
int scsi_check_read_capacity (const struct scsi_cmd *, const uint8_t *,
                              const struct scsi_lu_limits *,
                              struct scsi_cdb *, struct scsi_sense *);
int scsi_check_get_lba_status (const struct scsi_cmd *, const uint8_t *,
                               const struct scsi_lu_limits *,
                               struct scsi_cdb *, struct scsi_sense *);
int scsi_check_mode_select (const struct scsi_cmd *, const uint8_t *,
                            const struct scsi_lu_limits *,
                            struct scsi_cdb *, struct scsi_sense *);
int scsi_check_verify (const struct scsi_cmd *, const uint8_t *,
                       const struct scsi_lu_limits *, struct scsi_cdb *,
                       struct scsi_sense *);
int scsi_check_write_verify (const struct scsi_cmd *, const uint8_t *,
                             const struct scsi_lu_limits *,
                             struct scsi_cdb *, struct scsi_sense *);
int scsi_check_write_same (const struct scsi_cmd *, const uint8_t *,
                           const struct scsi_lu_limits *, struct scsi_cdb *,
                           struct scsi_sense *);
int scsi_check_unmap (const struct scsi_cmd *, const uint8_t *,
                      const struct scsi_lu_limits *, struct scsi_cdb *,
                      struct scsi_sense *);
int scsi_check_compare_write (const struct scsi_cmd *, const uint8_t *,
                              const struct scsi_lu_limits *,
                              struct scsi_cdb *, struct scsi_sense *);
int scsi_check_write_atomic (const struct scsi_cmd *, const uint8_t *,
                             const struct scsi_lu_limits *,
                             struct scsi_cdb *, struct scsi_sense *);
int scsi_check_pr_in (const struct scsi_cmd *, const uint8_t *,
                      const struct scsi_lu_limits *, struct scsi_cdb *,
                      struct scsi_sense *);
int scsi_check_pr_out (const struct scsi_cmd *, const uint8_t *,
                       const struct scsi_lu_limits *, struct scsi_cdb *,
                       struct scsi_sense *);
int scsi_check_report_luns (const struct scsi_cmd *, const uint8_t *,
                            const struct scsi_lu_limits *,
                            struct scsi_cdb *, struct scsi_sense *);
int scsi_check_rsoc (const struct scsi_cmd *, const uint8_t *,
                     const struct scsi_lu_limits *, struct scsi_cdb *,
                     struct scsi_sense *);
int scsi_check_rtpg (const struct scsi_cmd *, const uint8_t *,
                     const struct scsi_lu_limits *, struct scsi_cdb *,
                     struct scsi_sense *);

#endif /* SEGMAP_SCSI_CDB_INTERNAL_H */
