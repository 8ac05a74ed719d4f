/* segmap: SPC-2 RESERVE(6)/(10) and RELEASE(6)/(10), and the
 * reservation conflict check of every command (SPC-2 §5.5.1, SPC-4
 * §5.13.1).
 *
 * One SPC-2 reservation per logical unit, held by one nexus
 * (lu->spc2_holder): released by RELEASE from that nexus, by its
 * detach, and by a LUN reset.  While it is held, another nexus may
 * only run the commands of class RES_ALLOW (INQUIRY, REPORT LUNS,
 * REQUEST SENSE, READ CAPACITY, reporting commands...) and RELEASE,
 * which then does nothing.
 *
 * Persistent reservations and SPC-2 ones exclude each other:
 *   - RESERVE / RELEASE conflict while any PR registration exists;
 *   - PERSISTENT RESERVE IN / OUT conflict while an SPC-2 reservation
 *     is held (by any nexus).
 */
#include <config.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

bool
res_conflicts_locked (struct exec *x, enum res_class cls)
{
  struct scsi_lu *lu = x->lu;

  if (cls == RES_ALLOW)
    return false;
  if (cls == RES_SPC2)
    return lu->pr.n_regs > 0;
  if (cls == RES_PR)
    return lu->spc2_holder != NULL;
  if (lu->spc2_holder != NULL && lu->spc2_holder != x->itl)
    return true;
  return pr_conflicts_locked (lu, x->itl, cls);
}

void
exec_reserve (struct exec *x)
{
  struct scsi_lu *lu = x->lu;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  if (lu->pr.n_regs > 0
      || (lu->spc2_holder != NULL && lu->spc2_holder != x->itl)) {
    exec_conflict (x);
    return;
  }
  lu->spc2_holder = x->itl;
  lu_update_res_active_locked (lu);
  exec_good (x);
}

void
exec_release (struct exec *x)
{
  struct scsi_lu *lu = x->lu;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  if (lu->pr.n_regs > 0) {
    exec_conflict (x);
    return;
  }
  if (lu->spc2_holder == x->itl) {
    lu->spc2_holder = NULL;
    lu_update_res_active_locked (lu);
  }
  exec_good (x);
}
