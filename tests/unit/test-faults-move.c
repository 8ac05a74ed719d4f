/* segmap: unit tests of the controller's data movements
 * (src/controller/faults-move.c and its hooks in faults.c) with a real
 * agent, a real store and a real container.
 *
 * The controller here is assembled by hand: a struct controller with a
 * store, the vdisk cache and the in-process transport (the agent
 * REGISTERs as in the room), and no thread.
 * The test's own thread plays the controller thread: it pops the
 * frames the agent queued (controller_submit_frame) and hands them to
 * ctrl_handle_frame, one at a time and in an order the test chooses,
 * so that it can put a fault between a redirected write and its
 * IO_DONE.  Host I/O runs in threads of its own.
 *
 * Segment 0 of the vdisk (1 MiB segments) is mapped at 1 MiB of the
 * container (pattern ORIG); movements take it to 4 MiB (pattern ALT).
 */
#include <config.h>

#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "config/config.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "proto/msg.h"
#include "instance/transport-local.h"
#include "proto/transport.h"
#include "store/container.h"
#include "store/inject.h"
#include "test-segment-data.h"

#define MiB (UINT64_C(1) << 20)
#define BLK SM_BLOCK_SIZE
#define SEG MiB
#define ORIG_AT MiB
#define ALT_AT (4 * MiB)
#define UNITS (SEG / SM_UNIT_SIZE)

static char dir[64], db_path[96], box_path[96];
static struct controller *c;
static struct agent *a;
static struct transport tr;
static struct container *box;
static struct table *t;
static uint32_t vid;
static sm_entry orig, alt;

static void
quiet_sink (const char *fmt, va_list args)
{
  (void) fmt;
  (void) args;
}

/*----------------------------------------------------------------------
 * The hand-made controller and its queue.
 */

static unsigned
queued (void)
{
  unsigned n = 0;

  pthread_mutex_lock (&c->queue_lock);
  for (struct creq *r = c->queue_head; r; r = r->next)
    n++;
  pthread_mutex_unlock (&c->queue_lock);
  return n;
}

static void
wait_queued (unsigned n)
{
  uint64_t start = sm_test_now_ms ();

  while (queued () < n && sm_test_now_ms () - start < 5000)
    sm_test_sleep_ms (1);
  ck_assert_uint_ge (queued (), n);
}

/* The type of queued frame I. */
static unsigned
queued_type (unsigned i)
{
  unsigned type = 0;

  pthread_mutex_lock (&c->queue_lock);
  for (struct creq *r = c->queue_head; r; r = r->next)
    if (i-- == 0) {
      type = msg_frame_type (r->frame, r->len);
      break;
    }
  pthread_mutex_unlock (&c->queue_lock);
  return type;
}

static void handle (unsigned i);

/* Handle frames until the next queued one is an IO_DONE (an order is
 * outstanding). */
static void
handle_until_io_done (void)
{
  for (;;) {
    wait_queued (1);
    if (queued_type (0) == MSG_IO_DONE)
      return;
    handle (0);
  }
}

/* Take queued frame I out of the queue and handle it. */
static void
handle (unsigned i)
{
  struct creq **pp, *r;

  pthread_mutex_lock (&c->queue_lock);
  for (pp = &c->queue_head; *pp && i > 0; pp = &(*pp)->next)
    i--;
  r = *pp;
  ck_assert_ptr_nonnull (r);
  *pp = r->next;
  if (c->queue_tail == r) {
    c->queue_tail = NULL;
    for (struct creq *q = c->queue_head; q; q = q->next)
      c->queue_tail = q;
  }
  pthread_mutex_unlock (&c->queue_lock);
  ctrl_handle_frame (c, r->from, r->frame, r->len);
  free (r->frame);
  free (r);
}

/*----------------------------------------------------------------------
 * Host I/O.
 */

struct host_io {
  bool write;
  bool trim;                    /* whole segments (write is ignored) */
  uint8_t buf[32768];
  uint32_t len;
  uint64_t off;
  pthread_t th;
  _Atomic bool done;
  int r, err;
};

