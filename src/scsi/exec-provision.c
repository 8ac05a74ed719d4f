/* segmap: capacity and logical block provisioning -- READ CAPACITY(10)
 * and (16), GET LBA STATUS, UNMAP, WRITE SAME(10)/(16) (SBC-3 §5.16,
 * §5.17, §5.28, §5.42).
 *
 * GET LBA STATUS turns the backend's extents into descriptors, merging
 * adjacent runs of the same state, starting at the requested LBA and
 * stopping when the allocation length is full or the LU ends.
 *
 * WRITE SAME chooses the cheapest backend call with the same result:
 *   UNMAP bit, all-zero block (or NDOB)  -> trim (reads as zeros, LBPRZ)
 *   all-zero block (or NDOB)             -> zero
 *   anything else                        -> the block replicated into a
 *                                           bounce buffer and written
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

void
exec_read_capacity10 (struct exec *x)
{
  uint64_t last = lu_nblocks (x->lu) - 1;
  uint8_t b[8];

  put_be32 (&b[0], last > UINT32_MAX ? UINT32_MAX : last);
  put_be32 (&b[4], x->lu->block_size);
  exec_reply (x, b, sizeof b);
}

void
exec_read_capacity16 (struct exec *x)
{
  uint8_t b[32] = { 0 };

  put_be64 (&b[0], lu_nblocks (x->lu) - 1);
  put_be32 (&b[8], x->lu->block_size);
  if (x->lu->thin)
    b[14] = 0x80 | 0x40;        /* LBPME, LBPRZ */
  exec_reply (x, b, sizeof b);
}

/*----------------------------------------------------------------------
 * GET LBA STATUS.
 */

struct lba_status {
  uint8_t *buf;                 /* 8-byte header + descriptors */
  size_t max, n;                /* descriptors room, used */
  uint32_t bs;
  uint64_t next;                /* byte offset the next run must start at */
};

static int
add_run (void *opaque, uint64_t offset, uint64_t len, bool zero)
{
  struct lba_status *st = opaque;
  uint8_t status = zero ? 1 : 0;    /* deallocated : mapped */
  uint64_t lba, end;
  uint8_t *d;

  if (offset + len <= st->next || len == 0)
    return 0;
  if (offset < st->next) {
    len -= st->next - offset;
    offset = st->next;
  }
  lba = offset / st->bs;
  end = (offset + len + st->bs - 1) / st->bs;
  st->next = end * st->bs;
  if (st->n > 0) {             /* extend the last descriptor? */
    d = &st->buf[8 + 16 * (st->n - 1)];
    if (d[12] == status && get_be (d, 8) + get_be (&d[8], 4) == lba
        && get_be (&d[8], 4) + (end - lba) <= UINT32_MAX) {
      put_be32 (&d[8], get_be (&d[8], 4) + (end - lba));
      return 0;
    }
  }
  if (st->n == st->max)
    return -1;                  /* full: stop */
  d = &st->buf[8 + 16 * st->n++];
  put_be64 (d, lba);
  put_be32 (&d[8], end - lba);
  d[12] = status;
  return 0;
}

/* Fill ST from the backend, starting at LBA, until full or the end. */
static int
collect_extents (struct exec *x, struct lba_status *st, uint64_t lba)
{
  struct scsi_lu *lu = x->lu;
  uint64_t end = lu_nblocks (lu) * lu->block_size;
  uint64_t limit = UINT32_MAX - UINT32_MAX % lu->block_size;

  st->next = lba * lu->block_size;
  while (st->next < end && st->n < st->max) {
    uint64_t start = st->next;
    uint64_t count = end - start < limit ? end - start : limit;

    if (lu->ops->extents (lu->h, count, start, add_run, st) == -1)
      return st->n == st->max ? 0 : -1;
    if (st->next == start)      /* the backend reported nothing */
      break;
  }
  return 0;
}

void
exec_get_lba_status (struct exec *x)
{
  size_t alloc = x->c.alloc_len;
  size_t max = alloc > 24 ? (alloc - 8) / 16 : 1;
  CLEANUP_FREE uint8_t *buf = NULL;
  struct lba_status st;

  if (!x->lu->thin) {
    /* Fully provisioned: everything is mapped. */
    uint8_t b[24] = { 0 };

    put_be32 (&b[0], 20);
    put_be64 (&b[8], x->c.lba);
    put_be32 (&b[16], lu_nblocks (x->lu) - x->c.lba > UINT32_MAX
              ? UINT32_MAX : lu_nblocks (x->lu) - x->c.lba);
    exec_reply (x, b, sizeof b);
    return;
  }
  if (max > 4096)
    max = 4096;
  buf = calloc (1, 8 + 16 * max);
  if (buf == NULL) {
    exec_errno (x, ENOMEM, false);
    return;
  }
  st = (struct lba_status) { .buf = buf, .max = max, .bs = x->lu->block_size };
  if (collect_extents (x, &st, x->c.lba) == -1) {
    exec_errno (x, errno, false);
    return;
  }
  put_be32 (&buf[0], 4 + 16 * st.n);
  exec_reply (x, buf, 8 + 16 * st.n);
}

