/* segmap: persistent reservations -- PERSISTENT RESERVE IN and OUT
 * (SPC-4 §5.13, §6.15, §6.16), their conflict rules, and persistence.
 *
 * State (struct pr_state, under lu->lock): the registrations, keyed by
 * initiator port name + relative target port id (strings survive the
 * nexuses, which come and go), the reservation (type, holder) and
 * PRGENERATION.  For the all-registrants types every registrant holds
 * the reservation; for the others one nexus does.
 *
 * Every PR OUT that changes the state saves it (pr-codec.c, through
 * scsi_pr_store_ops->save) before completing; if the save fails the
 * previous state is restored and the command ends with HARDWARE ERROR /
 * INTERNAL TARGET FAILURE.  APTPL is honoured by always persisting;
 * REPORT CAPABILITIES says so (PTPL_C, PTPL_A).  SPEC_I_PT is not
 * supported (SIP_C 0): setting it is INVALID FIELD IN PARAMETER LIST.
 *
 * Conflicts (SPC-4 Table 63, for a nexus that does not hold the
 * reservation):
 *                       reads / MODE SENSE     writes
 *   Write Exclusive     allowed                conflict
 *   Exclusive Access    conflict               conflict
 *   WE, registrants     allowed                registered: allowed
 *   EA, registrants     registered: allowed    registered: allowed
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "scsi/lu-internal.h"

const char *
pr_type_to_string (uint8_t type)
{
  switch (type) {
  case PR_NONE: return "none";
  case PR_WRITE_EXCLUSIVE: return "write exclusive";
  case PR_EXCLUSIVE_ACCESS: return "exclusive access";
  case PR_WRITE_EXCLUSIVE_RO: return "write exclusive, registrants only";
  case PR_EXCLUSIVE_ACCESS_RO: return "exclusive access, registrants only";
  case PR_WRITE_EXCLUSIVE_AR: return "write exclusive, all registrants";
  case PR_EXCLUSIVE_ACCESS_AR: return "exclusive access, all registrants";
  default: return "unknown reservation type";
  }
}

bool
pr_type_all_registrants (uint8_t type)
{
  return type == PR_WRITE_EXCLUSIVE_AR || type == PR_EXCLUSIVE_ACCESS_AR;
}

static bool
pr_type_registrants (uint8_t type)
{
  return type >= PR_WRITE_EXCLUSIVE_RO && type <= PR_EXCLUSIVE_ACCESS_AR;
}

void
pr_state_clear (struct pr_state *st)
{
  size_t i;

  for (i = 0; i < st->n_regs; i++)
    free (st->regs[i].initiator);
  free (st->regs);
  free (st->holder);
  memset (st, 0, sizeof *st);
}

/*----------------------------------------------------------------------
 * Registrations and the reservation.
 */

static struct pr_reg *
find_reg (const struct pr_state *st, const char *initiator, uint16_t port)
{
  size_t i;

  for (i = 0; i < st->n_regs; i++)
    if (st->regs[i].port == port
        && strcasecmp (st->regs[i].initiator, initiator) == 0)
      return &st->regs[i];
  return NULL;
}

bool
pr_registered_locked (const struct pr_state *st, const char *initiator,
                      uint16_t port)
{
  return initiator != NULL && find_reg (st, initiator, port) != NULL;
}

static bool
is_holder (const struct pr_state *st, const char *initiator, uint16_t port)
{
  if (st->type == PR_NONE)
    return false;
  if (pr_type_all_registrants (st->type))
    return pr_registered_locked (st, initiator, port);
  return st->holder_port == port && strcasecmp (st->holder, initiator) == 0;
}

bool
pr_conflicts_locked (const struct scsi_lu *lu, const struct scsi_itl *itl,
                     enum res_class cls)
{
  const struct pr_state *st = &lu->pr;
  bool registered;

