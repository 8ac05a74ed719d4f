/* segmap: one mapping-table entry, as held by agents and sent on the wire.
 *
 * An entry maps one virtual segment of a vdisk.  It is a single 64-bit
 * word so that the agent's fast path is one atomic load:
 *
 *    63                          24 23             8 7        0
 *   +------------------------------+----------------+----------+
 *   | unit: physical offset / 64K  |  container id  |  flags   |
 *   +------------------------------+----------------+----------+
 *
 * The physical location is (container, unit): the segment starts at
 * byte unit * 64 KiB of the container.  64 KiB is the smallest segment
 * size, so every segment starts on a unit boundary.
 *
 * States (DESIGN §3).  The all-zero word is INVALID: the agent holds no
 * usable mapping and every access faults.  Otherwise ENTRY_VALID is set
 * and the other flags qualify it:
 *
 *   VALID                   mapped, read/write on the fast path
 *   VALID|NOWRITE           reads served, writes fault (shared / moving)
 *   VALID|ZERO              reads are zeros with no I/O, writes fault;
 *                           no location (never written: thin)
 *   VALID|ERROR             reads and writes fail with a medium error
 *   VALID|ALT (|NOWRITE)    a data movement is in progress: the
 *                           controller has an alternate location and a
 *                           per-block bitmap; reads and writes fault
 *   VALID|OPEN              mapped, tracked and open: writes go to the
 *                           location; a block the agent has not
 *                           reported since the entry came is reported
 *                           first (MARK, not waited for)
 *   VALID|TRACK             mapped, tracked (changed-block tracking):
 *                           reads on the fast path; a write goes to
 *                           the location only if every 4 KiB block it
 *                           touches is marked changed already (the
 *                           agent caches the marks it was told of),
 *                           else it faults and the controller marks
 *                           them, durably, before answering
 *
 * Invalid, zero and error are left only by replacing the whole entry
 * (set_entry), never by clearing a bit (set_status refuses to).
 */
#ifndef SEGMAP_ENTRY_H
#define SEGMAP_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t sm_entry;

#define ENTRY_INVALID   UINT64_C(0)
#define ENTRY_VALID     UINT64_C(0x01)
#define ENTRY_NOWRITE   UINT64_C(0x02)
#define ENTRY_ZERO      UINT64_C(0x04)
#define ENTRY_ERROR     UINT64_C(0x08)
#define ENTRY_ALT       UINT64_C(0x10)
#define ENTRY_TRACK     UINT64_C(0x20)
#define ENTRY_OPEN      UINT64_C(0x40)
#define ENTRY_FLAG_MASK UINT64_C(0xff)
#define ENTRY_KNOWN_FLAGS (ENTRY_VALID | ENTRY_NOWRITE | ENTRY_ZERO | \
                           ENTRY_ERROR | ENTRY_ALT | ENTRY_TRACK | \
                           ENTRY_OPEN)

#define ENTRY_UNIT_SHIFT 16           /* a unit is 64 KiB */
#define ENTRY_MAX_CONTAINER 0xffff
#define ENTRY_MAX_UNIT ((UINT64_C(1) << 40) - 1)

/* The entry of a zero (never written) segment. */
#define ENTRY_ZERO_SEGMENT (ENTRY_VALID | ENTRY_ZERO)

static inline sm_entry
entry_make (uint32_t container, uint64_t unit, uint64_t flags)
{
  return (unit << 24) | ((uint64_t) (container & 0xffff) << 8)
    | (flags & ENTRY_FLAG_MASK);
}

static inline uint64_t entry_flags (sm_entry e) { return e & ENTRY_FLAG_MASK; }
static inline uint32_t entry_container (sm_entry e) { return (e >> 8) & 0xffff; }
static inline uint64_t entry_unit (sm_entry e) { return e >> 24; }
static inline uint64_t entry_offset (sm_entry e)
{
  return entry_unit (e) << ENTRY_UNIT_SHIFT;
}

static inline bool entry_is_valid (sm_entry e) { return e & ENTRY_VALID; }

/* Can a read be served on the fast path (from the location or as zeros)? */
static inline bool
entry_readable (sm_entry e)
{
  return (e & (ENTRY_VALID | ENTRY_ERROR | ENTRY_ALT)) == ENTRY_VALID;
}

/* Can a write go straight to the location? */
static inline bool
entry_writable (sm_entry e)
{
  return (e & ENTRY_FLAG_MASK) == ENTRY_VALID;
}

/* Can a write go to the location once its unreported blocks are
 * reported? */
static inline bool
entry_open (sm_entry e)
{
  return (e & ENTRY_FLAG_MASK) == (ENTRY_VALID | ENTRY_OPEN);
}

/* Can a write whose blocks are all marked go straight to the location? */
static inline bool
entry_tracked (sm_entry e)
{
  return (e & ENTRY_FLAG_MASK) == (ENTRY_VALID | ENTRY_TRACK);
}

/* Is the entry well formed (known flags, no location on zero/invalid)? */
static inline bool
entry_is_well_formed (sm_entry e)
{
  if (e == ENTRY_INVALID)
    return true;
  if ((e & ~ENTRY_KNOWN_FLAGS & ENTRY_FLAG_MASK) || !(e & ENTRY_VALID))
    return false;
  if ((e & ENTRY_ZERO) && (e >> 8) != 0)
    return false;
  return true;
}

/* "invalid", "mapped", "zero", "nowrite", "error", "alternate",
 * "tracked", "open". */
const char *entry_state_to_string (sm_entry e);

#endif /* SEGMAP_ENTRY_H */
