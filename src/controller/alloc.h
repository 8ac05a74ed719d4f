/* segmap: free-space allocator of one container.
 *
 * Space is counted in units of SM_UNIT_SIZE (64 KiB).  A segment of S
 * bytes takes S / 64K units, aligned to that many units, so requests
 * are powers of two (1 .. 1024 for 64 KiB .. 64 MiB segments).
 *
 * The allocator is memory only: the controller rebuilds it at start-up
 * from the durable segment table (alloc_new, then alloc_mark_used for
 * every referenced segment), so free space is by construction the
 * complement of used space.  It is not thread-safe: the controller
 * thread owns it.
 *
 * Cost: about 2.25 MiB of memory per TiB of container (2 MiB bitmap +
 * 0.25 MiB summary tree).  alloc_get, alloc_put and alloc_mark_used run
 * in O(log n + units / 64), whatever the fill level; see alloc.c.
 */
#ifndef SEGMAP_ALLOC_H
#define SEGMAP_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct alloc;

/* Largest container the allocator accepts, in units (2^40, as in an
 * entry's unit field). */
#define ALLOC_MAX_UNITS (UINT64_C(1) << 40)

/* A new allocator for N_UNITS units, all free.  NULL + sm_error on
 * failure (ENOMEM, or ERANGE past ALLOC_MAX_UNITS). */
struct alloc *alloc_new (uint64_t n_units);

/* Free the allocator (NULL is allowed). */
void alloc_free (struct alloc *a);

/* Grow to N_UNITS units; the new units are free.  A smaller N_UNITS
 * leaves it unchanged (never shrinks).  -1 + sm_error on failure, and
 * then the allocator is unchanged. */
int alloc_grow (struct alloc *a, uint64_t n_units);

/* Mark [UNIT, UNIT+UNITS) used (loading the segment table).  UNITS > 0;
 * no alignment is required.  -1 + sm_error with errno ERANGE if the
 * range is outside the container, EEXIST if any unit is already used. */
int alloc_mark_used (struct alloc *a, uint64_t unit, uint64_t units);

/* Allocate UNITS units (a power of two) aligned to UNITS: the lowest
 * such free run is marked used and its first unit stored in *UNIT.
 * -1 with errno ENOSPC and no sm_error when there is none; -1 + sm_error
 * with EINVAL if UNITS is not a power of two. */
int alloc_get (struct alloc *a, uint64_t units, uint64_t *unit);

/* Free [UNIT, UNIT+UNITS), which must all be used (assert).  First fit
 * hands freed space out again at once: put a segment back only when
 * the change that stopped referencing it is durable and the segment
 * reads as zeros (DESIGN §3). */
void alloc_put (struct alloc *a, uint64_t unit, uint64_t units);

/* Is any unit of [UNIT, UNIT+UNITS) used?  Units past the end of the
 * container count as used. */
bool alloc_is_used (struct alloc *a, uint64_t unit, uint64_t units);

/* Reservations (grants, controller/faults.c): alloc_reserve takes
 * space exactly as alloc_get does, but counts it as reserved rather
 * than used until alloc_use_reserved (the segment now holds data the
 * map records) or alloc_unreserve (it goes back: marked used again by
 * alloc_use_reserved first when it must wait for a commit).  Reserved
 * units are never handed out by alloc_get. */
int alloc_reserve (struct alloc *a, uint64_t units, uint64_t *unit);
void alloc_use_reserved (struct alloc *a, uint64_t unit, uint64_t units);
void alloc_unreserve (struct alloc *a, uint64_t unit, uint64_t units);

/* Units in use (not counting reservations), units reserved, and units
 * in the container.  A unit is free when it is neither. */
uint64_t alloc_used_units (const struct alloc *a);
uint64_t alloc_reserved_units (const struct alloc *a);
uint64_t alloc_total_units (const struct alloc *a);
/* Units neither used nor reserved. */
uint64_t alloc_free_units (const struct alloc *a);

/* Call FN for every maximal free run, in increasing order.  A non-zero
 * return from FN stops the walk and is returned; otherwise 0. */
int alloc_foreach_free (struct alloc *a,
                        int (*fn) (void *opaque, uint64_t unit, uint64_t units),
                        void *opaque);

#endif /* SEGMAP_ALLOC_H */
