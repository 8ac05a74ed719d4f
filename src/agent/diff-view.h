/* segmap: a read-only view of the blocks changed between two points of
 * a vdisk's history: the NBD export VDISK@FROM..TO (DESIGN §5 Snapshot,
 * changed-block tracking).
 *
 * FROM is a snapshot, TO a later snapshot or (empty) the vdisk itself.
 * At open the agent asks the controller for the changed byte ranges
 * (GET_DIFF -> DIFF: computed from the marks, no data read) and keeps
 * them with a reference to TO's table.  Reads return TO's bytes inside
 * the ranges and zeros outside; extents report the ranges as data and
 * the rest as hole + zero, so a client that copies only data (nbdcopy,
 * qemu-img convert with a raw target of the previous backup) copies
 * only the changes.  The ranges are those of the moment of the open; a
 * view of a live TO is a moving target, and its reads inside the ranges
 * read TO as it is then.
 */
#ifndef SEGMAP_DIFF_VIEW_H
#define SEGMAP_DIFF_VIEW_H

#include <stdbool.h>
#include <stdint.h>

struct agent;
struct table;

struct diff_view {
  struct table *to;             /* a reference */
  uint64_t size;                /* TO's size at the open */
  uint64_t *ranges;             /* (offset, length) pairs, ascending */
  uint32_t n_ranges;
};

/* Is NAME a diff export name (VDISK@FROM..[TO])? */
bool diff_view_name (const char *name);
/* Open the view NAME; NULL with sm_error (and errno) if a part is
 * unknown or the controller refuses. */
struct diff_view *diff_view_open (struct agent *a, const char *name);
void diff_view_close (struct agent *a, struct diff_view *v);
int diff_view_pread (struct agent *a, struct diff_view *v, void *buf,
                     uint32_t count, uint64_t offset);
int diff_view_extents (struct diff_view *v, uint32_t count, uint64_t offset,
                       int (*fn) (void *opaque, uint64_t offset,
                                  uint64_t len, bool zero),
                       void *opaque);

#endif /* SEGMAP_DIFF_VIEW_H */
