/* segmap: libFuzzer harness for the iSCSI PDU layer (src/iscsi/pdu*.c).
 *
 * Input: one option byte (digests, sender side, strict mode, limit),
 * then the bytes of a PDU.  Whatever arrives:
 *  - iscsi_pdu_need never asks for less than the BHS, and refuses a
 *    DataSegmentLength above the limit;
 *  - iscsi_pdu_decode either fails with a known error that has an
 *    answer, or yields a PDU that encodes again (strict: to exactly the
 *    same bytes) and decodes to an equal PDU.
 * Crashes, leaks and undefined behaviour are caught by the sanitizers;
 * broken invariants abort().
 *
 * Not part of the autotools build: fuzz/run-fuzz.sh pdu SECONDS.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi/pdu.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-pdu: %s\n", what);
  abort ();
}

static void
limits_from (uint8_t opt, struct iscsi_pdu_limits *lim)
{
  iscsi_pdu_limits_init (lim);
  lim->header_digest = opt & 1;
  lim->data_digest = opt & 2;
  lim->from_target = opt & 4;
  lim->strict = opt & 8;
  lim->max_recv_dsl = opt & 16 ? ISCSI_MAX_DSL : 512;
}

/* A decoded PDU must encode, and decode again to the same thing. */
static void
check_roundtrip (const uint8_t *frame, size_t len,
                 const struct iscsi_pdu_limits *lim,
                 const struct iscsi_pdu *p)
{
  size_t n = iscsi_pdu_encoded_size (p, lim), m;
  uint8_t *buf = malloc (n);
  struct iscsi_pdu q;

  if (buf == NULL)
    return;
  if (iscsi_pdu_encode (p, lim, buf, n, &m) != ISCSI_PDU_OK || m != n)
    fail ("decoded PDU does not encode");
  if (lim->strict && (m != len || memcmp (buf, frame, len) != 0))
    fail ("strict round trip changed the bytes");
  if (iscsi_pdu_decode (buf, m, lim, &q) != ISCSI_PDU_OK
      || !iscsi_pdu_equal (p, &q))
    fail ("re-encoded PDU decodes differently");
  free (buf);
}

static void
check_one (const uint8_t *frame, size_t len,
           const struct iscsi_pdu_limits *lim)
{
  struct iscsi_pdu p;
  struct iscsi_pdu_answer a;
  enum iscsi_pdu_error e = iscsi_pdu_decode (frame, len, lim, &p);

  if ((unsigned) e >= ISCSI_PDU_ERR__COUNT)
    fail ("unknown error code");
  a = iscsi_pdu_error_answer (e, p.opcode);
  if ((e == ISCSI_PDU_OK) != (a.kind == ISCSI_ANSWER_NONE))
    fail ("answer does not match the error");
  if (iscsi_pdu_error_to_string (e) == NULL
      || iscsi_opcode_to_string (p.opcode) == NULL)
    fail ("missing name");
  if (e == ISCSI_PDU_OK)
    check_roundtrip (frame, len, lim, &p);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct iscsi_pdu_limits lim;
  size_t need;
  enum iscsi_pdu_error e;

  if (size < 1)
    return 0;
  limits_from (data[0], &lim);
  data++;
  size--;
  e = iscsi_pdu_need (data, size, &lim, &need);
  if (need < ISCSI_BHS_SIZE)
    fail ("need below the BHS");
  if (e != ISCSI_PDU_OK && e != ISCSI_PDU_ERR_DATA_TOO_LONG)
    fail ("need failed oddly");
  check_one (data, size, &lim);
  if (e == ISCSI_PDU_OK && need < size)
    check_one (data, need, &lim);
  return 0;
}
