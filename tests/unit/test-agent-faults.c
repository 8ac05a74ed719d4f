/* segmap: unit tests of redirected I/O in the agent (src/agent/io.c,
 * src/agent/redirect.c) against a scripted controller.
 *
 * The scripted controller (test-fake-ctl.h) is a thread that takes each
 * frame the agent sends, decodes it, logs it (with its block bitmap) and
 * lets the test's script decide the answer: RETRY, FAIL, DO_WRITE,
 * DO_SPLIT_READ or COMPLETE_TO_HOST.  It can hold its answers until the
 * test releases them, so that the test can look at the container while
 * the agent waits.
 *
 * Segments are 1 MiB (256 blocks of 4 KiB).  Segment 0 of the vdisk
 * has its original location at 2 MiB of a real container file (filled
 * with pattern ORIG) and its alternate at 8 MiB (filled with pattern
 * ALT), so every byte the agent reads or writes can be traced to the
 * place it came from.
 *
 * "No I/O before the answer" is checked two ways while the answer is
 * held: the container is unchanged, and no container I/O call was made
 * at all (the test is linked with --wrap for container_pread,
 * container_pwrite and container_zero, which count their calls).
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
#include "common/limits.h"
#include "proto/msg.h"
#include "proto/transport.h"
#include "store/container.h"
#include "store/inject.h"
#include "test-segment-data.h"
#include "test-fake-ctl.h"

#define MiB (UINT64_C(1) << 20)
#define KiB 1024u
#define BLK SM_BLOCK_SIZE
#define SEG_SHIFT 20
#define SEG MiB
#define BITMAP_BYTES (SEG / BLK / 8)    /* 32 */
#define ORIG_AT (2 * MiB)
#define ALT_AT (8 * MiB)
#define VDISK 3

static const sm_entry ORIG = ((ORIG_AT >> ENTRY_UNIT_SHIFT) << 24)
  | (1 << 8) | ENTRY_VALID;
static const sm_entry ALT = ((ALT_AT >> ENTRY_UNIT_SHIFT) << 24)
  | (1 << 8) | ENTRY_VALID;

/*----------------------------------------------------------------------
 * Container I/O, counted (link-time wrappers, see tests/Makefile.am).
 */

static _Atomic unsigned io_calls;

int __real_container_pread (struct container *c, void *buf, size_t len,
                            uint64_t offset);
int __real_container_pwrite (struct container *c, const void *buf,
                             size_t len, uint64_t offset);
int __real_container_zero (struct container *c, uint64_t offset,
                           uint64_t len);
int __wrap_container_pread (struct container *c, void *buf, size_t len,
                            uint64_t offset);
int __wrap_container_pwrite (struct container *c, const void *buf,
                             size_t len, uint64_t offset);
int __wrap_container_zero (struct container *c, uint64_t offset,
                           uint64_t len);

int
__wrap_container_pread (struct container *c, void *buf, size_t len,
                        uint64_t offset)
{
  io_calls++;
  return __real_container_pread (c, buf, len, offset);
}

int
__wrap_container_pwrite (struct container *c, const void *buf, size_t len,
                         uint64_t offset)
{
  io_calls++;
  return __real_container_pwrite (c, buf, len, offset);
}

int
__wrap_container_zero (struct container *c, uint64_t offset, uint64_t len)
{
  io_calls++;
  return __real_container_zero (c, offset, len);
}

static char container_path[64];
static struct container *box;
static uint64_t next_command_id = 1000000;

/*----------------------------------------------------------------------
 * Scripts.
 */

static uint8_t at_alt[BITMAP_BYTES];    /* what DO_* says is at alt */
static sm_entry orig_entry;             /* what DO_* says is orig */
static sm_entry retry_entry;            /* what RETRY loads */
static uint32_t fail_errno;             /* FAIL, or the IO_DONE answer */

static void
set_bit (uint8_t *bitmap, unsigned i)
{
  bitmap[i / 8] |= 1u << (i % 8);
}

/* IO_DONE -> COMPLETE_TO_HOST, or FAIL when fail_errno is set or the
 * agent reported a failure. */
static void
answer_done (const struct msg *m)
{
  uint32_t err = fail_errno ? fail_errno : m->status;
  struct msg answer = { .type = err ? MSG_FAIL : MSG_COMPLETE_TO_HOST,
                        .id = m->id, .status = err };

  fake_deliver (&answer);
}

