/* segmap: iSCSI login/text keys and their negotiation (RFC 7143 §6, §12,
 * §13).
 *
 * Groundwork for a future iSCSI target; nothing in segmap uses it yet.
 * The target is always the responder here: the initiator offers, the
 * target answers.
 *
 * The key table (params.c) says for each key: its type, default and
 * range, which stages may carry it, who may send it, whether it is
 * leading-only (LO) or declarative, and whether it is irrelevant in a
 * discovery session.  Negotiation (negotiate.c) turns one offer plus
 * the target's configuration into an answer and a session value:
 *
 *   type          answer                           session value
 *   boolean AND   offer AND ours  ("Yes"/"No")     the answer
 *   boolean OR    offer OR ours
 *   number min    min (offer, ours)                the answer
 *   number max    max (offer, ours)
 *   list          first offered value we accept   the answer
 *   declarative   none                             the offer
 *
 * Special answers (RFC 7143 §6.2): "Reject" for a bad value (syntax,
 * range, no acceptable list element, a leading-only key on a
 * non-leading connection, an obsolete marker interval);
 * "Irrelevant" for a key that does not apply (session-wide data keys
 * in a discovery session; FirstBurstLength with InitialR2T=Yes and
 * ImmediateData=No); "NotUnderstood" for unknown keys, X- and X#
 * extensions.  Breaking the rules of the login itself fails the login
 * (ISCSI_NEG_FAIL with a Login status): a key in the wrong stage, a key
 * only the target may send, a key negotiated twice in one login (RFC
 * 7143 §6.2 "MUST result in a Login reject"), an invalid declaration
 * (MaxRecvDataSegmentLength 0, a name that is not an iSCSI name), CHAP
 * keys outside a CHAP security stage or with malformed values.
 *
 * Cross-key rules are applied after a whole request has been seen
 * (iscsi_negotiate_text): FirstBurstLength is lowered to MaxBurstLength
 * if it would exceed it, or answered Irrelevant when unsolicited data
 * is impossible.
 *
 * CHAP_I, CHAP_C, CHAP_N and CHAP_R are only syntax-checked here; the
 * challenge/response exchange itself belongs to a later authenticator.
 */
#ifndef SEGMAP_ISCSI_PARAMS_H
#define SEGMAP_ISCSI_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "iscsi/pdu.h"
#include "iscsi/text.h"

#define ISCSI_NAME_MAX 223      /* RFC 7143 §4.2.7.1 */

enum iscsi_key {
  ISCSI_KEY_HEADER_DIGEST, ISCSI_KEY_DATA_DIGEST, ISCSI_KEY_MAX_CONNECTIONS,
  ISCSI_KEY_SEND_TARGETS, ISCSI_KEY_TARGET_NAME, ISCSI_KEY_INITIATOR_NAME,
  ISCSI_KEY_TARGET_ALIAS, ISCSI_KEY_INITIATOR_ALIAS,
  ISCSI_KEY_TARGET_ADDRESS, ISCSI_KEY_TARGET_PORTAL_GROUP_TAG,
  ISCSI_KEY_INITIAL_R2T, ISCSI_KEY_IMMEDIATE_DATA,
  ISCSI_KEY_MAX_RECV_DSL, ISCSI_KEY_MAX_BURST_LENGTH,
  ISCSI_KEY_FIRST_BURST_LENGTH, ISCSI_KEY_DEFAULT_TIME2WAIT,
  ISCSI_KEY_DEFAULT_TIME2RETAIN, ISCSI_KEY_MAX_OUTSTANDING_R2T,
  ISCSI_KEY_DATA_PDU_IN_ORDER, ISCSI_KEY_DATA_SEQUENCE_IN_ORDER,
  ISCSI_KEY_ERROR_RECOVERY_LEVEL, ISCSI_KEY_SESSION_TYPE,
  ISCSI_KEY_AUTH_METHOD, ISCSI_KEY_CHAP_A, ISCSI_KEY_CHAP_I,
  ISCSI_KEY_CHAP_C, ISCSI_KEY_CHAP_N, ISCSI_KEY_CHAP_R,
  ISCSI_KEY_IF_MARKER, ISCSI_KEY_OF_MARKER, ISCSI_KEY_IF_MARK_INT,
  ISCSI_KEY_OF_MARK_INT, ISCSI_KEY_TASK_REPORTING,
  ISCSI_KEY__COUNT
};

