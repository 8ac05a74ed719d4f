/* segmap: big-endian integers of 1 to 8 bytes at any alignment, as the
 * wire formats use them (iSCSI PDUs, SCSI CDBs and parameter data,
 * sense data, the agent/controller frames).  Byte by byte, so they
 * need no alignment and mean the same on every host.
 */
#ifndef SEGMAP_BE_H
#define SEGMAP_BE_H

#include <stdint.h>

/* The WIDTH-byte big-endian integer at P. */
static inline uint64_t
get_be (const uint8_t *p, unsigned width)
{
  uint64_t v = 0;

  while (width-- > 0)
    v = v << 8 | *p++;
  return v;
}

/* Store the low WIDTH bytes of V at P, big-endian. */
static inline void
put_be (uint8_t *p, unsigned width, uint64_t v)
{
  while (width-- > 0) {
    p[width] = v & 0xff;
    v >>= 8;
  }
}

#endif /* SEGMAP_BE_H */
