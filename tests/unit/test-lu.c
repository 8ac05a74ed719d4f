/* segmap: unit tests for the SCSI logical unit (src/scsi/lu.c, exec*.c,
 * pr*.c, reserve.c, gate.c).
 *
 * One program in four files: this one holds the in-memory backend and
 * PR store, the fixture, and the tests of unit attentions, INQUIRY,
 * READ CAPACITY, the reporting commands and the mode pages;
 * test-lu-data.c the data commands and backend errors; test-lu-pr.c
 * reservations and their persistence; test-lu-atomic.c the atomicity
 * gate under threads.  Sense data is checked byte for byte (fixed
 * format unless D_SENSE is set).
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-lu.h"
#include "test-util.h"

struct memdisk disk;
struct memstore store;
struct scsi_lu *lu;
struct scsi_itl *A, *B;

/*----------------------------------------------------------------------
 * The in-memory backend.
 */

void
memdisk_init (struct memdisk *d, uint64_t size)
{
  memset (d, 0, sizeof *d);
  d->size = size;
  d->data = calloc (1, size);
  d->alloc = calloc (size / BS, sizeof (bool));
  assert (d->data && d->alloc);
}

void
memdisk_free (struct memdisk *d)
{
  free (d->data);
  free (d->alloc);
  d->data = NULL;
  d->alloc = NULL;
}

static int
md_check (struct memdisk *d, uint64_t count, uint64_t offset)
{
  assert (offset + count <= d->size);
  if (d->fail_errno) {
    errno = d->fail_errno;
    return -1;
  }
  return 0;
}

static int
md_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct memdisk *d = h;

  if (md_check (d, count, offset) == -1)
    return -1;
  memcpy (buf, d->data + offset, count);
  if (d->slow_writes)                   /* widen compare-write windows */
    sched_yield ();
  return 0;
}

static void
md_mark (struct memdisk *d, uint64_t offset, uint64_t count, bool alloc)
{
  uint64_t b;

  for (b = offset / BS; b < (offset + count) / BS; b++)
    d->alloc[b] = alloc;
}

static int
md_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           bool fua)
{
  struct memdisk *d = h;
  uint32_t i;

  if (md_check (d, count, offset) == -1)
    return -1;
  d->pwrites++;
  if (fua)
    d->fua_writes++;
  if (d->fail_write_half) {
    memcpy (d->data + offset, buf, count / 2);
    errno = EIO;
    return -1;
  }
  for (i = 0; i < count; i += BS) {
    memcpy (d->data + offset + i, (const uint8_t *) buf + i, BS);
    if (d->slow_writes)
      sched_yield ();
  }
  md_mark (d, offset, count, true);
  return 0;
}

static int
md_flush (void *h)
{
  struct memdisk *d = h;

  if (md_check (d, 0, 0) == -1)
    return -1;
  d->flushes++;
  return 0;
}

static int
md_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct memdisk *d = h;

  if (md_check (d, count, offset) == -1)
    return -1;
  d->trims++;
  memset (d->data + offset, 0, count);
  md_mark (d, offset, count, false);
  return 0;
}

static int
md_zero (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct memdisk *d = h;

  if (md_check (d, count, offset) == -1)
    return -1;
  d->zeros++;
  memset (d->data + offset, 0, count);
  md_mark (d, offset, count, true);
  return 0;
}

/* Runs of at most 64 blocks, to exercise callers that loop. */
static int
md_extents (void *h, uint32_t count, uint64_t offset,
            int (*fn) (void *, uint64_t, uint64_t, bool), void *opaque)
{
  struct memdisk *d = h;
  uint64_t b = offset / BS, end = (offset + count) / BS;

  if (md_check (d, count, offset) == -1)
    return -1;
  while (b < end) {
    uint64_t e = b + 1;

    while (e < end && e - b < 64 && d->alloc[e] == d->alloc[b])
      e++;
    if (fn (opaque, b * BS, (e - b) * BS, !d->alloc[b]) == -1)
      return -1;
    b = e;
  }
  return 0;
}

static bool
md_read_only (void *h)
{
  struct memdisk *d = h;

  return d->read_only;
}

const struct scsi_backend_ops memdisk_ops = {
  .pread = md_pread, .pwrite = md_pwrite, .flush = md_flush,
  .trim = md_trim, .zero = md_zero, .extents = md_extents,
  .read_only = md_read_only,
};

static int
ms_load (void *h, const char *name, void **blob, size_t *len)
{
  struct memstore *s = h;

  ck_assert_str_eq (name, "disk0");
  *blob = NULL;
  if (s->blob == NULL)
    return 0;
  *blob = malloc (s->len);
  assert (*blob);
  memcpy (*blob, s->blob, s->len);
  *len = s->len;
  return 0;
}

static int
ms_save (void *h, const char *name, const void *blob, size_t len)
{
  struct memstore *s = h;

  if (s->fail_save)
    return -1;
  free (s->blob);
  s->blob = malloc (len);
  assert (s->blob);
  memcpy (s->blob, blob, len);
  s->len = len;
  s->saves++;
  return 0;
}

const struct scsi_pr_store_ops memstore_ops = {
  .load = ms_load, .save = ms_save,
};

/*----------------------------------------------------------------------
 * Fixture and helpers.
 */

static const struct scsi_port_info ports[] = {
  { 1, 1, "iqn.2024-01.org.segmap:disk0,t,0x0001" },
  { 2, 2, "iqn.2024-01.org.segmap:disk0,t,0x0002" },
};