static void *
host_io_run (void *arg)
{
  struct host_io *h = arg;

  errno = 0;
  if (h->trim)
    h->r = agent_trim (a, t, h->len, h->off, false);
  else
    h->r = h->write ? agent_pwrite (a, t, h->buf, h->len, h->off, false)
      : agent_pread (a, t, h->buf, h->len, h->off);
  h->err = errno;
  h->done = true;
  return NULL;
}

static void
host_start (struct host_io *h, bool write, uint64_t off, uint32_t len,
            unsigned seed)
{
  h->write = write;
  h->off = off;
  h->len = len;
  h->done = false;
  for (uint32_t i = 0; i < len && i < sizeof h->buf; i++)
    h->buf[i] = write ? (uint8_t) (i * 3 + seed) : 0xee;
  ck_assert_int_eq (pthread_create (&h->th, NULL, host_io_run, h), 0);
}

/* Play the controller until H is done; its result. */
static int
host_finish (struct host_io *h)
{
  uint64_t start = sm_test_now_ms ();

  while (!h->done && sm_test_now_ms () - start < 5000) {
    if (queued () > 0)
      handle (0);
    else
      sm_test_sleep_ms (1);
  }
  ck_assert (h->done);
  pthread_join (h->th, NULL);
  errno = h->err;
  return h->r;
}

static int
host_io (struct host_io *h, bool write, uint64_t off, uint32_t len,
         unsigned seed)
{
  host_start (h, write, off, len, seed);
  return host_finish (h);
}

/*----------------------------------------------------------------------
 * Set-up: store, container, agent, controller.
 */

static void *
register_run (void *arg)
{
  return (void *) (intptr_t) agent_register (a);
}

/* REGISTER the agent as the room does, with this thread handling the
 * frame: the controller answers it and announces the vdisk. */
static void
register_agent (void)
{
  pthread_t th;
  void *r;

  ck_assert_int_eq (pthread_create (&th, NULL, register_run, NULL), 0);
  wait_queued (1);
  handle (0);
  pthread_join (th, &r);
  ck_assert_int_eq ((intptr_t) r, 0);
  ck_assert_uint_eq (c->agents.len, 1);
}