  if (st->type == PR_NONE || is_holder (st, itl->initiator, itl->port))
    return false;
  registered = pr_registered_locked (st, itl->initiator, itl->port);
  if (cls == RES_READ || cls == RES_MODE_SENSE) {
    switch (st->type) {
    case PR_WRITE_EXCLUSIVE: case PR_WRITE_EXCLUSIVE_RO:
    case PR_WRITE_EXCLUSIVE_AR:
      return false;
    case PR_EXCLUSIVE_ACCESS:
      return true;
    default:
      return !registered;
    }
  }
  if (cls == RES_WRITE)
    return !pr_type_registrants (st->type) || !registered;
  return false;
}

static int
add_reg (struct pr_state *st, const char *initiator, uint16_t port,
         uint64_t key, bool all_tg_pt)
{
  struct pr_reg *regs = realloc (st->regs, (st->n_regs + 1) * sizeof *regs);
  char *name;

  if (regs == NULL)
    return -1;
  st->regs = regs;
  name = strdup (initiator);
  if (name == NULL)
    return -1;
  regs[st->n_regs++] = (struct pr_reg) { .initiator = name, .port = port,
                                         .key = key,
                                         .all_tg_pt = all_tg_pt };
  return 0;
}

static void
remove_reg (struct pr_state *st, struct pr_reg *r)
{
  size_t i = r - st->regs;

  free (r->initiator);
  memmove (&st->regs[i], &st->regs[i + 1],
           (st->n_regs - i - 1) * sizeof *r);
  st->n_regs--;
}

static void
release_reservation (struct pr_state *st)
{
  free (st->holder);
  st->holder = NULL;
  st->holder_port = 0;
  st->type = PR_NONE;
  st->scope = 0;
}

static int
set_holder (struct pr_state *st, const char *initiator, uint16_t port,
            uint8_t type)
{
  char *name = strdup (initiator);

  if (name == NULL)
    return -1;
  release_reservation (st);
  st->holder = name;
  st->holder_port = port;
  st->type = type;
  return 0;
}

/* UA for every registrant but the nexus of INITIATOR/PORT. */
static void
ua_registrants (struct scsi_lu *lu, const char *initiator, uint16_t port,
                enum lu_ua ua)
{
  size_t i;

  for (i = 0; i < lu->pr.n_regs; i++) {
    const struct pr_reg *r = &lu->pr.regs[i];

    if (r->port != port || strcasecmp (r->initiator, initiator) != 0)
      lu_ua_raise_nexus_locked (lu, r->initiator, r->port, ua);
  }
}

/*----------------------------------------------------------------------
 * Persistence.
 */

int
pr_load (struct scsi_lu *lu)
{
  CLEANUP_FREE void *blob = NULL;
  size_t len = 0;

  if (lu->pr_ops == NULL)
    return 0;
  if (lu->pr_ops->load (lu->pr_h, lu->name, &blob, &len) == -1)
    return -1;
  if (blob == NULL)
    return 0;
  if (pr_decode (blob, len, &lu->pr) == -1) {
    sm_error ("scsi: %s: the saved persistent reservations are unusable",
              lu->name);
    return -1;
  }
  return 0;
}

static int
pr_save_locked (struct scsi_lu *lu)
{
  CLEANUP_FREE void *blob = NULL;
  size_t len;

  if (lu->pr_ops == NULL)
    return 0;
  blob = pr_encode (&lu->pr, &len);
  if (blob == NULL)
    return -1;
  return lu->pr_ops->save (lu->pr_h, lu->name, blob, len);
}

/*----------------------------------------------------------------------
 * PERSISTENT RESERVE IN.
 */

static void
pr_in_read_keys (struct exec *x, const struct pr_state *st)
{
  CLEANUP_FREE uint8_t *b = calloc (1, 8 + 8 * st->n_regs);
  size_t i;

  if (b == NULL) {
    exec_errno (x, ENOMEM, false);
    return;
  }
  put_be32 (&b[0], st->generation);
  put_be32 (&b[4], 8 * st->n_regs);
  for (i = 0; i < st->n_regs; i++)
    put_be64 (&b[8 + 8 * i], st->regs[i].key);
  exec_reply (x, b, 8 + 8 * st->n_regs);
}

