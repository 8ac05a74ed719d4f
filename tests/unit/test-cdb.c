/* segmap: unit tests for SCSI CDB decoding and sense data
 * (src/scsi/cdb*.c, sense.c).
 *
 * One program in two files: this one, and test-cdb-sense.c for UNMAP
 * parameter lists, residuals and sense data.  What is checked and how:
 *  - One valid CDB per supported command decodes to the expected LBA,
 *    length, allocation length, flags, direction and byte count.
 *  - Every opcode we do not implement, and every unknown service
 *    action, gets the exact sense (20h/00h; 24h/00h with the pointer).
 *  - Reserved bits: known ones give INVALID FIELD IN CDB pointing at
 *    the byte and bit; flipping any bit of any sample never crashes
 *    and fails, if at all, with ILLEGAL REQUEST.
 *  - RELIABILITY.md "SCSI CDBs": LBA past the end, LBA + length
 *    wrapping 2^64, 0-block commands at and past the end, READ(6) 0 =
 *    256, allocation length 0, residuals, PROTECT bits, WRITE SAME
 *    UNMAP/ANCHOR/NDOB, UNMAP descriptor limits and overlaps, COMPARE
 *    AND WRITE over the maximum, PR OUT parameter list length, bad
 *    service actions.
 *  - Sense data: exact fixed and descriptor bytes, parse round trips.
 *  - 300k random CDBs against random LUs.  SEGMAP_TEST_SEED=N
 *    reproduces a run.
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

#include "test-cdb.h"

static unsigned seed;
struct scsi_lu_limits lu;

void
lu_init (void)
{
  memset (&lu, 0, sizeof lu);
  lu.nblocks = CAP;
  lu.block_size = 512;
  lu.max_xfer_blocks = 65536;
  lu.max_write_same_blocks = 65536;
  lu.max_unmap_blocks = 1 << 20;
  lu.max_unmap_descriptors = 16;
  lu.max_compare_write_blocks = 8;
  lu.max_atomic_blocks = 64;
  lu.atomic_alignment = 8;
  lu.atomic_granularity = 8;
  lu.thin = true;
}

int
dec (const uint8_t *cdb, struct scsi_cdb *c, struct scsi_sense *s)
{
  return scsi_cdb_decode (cdb, 16, &lu, c, s);
}

void
expect_sense (const uint8_t *cdb, uint16_t asc_ascq, int byte, int bit,
              int line)
{
  struct scsi_cdb c;
  struct scsi_sense s;

  ck_assert_msg (dec (cdb, &c, &s) == -1, "line %d: accepted", line);
  ck_assert_msg (s.key == SCSI_SK_ILLEGAL_REQUEST
                 && (s.asc << 8 | s.ascq) == asc_ascq,
                 "line %d: got %x/%02x/%02x", line, s.key, s.asc, s.ascq);
  if (byte < 0) {
    ck_assert_msg (!s.sks_valid, "line %d: unexpected pointer", line);
    return;
  }
  ck_assert_msg (s.sks_valid && (s.sks[0] & 0x40)
                 && (s.sks[1] << 8 | s.sks[2]) == byte,
                 "line %d: pointer %02x %02x %02x, want byte %d", line,
                 s.sks[0], s.sks[1], s.sks[2], byte);
  if (bit < 0)
    ck_assert_msg (!(s.sks[0] & 0x08), "line %d: unexpected bit", line);
  else
    ck_assert_msg ((s.sks[0] & 0x0f) == (0x08 | bit),
                   "line %d: bit %d, want %d", line, s.sks[0] & 7, bit);
}

void
expect_ok (const uint8_t *cdb, struct scsi_cdb *c, int line)
{
  struct scsi_sense s;

  ck_assert_msg (dec (cdb, c, &s) == 0, "line %d: %s / %s", line,
                 scsi_sense_key_to_string (s.key),
                 scsi_asc_to_string (s.asc, s.ascq));
}

/*----------------------------------------------------------------------
 * Samples: one valid CDB per command.
 */

struct sample {
  uint8_t cdb[16];
  const char *name;
  uint64_t lba;
  uint32_t nblocks, alloc, flags;
  uint8_t dir;
  uint64_t xfer;
};

#define IN SCSI_DIR_IN
#define OUT SCSI_DIR_OUT
#define NONE SCSI_DIR_NONE
#define F(x) SCSI_CDB_##x

