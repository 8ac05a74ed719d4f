/* segmap: libFuzzer harness for SCSI CDB decoding, the UNMAP parameter
 * list and sense data (src/scsi/cdb.c, cdb-check.c, sense.c).
 *
 * Input: 8 bytes describing the logical unit (capacity, block size,
 * limits, features), then a CDB (up to 32 bytes), then an UNMAP
 * parameter list.  Invariants:
 *  - a CDB that decodes respects the LU: LBA + length within the
 *    capacity for block commands, no data when the direction is none;
 *  - a CDB that fails has ILLEGAL REQUEST and one of the expected
 *    additional sense codes, and its sense data, in both formats,
 *    parses back to the same thing;
 *  - UNMAP descriptors that parse are in range and within the limits.
 *
 * Not part of the autotools build: fuzz/run-fuzz.sh cdb SECONDS.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/cdb.h"
#include "scsi/sense.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-cdb: %s\n", what);
  abort ();
}

static void
lu_from (const uint8_t *p, struct scsi_lu_limits *lu)
{
  memset (lu, 0, sizeof *lu);
  lu->nblocks = p[0] & 0x80 ? UINT64_MAX >> (p[0] & 0x3f)
    : (uint64_t) p[1] << 16 | p[2] << 8 | p[3];
  lu->block_size = 512u << (p[4] & 3);
  lu->max_xfer_blocks = p[4] & 4 ? 0 : p[5] * 16u;
  lu->max_write_same_blocks = p[4] & 8 ? 0 : p[5] * 64u;
  lu->max_unmap_blocks = p[4] & 16 ? 0 : p[6] * 256u;
  lu->max_unmap_descriptors = p[6] & 15;
  lu->max_compare_write_blocks = p[7] & 15;
  lu->max_atomic_blocks = p[7] & 0x10 ? 64 : 0;
  lu->atomic_alignment = p[7] & 0x20 ? 8 : 0;
  lu->atomic_granularity = p[7] & 0x20 ? 4 : 0;
  lu->thin = p[4] & 0x20;
  lu->wsnz = p[4] & 0x40;
  lu->anchor = p[4] & 0x80;
}

static bool
block_command (uint8_t op)
{
  switch (op) {
  case 0x08: case 0x0a: case 0x28: case 0x2a: case 0x2e: case 0x2f:
  case 0x34: case 0x35: case 0x41: case 0x88: case 0x89: case 0x8a:
  case 0x8e: case 0x8f: case 0x90: case 0x91: case 0x93: case 0x9c:
  case 0xa8: case 0xaa: case 0xae: case 0xaf:
    return true;
  default:
    return false;
  }
}

static void
check_sense (const struct scsi_sense *s)
{
  uint8_t buf[SCSI_SENSE_MAX];
  struct scsi_sense t;
  int descriptor;

  if (s->key != SCSI_SK_ILLEGAL_REQUEST
      || (s->asc != 0x20 && s->asc != 0x21 && s->asc != 0x24
          && s->asc != 0x26 && s->asc != 0x1a))
    fail ("unexpected sense");
  for (descriptor = 0; descriptor < 2; descriptor++) {
    size_t n = scsi_sense_build (s, descriptor, buf, sizeof buf);

    if (n == 0 || scsi_sense_parse (buf, n, &t) == -1)
      fail ("sense does not build or parse");
    if (t.key != s->key || t.asc != s->asc || t.ascq != s->ascq
        || t.sks_valid != s->sks_valid
        || memcmp (t.sks, s->sks, 3) != 0)
      fail ("sense round trip differs");
  }
}

static void
check_cdb (const uint8_t *cdb, size_t len, const struct scsi_lu_limits *lu)
{
  struct scsi_cdb c;
  struct scsi_sense s;

  (void) scsi_cdb_length (cdb, len);
  if (scsi_cdb_decode (cdb, len, lu, &c, &s) == -1) {
    check_sense (&s);
    return;
  }
  if (block_command (c.opcode)
      && (c.lba > lu->nblocks || c.nblocks > lu->nblocks - c.lba))
    fail ("accepted a range past the end");
  if (c.dir == SCSI_DIR_NONE && c.xfer_bytes != 0)
    fail ("data without a direction");
  if (scsi_opcode_to_string (c.opcode, c.service_action) == NULL)
    fail ("missing name");
}

static void
check_unmap (const uint8_t *p, size_t len, const struct scsi_lu_limits *lu)
{
  struct scsi_unmap_desc d[16];
  struct scsi_sense s;
  uint64_t total = 0;
  size_t n, i;

  if (scsi_unmap_parse (p, len, lu, d, 16, &n, &s) == -1) {
    check_sense (&s);
    return;
  }
  for (i = 0; i < n; i++) {
    if (d[i].lba > lu->nblocks || d[i].nblocks > lu->nblocks - d[i].lba)
      fail ("UNMAP descriptor past the end");
    total += d[i].nblocks;
  }
  if (lu->max_unmap_blocks && total > lu->max_unmap_blocks)
    fail ("UNMAP over its limit");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct scsi_lu_limits lu;
  struct scsi_sense s;
  size_t cdb_len;

  if (size < 9)
    return 0;
  lu_from (data, &lu);
  data += 8;
  size -= 8;
  cdb_len = size < 32 ? size : 32;
  check_cdb (data, cdb_len, &lu);
  if (cdb_len >= 16)
    check_cdb (data, 16, &lu);
  check_unmap (data + cdb_len, size - cdb_len, &lu);
  (void) scsi_sense_parse (data, size, &s);
  return 0;
}
