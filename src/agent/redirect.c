/* segmap: redirected I/O in the agent (DO_WRITE, DO_SPLIT_READ).
 *
 * While a segment's data moves (a snapshot's copy, a migration) the
 * controller holds an alternate location and a bitmap of the 4 KiB
 * blocks of the segment already there (seed 001 FIG. 6).  A fault on
 * such a segment may be answered with an order instead of entries:
 *
 *   DO_SPLIT_READ(orig, alt, at_alt)  read each block of the piece from
 *                                     alt if its bit is set, else from
 *                                     orig (zeros if orig is ZERO)
 *   DO_WRITE(orig, alt, at_alt)       write the piece to alt, whole
 *                                     blocks only: the head and tail
 *                                     blocks it covers in part are read
 *                                     first from where their data is now
 *                                     (alt if the bit is set, else orig)
 *                                     and merged (read-modify-write)
 *
 * and then, in both cases,
 *
 *   IO_DONE(order id, status, blocks written) --> controller
 *   <-- COMPLETE_TO_HOST | FAIL | RETRY
 *
 * (A held movement, held.h, runs the same I/O without the messages:
 * redirect_io_at.)
 *
 * The host hears of the I/O only after that answer: the controller
 * marks written blocks as being at alt when IO_DONE arrives (the data
 * is there), and until then keeps other writes off those blocks.
 *
 * Invariants.
 *  - No container I/O for the piece before the order arrived (io.c
 *    sends the fault first) and none after IO_DONE was sent: IO_DONE is
 *    the agent's promise that it no longer touches orig or alt for this
 *    order, so the controller may end the movement and free either.
 *  - The order's I/O runs inside an epoch section of the table, like
 *    every other storage I/O: a blocking command that drains the table
 *    waits for it.
 *  - Locations come from the order, never from the agent's table: the
 *    controller answered from its current state, the table may be older
 *    (or forgotten).
 *  - Orig is never written.  Alt is written only in whole 4 KiB blocks,
 *    so a block the controller marks holds a full block of current data.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/redirect.h"
#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "store/container.h"

#define BLOCK SM_BLOCK_SIZE
#define MAX_ERRNO 4095          /* what IO_DONE's status may carry */

/* The locations an order names. */
struct order {
  sm_entry orig, alt;
  const uint8_t *at_alt;        /* bitmap of blocks at alt */
  uint32_t n_at_alt;
};

uint8_t *
redirect_blocks (unsigned seg_shift, uint64_t off, uint32_t len, uint32_t *n)
{
  uint64_t blocks = (UINT64_C(1) << seg_shift) / BLOCK;
  uint8_t *b = calloc ((blocks + 7) / 8, 1);

  if (b == NULL)
    return NULL;
  for (uint64_t i = off / BLOCK; len > 0 && i <= (off + len - 1) / BLOCK; i++)
    b[i / 8] |= 1u << (i % 8);
  *n = (blocks + 7) / 8;
  return b;
}

/* Check ORDER against the I/O it answers; fill *O.  0 or -1 (EIO). */
static int
check_order (const struct redirect_io *io, const struct msg *m,
             struct order *o)
{
  const char *name = msg_type_to_string (m->type);

  if (io->write != (m->type == MSG_DO_WRITE)) {
    sm_error ("vdisk %s: the controller answered a %s fault on segment %"
              PRIu64 " with %s", io->t->name, io->write ? "write" : "read",
              io->seg, name);
    errno = EIO;
    return -1;
  }
  if (m->n_blocks > table_bitmap_bytes (io->t)) {
    sm_error ("vdisk %s: %s for segment %" PRIu64 " carries a %" PRIu32
              "-byte bitmap, more than the segment's %" PRIu32,
              io->t->name, name, io->seg, m->n_blocks,
              table_bitmap_bytes (io->t));
    errno = EIO;
    return -1;
  }
  o->orig = m->entries[0];      /* the codec checked there is one */
  o->alt = m->alt;
  o->at_alt = m->blocks;
  o->n_at_alt = m->n_blocks;
  return 0;
}

static struct container *
container_of (struct agent *a, sm_entry e)
{
  struct container *c = agent_container (a, entry_container (e));

  if (c == NULL) {
    sm_error ("redirected I/O names unknown container %u",
              entry_container (e));
    errno = EIO;
  }
  return c;
}

/* Is BLOCK at alt?  (A held movement's bitmap gains bits while other
 * I/O reads it: bits only get set, and never those of blocks this I/O
 * touches, which it holds.) */
static bool
at_alt (const struct order *o, uint64_t block)
{
  return block / 8 < o->n_at_alt
    && (__atomic_load_n (&o->at_alt[block / 8], __ATOMIC_ACQUIRE)
        >> (block % 8)) & 1;
}

/* Read LEN bytes at byte OFF of the segment from alt (FROM_ALT) or
 * from orig.  0 or -1. */
static int
read_from (struct agent *a, const struct order *o, bool from_alt,
           void *buf, uint32_t len, uint64_t off)
{
  sm_entry e = from_alt ? o->alt : o->orig;
  struct container *c;

  if (e & ENTRY_ZERO) {
    memset (buf, 0, len);
    return 0;
  }
  if ((c = container_of (a, e)) == NULL)
    return -1;
  return agent_cio_pread (a, c, buf, len, entry_offset (e) + off);
}

