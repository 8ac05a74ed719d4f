/* segmap: the reporting commands -- TEST UNIT READY, REQUEST SENSE,
 * REPORT LUNS, REPORT SUPPORTED OPERATION CODES, REPORT TARGET PORT
 * GROUPS (SPC-4 §6.33, §6.36, §6.29, §6.35, §6.37).
 *
 * The logical unit is always ready (a vdisk has no medium to load), so
 * TEST UNIT READY only reports what step 1 of exec.c already did: a
 * pending unit attention, else GOOD.  REQUEST SENSE hands out a pending
 * unit attention as its data (and clears it), else NO SENSE.
 *
 * Every target port group has all its ports active/optimized; the
 * groups are the distinct struct scsi_port_info.port_group values.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

void
exec_test_unit_ready (struct exec *x)
{
  exec_good (x);
}

void
exec_request_sense (struct exec *x)
{
  uint8_t b[SCSI_SENSE_MAX];
  struct scsi_sense s;
  enum lu_ua ua;
  size_t len;

  if (lu_ua_take (x->itl, &ua))
    scsi_sense_set (&s, SCSI_SK_UNIT_ATTENTION, lu_ua_asc (ua));
  else
    scsi_sense_set (&s, SCSI_SK_NO_SENSE, SCSI_ASC_NO_ADDITIONAL_SENSE);
  len = scsi_sense_build (&s, x->c.flags & SCSI_CDB_DESC, b, sizeof b);
  exec_reply (x, b, len);
}

/* LUN 0 is our only logical unit; it is not a well-known LU nor an
 * administrative one (select reports 01h, 10h-12h list nothing). */
void
exec_report_luns (struct exec *x)
{
  uint8_t b[16] = { 0 };
  bool lun0 = x->c.select_report == 0 || x->c.select_report == 2;

  put_be32 (&b[0], lun0 ? 8 : 0);
  exec_reply (x, b, lun0 ? 16 : 8);
}

/*----------------------------------------------------------------------
 * REPORT SUPPORTED OPERATION CODES.
 */

#define RSOC_DESC_LEN     8
#define RSOC_TIMEOUTS_LEN 12
#define RSOC_RECOMMENDED_TIMEOUT 60     /* seconds */

/* The service actions of E (into SAS), 0 if it has none. */
static size_t
service_actions (const struct exec_entry *e, uint8_t *sas)
{
  size_t i, n = 0;

  if (e->flags & EXEC_HAS_SA)
    sas[n++] = e->sa;
  else if (e->opcode == SCSI_OP_PERSISTENT_RESERVE_IN)
    for (i = 0; i < 4; i++)
      sas[n++] = i;
  else if (e->opcode == SCSI_OP_PERSISTENT_RESERVE_OUT)
    for (i = 0; i < 8; i++)
      sas[n++] = i;
  return n;
}

static size_t
put_timeouts (uint8_t *p)
{
  memset (p, 0, RSOC_TIMEOUTS_LEN);
  put_be16 (p, RSOC_TIMEOUTS_LEN - 2);
  put_be32 (&p[8], RSOC_RECOMMENDED_TIMEOUT);
  return RSOC_TIMEOUTS_LEN;
}

static size_t
put_command (uint8_t *p, uint8_t opcode, uint8_t sa, bool has_sa, bool rctd)
{
  uint8_t usage[16];
  size_t len = 0;

  scsi_cdb_usage (opcode, has_sa ? sa : SCSI_SA_NONE, usage, &len);
  memset (p, 0, RSOC_DESC_LEN);
  p[0] = opcode;
  put_be16 (&p[2], has_sa ? sa : 0);
  p[5] = (rctd ? 0x02 : 0) | (has_sa ? 0x01 : 0);
  put_be16 (&p[6], len);
  if (!rctd)
    return RSOC_DESC_LEN;
  return RSOC_DESC_LEN + put_timeouts (&p[RSOC_DESC_LEN]);
}

static void
rsoc_all (struct exec *x, bool rctd)
{
  uint8_t b[4 + 64 * (RSOC_DESC_LEN + RSOC_TIMEOUTS_LEN)];
  size_t n, i, j, off = 4;
  const struct exec_entry *e = exec_entries (&n);

  for (i = 0; i < n; i++) {
    uint8_t sas[8];
    size_t n_sa = service_actions (&e[i], sas);

    if (n_sa == 0)
      off += put_command (&b[off], e[i].opcode, 0, false, rctd);
    for (j = 0; j < n_sa; j++)
      off += put_command (&b[off], e[i].opcode, sas[j], true, rctd);
  }
  put_be32 (&b[0], off - 4);
  exec_reply (x, b, off);
}

