/* segmap: what the SCSI logical unit tests share (test-lu.c,
 * test-lu-data.c, test-lu-pr.c, test-lu-atomic.c): one test program.
 *
 * The backend is a malloc'd disk with a per-block allocation map, so
 * trim, zero, extents and GET LBA STATUS are real; it counts calls and
 * fails on demand.  The PR store keeps the last saved blob in memory
 * and can be told to fail.
 */
#ifndef SEGMAP_TEST_LU_H
#define SEGMAP_TEST_LU_H

#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/lu.h"

#define BS       512
#define NBLOCKS  4096                   /* 2 MiB */

struct memdisk {
  uint8_t *data;
  bool *alloc;                          /* per block */
  uint64_t size;
  atomic_int pwrites, fua_writes, flushes, trims, zeros;
  int fail_errno;                       /* every call fails with it */
  bool fail_write_half;                 /* pwrite writes half, then EIO */
  bool slow_writes;                     /* yield between blocks, and
                                         * after a read */
  bool read_only;                       /* the read_only op says so */
};

struct memstore {
  void *blob;
  size_t len;
  int saves;
  bool fail_save;
};

extern const struct scsi_backend_ops memdisk_ops;
extern const struct scsi_pr_store_ops memstore_ops;

/* The fixture of every test: LU "disk0" over DISK, nexuses A and B
 * (different initiators through port 1) with their power-on unit
 * attentions already cleared. */
extern struct memdisk disk;
extern struct memstore store;
extern struct scsi_lu *lu;
extern struct scsi_itl *A, *B;

void memdisk_init (struct memdisk *d, uint64_t size);
void memdisk_free (struct memdisk *d);
struct scsi_lu *lu_open (uint64_t size, bool thin);
void setup (void);
void teardown (void);
/* Detach A and B, free the LU, create it again from the store. */
void restart (void);

/* Run CDB (16 bytes, as iSCSI carries it) on ITL with DATA_OUT and a
 * Data-In buffer of CAP bytes (IN, may be NULL). */
void run (struct scsi_itl *itl, struct scsi_task *t, const uint8_t *cdb,
          const void *data_out, uint32_t out_len, void *in, uint32_t cap);
void clear_ua (struct scsi_itl *itl);

/* Status GOOD; CHECK CONDITION with fixed sense KEY/ASC exactly. */
void expect_good_at (const struct scsi_task *t, int line);
void expect_sense_at (const struct scsi_task *t, uint8_t key, uint16_t asc,
                      int line);
void expect_status_at (const struct scsi_task *t, uint8_t status, int line);
#define GOOD(t) expect_good_at (t, __LINE__)
#define SENSE(t, key, asc) expect_sense_at (t, key, asc, __LINE__)
#define STATUS(t, s) expect_status_at (t, s, __LINE__)
#define CDB(...) ((const uint8_t[16]) { __VA_ARGS__ })

/* Plain commands. */
void do_write (struct scsi_itl *itl, uint64_t lba, uint32_t n,
               const void *buf, struct scsi_task *t);
void do_read (struct scsi_itl *itl, uint64_t lba, uint32_t n, void *buf,
              struct scsi_task *t);
void cdb16 (uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n);

void add_data_tests (Suite *s);         /* test-lu-data.c */
void add_pr_tests (Suite *s);           /* test-lu-pr.c */
void add_atomic_tests (Suite *s);       /* test-lu-atomic.c */

#endif /* SEGMAP_TEST_LU_H */
