/* segmap: scsi_lu_execute -- the order of checks and the dispatch table.
 *
 * For every command, in this order (SAM-5 §5.14, SPC-4 §5.13):
 *   1. a pending unit attention, unless the command is INQUIRY,
 *      REPORT LUNS or REQUEST SENSE (an atomic load when none is
 *      pending: the common case);
 *   2. CDB decoding and validation (scsi/cdb.h): bad CDBs get their
 *      exact ILLEGAL REQUEST sense;
 *   3. reservation conflicts, only when an SPC-2 reservation or a
 *      persistent registration exists (lu->res_active, atomic);
 *   4. the command's handler (exec-*.c, pr.c, reserve.c), which ends
 *      with exactly one exec_good / exec_reply / exec_check / ... .
 *
 * The table is indexed by opcode; the SERVICE ACTION IN(16) and
 * MAINTENANCE IN families are looked up by service action.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "scsi/lu-internal.h"

#define E(op, fn_, res_, fl) \
  { .opcode = op, .sa = SCSI_SA_NONE, .flags = fl, .res = res_, .fn = fn_ }
#define ESA(op, sa_, fn_, res_) \
  { .opcode = op, .sa = sa_, .flags = EXEC_HAS_SA, .res = res_, .fn = fn_ }

static const struct exec_entry entries[] = {
  E (SCSI_OP_TEST_UNIT_READY, exec_test_unit_ready, RES_ALLOW, 0),
  E (SCSI_OP_REQUEST_SENSE, exec_request_sense, RES_ALLOW, EXEC_UA_EXEMPT),
  E (SCSI_OP_READ6, exec_read, RES_READ, 0),
  E (SCSI_OP_WRITE6, exec_write, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_INQUIRY, exec_inquiry, RES_ALLOW, EXEC_UA_EXEMPT),
  E (SCSI_OP_MODE_SELECT6, exec_mode_select, RES_WRITE, 0),
  E (SCSI_OP_RESERVE6, exec_reserve, RES_SPC2, 0),
  E (SCSI_OP_RELEASE6, exec_release, RES_SPC2, 0),
  E (SCSI_OP_MODE_SENSE6, exec_mode_sense, RES_MODE_SENSE, 0),
  E (SCSI_OP_READ_CAPACITY10, exec_read_capacity10, RES_ALLOW, 0),
  E (SCSI_OP_READ10, exec_read, RES_READ, 0),
  E (SCSI_OP_WRITE10, exec_write, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_WRITE_VERIFY10, exec_write_verify, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_VERIFY10, exec_verify, RES_READ, 0),
  E (SCSI_OP_PRE_FETCH10, exec_pre_fetch, RES_READ, 0),
  E (SCSI_OP_SYNCHRONIZE_CACHE10, exec_sync_cache, RES_WRITE, 0),
  E (SCSI_OP_WRITE_SAME10, exec_write_same, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_UNMAP, exec_unmap, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_MODE_SELECT10, exec_mode_select, RES_WRITE, 0),
  E (SCSI_OP_RESERVE10, exec_reserve, RES_SPC2, 0),
  E (SCSI_OP_RELEASE10, exec_release, RES_SPC2, 0),
  E (SCSI_OP_MODE_SENSE10, exec_mode_sense, RES_MODE_SENSE, 0),
  E (SCSI_OP_PERSISTENT_RESERVE_IN, exec_pr_in, RES_PR, 0),
  E (SCSI_OP_PERSISTENT_RESERVE_OUT, exec_pr_out, RES_PR, 0),
  E (SCSI_OP_READ16, exec_read, RES_READ, 0),
  E (SCSI_OP_COMPARE_AND_WRITE, exec_compare_and_write, RES_WRITE,
     EXEC_WRITES),
  E (SCSI_OP_WRITE16, exec_write, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_WRITE_VERIFY16, exec_write_verify, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_VERIFY16, exec_verify, RES_READ, 0),
  E (SCSI_OP_PRE_FETCH16, exec_pre_fetch, RES_READ, 0),
  E (SCSI_OP_SYNCHRONIZE_CACHE16, exec_sync_cache, RES_WRITE, 0),
  E (SCSI_OP_WRITE_SAME16, exec_write_same, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_WRITE_ATOMIC16, exec_write_atomic, RES_WRITE, EXEC_WRITES),
  ESA (SCSI_OP_SERVICE_ACTION_IN16, SCSI_SAI_READ_CAPACITY16,
       exec_read_capacity16, RES_ALLOW),
  ESA (SCSI_OP_SERVICE_ACTION_IN16, SCSI_SAI_GET_LBA_STATUS,
       exec_get_lba_status, RES_READ),
  E (SCSI_OP_REPORT_LUNS, exec_report_luns, RES_ALLOW, EXEC_UA_EXEMPT),
  ESA (SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_TARGET_PORT_GROUPS,
       exec_report_port_groups, RES_ALLOW),
  ESA (SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES,
       exec_report_opcodes, RES_ALLOW),
  E (SCSI_OP_READ12, exec_read, RES_READ, 0),
  E (SCSI_OP_WRITE12, exec_write, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_WRITE_VERIFY12, exec_write_verify, RES_WRITE, EXEC_WRITES),
  E (SCSI_OP_VERIFY12, exec_verify, RES_READ, 0),
};

const struct exec_entry *
exec_entries (size_t *n)
{
  *n = ARRAY_SIZE (entries);
  return entries;
}

/* Every command runs find_entry: index the table by opcode once (1 +
 * the first entry of each opcode, 0 for none; the entries of one
 * opcode are adjacent) instead of scanning it per command. */
