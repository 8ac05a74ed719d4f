/* segmap: hexadecimal text for small binary blobs. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

char *
sm_hex_encode (const void *data, size_t len)
{
  static const char digits[] = "0123456789abcdef";
  const uint8_t *p = data;
  char *s = malloc (2 * len + 1);

  if (s == NULL)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 0xf];
  }
  s[2 * len] = '\0';
  return s;
}

static int
nibble (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int
sm_hex_decode (const char *hex, void **out, size_t *len)
{
  size_t n = strlen (hex);
  uint8_t *p;

  if (n == 0 || n % 2) {
    errno = EINVAL;
    return -1;
  }
  p = malloc (n / 2);
  if (p == NULL)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = nibble (hex[2 * i]), lo = nibble (hex[2 * i + 1]);

    if (hi < 0 || lo < 0) {
      free (p);
      errno = EINVAL;
      return -1;
    }
    p[i] = (uint8_t) (hi << 4 | lo);
  }
  *out = p;
  *len = n / 2;
  return 0;
}