static void
answer_order (const struct msg *m, unsigned type)
{
  struct msg answer = { .type = type, .id = m->id, .alt = ALT,
                        .entries = &orig_entry, .n_entries = 1,
                        .blocks = at_alt, .n_blocks = BITMAP_BYTES };

  fake_deliver (&answer);
}

/* Faults get DO_WRITE (writes) or DO_SPLIT_READ (reads). */
static void
script_redirect (const struct msg *m)
{
  if (m->type == MSG_REPORT)
    return;                     /* (not answered) */
  if (m->type == MSG_IO_DONE)
    answer_done (m);
  else
    answer_order (m, m->op == FAULT_WRITE ? MSG_DO_WRITE
                  : MSG_DO_SPLIT_READ);
}

static void
script_fail (const struct msg *m)
{
  struct msg answer = { .type = MSG_FAIL, .id = m->id,
                        .status = fail_errno };

  fake_deliver (&answer);
}

static void
script_retry (const struct msg *m)
{
  sm_entry e = retry_entry;
  struct msg answer = { .type = MSG_RETRY, .id = m->id, .vdisk = m->vdisk,
                        .first = m->first, .count = 1, .entries = &e,
                        .n_entries = 1 };

  fake_deliver (&answer);
}

/*----------------------------------------------------------------------
 * The agent, a vdisk and a container.
 */

static uint32_t
command (struct msg *m)
{
  uint8_t *frame, *out = NULL;
  size_t len, out_len;
  struct msg r;
  uint32_t status = UINT32_MAX;

  m->id = next_command_id++;
  ck_assert_int_eq (msg_encode (m, &frame, &len), 0);
  if (agent_receive (fake.a, frame, len, &out, &out_len) == 0 && out
      && msg_decode (out, out_len, &r) == 0) {
    if (r.type == MSG_REPLY && r.id == m->id)
      status = r.status;
    msg_clear (&r);
  }
  free (out);
  free (frame);
  return status;
}

static void
set_entry (uint64_t seg, sm_entry e)
{
  struct msg m = { .type = MSG_SET_ENTRY, .vdisk = VDISK, .first = seg,
                   .count = 1, .entries = &e, .n_entries = 1,
                   .flags = MSG_F_BLOCKING };

  ck_assert_uint_eq (command (&m), 0);
}

static sm_entry
get_entry (uint64_t seg)
{
  struct msg m = { .type = MSG_GET_ENTRY, .vdisk = VDISK, .first = seg,
                   .count = 1 }, r;
  uint8_t *frame, *out = NULL;
  size_t len, out_len;
  sm_entry e;

  m.id = next_command_id++;
  ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
  ck_assert_int_eq (agent_receive (fake.a, frame, len, &out, &out_len), 0);
  ck_assert_int_eq (msg_decode (out, out_len, &r), 0);
  ck_assert_uint_eq (r.n_entries, 1);
  e = r.entries[0];
  msg_clear (&r);
  free (out);
  free (frame);
  return e;
}

static uint8_t
host_byte (uint64_t i)
{
  return (uint8_t) (i * 11 + 9);
}

static struct table *
start (sm_entry seg0)
{
  struct msg nt = { .type = MSG_NEW_TABLE, .vdisk = VDISK, .arg = 16 * MiB,
                    .arg2 = SEG_SHIFT, .name = "vd" };
  struct agent *a = agent_new ("test-agent-faults", 0);
  struct table *t;
  int fd;

  ck_assert_ptr_nonnull (a);
  fake_start (a, script_redirect);

  strcpy (container_path, "/tmp/segmap-test-faults.XXXXXX");
  fd = mkstemp (container_path);
  ck_assert_int_ge (fd, 0);
  close (fd);
  box = container_open (1, "c1", container_path, 16 * MiB);
  ck_assert_ptr_nonnull (box);
  agent_set_container (fake.a, 1, box);
  segment_fill (box, ORIG_AT, SEG, orig_byte);
  segment_fill (box, ALT_AT, SEG, alt_byte);

  ck_assert_uint_eq (command (&nt), 0);
  t = agent_open_vdisk (fake.a, "vd");
  ck_assert_ptr_nonnull (t);
  set_entry (0, seg0);
  memset (at_alt, 0, sizeof at_alt);
  orig_entry = seg0 & ~(ENTRY_NOWRITE | ENTRY_ALT);
  fail_errno = 0;
  return t;
}

