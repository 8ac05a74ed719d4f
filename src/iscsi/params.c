/* segmap: the iSCSI key table and value syntax (RFC 7143 §6.1, §12, §13).
 *
 * One row per key the target understands.  Columns: type (how the
 * result is computed), the stages that may carry it, who may send it,
 * flags (leading-only, connection scope, irrelevant in discovery), the
 * numeric range and the RFC default as it would appear on the wire.
 * tests/unit/test-text.c checks that iscsi_params_defaults agrees with
 * the def column.
 *
 * Numbers follow RFC 7143 §6.1: decimal without leading zeros, or 0x
 * hex; anything else is not a number.  iSCSI names follow §4.2.7: the
 * iqn., eui. and naa. formats, at most 223 bytes.
 */
#include <config.h>

#include <string.h>

#include "common/cleanup.h"
#include "iscsi/params.h"

#define I ISCSI_BY_INITIATOR
#define T ISCSI_BY_TARGET
#define SEC ISCSI_IN_SECURITY
#define OPER ISCSI_IN_OPERATIONAL
#define FFP ISCSI_IN_FULL_FEATURE
#define LOGIN ISCSI_IN_LOGIN
#define ALL (LOGIN | FFP)
#define LO ISCSI_KF_LEADING_ONLY
#define CO ISCSI_KF_CONNECTION
#define ND ISCSI_KF_NO_DISCOVERY
#define MAXLEN 16777215u        /* 2^24 - 1 */

