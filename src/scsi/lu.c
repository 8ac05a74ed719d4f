/* segmap: the SCSI logical unit -- lifecycle, nexuses, unit attentions,
 * task management.
 *
 * A logical unit lives from scsi_lu_new to scsi_lu_free; nexuses attach
 * and detach in between (all must have detached before the free).
 * Persistent reservations are loaded from the store in scsi_lu_new.
 *
 * Unit attentions are a per-nexus bit set (enum lu_ua, lowest bit =
 * highest priority), so raising one is an atomic OR, reporting one an
 * atomic compare-and-swap, and the fast path only does an atomic load:
 *
 *   raise:  attach (POWER ON), scsi_lu_reset (BUS DEVICE RESET for the
 *           others), scsi_lu_set_size (CAPACITY DATA HAS CHANGED),
 *           MODE SELECT (MODE PARAMETERS CHANGED for the others),
 *           PR OUT (RESERVATIONS/REGISTRATIONS PREEMPTED, RELEASED),
 *           scsi_lu_task_set_cleared (COMMANDS CLEARED ...)
 *   report: the next command that is not INQUIRY, REPORT LUNS or
 *           REQUEST SENSE gets CHECK CONDITION / UNIT ATTENTION and the
 *           condition is cleared; REQUEST SENSE returns it as its data
 *           and clears it.
 *
 * A reset condition (29h) supersedes every older condition of the
 * nexus, as SAM-5 allows: it is what the initiator must hear first, and
 * it implies the rest.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "scsi/lu-internal.h"

static const struct {
  uint16_t asc;
  const char *name;
} ua_table[UA_COUNT] = {
  [UA_POWER_ON] = { SCSI_ASC_POWER_ON_RESET, "power on" },
  [UA_BUS_DEVICE_RESET] = { SCSI_ASC_BUS_DEVICE_RESET, "bus device reset" },
  [UA_RESERVATIONS_PREEMPTED] = { SCSI_ASC_RESERVATIONS_PREEMPTED,
                                  "reservations preempted" },
  [UA_RESERVATIONS_RELEASED] = { SCSI_ASC_RESERVATIONS_RELEASED,
                                 "reservations released" },
  [UA_REGISTRATIONS_PREEMPTED] = { SCSI_ASC_REGISTRATIONS_PREEMPTED,
                                   "registrations preempted" },
  [UA_MODE_PARAMETERS_CHANGED] = { SCSI_ASC_MODE_PARAMETERS_CHANGED,
                                   "mode parameters changed" },
  [UA_CAPACITY_CHANGED] = { SCSI_ASC_CAPACITY_DATA_CHANGED,
                            "capacity data has changed" },
  [UA_COMMANDS_CLEARED] = { SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR,
                            "commands cleared by another initiator" },
};

const char *
lu_ua_to_string (enum lu_ua ua)
{
  return ua < UA_COUNT ? ua_table[ua].name : "unknown unit attention";
}

uint16_t
lu_ua_asc (enum lu_ua ua)
{
  return ua < UA_COUNT ? ua_table[ua].asc : SCSI_ASC_NO_ADDITIONAL_SENSE;
}

#define UA_RESET_MASK ((1u << UA_POWER_ON) | (1u << UA_BUS_DEVICE_RESET))

void
lu_ua_raise (struct scsi_itl *itl, enum lu_ua ua)
{
  unsigned bit = 1u << ua;

  if (bit & UA_RESET_MASK)
    atomic_store (&itl->ua, bit);       /* supersedes the rest */
  else
    atomic_fetch_or (&itl->ua, bit);
  sm_debug ("scsi: %s: unit attention: %s", itl->initiator,
            lu_ua_to_string (ua));
}

void
lu_ua_raise_all_locked (struct scsi_lu *lu, enum lu_ua ua,
                        const struct scsi_itl *except)
{
  struct scsi_itl *itl;

  for (itl = lu->nexuses; itl != NULL; itl = itl->next)
    if (itl != except)
      lu_ua_raise (itl, ua);
}

void
lu_ua_raise_nexus_locked (struct scsi_lu *lu, const char *initiator,
                          uint16_t port, enum lu_ua ua)
{
  struct scsi_itl *itl;

  for (itl = lu->nexuses; itl != NULL; itl = itl->next)
    if (itl->port == port && strcmp (itl->initiator, initiator) == 0)
      lu_ua_raise (itl, ua);
}

