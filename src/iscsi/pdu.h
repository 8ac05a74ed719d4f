/* segmap: iSCSI PDUs (RFC 7143 §11) -- decode, validate, encode, frame.
 *
 * Groundwork for a future iSCSI target: this layer is pure (no I/O, no
 * allocation, no global state) and nothing in segmap uses it yet.
 *
 * Wire layout of every PDU:
 *
 *   BHS (48) | AHS (TotalAHSLength*4) | [HeaderDigest 4] |
 *   DataSegment (DataSegmentLength) | pad to 4 | [DataDigest 4]
 *
 * (the data digest is present only when the data segment is not empty).
 *
 * A reader works in two steps, so that it never allocates on the word of
 * an unchecked header:
 *
 *   1. read 48 bytes; iscsi_pdu_need() says how long the whole PDU is,
 *      refusing a DataSegmentLength above the negotiated
 *      MaxRecvDataSegmentLength before anything is allocated;
 *   2. read the rest; iscsi_pdu_decode() checks the digests, decodes the
 *      BHS into struct iscsi_pdu and validates it.
 *
 * Decoding is table-driven: each opcode has a list of fields (byte
 * offset, bit mask or width, struct member).  Bits the RFC fixes to a
 * value (the "1" F bit of single-PDU requests, the I bit of Login) are
 * fields too and are checked.  Bits no field covers are reserved: RFC
 * 7143 §11 says a receiver MUST ignore them, so they are checked only
 * in strict mode (lim->strict), which tests and the fuzzer use to prove
 * that the encoder is canonical.  Reserved *code values* in defined
 * fields (task attribute 5-7, CSG 2, TMF function 0, ...) are protocol
 * errors in every mode.  Each opcode then has a check function for the
 * rules that tie fields together (Login T+C, NOP-Out tags, SCSI Command
 * R/W/F, ...).  The encoder runs the same checks, so whatever it
 * produces decodes again to the same struct.
 *
 * Errors are returned as enum iscsi_pdu_error, never through sm_error:
 * bad PDUs are expected input; iscsi_pdu_error_answer() says what the
 * target should answer (Reject reason, Login reject status, or drop the
 * connection) and iscsi_pdu_error_to_string() what to log.
 *
 * Digests are CRC32C (isa-l's crc32_iscsi, seeded with ~0 and inverted
 * at the end, RFC 3720 B.4) sent least significant byte first.
 */
#ifndef SEGMAP_ISCSI_PDU_H
#define SEGMAP_ISCSI_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISCSI_BHS_SIZE        48
#define ISCSI_DIGEST_SIZE     4
#define ISCSI_RESERVED_TAG    UINT32_C(0xffffffff)
#define ISCSI_MAX_DSL         UINT32_C(0xffffff)     /* 24-bit field */
#define ISCSI_LOGIN_DSL       8192    /* MaxRecvDataSegmentLength default */
#define ISCSI_CDB_SIZE        16      /* CDB bytes in the BHS */

enum iscsi_opcode {
  /* initiator -> target */
  ISCSI_OP_NOP_OUT        = 0x00,
  ISCSI_OP_SCSI_CMD       = 0x01,
  ISCSI_OP_TASK_MGMT      = 0x02,
  ISCSI_OP_LOGIN          = 0x03,
  ISCSI_OP_TEXT           = 0x04,
  ISCSI_OP_DATA_OUT       = 0x05,
  ISCSI_OP_LOGOUT         = 0x06,
  ISCSI_OP_SNACK          = 0x10,
  /* target -> initiator */
  ISCSI_OP_NOP_IN         = 0x20,
  ISCSI_OP_SCSI_RESP      = 0x21,
  ISCSI_OP_TASK_MGMT_RESP = 0x22,
  ISCSI_OP_LOGIN_RESP     = 0x23,
  ISCSI_OP_TEXT_RESP      = 0x24,
  ISCSI_OP_DATA_IN        = 0x25,
  ISCSI_OP_LOGOUT_RESP    = 0x26,
  ISCSI_OP_R2T            = 0x31,
  ISCSI_OP_ASYNC          = 0x32,
  ISCSI_OP_REJECT         = 0x3f,
};