static void
stop (struct table *t)
{
  struct agent *a = fake.a;

  agent_close_vdisk (a, t);
  fake_stop ();
  agent_free (a);
  container_close (box);
}

static void
setup (void)
{
  sm_set_log_sinks (fake_quiet_sink, NULL);
  container_path[0] = '\0';
  ck_assert_int_eq (inject_configure (NULL), 0);
}

static void
teardown (void)
{
  inject_configure (NULL);
  if (container_path[0])
    unlink (container_path);
  sm_set_log_sinks (NULL, NULL);
}

/* Check logged frame I: MAP_FAULT of OP for segment 0 at [OFF, OFF+LEN)
 * carrying exactly the blocks FIRST..LAST. */
static void
check_fault (unsigned i, uint8_t op, uint64_t off, uint32_t len,
             unsigned first, unsigned last)
{
  struct fake_logged l = fake_logged (i);
  uint8_t expect[BITMAP_BYTES] = { 0 };

  ck_assert_str_eq (msg_type_to_string (l.m.type), "map_fault");
  ck_assert_str_eq (fault_op_to_string (l.m.op), fault_op_to_string (op));
  ck_assert_uint_eq (l.m.vdisk, VDISK);
  ck_assert_uint_eq (l.m.first, 0);
  ck_assert_uint_eq (l.m.count, 1);
  ck_assert_uint_eq (l.m.arg, off);
  ck_assert_uint_eq (l.m.arg2, len);
  for (unsigned b = first; b <= last; b++)
    set_bit (expect, b);
  ck_assert_uint_eq (l.n_blocks, BITMAP_BYTES);
  ck_assert_mem_eq (l.blocks, expect, BITMAP_BYTES);
}

/* Check logged frame I: IO_DONE for the order answering frame FAULT,
 * with STATUS and (for a write) the blocks FIRST..LAST. */
static void
check_done (unsigned i, unsigned fault, uint32_t status, bool write,
            unsigned first, unsigned last)
{
  struct fake_logged l = fake_logged (i), f = fake_logged (fault);
  uint8_t expect[BITMAP_BYTES] = { 0 };

  ck_assert_str_eq (msg_type_to_string (l.m.type), "io_done");
  ck_assert_uint_eq (l.m.arg, f.m.id);
  ck_assert_uint_ne (l.m.id, f.m.id);
  ck_assert_uint_eq (l.m.vdisk, VDISK);
  ck_assert_uint_eq (l.m.first, 0);
  ck_assert_uint_eq (l.m.status, status);
  if (!write || status) {
    ck_assert_uint_eq (l.n_blocks, 0);
    return;
  }
  for (unsigned b = first; b <= last; b++)
    set_bit (expect, b);
  ck_assert_uint_eq (l.n_blocks, BITMAP_BYTES);
  ck_assert_mem_eq (l.blocks, expect, BITMAP_BYTES);
}

/*----------------------------------------------------------------------
 * Host I/O in its own thread (to look at things while it waits).
 */

struct host_io {
  struct table *t;
  bool write;
  uint8_t *buf;
  uint32_t len;
  uint64_t off;
  _Atomic bool done;
  int r, err;
};

static void *
host_io_run (void *arg)
{
  struct host_io *h = arg;

  errno = 0;
  h->r = h->write
    ? agent_pwrite (fake.a, h->t, h->buf, h->len, h->off, false)
    : agent_pread (fake.a, h->t, h->buf, h->len, h->off);
  h->err = errno;
  h->done = true;
  return NULL;
}

/*----------------------------------------------------------------------
 * (a) A write to a NOWRITE entry, redirected per 4 KiB block.
 */

/* 6 KiB at 3 * 4096 + 3000: block 3 in part (its head from orig: bit
 * clear), block 4 whole, block 5 in part (its tail from alt: the bit is
 * set, an earlier write put it there). */
#define W_OFF (3 * BLK + 3000)
#define W_LEN (6 * KiB)