static void
setup (void)
{
  struct sm_vdisk_info *v;
  uint32_t cid;
  size_t n;

  if (!getenv ("SEGMAP_TEST_VERBOSE"))
    sm_set_log_sinks (quiet_sink, NULL);
  ck_assert_int_eq (inject_configure (NULL), 0);
  strcpy (dir, "/tmp/segmap-test-move.XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (db_path, sizeof db_path, "%s/segmap.db", dir);
  snprintf (box_path, sizeof box_path, "%s/box.img", dir);

  c = calloc (1, sizeof *c);
  ck_assert_ptr_nonnull (c);
  pthread_mutex_init (&c->queue_lock, NULL);
  pthread_cond_init (&c->queue_cond, NULL);
  pthread_cond_init (&c->start_cond, NULL);
  ck_assert_int_eq (store_open (db_path, &c->store), 0);
  ck_assert_int_eq (store_container_add (c->store, "c1", box_path, 16 * MiB,
                                         &cid), 0);
  ck_assert_int_eq (cid, 1);
  ck_assert_int_eq (store_vdisk_create (c->store, "vd", 128 * MiB, 20, cid,
                                        &vid), 0);
  orig = entry_make (cid, ORIG_AT / SM_UNIT_SIZE, ENTRY_VALID);
  alt = entry_make (cid, ALT_AT / SM_UNIT_SIZE, ENTRY_VALID);
  ck_assert_int_eq (store_begin (c->store), 0);
  ck_assert_int_eq (store_allocate (c->store, vid, 0, orig, UNITS), 0);
  ck_assert_int_eq (store_commit (c->store), 0);
  ck_assert_int_eq (store_vdisk_list (c->store, &v, &n), 0);
  c->vdisks = v;
  c->n_vdisks = n;

  box = container_open (cid, "c1", box_path, 16 * MiB);
  ck_assert_ptr_nonnull (box);
  segment_fill (box, ORIG_AT, SEG, orig_byte);
  segment_fill (box, ALT_AT, SEG, alt_byte);

  a = agent_new ("test-move", 0);
  ck_assert_ptr_nonnull (a);
  transport_local_init (&tr, a, c);
  agent_set_transport (a, &tr);
  agent_set_container (a, cid, box);
  register_agent ();
  t = agent_open_vdisk (a, "vd");
  ck_assert_ptr_nonnull (t);
  c->no_delegation = true;      /* orders; test_delegated turns it on */
}

static void
teardown (void)
{
  char cmd[128];

  ck_assert_uint_eq (queued (), 0);
  agent_close_vdisk (a, t);
  agent_free (a);
  container_close (box);
  store_close (c->store);
  c->store = NULL;
  controller_free (c);
  inject_configure (NULL);
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq (system (cmd), 0);
  sm_set_log_sinks (NULL, NULL);
}

static enum move_block
where (uint64_t block)
{
  enum move_block w;

  ck_assert_int_eq (ctrl_move_query (c, vid, 0, block, &w), 0);
  return w;
}

static sm_entry
agent_entry (uint64_t seg)
{
  struct msg m = { .type = MSG_GET_ENTRY, .vdisk = vid, .first = seg,
                   .count = 1 }, r;
  sm_entry e;

  ck_assert_int_eq (ctrl_send (c, c->agents.ptr[0], &m, &r), 0);
  e = r.entries[0];
  msg_clear (&r);
  return e;
}

/*----------------------------------------------------------------------
 * Tests.
 */

/* Read blocks 2..6 through R: the 6144 bytes W wrote at OFF (inside
 * blocks 3..5) from alt, everything else from orig. */
static void
check_split_read (struct host_io *r, const struct host_io *w, uint64_t off)
{
  ck_assert_int_eq (host_io (r, false, 2 * BLK, 5 * BLK, 0), 0);
  for (uint64_t i = 2 * BLK; i < 7 * BLK; i++) {
    uint8_t expect = i >= off && i < off + 6144 ? w->buf[i - off]
      : orig_byte (i);
    if (r->buf[i - 2 * BLK] != expect)
      ck_abort_msg ("byte %" PRIu64 " is 0x%02x, expected 0x%02x", i,
                    r->buf[i - 2 * BLK], expect);
  }
}

/* A redirected write lands at alt per block; the blocks are at alt only
 * after IO_DONE; reads of the segment are then split. */
START_TEST (test_redirect_then_split)
{
  static struct host_io w, r;
  const uint64_t off = 3 * BLK + 3000;
  uint8_t *got;

  /* Loaded before the movement: plain, and reads go to orig. */
  ck_assert_int_eq (host_io (&r, false, 0, 100, 0), 0);
  ck_assert_uint_eq (agent_entry (0), orig);
  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  ck_assert_uint_eq (agent_entry (0), orig | ENTRY_NOWRITE);
  errno = 0;
  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), -1);
  ck_assert_int_eq (errno, EEXIST);

  host_start (&w, true, off, 6144, 1);
  wait_queued (1);
  ck_assert_uint_eq (queued_type (0), MSG_MAP_FAULT);
  handle (0);                           /* -> DO_WRITE */
  wait_queued (1);
  ck_assert_uint_eq (queued_type (0), MSG_IO_DONE);
  ck_assert_str_eq (move_block_to_string (where (4)), "writing");
  ck_assert (!w.done);                  /* not before COMPLETE_TO_HOST */
  ck_assert_int_eq (host_finish (&w), 0);
  for (uint64_t b = 0; b < SEG / BLK; b++)
    ck_assert_str_eq (move_block_to_string (where (b)),
                      b >= 3 && b <= 5 ? "alt" : "orig");
  ck_assert_uint_eq (agent_entry (0), orig | ENTRY_NOWRITE | ENTRY_ALT);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));
  /* Blocks 3..5 at alt: the new bytes, completed from orig (no block
   * was at alt before); the other blocks of alt untouched. */
  got = segment_read (box, ALT_AT, SEG);
  for (uint64_t i = 2 * BLK; i < 7 * BLK; i++) {
    uint8_t expect = i >= off && i < off + 6144 ? w.buf[i - off]
      : i >= 3 * BLK && i < 6 * BLK ? orig_byte (i) : alt_byte (i);
    if (got[i] != expect)
      ck_abort_msg ("alt byte %" PRIu64 " is 0x%02x, expected 0x%02x", i,
                    got[i], expect);
  }
  free (got);

  /* A read across blocks 2..6: blocks 3..5 from alt (the new bytes are
   * only there), 2 and 6 from orig (alt has other bytes there). */
  check_split_read (&r, &w, off);
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
  errno = 0;
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), -1);
  ck_assert_int_eq (errno, ENOENT);
}
END_TEST

