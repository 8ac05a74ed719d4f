/* segmap: whole iSCSI PDUs -- framing, AHS, digests, decode and encode.
 *
 * pdu.c knows the 48-byte BHS of each opcode; this file puts the rest
 * around it (see pdu.h for the layout and the two-step read).  Order of
 * the checks on decode, so that the cheapest and most fundamental
 * failure is the one reported:
 *
 *   length of the frame -> DataSegmentLength limit -> header digest ->
 *   opcode and sender -> BHS fields -> AHS -> data segment (allowed?,
 *   data digest, padding) -> the opcode's cross-field rules.
 *
 * Nothing is allocated: the decoded struct points into the frame.
 */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include <isa-l/crc.h>

#include "common/cleanup.h"
#include "iscsi/pdu-internal.h"

#define AHS_TYPE_EXT_CDB     1
#define AHS_TYPE_BIDI_LENGTH 2
#define AHS_MAX_BYTES        (255 * 4)

void
iscsi_pdu_limits_init (struct iscsi_pdu_limits *lim)
{
  memset (lim, 0, sizeof *lim);
  lim->max_recv_dsl = ISCSI_LOGIN_DSL;
}

static size_t
pad4 (size_t n)
{
  return (4 - (n & 3)) & 3;
}

/*----------------------------------------------------------------------
 * CRC32C digests.
 */

uint32_t
iscsi_crc32c_update (uint32_t crc, const void *buf, size_t len)
{
  const unsigned char *p = buf;
  const size_t chunk = 1 << 30;         /* crc32_iscsi takes an int */

  while (len > chunk) {
    crc = crc32_iscsi ((unsigned char *) p, chunk, crc);
    p += chunk;
    len -= chunk;
  }
  return crc32_iscsi ((unsigned char *) p, len, crc);
}

uint32_t
iscsi_crc32c (const void *buf, size_t len)
{
  return iscsi_crc32c_update (UINT32_MAX, buf, len) ^ UINT32_MAX;
}

/* The digest travels least significant byte first (RFC 3720 B.4). */
void
iscsi_digest_put (uint8_t out[4], uint32_t crc)
{
  out[0] = crc;
  out[1] = crc >> 8;
  out[2] = crc >> 16;
  out[3] = crc >> 24;
}

uint32_t
iscsi_digest_get (const uint8_t in[4])
{
  return in[0] | (uint32_t) in[1] << 8 | (uint32_t) in[2] << 16
    | (uint32_t) in[3] << 24;
}

static bool
digest_ok (const uint8_t *buf, size_t len)
{
  return iscsi_crc32c (buf, len) == iscsi_digest_get (&buf[len]);
}

/*----------------------------------------------------------------------
 * Framing.
 */

enum iscsi_pdu_error
iscsi_pdu_frame (const uint8_t *bhs, const struct iscsi_pdu_limits *lim,
                 struct iscsi_frame *f)
{
  memset (f, 0, sizeof *f);
  f->ahs_len = (size_t) bhs[4] * 4;
  f->header_len = ISCSI_BHS_SIZE + f->ahs_len;
  f->hdigest_len = lim->header_digest ? ISCSI_DIGEST_SIZE : 0;
  f->data_off = f->header_len + f->hdigest_len;
  f->data_len = get_be (&bhs[5], 3);
  f->pad_len = pad4 (f->data_len);
  f->ddigest_len = f->data_len && lim->data_digest ? ISCSI_DIGEST_SIZE : 0;
  f->total = f->data_off + f->data_len + f->pad_len + f->ddigest_len;
  if (f->data_len > lim->max_recv_dsl)
    return ISCSI_PDU_ERR_DATA_TOO_LONG;
  return ISCSI_PDU_OK;
}

enum iscsi_pdu_error
iscsi_pdu_need (const uint8_t *buf, size_t len,
                const struct iscsi_pdu_limits *lim, size_t *need)
{
  struct iscsi_frame f;
  enum iscsi_pdu_error e;

  if (len < ISCSI_BHS_SIZE) {
    *need = ISCSI_BHS_SIZE;
    return ISCSI_PDU_OK;
  }
  e = iscsi_pdu_frame (buf, lim, &f);
  *need = f.total;
  return e;
}

