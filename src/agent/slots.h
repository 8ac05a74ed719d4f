/* segmap: direct-mapped slot arrays keyed by segment, shared by the
 * agent's caches (marks.h, mirrors.h).  TAGS[slot] holds segment + 1,
 * 0 when empty; N_SLOTS is a power of two.  The caller holds its lock.
 */
#ifndef SEGMAP_SLOTS_H
#define SEGMAP_SLOTS_H

#include <stdint.h>
#include <string.h>

/* The slot of SEG among N_SLOTS (> 0). */
static inline uint32_t
slots_index (uint64_t seg, uint32_t n_slots)
{
  return (uint32_t) (seg * UINT64_C(0x9e3779b97f4a7c15) >> 40)
    & (n_slots - 1);
}

/* Empty the slots of segments [FIRST, FIRST+COUNT). */
static inline void
slots_forget (uint64_t *tags, uint32_t n_slots, uint64_t first,
              uint64_t count)
{
  if (n_slots == 0)
    return;
  if (count >= n_slots) {
    memset (tags, 0, n_slots * sizeof *tags);
    return;
  }
  for (uint64_t i = 0; i < count; i++) {
    uint32_t slot = slots_index (first + i, n_slots);
    if (tags[slot] == first + i + 1)
      tags[slot] = 0;
  }
}

#endif /* SEGMAP_SLOTS_H */