#define KEY(nm, k, ty, st, snd, fl, mn, mx, df) \
  [ISCSI_KEY_##k] = { nm, ISCSI_KEY_##k, ISCSI_KT_##ty, st, snd, fl, mn, mx, df }

static const struct iscsi_key_desc keys[ISCSI_KEY__COUNT] = {
  KEY ("HeaderDigest", HEADER_DIGEST, LIST, OPER, I | T, CO, 0, 0, "None"),
  KEY ("DataDigest", DATA_DIGEST, LIST, OPER, I | T, CO, 0, 0, "None"),
  KEY ("MaxConnections", MAX_CONNECTIONS, NUM_MIN, OPER, I | T, LO | ND,
       1, 65535, "1"),
  KEY ("SendTargets", SEND_TARGETS, SEND_TARGETS, FFP, I, 0, 0, 0, NULL),
  KEY ("TargetName", TARGET_NAME, NAME, LOGIN, I | T, 0, 0, 0, NULL),
  KEY ("InitiatorName", INITIATOR_NAME, NAME, LOGIN, I, 0, 0, 0, NULL),
  KEY ("TargetAlias", TARGET_ALIAS, STRING, ALL, T, 0, 0, 0, NULL),
  KEY ("InitiatorAlias", INITIATOR_ALIAS, STRING, ALL, I, 0, 0, 0, NULL),
  KEY ("TargetAddress", TARGET_ADDRESS, STRING, ALL, T, 0, 0, 0, NULL),
  KEY ("TargetPortalGroupTag", TARGET_PORTAL_GROUP_TAG, NUM_DECL, LOGIN, T,
       0, 0, 65535, NULL),
  KEY ("InitialR2T", INITIAL_R2T, BOOL_OR, OPER, I | T, LO | ND, 0, 1,
       "Yes"),
  KEY ("ImmediateData", IMMEDIATE_DATA, BOOL_AND, OPER, I | T, LO | ND,
       0, 1, "Yes"),
  KEY ("MaxRecvDataSegmentLength", MAX_RECV_DSL, NUM_DECL, OPER | FFP,
       I | T, CO, 512, MAXLEN, "8192"),
  KEY ("MaxBurstLength", MAX_BURST_LENGTH, NUM_MIN, OPER, I | T, LO | ND,
       512, MAXLEN, "262144"),
  KEY ("FirstBurstLength", FIRST_BURST_LENGTH, NUM_MIN, OPER, I | T,
       LO | ND, 512, MAXLEN, "65536"),
  KEY ("DefaultTime2Wait", DEFAULT_TIME2WAIT, NUM_MAX, OPER, I | T, LO,
       0, 3600, "2"),
  KEY ("DefaultTime2Retain", DEFAULT_TIME2RETAIN, NUM_MIN, OPER, I | T, LO,
       0, 3600, "20"),
  KEY ("MaxOutstandingR2T", MAX_OUTSTANDING_R2T, NUM_MIN, OPER, I | T,
       LO | ND, 1, 65535, "1"),
  KEY ("DataPDUInOrder", DATA_PDU_IN_ORDER, BOOL_OR, OPER, I | T, LO | ND,
       0, 1, "Yes"),
  KEY ("DataSequenceInOrder", DATA_SEQUENCE_IN_ORDER, BOOL_OR, OPER, I | T,
       LO | ND, 0, 1, "Yes"),
  KEY ("ErrorRecoveryLevel", ERROR_RECOVERY_LEVEL, NUM_MIN, OPER, I | T, LO,
       0, 2, "0"),
  KEY ("SessionType", SESSION_TYPE, STRING, LOGIN, I, LO, 0, 0, "Normal"),
  KEY ("AuthMethod", AUTH_METHOD, LIST, SEC, I | T, CO, 0, 0, "None"),
  KEY ("CHAP_A", CHAP_A, LIST, SEC, I | T, CO, 0, 0, NULL),
  KEY ("CHAP_I", CHAP_I, CHAP, SEC, I | T, CO, 0, 255, NULL),
  KEY ("CHAP_C", CHAP_C, CHAP, SEC, I | T, CO, 0, 0, NULL),
  KEY ("CHAP_N", CHAP_N, CHAP, SEC, I | T, CO, 0, 0, NULL),
  KEY ("CHAP_R", CHAP_R, CHAP, SEC, I | T, CO, 0, 0, NULL),
  KEY ("IFMarker", IF_MARKER, MARKER, OPER, I | T, CO, 0, 1, "No"),
  KEY ("OFMarker", OF_MARKER, MARKER, OPER, I | T, CO, 0, 1, "No"),
  KEY ("IFMarkInt", IF_MARK_INT, MARK_INT, OPER, I | T, CO, 0, 0, NULL),
  KEY ("OFMarkInt", OF_MARK_INT, MARK_INT, OPER, I | T, CO, 0, 0, NULL),
  KEY ("TaskReporting", TASK_REPORTING, LIST, OPER, I | T, LO, 0, 0,
       "RFC3720"),
};

const struct iscsi_key_desc *
iscsi_key_desc (enum iscsi_key key)
{
  return (unsigned) key < ISCSI_KEY__COUNT ? &keys[key] : NULL;
}

const struct iscsi_key_desc *
iscsi_key_lookup (const char *name)
{
  size_t i;

  for (i = 0; i < ISCSI_KEY__COUNT; i++)
    if (strcmp (keys[i].name, name) == 0)
      return &keys[i];
  return NULL;
}

void
iscsi_params_defaults (struct iscsi_params *p)
{
  memset (p, 0, sizeof *p);
  p->header_digest = p->data_digest = ISCSI_DIGEST_NONE;
  p->initial_r2t = p->immediate_data = true;
  p->data_pdu_in_order = p->data_sequence_in_order = true;
  p->session_type = ISCSI_SESSION_NORMAL;
  p->auth_method = ISCSI_AUTH_NONE;
  p->error_recovery_level = 0;
  p->max_connections = 1;
  p->max_recv_dsl = ISCSI_LOGIN_DSL;
  p->max_burst_length = 262144;
  p->first_burst_length = 65536;
  p->default_time2wait = 2;
  p->default_time2retain = 20;
  p->max_outstanding_r2t = 1;
}

void
iscsi_target_config_defaults (struct iscsi_target_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->digests = 1u << ISCSI_DIGEST_NONE | 1u << ISCSI_DIGEST_CRC32C;
  cfg->auth_methods = 1u << ISCSI_AUTH_NONE;
  iscsi_params_defaults (&cfg->want);
  cfg->want.max_recv_dsl = 262144;
  cfg->want.max_burst_length = 1048576;
  cfg->portal_group_tag = 1;
}

/*----------------------------------------------------------------------
 * Value syntax.
 */

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
iscsi_parse_number (const char *s, uint64_t max, uint64_t *out)
{
  unsigned base = 10;
  uint64_t v = 0;
  int d;

  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  else if (s[0] == '0' && s[1] != '\0')
    return -1;                  /* no leading zeros */
  if (*s == '\0')
    return -1;
  for (; *s; s++) {
    d = base == 16 ? hex_value (*s) : (*s >= '0' && *s <= '9' ? *s - '0' : -1);
    if (d < 0 || (uint64_t) d > max || v > (max - d) / base)
      return -1;
    v = v * base + d;
  }
  *out = v;
  return 0;
}

int
iscsi_parse_bool (const char *s)
{
  if (strcmp (s, "Yes") == 0)
    return 1;
  if (strcmp (s, "No") == 0)
    return 0;
  return -1;
}

static bool
all_hex (const char *s, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (hex_value (s[i]) < 0)
      return false;
  return strlen (s) == n;
}

static bool
name_char (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
    || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':'
    || c >= 0x80;               /* UTF-8, validated by the caller */
}

static bool
is_digits (const char *s, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

/* "YYYY-MM.naming.authority[:unique]" after "iqn." */
static bool
iqn_valid (const char *s)
{
  size_t i;

  if (strlen (s) < 9 || !is_digits (s, 4) || s[4] != '-'
      || !is_digits (&s[5], 2) || s[7] != '.')
    return false;
  if ((s[5] - '0') * 10 + (s[6] - '0') < 1
      || (s[5] - '0') * 10 + (s[6] - '0') > 12)
    return false;
  if (!name_char (s[8]) || s[8] == '.' || s[8] == ':' || s[8] == '-')
    return false;
  for (i = 8; s[i]; i++)
    if (!name_char (s[i]))
      return false;
  return true;
}

bool
iscsi_name_valid (const char *name)
{
  size_t len = strlen (name);

  if (len == 0 || len > ISCSI_NAME_MAX || !iscsi_utf8_valid (name, len))
    return false;
  if (strncmp (name, "iqn.", 4) == 0)
    return iqn_valid (name + 4);
  if (strncmp (name, "eui.", 4) == 0)
    return all_hex (name + 4, 16);
  if (strncmp (name, "naa.", 4) == 0)
    return all_hex (name + 4, 16) || all_hex (name + 4, 32);
  return false;
}

const char *
iscsi_key_type_to_string (enum iscsi_key_type type)
{
  static const char *const names[] = {
    [ISCSI_KT_BOOL_AND] = "boolean (AND)",
    [ISCSI_KT_BOOL_OR] = "boolean (OR)",
    [ISCSI_KT_NUM_MIN] = "number (minimum)",
    [ISCSI_KT_NUM_MAX] = "number (maximum)",
    [ISCSI_KT_NUM_DECL] = "number (declarative)",
    [ISCSI_KT_LIST] = "list",
    [ISCSI_KT_STRING] = "string (declarative)",
    [ISCSI_KT_NAME] = "iSCSI name (declarative)",
    [ISCSI_KT_CHAP] = "CHAP exchange",
    [ISCSI_KT_SEND_TARGETS] = "discovery request",
    [ISCSI_KT_MARKER] = "obsolete marker",
    [ISCSI_KT_MARK_INT] = "obsolete marker interval",
  };

  if ((unsigned) type >= ARRAY_SIZE (names))
    return "unknown key type";
  return names[type];
}

const char *
iscsi_neg_result_to_string (enum iscsi_neg_result r)
{
  switch (r) {
  case ISCSI_NEG_ANSWER: return "answer";
  case ISCSI_NEG_SILENT: return "accepted (declarative)";
  case ISCSI_NEG_AUTH: return "for the authenticator";
  case ISCSI_NEG_SEND_TARGETS: return "send targets";
  case ISCSI_NEG_FAIL: return "login fails";
  default: return "unknown result";
  }
}
