/* segmap: FNV-1a, 64 bits: a stable, seedless hash for deriving
 * identifiers (SCSI serial numbers and NAA ids) from names.  Not for
 * hash tables fed by clients: FNV is easy to collide on purpose.
 */
#ifndef SEGMAP_HASH_H
#define SEGMAP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_64_INIT UINT64_C(0xcbf29ce484222325)

/* FNV-1a over LEN bytes of DATA, continued from H (FNV1A_64_INIT to
 * start). */
static inline uint64_t
fnv1a_64 (uint64_t h, const void *data, size_t len)
{
  const uint8_t *p = data;

  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

#endif /* SEGMAP_HASH_H */