/* What went wrong with a PDU (or, for the encoder, with a struct). */
enum iscsi_pdu_error {
  ISCSI_PDU_OK = 0,
  ISCSI_PDU_ERR_TRUNCATED,      /* fewer bytes than the PDU needs */
  ISCSI_PDU_ERR_LENGTH,         /* more bytes than the header describes */
  ISCSI_PDU_ERR_OPCODE,         /* reserved / unknown opcode */
  ISCSI_PDU_ERR_WRONG_SENDER,   /* a target opcode from an initiator, etc. */
  ISCSI_PDU_ERR_FIXED_BIT,      /* a bit the RFC fixes has the other value */
  ISCSI_PDU_ERR_RESERVED,       /* strict mode: reserved bits not zero */
  ISCSI_PDU_ERR_FIELD_VALUE,    /* reserved or invalid value in a field */
  ISCSI_PDU_ERR_FLAGS,          /* contradictory flags (O+U, S without F) */
  ISCSI_PDU_ERR_TRANSIT_CONTINUE, /* Login T+C, Text F+C both set */
  ISCSI_PDU_ERR_STAGE,          /* Login: bad CSG, or NSG not after CSG */
  ISCSI_PDU_ERR_VERSION,        /* Login: min > max, or no version 0 */
  ISCSI_PDU_ERR_TAG,            /* reserved ITT on a task, NOP tag rules */
  ISCSI_PDU_ERR_DIRECTION,      /* SCSI Command R/W/F vs lengths and data */
  ISCSI_PDU_ERR_AHS_FORBIDDEN,  /* an AHS on a PDU that carries none */
  ISCSI_PDU_ERR_AHS_LENGTH,     /* AHS entries do not fill TotalAHSLength */
  ISCSI_PDU_ERR_AHS_TYPE,       /* unknown, repeated or malformed AHS */
  ISCSI_PDU_ERR_DATA_FORBIDDEN, /* a data segment on a PDU without one */
  ISCSI_PDU_ERR_DATA_TOO_LONG,  /* DataSegmentLength > MaxRecvDSL */
  ISCSI_PDU_ERR_HEADER_DIGEST,  /* header CRC32C mismatch */
  ISCSI_PDU_ERR_DATA_DIGEST,    /* data CRC32C mismatch */
  ISCSI_PDU_ERR_PADDING,        /* strict mode: pad bytes not zero */
  ISCSI_PDU_ERR_BUFFER,         /* encoder: output buffer too small */
  ISCSI_PDU_ERR__COUNT
};