static const struct sample samples[] = {
  { { 0x00 }, "TEST UNIT READY", 0, 0, 0, 0, NONE, 0 },
  { { 0x03, 0x01, 0, 0, 252 }, "REQUEST SENSE", 0, 0, 252, F (DESC), IN, 252 },
  { { 0x08, 0x1f, 0xff, 0x00, 0 }, "READ(6)", 0x1fff00, 256, 0, 0, IN,
    256 * 512 },
  { { 0x0a, 0, 0, 1, 8 }, "WRITE(6)", 1, 8, 0, 0, OUT, 4096 },
  { { 0x12, 1, 0x80, 0, 255 }, "INQUIRY", 0, 0, 255, F (EVPD), IN, 255 },
  { { 0x15, 0x10, 0, 0, 24 }, "MODE SELECT(6)", 0, 0, 24, F (PF), OUT, 24 },
  { { 0x16 }, "RESERVE(6)", 0, 0, 0, 0, NONE, 0 },
  { { 0x17 }, "RELEASE(6)", 0, 0, 0, 0, NONE, 0 },
  { { 0x1a, 0x08, 0x3f, 0, 192 }, "MODE SENSE(6)", 0, 0, 192, F (DBD), IN,
    192 },
  { { 0x25 }, "READ CAPACITY(10)", 0, 0, 0, 0, IN, 8 },
  { { 0x28, 0x18, 0, 0, 0x10, 0, 5, 0, 8 }, "READ(10)", 0x1000, 8, 0,
    F (DPO) | F (FUA), IN, 4096 },
  { { 0x2a, 0x08, 0, 0, 0, 1, 0, 0, 1 }, "WRITE(10)", 1, 1, 0, F (FUA), OUT,
    512 },
  { { 0x2e, 0x02, 0, 0, 0, 0, 0, 0, 1 }, "WRITE AND VERIFY(10)", 0, 1, 0, 0,
    OUT, 512 },
  { { 0x2f, 0x00, 0, 0, 0, 0, 0, 0, 16 }, "VERIFY(10)", 0, 16, 0, 0, NONE, 0 },
  { { 0x34, 0x02, 0x00, 0x1f, 0xff, 0xff }, "PRE-FETCH(10)", CAP - 1, 1, 0,
    F (IMMED), NONE, 0 },
  { { 0x35 }, "SYNCHRONIZE CACHE(10)", 0, CAP, 0, 0, NONE, 0 },
  { { 0x41, 0x08, 0, 0, 0, 0, 0, 1, 0 }, "WRITE SAME(10)", 0, 256, 0,
    F (UNMAP), OUT, 512 },
  { { 0x42, 0, 0, 0, 0, 0, 0, 0, 24 }, "UNMAP", 0, 0, 24, 0, OUT, 24 },
  { { 0x55, 0x10, 0, 0, 0, 0, 0, 0, 0x20 }, "MODE SELECT(10)", 0, 0, 32,
    F (PF), OUT, 32 },
  { { 0x56 }, "RESERVE(10)", 0, 0, 0, 0, NONE, 0 },
  { { 0x57 }, "RELEASE(10)", 0, 0, 0, 0, NONE, 0 },
  { { 0x5a, 0x18, 0x08, 0, 0, 0, 0, 1, 0 }, "MODE SENSE(10)", 0, 0, 256,
    F (LLBAA) | F (DBD), IN, 256 },
  { { 0x5e, 0x01, 0, 0, 0, 0, 0, 2, 0 }, "PERSISTENT RESERVE IN", 0, 0, 512,
    0, IN, 512 },
  { { 0x5f, 0x01, 0x03, 0, 0, 0, 0, 0, 24 }, "PERSISTENT RESERVE OUT", 0, 0,
    24, 0, OUT, 24 },
  { { 0x88, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0, 0, 0, 1 }, "READ(16)",
    CAP - 1, 1, 0, 0, IN, 512 },
  { { 0x89, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 4 },
    "COMPARE AND WRITE", 0x10, 4, 0, F (FUA), OUT, 4096 },
  { { 0x8a, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0 }, "WRITE(16)", 0,
    256, 0, F (DPO), OUT, 256 * 512 },
  { { 0x8e, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 },
    "WRITE AND VERIFY(16)", 0, 2, 0, 0, OUT, 1024 },
  { { 0x8f, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100 }, "VERIFY(16)", 0,
    100, 0, 0, OUT, 512 },
  { { 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4 }, "PRE-FETCH(16)", 0, 4,
    0, 0, NONE, 0 },
  { { 0x91, 0x02, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x10 },
    "SYNCHRONIZE CACHE(16)", 0x100, 16, 0, F (IMMED), NONE, 0 },
  { { 0x93, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0 }, "WRITE SAME(16)",
    0, 4096, 0, F (UNMAP) | F (NDOB), NONE, 0 },
  { { 0x9c, 0x08, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 8 }, "WRITE ATOMIC(16)",
    16, 8, 0, F (FUA), OUT, 4096 },
  { { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32 }, "READ CAPACITY(16)",
    0, 0, 32, 0, IN, 32 },
  { { 0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 24 }, "GET LBA STATUS",
    100, 0, 24, 0, IN, 24 },
  { { 0xa0, 0, 0x02, 0, 0, 0, 0, 0, 0x10, 0 }, "REPORT LUNS", 0, 0, 4096, 0,
    IN, 4096 },
  { { 0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 1, 0 }, "REPORT TARGET PORT GROUPS", 0,
    0, 256, 0, IN, 256 },
  { { 0xa3, 0x0c, 0x82, 0x28, 0, 5, 0, 0, 0, 20 },
    "REPORT SUPPORTED OPERATION CODES", 0, 0, 20, F (RCTD), IN, 20 },
  { { 0xa8, 0, 0, 0, 0, 1, 0, 0, 0, 2 }, "READ(12)", 1, 2, 0, 0, IN, 1024 },
  { { 0xaa, 0x08, 0, 0, 0, 2, 0, 0, 0, 2 }, "WRITE(12)", 2, 2, 0, F (FUA),
    OUT, 1024 },
  { { 0xae, 0x02, 0, 0, 0, 3, 0, 0, 0, 1 }, "WRITE AND VERIFY(12)", 3, 1, 0,
    0, OUT, 512 },
  { { 0xaf, 0x02, 0, 0, 0, 3, 0, 0, 0, 4 }, "VERIFY(12)", 3, 4, 0, 0, OUT,
    2048 },
};