bool
lu_ua_take (struct scsi_itl *itl, enum lu_ua *ua)
{
  unsigned cur = atomic_load (&itl->ua);

  while (cur != 0) {
    unsigned lowest = cur & -cur;

    if (atomic_compare_exchange_weak (&itl->ua, &cur, cur & ~lowest)) {
      *ua = __builtin_ctz (lowest);
      return true;
    }
  }
  return false;
}

void
lu_update_res_active_locked (struct scsi_lu *lu)
{
  atomic_store (&lu->res_active,
                lu->spc2_holder != NULL || lu->pr.n_regs > 0);
}

void
lu_mode_defaults (struct lu_mode *m)
{
  m->wce = true;
  m->d_sense = false;
  m->tst = 0;
  m->qerr = 0;
  m->swp = false;
}

void
lu_mode_publish_locked (struct scsi_lu *lu)
{
  atomic_store (&lu->wce, lu->mode.wce);
  atomic_store (&lu->d_sense, lu->mode.d_sense);
  atomic_store (&lu->swp, lu->mode.swp);
}

const struct lu_port *
lu_find_port_locked (const struct scsi_lu *lu, uint16_t relative_port_id)
{
  size_t i;

  for (i = 0; i < lu->n_ports; i++)
    if (lu->ports[i].relative_port_id == relative_port_id)
      return &lu->ports[i];
  return NULL;
}

uint64_t
lu_nblocks (const struct scsi_lu *lu)
{
  return atomic_load (&((struct scsi_lu *) lu)->nblocks);
}

bool
lu_write_protected (struct scsi_lu *lu)
{
  return atomic_load (&lu->swp)
    || (lu->ops->read_only && lu->ops->read_only (lu->h));
}

/*----------------------------------------------------------------------
 * Lifecycle.
 */

static int
check_info (const struct scsi_lu_info *info,
            const struct scsi_backend_ops *ops)
{
  if (info->block_size != 512 && info->block_size != 4096) {
    sm_error ("scsi: %s: block size %u is not 512 or 4096", info->name,
              info->block_size);
    return -1;
  }
  if (info->size % info->block_size != 0) {
    sm_error ("scsi: %s: size %" PRIu64 " is not a multiple of the "
              "block size", info->name, info->size);
    return -1;
  }
  if (ops->pread == NULL || ops->pwrite == NULL || ops->flush == NULL) {
    sm_error ("scsi: %s: the backend lacks pread, pwrite or flush",
              info->name);
    return -1;
  }
  if (info->thin && (ops->trim == NULL || ops->extents == NULL)) {
    sm_error ("scsi: %s: thin provisioning needs the backend's trim and "
              "extents", info->name);
    return -1;
  }
  return 0;
}

static void
lu_init_locks (struct scsi_lu *lu)
{
  pthread_mutex_init (&lu->lock, NULL);
  gate_init (&lu->gate);
}

struct scsi_lu *
scsi_lu_new (const struct scsi_lu_info *info,
             const struct scsi_backend_ops *ops, void *h,
             const struct scsi_pr_store_ops *pr, void *pr_h)
{
  struct scsi_lu *lu;

  if (check_info (info, ops) == -1)
    return NULL;
  lu = calloc (1, sizeof *lu);
  if (lu == NULL) {
    sm_error ("scsi: %s: calloc: %m", info->name);
    return NULL;
  }
  lu->name = strdup (info->name ? info->name : "");
  lu->serial = strdup (info->serial ? info->serial : "");
  if (lu->name == NULL || lu->serial == NULL) {
    sm_error ("scsi: strdup: %m");
    free (lu->name);
    free (lu->serial);
    free (lu);
    return NULL;
  }
  lu->block_size = info->block_size;
  lu->optimal_granularity = info->optimal_granularity;
  lu->naa = info->naa;
  lu->naa_ext = info->naa_ext;
  lu->thin = info->thin;
  atomic_init (&lu->nblocks, info->size / info->block_size);
  lu->ops = ops;
  lu->h = h;
  lu->pr_ops = pr;
  lu->pr_h = pr_h;
  lu_mode_defaults (&lu->mode);
  lu_mode_publish_locked (lu);
  lu_init_locks (lu);
  if (pr_load (lu) == -1) {
    scsi_lu_free (lu);
    return NULL;
  }
  lu_update_res_active_locked (lu);
  return lu;
}

static void
free_ports (struct lu_port *ports, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    free (ports[i].name);
  free (ports);
}

