/* segmap: the agent's cache of changed-block marks (see marks.h). */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "agent/marks.h"
#include "common/cleanup.h"
#include "common/limits.h"

#define MARKS_BYTES (64u << 10)  /* bitmap bytes per table, about */

void
marks_init (struct marks *m, unsigned seg_shift)
{
  memset (m, 0, sizeof *m);
  pthread_mutex_init (&m->lock, NULL);
  m->seg_shift = seg_shift;
  m->n_bytes = ((UINT64_C(1) << seg_shift) / SM_BLOCK_SIZE + 7) / 8;
}

void
marks_destroy (struct marks *m)
{
  free (m->tags);
  free (m->bits);
  pthread_mutex_destroy (&m->lock);
}

uint64_t
marks_generation (struct marks *m)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);
  return m->generation;
}

/* The slot of SEG (lock held, slots allocated). */
static uint32_t
slot_of (const struct marks *m, uint64_t seg)
{
  return (uint32_t) (seg * UINT64_C(0x9e3779b97f4a7c15) >> 40)
    & (m->n_slots - 1);
}

/* The blocks [*B0, *B1) that [OFF, OFF+LEN) touches. */
static void
block_range (uint64_t off, uint64_t len, uint64_t *b0, uint64_t *b1)
{
  *b0 = off / SM_BLOCK_SIZE;
  *b1 = (off + len + SM_BLOCK_SIZE - 1) / SM_BLOCK_SIZE;
}

bool
marks_cover (struct marks *m, uint64_t seg, uint64_t off, uint64_t len,
             uint64_t *gen)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);
  uint32_t slot;
  const uint8_t *bits;
  uint64_t b0, b1;

  if (gen)
    *gen = m->generation;
  if (m->n_slots == 0 || len == 0)
    return false;
  slot = slot_of (m, seg);
  if (m->tags[slot] != seg + 1)
    return false;
  bits = &m->bits[(size_t) slot * m->n_bytes];
  block_range (off, len, &b0, &b1);
  for (uint64_t b = b0; b < b1; b++)
    if (b / 8 >= m->n_bytes || !(bits[b / 8] & (1u << (b % 8))))
      return false;
  return true;
}

/* Allocate the slots (lock held).  false on ENOMEM. */
static bool
allocate (struct marks *m)
{
  uint32_t n = 1;

  while ((uint64_t) n * 2 * m->n_bytes <= MARKS_BYTES)
    n *= 2;
  m->tags = calloc (n, sizeof *m->tags);
  m->bits = calloc (n, m->n_bytes);
  if (m->tags == NULL || m->bits == NULL) {
    free (m->tags);
    free (m->bits);
    m->tags = NULL;
    m->bits = NULL;
    return false;
  }
  m->n_slots = n;
  return true;
}

void
marks_add (struct marks *m, uint64_t seg, uint64_t off, uint64_t len,
           uint64_t gen)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);
  uint32_t slot;
  uint8_t *bits;
  uint64_t b0, b1;

  if (gen != m->generation || (m->n_slots == 0 && !allocate (m)))
    return;                     /* overtaken, or no memory: fault again */
  slot = slot_of (m, seg);
  bits = &m->bits[(size_t) slot * m->n_bytes];
  if (m->tags[slot] != seg + 1) {
    m->tags[slot] = seg + 1;    /* evict the segment that was there */
    memset (bits, 0, m->n_bytes);
  }
  block_range (off, len, &b0, &b1);
  for (uint64_t b = b0; b < b1 && b / 8 < m->n_bytes; b++)
    bits[b / 8] |= 1u << (b % 8);
}

void
marks_forget (struct marks *m, uint64_t first, uint64_t count)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);

  m->generation++;
  if (m->n_slots == 0)
    return;
  if (count >= m->n_slots) {
    memset (m->tags, 0, m->n_slots * sizeof *m->tags);
    return;
  }
  for (uint64_t i = 0; i < count; i++) {
    uint32_t slot = slot_of (m, first + i);
    if (m->tags[slot] == first + i + 1)
      m->tags[slot] = 0;
  }
}
