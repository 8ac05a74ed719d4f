/* segmap: iSCSI binary values -- "0x<hex>" and "0b<base64>" (RFC 7143
 * §6.1), as CHAP_C and CHAP_R carry them.
 *
 * Strict on input, since these are parsed before authentication: the
 * value must not be empty, hex must have an even number of digits,
 * base64 must be whole 4-character groups with '=' only as final
 * padding and zero bits below it (one encoding per byte string).  The
 * decoded length is checked against the caller's bound before a byte
 * is written.
 */
#include <config.h>

#include <string.h>

#include "iscsi/text.h"

static const char b64_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int
b64_digit (char c)
{
  const char *p;

  if (c == '\0')
    return -1;
  p = strchr (b64_alphabet, c);
  return p ? p - b64_alphabet : -1;
}

static enum iscsi_text_error
decode_hex (const char *s, size_t n, uint8_t *out, size_t out_max,
            size_t *out_len)
{
  size_t i;

  if (n == 0 || n % 2 != 0 || n / 2 > out_max)
    return ISCSI_TEXT_ERR_BINARY;
  for (i = 0; i < n; i += 2) {
    int hi = hex_digit (s[i]), lo = hex_digit (s[i + 1]);

    if (hi < 0 || lo < 0)
      return ISCSI_TEXT_ERR_BINARY;
    if (out != NULL)
      out[i / 2] = hi << 4 | lo;
  }
  *out_len = n / 2;
  return ISCSI_TEXT_OK;
}

/* Decode one group of 4 characters (G) into up to 3 bytes; LAST says
 * whether padding is allowed.  Returns the byte count or -1. */
static int
b64_group (const char *g, bool last, uint8_t bytes[3])
{
  int d[4], pad = 0, i;
  unsigned long v = 0;

  for (i = 0; i < 4; i++) {
    if (g[i] == '=' && last && i >= 2) {
      pad++;
      d[i] = 0;
      continue;
    }
    if (pad > 0 || (d[i] = b64_digit (g[i])) < 0)
      return -1;
  }
  for (i = 0; i < 4; i++)
    v = v << 6 | d[i];
  if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
    return -1;                  /* bits below the padding must be 0 */
  bytes[0] = v >> 16;
  bytes[1] = v >> 8;
  bytes[2] = v;
  return 3 - pad;
}

static enum iscsi_text_error
decode_base64 (const char *s, size_t n, uint8_t *out, size_t out_max,
               size_t *out_len)
{
  size_t i, len = 0;
  uint8_t bytes[3];

  if (n == 0 || n % 4 != 0)
    return ISCSI_TEXT_ERR_BINARY;
  for (i = 0; i < n; i += 4) {
    int k = b64_group (&s[i], i + 4 == n, bytes);

    if (k < 0 || len + k > out_max)
      return ISCSI_TEXT_ERR_BINARY;
    if (out != NULL)
      memcpy (&out[len], bytes, k);
    len += k;
  }
  *out_len = len;
  return ISCSI_TEXT_OK;
}

enum iscsi_text_error
iscsi_binary_decode (const char *value, uint8_t *out, size_t out_max,
                     size_t *out_len)
{
  size_t n = strlen (value);

  *out_len = 0;
  if (n < 2 || value[0] != '0')
    return ISCSI_TEXT_ERR_BINARY;
  if (value[1] == 'x' || value[1] == 'X')
    return decode_hex (value + 2, n - 2, out, out_max, out_len);
  if (value[1] == 'b' || value[1] == 'B')
    return decode_base64 (value + 2, n - 2, out, out_max, out_len);
  return ISCSI_TEXT_ERR_BINARY;
}

int
iscsi_binary_encode_hex (const uint8_t *in, size_t len, char *out,
                         size_t out_size)
{
  static const char digits[] = "0123456789abcdef";
  size_t i;

  if (out_size < 3 || (out_size - 3) / 2 < len)
    return -1;
  out[0] = '0';
  out[1] = 'x';
  for (i = 0; i < len; i++) {
    out[2 + 2 * i] = digits[in[i] >> 4];
    out[3 + 2 * i] = digits[in[i] & 0xf];
  }
  out[2 + 2 * len] = '\0';
  return 2 + 2 * len;
}

/* Encode the N (1-3) bytes at IN as 4 characters at OUT. */
static void
b64_encode_group (const uint8_t *in, size_t n, char *out)
{
  unsigned long v = (unsigned long) in[0] << 16;
  int i;

  if (n > 1)
    v |= in[1] << 8;
  if (n > 2)
    v |= in[2];
  for (i = 0; i < 4; i++)
    out[i] = (size_t) i <= n ? b64_alphabet[(v >> (18 - 6 * i)) & 0x3f] : '=';
}

int
iscsi_binary_encode_base64 (const uint8_t *in, size_t len, char *out,
                            size_t out_size)
{
  size_t groups = (len + 2) / 3, i;

  if (out_size < 3 || (out_size - 3) / 4 < groups)
    return -1;
  out[0] = '0';
  out[1] = 'b';
  for (i = 0; i < groups; i++) {
    size_t n = len - 3 * i < 3 ? len - 3 * i : 3;

    b64_encode_group (&in[3 * i], n, &out[2 + 4 * i]);
  }
  out[2 + 4 * groups] = '\0';
  return 2 + 4 * groups;
}
