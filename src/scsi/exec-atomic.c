/* segmap: COMPARE AND WRITE (SBC-3 §5.2) and WRITE ATOMIC(16) (SBC-4
 * §5.48), both run inside gate_enter_atomic (gate.c): no other command
 * touches their range while they run.
 *
 * COMPARE AND WRITE: the Data-Out holds N blocks to compare, then N
 * blocks to write.  On a mismatch nothing is written and the sense is
 * MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with INFORMATION the
 * offset of the first differing byte.
 *
 * WRITE ATOMIC(16): all or nothing.  The old contents are read first;
 * if the backend write fails part way, they are written back before
 * the error is returned (if that also fails, the range may be torn and
 * the error says so no differently: the medium is in error).
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

/* Run LOCKED (N bytes at the command's LBA) with the range held
 * atomically against every other command, with room for the old data;
 * GOOD unless LOCKED reported an error.  N == 0: nothing to do. */
static void
run_atomic (struct exec *x, uint32_t n, bool writing,
            int (*locked) (struct exec *x, uint8_t *old, uint32_t n))
{
  CLEANUP_FREE uint8_t *old = NULL;
  struct gate_ticket tk;
  int r;

  if (n == 0) {
    exec_good (x);
    return;
  }
  old = malloc (n);
  if (old == NULL) {
    exec_errno (x, ENOMEM, writing);
    return;
  }
  gate_enter_atomic (&x->lu->gate, x->c.lba, x->c.nblocks, &tk);
  r = locked (x, old, n);
  gate_leave_atomic (&x->lu->gate, &tk);
  if (r == 0)
    exec_good (x);
}

static int
compare_write_locked (struct exec *x, uint8_t *old, uint32_t n)
{
  struct scsi_lu *lu = x->lu;
  const uint8_t *verify = x->task->data_out, *data = verify + n;
  int64_t d;

  if (lu->ops->pread (lu->h, old, n, exec_byte_offset (x)) == -1) {
    exec_errno (x, errno, false);
    return -1;
  }
  d = exec_first_difference (old, verify, n);
  if (d >= 0) {
    exec_miscompare (x, d);
    return -1;
  }
  if (lu->ops->pwrite (lu->h, data, n, exec_byte_offset (x),
                       exec_fua (x)) == -1) {
    exec_errno (x, errno, true);
    return -1;
  }
  return 0;
}

void
exec_compare_and_write (struct exec *x)
{
  uint32_t n = (uint32_t) x->c.nblocks * x->lu->block_size;

  if (!exec_need_data_out (x, 2 * (uint64_t) n))
    return;
  if (n == 0 && x->task->data_out_len > 0) {
    /* Data for a 0-block command: the NUMBER OF LOGICAL BLOCKS is not
     * what the initiator meant (256 does not fit the byte). */
    exec_bad_cdb (x, 13, -1);
    return;
  }
  run_atomic (x, n, false, compare_write_locked);
}

static int
write_atomic_locked (struct exec *x, uint8_t *old, uint32_t n)
{
  struct scsi_lu *lu = x->lu;
  int err;

  if (lu->ops->pread (lu->h, old, n, exec_byte_offset (x)) == -1) {
    exec_errno (x, errno, false);
    return -1;
  }
  if (lu->ops->pwrite (lu->h, x->task->data_out, n, exec_byte_offset (x),
                       exec_fua (x)) == 0)
    return 0;
  err = errno;
  /* Undo whatever part of the write landed. */
  lu->ops->pwrite (lu->h, old, n, exec_byte_offset (x), true);
  exec_errno (x, err, true);
  return -1;
}

void
exec_write_atomic (struct exec *x)
{
  uint32_t n = (uint32_t) x->c.nblocks * x->lu->block_size;

  if (!exec_need_data_out (x, n))
    return;
  run_atomic (x, n, true, write_atomic_locked);
}