/* Is bit B of the bitmap BITS set? */
static bool
bit_set (const uint8_t *bits, uint64_t b)
{
  return (bits[b / 8] >> (b % 8)) & 1;
}

/* With delegation: the first write fault is answered with DELEGATE and
 * the agent then writes and reads the segment itself, telling the
 * controller nothing until the copier claims the segment (REVOKE):
 * then every block it wrote is marked at alt before the claim, which
 * leaves them out. */
START_TEST (test_delegated)
{
  static struct host_io w, r;
  const uint64_t off = 3 * BLK + 3000;
  struct move_copy cp;

  c->no_delegation = false;
  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  host_start (&w, true, off, 6144, 1);
  wait_queued (1);
  ck_assert_uint_eq (queued_type (0), MSG_MAP_FAULT);
  handle (0);                           /* -> DELEGATE */
  ck_assert_int_eq (host_finish (&w), 0);
  ck_assert_uint_eq (queued (), 0);
  ck_assert_uint_eq (held_count (&t->held), 1);
  ck_assert_uint_eq (agent_entry (0), orig | ENTRY_NOWRITE | ENTRY_ALT);
  ck_assert_str_eq (move_block_to_string (where (4)), "orig");

  /* Split by the agent alone: 3..5 from alt, 2 and 6 from orig. */
  check_split_read (&r, &w, off);
  ck_assert_uint_eq (queued (), 0);
  ck_assert_int_eq (host_io (&w, true, 10 * BLK, BLK, 2), 0);
  ck_assert_uint_eq (queued (), 0);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));

  /* The copier's claim takes it back first. */
  ck_assert_int_eq (ctrl_move_claim_copy (c, &cp), 1);
  ck_assert_uint_eq (held_count (&t->held), 0);
  ck_assert_uint_eq (queued (), 0);
  for (uint64_t b = 0; b < SEG / BLK; b++) {
    bool written = (b >= 3 && b <= 5) || b == 10;
    ck_assert_str_eq (move_block_to_string (where (b)),
                      written ? "alt" : "writing");
    ck_assert (bit_set (cp.blocks, b) == !written);
  }
  ck_assert_int_eq (ctrl_move_copied (c, &cp, false), 0);
  free (cp.blocks);

  /* Delegated again at the next write; the end takes it back. */
  host_start (&w, true, 20 * BLK, BLK, 3);
  wait_queued (1);
  handle (0);
  ck_assert_int_eq (host_finish (&w), 0);
  ck_assert_uint_eq (held_count (&t->held), 1);
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
  ck_assert_uint_eq (held_count (&t->held), 0);
  ck_assert_uint_eq (queued (), 0);
}
END_TEST

/* Two writes sharing a block: the second waits until the first's data
 * is at alt, so its read-modify-write keeps the first's bytes. */
