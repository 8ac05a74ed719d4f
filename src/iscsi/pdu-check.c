/* segmap: iSCSI PDU rules that tie fields together, and what to answer.
 *
 * One check function per opcode that has such rules (RFC 7143 §11):
 * tags that must or must not be the reserved 0xffffffff, flags that
 * exclude each other, reserved code values.  iscsi_pdu_check runs them
 * for the decoder and, before writing anything, for the encoder.
 *
 * iscsi_pdu_error_answer maps each decode error to what a target does
 * about it: a Reject with a reason (protocol errors, reserved values,
 * data digest), a Login reject (any error in a Login Request), or
 * dropping the connection when the byte stream can no longer be
 * trusted (truncation, header digest).
 *
 * Sequence numbers compare in RFC 1982 serial arithmetic, so that the
 * CmdSN window keeps working across the 2^32 wrap.
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "iscsi/pdu-internal.h"

/*----------------------------------------------------------------------
 * Cross-field rules.
 */

/* Ping: valid ITT, reserved TTT.  Answer to a NOP-In: reserved ITT
 * (with I set on NOP-Out), valid TTT.  Both valid is never right. */
static enum iscsi_pdu_error
check_nop_tags (const struct iscsi_pdu *p, bool out)
{
  if (p->itt != ISCSI_RESERVED_TAG && p->ttt != ISCSI_RESERVED_TAG)
    return ISCSI_PDU_ERR_TAG;
  if (out && p->itt == ISCSI_RESERVED_TAG && !p->immediate)
    return ISCSI_PDU_ERR_TAG;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_nop_out (const struct iscsi_pdu *p)
{
  return check_nop_tags (p, true);
}

static enum iscsi_pdu_error
check_nop_in (const struct iscsi_pdu *p)
{
  return check_nop_tags (p, false);
}

/* RFC 7143 §11.3.1: at least one of W and F; a transfer length needs
 * a direction; immediate data only with W; a bidirectional length
 * only with R and W. */
static enum iscsi_pdu_error
check_scsi_cmd (const struct iscsi_pdu *p)
{
  if (p->attr > ISCSI_ATTR_ACA)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  if (p->itt == ISCSI_RESERVED_TAG)
    return ISCSI_PDU_ERR_TAG;
  if (!p->final && !p->write)
    return ISCSI_PDU_ERR_DIRECTION;
  if (p->exp_xfer_len != 0 && !p->read && !p->write)
    return ISCSI_PDU_ERR_DIRECTION;
  if (p->data_len != 0 && !p->write)
    return ISCSI_PDU_ERR_DIRECTION;
  if (p->has_bidi_read_len && !(p->read && p->write))
    return ISCSI_PDU_ERR_DIRECTION;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_task_mgmt (const struct iscsi_pdu *p)
{
  if (p->function < ISCSI_TMF_ABORT_TASK
      || p->function > ISCSI_TMF_TASK_REASSIGN)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  if (p->itt == ISCSI_RESERVED_TAG)
    return ISCSI_PDU_ERR_TAG;
  if ((p->function == ISCSI_TMF_ABORT_TASK
       || p->function == ISCSI_TMF_TASK_REASSIGN)
      && p->ttt == ISCSI_RESERVED_TAG)
    return ISCSI_PDU_ERR_TAG;
  return ISCSI_PDU_OK;
}

/* Stages: CSG 0 or 1 (3 is not a login stage, 2 is reserved); with T
 * the next stage must be later: 0->1, 0->3, 1->3.  Without T, NSG is
 * reserved and ignored. */
static enum iscsi_pdu_error
check_stages (const struct iscsi_pdu *p, bool request)
{
  if (p->transit && p->cont)
    return ISCSI_PDU_ERR_TRANSIT_CONTINUE;
  if (p->csg == 2 || (p->transit && p->nsg == 2))
    return ISCSI_PDU_ERR_FIELD_VALUE;
  if (p->csg == ISCSI_STAGE_FULL_FEATURE && (request || p->transit))
    return ISCSI_PDU_ERR_STAGE;
  if (p->transit && p->nsg <= p->csg)
    return ISCSI_PDU_ERR_STAGE;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_login (const struct iscsi_pdu *p)
{
  enum iscsi_pdu_error e = check_stages (p, true);

  if (e != ISCSI_PDU_OK)
    return e;
  if (!p->immediate)
    return ISCSI_PDU_ERR_FIXED_BIT;
  if (p->version_min > p->version_max || p->version_min > 0)
    return ISCSI_PDU_ERR_VERSION;
  if (p->itt == ISCSI_RESERVED_TAG)
    return ISCSI_PDU_ERR_TAG;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_login_resp (const struct iscsi_pdu *p)
{
  return check_stages (p, false);
}

static enum iscsi_pdu_error
check_text (const struct iscsi_pdu *p)
{
  if (p->final && p->cont)
    return ISCSI_PDU_ERR_TRANSIT_CONTINUE;
  if (p->opcode == ISCSI_OP_TEXT && p->itt == ISCSI_RESERVED_TAG)
    return ISCSI_PDU_ERR_TAG;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_data_out (const struct iscsi_pdu *p)
{
  return p->itt == ISCSI_RESERVED_TAG ? ISCSI_PDU_ERR_TAG : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_logout (const struct iscsi_pdu *p)
{
  if (p->function > 2)          /* close session/connection, recovery */
    return ISCSI_PDU_ERR_FIELD_VALUE;
  return p->itt == ISCSI_RESERVED_TAG ? ISCSI_PDU_ERR_TAG : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_snack (const struct iscsi_pdu *p)
{
  /* Data/R2T, Status, DataACK, R-Data */
  return p->function > 3 ? ISCSI_PDU_ERR_FIELD_VALUE : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_scsi_resp (const struct iscsi_pdu *p)
{
  /* 0 completed, 1 target failure, 0x80-0xff vendor specific */
  if (p->response > 1 && p->response < 0x80)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  if ((p->overflow && p->underflow)
      || (p->bidi_overflow && p->bidi_underflow))
    return ISCSI_PDU_ERR_FLAGS;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_task_mgmt_resp (const struct iscsi_pdu *p)
{
  /* 0-6 defined, 255 function rejected */
  return p->response > 6 && p->response != 255
    ? ISCSI_PDU_ERR_FIELD_VALUE : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_data_in (const struct iscsi_pdu *p)
{
  if (p->status_present && !p->final)
    return ISCSI_PDU_ERR_FLAGS;
  if (p->overflow && p->underflow)
    return ISCSI_PDU_ERR_FLAGS;
  return ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_logout_resp (const struct iscsi_pdu *p)
{
  return p->response > 3 ? ISCSI_PDU_ERR_FIELD_VALUE : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_r2t (const struct iscsi_pdu *p)
{
  if (p->desired_len == 0)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  return p->ttt == ISCSI_RESERVED_TAG ? ISCSI_PDU_ERR_TAG : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_async (const struct iscsi_pdu *p)
{
  if (p->async_event > 4 && p->async_event != 255)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  return p->itt != ISCSI_RESERVED_TAG ? ISCSI_PDU_ERR_TAG : ISCSI_PDU_OK;
}

static enum iscsi_pdu_error
check_reject (const struct iscsi_pdu *p)
{
  if (p->reason < ISCSI_REJECT_DATA_DIGEST
      || p->reason > ISCSI_REJECT_WAITING_FOR_LOGOUT)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  return p->itt != ISCSI_RESERVED_TAG ? ISCSI_PDU_ERR_TAG : ISCSI_PDU_OK;
}

enum iscsi_pdu_error
iscsi_pdu_check (const struct iscsi_pdu *p)
{
  switch (p->opcode) {
  case ISCSI_OP_NOP_OUT: return check_nop_out (p);
  case ISCSI_OP_SCSI_CMD: return check_scsi_cmd (p);
  case ISCSI_OP_TASK_MGMT: return check_task_mgmt (p);
  case ISCSI_OP_LOGIN: return check_login (p);
  case ISCSI_OP_TEXT: return check_text (p);
  case ISCSI_OP_DATA_OUT: return check_data_out (p);
  case ISCSI_OP_LOGOUT: return check_logout (p);
  case ISCSI_OP_SNACK: return check_snack (p);
  case ISCSI_OP_NOP_IN: return check_nop_in (p);
  case ISCSI_OP_SCSI_RESP: return check_scsi_resp (p);
  case ISCSI_OP_TASK_MGMT_RESP: return check_task_mgmt_resp (p);
  case ISCSI_OP_LOGIN_RESP: return check_login_resp (p);
  case ISCSI_OP_TEXT_RESP: return check_text (p);
  case ISCSI_OP_DATA_IN: return check_data_in (p);
  case ISCSI_OP_LOGOUT_RESP: return check_logout_resp (p);
  case ISCSI_OP_R2T: return check_r2t (p);
  case ISCSI_OP_ASYNC: return check_async (p);
  case ISCSI_OP_REJECT: return check_reject (p);
  default: return ISCSI_PDU_ERR_OPCODE;
  }
}

/*----------------------------------------------------------------------
 * Sequence numbers.
 */

bool
iscsi_sn_before (uint32_t a, uint32_t b)
{
  return a != b && (uint32_t) (b - a) < UINT32_C (0x80000000);
}

bool
iscsi_cmdsn_in_window (uint32_t cmdsn, uint32_t expcmdsn, uint32_t maxcmdsn)
{
  return !iscsi_sn_before (cmdsn, expcmdsn)
    && !iscsi_sn_before (maxcmdsn, cmdsn)
    && !iscsi_sn_before (maxcmdsn, expcmdsn);
}

/*----------------------------------------------------------------------
 * Answers and names.
 */

struct error_info {
  const char *name;
  uint8_t kind;                 /* enum iscsi_answer_kind */
  uint8_t reason;               /* for ISCSI_ANSWER_REJECT */
  bool close;
};

#define REJECT(n, r) { n, ISCSI_ANSWER_REJECT, ISCSI_REJECT_##r, false }
#define DROP(n)      { n, ISCSI_ANSWER_DROP, 0, true }

static const struct error_info errors[ISCSI_PDU_ERR__COUNT] = {
  [ISCSI_PDU_OK] = { "no error", ISCSI_ANSWER_NONE, 0, false },
  [ISCSI_PDU_ERR_TRUNCATED] = DROP ("truncated PDU"),
  [ISCSI_PDU_ERR_LENGTH] = DROP ("PDU longer than its header says"),
  [ISCSI_PDU_ERR_OPCODE] = REJECT ("reserved opcode", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_WRONG_SENDER] =
    REJECT ("opcode not sent by this side", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_FIXED_BIT] =
    REJECT ("fixed bit has the wrong value", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_RESERVED] =
    REJECT ("reserved bits are not zero", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_FIELD_VALUE] =
    REJECT ("reserved or invalid field value", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_FLAGS] = REJECT ("contradictory flags", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_TRANSIT_CONTINUE] =
    REJECT ("T (or F) and C bits both set", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_STAGE] = REJECT ("illegal login stage", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_VERSION] =
    REJECT ("unsupported version range", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_TAG] = REJECT ("invalid task tag", INVALID_PDU_FIELD),
  [ISCSI_PDU_ERR_DIRECTION] =
    REJECT ("R/W/F bits disagree with the lengths", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_AHS_FORBIDDEN] =
    REJECT ("AHS on a PDU that has none", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_AHS_LENGTH] =
    REJECT ("AHS entries do not fill TotalAHSLength", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_AHS_TYPE] =
    REJECT ("unknown, repeated or malformed AHS", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_DATA_FORBIDDEN] =
    REJECT ("data segment on a PDU that has none", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_DATA_TOO_LONG] = {
    "DataSegmentLength above MaxRecvDataSegmentLength",
    ISCSI_ANSWER_REJECT, ISCSI_REJECT_PROTOCOL_ERROR, true },
  [ISCSI_PDU_ERR_HEADER_DIGEST] = DROP ("header digest mismatch"),
  [ISCSI_PDU_ERR_DATA_DIGEST] =
    REJECT ("data digest mismatch", DATA_DIGEST),
  [ISCSI_PDU_ERR_PADDING] =
    REJECT ("padding bytes are not zero", PROTOCOL_ERROR),
  [ISCSI_PDU_ERR_BUFFER] = { "output buffer too small",
                             ISCSI_ANSWER_NONE, 0, false },
};

struct iscsi_pdu_answer
iscsi_pdu_error_answer (enum iscsi_pdu_error err, uint8_t opcode)
{
  struct iscsi_pdu_answer a = { ISCSI_ANSWER_DROP, 0, 0, true };
  const struct error_info *e;

  if ((unsigned) err >= ISCSI_PDU_ERR__COUNT)
    return a;
  e = &errors[err];
  a.kind = e->kind;
  a.reject_reason = e->reason;
  a.close = e->close;
  /* A Login Request is answered with a Login Response, never Reject. */
  if (opcode == ISCSI_OP_LOGIN && a.kind == ISCSI_ANSWER_REJECT) {
    a.kind = ISCSI_ANSWER_LOGIN_REJECT;
    a.reject_reason = 0;
    a.login_status = err == ISCSI_PDU_ERR_VERSION
      ? ISCSI_LOGIN_UNSUPPORTED_VERSION : ISCSI_LOGIN_INITIATOR_ERROR;
    a.close = true;
  }
  return a;
}

const char *
iscsi_pdu_error_to_string (enum iscsi_pdu_error err)
{
  if ((unsigned) err >= ISCSI_PDU_ERR__COUNT)
    return "unknown PDU error";
  return errors[err].name;
}

const char *
iscsi_reject_reason_to_string (unsigned reason)
{
  static const char *const names[] = {
    [ISCSI_REJECT_DATA_DIGEST] = "data digest error",
    [ISCSI_REJECT_SNACK] = "SNACK reject",
    [ISCSI_REJECT_PROTOCOL_ERROR] = "protocol error",
    [ISCSI_REJECT_NOT_SUPPORTED] = "command not supported",
    [ISCSI_REJECT_IMMEDIATE_CMD] = "immediate command reject",
    [ISCSI_REJECT_TASK_IN_PROGRESS] = "task in progress",
    [ISCSI_REJECT_INVALID_DATA_ACK] = "invalid data ack",
    [ISCSI_REJECT_INVALID_PDU_FIELD] = "invalid PDU field",
    [ISCSI_REJECT_LONG_OP] = "long operation reject",
    [ISCSI_REJECT_NEGOTIATION_RESET] = "negotiation reset",
    [ISCSI_REJECT_WAITING_FOR_LOGOUT] = "waiting for logout",
  };

  if (reason >= ARRAY_SIZE (names) || names[reason] == NULL)
    return "reserved reason";
  return names[reason];
}

const char *
iscsi_login_status_to_string (unsigned status)
{
  switch (status) {
  case ISCSI_LOGIN_SUCCESS: return "success";
  case ISCSI_LOGIN_TARGET_MOVED_TEMP: return "target moved temporarily";
  case ISCSI_LOGIN_TARGET_MOVED_PERM: return "target moved permanently";
  case ISCSI_LOGIN_INITIATOR_ERROR: return "initiator error";
  case ISCSI_LOGIN_AUTH_FAILURE: return "authentication failure";
  case ISCSI_LOGIN_AUTHZ_FAILURE: return "authorization failure";
  case ISCSI_LOGIN_NOT_FOUND: return "not found";
  case ISCSI_LOGIN_TARGET_REMOVED: return "target removed";
  case ISCSI_LOGIN_UNSUPPORTED_VERSION: return "unsupported version";
  case ISCSI_LOGIN_TOO_MANY_CONNECTIONS: return "too many connections";
  case ISCSI_LOGIN_MISSING_PARAMETER: return "missing parameter";
  case ISCSI_LOGIN_CANT_INCLUDE: return "can't include in session";
  case ISCSI_LOGIN_SESSION_TYPE: return "session type not supported";
  case ISCSI_LOGIN_NO_SESSION: return "session does not exist";
  case ISCSI_LOGIN_INVALID_DURING_LOGIN: return "invalid request during login";
  case ISCSI_LOGIN_TARGET_ERROR: return "target error";
  case ISCSI_LOGIN_SERVICE_UNAVAILABLE: return "service unavailable";
  case ISCSI_LOGIN_OUT_OF_RESOURCES: return "out of resources";
  default: return "unknown login status";
  }
}