/*----------------------------------------------------------------------
 * Additional Header Segments (SCSI Command only): an Extended CDB and
 * a Bidirectional Read Expected Data Transfer Length, each at most
 * once.  Entry: AHSLength (2), AHSType (1), AHSLength bytes, padding.
 */

static enum iscsi_pdu_error
ahs_entry (uint8_t type, const uint8_t *p, size_t n, bool strict,
           struct iscsi_pdu *pdu)
{
  if (strict && n > 0 && p[0] != 0)     /* the reserved byte */
    return ISCSI_PDU_ERR_RESERVED;
  switch (type) {
  case AHS_TYPE_EXT_CDB:
    if (pdu->ext_cdb != NULL || n < 2)
      return ISCSI_PDU_ERR_AHS_TYPE;
    pdu->ext_cdb = p + 1;
    pdu->ext_cdb_len = n - 1;
    return ISCSI_PDU_OK;
  case AHS_TYPE_BIDI_LENGTH:
    if (pdu->has_bidi_read_len || n != 5)
      return ISCSI_PDU_ERR_AHS_TYPE;
    pdu->has_bidi_read_len = true;
    pdu->bidi_read_len = get_be (p + 1, 4);
    pdu->bidi_ahs_first = pdu->ext_cdb == NULL;
    return ISCSI_PDU_OK;
  default:
    return ISCSI_PDU_ERR_AHS_TYPE;
  }
}

static bool
zeros (const uint8_t *p, size_t n)
{
  while (n-- > 0)
    if (*p++ != 0)
      return false;
  return true;
}

static enum iscsi_pdu_error
ahs_parse (const uint8_t *ahs, size_t len, bool strict,
           struct iscsi_pdu *pdu)
{
  size_t off = 0;

  while (off < len) {
    size_t n, entry;
    enum iscsi_pdu_error e;

    if (len - off < 4)
      return ISCSI_PDU_ERR_AHS_LENGTH;
    n = get_be (&ahs[off], 2);
    entry = 3 + n + pad4 (3 + n);
    if (entry > len - off)
      return ISCSI_PDU_ERR_AHS_LENGTH;
    e = ahs_entry (ahs[off + 2], &ahs[off + 3], n, strict, pdu);
    if (e != ISCSI_PDU_OK)
      return e;
    if (strict && !zeros (&ahs[off + 3 + n], pad4 (3 + n)))
      return ISCSI_PDU_ERR_PADDING;
    off += entry;
  }
  return ISCSI_PDU_OK;
}

static size_t
ahs_size (const struct iscsi_pdu *pdu)
{
  size_t n = 0;

  if (pdu->ext_cdb_len > 0)
    n += 4 + pdu->ext_cdb_len + pad4 (pdu->ext_cdb_len);
  if (pdu->has_bidi_read_len)
    n += 8;
  return n;
}

static size_t
ahs_write_ext_cdb (const struct iscsi_pdu *pdu, uint8_t *out)
{
  size_t n = pdu->ext_cdb_len;

  if (n == 0)
    return 0;
  put_be (out, 2, n + 1);
  out[2] = AHS_TYPE_EXT_CDB;
  out[3] = 0;
  memcpy (&out[4], pdu->ext_cdb, n);
  memset (&out[4 + n], 0, pad4 (n));
  return 4 + n + pad4 (n);
}

static size_t
ahs_write_bidi (const struct iscsi_pdu *pdu, uint8_t *out)
{
  if (!pdu->has_bidi_read_len)
    return 0;
  put_be (out, 2, 5);
  out[2] = AHS_TYPE_BIDI_LENGTH;
  out[3] = 0;
  put_be (&out[4], 4, pdu->bidi_read_len);
  return 8;
}

/* The entries in the order they arrived in (the Extended CDB first for
 * a PDU built here). */
static void
ahs_write (const struct iscsi_pdu *pdu, uint8_t *out)
{
  if (pdu->bidi_ahs_first) {
    out += ahs_write_bidi (pdu, out);
    ahs_write_ext_cdb (pdu, out);
  }
  else {
    out += ahs_write_ext_cdb (pdu, out);
    ahs_write_bidi (pdu, out);
  }
}

/*----------------------------------------------------------------------
 * Decoding.
 */