static void
pr_in_read_reservation (struct exec *x, const struct pr_state *st)
{
  uint8_t b[24] = { 0 };
  const struct pr_reg *holder;

  put_be32 (&b[0], st->generation);
  if (st->type == PR_NONE) {
    exec_reply (x, b, 8);
    return;
  }
  put_be32 (&b[4], 16);
  holder = find_reg (st, st->holder, st->holder_port);
  if (!pr_type_all_registrants (st->type) && holder != NULL)
    put_be64 (&b[8], holder->key);
  b[21] = (st->scope << 4) | st->type;
  exec_reply (x, b, sizeof b);
}

static void
pr_in_report_capabilities (struct exec *x)
{
  uint8_t b[8] = { 0 };

  put_be16 (&b[0], 8);
  b[2] = 0x10 | 0x04 | 0x01;    /* CRH, ATP_C, PTPL_C (SIP_C 0) */
  b[3] = 0x80 | 0x10 | 0x01;    /* TMV, ALLOW COMMANDS 001b, PTPL_A */
  b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  /* WR_EX_AR EX_AC_RO WR_EX_RO
                                             * EX_AC WR_EX */
  b[5] = 0x01;                  /* EX_AC_AR */
  exec_reply (x, b, sizeof b);
}

/* An iSCSI TransportID for NAME: format 01b when NAME is an initiator
 * port name ("iqn...,i,0xISID"), else 00b.  Returns its length. */
static size_t
transport_id (uint8_t *p, const char *name)
{
  size_t n = strlen (name);
  size_t len = (n + 1 + 3) & ~(size_t) 3;

  if (len < 20)
    len = 20;
  memset (p, 0, 4 + len);
  p[0] = (strstr (name, ",i,0x") ? 0x40 : 0x00) | 0x05;
  put_be16 (&p[2], len);
  memcpy (&p[4], name, n);
  return 4 + len;
}

static void
pr_in_read_full_status (struct exec *x, const struct pr_state *st)
{
  size_t cap = 8, off = 8, i;
  CLEANUP_FREE uint8_t *b = NULL;

  for (i = 0; i < st->n_regs; i++)
    cap += 24 + 4 + strlen (st->regs[i].initiator) + 24;
  b = calloc (1, cap);
  if (b == NULL) {
    exec_errno (x, ENOMEM, false);
    return;
  }
  for (i = 0; i < st->n_regs; i++) {
    const struct pr_reg *r = &st->regs[i];
    uint8_t *d = &b[off];
    size_t tl;

    put_be64 (d, r->key);
    d[12] = (r->all_tg_pt ? 0x02 : 0);
    if (is_holder (st, r->initiator, r->port)) {
      d[12] |= 0x01;
      d[13] = (st->scope << 4) | st->type;
    }
    put_be16 (&d[18], r->port);
    tl = transport_id (&d[24], r->initiator);
    put_be32 (&d[20], tl);
    off += 24 + tl;
  }
  put_be32 (&b[0], st->generation);
  put_be32 (&b[4], off - 8);
  exec_reply (x, b, off);
}

void
exec_pr_in (struct exec *x)
{
  struct scsi_lu *lu = x->lu;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  switch (x->c.service_action) {
  case 0: pr_in_read_keys (x, &lu->pr); break;
  case 1: pr_in_read_reservation (x, &lu->pr); break;
  case 2: pr_in_report_capabilities (x); break;
  default: pr_in_read_full_status (x, &lu->pr); break;
  }
}

/*----------------------------------------------------------------------
 * PERSISTENT RESERVE OUT.  Each service action returns 1 if the state
 * changed (it must be saved), 0 if not, -1 with the result set.
 */

struct pr_params {
  uint64_t key, sa_key;
  bool spec_i_pt, all_tg_pt, aptpl, unreg;
  uint16_t rel_port;            /* REGISTER AND MOVE */
  char *tid_name;               /* REGISTER AND MOVE: destination */
};

static int
conflict (struct exec *x)
{
  exec_conflict (x);
  return -1;
}