static void
check_redirected_write (void)
{
  uint8_t *alt = segment_read (box, ALT_AT, SEG);
  uint64_t end = W_OFF + W_LEN;

  for (uint64_t i = 0; i < SEG; i++) {
    uint8_t expect;
    if (i >= W_OFF && i < end)
      expect = host_byte (i - W_OFF);
    else if (i >= 3 * BLK && i < 4 * BLK)
      expect = orig_byte (i);           /* merged from orig */
    else
      expect = alt_byte (i);            /* alt's own bytes, untouched */
    if (alt[i] != expect)
      ck_abort_msg ("alt byte %" PRIu64 " is 0x%02x, expected 0x%02x",
                    i, alt[i], expect);
  }
  free (alt);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));
}

START_TEST (test_write_nowrite_redirected)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE);
  uint8_t buf[W_LEN];

  for (unsigned i = 0; i < W_LEN; i++)
    buf[i] = host_byte (i);
  set_bit (at_alt, 5);
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), 0);
  ck_assert_uint_eq (fake_n_log (), 2);
  check_fault (0, FAULT_WRITE, W_OFF, W_LEN, 3, 5);
  check_done (1, 0, 0, true, 3, 5);
  check_redirected_write ();
  /* The agent keeps its entry: only the controller changes it. */
  ck_assert_uint_eq (get_entry (0), ORIG | ENTRY_NOWRITE);
  stop (t);
}
END_TEST

/* An ALT entry redirects writes the same way; zeroing part of it
 * writes zeros there, in whole blocks. */
START_TEST (test_write_alt_and_zero)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE | ENTRY_ALT);
  uint8_t buf[W_LEN], *alt;

  for (unsigned i = 0; i < W_LEN; i++)
    buf[i] = host_byte (i);
  set_bit (at_alt, 5);
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), 0);
  check_fault (0, FAULT_WRITE, W_OFF, W_LEN, 3, 5);
  check_done (1, 0, 0, true, 3, 5);
  check_redirected_write ();

  /* Zero 3 blocks less 200 bytes from the middle of block 10. */
  memset (at_alt, 0, sizeof at_alt);
  ck_assert_int_eq (agent_zero (fake.a, t, 3 * BLK - 200, 10 * BLK + 100,
                                false), 0);
  ck_assert_uint_eq (fake_n_log (), 4);
  check_fault (2, FAULT_WRITE, 10 * BLK + 100, 3 * BLK - 200, 10, 12);
  check_done (3, 2, 0, true, 10, 12);
  alt = segment_read (box, ALT_AT, SEG);
  for (uint64_t i = 10 * BLK; i < 13 * BLK; i++) {
    uint8_t expect = i < 10 * BLK + 100 ? orig_byte (i)
      : i < 13 * BLK - 100 ? 0 : orig_byte (i);
    if (alt[i] != expect)
      ck_abort_msg ("alt byte %" PRIu64 " is 0x%02x, expected 0x%02x",
                    i, alt[i], expect);
  }
  ck_assert_uint_eq (alt[9 * BLK], alt_byte (9 * BLK));
  ck_assert_uint_eq (alt[13 * BLK], alt_byte (13 * BLK));
  free (alt);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));
  stop (t);
}
END_TEST

/*----------------------------------------------------------------------
 * (b) A split read assembled from two locations.
 */

static void
check_split (const uint8_t *buf, uint64_t off, uint32_t len, bool orig_zero)
{
  for (uint64_t i = off; i < off + len; i++) {
    bool from_alt = (at_alt[i / BLK / 8] >> (i / BLK % 8)) & 1;
    uint8_t expect = from_alt ? alt_byte (i) : orig_zero ? 0 : orig_byte (i);
    if (buf[i - off] != expect)
      ck_abort_msg ("byte %" PRIu64 " is 0x%02x, expected 0x%02x (%s)", i,
                    buf[i - off], expect, from_alt ? "alt" : "orig");
  }
}

START_TEST (test_split_read)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE | ENTRY_ALT);
  static uint8_t buf[64 * KiB];
  const uint64_t off = 2 * BLK + 100;

  for (unsigned b = 0; b < SEG / BLK; b += 2)
    set_bit (at_alt, b);                /* even blocks at alt */
  memset (buf, 0xee, sizeof buf);
  ck_assert_int_eq (agent_pread (fake.a, t, buf, sizeof buf, off), 0);
  ck_assert_uint_eq (fake_n_log (), 2);
  check_fault (0, FAULT_READ, off, sizeof buf, 2, (off + sizeof buf - 1) / BLK);
  check_done (1, 0, 0, false, 0, 0);
  check_split (buf, off, sizeof buf, false);

  /* A ZERO original: the blocks not at alt read as zeros. */
  orig_entry = ENTRY_ZERO_SEGMENT;
  memset (buf, 0xee, sizeof buf);
  ck_assert_int_eq (agent_pread (fake.a, t, buf, 5000, 7 * BLK - 300), 0);
  check_split (buf, 7 * BLK - 300, 5000, true);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));
  stop (t);
}
END_TEST