enum iscsi_key_type {
  ISCSI_KT_BOOL_AND,            /* result: offer AND ours */
  ISCSI_KT_BOOL_OR,             /* result: offer OR ours */
  ISCSI_KT_NUM_MIN,             /* result: the smaller */
  ISCSI_KT_NUM_MAX,             /* result: the larger */
  ISCSI_KT_NUM_DECL,            /* declarative number */
  ISCSI_KT_LIST,                /* first acceptable offered value */
  ISCSI_KT_STRING,              /* declarative string */
  ISCSI_KT_NAME,                /* declarative iSCSI name */
  ISCSI_KT_CHAP,                /* CHAP exchange: for the authenticator */
  ISCSI_KT_SEND_TARGETS,        /* a discovery request */
  ISCSI_KT_MARKER,              /* obsolete IFMarker/OFMarker: "No" */
  ISCSI_KT_MARK_INT,            /* obsolete IF/OFMarkInt: "Reject" */
};

/* Stage masks (1 << enum iscsi_stage). */
#define ISCSI_IN_SECURITY    (1u << ISCSI_STAGE_SECURITY)
#define ISCSI_IN_OPERATIONAL (1u << ISCSI_STAGE_OPERATIONAL)
#define ISCSI_IN_FULL_FEATURE (1u << ISCSI_STAGE_FULL_FEATURE)
#define ISCSI_IN_LOGIN (ISCSI_IN_SECURITY | ISCSI_IN_OPERATIONAL)

/* Who may send a key. */
#define ISCSI_BY_INITIATOR 0x1u
#define ISCSI_BY_TARGET    0x2u

/* Key properties (ISCSI_KF_*). */
#define ISCSI_KF_LEADING_ONLY  0x1u   /* LO: leading connection only */
#define ISCSI_KF_CONNECTION    0x2u   /* CO scope (else session-wide) */
#define ISCSI_KF_NO_DISCOVERY  0x4u   /* Irrelevant in discovery sessions */

struct iscsi_key_desc {
  const char *name;
  uint8_t key;                  /* enum iscsi_key */
  uint8_t type;                 /* enum iscsi_key_type */
  uint8_t stages;               /* ISCSI_IN_* */
  uint8_t senders;              /* ISCSI_BY_* */
  uint8_t flags;                /* ISCSI_KF_* */
  uint32_t min, max;            /* numbers: the valid range */
  const char *def;              /* default, as on the wire (or NULL) */
};

enum iscsi_digest { ISCSI_DIGEST_NONE, ISCSI_DIGEST_CRC32C };
enum iscsi_session_type { ISCSI_SESSION_NORMAL, ISCSI_SESSION_DISCOVERY };
enum iscsi_auth {
  ISCSI_AUTH_NONE, ISCSI_AUTH_CHAP,
  ISCSI_AUTH_REJECTED,          /* no acceptable method was offered */
};
#define ISCSI_CHAP_MD5 5        /* CHAP_A value */

/* The operational values of a session and connection. */
struct iscsi_params {
  uint8_t header_digest, data_digest;   /* enum iscsi_digest */
  bool initial_r2t, immediate_data;
  bool data_pdu_in_order, data_sequence_in_order;
  uint8_t session_type;         /* enum iscsi_session_type */
  uint8_t auth_method;          /* enum iscsi_auth */
  uint8_t chap_a;               /* chosen CHAP algorithm, 0 before */
  uint8_t error_recovery_level;
  uint32_t max_connections;
  uint32_t max_recv_dsl;        /* the peer's: what we may send */
  uint32_t max_burst_length, first_burst_length;
  uint32_t default_time2wait, default_time2retain;
  uint32_t max_outstanding_r2t;
  char initiator_name[ISCSI_NAME_MAX + 1];
  char target_name[ISCSI_NAME_MAX + 1];
  char initiator_alias[ISCSI_VALUE_MAX + 1];
  uint64_t seen;                /* 1 << enum iscsi_key negotiated */
};

