/* segmap: what test-cdb.c (commands, fields, ranges, random CDBs) and
 * test-cdb-sense.c (UNMAP lists, residuals, sense data) share: one
 * test program.
 */
#ifndef SEGMAP_TEST_CDB_H
#define SEGMAP_TEST_CDB_H

#include <check.h>
#include <stdint.h>

#include "scsi/cdb.h"
#include "scsi/sense.h"

#define CAP (UINT64_C (1) << 21)        /* 1 GiB of 512-byte blocks */

extern struct scsi_lu_limits lu;        /* the LU the tests decode for */

/* A thin LU of CAP blocks with every optional command supported. */
void lu_init (void);
/* Decode 16 bytes (what an iSCSI SCSI Command carries). */
int dec (const uint8_t *cdb, struct scsi_cdb *c, struct scsi_sense *s);
/* CDB must fail with ILLEGAL REQUEST / ASC_ASCQ; BYTE >= 0: with a CDB
 * field pointer at BYTE, BIT (-1: no bit pointer). */
void expect_sense (const uint8_t *cdb, uint16_t asc_ascq, int byte,
                   int bit, int line);
/* CDB must decode into *C. */
void expect_ok (const uint8_t *cdb, struct scsi_cdb *c, int line);

#define B(...) ((const uint8_t[16]) { __VA_ARGS__ })
#define BAD_FIELD(cdb, byte, bit) \
  expect_sense (cdb, SCSI_ASC_INVALID_FIELD_IN_CDB, byte, bit, __LINE__)
#define BAD(cdb, asc) expect_sense (cdb, asc, -1, -1, __LINE__)
#define OOR(cdb) BAD (cdb, SCSI_ASC_LBA_OUT_OF_RANGE)
#define OK(cdb, c) expect_ok (cdb, c, __LINE__)

/* test-cdb-sense.c */
void add_sense_tests (TCase *tc);

#endif /* SEGMAP_TEST_CDB_H */