#define N_SAMPLES (sizeof samples / sizeof samples[0])

START_TEST (test_samples)
{
  const struct sample *e = &samples[_i];
  struct scsi_cdb c;

  lu_init ();
  OK (e->cdb, &c);
  ck_assert_str_eq (c.name, e->name);
  ck_assert_str_eq (scsi_opcode_to_string (c.opcode, c.service_action),
                    e->name);
  ck_assert_uint_eq (c.length, scsi_cdb_length (e->cdb, 16));
  ck_assert_uint_eq (c.lba, e->lba);
  ck_assert_uint_eq (c.nblocks, e->nblocks);
  ck_assert_uint_eq (c.alloc_len, e->alloc);
  ck_assert_uint_eq (c.flags, e->flags);
  ck_assert_uint_eq (c.dir, e->dir);
  ck_assert_uint_eq (c.xfer_bytes, e->xfer);
}
END_TEST

START_TEST (test_sample_details)
{
  struct scsi_cdb c;

  lu_init ();
  OK (samples[4].cdb, &c);                      /* INQUIRY */
  ck_assert_uint_eq (c.page, 0x80);
  OK (samples[8].cdb, &c);                      /* MODE SENSE(6) */
  ck_assert_uint_eq (c.page, 0x3f);
  ck_assert_uint_eq (c.pc, 0);
  OK (samples[10].cdb, &c);                     /* READ(10) */
  ck_assert_uint_eq (c.group, 5);
  OK (samples[22].cdb, &c);                     /* PR IN */
  ck_assert_uint_eq (c.service_action, 1);
  OK (samples[23].cdb, &c);                     /* PR OUT */
  ck_assert_uint_eq (c.pr_type, 3);
  OK (B (0xa3, 0x0c, 0x82, 0x28, 0, 5, 0, 0, 0, 20), &c);
  ck_assert_uint_eq (c.options, 2);
  ck_assert_uint_eq (c.requested_op, 0x28);
  ck_assert_uint_eq (c.requested_sa, 5);
  ck_assert_uint_eq (c.service_action, SCSI_MI_REPORT_SUPPORTED_OPCODES);
  OK (B (0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 1, 0), &c);
  ck_assert_uint_eq (c.param_format, 1);
  OK (B (0xa0, 0, 0x02, 0, 0, 0, 0, 0, 0x10, 0), &c);
  ck_assert_uint_eq (c.select_report, 2);
}
END_TEST