/*----------------------------------------------------------------------
 * UNMAP.
 */

static int
trim_range (struct exec *x, uint64_t lba, uint32_t nblocks)
{
  struct scsi_lu *lu = x->lu;
  struct gate_ticket tk;
  int r;

  if (nblocks == 0)
    return 0;
  gate_enter (&lu->gate, lba, nblocks, &tk);
  r = lu->ops->trim (lu->h, (uint32_t) nblocks * lu->block_size,
                     lba * lu->block_size, false);
  gate_leave (&lu->gate, &tk);
  return r;
}

void
exec_unmap (struct exec *x)
{
  struct scsi_unmap_desc descs[LU_MAX_UNMAP_DESCRIPTORS];
  struct scsi_sense s;
  size_t n, i;

  if (!exec_need_data_out (x, x->c.alloc_len))
    return;
  if (scsi_unmap_parse (x->task->data_out, x->c.alloc_len, &x->lim, descs,
                        ARRAY_SIZE (descs), &n, &s) == -1) {
    exec_sense (x, &s);
    return;
  }
  for (i = 0; i < n; i++)
    if (trim_range (x, descs[i].lba, descs[i].nblocks) == -1) {
      exec_errno (x, errno, true);
      return;
    }
  exec_good (x);
}

/*----------------------------------------------------------------------
 * WRITE SAME.
 */

static bool
all_zero (const uint8_t *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

/* Replicate BLOCK over the range, LU_CHUNK_BYTES at a time. */
static int
write_pattern (struct exec *x, const uint8_t *block, bool fua)
{
  struct scsi_lu *lu = x->lu;
  uint32_t bs = lu->block_size;
  uint64_t total = (uint64_t) x->c.nblocks * bs, done;
  CLEANUP_FREE uint8_t *buf = malloc (LU_CHUNK_BYTES);
  uint32_t i;

  if (buf == NULL) {
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < LU_CHUNK_BYTES; i += bs)
    memcpy (buf + i, block, bs);
  for (done = 0; done < total; ) {
    uint32_t n = total - done < LU_CHUNK_BYTES ? total - done
                                               : LU_CHUNK_BYTES;

    if (lu->ops->pwrite (lu->h, buf, n, x->c.lba * bs + done, fua) == -1)
      return -1;
    done += n;
  }
  return 0;
}

static int
write_same_range (struct exec *x, const uint8_t *block)
{
  struct scsi_lu *lu = x->lu;
  uint64_t offset = x->c.lba * lu->block_size;
  uint32_t count = (uint32_t) x->c.nblocks * lu->block_size;
  bool zero = block == NULL || all_zero (block, lu->block_size);
  bool fua = exec_fua (x);

  /* UNMAP set: deallocate whatever the pattern (SBC-4 5.50: the device
   * server may unmap instead of writing; with LBPRZ the range then reads
   * as zeros, as initiators such as Linux's blkdev_issue_discard via
   * WRITE SAME and libiscsi's UnmapUntilEnd expect). */
  if (x->c.flags & SCSI_CDB_UNMAP)
    return lu->ops->trim (lu->h, count, offset, fua);
  if (zero && lu->ops->zero != NULL)
    return lu->ops->zero (lu->h, count, offset, fua);
  if (zero) {
    CLEANUP_FREE uint8_t *z = calloc (1, lu->block_size);

    if (z == NULL)
      return -1;
    return write_pattern (x, z, fua);
  }
  return write_pattern (x, block, fua);
}

void
exec_write_same (struct exec *x)
{
  const uint8_t *block = NULL;
  struct gate_ticket tk;
  int r;

  if (!(x->c.flags & SCSI_CDB_NDOB)) {
    if (!exec_need_data_out (x, x->lu->block_size))
      return;
    block = x->task->data_out;
  }
  if (x->c.nblocks == 0) {
    exec_good (x);
    return;
  }
  gate_enter (&x->lu->gate, x->c.lba, x->c.nblocks, &tk);
  r = write_same_range (x, block);
  gate_leave (&x->lu->gate, &tk);
  if (r == -1)
    exec_errno (x, errno, true);
  else
    exec_good (x);
}