static enum iscsi_pdu_error
decode_data (const uint8_t *frame, const struct iscsi_frame *f,
             const struct iscsi_pdu_limits *lim, unsigned flags,
             struct iscsi_pdu *pdu)
{
  if (f->data_len == 0)
    return ISCSI_PDU_OK;
  if (!(flags & ISCSI_OPF_DATA))
    return ISCSI_PDU_ERR_DATA_FORBIDDEN;
  if (lim->data_digest
      && !digest_ok (&frame[f->data_off], f->data_len + f->pad_len))
    return ISCSI_PDU_ERR_DATA_DIGEST;
  if (lim->strict && !zeros (&frame[f->data_off + f->data_len], f->pad_len))
    return ISCSI_PDU_ERR_PADDING;
  pdu->data = &frame[f->data_off];
  return ISCSI_PDU_OK;
}

/* The opcode is known and comes from the right side. */
static enum iscsi_pdu_error
decode_opcode (const uint8_t *frame, const struct iscsi_pdu_limits *lim,
               unsigned *flags)
{
  *flags = iscsi_opcode_flags (frame[0] & 0x3f);
  if (*flags == 0)
    return ISCSI_PDU_ERR_OPCODE;
  if (!(*flags & ISCSI_OPF_TARGET) != !lim->from_target)
    return ISCSI_PDU_ERR_WRONG_SENDER;
  return ISCSI_PDU_OK;
}

/* Opcode, ITT and lengths, so that a failed decode still names the
 * PDU for the Reject or the log. */
static void
decode_peek (const uint8_t *frame, struct iscsi_pdu *pdu)
{
  memset (pdu, 0, sizeof *pdu);
  pdu->opcode = frame[0] & 0x3f;
  pdu->total_ahs_len = frame[4];
  pdu->data_len = get_be (&frame[5], 3);
  pdu->itt = get_be (&frame[16], 4);
}

enum iscsi_pdu_error
iscsi_pdu_decode (const uint8_t *frame, size_t len,
                  const struct iscsi_pdu_limits *lim, struct iscsi_pdu *pdu)
{
  struct iscsi_frame f;
  enum iscsi_pdu_error e;
  unsigned flags;

  memset (pdu, 0, sizeof *pdu);
  if (len < ISCSI_BHS_SIZE)
    return ISCSI_PDU_ERR_TRUNCATED;
  decode_peek (frame, pdu);
  if ((e = iscsi_pdu_frame (frame, lim, &f)) != ISCSI_PDU_OK)
    return e;
  if (len != f.total)
    return len < f.total ? ISCSI_PDU_ERR_TRUNCATED : ISCSI_PDU_ERR_LENGTH;
  if (lim->header_digest && !digest_ok (frame, f.header_len))
    return ISCSI_PDU_ERR_HEADER_DIGEST;
  if ((e = decode_opcode (frame, lim, &flags)) != ISCSI_PDU_OK)
    return e;
  if ((e = iscsi_bhs_decode (frame, lim->strict, pdu)) != ISCSI_PDU_OK)
    return e;
  if (f.ahs_len > 0 && !(flags & ISCSI_OPF_AHS))
    return ISCSI_PDU_ERR_AHS_FORBIDDEN;
  e = ahs_parse (&frame[ISCSI_BHS_SIZE], f.ahs_len, lim->strict, pdu);
  if (e != ISCSI_PDU_OK)
    return e;
  if ((e = decode_data (frame, &f, lim, flags, pdu)) != ISCSI_PDU_OK)
    return e;
  return iscsi_pdu_check (pdu);
}

/*----------------------------------------------------------------------
 * Encoding.
 */

size_t
iscsi_pdu_encoded_size (const struct iscsi_pdu *pdu,
                        const struct iscsi_pdu_limits *lim)
{
  size_t n = ISCSI_BHS_SIZE + ahs_size (pdu);

  if (lim->header_digest)
    n += ISCSI_DIGEST_SIZE;
  if (pdu->data_len > 0) {
    n += pdu->data_len + pad4 (pdu->data_len);
    if (lim->data_digest)
      n += ISCSI_DIGEST_SIZE;
  }
  return n;
}