/*----------------------------------------------------------------------
 * (c) No I/O before the controller's answer.
 */

/* Start H in *TH; return once its fault reached the controller, which
 * holds it (N frames logged in all), with the count of container calls
 * made before H started. */
static unsigned
start_held (pthread_t *th, struct host_io *h, unsigned n)
{
  unsigned calls = io_calls;

  fake_hold (true);
  ck_assert_int_eq (pthread_create (th, NULL, host_io_run, h), 0);
  fake_wait_n_log (n);
  return calls;
}

START_TEST (test_no_io_before_answer)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE | ENTRY_ALT);
  uint8_t wbuf[W_LEN], rbuf[3 * BLK];
  struct host_io w = { .t = t, .write = true, .buf = wbuf, .len = W_LEN,
                       .off = W_OFF };
  struct host_io r = { .t = t, .write = false, .buf = rbuf,
                       .len = sizeof rbuf, .off = 20 * BLK + 1 };
  uint8_t *before = segment_read (box, ALT_AT, SEG), *now;
  unsigned calls;
  pthread_t th;

  for (unsigned i = 0; i < W_LEN; i++)
    wbuf[i] = host_byte (i);
  set_bit (at_alt, 5);

  /* A write waits for the answer, without a single container call. */
  calls = start_held (&th, &w, 1);
  sm_test_sleep_ms (100);
  ck_assert (!w.done);
  ck_assert_uint_eq (io_calls, calls);
  ck_assert_uint_eq (fake_n_log (), 1);
  now = segment_read (box, ALT_AT, SEG);
  ck_assert_mem_eq (now, before, SEG);  /* nothing written to alt */
  free (now);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));        /* nor to orig */
  fake_hold (false);
  pthread_join (th, NULL);
  ck_assert_int_eq (w.r, 0);
  check_redirected_write ();

  /* So does a read of an alternate entry. */
  calls = start_held (&th, &r, 3);
  sm_test_sleep_ms (100);
  ck_assert (!r.done);
  ck_assert_uint_eq (io_calls, calls);
  ck_assert_uint_eq (fake_n_log (), 3);
  fake_hold (false);
  pthread_join (th, NULL);
  ck_assert_int_eq (r.r, 0);
  check_split (rbuf, r.off, r.len, false);
  free (before);
  stop (t);
}
END_TEST

/*----------------------------------------------------------------------
 * (d) FAIL and RETRY answers, failed orders.
 */

START_TEST (test_fail_answer)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE);
  uint8_t buf[W_LEN] = { 1 };

  fake_set_script (script_fail);
  fail_errno = EROFS;
  errno = 0;
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), -1);
  ck_assert_int_eq (errno, EROFS);
  ck_assert_uint_eq (fake_n_log (), 1);      /* no retry after FAIL */
  check_fault (0, FAULT_WRITE, W_OFF, W_LEN, 3, 5);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));

  /* A FAIL answering IO_DONE fails the host I/O too. */
  fake_set_script (script_redirect);
  fail_errno = ENOSPC;
  errno = 0;
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_uint_eq (fake_n_log (), 3);
  check_done (2, 1, 0, true, 3, 5);
  stop (t);
}
END_TEST