START_TEST (test_busy_blocks_wait)
{
  static struct host_io w1, w2;
  uint8_t *got;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  host_start (&w1, true, 4 * BLK, 100, 1);
  wait_queued (1);
  handle (0);                           /* w1 -> DO_WRITE, block 4 busy */
  wait_queued (1);                      /* w1's IO_DONE, not handled */
  host_start (&w2, true, 4 * BLK + 200, 100, 2);
  wait_queued (2);
  ck_assert_uint_eq (queued_type (1), MSG_MAP_FAULT);
  handle (1);                           /* w2's fault first: must wait */
  ck_assert_uint_eq (queued (), 1);
  sm_test_sleep_ms (50);
  ck_assert (!w2.done);
  ck_assert_int_eq (host_finish (&w1), 0);
  ck_assert_int_eq (host_finish (&w2), 0);
  got = segment_read (box, ALT_AT, SEG);
  ck_assert_mem_eq (got + 4 * BLK, w1.buf, 100);
  ck_assert_mem_eq (got + 4 * BLK + 200, w2.buf, 100);
  ck_assert_uint_eq (got[4 * BLK + 150], orig_byte (4 * BLK + 150));
  free (got);
  ck_assert_str_eq (move_block_to_string (where (4)), "alt");
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
}
END_TEST

/* The end waits for outstanding orders; a failed redirected write marks
 * nothing; copies cannot mark a block being written. */
START_TEST (test_end_and_failures)
{
  static struct host_io w, r;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  /* (ENOSPC: an EIO would fail the container, failure.c.) */
  ck_assert_int_eq (inject_configure ("pwrite:ENOSPC"), 0);
  errno = 0;
  ck_assert_int_eq (host_io (&w, true, BLK, 10, 1), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_int_eq (inject_configure (NULL), 0);
  ck_assert_str_eq (move_block_to_string (where (1)), "orig");

  host_start (&w, true, 8 * BLK, BLK, 1);
  wait_queued (1);
  handle (0);
  wait_queued (1);                      /* IO_DONE outstanding */
  errno = 0;
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), -1);
  ck_assert_int_eq (errno, EBUSY);
  errno = 0;
  ck_assert_int_eq (ctrl_move_mark (c, vid, 0, 7, 3), -1);
  ck_assert_int_eq (errno, EBUSY);
  ck_assert_str_eq (move_block_to_string (where (7)), "orig");
  ck_assert_int_eq (host_finish (&w), 0);
  ck_assert_int_eq (ctrl_move_mark (c, vid, 0, 7, 3), 0);
  ck_assert_str_eq (move_block_to_string (where (7)), "alt");

  /* A split read outstanding keeps the movement too (the read loads
   * the entry first: alternate now, after the redirected writes). */
  host_start (&r, false, 0, 100, 0);
  handle_until_io_done ();
  errno = 0;
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), -1);
  ck_assert_int_eq (errno, EBUSY);
  ck_assert_int_eq (host_finish (&r), 0);
  ck_assert_uint_eq (r.buf[5], orig_byte (5));
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
}
END_TEST

/* A movement that does not redirect holds writes until it ends; then
 * they get the stored entry. */
START_TEST (test_hold_writes)
{
  static struct host_io w;
  uint8_t *got;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, false), 0);
  host_start (&w, true, 0, 100, 1);
  wait_queued (1);
  handle (0);
  ck_assert_uint_eq (queued (), 0);
  sm_test_sleep_ms (50);
  ck_assert (!w.done);
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
  ck_assert_uint_eq (queued (), 1);     /* the held fault, again */
  ck_assert_int_eq (host_finish (&w), 0);
  got = segment_read (box, ORIG_AT, SEG);
  ck_assert_mem_eq (got, w.buf, 100);
  free (got);
  ck_assert_uint_eq (agent_entry (0), orig);
}
END_TEST

/* Loaded entries of moving segments carry NOWRITE; a stored no-write
 * entry with no movement whose segment is not shared (refcount 1: its
 * snapshot was deleted) just loses NOWRITE on a write (cow.c). */