START_TEST (test_cdb_length)
{
  uint8_t cdb[16] = { 0 };
  unsigned op;

  for (op = 0; op < 256; op++) {
    size_t want = op < 0x20 ? 6 : op < 0x60 ? 10 : op < 0x80 ? 0
      : op < 0xa0 ? 16 : op < 0xc0 ? 12 : 0;

    cdb[0] = op;
    if (op == 0x7f)
      continue;
    ck_assert_uint_eq (scsi_cdb_length (cdb, 16), want);
  }
  cdb[0] = 0x7f;
  cdb[7] = 0x18;
  ck_assert_uint_eq (scsi_cdb_length (cdb, 16), 32);
  ck_assert_uint_eq (scsi_cdb_length (cdb, 7), 0);
  ck_assert_uint_eq (scsi_cdb_length (cdb, 0), 0);
}
END_TEST

/*----------------------------------------------------------------------
 * Unknown commands and service actions.
 */

static bool
supported (uint8_t op)
{
  size_t i;

  for (i = 0; i < N_SAMPLES; i++)
    if (samples[i].cdb[0] == op)
      return true;
  return false;
}

START_TEST (test_unknown_opcodes)
{
  uint8_t cdb[16] = { 0 };
  unsigned op, n = 0;

  lu_init ();
  for (op = 0; op < 256; op++) {
    if (supported (op))
      continue;
    cdb[0] = op;
    BAD (cdb, SCSI_ASC_INVALID_COMMAND_OPCODE);
    ck_assert_str_eq (scsi_opcode_to_string (op, 0), "unknown command");
    n++;
  }
  ck_assert_uint_gt (n, 200);
  BAD (B (0x7f, 0, 0, 0, 0, 0, 0, 0x18), SCSI_ASC_INVALID_COMMAND_OPCODE);
  BAD_FIELD (B (0x9e, 0x11), 1, 4);             /* unknown SA */
  BAD_FIELD (B (0xa3, 0x05), 1, 4);
  BAD_FIELD (B (0x5e, 0x04, 0, 0, 0, 0, 0, 0, 8), 1, 4);
  BAD_FIELD (B (0x5f, 0x08, 0, 0, 0, 0, 0, 0, 24), 1, 4);
  /* the transport cut the CDB short / gave none */
  {
    struct scsi_cdb c;
    struct scsi_sense s;

    ck_assert_int_eq (scsi_cdb_decode (samples[24].cdb, 10, &lu, &c, &s), -1);
    ck_assert_uint_eq (s.asc, 0x24);
    ck_assert_int_eq (scsi_cdb_decode (samples[0].cdb, 0, &lu, &c, &s), -1);
    ck_assert_uint_eq (s.asc, 0x20);
  }
}
END_TEST

/*----------------------------------------------------------------------
 * Reserved bits and fields.
 */