struct scsi_lu *
lu_open (uint64_t size, bool thin)
{
  struct scsi_lu_info info = {
    .name = "disk0", .size = size, .block_size = BS,
    .optimal_granularity = 1 << 20,
    .naa = UINT64_C (0x6001405abcdef012), .naa_ext = 0x1122334455667788,
    .serial = "SM0001", .thin = thin,
  };
  struct scsi_lu *l = scsi_lu_new (&info, &memdisk_ops, &disk,
                                   &memstore_ops, &store);

  if (l != NULL)
    ck_assert_int_eq (scsi_lu_set_ports (l, ports, 2), 0);
  return l;
}

static void
attach_both (void)
{
  A = scsi_lu_attach (lu, "iqn.1994-05.com.example:a,i,0x23d000000001", 1);
  B = scsi_lu_attach (lu, "iqn.1994-05.com.example:b,i,0x23d000000002", 1);
  ck_assert (A && B);
  clear_ua (A);
  clear_ua (B);
}

void
setup (void)
{
  memset (&store, 0, sizeof store);
  memdisk_init (&disk, NBLOCKS * BS);
  lu = lu_open (NBLOCKS * BS, true);
  ck_assert (lu != NULL);
  attach_both ();
}

void
teardown (void)
{
  scsi_lu_detach (A);
  scsi_lu_detach (B);
  scsi_lu_free (lu);
  memdisk_free (&disk);
  free (store.blob);
  memset (&store, 0, sizeof store);
}

void
restart (void)
{
  scsi_lu_detach (A);
  scsi_lu_detach (B);
  scsi_lu_free (lu);
  lu = lu_open (NBLOCKS * BS, true);
  ck_assert (lu != NULL);
  attach_both ();
}

void
run (struct scsi_itl *itl, struct scsi_task *t, const uint8_t *cdb,
     const void *data_out, uint32_t out_len, void *in, uint32_t cap)
{
  memset (t, 0xee, sizeof *t);          /* outputs must all be set */
  t->cdb = cdb;
  t->cdb_len = 16;
  t->attr = 0;
  t->data_out = data_out;
  t->data_out_len = out_len;
  t->data_in = in;
  t->data_in_cap = cap;
  scsi_lu_execute (itl, t);
  ck_assert_uint_le (t->data_in_len, cap);
}

void
clear_ua (struct scsi_itl *itl)
{
  struct scsi_task t;
  int i;

  for (i = 0; i < 16; i++) {
    run (itl, &t, CDB (0x00), NULL, 0, NULL, 0);
    if (t.status == SCSI_STATUS_GOOD)
      return;
  }
  ck_abort_msg ("unit attentions never cleared");
}

void
expect_good_at (const struct scsi_task *t, int line)
{
  ck_assert_msg (t->status == SCSI_STATUS_GOOD && t->sense_len == 0,
                 "line %d: status %s, sense %02x/%02x/%02x", line,
                 scsi_status_to_string (t->status), t->sense[2] & 0xf,
                 t->sense[12], t->sense[13]);
}

void
expect_status_at (const struct scsi_task *t, uint8_t status, int line)
{
  ck_assert_msg (t->status == status, "line %d: status %s, want %s", line,
                 scsi_status_to_string (t->status),
                 scsi_status_to_string (status));
}

void
expect_sense_at (const struct scsi_task *t, uint8_t key, uint16_t asc,
                 int line)
{
  ck_assert_msg (t->status == SCSI_STATUS_CHECK_CONDITION,
                 "line %d: status %s", line,
                 scsi_status_to_string (t->status));
  ck_assert_msg (t->sense_len == 18 && (t->sense[0] & 0x7f) == 0x70
                 && t->sense[7] == 10,
                 "line %d: not fixed sense (len %u, %02x)", line,
                 t->sense_len, t->sense[0]);
  ck_assert_msg (t->sense[2] == key && t->sense[12] == asc >> 8
                 && t->sense[13] == (asc & 0xff),
                 "line %d: sense %02x/%02x/%02x, want %02x/%02x/%02x",
                 line, t->sense[2], t->sense[12], t->sense[13], key,
                 asc >> 8, asc & 0xff);
  ck_assert_msg (t->data_in_len == 0, "line %d: data with CHECK CONDITION",
                 line);
}

void
cdb16 (uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n)
{
  int i;

  memset (cdb, 0, 16);
  cdb[0] = op;
  for (i = 0; i < 8; i++)
    cdb[2 + i] = lba >> (56 - 8 * i);
  for (i = 0; i < 4; i++)
    cdb[10 + i] = n >> (24 - 8 * i);
}

void
do_write (struct scsi_itl *itl, uint64_t lba, uint32_t n, const void *buf,
          struct scsi_task *t)
{
  uint8_t cdb[16];

  cdb16 (cdb, 0x8a, lba, n);
  run (itl, t, cdb, buf, n * BS, NULL, 0);
}

void
do_read (struct scsi_itl *itl, uint64_t lba, uint32_t n, void *buf,
         struct scsi_task *t)
{
  uint8_t cdb[16];

  cdb16 (cdb, 0x88, lba, n);
  run (itl, t, cdb, NULL, 0, buf, n * BS);
}

/*----------------------------------------------------------------------
 * Unit attentions.
 */

