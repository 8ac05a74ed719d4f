/* segmap: what the two halves of the test-pdu program share:
 * test-pdu.c (samples, CRC32C, layout, round trips, reserved bits,
 * random frames) and test-pdu-errors.c (every error class).
 */
#ifndef SEGMAP_TEST_PDU_H
#define SEGMAP_TEST_PDU_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iscsi/pdu.h"

#define RES ISCSI_RESERVED_TAG
#define BUF_SIZE (ISCSI_BHS_SIZE + 1024 + 8 + 4096)
#define N_OPS 18

extern const uint8_t all_ops[N_OPS];    /* every RFC 7143 opcode */
extern uint8_t payload[4096];           /* data segments */
extern const uint8_t rfc_read_pdu[48];  /* RFC 3720 B.4 SCSI Read */

bool is_target_op (unsigned op);
bool carries_data (unsigned op);
/* Limits for decoding OP: no length limit, strict, digests HD/DD. */
void limits (struct iscsi_pdu_limits *lim, unsigned op, bool hd, bool dd);
/* A valid PDU of OP (E: edge values) with DATA_LEN bytes of payload. */
void sample (struct iscsi_pdu *p, unsigned op, bool e, size_t data_len);
/* Encode P, which must succeed; returns the length. */
size_t encode_ok (const struct iscsi_pdu *p,
                  const struct iscsi_pdu_limits *lim, uint8_t *buf);
enum iscsi_pdu_error decode (const uint8_t *buf, size_t len,
                             const struct iscsi_pdu_limits *lim,
                             struct iscsi_pdu *out);

/* test-pdu-errors.c */
void add_error_tests (TCase *tc);

#endif /* SEGMAP_TEST_PDU_H */