static uint8_t first_of_opcode[256];
_Static_assert (sizeof entries / sizeof entries[0] < 256,
                "first_of_opcode holds entry numbers in a byte");
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void
index_entries (void)
{
  for (size_t i = ARRAY_SIZE (entries); i-- > 0; )
    first_of_opcode[entries[i].opcode] = i + 1;
}

static const struct exec_entry *
find_entry (uint8_t opcode, uint8_t sa)
{
  pthread_once (&index_once, index_entries);
  for (size_t i = first_of_opcode[opcode];
       i > 0 && i <= ARRAY_SIZE (entries) && entries[i - 1].opcode == opcode;
       i++)
    if (!(entries[i - 1].flags & EXEC_HAS_SA) || entries[i - 1].sa == sa)
      return &entries[i - 1];
  return NULL;
}

/*----------------------------------------------------------------------
 * Results.
 */

void
exec_status (struct exec *x, uint8_t status)
{
  x->task->status = status;
  x->task->sense_len = 0;
}

void
exec_good (struct exec *x)
{
  exec_status (x, SCSI_STATUS_GOOD);
}

void
exec_sense (struct exec *x, const struct scsi_sense *s)
{
  struct scsi_task *t = x->task;

  t->status = SCSI_STATUS_CHECK_CONDITION;
  t->sense_len = scsi_sense_build (s, atomic_load (&x->lu->d_sense),
                                   t->sense, sizeof t->sense);
  t->data_in_len = 0;
}

void
exec_check (struct exec *x, uint8_t key, uint16_t asc)
{
  struct scsi_sense s;

  scsi_sense_set (&s, key, asc);
  exec_sense (x, &s);
}

void
exec_bad_cdb (struct exec *x, uint16_t byte, int bit)
{
  struct scsi_sense s;

  scsi_sense_set_field (&s, SCSI_ASC_INVALID_FIELD_IN_CDB, true, byte, bit);
  exec_sense (x, &s);
}

void
exec_bad_param (struct exec *x, uint16_t byte, int bit)
{
  struct scsi_sense s;

  scsi_sense_set_field (&s, SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, false,
                        byte, bit);
  exec_sense (x, &s);
}

void
exec_conflict (struct exec *x)
{
  exec_status (x, SCSI_STATUS_RESERVATION_CONFLICT);
  x->task->data_in_len = 0;
}

