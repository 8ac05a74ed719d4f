/* segmap: what pdu.c (the BHS tables) offers pdu-frame.c (whole PDUs).
 * Not for use outside src/iscsi/pdu*.c.
 */
#ifndef SEGMAP_ISCSI_PDU_INTERNAL_H
#define SEGMAP_ISCSI_PDU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/be.h"
#include "iscsi/pdu.h"

/* What an opcode's PDU may carry. */
#define ISCSI_OPF_KNOWN   0x01  /* an RFC 7143 opcode */
#define ISCSI_OPF_TARGET  0x02  /* sent by targets */
#define ISCSI_OPF_DATA    0x04  /* may have a data segment */
#define ISCSI_OPF_AHS     0x08  /* may have AHS (SCSI Command) */

/* ISCSI_OPF_* flags of OPCODE (0 if unknown). */
unsigned iscsi_opcode_flags (unsigned opcode);

/* Decode the 48-byte BHS into *PDU (zeroed first): fixed bits are
 * checked, reserved bits only if STRICT.  Cross-field rules are left
 * to iscsi_pdu_check.  The opcode must be known. */
enum iscsi_pdu_error iscsi_bhs_decode (const uint8_t *bhs, bool strict,
                                       struct iscsi_pdu *pdu);

/* Encode the BHS fields of PDU (not TotalAHSLength, DataSegmentLength:
 * the caller sets bytes 4-7).  Fails if a value does not fit. */
enum iscsi_pdu_error iscsi_bhs_encode (const struct iscsi_pdu *pdu,
                                       uint8_t *bhs);

/* The opcode's rules that tie fields together (run after the AHS has
 * been parsed, and before encoding). */
enum iscsi_pdu_error iscsi_pdu_check (const struct iscsi_pdu *pdu);

/* True if A and B agree on every BHS field of their opcode. */
bool iscsi_bhs_fields_equal (const struct iscsi_pdu *a,
                             const struct iscsi_pdu *b);

#endif /* SEGMAP_ISCSI_PDU_INTERNAL_H */
