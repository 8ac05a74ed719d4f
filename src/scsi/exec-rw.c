/* segmap: READ, WRITE, VERIFY, WRITE AND VERIFY, PRE-FETCH and
 * SYNCHRONIZE CACHE (SBC-3 §5).
 *
 * The fast path: READ preads straight into task->data_in and WRITE
 * pwrites straight from task->data_out, inside gate_enter/gate_leave
 * (atomics only unless an atomic command is pending).  The CDB decoder
 * has already checked the range and MAXIMUM TRANSFER LENGTH, so a
 * transfer fits a uint32_t byte count.
 *
 * Data-Out shorter than the CDB says (the initiator's expected length
 * was short: an iSCSI residual overflow): WRITE and WRITE AND VERIFY
 * write the whole blocks that arrived and complete with GOOD; the
 * transport reports the overflow from want_len (RFC 7143 §11.4.5.2,
 * what libiscsi's residual tests expect).
 *
 * FUA: a write goes to the backend with fua=true when the CDB asks for
 * it or when the caching mode page's WCE is 0.  DPO is accepted and
 * ignored (we keep no cache of our own).
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

void
exec_read (struct exec *x)
{
  struct scsi_lu *lu = x->lu;
  struct scsi_task *t = x->task;
  uint32_t want = exec_byte_count (x);
  uint32_t n = want < t->data_in_cap ? want : t->data_in_cap;
  struct gate_ticket tk;
  int r = 0;

  if (n > 0) {
    gate_enter (&lu->gate, x->c.lba, x->c.nblocks, &tk);
    r = lu->ops->pread (lu->h, t->data_in, n, exec_byte_offset (x));
    gate_leave (&lu->gate, &tk);
  }
  if (r == -1) {
    exec_errno (x, errno, false);
    return;
  }
  t->data_in_len = n;
  t->want_len = want;
  exec_good (x);
}

/* The blocks of Data-Out that arrived, at most the CDB's. */
static uint32_t
received_blocks (const struct exec *x)
{
  uint32_t got = x->task->data_out ? x->task->data_out_len
                                     / x->lu->block_size : 0;

  return got < x->c.nblocks ? got : x->c.nblocks;
}

void
exec_write (struct exec *x)
{
  struct scsi_lu *lu = x->lu;
  uint32_t n;
  struct gate_ticket tk;
  int r;

  x->c.nblocks = received_blocks (x);
  n = exec_byte_count (x);
  if (n == 0) {
    exec_good (x);
    return;
  }
  gate_enter (&lu->gate, x->c.lba, x->c.nblocks, &tk);
  r = lu->ops->pwrite (lu->h, x->task->data_out, n, exec_byte_offset (x),
                       exec_fua (x));
  gate_leave (&lu->gate, &tk);
  if (r == -1)
    exec_errno (x, errno, true);
  else
    exec_good (x);
}

int64_t
exec_first_difference (const uint8_t *a, const uint8_t *b, size_t len)
{
  size_t i;

  if (memcmp (a, b, len) == 0)
    return -1;
  for (i = 0; i < len && a[i] == b[i]; i++)
    ;
  return i;
}

void
exec_miscompare (struct exec *x, uint64_t offset)
{
  struct scsi_sense s;

  scsi_sense_set (&s, SCSI_SK_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
  scsi_sense_set_info (&s, offset);
  exec_sense (x, &s);
}

/* Read [lba, lba + nblocks) in chunks into BUF and, if EXPECT is not
 * NULL, compare with it (EXPECT_STRIDE bytes apart per chunk offset:
 * the whole data, or 0 with one block repeated).  Returns 0, or -1
 * with the command's result set. */
static int
read_compare (struct exec *x, uint8_t *buf, const uint8_t *expect,
              bool one_block)
{
  struct scsi_lu *lu = x->lu;
  uint32_t bs = lu->block_size;
  uint64_t total = exec_byte_count (x), done;

  for (done = 0; done < total; ) {
    uint32_t n = total - done < LU_CHUNK_BYTES ? total - done
                                               : LU_CHUNK_BYTES;
    uint32_t i;

    if (lu->ops->pread (lu->h, buf, n, exec_byte_offset (x) + done) == -1) {
      exec_errno (x, errno, false);
      return -1;
    }
    if (expect != NULL && !one_block) {
      int64_t d = exec_first_difference (buf, expect + done, n);

      if (d >= 0) {
        exec_miscompare (x, done + d);
        return -1;
      }
    }
    for (i = 0; expect != NULL && one_block && i < n; i += bs) {
      int64_t d = exec_first_difference (buf + i, expect, bs);

      if (d >= 0) {
        exec_miscompare (x, done + i + d);
        return -1;
      }
    }
    done += n;
  }
  return 0;
}

/* Verify under the gate, so a concurrent atomic write is seen whole. */
static void
verify_range (struct exec *x, const uint8_t *expect, bool one_block)
{
  CLEANUP_FREE uint8_t *buf = malloc (LU_CHUNK_BYTES);
  struct gate_ticket tk;
  int r;

  if (buf == NULL) {
    exec_errno (x, ENOMEM, false);
    return;
  }
  gate_enter (&x->lu->gate, x->c.lba, x->c.nblocks, &tk);
  r = read_compare (x, buf, expect, one_block);
  gate_leave (&x->lu->gate, &tk);
  if (r == 0)
    exec_good (x);
}

/* BYTCHK 00b: the medium is readable; 01b: it equals the Data-Out;
 * 11b: every block equals the one block of Data-Out. */
void
exec_verify (struct exec *x)
{
  if (!exec_need_data_out (x, x->c.xfer_bytes))
    return;
  if (x->c.nblocks == 0) {
    exec_good (x);
    return;
  }
  switch (x->c.bytchk) {
  case 0: verify_range (x, NULL, false); break;
  case 1: verify_range (x, x->task->data_out, false); break;
  default: verify_range (x, x->task->data_out, true); break;
  }
}

/* Write with FUA, then read back and compare. */
void
exec_write_verify (struct exec *x)
{
  struct scsi_lu *lu = x->lu;
  uint32_t n;
  CLEANUP_FREE uint8_t *buf = NULL;
  struct gate_ticket tk;
  int r;

  x->c.nblocks = received_blocks (x);
  n = exec_byte_count (x);
  if (n == 0) {
    exec_good (x);
    return;
  }
  buf = malloc (LU_CHUNK_BYTES);
  if (buf == NULL) {
    exec_errno (x, ENOMEM, true);
    return;
  }
  gate_enter (&lu->gate, x->c.lba, x->c.nblocks, &tk);
  r = lu->ops->pwrite (lu->h, x->task->data_out, n, exec_byte_offset (x),
                       true);
  if (r == -1)
    exec_errno (x, errno, true);
  else
    r = read_compare (x, buf, x->task->data_out, false);
  gate_leave (&lu->gate, &tk);
  if (r == 0)
    exec_good (x);
}

/* Nothing to fetch into (no cache of ours): the range was validated by
 * the decoder; CONDITION MET says it would fit. */
void
exec_pre_fetch (struct exec *x)
{
  if ((uint64_t) x->c.nblocks * x->lu->block_size <= LU_PREFETCH_FIT_BYTES)
    exec_status (x, SCSI_STATUS_CONDITION_MET);
  else
    exec_good (x);
}

void
exec_sync_cache (struct exec *x)
{
  if (x->lu->ops->flush (x->lu->h) == -1)
    exec_errno (x, errno, true);
  else
    exec_good (x);
}