START_TEST (test_overlay_and_unshared)
{
  static struct host_io io;
  sm_entry shared = entry_make (1, (6 * MiB) / SM_UNIT_SIZE,
                                ENTRY_VALID | ENTRY_NOWRITE), stored;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  ck_assert_int_eq (ctrl_change (c), 0);
  ck_assert_int_eq (store_allocate (c->store, vid, 2, shared, UNITS), 0);
  ck_assert_int_eq (ctrl_commit (c, false), 0);
  ck_assert_int_eq (host_io (&io, false, 2 * MiB, 10, 0), 0);  /* a load */
  ck_assert_uint_eq (agent_entry (0), orig | ENTRY_NOWRITE);
  ck_assert_uint_eq (agent_entry (2), shared);
  ck_assert_int_eq (host_io (&io, true, 2 * MiB, 10, 1), 0);
  ck_assert_uint_eq (agent_entry (2), shared & ~ENTRY_NOWRITE);
  ck_assert_int_eq (store_map_get (c->store, vid, 2, 1, &stored), 0);
  ck_assert_uint_eq (stored, shared & ~ENTRY_NOWRITE);
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
}
END_TEST

/* Trimming a moving segment waits until the movement ends. */
START_TEST (test_trim_waits)
{
  static struct host_io tr_io, io;
  uint64_t rows = 1;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  tr_io.trim = true;
  host_start (&tr_io, false, 0, 2 * MiB, 0);
  wait_queued (1);
  handle (0);
  ck_assert_uint_eq (queued (), 0);
  sm_test_sleep_ms (50);
  ck_assert (!tr_io.done);
  ck_assert_int_eq (store_map_count (c->store, vid, &rows), 0);
  ck_assert_uint_eq (rows, 1);          /* segment 0 still mapped */
  ck_assert_int_eq (ctrl_move_end (c, vid, 0, false), 0);
  ck_assert_int_eq (host_finish (&tr_io), 0);
  ck_assert_int_eq (store_map_count (c->store, vid, &rows), 0);
  ck_assert_uint_eq (rows, 0);
  ck_assert_int_eq (host_io (&io, false, 0, 100, 0), 0);
  for (unsigned i = 0; i < 100; i++)
    ck_assert_uint_eq (io.buf[i], 0);
}
END_TEST

/* A zero segment can move too: the zeros the agent is told of stop at
 * it, and a write there is redirected with its blocks completed from
 * zeros. */
START_TEST (test_zero_origin)
{
  static struct host_io io;
  uint8_t *got;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 100, ENTRY_ZERO_SEGMENT, alt,
                                     true), 0);
  ck_assert_int_eq (host_io (&io, false, 0, 10, 0), 0);  /* loads 0..63 */
  ck_assert_uint_eq (agent_entry (100), ENTRY_INVALID);
  ck_assert_int_eq (host_io (&io, true, 100 * MiB + BLK + 10, 100, 1), 0);
  got = segment_read (box, ALT_AT, SEG);
  for (uint64_t i = BLK; i < 2 * BLK; i++) {
    uint8_t expect = i >= BLK + 10 && i < BLK + 110 ? io.buf[i - BLK - 10] : 0;
    if (got[i] != expect)
      ck_abort_msg ("alt byte %" PRIu64 " is 0x%02x, expected 0x%02x", i,
                    got[i], expect);
  }
  ck_assert_uint_eq (got[2 * BLK], alt_byte (2 * BLK));
  free (got);
  ck_assert_int_eq (ctrl_move_end (c, vid, 100, false), 0);
}
END_TEST

/*----------------------------------------------------------------------
 * Persistence.
 */

static uint8_t
zero_byte (uint64_t off)
{
  return 0;
}

/* Problems store_check finds in ST. */
static int
check_problems (struct store *st)
{
  return store_check (st, NULL, NULL);
}

/* The bitmap the tests below leave at alt: blocks 3..5 written by a
 * redirected write, 10..11 copied. */