/* Reject reasons (RFC 7143 §11.17.1). */
enum iscsi_reject_reason {
  ISCSI_REJECT_DATA_DIGEST       = 0x02,
  ISCSI_REJECT_SNACK             = 0x03,
  ISCSI_REJECT_PROTOCOL_ERROR    = 0x04,
  ISCSI_REJECT_NOT_SUPPORTED     = 0x05,
  ISCSI_REJECT_IMMEDIATE_CMD     = 0x06,
  ISCSI_REJECT_TASK_IN_PROGRESS  = 0x07,
  ISCSI_REJECT_INVALID_DATA_ACK  = 0x08,
  ISCSI_REJECT_INVALID_PDU_FIELD = 0x09,
  ISCSI_REJECT_LONG_OP           = 0x0a,
  ISCSI_REJECT_NEGOTIATION_RESET = 0x0b,  /* deprecated */
  ISCSI_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

/* Login Response status, (class << 8) | detail (RFC 7143 §11.13.5). */
enum iscsi_login_status {
  ISCSI_LOGIN_SUCCESS              = 0x0000,
  ISCSI_LOGIN_TARGET_MOVED_TEMP    = 0x0101,
  ISCSI_LOGIN_TARGET_MOVED_PERM    = 0x0102,
  ISCSI_LOGIN_INITIATOR_ERROR      = 0x0200,
  ISCSI_LOGIN_AUTH_FAILURE         = 0x0201,
  ISCSI_LOGIN_AUTHZ_FAILURE        = 0x0202,
  ISCSI_LOGIN_NOT_FOUND            = 0x0203,
  ISCSI_LOGIN_TARGET_REMOVED       = 0x0204,
  ISCSI_LOGIN_UNSUPPORTED_VERSION  = 0x0205,
  ISCSI_LOGIN_TOO_MANY_CONNECTIONS = 0x0206,
  ISCSI_LOGIN_MISSING_PARAMETER    = 0x0207,
  ISCSI_LOGIN_CANT_INCLUDE         = 0x0208,
  ISCSI_LOGIN_SESSION_TYPE         = 0x0209,
  ISCSI_LOGIN_NO_SESSION           = 0x020a,
  ISCSI_LOGIN_INVALID_DURING_LOGIN = 0x020b,
  ISCSI_LOGIN_TARGET_ERROR         = 0x0300,
  ISCSI_LOGIN_SERVICE_UNAVAILABLE  = 0x0301,
  ISCSI_LOGIN_OUT_OF_RESOURCES     = 0x0302,
};

/* Login stages (CSG/NSG values). */
enum iscsi_stage {
  ISCSI_STAGE_SECURITY     = 0,
  ISCSI_STAGE_OPERATIONAL  = 1,
  ISCSI_STAGE_FULL_FEATURE = 3,
};

/* SCSI Command task attributes (ATTR). */
enum iscsi_task_attr {
  ISCSI_ATTR_UNTAGGED = 0, ISCSI_ATTR_SIMPLE = 1, ISCSI_ATTR_ORDERED = 2,
  ISCSI_ATTR_HEAD_OF_QUEUE = 3, ISCSI_ATTR_ACA = 4,
};

/* Task management functions (Function field of 0x02). */
enum iscsi_tmf {
  ISCSI_TMF_ABORT_TASK = 1, ISCSI_TMF_ABORT_TASK_SET = 2,
  ISCSI_TMF_CLEAR_ACA = 3, ISCSI_TMF_CLEAR_TASK_SET = 4,
  ISCSI_TMF_LUN_RESET = 5, ISCSI_TMF_TARGET_WARM_RESET = 6,
  ISCSI_TMF_TARGET_COLD_RESET = 7, ISCSI_TMF_TASK_REASSIGN = 8,
};

/* What the target should do about a bad PDU. */
enum iscsi_answer_kind {
  ISCSI_ANSWER_NONE,            /* the PDU is fine */
  ISCSI_ANSWER_REJECT,          /* send Reject(reason) with the header */
  ISCSI_ANSWER_LOGIN_REJECT,    /* Login Response(status), then close */
  ISCSI_ANSWER_DROP,            /* framing is lost: close the connection */
};

struct iscsi_pdu_answer {
  enum iscsi_answer_kind kind;
  uint8_t reject_reason;        /* enum iscsi_reject_reason */
  uint16_t login_status;        /* enum iscsi_login_status */
  bool close;                   /* close the connection after answering */
};

/* How PDUs are read or written on one connection. */
struct iscsi_pdu_limits {
  uint32_t max_recv_dsl;        /* decode: ours; encode: the peer's */
  bool header_digest;           /* CRC32C header digest negotiated */
  bool data_digest;             /* CRC32C data digest negotiated */
  bool from_target;             /* decode target PDUs (initiator side) */
  bool strict;                  /* also refuse non-zero reserved bits/pad */
};

/* Where the parts of one PDU lie, from its BHS. */
struct iscsi_frame {
  size_t ahs_len;               /* TotalAHSLength * 4 */
  size_t header_len;            /* 48 + ahs_len */
  size_t hdigest_len;           /* 0 or 4 */
  size_t data_off;              /* first byte of the data segment */
  size_t data_len;              /* DataSegmentLength */
  size_t pad_len;               /* 0..3 */
  size_t ddigest_len;           /* 0 or 4 (only with data) */
  size_t total;                 /* the whole PDU */
};

/* A decoded PDU.  Each opcode uses the fields its BHS has (RFC 7143
 * §11); the others are zero.  Pointers (data, ext_cdb) point into the
 * frame that was decoded, or, for the encoder, into caller memory. */
struct iscsi_pdu {
  uint8_t opcode;               /* enum iscsi_opcode */
  bool immediate;               /* I (requests) */
  /* byte 1 */
  bool final;                   /* F */
  bool cont;                    /* C: Login, Text */
  bool transit;                 /* T: Login */
  bool read, write;             /* R, W: SCSI Command */
  uint8_t attr;                 /* ATTR: SCSI Command */
  uint8_t csg, nsg;             /* Login */
  uint8_t function;             /* TMF function, Logout reason, SNACK type */
  bool ack;                     /* A: Data-In */
  bool status_present;          /* S: Data-In */
  bool bidi_overflow, bidi_underflow, overflow, underflow; /* o u O U */
  /* bytes 2-3 */
  uint8_t version_max;          /* Login */
  uint8_t version_min;          /* Login: min (request), active (response) */
  uint8_t response;             /* SCSI, TMF and Logout Responses */
  uint8_t status;               /* SCSI status: SCSI Response, Data-In */
  uint8_t reason;               /* Reject */
  /* bytes 4-7 */
  uint8_t total_ahs_len;        /* 4-byte words (set by decode only) */
  uint32_t data_len;            /* DataSegmentLength */
  /* bytes 8-47 */
  uint64_t lun;                 /* the 8 LUN bytes, big-endian */
  uint64_t isid;                /* 48 bits: Login */
  uint16_t tsih;                /* Login */
  uint32_t itt;                 /* Initiator Task Tag */
  uint32_t ttt;                 /* TTT; TMF Referenced Task Tag; SNACK Tag */
  uint16_t cid;                 /* Login, Logout */
  uint32_t cmdsn, expstatsn;
  uint32_t statsn, expcmdsn, maxcmdsn;
  uint32_t exp_xfer_len;        /* SCSI Command */
  uint32_t refcmdsn;            /* TMF */
  uint32_t exp_datasn;          /* TMF, SCSI Response */
  uint32_t datasn;              /* Data-Out, Data-In, Reject (DataSN/R2TSN) */
  uint32_t r2tsn;               /* R2T */
  uint32_t buffer_offset;       /* Data-Out, Data-In, R2T */
  uint32_t desired_len;         /* R2T: Desired Data Transfer Length */
  uint32_t residual, bidi_residual;
  uint32_t begrun, runlength;   /* SNACK */
  uint16_t time2wait, time2retain;  /* Logout Response */
  uint8_t status_class, status_detail;  /* Login Response */
  uint8_t async_event, async_vcode;     /* Async Message */
  uint16_t param1, param2, param3;      /* Async Message */
  uint8_t cdb[ISCSI_CDB_SIZE];  /* SCSI Command */
  /* AHS (SCSI Command only) */
  const uint8_t *ext_cdb;       /* CDB bytes after the first 16 */
  uint16_t ext_cdb_len;
  bool has_bidi_read_len;
  uint32_t bidi_read_len;       /* Bidirectional Read Expected Length */
  bool bidi_ahs_first;          /* it came before the Extended CDB (RFC
                                   7143 sets no order; encode keeps it) */
  /* the data segment (data_len bytes, without padding) */
  const uint8_t *data;
};

/* Default limits: login MaxRecvDataSegmentLength, no digests,
 * initiator PDUs, lenient about reserved bits. */
void iscsi_pdu_limits_init (struct iscsi_pdu_limits *lim);

/* Given the LEN bytes of a PDU received so far, set *NEED to the bytes
 * the whole PDU takes (48 while LEN < 48).  Fails (ERR_DATA_TOO_LONG)
 * as soon as the BHS shows a data segment above lim->max_recv_dsl, so
 * the reader never allocates more than that before validating. */
enum iscsi_pdu_error iscsi_pdu_need (const uint8_t *buf, size_t len,
                                     const struct iscsi_pdu_limits *lim,
                                     size_t *need);

/* The layout of the PDU whose BHS is BHS (48 bytes), under LIM. */
enum iscsi_pdu_error iscsi_pdu_frame (const uint8_t *bhs,
                                      const struct iscsi_pdu_limits *lim,
                                      struct iscsi_frame *f);

/* Decode and validate one whole PDU (exactly iscsi_pdu_need bytes).
 * On success fills *PDU (pointers into FRAME); on failure *PDU holds
 * whatever was decoded before the error (at least the opcode and ITT
 * once 48 bytes are there). */
enum iscsi_pdu_error iscsi_pdu_decode (const uint8_t *frame, size_t len,
                                       const struct iscsi_pdu_limits *lim,
                                       struct iscsi_pdu *pdu);

/* Zero *PDU and set OP with the fields every PDU of that opcode has
 * fixed: F=1 where the RFC says so, I=1 on Login, ITT 0xffffffff on
 * Reject and Async, TTT 0xffffffff on NOP-In/Out and Text. */
void iscsi_pdu_init (struct iscsi_pdu *pdu, enum iscsi_opcode op);

/* Bytes iscsi_pdu_encode writes for PDU under LIM. */
size_t iscsi_pdu_encoded_size (const struct iscsi_pdu *pdu,
                               const struct iscsi_pdu_limits *lim);

/* Encode PDU (BHS, AHS for SCSI Command, digests, data, padding) into
 * BUF.  Refuses anything the decoder would refuse: a value too big for
 * its field, a reserved code, broken flag rules, data above
 * lim->max_recv_dsl (the peer's MaxRecvDataSegmentLength). */
enum iscsi_pdu_error iscsi_pdu_encode (const struct iscsi_pdu *pdu,
                                       const struct iscsi_pdu_limits *lim,
                                       uint8_t *buf, size_t len,
                                       size_t *written);

/* Make *PDU a Reject of the PDU whose BHS is BAD_BHS (48 bytes, kept
 * by pointer as the data segment). */
void iscsi_pdu_make_reject (struct iscsi_pdu *pdu, uint8_t reason,
                            const uint8_t *bad_bhs);

/* The SCSI Response data segment: SenseLength (2 bytes) and the sense
 * data, into OUT (2 + SENSE_LEN bytes).  Returns the bytes written, or
 * 0 if OUT_LEN is too small or SENSE_LEN > 65535. */
size_t iscsi_sense_segment (const uint8_t *sense, size_t sense_len,
                            uint8_t *out, size_t out_len);

/* True if A and B have the same fields, AHS and data bytes. */
bool iscsi_pdu_equal (const struct iscsi_pdu *a, const struct iscsi_pdu *b);

/* CRC32C of LEN bytes (RFC 3720 B.4 convention) and its wire form. */
uint32_t iscsi_crc32c (const void *buf, size_t len);
/* Continue a CRC over more bytes: iscsi_crc32c_update (~0, ...) chains;
 * the digest is the final value XOR ~0. */
uint32_t iscsi_crc32c_update (uint32_t crc, const void *buf, size_t len);
void iscsi_digest_put (uint8_t out[4], uint32_t crc);
uint32_t iscsi_digest_get (const uint8_t in[4]);

/* Serial number arithmetic (RFC 1982, SERIAL_BITS 32), as RFC 7143
 * §4.2.2.1 requires for CmdSN, StatSN, DataSN: A comes before B.  Two
 * numbers 2^31 apart are not ordered (false both ways). */
bool iscsi_sn_before (uint32_t a, uint32_t b);
/* A non-immediate command with CMDSN may be queued: ExpCmdSN <= CmdSN
 * <= MaxCmdSN in serial arithmetic (a closed window, MaxCmdSN =
 * ExpCmdSN - 1, admits nothing). */
bool iscsi_cmdsn_in_window (uint32_t cmdsn, uint32_t expcmdsn,
                            uint32_t maxcmdsn);

/* What the target should answer to ERR on a PDU with OPCODE. */
struct iscsi_pdu_answer iscsi_pdu_error_answer (enum iscsi_pdu_error err,
                                                uint8_t opcode);

const char *iscsi_opcode_to_string (unsigned opcode);
const char *iscsi_pdu_error_to_string (enum iscsi_pdu_error err);
const char *iscsi_reject_reason_to_string (unsigned reason);
const char *iscsi_login_status_to_string (unsigned status);

#endif /* SEGMAP_ISCSI_PDU_H */