START_TEST (test_ua_power_on)
{
  struct scsi_itl *c = scsi_lu_attach (lu, "iqn.x:c,i,0x1", 2);
  struct scsi_task t;
  uint8_t buf[256];

  /* INQUIRY and REPORT LUNS pass and leave the UA pending. */
  run (c, &t, CDB (0x12, 0, 0, 0, 36), NULL, 0, buf, sizeof buf);
  GOOD (&t);
  run (c, &t, CDB (0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16), NULL, 0, buf, 16);
  GOOD (&t);
  run (c, &t, CDB (0x25), NULL, 0, buf, 8);
  SENSE (&t, 0x06, 0x2900);
  run (c, &t, CDB (0x25), NULL, 0, buf, 8);
  GOOD (&t);
  scsi_lu_detach (c);
}

START_TEST (test_ua_request_sense)
{
  struct scsi_itl *c = scsi_lu_attach (lu, "iqn.x:c,i,0x1", 1);
  struct scsi_task t;
  uint8_t buf[252];
  static const uint8_t want_fixed[18] = {
    0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0x00, 0, 0, 0, 0 };
  static const uint8_t want_none[8] = { 0x72, 0, 0, 0, 0, 0, 0, 0 };

  run (c, &t, CDB (0x03, 0, 0, 0, 252), NULL, 0, buf, sizeof buf);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 18);
  ck_assert_mem_eq (buf, want_fixed, 18);
  /* The UA was consumed; descriptor format on request. */
  run (c, &t, CDB (0x03, 1, 0, 0, 252), NULL, 0, buf, sizeof buf);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 8);
  ck_assert_mem_eq (buf, want_none, 8);
  run (c, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  scsi_lu_detach (c);
}

START_TEST (test_ua_order_and_reset)
{
  struct scsi_task t;

  scsi_lu_set_size (lu, NBLOCKS * BS);
  scsi_lu_task_set_cleared (A, true);
  /* B: capacity first (2A/09 outranks 2F/00), then cleared. */
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2a09);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2f00);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  /* A had only the capacity change. */
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2a09);
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  /* A LUN reset: every nexus gets 29/03, and it supersedes older UAs. */
  scsi_lu_task_set_cleared (A, true);
  scsi_lu_reset (A);
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2903);
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2903);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  scsi_lu_task_set_cleared (A, false);
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
}

START_TEST (test_unknown_opcode)
{
  struct scsi_task t;

  run (A, &t, CDB (0xc5), NULL, 0, NULL, 0);
  SENSE (&t, 0x05, 0x2000);
  run (A, &t, CDB (0x04), NULL, 0, NULL, 0);        /* FORMAT UNIT */
  SENSE (&t, 0x05, 0x2000);
}

START_TEST (test_transport_check_condition)
{
  struct scsi_task t;

  memset (&t, 0, sizeof t);
  scsi_task_check_condition (&t, SCSI_SK_ABORTED_COMMAND, 0x4700);
  ck_assert_uint_eq (t.status, SCSI_STATUS_CHECK_CONDITION);
  ck_assert_uint_eq (t.sense_len, 18);
  ck_assert_uint_eq (t.sense[2], 0x0b);
  ck_assert_uint_eq (t.sense[12], 0x47);
}

/*----------------------------------------------------------------------
 * INQUIRY.
 */

START_TEST (test_inquiry_standard)
{
  struct scsi_task t;
  uint8_t b[255];
  char rev[5] = { 0 };

  run (A, &t, CDB (0x12, 0, 0, 0, 255), NULL, 0, b, sizeof b);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 96);
  ck_assert_uint_eq (t.want_len, 96);
  ck_assert_uint_eq (b[0], 0);
  ck_assert_uint_eq (b[2], 0x06);
  ck_assert_uint_eq (b[3], 0x12);
  ck_assert_uint_eq (b[4], 91);
  ck_assert_uint_eq (b[5], 0x10);
  ck_assert_uint_eq (b[7], 0x02);
  ck_assert_mem_eq (&b[8], "SEGMAP  VDISK           ", 24);
  memcpy (rev, &b[32], 4);
  ck_assert_int_eq (strncmp (rev, PACKAGE_VERSION, 4), 0);
  ck_assert_uint_eq (b[58] << 8 | b[59], 0x00a0);
  ck_assert_uint_eq (b[62] << 8 | b[63], 0x0460);
  /* Truncated to the allocation length, and to the transport's room. */
  run (A, &t, CDB (0x12, 0, 0, 0, 5), NULL, 0, b, sizeof b);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 5);
  ck_assert_uint_eq (t.want_len, 5);
  run (A, &t, CDB (0x12, 0, 0, 0, 255), NULL, 0, b, 36);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 36);
  ck_assert_uint_eq (t.want_len, 96);
}

START_TEST (test_inquiry_bad_page)
{
  struct scsi_task t;
  uint8_t b[255];
  static const uint8_t want[18] = {
    0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x00, 0, 0xc0, 0, 2 };

  run (A, &t, CDB (0x12, 0, 0x80, 0, 255), NULL, 0, b, sizeof b);
  SENSE (&t, 0x05, 0x2400);
  ck_assert_mem_eq (t.sense, want, 18);
  run (A, &t, CDB (0x12, 1, 0x99, 0, 255), NULL, 0, b, sizeof b);
  SENSE (&t, 0x05, 0x2400);
  ck_assert_mem_eq (t.sense, want, 18);
}

static size_t
vpd (uint8_t page, uint8_t *b)
{
  struct scsi_task t;

  run (A, &t, CDB (0x12, 1, page, 1, 0), NULL, 0, b, 256);
  GOOD (&t);
  ck_assert_uint_eq (b[1], page);
  ck_assert_uint_eq ((b[2] << 8 | b[3]) + 4, t.data_in_len);
  return t.data_in_len;
}