/* What the target accepts and prefers. */
struct iscsi_target_config {
  unsigned digests;             /* 1 << enum iscsi_digest accepted */
  unsigned auth_methods;        /* 1 << enum iscsi_auth accepted */
  struct iscsi_params want;     /* our values; want.max_recv_dsl: ours */
  uint16_t portal_group_tag;
  const char *target_alias;     /* or NULL */
};

/* One login (or one Text exchange in full feature phase). */
struct iscsi_negotiation {
  const struct iscsi_target_config *cfg;
  struct iscsi_params *sess;    /* in/out */
  uint8_t stage;                /* enum iscsi_stage: the request's CSG */
  bool leading;                 /* leading connection (TSIH 0) */
  bool declared_mrdsl;          /* our MaxRecvDataSegmentLength was sent */
  bool declared_tpgt;           /* TargetPortalGroupTag was sent */
  /* set by iscsi_negotiate_text, pointing into its request: */
  const char *send_targets;     /* SendTargets value, or NULL */
  const struct iscsi_text_pair *chap[ISCSI_KEY__COUNT];  /* by key */
};

enum iscsi_neg_result {
  ISCSI_NEG_ANSWER,             /* send KEY=answer */
  ISCSI_NEG_SILENT,             /* declarative, accepted: no answer */
  ISCSI_NEG_AUTH,               /* a well-formed CHAP key: authenticator */
  ISCSI_NEG_SEND_TARGETS,       /* the caller answers with targets */
  ISCSI_NEG_FAIL,               /* the login fails with *status */
};

/* Key table. */
const struct iscsi_key_desc *iscsi_key_lookup (const char *name);
const struct iscsi_key_desc *iscsi_key_desc (enum iscsi_key key);

/* RFC 7143 defaults (what holds when a key is never negotiated). */
void iscsi_params_defaults (struct iscsi_params *p);
/* Defaults for the target: digests None and CRC32C, AuthMethod None,
 * ErrorRecoveryLevel 0, MaxConnections 1, our MaxRecvDSL 256 KiB. */
void iscsi_target_config_defaults (struct iscsi_target_config *cfg);

/* Value syntax (RFC 7143 §6.1): a decimal or 0x-hex number up to MAX.
 * Returns 0 or -1. */
int iscsi_parse_number (const char *s, uint64_t max, uint64_t *out);
/* "Yes" -> 1, "No" -> 0, anything else -1. */
int iscsi_parse_bool (const char *s);
/* An iSCSI name: iqn.YYYY-MM.reversed.domain[:anything], eui. + 16 hex,
 * naa. + 16 or 32 hex; at most 223 bytes of [a-zA-Z0-9.-:] or UTF-8. */
bool iscsi_name_valid (const char *name);

/* Negotiate one KEY=VALUE offered by the initiator: fills ANSWER (a
 * value or Reject/Irrelevant/NotUnderstood) and updates n->sess.  On
 * ISCSI_NEG_FAIL, *STATUS is the Login status to answer with. */
enum iscsi_neg_result iscsi_negotiate_key (struct iscsi_negotiation *n,
                                           const char *key,
                                           const char *value,
                                           char *answer, size_t answer_size,
                                           uint16_t *status);

/* Negotiate every pair of REQ and append the answers to RESP in
 * request order, then the target's own declarations due in this stage
 * (TargetPortalGroupTag, MaxRecvDataSegmentLength).  CHAP keys land in
 * n->chap[key], SendTargets in n->send_targets.  Returns 0, a Login
 * status when the login must fail, or -1 (sm_error) if RESP cannot
 * grow. */
int iscsi_negotiate_text (struct iscsi_negotiation *n,
                          const struct iscsi_text *req,
                          struct iscsi_text_builder *resp);

const char *iscsi_key_type_to_string (enum iscsi_key_type type);
const char *iscsi_neg_result_to_string (enum iscsi_neg_result r);

#endif /* SEGMAP_ISCSI_PARAMS_H */
