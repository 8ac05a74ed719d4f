/* segmap: the agent's cache of changed-block marks (DESIGN §5 Snapshot,
 * changed-block tracking).
 *
 * The controller marks the 4 KiB blocks of a tracked vdisk changed since
 * its latest snapshot.  The agent keeps here the blocks it knows the
 * controller has: those of a write fault's answer (RETRY with
 * MSG_F_MARKED), and those it reported itself writing to an OPEN
 * segment (MARK), so that the next write to those blocks of an OPEN
 * segment goes in place without a report.
 *
 * It is only a cache, so it may forget anything at any time: a
 * forgotten mark costs one more fault, never a wrong answer.  What it
 * must never do is hold a mark the controller no longer has: marks
 * only go at a snapshot (which reaches the agent as SET_STATUS) or
 * when the segment changes (SET_ENTRY), so both forget the segments
 * they touch (marks_forget) and bump the generation.  A fault's answer
 * is added only if the generation is what it was when the fault was
 * sent (marks_add), so an answer overtaken by a snapshot adds nothing.
 *
 * Shape: a direct-mapped array of slots (segment tag + bitmap), sized
 * to about MARKS_BYTES per table, allocated at the first mark; one
 * mutex.  Only writes to TRACK entries look here.
 */
#ifndef SEGMAP_MARKS_H
#define SEGMAP_MARKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct marks {
  pthread_mutex_t lock;
  uint64_t generation;          /* bumped by every forget */
  unsigned seg_shift;
  uint32_t n_bytes;             /* bitmap bytes per segment */
  uint32_t n_slots;             /* a power of two; 0 until the first add */
  uint64_t *tags;               /* segment + 1 per slot (0: empty) */
  uint8_t *bits;                /* n_slots * n_bytes */
};

void marks_init (struct marks *m, unsigned seg_shift);
void marks_destroy (struct marks *m);
uint64_t marks_generation (struct marks *m);
/* Is every block of [OFF, OFF+LEN) of segment SEG marked?  *GEN (if
 * not NULL) gets the generation it was answered at, in the same lock
 * (for the marks_add that follows a report). */
bool marks_cover (struct marks *m, uint64_t seg, uint64_t off,
                  uint64_t len, uint64_t *gen);
/* The blocks of [OFF, OFF+LEN) of SEG are marked, as answered to a
 * fault sent at generation GEN. */
void marks_add (struct marks *m, uint64_t seg, uint64_t off, uint64_t len,
                uint64_t gen);
/* Forget the marks of [FIRST, FIRST+COUNT). */
void marks_forget (struct marks *m, uint64_t first, uint64_t count);

#endif /* SEGMAP_MARKS_H */