START_TEST (test_inquiry_vpd)
{
  uint8_t b[256];
  static const uint8_t pages[] = { 0, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };
  static const uint8_t naa[20] = {
    0x01, 0x03, 0x00, 0x10, 0x60, 0x01, 0x40, 0x5a, 0xbc, 0xde, 0xf0, 0x12,
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
  size_t n, off;
  bool seen_port = false, seen_group = false, seen_name = false;

  n = vpd (0x00, b);
  ck_assert_uint_eq (n, 4 + sizeof pages);
  ck_assert_mem_eq (&b[4], pages, sizeof pages);
  n = vpd (0x80, b);
  ck_assert_uint_eq (n, 10);
  ck_assert_mem_eq (&b[4], "SM0001", 6);
  n = vpd (0x83, b);
  ck_assert_mem_eq (&b[4], naa, 20);
  for (off = 4; off < n; off += 4 + b[off + 3]) {
    uint8_t type = b[off + 1] & 0x0f;

    if (type == 4) {
      ck_assert_uint_eq (b[off + 1], 0x94);
      ck_assert_uint_eq (b[off + 7], 1);
      seen_port = true;
    }
    if (type == 5) {
      ck_assert_uint_eq (b[off + 7], 1);
      seen_group = true;
    }
    if (type == 8) {
      ck_assert_uint_eq (b[off + 1], 0x98);
      ck_assert_uint_eq (b[off] & 0x0f, 3);
      ck_assert_uint_eq (b[off + 3] % 4, 0);
      ck_assert_str_eq ((char *) &b[off + 4],
                        "iqn.2024-01.org.segmap:disk0,t,0x0001");
      seen_name = true;
    }
  }
  ck_assert (seen_port && seen_group && seen_name);
  ck_assert_uint_eq (off, n);
  n = vpd (0xb0, b);
  ck_assert_uint_eq (n, 64);
  ck_assert_uint_eq (b[5], 255);                       /* COMPARE AND WRITE */
  ck_assert_uint_eq (b[6] << 8 | b[7], 2048);          /* 1 MiB segments */
  ck_assert_uint_eq (b[8] << 24 | b[9] << 16 | b[10] << 8 | b[11], 16384);
  ck_assert_uint_eq (b[24] << 24 | b[25] << 16 | b[26] << 8 | b[27], 256);
  ck_assert_uint_eq (b[28] << 24 | b[29] << 16 | b[30] << 8 | b[31], 2048);
  ck_assert_uint_eq (b[32], 0x80);
  ck_assert_uint_eq (b[44] << 24 | b[45] << 16 | b[46] << 8 | b[47], 256);
  ck_assert_uint_eq (b[51], 1);
  ck_assert_uint_eq (b[55], 1);
  n = vpd (0xb1, b);
  ck_assert_uint_eq (b[4] << 8 | b[5], 1);
  n = vpd (0xb2, b);
  ck_assert_uint_eq (b[5], 0xe4);
  ck_assert_uint_eq (b[6] & 7, 2);
}

/*----------------------------------------------------------------------
 * READ CAPACITY.
 */

START_TEST (test_read_capacity)
{
  struct scsi_task t;
  uint8_t b[32];
  struct scsi_lu *big;
  struct scsi_itl *c;

  run (A, &t, CDB (0x25), NULL, 0, b, 8);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 8);
  ck_assert_uint_eq (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], NBLOCKS - 1);
  ck_assert_uint_eq (b[6] << 8 | b[7], BS);
  run (A, &t, CDB (0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32), NULL,
       0, b, 32);
  GOOD (&t);
  ck_assert_uint_eq (b[7] | b[6] << 8, NBLOCKS - 1);
  ck_assert_uint_eq (b[10] << 8 | b[11], BS);
  ck_assert_uint_eq (b[13], 0);
  ck_assert_uint_eq (b[14], 0xc0);
  ck_assert_uint_eq (b[15], 0);
  /* LBA set without PMI */
  run (A, &t, CDB (0x25, 0, 0, 0, 0, 1), NULL, 0, b, 8);
  SENSE (&t, 0x05, 0x2400);
  /* More than 2^32 blocks: READ CAPACITY(10) says FFFFFFFFh. */
  big = lu_open (UINT64_C (3) << 40, false);
  c = scsi_lu_attach (big, "iqn.x:c,i,0x1", 1);
  clear_ua (c);
  run (c, &t, CDB (0x25), NULL, 0, b, 8);
  GOOD (&t);
  ck_assert_uint_eq (b[0] & b[1] & b[2] & b[3], 0xff);
  run (c, &t, CDB (0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32), NULL,
       0, b, 32);
  GOOD (&t);
  ck_assert_uint_eq (b[3], 0x01);
  ck_assert_uint_eq (b[4], 0x7f);
  ck_assert_uint_eq (b[14], 0);                /* not thin */
  scsi_lu_detach (c);
  scsi_lu_free (big);
}

START_TEST (test_capacity_change)
{
  struct scsi_task t;
  uint8_t b[8];

  scsi_lu_set_size (lu, NBLOCKS / 2 * BS);
  run (A, &t, CDB (0x25), NULL, 0, b, 8);
  SENSE (&t, 0x06, 0x2a09);
  run (A, &t, CDB (0x25), NULL, 0, b, 8);
  GOOD (&t);
  ck_assert_uint_eq (b[2] << 8 | b[3], NBLOCKS / 2 - 1);
  run (A, &t, CDB (0x28, 0, 0, 0, NBLOCKS / 2 >> 8, 0, 0, 0, 1), NULL, 0,
       b, 0);
  SENSE (&t, 0x05, 0x2100);
}

