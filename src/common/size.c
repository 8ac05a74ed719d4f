/* segmap: parsing and printing sizes with binary suffixes. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "common/size.h"

static const char suffixes[] = "KMGTPE";

int
sm_parse_size (const char *str, uint64_t *size)
{
  const char *p = str;
  uint64_t value = 0;
  unsigned shift = 0;

  if (!isdigit ((unsigned char) *p))
    goto bad;
  for (; isdigit ((unsigned char) *p); p++) {
    unsigned digit = *p - '0';
    if (value > (UINT64_MAX - digit) / 10)
      goto range;
    value = value * 10 + digit;
  }
  if (*p != '\0') {
    const char *s = strchr (suffixes, toupper ((unsigned char) *p));
    if (s == NULL)
      goto bad;
    shift = 10 * (s - suffixes + 1);
    p++;
    if (strcasecmp (p, "iB") == 0 || strcasecmp (p, "B") == 0)
      p += strlen (p);
    if (*p != '\0')
      goto bad;
  }
  if (shift && value > ((uint64_t) INT64_MAX >> shift))
    goto range;
  if (value << shift > (uint64_t) INT64_MAX)
    goto range;
  *size = value << shift;
  return 0;

 bad:
  sm_error ("invalid size '%s' (expected a number with an optional "
            "K/M/G/T/P/E suffix)", str);
  errno = EINVAL;
  return -1;
 range:
  sm_error ("size '%s' is too large", str);
  errno = ERANGE;
  return -1;
}

void
sm_format_size (uint64_t size, char *buf, size_t len)
{
  unsigned i = 0;

  while (size != 0 && (size & 1023) == 0 && i < sizeof suffixes - 1) {
    size >>= 10;
    i++;
  }
  if (i == 0)
    snprintf (buf, len, "%" PRIu64, size);
  else
    snprintf (buf, len, "%" PRIu64 "%c", size, suffixes[i - 1]);
}