void
scsi_lu_free (struct scsi_lu *lu)
{
  if (lu == NULL)
    return;
  if (lu->nexuses != NULL)
    sm_error ("scsi: %s: freed with nexuses attached", lu->name);
  pr_state_clear (&lu->pr);
  free_ports (lu->ports, lu->n_ports);
  gate_destroy (&lu->gate);
  pthread_mutex_destroy (&lu->lock);
  free (lu->name);
  free (lu->serial);
  free (lu);
}

int
scsi_lu_set_ports (struct scsi_lu *lu, const struct scsi_port_info *ports,
                   size_t n_ports)
{
  struct lu_port *copy = calloc (n_ports ? n_ports : 1, sizeof *copy);
  size_t i;

  if (copy == NULL) {
    sm_error ("scsi: %s: calloc: %m", lu->name);
    return -1;
  }
  for (i = 0; i < n_ports; i++) {
    copy[i].relative_port_id = ports[i].relative_port_id;
    copy[i].port_group = ports[i].port_group;
    copy[i].name = strdup (ports[i].name ? ports[i].name : "");
    if (copy[i].name == NULL) {
      sm_error ("scsi: %s: strdup: %m", lu->name);
      free_ports (copy, i);
      return -1;
    }
  }
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
    free_ports (lu->ports, lu->n_ports);
    lu->ports = copy;
    lu->n_ports = n_ports;
  }
  return 0;
}

void
scsi_lu_set_size (struct scsi_lu *lu, uint64_t size)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  atomic_store (&lu->nblocks, size / lu->block_size);
  lu_ua_raise_all_locked (lu, UA_CAPACITY_CHANGED, NULL);
}

/*----------------------------------------------------------------------
 * Nexuses.
 */

struct scsi_itl *
scsi_lu_attach (struct scsi_lu *lu, const char *initiator_port,
                uint16_t port)
{
  struct scsi_itl *itl = calloc (1, sizeof *itl);

  if (itl == NULL || (itl->initiator = strdup (initiator_port)) == NULL) {
    sm_error ("scsi: %s: attaching %s: %m", lu->name, initiator_port);
    free (itl);
    return NULL;
  }
  itl->lu = lu;
  itl->port = port;
  atomic_init (&itl->ua, 1u << UA_POWER_ON);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
    itl->next = lu->nexuses;
    lu->nexuses = itl;
  }
  sm_debug ("scsi: %s: attached %s via port %u", lu->name, initiator_port,
            port);
  return itl;
}

void
scsi_lu_detach (struct scsi_itl *itl)
{
  struct scsi_lu *lu;
  struct scsi_itl **pp;

  if (itl == NULL)
    return;
  lu = itl->lu;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
    for (pp = &lu->nexuses; *pp != NULL; pp = &(*pp)->next)
      if (*pp == itl) {
        *pp = itl->next;
        break;
      }
    if (lu->spc2_holder == itl)
      lu->spc2_holder = NULL;
    lu_update_res_active_locked (lu);
  }
  sm_debug ("scsi: %s: detached %s", lu->name, itl->initiator);
  free (itl->initiator);
  free (itl);
}

/*----------------------------------------------------------------------
 * Task management.
 */

void
scsi_lu_reset (struct scsi_itl *itl)
{
  struct scsi_lu *lu = itl->lu;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  lu->spc2_holder = NULL;
  lu_update_res_active_locked (lu);
  lu_mode_defaults (&lu->mode);
  lu_mode_publish_locked (lu);
  /* SAM-5 §6.3: every I_T nexus, the one that asked included (the
   * initiator's other commands were aborted too). */
  lu_ua_raise_all_locked (lu, UA_BUS_DEVICE_RESET, NULL);
}

void
scsi_lu_task_set_cleared (struct scsi_itl *itl, bool cleared_others)
{
  struct scsi_lu *lu = itl->lu;

  if (!cleared_others)
    return;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  lu_ua_raise_all_locked (lu, UA_COMMANDS_CLEARED, itl);
}

void
scsi_task_check_condition (struct scsi_task *task, uint8_t key, uint16_t asc)
{
  struct scsi_sense s;

  scsi_sense_set (&s, key, asc);
  task->status = SCSI_STATUS_CHECK_CONDITION;
  task->sense_len = scsi_sense_build (&s, false, task->sense,
                                      sizeof task->sense);
  task->data_in_len = 0;
}