static bool
expected_at_alt (uint64_t b)
{
  return (b >= 3 && b <= 5) || b == 10 || b == 11;
}

/* A second controller on the same state, started as segmap starts
 * (ctrl_startup) after an unclean stop; C's store is closed first. */
static struct controller *
restart_unclean (struct segmap_config **cfgp)
{
  struct segmap_config *cfg = cfg_new_empty ();
  struct controller *c2;

  ck_assert_int_eq (ctrl_change (c), 0);
  ck_assert_int_eq (store_meta_set (c->store, "clean", "0"), 0);
  ck_assert_int_eq (ctrl_commit (c, false), 0);
  store_close (c->store);
  c->store = NULL;
  ck_assert_ptr_nonnull (cfg);
  ck_assert_int_eq (cfg_finish (cfg, dir), 0);
  c2 = controller_new (cfg);
  ck_assert_ptr_nonnull (c2);
  ck_assert_int_eq (ctrl_startup (c2), 0);
  *cfgp = cfg;
  return c2;
}

static void
stop_restarted (struct controller *c2, struct segmap_config *cfg)
{
  store_close (c2->store);
  c2->store = NULL;
  controller_free (c2);
  cfg_free (cfg);
  ck_assert_int_eq (store_open (db_path, &c->store), 0);
}

/* A movement is stored as it goes: begun, blocks marked by a redirected
 * write's IO_DONE (stored once a sync of alt covers them, as a FLUSH
 * settles them) and by a copy, committed; a restart after an unclean
 * stop loads it with its exact bitmap, and does not zero its alt
 * segment (free space is zeroed); its end removes the row and frees
 * alt; the store checks clean throughout. */
START_TEST (test_persisted_across_restart)
{
  static struct host_io w;
  struct segmap_config *cfg;
  struct controller *c2;
  struct sm_movement *rows;
  enum move_block wh;
  sm_entry e = orig;
  uint8_t *got;
  size_t n;

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  ck_assert_int_eq (check_problems (c->store), 0);
  ck_assert_int_eq (host_io (&w, true, 3 * BLK + 3000, 6144, 1), 0);
  ck_assert_int_eq (ctrl_move_mark (c, vid, 0, 10, 2), 0);
  ck_assert_int_eq (ctrl_move_settle_marks (c), 0);
  ck_assert_int_eq (ctrl_commit (c, false), 0);
  ck_assert_int_eq (check_problems (c->store), 0);
  segment_fill (box, 8 * MiB, SEG, alt_byte);   /* free space */

  c2 = restart_unclean (&cfg);
  for (uint64_t b = 0; b < SEG / BLK; b++) {
    ck_assert_int_eq (ctrl_move_query (c2, vid, 0, b, &wh), 0);
    ck_assert_msg (wh == (expected_at_alt (b) ? MOVE_BLOCK_ALT
                          : MOVE_BLOCK_ORIG), "block %" PRIu64 " is %s", b,
                   move_block_to_string (wh));
  }
  ctrl_move_overlay (c2, vid, 0, 1, &e);
  ck_assert_uint_eq (e, orig | ENTRY_NOWRITE | ENTRY_ALT);
  ck_assert (segment_is (box, 8 * MiB, SEG, zero_byte));
  got = segment_read (box, ALT_AT, SEG);
  ck_assert_mem_eq (got + 3 * BLK + 3000, w.buf, 6144);
  ck_assert_uint_eq (got[20 * BLK], alt_byte (20 * BLK));
  free (got);
  ck_assert_int_eq (check_problems (c2->store), 0);

  ck_assert_int_eq (ctrl_move_end (c2, vid, 0, false), 0);
  ck_assert_int_eq (store_movement_list (c2->store, 0, &rows, &n), 0);
  ck_assert_uint_eq (n, 0);
  sm_movement_free (rows, n);
  errno = 0;
  ck_assert_int_eq (store_segment_ref (c2->store, 1, ALT_AT / SM_UNIT_SIZE,
                                       0, NULL), -1);
  ck_assert_int_eq (errno, ENOENT);             /* alt freed */
  ck_assert_int_eq (ctrl_commit (c2, false), 0);
  ck_assert_int_eq (check_problems (c2->store), 0);
  stop_restarted (c2, cfg);
}
END_TEST

