/* segmap: the agent's cache of mirror locations (see mirrors.h). */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "agent/mirrors.h"
#include "agent/slots.h"
#include "common/cleanup.h"

#define MIRRORS_SLOTS 4096u     /* 64 KiB of slots per mirrored table */

void
mirrors_init (struct mirrors *m)
{
  memset (m, 0, sizeof *m);
  pthread_mutex_init (&m->lock, NULL);
}

void
mirrors_destroy (struct mirrors *m)
{
  free (m->tags);
  free (m->locs);
  pthread_mutex_destroy (&m->lock);
}

static uint32_t
slot_of (const struct mirrors *m, uint64_t seg)
{
  return slots_index (seg, m->n_slots);
}

sm_entry
mirrors_get (struct mirrors *m, uint64_t seg)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);
  uint32_t slot;

  if (m->n_slots == 0)
    return 0;
  slot = slot_of (m, seg);
  return m->tags[slot] == seg + 1 ? m->locs[slot] : 0;
}

void
mirrors_put (struct mirrors *m, uint64_t seg, sm_entry loc)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);
  uint32_t slot;

  if (m->n_slots == 0) {
    if (loc == 0)
      return;
    m->tags = calloc (MIRRORS_SLOTS, sizeof *m->tags);
    m->locs = calloc (MIRRORS_SLOTS, sizeof *m->locs);
    if (m->tags == NULL || m->locs == NULL) {
      free (m->tags);
      free (m->locs);
      m->tags = NULL;
      m->locs = NULL;
      return;                   /* no memory: writes fault */
    }
    m->n_slots = MIRRORS_SLOTS;
  }
  slot = slot_of (m, seg);
  if (loc == 0) {
    if (m->tags[slot] == seg + 1)
      m->tags[slot] = 0;
    return;
  }
  m->tags[slot] = seg + 1;      /* evict the segment that was there */
  m->locs[slot] = loc;
}

void
mirrors_forget (struct mirrors *m, uint64_t first, uint64_t count)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m->lock);

  slots_forget (m->tags, m->n_slots, first, count);
}