/*----------------------------------------------------------------------
 * REPORT LUNS, REPORT SUPPORTED OPERATION CODES, REPORT TARGET PORT
 * GROUPS.
 */

START_TEST (test_report_luns)
{
  struct scsi_task t;
  uint8_t b[64];
  static const uint8_t want[16] = { 0, 0, 0, 8 };

  run (A, &t, CDB (0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64), NULL, 0, b, 64);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 16);
  ck_assert_mem_eq (b, want, 16);
  run (A, &t, CDB (0xa0, 0, 1, 0, 0, 0, 0, 0, 0, 64), NULL, 0, b, 64);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 8);
  ck_assert_uint_eq (b[3], 0);
  run (A, &t, CDB (0xa0, 0, 3, 0, 0, 0, 0, 0, 0, 64), NULL, 0, b, 64);
  SENSE (&t, 0x05, 0x2400);
}

START_TEST (test_report_opcodes)
{
  struct scsi_task t;
  uint8_t b[4096];
  size_t off, n, count = 0;
  bool saw_read16 = false, saw_pr_out_7 = false;

  run (A, &t, CDB (0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0), NULL, 0, b,
       sizeof b);
  GOOD (&t);
  n = 4 + (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
  ck_assert_uint_eq (n, t.data_in_len);
  for (off = 4; off < n; off += 8, count++) {
    if (b[off] == 0x88) {
      saw_read16 = true;
      ck_assert_uint_eq (b[off + 7], 16);
      ck_assert_uint_eq (b[off + 5], 0);
    }
    if (b[off] == 0x5f && b[off + 3] == 7) {
      saw_pr_out_7 = true;
      ck_assert_uint_eq (b[off + 5], 0x01);    /* SERVACTV */
    }
  }
  ck_assert (saw_read16 && saw_pr_out_7);
  ck_assert_uint_ge (count, 50);
  /* With timeouts descriptors: 20 bytes each. */
  run (A, &t, CDB (0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x10, 0), NULL, 0, b,
       sizeof b);
  GOOD (&t);
  ck_assert_uint_eq ((b[2] << 8 | b[3]), 20 * count);
  ck_assert_uint_eq (b[5 + 4], 0x02);           /* CTDP */
  ck_assert_uint_eq (b[4 + 8 + 1], 0x0a);      /* descriptor length */
  /* One command: READ(10), usage data. */
  run (A, &t, CDB (0xa3, 0x0c, 0x01, 0x28, 0, 0, 0, 0, 1, 0), NULL, 0, b,
       sizeof b);
  GOOD (&t);
  ck_assert_uint_eq (b[1], 0x03);
  ck_assert_uint_eq (b[3], 10);
  ck_assert_uint_eq (b[4], 0x28);
  ck_assert_uint_eq (b[5], 0xfa);
  ck_assert_uint_eq (b[4 + 9], 0xc0);
  ck_assert_uint_eq (t.data_in_len, 14);
  /* Unsupported opcode: SUPPORT 001b. */
  run (A, &t, CDB (0xa3, 0x0c, 0x01, 0xc5, 0, 0, 0, 0, 1, 0), NULL, 0, b,
       sizeof b);
  GOOD (&t);
  ck_assert_uint_eq (b[1], 0x01);
  /* READ CAPACITY(16) by opcode only: it has service actions. */
  run (A, &t, CDB (0xa3, 0x0c, 0x01, 0x9e, 0, 0, 0, 0, 1, 0), NULL, 0, b,
       sizeof b);
  SENSE (&t, 0x05, 0x2400);
  run (A, &t, CDB (0xa3, 0x0c, 0x02, 0x9e, 0, 0x10, 0, 0, 1, 0), NULL, 0, b,
       sizeof b);
  GOOD (&t);
  ck_assert_uint_eq (b[1], 0x03);
  ck_assert_uint_eq (b[5], 0x10);
  run (A, &t, CDB (0xa3, 0x0c, 0x02, 0x28, 0, 0, 0, 0, 1, 0), NULL, 0, b,
       sizeof b);
  SENSE (&t, 0x05, 0x2400);
  run (A, &t, CDB (0xa3, 0x0c, 0x82, 0x5e, 0, 0x03, 0, 0, 1, 0), NULL, 0, b,
       sizeof b);
  GOOD (&t);
  ck_assert_uint_eq (b[1], 0x83);
  ck_assert_uint_eq (t.data_in_len, 4 + 10 + 12);
}

START_TEST (test_report_port_groups)
{
  struct scsi_task t;
  uint8_t b[256];

  run (A, &t, CDB (0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, b, 256);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 4 + 2 * 12);
  ck_assert_uint_eq (b[3], 24);
  ck_assert_uint_eq (b[4] & 0x0f, 0);           /* active/optimized */
  ck_assert_uint_eq (b[5] & 0x01, 1);
  ck_assert_uint_eq (b[7], 1);                  /* group 1 */
  ck_assert_uint_eq (b[11], 1);                 /* one port */
  ck_assert_uint_eq (b[15], 1);                 /* relative port 1 */
  ck_assert_uint_eq (b[16 + 3], 2);
  ck_assert_uint_eq (b[16 + 11], 2);
  run (A, &t, CDB (0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, b, 256);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 8 + 2 * 12);
  ck_assert_uint_eq (b[4], 0x10);
  ck_assert_uint_eq (b[3], 28);
}

/*----------------------------------------------------------------------
 * Mode pages.
 */

START_TEST (test_mode_sense)
{
  struct scsi_task t;
  uint8_t b[256];

  /* MODE SENSE(6), all pages, with the block descriptor. */
  run (A, &t, CDB (0x1a, 0, 0x3f, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 4 + 8 + 12 + 20 + 12 + 12);
  ck_assert_uint_eq (b[0], t.data_in_len - 1);
  ck_assert_uint_eq (b[2], 0x10);               /* DPOFUA */
  ck_assert_uint_eq (b[3], 8);
  ck_assert_uint_eq (b[4 + 2] << 8 | b[4 + 3], NBLOCKS);
  ck_assert_uint_eq (b[4 + 6] << 8 | b[4 + 7], BS);
  ck_assert_uint_eq (b[12], 0x01);
  ck_assert_uint_eq (b[24], 0x08);
  ck_assert_uint_eq (b[24 + 2], 0x04);          /* WCE */
  ck_assert_uint_eq (b[44], 0x0a);
  ck_assert_uint_eq (b[44 + 5], 0x40);          /* TAS */
  ck_assert_uint_eq (b[56], 0x1c);
  /* Caching page alone, no block descriptor. */
  run (A, &t, CDB (0x1a, 0x08, 0x08, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 4 + 20);
  ck_assert_uint_eq (b[3], 0);
  /* Changeable values. */
  run (A, &t, CDB (0x1a, 0x08, 0x4a, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[4 + 2], 0xe4);
  ck_assert_uint_eq (b[4 + 3], 0x06);
  /* Saved values. */
  run (A, &t, CDB (0x1a, 0x08, 0xc8, 0, 255), NULL, 0, b, 255);
  SENSE (&t, 0x05, 0x3900);
  /* Unknown page, bad subpage. */
  run (A, &t, CDB (0x1a, 0x08, 0x19, 0, 255), NULL, 0, b, 255);
  SENSE (&t, 0x05, 0x2400);
  run (A, &t, CDB (0x1a, 0x08, 0x08, 1, 255), NULL, 0, b, 255);
  SENSE (&t, 0x05, 0x2400);
  run (A, &t, CDB (0x1a, 0x08, 0x3f, 0xff, 255), NULL, 0, b, 255);
  GOOD (&t);
  /* MODE SENSE(10) with a long LBA block descriptor. */
  run (A, &t, CDB (0x5a, 0x10, 0x0a, 0, 0, 0, 0, 1, 0), NULL, 0, b, 256);
  GOOD (&t);
  ck_assert_uint_eq (t.data_in_len, 8 + 16 + 12);
  ck_assert_uint_eq (b[0] << 8 | b[1], t.data_in_len - 2);
  ck_assert_uint_eq (b[3], 0x10);
  ck_assert_uint_eq (b[4], 0x01);
  ck_assert_uint_eq (b[7], 16);
  ck_assert_uint_eq (b[8 + 6] << 8 | b[8 + 7], NBLOCKS);
  ck_assert_uint_eq (b[8 + 14] << 8 | b[8 + 15], BS);
}

static void
mode_select6 (struct scsi_itl *itl, struct scsi_task *t, uint8_t *list,
              size_t len)
{
  run (itl, t, CDB (0x15, 0x10, 0, 0, len), list, len, NULL, 0);
}

/* Turn WCE off through the caching page, as MODE SENSE gave it; LIST
 * (24 bytes) gets the parameter list sent. */
static void
write_cache_off (struct scsi_itl *itl, struct scsi_task *t, uint8_t *list)
{
  uint8_t b[255];

  run (itl, t, CDB (0x1a, 0x08, 0x08, 0, 255), NULL, 0, b, 255);
  GOOD (t);
  memcpy (list, b, 24);
  list[0] = 0;
  list[4 + 2] &= ~0x04;
  mode_select6 (itl, t, list, 24);
  GOOD (t);
}

START_TEST (test_mode_select)
{
  struct scsi_task t;
  uint8_t b[BS], list[64];
  static const uint8_t want_ptr[3] = { 0x88, 0, 4 + 2 };  /* bit 0 */
  uint8_t cdb[16];
  int fua_before;

  /* Turn WCE off through the caching page as MODE SENSE gave it. */
  write_cache_off (A, &t, list);
  run (A, &t, CDB (0x1a, 0x08, 0x08, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[4 + 2], 0);
  /* B hears about it, A does not. */
  run (B, &t, CDB (0x00), NULL, 0, NULL, 0);
  SENSE (&t, 0x06, 0x2a01);
  run (A, &t, CDB (0x00), NULL, 0, NULL, 0);
  GOOD (&t);
  /* WCE=0: writes go with FUA. */
  fua_before = disk.fua_writes;
  cdb16 (cdb, 0x8a, 0, 1);
  run (A, &t, cdb, b, BS, NULL, 0);
  GOOD (&t);
  ck_assert_int_eq (disk.fua_writes, fua_before + 1);
  /* A field that is not changeable: pointer to the byte. */
  list[4 + 2] = 0x01;                           /* RCD */
  mode_select6 (A, &t, list, 24);
  SENSE (&t, 0x05, 0x2600);
  ck_assert_mem_eq (&t.sense[15], want_ptr, 3);
  /* Wrong page length, truncated list, unknown page. */
  list[4 + 2] = 0;
  list[4 + 1] = 0x10;
  mode_select6 (A, &t, list, 24);
  SENSE (&t, 0x05, 0x2600);
  list[4 + 1] = 0x12;
  mode_select6 (A, &t, list, 20);
  SENSE (&t, 0x05, 0x1a00);
  list[4] = 0x07;
  mode_select6 (A, &t, list, 24);
  SENSE (&t, 0x05, 0x2600);
  /* Saving pages is refused by the CDB. */
  list[4] = 0x08;
  run (A, &t, CDB (0x15, 0x11, 0, 0, 24), list, 24, NULL, 0);
  SENSE (&t, 0x05, 0x2400);
  /* Reset restores the defaults. */
  scsi_lu_reset (B);
  run (A, &t, CDB (0x1a, 0x08, 0x08, 0, 255), NULL, 0, b, 255);
  SENSE (&t, 0x06, 0x2903);
  run (A, &t, CDB (0x1a, 0x08, 0x08, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[4 + 2], 0x04);
}

START_TEST (test_mode_select_d_sense)
{
  struct scsi_task t;
  uint8_t b[256], list[64];

  run (A, &t, CDB (0x5a, 0x08, 0x0a, 0, 0, 0, 0, 1, 0), NULL, 0, b, 256);
  GOOD (&t);
  memcpy (list, b, 20);
  list[0] = list[1] = 0;
  list[8 + 2] |= 0x04;                          /* D_SENSE */
  run (A, &t, CDB (0x55, 0x10, 0, 0, 0, 0, 0, 0, 20), list, 20, NULL, 0);
  GOOD (&t);
  run (A, &t, CDB (0xc5), NULL, 0, NULL, 0);
  ck_assert_uint_eq (t.status, SCSI_STATUS_CHECK_CONDITION);
  ck_assert_uint_eq (t.sense_len, 8);
  ck_assert_uint_eq (t.sense[0], 0x72);
  ck_assert_uint_eq (t.sense[1], 0x05);
  ck_assert_uint_eq (t.sense[2], 0x20);
  /* A reserved QERR value is refused. */
  list[8 + 2] &= ~0x04;
  list[8 + 3] = (list[8 + 3] & ~0x06) | 0x04;
  run (A, &t, CDB (0x55, 0x10, 0, 0, 0, 0, 0, 0, 20), list, 20, NULL, 0);
  ck_assert_uint_eq (t.status, SCSI_STATUS_CHECK_CONDITION);
  ck_assert_uint_eq (t.sense[0], 0x72);
  ck_assert_uint_eq (t.sense[2], 0x26);
}

START_TEST (test_mode_select_swp)
{
  struct scsi_task t;
  uint8_t b[BS], list[64], cdb[16];

  /* SWP is changeable in the control page. */
  run (A, &t, CDB (0x1a, 0x08, 0x4a, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[4 + 4], 0x08);
  /* Set it: writes are refused, reads are not, MODE SENSE shows WP. */
  run (A, &t, CDB (0x1a, 0x08, 0x0a, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  memcpy (list, b, 16);
  list[0] = 0;
  list[4 + 4] |= 0x08;
  mode_select6 (A, &t, list, 16);
  GOOD (&t);
  cdb16 (cdb, 0x8a, 0, 1);
  run (A, &t, cdb, b, BS, NULL, 0);
  SENSE (&t, 0x07, 0x2700);
  run (A, &t, CDB (0x42, 0, 0, 0, 0, 0, 0, 0, 24), b, 24, NULL, 0);
  SENSE (&t, 0x07, 0x2700);
  cdb16 (cdb, 0x88, 0, 1);
  run (A, &t, cdb, NULL, 0, b, BS);
  GOOD (&t);
  run (A, &t, CDB (0x1a, 0x08, 0x0a, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[2] & 0x80, 0x80);
  /* Clear it: writes work again. */
  list[4 + 4] &= ~0x08;
  mode_select6 (A, &t, list, 16);
  GOOD (&t);
  cdb16 (cdb, 0x8a, 0, 1);
  run (A, &t, cdb, b, BS, NULL, 0);
  GOOD (&t);
}

/* The WP bit of MODE SENSE(6) and (10) for ITL. */
static bool
wp_bits (struct scsi_itl *itl, bool *wp10)
{
  struct scsi_task t;
  uint8_t b[BS];

  run (itl, &t, CDB (0x5a, 0, 0x3f, 0, 0, 0, 0, 1, 0), NULL, 0, b, 256);
  GOOD (&t);
  *wp10 = b[3] & 0x80;
  run (itl, &t, CDB (0x1a, 0, 0x3f, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[2] & 0x10, 0x10);        /* DPOFUA unchanged */
  return b[2] & 0x80;
}

/* A read-only medium (a read-only vdisk, the backend's read_only op):
 * WP in both MODE SENSE headers, for every nexus, at once; writes
 * refused with DATA PROTECT / WRITE PROTECTED before the backend is
 * called; reads served; SWP itself untouched. */
START_TEST (test_read_only_medium)
{
  struct scsi_task t;
  uint8_t b[BS], cdb[16];
  uint8_t list[24] = { 0, 22, 0, 16, 0, 0, 0, 0,        /* UNMAP */
                       0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0 };
  bool wp10;
  int writes;

  ck_assert (!wp_bits (A, &wp10));
  ck_assert (!wp10);
  disk.read_only = true;
  ck_assert (wp_bits (A, &wp10));
  ck_assert (wp10);
  ck_assert (wp_bits (B, &wp10));
  ck_assert (wp10);
  /* The control page's SWP stays as it was. */
  run (A, &t, CDB (0x1a, 0x08, 0x0a, 0, 255), NULL, 0, b, 255);
  GOOD (&t);
  ck_assert_uint_eq (b[4 + 4] & 0x08, 0);

  writes = disk.pwrites;
  memset (b, 0xab, sizeof b);
  cdb16 (cdb, 0x8a, 0, 1);
  run (A, &t, cdb, b, BS, NULL, 0);
  SENSE (&t, 0x07, 0x2700);
  run (B, &t, CDB (0x2a, 0, 0, 0, 0, 8, 0, 0, 1), b, BS, NULL, 0);
  SENSE (&t, 0x07, 0x2700);
  run (A, &t, CDB (0x42, 0, 0, 0, 0, 0, 0, 0, 24), list, 24, NULL, 0);
  SENSE (&t, 0x07, 0x2700);
  cdb16 (cdb, 0x93, 0, 8);                      /* WRITE SAME(16) */
  run (A, &t, cdb, b, BS, NULL, 0);
  SENSE (&t, 0x07, 0x2700);
  ck_assert_int_eq (disk.pwrites, writes);
  ck_assert_int_eq (disk.trims, 0);
  cdb16 (cdb, 0x88, 0, 1);
  run (A, &t, cdb, NULL, 0, b, BS);
  GOOD (&t);
  ck_assert_uint_eq (b[0], 0);

  /* Writable again: WP clear, writes reach the backend. */
  disk.read_only = false;
  ck_assert (!wp_bits (A, &wp10));
  ck_assert (!wp10);
  memset (b, 0xab, sizeof b);
  cdb16 (cdb, 0x8a, 0, 1);
  run (A, &t, cdb, b, BS, NULL, 0);
  GOOD (&t);
  ck_assert_int_eq (disk.pwrites, writes + 1);
}
END_TEST

START_TEST (test_is_quick)
{
  struct scsi_task t;
  uint8_t list[24], cdb[16];

  ck_assert (scsi_lu_is_quick (A, CDB (0x28, 0, 0, 0, 0, 0, 0, 0, 8), 10));
  ck_assert (scsi_lu_is_quick (A, CDB (0x2a, 0, 0, 0, 0, 0, 0, 0, 8), 10));
  ck_assert (scsi_lu_is_quick (A, CDB (0x08, 0, 0, 0, 8), 6));
  ck_assert (scsi_lu_is_quick (A, CDB (0x0a, 0x08, 0, 0, 8), 6));
  cdb16 (cdb, 0x8a, 0, 1);
  ck_assert (scsi_lu_is_quick (A, cdb, 16));
  cdb[1] = 0x08;                                /* FUA */
  ck_assert (!scsi_lu_is_quick (A, cdb, 16));
  ck_assert (!scsi_lu_is_quick (A, CDB (0x28, 0x08, 0, 0, 0, 0, 0, 0, 8),
                                10));
  /* Never quick: flushes, compare-and-write, atomic writes, others. */
  ck_assert (!scsi_lu_is_quick (A, CDB (0x35, 0, 0, 0, 0, 0, 0, 0, 0), 10));
  cdb16 (cdb, 0x89, 0, 1);
  ck_assert (!scsi_lu_is_quick (A, cdb, 16));
  cdb16 (cdb, 0x9c, 0, 1);
  ck_assert (!scsi_lu_is_quick (A, cdb, 16));
  ck_assert (!scsi_lu_is_quick (A, CDB (0x12, 0, 0, 0, 36), 6));
  ck_assert (!scsi_lu_is_quick (A, CDB (0x28), 1));
  /* WCE=0: writes are not quick, reads still are. */
  write_cache_off (A, &t, list);
  ck_assert (!scsi_lu_is_quick (A, CDB (0x2a, 0, 0, 0, 0, 0, 0, 0, 8), 10));
  ck_assert (scsi_lu_is_quick (A, CDB (0x28, 0, 0, 0, 0, 0, 0, 0, 8), 10));
}

static Suite *
lu_suite (void)
{
  Suite *s = suite_create ("lu");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_ua_power_on);
  tcase_add_test (tc, test_ua_request_sense);
  tcase_add_test (tc, test_ua_order_and_reset);
  tcase_add_test (tc, test_unknown_opcode);
  tcase_add_test (tc, test_transport_check_condition);
  tcase_add_test (tc, test_inquiry_standard);
  tcase_add_test (tc, test_inquiry_bad_page);
  tcase_add_test (tc, test_inquiry_vpd);
  tcase_add_test (tc, test_read_capacity);
  tcase_add_test (tc, test_capacity_change);
  tcase_add_test (tc, test_report_luns);
  tcase_add_test (tc, test_report_opcodes);
  tcase_add_test (tc, test_report_port_groups);
  tcase_add_test (tc, test_mode_sense);
  tcase_add_test (tc, test_mode_select);
  tcase_add_test (tc, test_mode_select_swp);
  tcase_add_test (tc, test_read_only_medium);
  tcase_add_test (tc, test_is_quick);
  tcase_add_test (tc, test_mode_select_d_sense);
  suite_add_tcase (s, tc);
  add_data_tests (s);
  add_pr_tests (s);
  add_atomic_tests (s);
  return s;
}

int
main (void)
{
  return sm_test_run (lu_suite ());
}
