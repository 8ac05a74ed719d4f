/* segmap: movements the controller delegated to the agent (DELEGATE).
 *
 * While a segment's data moves (a snapshot's copy-on-write, a
 * migration), a write to it would otherwise cost two controller round
 * trips (DO_WRITE, IO_DONE; redirect.c).  The controller may instead
 * answer the first write fault with DELEGATE(orig, alt, blocks at alt):
 * the agent then holds the movement and does the segment's I/O itself,
 * exactly as the orders would have it done -- reads split between orig
 * and alt by the bitmap, writes to alt in whole 4 KiB blocks (partial
 * blocks merged from where their data is) -- and reports the blocks it
 * wrote with MOVED, in batches, never waiting for an answer.
 *
 * One held movement per (table, segment), in a map sorted by segment.
 *
 *   installed --get/begin--> in use (io lock: read for I/O of whole
 *       |                    blocks, write for a write that merges a
 *       |                    partial block) --end/put--> installed
 *       +--drop (REVOKE; SET_ENTRY, SET_STATUS, QUIESCE, DELETE_TABLE
 *          over it)--> out of the map; the drop takes the io lock for
 *          writing (no I/O on it any more), reports the blocks not yet
 *          reported, marks it dropped; freed by the last put.  A user
 *          that got it before the drop finds it dropped at begin and
 *          looks the segment up again (and faults).
 *
 * Invariants.
 *  - Every report of a held movement is sent under its bits lock, and
 *    bits are set only by I/O holding its io lock: a drop, which holds
 *    the io lock for writing, sends the last report, and none can
 *    follow.  So the controller, having the answer to the command that
 *    dropped it, has every block the agent wrote at alt queued ahead.
 *  - A block's bit is set only after its data is at alt (held_wrote
 *    comes after the write).  Bits only ever get set.
 *  - Orig is never written.
 */
#ifndef SEGMAP_HELD_H
#define SEGMAP_HELD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/entry.h"

struct held {
  uint64_t seg;
  sm_entry orig, alt;
  uint32_t n_bytes;               /* of each bitmap */
  pthread_rwlock_t io;
  pthread_mutex_t bits_lock;      /* at_alt (writes), unreported */
  uint8_t *at_alt;                /* blocks whose data is at alt */
  uint8_t *unreported;            /* set at alt, not yet sent in MOVED */
  unsigned writes_unreported;
  uint64_t reported_ms;           /* when they were last reported */
  unsigned users;                 /* gets without a put (map lock) */
  bool dropped;                   /* out of the map (map lock) */
};

struct held_map {
  pthread_mutex_t lock;
  struct held **v;                /* sorted by seg */
  size_t len, cap;
};

/* Report BLOCKS (N bytes) of segment SEG as written at alt.  0 or -1. */
typedef int (*held_report_fn) (void *opaque, uint64_t seg,
                               const uint8_t *blocks, uint32_t n);

void held_map_init (struct held_map *hm);
void held_map_destroy (struct held_map *hm);

/* Hold the movement of SEG: ORIG, ALT, the controller's bitmap AT_ALT
 * (N_AT_ALT bytes, the rest clear) of a segment with N_BYTES bytes of
 * bitmap.  0, or -1 with errno (ENOMEM; EEXIST if SEG is held). */
int held_install (struct held_map *hm, uint64_t seg, sm_entry orig,
                  sm_entry alt, const uint8_t *at_alt, uint32_t n_at_alt,
                  uint32_t n_bytes);

/* The held movement of SEG with a use counted, or NULL. */
struct held *held_get (struct held_map *hm, uint64_t seg);
/* End a use; frees a dropped movement at its last use. */
void held_put (struct held_map *hm, struct held *h);

/* Lock H for I/O (EXCLUSIVE: a write that merges a partial block).
 * 0, or -1 if it was dropped meanwhile (nothing locked). */
int held_begin (struct held *h, bool exclusive);
void held_end (struct held *h);

/* Between begin and end: the bytes [OFF, OFF+LEN) of the segment
 * (LEN > 0) were written at alt, in the whole 4 KiB blocks they touch.
 * They are reported through REPORT (under the bits lock) after a batch
 * of writes or a while since the last report.  0, or -1 if the report
 * failed. */
int held_wrote (struct held *h, uint64_t off, uint32_t len,
                held_report_fn report, void *opaque);

/* Report every held movement's unreported blocks (before a FLUSH).
 * 0 or -1. */
int held_report_all (struct held_map *hm, held_report_fn report,
                     void *opaque);

/* Drop the held movements of [FIRST, FIRST+COUNT) as described above.
 * 0, or -1 if a report failed (they are dropped all the same). */
int held_drop (struct held_map *hm, uint64_t first, uint64_t count,
               held_report_fn report, void *opaque);

/* Number held (statistics, tests). */
size_t held_count (struct held_map *hm);

#endif /* SEGMAP_HELD_H */