START_TEST (test_order_io_fails)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE | ENTRY_ALT);
  uint8_t buf[W_LEN] = { 1 };

  struct container *fresh;
  struct msg report;

  /* The write to alt fails: the failing container is REPORTed, IO_DONE
   * says so, the controller fails the host write. */
  ck_assert_int_eq (inject_configure ("pwrite:EIO"), 0);
  errno = 0;
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_uint_eq (fake_n_log (), 3);
  report = fake_log (1);
  ck_assert_str_eq (msg_type_to_string (report.type), "report");
  ck_assert_uint_eq (report.op, REPORT_IO_FAILED);
  ck_assert_uint_eq (report.arg2, 1);
  ck_assert_uint_eq (report.status, EIO);
  check_done (2, 0, EIO, true, 0, 0);
  ck_assert (container_failed (box));
  /* The handle does no more I/O: the split read fails too, and is not
   * reported again. */
  ck_assert_int_eq (inject_configure (NULL), 0);
  errno = 0;
  ck_assert_int_eq (agent_pread (fake.a, t, buf, 100, 0), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_uint_eq (fake_n_log (), 5);
  check_done (4, 3, EIO, false, 0, 0);
  fresh = container_open (1, "c1", container_path, 16 * MiB);
  ck_assert_ptr_nonnull (fresh);
  ck_assert (segment_is (fresh, ORIG_AT, SEG, orig_byte));
  container_close (fresh);
  stop (t);
}
END_TEST

START_TEST (test_retry_answer)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE);
  uint8_t buf[W_LEN], *seg;

  for (unsigned i = 0; i < W_LEN; i++)
    buf[i] = host_byte (i);
  /* A RETRY with a writable entry: the write goes there, one fault. */
  fake_set_script (script_retry);
  retry_entry = ORIG;
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), 0);
  ck_assert_uint_eq (fake_n_log (), 1);
  ck_assert_uint_eq (get_entry (0), ORIG);
  seg = segment_read (box, ORIG_AT, SEG);
  ck_assert_mem_eq (seg + W_OFF, buf, W_LEN);
  ck_assert_uint_eq (seg[W_OFF - 1], orig_byte (W_OFF - 1));
  free (seg);

  /* A RETRY that gives back the same no-write entry cannot help: a
   * controller bug, failed after 3 faults rather than looping. */
  set_entry (0, ORIG | ENTRY_NOWRITE);
  retry_entry = ORIG | ENTRY_NOWRITE;
  errno = 0;
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_uint_eq (fake_n_log (), 4);
  stop (t);
}
END_TEST

/* Orders that do not fit the fault (DO_SPLIT_READ for a write,
 * DO_WRITE for a read) are refused, reported in IO_DONE, and nothing
 * is written. */
static void
script_swapped (const struct msg *m)
{
  if (m->type == MSG_IO_DONE)
    answer_done (m);
  else
    answer_order (m, m->op == FAULT_WRITE ? MSG_DO_SPLIT_READ
                  : MSG_DO_WRITE);
}

START_TEST (test_mismatched_order)
{
  struct table *t = start (ORIG | ENTRY_NOWRITE | ENTRY_ALT);
  uint8_t buf[W_LEN] = { 0 }, *alt;

  fake_set_script (script_swapped);
  errno = 0;
  ck_assert_int_eq (agent_pwrite (fake.a, t, buf, W_LEN, W_OFF, false), -1);
  ck_assert_int_eq (errno, EIO);
  check_done (1, 0, EIO, true, 0, 0);
  errno = 0;
  ck_assert_int_eq (agent_pread (fake.a, t, buf, 100, 0), -1);
  ck_assert_int_eq (errno, EIO);
  check_done (3, 2, EIO, false, 0, 0);
  ck_assert (segment_is (box, ORIG_AT, SEG, orig_byte));
  alt = segment_read (box, ALT_AT, SEG);
  for (uint64_t i = 0; i < SEG; i++)
    if (alt[i] != alt_byte (i))
      ck_abort_msg ("alt byte %" PRIu64 " was written", i);
  free (alt);

  /* A NOWRITE entry (no alternate) reads on the fast path. */
  set_entry (0, ORIG | ENTRY_NOWRITE);
  ck_assert_int_eq (agent_pread (fake.a, t, buf, 100, 0), 0);
  ck_assert_uint_eq (fake_n_log (), 4);
  ck_assert_uint_eq (buf[5], orig_byte (5));
  stop (t);
}
END_TEST

static Suite *
faults_suite (void)
{
  Suite *s = suite_create ("agent-faults");
  TCase *tc = tcase_create ("redirect");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_write_nowrite_redirected);
  tcase_add_test (tc, test_write_alt_and_zero);
  tcase_add_test (tc, test_split_read);
  tcase_add_test (tc, test_no_io_before_answer);
  tcase_add_test (tc, test_fail_answer);
  tcase_add_test (tc, test_order_io_fails);
  tcase_add_test (tc, test_retry_answer);
  tcase_add_test (tc, test_mismatched_order);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (faults_suite ());
}
