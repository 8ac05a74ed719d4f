/* segmap: the persistent reservation blob -- what scsi_pr_store_ops
 * saves and loads.
 *
 * Layout (big-endian), version 1:
 *    0  4  magic "SMPR"
 *    4  2  version (1)
 *    6  2  flags: bit 0 APTPL
 *    8  4  PRGENERATION
 *   12  1  reservation type (0: none)
 *   13  1  scope (0)
 *   14  2  holder's relative target port id
 *   16  2  holder's initiator port name length H (0 if no holder)
 *   18  4  number of registrations N
 *   22  H  holder name
 *   then N registrations:
 *       8 key, 2 relative target port id, 1 flags (bit 0 ALL_TG_PT),
 *       2 name length L, L name bytes
 *
 * Decoding rejects (with sm_error) a wrong magic or version, a
 * truncated or over-long blob, names that are empty, too long or hold
 * NUL bytes, a reservation type that does not exist, a holder missing
 * when a registrants-only reservation exists, and more registrations
 * than PR_MAX_REGS.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "scsi/lu-internal.h"

#define PR_MAGIC      "SMPR"
#define PR_VERSION    1
#define PR_HEADER_LEN 22
#define PR_MAX_NAME   255
#define PR_MAX_REGS   65536

static size_t
encoded_len (const struct pr_state *st)
{
  size_t len = PR_HEADER_LEN + (st->holder ? strlen (st->holder) : 0);
  size_t i;

  for (i = 0; i < st->n_regs; i++)
    len += 13 + strlen (st->regs[i].initiator);
  return len;
}

void *
pr_encode (const struct pr_state *st, size_t *len)
{
  size_t n = encoded_len (st), off, i;
  size_t hlen = st->holder ? strlen (st->holder) : 0;
  uint8_t *b = malloc (n);

  if (b == NULL) {
    sm_error ("scsi: encoding persistent reservations: %m");
    return NULL;
  }
  memcpy (b, PR_MAGIC, 4);
  put_be16 (&b[4], PR_VERSION);
  put_be16 (&b[6], st->aptpl ? 1 : 0);
  put_be32 (&b[8], st->generation);
  b[12] = st->type;
  b[13] = st->scope;
  put_be16 (&b[14], st->holder_port);
  put_be16 (&b[16], hlen);
  put_be32 (&b[18], st->n_regs);
  memcpy (&b[22], st->holder ? st->holder : "", hlen);
  off = PR_HEADER_LEN + hlen;
  for (i = 0; i < st->n_regs; i++) {
    const struct pr_reg *r = &st->regs[i];
    size_t l = strlen (r->initiator);

    put_be64 (&b[off], r->key);
    put_be16 (&b[off + 8], r->port);
    b[off + 10] = r->all_tg_pt ? 1 : 0;
    put_be16 (&b[off + 11], l);
    memcpy (&b[off + 13], r->initiator, l);
    off += 13 + l;
  }
  *len = n;
  return b;
}

/* A name of LEN bytes at P, or NULL with sm_error. */
static char *
decode_name (const uint8_t *p, size_t len)
{
  char *s;

  if (len == 0 || len > PR_MAX_NAME || memchr (p, 0, len) != NULL) {
    sm_error ("scsi: persistent reservation blob: bad name length %zu "
              "or NUL byte", len);
    return NULL;
  }
  s = strndup ((const char *) p, len);
  if (s == NULL)
    sm_error ("scsi: persistent reservation blob: %m");
  return s;
}

static bool
type_valid (uint8_t type)
{
  return type == PR_NONE || type == 1 || type == 3
         || (type >= 5 && type <= 8);
}

static int
decode_header (const uint8_t *b, size_t len, struct pr_state *st,
               size_t *hlen, size_t *n_regs)
{
  if (len < PR_HEADER_LEN || memcmp (b, PR_MAGIC, 4) != 0) {
    sm_error ("scsi: persistent reservation blob: not a segmap blob");
    return -1;
  }
  if (get_be (&b[4], 2) != PR_VERSION || (get_be (&b[6], 2) & ~1u)) {
    sm_error ("scsi: persistent reservation blob: unsupported version %u "
              "or flags", (unsigned) get_be (&b[4], 2));
    return -1;
  }
  st->aptpl = b[7] & 1;
  st->generation = get_be (&b[8], 4);
  st->type = b[12];
  st->scope = b[13];
  st->holder_port = get_be (&b[14], 2);
  *hlen = get_be (&b[16], 2);
  *n_regs = get_be (&b[18], 4);
  if (!type_valid (st->type) || st->scope != 0 || *n_regs > PR_MAX_REGS) {
    sm_error ("scsi: persistent reservation blob: bad type %u, scope %u "
              "or %zu registrations", st->type, st->scope, *n_regs);
    return -1;
  }
  if ((st->type == PR_NONE) != (*hlen == 0)) {
    sm_error ("scsi: persistent reservation blob: reservation and holder "
              "disagree");
    return -1;
  }
  return 0;
}

static int
decode_regs (const uint8_t *b, size_t len, size_t off, struct pr_state *st,
             size_t n_regs)
{
  size_t i;

  st->regs = calloc (n_regs ? n_regs : 1, sizeof *st->regs);
  if (st->regs == NULL) {
    sm_error ("scsi: persistent reservation blob: %m");
    return -1;
  }
  for (i = 0; i < n_regs; i++) {
    struct pr_reg *r = &st->regs[i];
    size_t l;

    if (len - off < 13 || b[off + 10] > 1)
      goto bad;
    l = get_be (&b[off + 11], 2);
    if (len - off - 13 < l)
      goto bad;
    r->key = get_be (&b[off], 8);
    r->port = get_be (&b[off + 8], 2);
    r->all_tg_pt = b[off + 10];
    r->initiator = decode_name (&b[off + 13], l);
    if (r->initiator == NULL)
      return -1;
    st->n_regs++;
    off += 13 + l;
  }
  if (off != len)
    goto bad;
  return 0;

 bad:
  sm_error ("scsi: persistent reservation blob: registration %zu is "
            "truncated or malformed, or trailing bytes", i);
  return -1;
}

int
pr_decode (const void *blob, size_t len, struct pr_state *st)
{
  const uint8_t *b = blob;
  size_t hlen, n_regs;

  memset (st, 0, sizeof *st);
  if (decode_header (b, len, st, &hlen, &n_regs) == -1)
    goto fail;
  if (len - PR_HEADER_LEN < hlen) {
    sm_error ("scsi: persistent reservation blob: truncated holder");
    goto fail;
  }
  if (hlen && (st->holder = decode_name (&b[PR_HEADER_LEN], hlen)) == NULL)
    goto fail;
  if (decode_regs (b, len, PR_HEADER_LEN + hlen, st, n_regs) == -1)
    goto fail;
  if (st->type != PR_NONE
      && !pr_registered_locked (st, st->holder, st->holder_port)) {
    sm_error ("scsi: persistent reservation blob: the holder is not "
              "registered");
    goto fail;
  }
  return 0;

 fail:
  pr_state_clear (st);
  return -1;
}