void
exec_errno (struct exec *x, int err, bool writing)
{
  struct scsi_sense s;
  uint64_t off;

  switch (err) {
  case EIO:
    scsi_sense_set (&s, SCSI_SK_MEDIUM_ERROR,
                    writing ? SCSI_ASC_WRITE_ERROR
                    : SCSI_ASC_UNRECOVERED_READ_ERROR);
    /* The first failing block, when the backend knows it. */
    if (x->lu->ops->failed_offset
        && (off = x->lu->ops->failed_offset (x->lu->h)) != UINT64_MAX)
      scsi_sense_set_info (&s, off / x->lu->block_size);
    exec_sense (x, &s);
    break;
  case ENOSPC:
    exec_check (x, SCSI_SK_DATA_PROTECT, SCSI_ASC_SPACE_ALLOCATION_FAILED);
    break;
  case EROFS:
    exec_check (x, SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
    break;
  default:
    exec_check (x, SCSI_SK_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
    break;
  }
}

void
exec_reply (struct exec *x, const void *buf, size_t len)
{
  struct scsi_task *t = x->task;
  uint64_t want = len < x->c.xfer_bytes ? len : x->c.xfer_bytes;
  uint32_t n = want < t->data_in_cap ? want : t->data_in_cap;

  if (n > 0)
    memcpy (t->data_in, buf, n);
  t->data_in_len = n;
  t->want_len = want;
  exec_good (x);
}

bool
exec_need_data_out (struct exec *x, uint64_t len)
{
  if (x->task->data_out_len >= len && (len == 0 || x->task->data_out))
    return true;
  /* The transport delivers all the Data-Out the CDB asks for unless the
   * initiator's expected length was short: SPC-4 / iSCSI answer that
   * with INVALID FIELD IN CDB pointing at the length. */
  exec_check (x, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
  return false;
}

bool
exec_fua (const struct exec *x)
{
  return (x->c.flags & SCSI_CDB_FUA) || !atomic_load (&x->lu->wce);
}

/*----------------------------------------------------------------------
 * Execution.
 */

static void
limits (const struct scsi_lu *lu, struct scsi_lu_limits *l)
{
  uint32_t bs = lu->block_size;

  memset (l, 0, sizeof *l);
  l->nblocks = lu_nblocks (lu);
  l->block_size = bs;
  l->max_xfer_blocks = LU_MAX_XFER_BYTES / bs;
  l->max_write_same_blocks = LU_MAX_WRITE_SAME_BYTES / bs;
  l->max_unmap_blocks = lu->thin ? LU_MAX_UNMAP_BYTES / bs : 0;
  l->max_unmap_descriptors = lu->thin ? LU_MAX_UNMAP_DESCRIPTORS : 0;
  l->max_compare_write_blocks = LU_MAX_COMPARE_WRITE_BLOCKS;
  l->max_atomic_blocks = LU_MAX_ATOMIC_BLOCKS;
  l->atomic_alignment = LU_ATOMIC_ALIGNMENT;
  l->atomic_granularity = LU_ATOMIC_GRANULARITY;
  l->thin = lu->thin;
}

static bool
ua_exempt (const uint8_t *cdb, size_t len)
{
  return len > 0 && (cdb[0] == SCSI_OP_INQUIRY
                     || cdb[0] == SCSI_OP_REPORT_LUNS
                     || cdb[0] == SCSI_OP_REQUEST_SENSE);
}

/* Step 1: report a pending unit attention. */
static bool
report_unit_attention (struct exec *x)
{
  enum lu_ua ua;

  if (atomic_load (&x->itl->ua) == 0
      || ua_exempt (x->task->cdb, x->task->cdb_len))
    return false;
  if (!lu_ua_take (x->itl, &ua))
    return false;
  exec_check (x, SCSI_SK_UNIT_ATTENTION, lu_ua_asc (ua));
  return true;
}

/* Step 3. */
static bool
conflicts (struct exec *x, const struct exec_entry *e)
{
  if (!atomic_load (&x->lu->res_active) || e->res == RES_ALLOW)
    return false;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&x->lu->lock);
    return res_conflicts_locked (x, e->res);
  }
}

void
scsi_lu_execute (struct scsi_itl *itl, struct scsi_task *task)
{
  struct exec x = { .lu = itl->lu, .itl = itl, .task = task };
  const struct exec_entry *e;
  struct scsi_sense s;

  task->status = SCSI_STATUS_GOOD;
  task->sense_len = 0;
  task->data_in_len = 0;
  task->want_len = 0;
  if (report_unit_attention (&x))
    return;
  limits (x.lu, &x.lim);
  if (scsi_cdb_decode (task->cdb, task->cdb_len, &x.lim, &x.c, &s) == -1) {
    exec_sense (&x, &s);
    return;
  }
  task->want_len = x.c.xfer_bytes;
  e = find_entry (x.c.opcode, x.c.service_action);
  if (e == NULL) {              /* the decoder knows a command we do not */
    exec_check (&x, SCSI_SK_ILLEGAL_REQUEST,
                SCSI_ASC_INVALID_COMMAND_OPCODE);
    return;
  }
  if (conflicts (&x, e)) {
    exec_conflict (&x);
    return;
  }
  if ((e->flags & EXEC_WRITES) && lu_write_protected (x.lu)) {
    exec_check (&x, SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
    return;
  }
  e->fn (&x);
}

/* READ and WRITE of every size; the FUA bit is bit 3 of byte 1 except
 * in READ(6) / WRITE(6), which have none. */
bool
scsi_lu_is_quick (const struct scsi_itl *itl, const uint8_t *cdb,
                  size_t cdb_len)
{
  bool fua;

  if (cdb_len < 6)
    return false;
  fua = cdb[0] != SCSI_OP_READ6 && cdb[0] != SCSI_OP_WRITE6
    && cdb_len >= 10 && (cdb[1] & 0x08);
  switch (cdb[0]) {
  case SCSI_OP_READ6: case SCSI_OP_READ10:
  case SCSI_OP_READ12: case SCSI_OP_READ16:
    return !fua;
  case SCSI_OP_WRITE6: case SCSI_OP_WRITE10:
  case SCSI_OP_WRITE12: case SCSI_OP_WRITE16:
    return !fua && atomic_load (&itl->lu->wce);
  default:
    return false;
  }
}