static const struct exec_entry *
find_opcode (uint8_t opcode, uint8_t *sas, size_t *n_sa)
{
  size_t n, i;
  const struct exec_entry *e = exec_entries (&n);
  const struct exec_entry *found = NULL;

  *n_sa = 0;
  for (i = 0; i < n; i++)
    if (e[i].opcode == opcode) {
      found = &e[i];
      *n_sa += service_actions (&e[i], &sas[*n_sa]);
    }
  return found;
}

static void
rsoc_one_reply (struct exec *x, bool supported, uint8_t opcode, uint16_t sa,
                bool has_sa, bool rctd)
{
  uint8_t b[4 + 16 + RSOC_TIMEOUTS_LEN] = { 0 };
  size_t len = 0, off;

  if (!supported) {
    b[1] = 0x01;                /* SUPPORT 001b: not supported */
    exec_reply (x, b, 4);
    return;
  }
  scsi_cdb_usage (opcode, has_sa ? sa : SCSI_SA_NONE, &b[4], &len);
  b[1] = (rctd ? 0x80 : 0) | 0x03;      /* CTDP, SUPPORT 011b */
  put_be16 (&b[2], len);
  off = 4 + len;
  if (rctd)
    off += put_timeouts (&b[off]);
  exec_reply (x, b, off);
}

static void
rsoc_one (struct exec *x, bool rctd)
{
  uint8_t op = x->c.requested_op, sas[16];
  uint16_t sa = x->c.requested_sa;
  size_t n_sa, i;
  const struct exec_entry *e = find_opcode (op, sas, &n_sa);
  bool found_sa = false;

  for (i = 0; i < n_sa; i++)
    found_sa |= sas[i] == sa;
  switch (x->c.options) {
  case 1:                       /* opcode only */
    if (e != NULL && n_sa > 0) {
      exec_bad_cdb (x, 3, -1);
      return;
    }
    rsoc_one_reply (x, e != NULL, op, 0, false, rctd);
    return;
  case 2:                       /* opcode and service action */
    if (e != NULL && n_sa == 0) {
      exec_bad_cdb (x, 4, -1);
      return;
    }
    rsoc_one_reply (x, e != NULL && found_sa, op, sa, true, rctd);
    return;
  default:                      /* 3: service action if it has them */
    if (n_sa > 0)
      rsoc_one_reply (x, found_sa, op, sa, true, rctd);
    else
      rsoc_one_reply (x, e != NULL && sa == 0, op, 0, false, rctd);
    return;
  }
}

void
exec_report_opcodes (struct exec *x)
{
  bool rctd = x->c.flags & SCSI_CDB_RCTD;

  if (x->c.options == 0)
    rsoc_all (x, rctd);
  else
    rsoc_one (x, rctd);
}

/*----------------------------------------------------------------------
 * REPORT TARGET PORT GROUPS.
 */

/* One descriptor for GROUP with its ports; returns its length. */
static size_t
put_group (uint8_t *p, const struct lu_port *ports, size_t n_ports,
           uint16_t group)
{
  size_t i, count = 0;

  memset (p, 0, 8);
  p[0] = 0x80 | 0x00;           /* PREF, active/optimized */
  p[1] = 0x01;                  /* AO_SUP */
  put_be16 (&p[2], group);
  for (i = 0; i < n_ports; i++)
    if (ports[i].port_group == group) {
      memset (&p[8 + 4 * count], 0, 4);
      put_be16 (&p[8 + 4 * count + 2], ports[i].relative_port_id);
      count++;
    }
  p[7] = count;
  return 8 + 4 * count;
}

static bool
group_seen (const struct lu_port *ports, size_t upto, uint16_t group)
{
  size_t i;

  for (i = 0; i < upto; i++)
    if (ports[i].port_group == group)
      return true;
  return false;
}

void
exec_report_port_groups (struct exec *x)
{
  struct scsi_lu *lu = x->lu;
  bool extended = x->c.param_format == 1;
  size_t off = extended ? 8 : 4, i, size;
  CLEANUP_FREE uint8_t *b = NULL;
  struct lu_port fallback = { .relative_port_id = x->itl->port,
                              .port_group = 1 };

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  const struct lu_port *ports = lu->n_ports ? lu->ports : &fallback;
  size_t n_ports = lu->n_ports ? lu->n_ports : 1;

  size = 8 + 12 * n_ports;
  b = calloc (1, size);
  if (b == NULL) {
    exec_errno (x, ENOMEM, false);
    return;
  }
  for (i = 0; i < n_ports; i++)
    if (!group_seen (ports, i, ports[i].port_group))
      off += put_group (&b[off], ports, n_ports, ports[i].port_group);
  put_be32 (&b[0], off - 4);
  if (extended)
    b[4] = 0x10;                /* FORMAT TYPE 001b */
  exec_reply (x, b, off);
}