static int
oom (struct exec *x)
{
  exec_check (x, SCSI_SK_ILLEGAL_REQUEST,
              SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
  return -1;
}

static int
bad_param (struct exec *x, uint16_t byte, int bit)
{
  exec_bad_param (x, byte, bit);
  return -1;
}

/* The nexus's registration if the RESERVATION KEY matches it. */
static struct pr_reg *
checked_reg (struct exec *x, const struct pr_params *p)
{
  struct pr_reg *r = find_reg (&x->lu->pr, x->itl->initiator, x->itl->port);

  return r != NULL && r->key == p->key ? r : NULL;
}

static void
unregister (struct scsi_lu *lu, struct pr_reg *r)
{
  struct pr_state *st = &lu->pr;
  bool holder = is_holder (st, r->initiator, r->port);
  CLEANUP_FREE char *name = strdup (r->initiator);
  uint16_t port = r->port;

  remove_reg (st, r);
  if (st->type == PR_NONE)
    return;
  if (pr_type_all_registrants (st->type)) {
    if (st->n_regs == 0)
      release_reservation (st);
    else if (holder && strcasecmp (st->holder, name ? name : "") == 0
             && st->holder_port == port) {
      /* keep a registered holder name for the blob */
      free (st->holder);
      st->holder = strdup (st->regs[0].initiator);
      st->holder_port = st->regs[0].port;
      if (st->holder == NULL)
        release_reservation (st);
    }
    return;
  }
  if (holder) {
    uint8_t type = st->type;

    release_reservation (st);
    if (pr_type_registrants (type) && name != NULL)
      ua_registrants (lu, name, port, UA_RESERVATIONS_RELEASED);
  }
}

static int
register_all_ports (struct exec *x, const struct pr_params *p)
{
  struct scsi_lu *lu = x->lu;
  size_t i;

  if (lu->n_ports == 0)
    return add_reg (&lu->pr, x->itl->initiator, x->itl->port, p->sa_key,
                    true);
  for (i = 0; i < lu->n_ports; i++) {
    uint16_t port = lu->ports[i].relative_port_id;
    struct pr_reg *r = find_reg (&lu->pr, x->itl->initiator, port);

    if (r != NULL)
      r->key = p->sa_key;
    else if (add_reg (&lu->pr, x->itl->initiator, port, p->sa_key,
                      true) == -1)
      return -1;
  }
  return 0;
}

static int
pr_register (struct exec *x, const struct pr_params *p, bool ignore)
{
  struct pr_state *st = &x->lu->pr;
  struct pr_reg *r = find_reg (st, x->itl->initiator, x->itl->port);

  if (r == NULL) {
    if (!ignore && p->key != 0)
      return conflict (x);
    if (p->sa_key == 0)
      return 0;
    if (p->all_tg_pt ? register_all_ports (x, p) == -1
        : add_reg (st, x->itl->initiator, x->itl->port, p->sa_key,
                   false) == -1)
      return oom (x);
  }
  else {
    if (!ignore && p->key != r->key)
      return conflict (x);
    if (p->sa_key == 0)
      unregister (x->lu, r);
    else
      r->key = p->sa_key;
  }
  st->aptpl = p->aptpl;
  st->generation++;
  return 1;
}

static int
pr_reserve (struct exec *x, const struct pr_params *p)
{
  struct pr_state *st = &x->lu->pr;

  if (checked_reg (x, p) == NULL)
    return conflict (x);
  if (st->type != PR_NONE) {
    if (is_holder (st, x->itl->initiator, x->itl->port)
        && st->type == x->c.pr_type && st->scope == x->c.pr_scope)
      return 0;
    return conflict (x);
  }
  if (set_holder (st, x->itl->initiator, x->itl->port, x->c.pr_type) == -1)
    return oom (x);
  return 1;
}

static int
pr_release (struct exec *x, const struct pr_params *p)
{
  struct pr_state *st = &x->lu->pr;
  uint8_t type = st->type;

  if (checked_reg (x, p) == NULL)
    return conflict (x);
  if (type == PR_NONE || !is_holder (st, x->itl->initiator, x->itl->port))
    return 0;
  if (type != x->c.pr_type || st->scope != x->c.pr_scope) {
    exec_check (x, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_RELEASE_OF_PR);
    return -1;
  }
  release_reservation (st);
  if (pr_type_registrants (type))
    ua_registrants (x->lu, x->itl->initiator, x->itl->port,
                    UA_RESERVATIONS_RELEASED);
  return 1;
}

static int
pr_clear (struct exec *x, const struct pr_params *p)
{
  struct pr_state *st = &x->lu->pr;
  uint32_t generation = st->generation;

  if (checked_reg (x, p) == NULL)
    return conflict (x);
  ua_registrants (x->lu, x->itl->initiator, x->itl->port,
                  UA_RESERVATIONS_PREEMPTED);
  pr_state_clear (st);
  st->generation = generation + 1;
  return 1;
}

/* Remove every registration with KEY but the nexus's own; returns how
 * many were removed. */
static size_t
remove_key (struct exec *x, uint64_t key)
{
  struct pr_state *st = &x->lu->pr;
  size_t i = 0, n = 0;

  while (i < st->n_regs) {
    struct pr_reg *r = &st->regs[i];

    if (r->key != key || (r->port == x->itl->port
                          && strcasecmp (r->initiator,
                                         x->itl->initiator) == 0)) {
      i++;
      continue;
    }
    lu_ua_raise_nexus_locked (x->lu, r->initiator, r->port,
                              UA_REGISTRATIONS_PREEMPTED);
    remove_reg (st, r);
    n++;
  }
  return n;
}

/* Remove every other registration (all-registrants, key 0). */
static void
remove_others (struct exec *x)
{
  struct pr_state *st = &x->lu->pr;
  size_t i = 0;

  while (i < st->n_regs) {
    struct pr_reg *r = &st->regs[i];

    if (r->port == x->itl->port
        && strcasecmp (r->initiator, x->itl->initiator) == 0) {
      i++;
      continue;
    }
    lu_ua_raise_nexus_locked (x->lu, r->initiator, r->port,
                              UA_REGISTRATIONS_PREEMPTED);
    remove_reg (st, r);
  }
}

static uint64_t
holder_key (const struct pr_state *st)
{
  const struct pr_reg *h = find_reg (st, st->holder, st->holder_port);

  return h ? h->key : 0;
}

static int
pr_preempt (struct exec *x, const struct pr_params *p)
{
  struct pr_state *st = &x->lu->pr;
  bool all = pr_type_all_registrants (st->type);

  if (checked_reg (x, p) == NULL)
    return conflict (x);
  if (all && p->sa_key == 0) {
    remove_others (x);
  }
  else if (st->type == PR_NONE || all || p->sa_key != holder_key (st)) {
    if (p->sa_key == 0)
      return bad_param (x, 8, -1);
    if (remove_key (x, p->sa_key) == 0)
      return conflict (x);
    st->generation++;
    return 1;
  }
  else
    remove_key (x, p->sa_key);
  if (set_holder (st, x->itl->initiator, x->itl->port, x->c.pr_type) == -1)
    return oom (x);
  st->generation++;
  return 1;
}

/* REGISTER AND MOVE's TransportID: the destination initiator port. */
static int
parse_move (struct exec *x, const uint8_t *d, size_t len,
            struct pr_params *p)
{
  size_t tl = get_be (&d[20], 4), n;
  const uint8_t *t = &d[24];

  p->unreg = d[17] & 0x02;
  p->aptpl = d[17] & 0x01;
  p->rel_port = get_be (&d[18], 2);
  if (tl > len - 24 || tl < 24) {
    exec_check (x, SCSI_SK_ILLEGAL_REQUEST,
                SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
    return -1;
  }
  if ((t[0] & 0x0f) != 0x05 || (t[0] & 0xc0) > 0x40)
    return bad_param (x, 24, -1);
  n = get_be (&t[2], 2);
  if (n > tl - 4)
    return bad_param (x, 26, -1);
  n = strnlen ((const char *) &t[4], n);
  if (n == 0)
    return bad_param (x, 28, -1);
  p->tid_name = strndup ((const char *) &t[4], n);
  return p->tid_name ? 0 : oom (x);
}

static int
pr_register_and_move (struct exec *x, const struct pr_params *p)
{
  struct scsi_lu *lu = x->lu;
  struct pr_state *st = &lu->pr;
  struct pr_reg *src = checked_reg (x, p), *dst;

  if (src == NULL || !is_holder (st, x->itl->initiator, x->itl->port)
      || pr_type_all_registrants (st->type))
    return conflict (x);
  if (p->sa_key == 0)
    return bad_param (x, 8, -1);
  if (lu->n_ports > 0 && lu_find_port_locked (lu, p->rel_port) == NULL)
    return bad_param (x, 18, -1);
  if (p->rel_port == x->itl->port
      && strcasecmp (p->tid_name, x->itl->initiator) == 0)
    return bad_param (x, 24, -1);
  dst = find_reg (st, p->tid_name, p->rel_port);
  if (dst != NULL)
    dst->key = p->sa_key;
  else if (add_reg (st, p->tid_name, p->rel_port, p->sa_key, false) == -1)
    return oom (x);
  if (set_holder (st, p->tid_name, p->rel_port, st->type) == -1)
    return oom (x);
  if (p->unreg) {
    src = find_reg (st, x->itl->initiator, x->itl->port);
    if (src != NULL)
      remove_reg (st, src);
  }
  st->aptpl = p->aptpl;
  st->generation++;
  return 1;
}

static int
parse_params (struct exec *x, const uint8_t *d, size_t len,
              struct pr_params *p)
{
  memset (p, 0, sizeof *p);
  p->key = get_be (d, 8);
  p->sa_key = get_be (&d[8], 8);
  if (x->c.service_action == 7)
    return parse_move (x, d, len, p);
  p->spec_i_pt = d[20] & 0x08;
  p->all_tg_pt = d[20] & 0x04;
  p->aptpl = d[20] & 0x01;
  if (p->spec_i_pt)
    return bad_param (x, 20, 3);
  if (p->all_tg_pt && x->c.service_action != 0 && x->c.service_action != 6)
    return bad_param (x, 20, 2);
  return 0;
}

static int
pr_out_apply (struct exec *x, const struct pr_params *p)
{
  switch (x->c.service_action) {
  case 0: return pr_register (x, p, false);
  case 1: return pr_reserve (x, p);
  case 2: return pr_release (x, p);
  case 3: return pr_clear (x, p);
  case 4: case 5: return pr_preempt (x, p);
  case 6: return pr_register (x, p, true);
  default: return pr_register_and_move (x, p);
  }
}

/* Apply and save; on a failed save, go back to the saved SNAPSHOT. */
static void
pr_out_locked (struct exec *x, const struct pr_params *p)
{
  struct scsi_lu *lu = x->lu;
  size_t snap_len;
  CLEANUP_FREE void *snap = pr_encode (&lu->pr, &snap_len);
  int r;

  if (snap == NULL) {
    exec_errno (x, ENOMEM, true);
    return;
  }
  r = pr_out_apply (x, p);
  if (r == 1 && pr_save_locked (lu) == -1) {
    pr_state_clear (&lu->pr);
    if (pr_decode (snap, snap_len, &lu->pr) == -1)
      sm_error ("scsi: %s: cannot restore the reservation state", lu->name);
    r = -1;
    exec_check (x, SCSI_SK_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
  }
  lu_update_res_active_locked (lu);
  if (r >= 0)
    exec_good (x);
}

void
exec_pr_out (struct exec *x)
{
  struct pr_params p;

  if (!exec_need_data_out (x, x->c.alloc_len))
    return;
  if (parse_params (x, x->task->data_out, x->c.alloc_len, &p) == -1)
    return;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&x->lu->lock);
    pr_out_locked (x, &p);
  }
  free (p.tid_name);
}