/* The row follows every change of the bitmap: a copy's before it is
 * answered, a redirected write's once a sync of alt covers its data
 * (ctrl_move_settle_marks: a FLUSH, a clean stop, or the copier's
 * batch sync), never before, so a commit in between cannot name data
 * a power cut may lose; a failed begin leaves nothing stored. */
START_TEST (test_row_follows_bitmap)
{
  static struct host_io w;
  struct sm_movement *rows;
  size_t n;

  errno = 0;
  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, ENTRY_ZERO_SEGMENT, alt,
                                     true), -1);
  ck_assert_int_eq (errno, EINVAL);             /* the map says orig */
  ck_assert_int_eq (store_movement_list (c->store, 0, &rows, &n), 0);
  ck_assert_uint_eq (n, 0);
  sm_movement_free (rows, n);

  ck_assert_int_eq (ctrl_move_begin (c, vid, 0, orig, alt, true), 0);
  ck_assert_int_eq (host_io (&w, true, 4 * BLK, 100, 1), 0);
  ck_assert_int_eq (store_movement_list (c->store, vid, &rows, &n), 0);
  ck_assert_uint_eq (n, 1);
  ck_assert_uint_eq (rows[0].orig, orig);
  ck_assert_uint_eq (rows[0].alt, alt);
  ck_assert (rows[0].redirect);
  ck_assert_uint_eq (rows[0].n_bytes, SEG / BLK / 8);
  ck_assert_uint_eq (rows[0].at_alt[0], 0);     /* not synced yet */
  sm_movement_free (rows, n);
  ck_assert_int_eq (ctrl_commit (c, false), 0); /* a commit: still not */
  ck_assert_int_eq (store_movement_list (c->store, vid, &rows, &n), 0);
  ck_assert_uint_eq (rows[0].at_alt[0], 0);
  sm_movement_free (rows, n);
  ck_assert_int_eq (ctrl_move_settle_marks (c), 0);
  ck_assert_int_eq (store_movement_list (c->store, vid, &rows, &n), 0);
  ck_assert_uint_eq (rows[0].at_alt[0], 0x10);  /* block 4, LSB first */
  for (uint32_t i = 1; i < rows[0].n_bytes; i++)
    ck_assert_uint_eq (rows[0].at_alt[i], 0);
  sm_movement_free (rows, n);

  /* A deleted vdisk's movements end, and alt goes with them. */
  ck_assert_int_eq (ctrl_move_end_vdisk (c, vid), 0);
  ck_assert_ptr_null (ctrl_move_find (c, vid, 0));
  ck_assert_int_eq (store_movement_list (c->store, 0, &rows, &n), 0);
  ck_assert_uint_eq (n, 0);
  sm_movement_free (rows, n);
  ck_assert_int_eq (ctrl_commit (c, false), 0);
  ck_assert_int_eq (check_problems (c->store), 0);
}
END_TEST

static Suite *
move_suite (void)
{
  Suite *s = suite_create ("faults-move");
  TCase *tc = tcase_create ("move");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_redirect_then_split);
  tcase_add_test (tc, test_busy_blocks_wait);
  tcase_add_test (tc, test_delegated);
  tcase_add_test (tc, test_end_and_failures);
  tcase_add_test (tc, test_hold_writes);
  tcase_add_test (tc, test_overlay_and_unshared);
  tcase_add_test (tc, test_trim_waits);
  tcase_add_test (tc, test_zero_origin);
  tcase_add_test (tc, test_persisted_across_restart);
  tcase_add_test (tc, test_row_follows_bitmap);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (move_suite ());
}