/* What the decoder would refuse about the AHS and data of PDU. */
static enum iscsi_pdu_error
encode_check (const struct iscsi_pdu *pdu,
              const struct iscsi_pdu_limits *lim)
{
  unsigned flags = iscsi_opcode_flags (pdu->opcode);
  size_t ahs = ahs_size (pdu);

  if (flags == 0)
    return ISCSI_PDU_ERR_OPCODE;
  if (ahs > 0 && !(flags & ISCSI_OPF_AHS))
    return ISCSI_PDU_ERR_AHS_FORBIDDEN;
  if (ahs > AHS_MAX_BYTES || (pdu->ext_cdb_len > 0 && !pdu->ext_cdb))
    return ISCSI_PDU_ERR_FIELD_VALUE;
  if (pdu->data_len > 0 && !(flags & ISCSI_OPF_DATA))
    return ISCSI_PDU_ERR_DATA_FORBIDDEN;
  if (pdu->data_len > ISCSI_MAX_DSL || pdu->data_len > lim->max_recv_dsl)
    return ISCSI_PDU_ERR_DATA_TOO_LONG;
  if (pdu->data_len > 0 && pdu->data == NULL)
    return ISCSI_PDU_ERR_FIELD_VALUE;
  return iscsi_pdu_check (pdu);
}

static size_t
encode_data (const struct iscsi_pdu *pdu, const struct iscsi_pdu_limits *lim,
             uint8_t *out)
{
  size_t n = pdu->data_len, pad = pad4 (n);

  if (n == 0)
    return 0;
  memcpy (out, pdu->data, n);
  memset (&out[n], 0, pad);
  if (!lim->data_digest)
    return n + pad;
  iscsi_digest_put (&out[n + pad], iscsi_crc32c (out, n + pad));
  return n + pad + ISCSI_DIGEST_SIZE;
}

enum iscsi_pdu_error
iscsi_pdu_encode (const struct iscsi_pdu *pdu,
                  const struct iscsi_pdu_limits *lim,
                  uint8_t *buf, size_t len, size_t *written)
{
  size_t ahs = ahs_size (pdu), off;
  enum iscsi_pdu_error e;

  *written = 0;
  if ((e = encode_check (pdu, lim)) != ISCSI_PDU_OK)
    return e;
  if (len < iscsi_pdu_encoded_size (pdu, lim))
    return ISCSI_PDU_ERR_BUFFER;
  if ((e = iscsi_bhs_encode (pdu, buf)) != ISCSI_PDU_OK)
    return e;
  buf[4] = ahs / 4;
  put_be (&buf[5], 3, pdu->data_len);
  ahs_write (pdu, &buf[ISCSI_BHS_SIZE]);
  off = ISCSI_BHS_SIZE + ahs;
  if (lim->header_digest) {
    iscsi_digest_put (&buf[off], iscsi_crc32c (buf, off));
    off += ISCSI_DIGEST_SIZE;
  }
  off += encode_data (pdu, lim, &buf[off]);
  *written = off;
  return ISCSI_PDU_OK;
}

void
iscsi_pdu_make_reject (struct iscsi_pdu *pdu, uint8_t reason,
                       const uint8_t *bad_bhs)
{
  iscsi_pdu_init (pdu, ISCSI_OP_REJECT);
  pdu->reason = reason;
  pdu->data = bad_bhs;
  pdu->data_len = ISCSI_BHS_SIZE;
}

size_t
iscsi_sense_segment (const uint8_t *sense, size_t sense_len,
                     uint8_t *out, size_t out_len)
{
  if (sense_len > UINT16_MAX || out_len < 2 + sense_len)
    return 0;
  put_be (out, 2, sense_len);
  if (sense_len > 0)
    memcpy (&out[2], sense, sense_len);
  return 2 + sense_len;
}

static bool
same_bytes (const uint8_t *a, const uint8_t *b, size_t n)
{
  return n == 0 || memcmp (a, b, n) == 0;
}

bool
iscsi_pdu_equal (const struct iscsi_pdu *a, const struct iscsi_pdu *b)
{
  return iscsi_bhs_fields_equal (a, b)
    && a->data_len == b->data_len
    && same_bytes (a->data, b->data, a->data_len)
    && a->ext_cdb_len == b->ext_cdb_len
    && same_bytes (a->ext_cdb, b->ext_cdb, a->ext_cdb_len)
    && a->has_bidi_read_len == b->has_bidi_read_len
    && a->bidi_read_len == b->bidi_read_len;
}
