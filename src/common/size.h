/* segmap: human sizes.
 *
 * sm_parse_size accepts a decimal number with an optional suffix
 * K, M, G, T, P or E (powers of 1024, case-insensitive, an optional
 * trailing "iB" or "B" is allowed: 1G, 1g, 1GiB, 1GB all mean 2^30).
 * No sign, no fraction, no overflow past 2^63-1.
 */
#ifndef SEGMAP_SIZE_H
#define SEGMAP_SIZE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Parse STR into *SIZE.  Returns 0, or -1 with an sm_error naming STR. */
int sm_parse_size (const char *str, uint64_t *size);

/* Format SIZE as the shortest exact "1G"-style string into BUF. */
void sm_format_size (uint64_t size, char *buf, size_t len);

static inline bool
sm_is_power_of_2 (uint64_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* log2 of a power of two. */
static inline unsigned
sm_log2 (uint64_t v)
{
  return 63 - __builtin_clzll (v);
}

#endif /* SEGMAP_SIZE_H */