/* DO_SPLIT_READ: runs of blocks from the same place, one read each. */
static int
split_read (struct agent *a, const struct redirect_io *io,
            const struct order *o)
{
  uint64_t end = io->off + io->len, pos = io->off;

  while (pos < end) {
    bool from_alt = at_alt (o, pos / BLOCK);
    uint64_t stop = (pos / BLOCK + 1) * BLOCK;

    while (stop < end && at_alt (o, stop / BLOCK) == from_alt)
      stop += BLOCK;
    if (stop > end)
      stop = end;
    if (read_from (a, o, from_alt, (char *) io->buf + (pos - io->off),
                   stop - pos, pos) == -1)
      return -1;
    pos = stop;
  }
  return 0;
}

/* Write block B (covered by the I/O in part) to alt, whole: its current
 * data with the I/O's bytes merged in. */
static int
write_partial_block (struct agent *a, const struct redirect_io *io,
                     const struct order *o, struct container *alt,
                     uint64_t b)
{
  uint8_t block[BLOCK];
  uint64_t start = b * BLOCK, end = io->off + io->len;
  uint64_t from = io->off > start ? io->off : start;
  uint64_t to = end < start + BLOCK ? end : start + BLOCK;

  if (read_from (a, o, at_alt (o, b), block, BLOCK, start) == -1)
    return -1;
  if (io->buf)
    memcpy (block + (from - start), (char *) io->buf + (from - io->off),
            to - from);
  else
    memset (block + (from - start), 0, to - from);
  return agent_cio_pwrite (a, io->t, alt, block, BLOCK,
                          entry_offset (o->alt) + start);
}

/* DO_WRITE: head and tail blocks merged, the whole blocks between them
 * in one write (or one zeroing). */
static int
redirect_write (struct agent *a, const struct redirect_io *io,
                const struct order *o)
{
  struct container *alt = container_of (a, o->alt);
  uint64_t end = io->off + io->len;
  uint64_t first = io->off / BLOCK, last = (end - 1) / BLOCK;
  uint64_t whole_start = (io->off + BLOCK - 1) / BLOCK * BLOCK;
  uint64_t whole_end = end / BLOCK * BLOCK;
  bool head = io->off % BLOCK != 0;
  bool tail = end % BLOCK != 0 && !(head && first == last);
  uint64_t at = entry_offset (o->alt) + whole_start;

  if (alt == NULL)
    return -1;
  if (head && write_partial_block (a, io, o, alt, first) == -1)
    return -1;
  if (tail && write_partial_block (a, io, o, alt, last) == -1)
    return -1;
  if (whole_end <= whole_start)
    return 0;
  if (io->buf == NULL)
    return agent_cio_zero (a, io->t, alt, at, whole_end - whole_start);
  return agent_cio_pwrite (a, io->t, alt,
                           (char *) io->buf + (whole_start - io->off),
                           whole_end - whole_start, at);
}

int
redirect_io_at (struct agent *a, const struct redirect_io *io,
                sm_entry orig, sm_entry alt, const uint8_t *at_alt,
                uint32_t n_at_alt)
{
  struct order o = { .orig = orig, .alt = alt, .at_alt = at_alt,
                     .n_at_alt = n_at_alt };

  return io->write ? redirect_write (a, io, &o) : split_read (a, io, &o);
}

/* Do the order's container I/O inside an epoch section.  0 or -1. */
static int
execute (struct agent *a, const struct redirect_io *io,
         const struct order *o)
{
  uint64_t epoch = table_enter (io->t);
  int r;

  if (atomic_load (&io->t->dead)) {
    errno = ENXIO;
    r = -1;
  }
  else
    r = redirect_io_at (a, io, o->orig, o->alt, o->at_alt, o->n_at_alt);
  table_exit (io->t, epoch);
  return r;
}

/* The controller's answer to IO_DONE (STATUS: what the agent reported)
 * as redirect_run returns it. */
static int
finish (const struct redirect_io *io, uint32_t status, struct msg *answer)
{
  int r;

  switch (answer->type) {
  case MSG_COMPLETE_TO_HOST:     /* after a failed I/O: still a failure */
    r = status == 0 ? 1 : -1;
    if (status != 0)
      errno = status;
    break;
  case MSG_FAIL:
    errno = answer->status;
    r = -1;
    break;
  case MSG_RETRY:
    r = 0;
    break;
  default:
    sm_error ("vdisk %s: unexpected answer %s to io_done",
              io->t->name, msg_type_to_string (answer->type));
    errno = EIO;
    r = -1;
  }
  msg_clear (answer);
  return r;
}

int
redirect_run (struct agent *a, const struct redirect_io *io,
              struct msg *order)
{
  struct msg done = { .type = MSG_IO_DONE, .vdisk = io->t->vdisk,
                      .first = io->seg, .arg = order->id };
  CLEANUP_FREE uint8_t *written = NULL;
  struct msg answer;
  struct order o;
  int r;

  r = check_order (io, order, &o);
  if (r == 0)
    r = execute (a, io, &o);
  msg_clear (order);            /* o points into it: not used below */
  if (r == -1)
    done.status = errno > 0 && errno <= MAX_ERRNO ? errno : EIO;
  else if (io->write) {
    written = redirect_blocks (io->t->seg_shift, io->off, io->len,
                               &done.n_blocks);
    if (written == NULL)
      done.status = ENOMEM;     /* written, but cannot say which blocks */
    done.blocks = written;
  }
  if (agent_request (a, &done, &answer) == -1) {
    sm_error ("vdisk %s: cannot report the redirected %s of segment %"
              PRIu64 " to the controller", io->t->name,
              io->write ? "write" : "read", io->seg);
    errno = EIO;
    return -1;
  }
  return finish (io, done.status, &answer);
}