START_TEST (test_reserved_bits)
{
  lu_init ();
  BAD_FIELD (B (0x28, 0x04, 0, 0, 0, 0, 0, 0, 1), 1, 2);
  BAD_FIELD (B (0x28, 0x01, 0, 0, 0, 0, 0, 0, 1), 1, 0);   /* obsolete */
  BAD_FIELD (B (0x28, 0, 0, 0, 0, 0, 0x20, 0, 1), 6, 5);
  BAD_FIELD (B (0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x04), 9, 2); /* NACA */
  BAD_FIELD (B (0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x01), 9, 0); /* LINK */
  BAD_FIELD (B (0x00, 0, 0, 0, 0x01), 4, 0);
  BAD_FIELD (B (0x12, 0x02, 0, 0, 36), 1, 1);               /* CMDDT */
  BAD_FIELD (B (0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80), 14, 7);
  BAD_FIELD (B (0x56, 0x10), 1, 4);                         /* 3RDPTY */
  BAD_FIELD (B (0x56, 0, 0, 0, 0, 0, 0, 0, 8), 8, 3);        /* param len */
  BAD_FIELD (B (0x28, 0x20, 0, 0, 0, 0, 0, 0, 1), 1, 7);     /* RDPROTECT */
  BAD_FIELD (B (0x8a, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 1, 7);
  {
    struct scsi_cdb c;

    OK (B (0x28, 0x02, 0, 0, 0, 0, 0, 0, 1, 0xc0), &c);      /* FUA_NV, vendor */
  }
}
END_TEST

/* Flip every bit of every sample: no crash; any failure is ILLEGAL
 * REQUEST; a pointer at the flipped bit means it was reserved, and at
 * least one such bit exists per multi-byte CDB. */
START_TEST (test_flip_every_bit)
{
  const struct sample *e = &samples[_i];
  size_t len = scsi_cdb_length (e->cdb, 16), byte, pointed = 0;
  uint8_t cdb[16];
  struct scsi_cdb c;
  struct scsi_sense s;
  int bit;

  lu_init ();
  for (byte = 1; byte < len; byte++)
    for (bit = 0; bit < 8; bit++) {
      memcpy (cdb, e->cdb, 16);
      cdb[byte] ^= 1 << bit;
      if (dec (cdb, &c, &s) == 0)
        continue;
      ck_assert_uint_eq (s.key, SCSI_SK_ILLEGAL_REQUEST);
      if (s.sks_valid && (size_t) (s.sks[1] << 8 | s.sks[2]) == byte
          && (s.sks[0] & 0x0f) == (0x08 | bit))
        pointed++;
    }
  ck_assert_uint_gt (pointed, 0);
}
END_TEST

/*----------------------------------------------------------------------
 * LBA ranges and lengths.
 */

START_TEST (test_lba_range)
{
  struct scsi_cdb c;

  lu_init ();
  OK (B (0x28, 0, 0x00, 0x1f, 0xff, 0xff, 0, 0, 1), &c);    /* last block */
  OK (B (0x28, 0, 0x00, 0x20, 0x00, 0x00, 0, 0, 0), &c);    /* 0 at end */
  OOR (B (0x28, 0, 0x00, 0x20, 0x00, 0x00, 0, 0, 1));       /* 1 at end */
  OOR (B (0x28, 0, 0x00, 0x20, 0x00, 0x01, 0, 0, 0));       /* 0 past it */
  OOR (B (0x28, 0, 0x00, 0x1f, 0xff, 0xff, 0, 0, 2));
  OOR (B (0x28, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1));
  /* 2^64 wrap */
  OOR (B (0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0, 0, 0, 2));
  OOR (B (0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  lu.max_xfer_blocks = 0;
  OOR (B (0x88, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  OOR (B (0x8f, 0, 0, 0, 0, 0, 0, 0x20, 0, 1, 0, 0, 0, 0));  /* VERIFY */
  /* READ(6): 0 means 256 blocks */
  OK (B (0x08, 0x1f, 0xff, 0x00, 0), &c);
  ck_assert_uint_eq (c.nblocks, 256);
  OOR (B (0x08, 0x1f, 0xff, 0x01, 0));
  OK (B (0x08, 0x1f, 0xff, 0x01, 0xff), &c);
  ck_assert_uint_eq (c.nblocks, 255);
  /* SYNCHRONIZE CACHE: 0 blocks = to the end */
  OK (B (0x35, 0, 0, 0x1f, 0xff, 0xf0), &c);
  ck_assert_uint_eq (c.nblocks, 16);
  OK (B (0x35, 0, 0, 0x20, 0, 0), &c);
  ck_assert_uint_eq (c.nblocks, 0);
  OOR (B (0x35, 0, 0, 0x20, 0, 1));
  OOR (B (0x91, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0, 0, 0, 2));
  /* GET LBA STATUS needs an existing block */
  OOR (B (0x9e, 0x12, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 24));
}
END_TEST

START_TEST (test_max_lengths)
{
  lu_init ();
  lu.max_xfer_blocks = lu.max_write_same_blocks = 1024;
  BAD_FIELD (B (0x28, 0, 0, 0, 0, 0, 0, 0xff, 0xff), 7, -1);
  BAD_FIELD (B (0xa8, 0, 0, 0, 0, 0, 0, 1, 0, 1), 6, -1);
  BAD_FIELD (B (0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1), 10, -1);
  BAD_FIELD (B (0x41, 0, 0, 0, 0, 0, 0, 0xff, 0xff), 7, -1);
  BAD_FIELD (B (0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9), 13, -1);
  lu.max_compare_write_blocks = 0;
  BAD (B (0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
       SCSI_ASC_INVALID_COMMAND_OPCODE);
  /* WRITE ATOMIC(16): length, granularity, alignment, boundary */
  BAD_FIELD (B (0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 72), 12, -1);
  BAD_FIELD (B (0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12), 12, -1);
  BAD_FIELD (B (0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 8), 2, -1);
  BAD_FIELD (B (0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 8), 10, -1);
  lu.max_atomic_blocks = 0;
  BAD (B (0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8),
       SCSI_ASC_INVALID_COMMAND_OPCODE);
}
END_TEST

START_TEST (test_allocation_length_zero)
{
  static const uint8_t cdbs[][16] = {
    { 0x12 }, { 0x03 }, { 0x1a, 0, 0x3f }, { 0x5a, 0, 0x3f }, { 0xa0 },
    { 0x9e, 0x10 }, { 0x5e },
  };
  struct scsi_cdb c;
  size_t i;

  lu_init ();
  for (i = 0; i < sizeof cdbs / sizeof cdbs[0]; i++) {
    OK (cdbs[i], &c);
    ck_assert_uint_eq (c.alloc_len, 0);
    ck_assert_uint_eq (c.xfer_bytes, 0);
    ck_assert_uint_eq (c.dir, SCSI_DIR_IN);
  }
  BAD_FIELD (B (0x12, 0, 0x80), 2, -1);         /* page without EVPD */
}
END_TEST

START_TEST (test_write_same)
{
  struct scsi_cdb c;

  lu_init ();
  OK (B (0x41, 0, 0, 0x1f, 0xff, 0x00), &c);    /* 0 = to the end */
  ck_assert_uint_eq (c.nblocks, 256);
  ck_assert_uint_eq (c.xfer_bytes, 512);
  lu.wsnz = true;
  BAD_FIELD (B (0x41, 0, 0, 0x1f, 0xff, 0x00), 7, -1);
  BAD_FIELD (B (0x93, 0), 10, -1);
  BAD_FIELD (B (0x41, 0x10, 0, 0, 0, 0, 0, 0, 1), 1, 4);  /* ANCHOR */
  lu.anchor = true;
  BAD_FIELD (B (0x41, 0x10, 0, 0, 0, 0, 0, 0, 1), 1, 4);  /* w/o UNMAP */
  OK (B (0x41, 0x18, 0, 0, 0, 0, 0, 0, 1), &c);
  ck_assert_uint_eq (c.flags, SCSI_CDB_ANCHOR | SCSI_CDB_UNMAP);
  lu.thin = false;
  BAD_FIELD (B (0x41, 0x08, 0, 0, 0, 0, 0, 0, 1), 1, 3);  /* UNMAP */
  OK (B (0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8), &c);  /* NDOB */
  ck_assert_uint_eq (c.dir, SCSI_DIR_NONE);
  BAD_FIELD (B (0x41, 0x04, 0, 0, 0, 0, 0, 0, 1), 1, 2);  /* PBDATA */
  OOR (B (0x93, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0, 0, 0, 2));
}
END_TEST

START_TEST (test_misc_fields)
{
  struct scsi_cdb c;

  lu_init ();
  BAD_FIELD (B (0x25, 0, 0, 0, 0, 1), 2, -1);   /* LBA without PMI */
  OK (B (0x25, 0, 0, 0, 0, 1, 0, 0, 1), &c);
  BAD_FIELD (B (0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 32), 2, -1);
  BAD_FIELD (B (0xa0, 0, 0x03), 2, -1);         /* SELECT REPORT */
  OK (B (0xa0, 0, 0x11, 0, 0, 0, 0, 0, 0, 16), &c);
  BAD_FIELD (B (0xa3, 0x0c, 0x04), 2, 2);       /* reporting options */
  BAD_FIELD (B (0xa3, 0x4a), 1, 7);             /* RTPG format 2 */
  BAD_FIELD (B (0x15, 0x11, 0, 0, 12), 1, 0);   /* SP */
  BAD_FIELD (B (0x55, 0x01), 1, 0);
  BAD_FIELD (B (0x2f, 0x04, 0, 0, 0, 0, 0, 0, 1), 1, 2);  /* BYTCHK 10b */
  BAD_FIELD (B (0x2e, 0x06, 0, 0, 0, 0, 0, 0, 1), 1, 2);  /* BYTCHK 11b */
  OK (B (0x2f, 0x06, 0, 0, 0, 0, 0, 0, 8), &c);           /* one block */
  ck_assert_uint_eq (c.xfer_bytes, 512);
}
END_TEST

START_TEST (test_persistent_reserve)
{
  struct scsi_cdb c;

  lu_init ();
  BAD (B (0x5f, 0x01, 0x03, 0, 0, 0, 0, 0, 23),
       SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  BAD (B (0x5f, 0x00, 0x00, 0, 0, 0, 0, 0, 0),
       SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  BAD_FIELD (B (0x5f, 0x01, 0x02, 0, 0, 0, 0, 0, 24), 2, 3);    /* type */
  BAD_FIELD (B (0x5f, 0x02, 0x13, 0, 0, 0, 0, 0, 24), 2, 7);    /* scope */
  OK (B (0x5f, 0x00, 0xff, 0, 0, 0, 0, 0, 24), &c);   /* REGISTER: ignored */
  OK (B (0x5f, 0x07, 0x00, 0, 0, 0, 0, 0, 40), &c);   /* REGISTER AND MOVE */
  BAD (B (0x5f, 0x07, 0x00, 0, 0, 0, 0, 0, 20),
       SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  OK (B (0x5f, 0x05, 0x08, 0, 0, 0, 0, 0, 24), &c);   /* PREEMPT AND ABORT */
  ck_assert_uint_eq (c.pr_type, 8);
}
END_TEST

/*----------------------------------------------------------------------
 * Random CDBs.
 */

static void
random_lu (void)
{
  lu_init ();
  lu.nblocks = random () % 3 ? (uint64_t) random () % 100000
    : UINT64_MAX >> (random () % 64);
  lu.block_size = 512 << (random () % 4);
  lu.max_xfer_blocks = random () % 2 ? 0 : random () % 70000;
  lu.thin = random () & 1;
  lu.wsnz = random () & 1;
  lu.anchor = random () & 1;
}

START_TEST (test_random)
{
  uint8_t cdb[16], buf[SCSI_SENSE_MAX];
  struct scsi_cdb c;
  struct scsi_sense s, t;
  unsigned iter;
  size_t i, n;

  srandom (seed);
  for (iter = 0; iter < 300000; iter++) {
    if (iter % 1000 == 0)
      random_lu ();
    for (i = 0; i < 16; i++)
      cdb[i] = random () % 4 ? 0 : random ();
    cdb[0] = samples[random () % N_SAMPLES].cdb[0];
    if (dec (cdb, &c, &s) == 0) {
      if (c.opcode == 0x28 || c.opcode == 0x2a || c.opcode == 0x88
          || c.opcode == 0x8a || c.opcode == 0x35 || c.opcode == 0x93)
        ck_assert (c.lba <= lu.nblocks && c.nblocks <= lu.nblocks - c.lba);
      if (c.dir == SCSI_DIR_NONE)
        ck_assert_uint_eq (c.xfer_bytes, 0);
      continue;
    }
    ck_assert_uint_eq (s.key, SCSI_SK_ILLEGAL_REQUEST);
    ck_assert (s.asc == 0x20 || s.asc == 0x21 || s.asc == 0x24
               || s.asc == 0x1a);
    n = scsi_sense_build (&s, iter & 1, buf, sizeof buf);
    ck_assert_int_eq (scsi_sense_parse (buf, n, &t), 0);
    ck_assert_mem_eq (&s, &t, sizeof s);
  }
}
END_TEST

static Suite *
cdb_suite (void)
{
  Suite *s = suite_create ("cdb");
  TCase *tc = tcase_create ("cdb");

  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_samples, 0, N_SAMPLES);
  tcase_add_test (tc, test_sample_details);
  tcase_add_test (tc, test_cdb_length);
  tcase_add_test (tc, test_unknown_opcodes);
  tcase_add_test (tc, test_reserved_bits);
  tcase_add_loop_test (tc, test_flip_every_bit, 1, N_SAMPLES);
  tcase_add_test (tc, test_lba_range);
  tcase_add_test (tc, test_max_lengths);
  tcase_add_test (tc, test_allocation_length_zero);
  tcase_add_test (tc, test_write_same);
  tcase_add_test (tc, test_misc_fields);
  tcase_add_test (tc, test_persistent_reserve);
  tcase_add_test (tc, test_random);
  add_sense_tests (tc);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  const char *env = getenv ("SEGMAP_TEST_SEED");
  SRunner *sr = srunner_create (cdb_suite ());
  int failed;

  seed = env ? strtoul (env, NULL, 0) : (unsigned) time (NULL);
  printf ("test-cdb: SEGMAP_TEST_SEED=%u\n", seed);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
