/* segmap: unit tests of the mapping agent's command and answer handling
 * (src/agent/agent.c, with the I/O path of src/agent/io.c on top).
 *
 * The agent is driven the way the controller drives it, through frames:
 *  - the fake controller of test-fake-ctl.h captures what the agent
 *    sends (MAP_FAULT, FLUSH), decodes and logs it, and its thread
 *    answers each frame by calling agent_receive (RETRY with ZERO
 *    entries, RETRY with mapped entries, or FAIL, as the test asks),
 *    like the in-process transport would;
 *  - commands (NEW_TABLE, SET_ENTRY, ...) are encoded here, delivered
 *    with agent_receive and their REPLY frames decoded and checked.
 * Reads and writes of mapped segments go to a real container on a
 * temporary file (container_open + agent_set_container).
 *
 * "In-flight I/O" for the drain and quiesce tests is a thread that holds
 * an epoch on the vdisk's table (table_enter ... table_exit), as the I/O
 * path does around its storage I/O: a container read cannot be made to
 * last 300 ms on demand.
 *
 * Tests that could hang on a bug run the blocking call in a thread, give
 * it a deadline, and on failure release it (table_activate) before
 * failing, so the suite always ends.  SEGMAP_TEST_SEED=N reproduces the
 * random offsets of the memory-bound test.
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
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "proto/msg.h"
#include "proto/transport.h"
#include "store/container.h"
#include "test-fake-ctl.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define PiB (UINT64_C(1) << 50)
#define SEG_SHIFT 20
#define UNITS_PER_SEG (MiB >> ENTRY_UNIT_SHIFT)
#define LOAD_AHEAD 64           /* the agent loads runs of 64 entries */

/* Only calls into libcheck when COND fails (for hot loops). */
#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond))                                                        \
      ck_abort_msg ("%s:%d: expected %s", __FILE__, __LINE__, #cond);   \
  } while (0)

/*----------------------------------------------------------------------
 * Time.
 */

/* Join TH if it ends within MS milliseconds: true, else false. */
static bool
join_within (pthread_t th, unsigned ms)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return pthread_timedjoin_np (th, NULL, &ts) == 0;
}

/*----------------------------------------------------------------------
 * The fake controller.
 */

enum answer_mode {
  ANSWER_ZERO,                  /* RETRY, every entry ENTRY_ZERO_SEGMENT */
  ANSWER_MAP,                   /* RETRY, segment S at unit (S+2)*16 */
  ANSWER_FAIL,                  /* FAIL with fail_errno */
  ANSWER_GRANT,                 /* a write: GRANT 2 segments, then as ZERO
                                   with the rest of the table zero */
};

/* How the fake answers (protected by fake.lock). */
static struct {
  enum answer_mode mode;
  uint32_t fail_errno;
  uint64_t next_grant;          /* ANSWER_GRANT: next segment granted */
  uint64_t n_segments;          /* ANSWER_GRANT: of the faulting table */
} how;

static char container_path[64];
static uint64_t next_command_id = 1000000;

/* The entry the fake controller maps SEG to in ANSWER_MAP mode. */
static sm_entry
mapped (uint64_t seg)
{
  return entry_make (1, (seg + 2) * UNITS_PER_SEG, ENTRY_VALID);
}

static uint32_t try_command (struct agent *a, struct msg *m,
                             struct msg *reply);

/* The location of the Nth granted segment (from 40 MiB on). */
static sm_entry
granted (uint64_t n)
{
  return entry_make (1, (40 + n) * UNITS_PER_SEG, ENTRY_VALID);
}

/* ANSWER_GRANT: grant two segments before answering. */
static void
fake_grant (uint32_t vdisk)
{
  sm_entry g[2];
  struct msg m = { .type = MSG_GRANT, .vdisk = vdisk, .entries = g,
                   .n_entries = 2 };

  pthread_mutex_lock (&fake.lock);
  g[0] = granted (how.next_grant++);
  g[1] = granted (how.next_grant++);
  pthread_mutex_unlock (&fake.lock);
  if (try_command (fake.a, &m, NULL) != 0)
    fake_error ();
}

static void
answer_fault (const struct msg *m, enum answer_mode mode,
              uint32_t fail_errno)
{
  struct msg a = { .id = m->id };

  if (mode == ANSWER_FAIL) {
    a.type = MSG_FAIL;
    a.status = fail_errno;
    fake_deliver (&a);
    return;
  }
  if (mode == ANSWER_GRANT) {
    if (m->op == FAULT_WRITE)
      fake_grant (m->vdisk);
    pthread_mutex_lock (&fake.lock);
    a.arg = how.n_segments - m->first - m->count;
    pthread_mutex_unlock (&fake.lock);
  }
  a.type = MSG_RETRY;
  a.vdisk = m->vdisk;
  a.first = m->first;
  a.count = a.n_entries = m->count;
  a.entries = malloc (m->count * sizeof a.entries[0]);
  if (a.entries == NULL) {
    fake_error ();
    return;
  }
  for (uint32_t i = 0; i < m->count; i++)
    a.entries[i] = mode == ANSWER_MAP ? mapped (m->first + i)
      : ENTRY_ZERO_SEGMENT;
  fake_deliver (&a);
  free (a.entries);
}

/* The fake's script: answer faults as `how' says, flushes with REPLY. */
static void
script (const struct msg *m)
{
  enum answer_mode mode;
  uint32_t fail_errno;

  pthread_mutex_lock (&fake.lock);
  mode = how.mode;
  fail_errno = how.fail_errno;
  pthread_mutex_unlock (&fake.lock);

  if (m->type == MSG_MAP_FAULT)
    answer_fault (m, mode, fail_errno);
  else if (m->type == MSG_FLUSH) {
    struct msg a = { .type = MSG_REPLY, .id = m->id };
    fake_deliver (&a);
  }
  else if (m->type != MSG_ALLOCATED)   /* logged; needs no answer */
    fake_error ();
}

static void
fake_set (enum answer_mode mode, uint32_t fail_errno)
{
  pthread_mutex_lock (&fake.lock);
  how.mode = mode;
  how.fail_errno = fail_errno;
  pthread_mutex_unlock (&fake.lock);
}

/* Check logged frame I: a MAP_FAULT of OP on [FIRST, FIRST+COUNT). */
static void
check_fault (unsigned i, uint32_t vdisk, uint8_t op, uint64_t first,
             uint32_t count)
{
  struct msg m;

  ck_assert_uint_gt (fake_n_log (), i);
  m = fake_log (i);
  ck_assert_str_eq (msg_type_to_string (m.type), "map_fault");
  ck_assert_str_eq (fault_op_to_string (m.op), fault_op_to_string (op));
  ck_assert_uint_eq (m.vdisk, vdisk);
  ck_assert_uint_eq (m.first, first);
  ck_assert_uint_eq (m.count, count);
  ck_assert_uint_ne (m.id, 0);
}

static struct agent *
start_agent (uint64_t memory_limit)
{
  struct agent *a = agent_new ("test-agent", memory_limit);

  ck_assert_ptr_nonnull (a);
  memset (&how, 0, sizeof how);
  fake_start (a, script);
  return a;
}

static void
stop_agent (struct agent *a)
{
  fake_stop ();
  agent_free (a);
}

static void
setup (void)
{
  sm_set_log_sinks (fake_quiet_sink, NULL);
  container_path[0] = '\0';
}

static void
teardown (void)
{
  if (container_path[0])
    unlink (container_path);
  sm_set_log_sinks (NULL, NULL);
}

/*----------------------------------------------------------------------
 * Commands.
 */

/* Deliver command M; the REPLY's status, or UINT32_MAX if the agent
 * refused the frame or answered something that is not a REPLY to M.
 * The decoded REPLY goes to *REPLY if not NULL (caller msg_clears).
 * Thread-safe: never calls libcheck. */
static uint32_t
try_command (struct agent *a, struct msg *m, struct msg *reply)
{
  uint8_t *frame, *out = NULL;
  size_t len, out_len;
  struct msg r;
  uint32_t status = UINT32_MAX;

  m->id = __atomic_fetch_add (&next_command_id, 1, __ATOMIC_SEQ_CST);
  if (msg_encode (m, &frame, &len) == -1)
    return UINT32_MAX;
  if (agent_receive (a, frame, len, &out, &out_len) == 0 && out
      && msg_decode (out, out_len, &r) == 0) {
    if (r.type == MSG_REPLY && r.id == m->id)
      status = r.status;
    if (reply && status != UINT32_MAX)
      *reply = r;
    else
      msg_clear (&r);
  }
  free (out);
  free (frame);
  return status;
}

static uint32_t
command (struct agent *a, struct msg *m, struct msg *reply)
{
  uint32_t status = try_command (a, m, reply);

  ck_assert_msg (status != UINT32_MAX, "no valid REPLY to %s",
                 msg_type_to_string (m->type));
  return status;
}

static uint32_t
new_table (struct agent *a, uint32_t vdisk, const char *name, uint64_t size,
           unsigned seg_shift)
{
  struct msg m = { .type = MSG_NEW_TABLE, .vdisk = vdisk, .arg = size,
                   .arg2 = seg_shift, .name = (char *) name };

  return command (a, &m, NULL);
}

static uint32_t
delete_table (struct agent *a, uint32_t vdisk)
{
  struct msg m = { .type = MSG_DELETE_TABLE, .vdisk = vdisk };

  return command (a, &m, NULL);
}

static uint32_t
set_entries (struct agent *a, uint32_t vdisk, uint64_t first, uint32_t count,
             sm_entry *entries, uint32_t n_entries, bool blocking)
{
  struct msg m = { .type = MSG_SET_ENTRY, .vdisk = vdisk, .first = first,
                   .count = count, .entries = entries,
                   .n_entries = n_entries,
                   .flags = blocking ? MSG_F_BLOCKING : 0 };

  return command (a, &m, NULL);
}

static uint32_t
set_status (struct agent *a, uint32_t vdisk, uint64_t first, uint32_t count,
            uint64_t bits, bool on, bool blocking)
{
  struct msg m = { .type = MSG_SET_STATUS, .vdisk = vdisk, .first = first,
                   .count = count, .arg = bits,
                   .flags = (on ? MSG_F_ON : 0)
                   | (blocking ? MSG_F_BLOCKING : 0) };

  return command (a, &m, NULL);
}

/* GET_ENTRY (or GET_STATUS if STATUS) into OUT[COUNT]; the status. */
static uint32_t
get_entries (struct agent *a, uint32_t vdisk, uint64_t first, uint32_t count,
             bool status, sm_entry *out)
{
  struct msg m = { .type = status ? MSG_GET_STATUS : MSG_GET_ENTRY,
                   .vdisk = vdisk, .first = first, .count = count };
  struct msg r;
  uint32_t st = command (a, &m, &r);

  if (st == 0) {
    ck_assert_uint_eq (r.n_entries, count);
    memcpy (out, r.entries, count * sizeof *out);
  }
  else
    ck_assert_uint_eq (r.n_entries, 0);
  msg_clear (&r);
  return st;
}

static sm_entry
get_entry (struct agent *a, uint32_t vdisk, uint64_t seg)
{
  sm_entry e;

  ck_assert_uint_eq (get_entries (a, vdisk, seg, 1, false, &e), 0);
  return e;
}

static uint32_t
vdisk_list (struct agent *a, uint32_t vdisk, bool activate,
            uint64_t timeout_ms)
{
  struct msg m = { .type = activate ? MSG_ACTIVATE : MSG_QUIESCE,
                   .arg = activate ? 0 : timeout_ms,
                   .vdisks = &vdisk, .n_vdisks = 1 };

  return command (a, &m, NULL);
}

static struct container *
open_container (struct agent *a, uint64_t size)
{
  struct container *c;
  int fd;

  strcpy (container_path, "/tmp/segmap-test-agent.XXXXXX");
  fd = mkstemp (container_path);
  ck_assert_int_ge (fd, 0);
  close (fd);
  c = container_open (1, "c1", container_path, size);
  ck_assert_ptr_nonnull (c);
  agent_set_container (a, 1, c);
  ck_assert_ptr_eq (agent_container (a, 1), c);
  return c;
}

static void
fill (uint8_t *buf, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t) (i * 7 + seed * 13 + (i >> 9));
}

static bool
all_zero (const uint8_t *buf, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (buf[i])
      return false;
  return true;
}

/*----------------------------------------------------------------------
 * Threads standing in for front-end I/O.
 */

/* An I/O in its storage phase: holds an epoch for HOLD_MS.  Optionally
 * looks up SEG just before leaving. */
struct holder {
  struct table *t;
  unsigned hold_ms;
  uint64_t seg;
  _Atomic bool entered, exited;
  _Atomic sm_entry seen;
  _Atomic uint64_t entered_at, exited_at;
};

static void *
holder_run (void *arg)
{
  struct holder *h = arg;
  uint64_t e = table_enter (h->t);

  h->entered_at = sm_test_now_ms ();
  h->entered = true;
  sm_test_sleep_ms (h->hold_ms);
  h->seen = table_lookup (h->t, h->seg);
  h->exited_at = sm_test_now_ms ();
  h->exited = true;
  table_exit (h->t, e);
  return NULL;
}

static void
holder_start (pthread_t *th, struct holder *h)
{
  ck_assert_int_eq (pthread_create (th, NULL, holder_run, h), 0);
  while (!h->entered)
    sm_test_sleep_ms (1);
}

/* A host read through the agent, in its own thread. */
struct reader {
  struct agent *a;
  struct table *t;
  uint64_t offset;
  uint32_t len;
  uint8_t buf[8192];
  _Atomic bool done;
  int r, err;
};

static void *
reader_run (void *arg)
{
  struct reader *rd = arg;

  memset (rd->buf, 0xaa, sizeof rd->buf);
  errno = 0;
  rd->r = agent_pread (rd->a, rd->t, rd->buf, rd->len, rd->offset);
  rd->err = errno;
  rd->done = true;
  return NULL;
}

/* A command in its own thread (for commands that may block). */
struct commander {
  struct agent *a;
  struct msg m;
  struct msg reply;
  uint32_t status;
  _Atomic bool done;
};

static void *
commander_run (void *arg)
{
  struct commander *c = arg;

  c->status = try_command (c->a, &c->m, &c->reply);
  c->done = true;
  return NULL;
}

/*----------------------------------------------------------------------
 * Tables: NEW_TABLE, DELETE_TABLE, listing.
 */

struct listing {
  char names[8][32];
  uint32_t ids[8];
  unsigned n;
  unsigned stop_after;          /* return 1 after this many (0: never) */
};

static int
list_one (void *opaque, const struct table *t)
{
  struct listing *l = opaque;

  if (l->n < 8) {
    snprintf (l->names[l->n], sizeof l->names[0], "%s", t->name);
    l->ids[l->n] = t->vdisk;
  }
  l->n++;
  return l->stop_after && l->n >= l->stop_after ? 7 : 0;
}

START_TEST (test_new_table)
{
  struct agent *a = start_agent (0);
  struct listing l = { .n = 0 };
  struct agent_stats st;
  struct table *t, *t2;
  uint8_t buf[4096];

  ck_assert_int_eq (agent_foreach_vdisk (a, list_one, &l), 0);
  ck_assert_uint_eq (l.n, 0);
  errno = 0;
  ck_assert_ptr_null (agent_open_vdisk (a, "vd5"));
  ck_assert_int_eq (errno, ENOENT);

  ck_assert_uint_eq (new_table (a, 5, "vd5", GiB, SEG_SHIFT), 0);
  ck_assert_uint_eq (new_table (a, 6, "vd6", 100 * MiB + 512, 16), 0);
  t = agent_open_vdisk (a, "vd5");
  ck_assert_ptr_nonnull (t);
  ck_assert_uint_eq (t->vdisk, 5);
  ck_assert_uint_eq (t->size, GiB);
  ck_assert_uint_eq (t->seg_shift, SEG_SHIFT);
  ck_assert_uint_eq (t->n_segments, 1024);
  t2 = agent_open_vdisk (a, "vd6");
  ck_assert_ptr_nonnull (t2);
  ck_assert_uint_eq (t2->n_segments, 1601);

  ck_assert_int_eq (agent_foreach_vdisk (a, list_one, &l), 0);
  ck_assert_uint_eq (l.n, 2);
  ck_assert ((strcmp (l.names[0], "vd5") == 0 && l.ids[0] == 5
              && strcmp (l.names[1], "vd6") == 0 && l.ids[1] == 6)
             || (strcmp (l.names[0], "vd6") == 0 && l.ids[0] == 6
                 && strcmp (l.names[1], "vd5") == 0 && l.ids[1] == 5));
  l = (struct listing) { .stop_after = 1 };
  ck_assert_int_eq (agent_foreach_vdisk (a, list_one, &l), 7);
  ck_assert_uint_eq (l.n, 1);
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.tables, 2);
  ck_assert_uint_eq (st.memory, a->mem.bytes);
  ck_assert_uint_gt (st.memory, 0);            /* the top arrays */

  /* Past the end: refused before any fault. */
  errno = 0;
  ck_assert_int_eq (agent_pread (a, t, buf, sizeof buf, GiB), -1);
  ck_assert_int_eq (errno, EINVAL);

  /* NEW_TABLE again, larger: the same table grows. */
  ck_assert_uint_eq (new_table (a, 5, "vd5", 3 * GiB, SEG_SHIFT), 0);
  ck_assert_uint_eq (t->size, 3 * GiB);
  ck_assert_uint_eq (t->n_segments, 3072);
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.tables, 2);
  fake_set (ANSWER_ZERO, 0);
  memset (buf, 0xaa, sizeof buf);
  ck_assert_int_eq (agent_pread (a, t, buf, sizeof buf, 3 * GiB - 4096), 0);
  ck_assert (all_zero (buf, sizeof buf));
  check_fault (0, 5, FAULT_READ, 3008, 64);

  /* Smaller: never shrinks.  A different shape: refused. */
  ck_assert_uint_eq (new_table (a, 5, "vd5", GiB, SEG_SHIFT), 0);
  ck_assert_uint_eq (t->size, 3 * GiB);
  ck_assert_uint_eq (new_table (a, 5, "vd5", 4 * GiB, 21), EINVAL);
  ck_assert_uint_eq (new_table (a, 5, "other", 4 * GiB, SEG_SHIFT), EINVAL);
  ck_assert_uint_eq (t->size, 3 * GiB);

  agent_close_vdisk (a, t);
  agent_close_vdisk (a, t2);
  stop_agent (a);
}
END_TEST

START_TEST (test_delete_table)
{
  struct agent *a = start_agent (0);
  struct container *c = open_container (a, 64 * MiB);
  struct listing l = { .n = 0 };
  uint8_t buf[4096], got[4096];
  struct table *t, *t_new;
  unsigned n;
  sm_entry e = ENTRY_ZERO_SEGMENT;

  fake_set (ANSWER_MAP, 0);
  ck_assert_uint_eq (new_table (a, 9, "vd9", 16 * MiB, SEG_SHIFT), 0);
  ck_assert_uint_eq (new_table (a, 10, "vd10", 16 * MiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "vd9");
  ck_assert_ptr_nonnull (t);
  fill (buf, sizeof buf, 1);
  ck_assert_int_eq (agent_pwrite (a, t, buf, sizeof buf, 4096, false), 0);
  ck_assert_int_eq (agent_pread (a, t, got, sizeof got, 4096), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  n = fake_n_log ();

  ck_assert_uint_eq (delete_table (a, 9), 0);
  ck_assert (t->dead);
  errno = 0;
  ck_assert_int_eq (agent_pread (a, t, got, sizeof got, 4096), -1);
  ck_assert_int_eq (errno, ENXIO);
  errno = 0;
  ck_assert_int_eq (agent_pwrite (a, t, buf, sizeof buf, 0, false), -1);
  ck_assert_int_eq (errno, ENXIO);
  ck_assert_uint_eq (fake_n_log (), n);        /* no fault for a dead table */

  errno = 0;
  ck_assert_ptr_null (agent_open_vdisk (a, "vd9"));
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_int_eq (agent_foreach_vdisk (a, list_one, &l), 0);
  ck_assert_uint_eq (l.n, 1);
  ck_assert_str_eq (l.names[0], "vd10");
  ck_assert_uint_eq (delete_table (a, 9), ENOENT);
  ck_assert_uint_eq (get_entries (a, 9, 0, 1, false, &e), ENOENT);
  ck_assert_uint_eq (set_entries (a, 9, 0, 1, &e, 1, true), ENOENT);

  /* The same id again is a new, empty table; the old handle stays dead. */
  ck_assert_uint_eq (new_table (a, 9, "vd9", 16 * MiB, SEG_SHIFT), 0);
  t_new = agent_open_vdisk (a, "vd9");
  ck_assert_ptr_nonnull (t_new);
  ck_assert_ptr_ne (t_new, t);
  ck_assert_uint_eq (get_entry (a, 9, 0), ENTRY_INVALID);
  errno = 0;
  ck_assert_int_eq (agent_pread (a, t, got, sizeof got, 4096), -1);
  ck_assert_int_eq (errno, ENXIO);
  ck_assert_int_eq (agent_pread (a, t_new, got, sizeof got, 4096), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);     /* same mapping, same data */

  agent_close_vdisk (a, t);                    /* frees the dead table */
  agent_close_vdisk (a, t_new);
  stop_agent (a);
  container_close (c);
}
END_TEST

/* A fault waiting for its answer when the table is deleted: the answer
 * finds no table, the I/O retries and fails with ENXIO. */
START_TEST (test_delete_during_fault)
{
  struct agent *a = start_agent (0);
  struct reader rd = { .a = a, .offset = 5 * MiB, .len = 4096 };
  pthread_t th;

  fake_set (ANSWER_ZERO, 0);
  ck_assert_uint_eq (new_table (a, 3, "vd3", 64 * MiB, SEG_SHIFT), 0);
  rd.t = agent_open_vdisk (a, "vd3");
  ck_assert_ptr_nonnull (rd.t);
  fake_hold (true);
  ck_assert_int_eq (pthread_create (&th, NULL, reader_run, &rd), 0);
  fake_wait_n_log (1);
  check_fault (0, 3, FAULT_READ, 0, 64);
  ck_assert_uint_eq (delete_table (a, 3), 0);  /* does not wait for it */
  ck_assert (!rd.done);
  fake_hold (false);
  ck_assert (join_within (th, 5000));
  ck_assert_int_eq (rd.r, -1);
  ck_assert_int_eq (rd.err, ENXIO);
  ck_assert_uint_eq (fake_n_log (), 1);
  agent_close_vdisk (a, rd.t);
  stop_agent (a);
}
END_TEST

/*----------------------------------------------------------------------
 * GET_ENTRY, GET_STATUS, SET_ENTRY, SET_STATUS.
 */

START_TEST (test_get_set)
{
  struct agent *a = start_agent (0);
  sm_entry v[4] = { mapped (10), ENTRY_ZERO_SEGMENT,
                    mapped (12) | ENTRY_NOWRITE, ENTRY_VALID | ENTRY_ERROR };
  sm_entry got[8], z = ENTRY_ZERO_SEGMENT;

  ck_assert_uint_eq (new_table (a, 4, "vd4", 100 * MiB, SEG_SHIFT), 0);
  ck_assert_uint_eq (get_entries (a, 4, 0, 8, false, got), 0);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq (got[i], ENTRY_INVALID);

  ck_assert_uint_eq (set_entries (a, 4, 10, 4, v, 4, false), 0);
  ck_assert_uint_eq (get_entries (a, 4, 8, 8, false, got), 0);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq (got[i], i >= 2 && i < 6 ? v[i - 2] : ENTRY_INVALID);
  ck_assert_uint_eq (get_entries (a, 4, 8, 8, true, got), 0);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq (got[i], i >= 2 && i < 6 ? entry_flags (v[i - 2]) : 0);

  /* One entry for a range; ranges running past the end of the table. */
  ck_assert_uint_eq (set_entries (a, 4, 96, 10, &z, 1, true), 0);
  ck_assert_uint_eq (get_entries (a, 4, 95, 8, false, got), 0);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq (got[i], i >= 1 && i < 5 ? z : ENTRY_INVALID);

  /* SET_STATUS: only loaded, valid entries change. */
  ck_assert_uint_eq (set_status (a, 4, 8, 8, ENTRY_NOWRITE, true, false), 0);
  ck_assert_uint_eq (get_entries (a, 4, 8, 8, false, got), 0);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq (got[i], i >= 2 && i < 6
                       ? v[i - 2] | ENTRY_NOWRITE : ENTRY_INVALID);
  ck_assert_uint_eq (set_status (a, 4, 12, 1, ENTRY_NOWRITE, false, true), 0);
  ck_assert_uint_eq (get_entry (a, 4, 12), mapped (12));
  ck_assert_uint_eq (get_entry (a, 4, 11), z | ENTRY_NOWRITE);

  /* Unknown vdisk. */
  ck_assert_uint_eq (get_entries (a, 44, 0, 4, false, got), ENOENT);
  ck_assert_uint_eq (get_entries (a, 44, 0, 4, true, got), ENOENT);
  ck_assert_uint_eq (set_entries (a, 44, 0, 1, &z, 1, false), ENOENT);
  ck_assert_uint_eq (set_status (a, 44, 0, 1, ENTRY_NOWRITE, true, false),
                     ENOENT);

  /* Commands never fault. */
  ck_assert_uint_eq (fake_n_log (), 0);
  stop_agent (a);
}
END_TEST

START_TEST (test_set_entry_blocking)
{
  struct agent *a = start_agent (0);
  struct holder h = { .hold_ms = 400, .seg = 3 };
  sm_entry e1 = mapped (3), e2 = mapped (30);
  pthread_t th;
  uint64_t start;

  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  h.t = agent_open_vdisk (a, "vd1");
  ck_assert_ptr_nonnull (h.t);

  /* Not blocking: answered at once, in-flight I/O or not. */
  holder_start (&th, &h);
  start = sm_test_now_ms ();
  ck_assert_uint_eq (set_entries (a, 1, 3, 1, &e1, 1, false), 0);
  ck_assert_uint_lt (sm_test_now_ms () - start, 200);
  ck_assert (!h.exited);

  /* Blocking: the table changes at once (the I/O sees the new entry
   * before it leaves), the answer waits for the I/O. */
  ck_assert_uint_eq (set_entries (a, 1, 3, 1, &e2, 1, true), 0);
  ck_assert (h.exited);
  ck_assert_uint_eq (h.seen, e2);
  ck_assert_uint_ge (sm_test_now_ms (), h.exited_at);
  /* (from when the I/O entered, not from START: under load this thread
   * may see it enter long after it did) */
  ck_assert_uint_ge (sm_test_now_ms () - h.entered_at, 400);
  pthread_join (th, NULL);

  /* Blocking SET_STATUS too. */
  h.entered = h.exited = false;
  h.hold_ms = 300;
  holder_start (&th, &h);
  ck_assert_uint_eq (set_status (a, 1, 0, 10, ENTRY_NOWRITE, true, true), 0);
  ck_assert (h.exited);
  ck_assert_uint_eq (h.seen, e2 | ENTRY_NOWRITE);
  pthread_join (th, NULL);

  /* Nothing in flight: blocking is immediate. */
  start = sm_test_now_ms ();
  ck_assert_uint_eq (set_entries (a, 1, 3, 1, &e1, 1, true), 0);
  ck_assert_uint_lt (sm_test_now_ms () - start, 200);

  agent_close_vdisk (a, h.t);
  stop_agent (a);
}
END_TEST

/* Turning a vdisk read-only (NEW_TABLE with MSG_F_READ_ONLY) drains it:
 * the REPLY comes after every I/O in flight has left, so no write that
 * missed the flag can land after "vdisk set --read-only" returned; a
 * write that starts later fails with EROFS. */
START_TEST (test_read_only_drains)
{
  struct agent *a = start_agent (0);
  struct holder h = { .hold_ms = 400, .seg = 3 };
  struct msg ro = { .type = MSG_NEW_TABLE, .vdisk = 1, .arg = 100 * MiB,
                    .arg2 = SEG_SHIFT, .name = (char *) "vd1",
                    .flags = MSG_F_READ_ONLY };
  char buf[512] = { 0 };
  pthread_t th;
  uint64_t start;

  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  h.t = agent_open_vdisk (a, "vd1");
  ck_assert_ptr_nonnull (h.t);
  holder_start (&th, &h);
  start = sm_test_now_ms ();
  ck_assert_uint_eq (command (a, &ro, NULL), 0);
  ck_assert (h.exited);
  ck_assert_uint_ge (sm_test_now_ms () - h.entered_at, 400);
  pthread_join (th, NULL);
  errno = 0;
  ck_assert_int_eq (agent_pwrite (a, h.t, buf, sizeof buf, 0, false), -1);
  ck_assert_int_eq (errno, EROFS);

  /* Already read-only, or back to read-write: no drain. */
  h.entered = h.exited = false;
  holder_start (&th, &h);
  start = sm_test_now_ms ();
  ck_assert_uint_eq (command (a, &ro, NULL), 0);
  ro.flags = 0;
  ck_assert_uint_eq (command (a, &ro, NULL), 0);
  ck_assert_uint_lt (sm_test_now_ms () - start, 200);
  pthread_join (th, NULL);

  agent_close_vdisk (a, h.t);
  stop_agent (a);
}
END_TEST

/* An I/O waiting for a fault's answer has issued nothing: a blocking
 * SET_ENTRY does not wait for it (or the controller would deadlock). */
START_TEST (test_set_entry_blocking_ignores_faults)
{
  struct agent *a = start_agent (0);
  struct reader rd = { .a = a, .offset = 70 * MiB + 100, .len = 1000 };
  /* Not plain mapped: an answer never replaces a plain mapped entry
   * (it could be a granted segment the answer does not know about). */
  sm_entry e = mapped (70) | ENTRY_NOWRITE;
  pthread_t th;
  uint64_t start;

  fake_set (ANSWER_ZERO, 0);
  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  rd.t = agent_open_vdisk (a, "vd1");
  fake_hold (true);
  ck_assert_int_eq (pthread_create (&th, NULL, reader_run, &rd), 0);
  fake_wait_n_log (1);
  check_fault (0, 1, FAULT_READ, 64, 36);      /* clipped at the end */
  start = sm_test_now_ms ();
  ck_assert_uint_eq (set_entries (a, 1, 70, 1, &e, 1, true), 0);
  ck_assert_uint_lt (sm_test_now_ms () - start, 1000);
  ck_assert (!rd.done);
  fake_hold (false);
  ck_assert (join_within (th, 5000));
  ck_assert_int_eq (rd.r, 0);
  ck_assert (all_zero (rd.buf, rd.len));       /* the answer came later */
  agent_close_vdisk (a, rd.t);
  stop_agent (a);
}
END_TEST

/*----------------------------------------------------------------------
 * Faults.
 */

START_TEST (test_read_zero_one_fault)
{
  struct agent *a = start_agent (0);
  struct agent_stats st;
  uint8_t buf[3 * 4096];
  sm_entry got[64];
  struct table *t;

  fake_set (ANSWER_ZERO, 0);
  ck_assert_uint_eq (new_table (a, 2, "vd2", 1000 * MiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "vd2");
  ck_assert_ptr_nonnull (t);

  memset (buf, 0xaa, sizeof buf);
  ck_assert_int_eq (agent_pread (a, t, buf, 8192, 100 * MiB + 4096), 0);
  ck_assert (all_zero (buf, 8192));
  ck_assert_uint_eq (buf[8192], 0xaa);
  ck_assert_uint_eq (fake_n_log (), 1);
  check_fault (0, 2, FAULT_READ, 64, 64);      /* the aligned run */
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.faults, 1);
  ck_assert_uint_eq (get_entries (a, 2, 64, 64, false, got), 0);
  for (unsigned i = 0; i < 64; i++)
    ck_assert_uint_eq (got[i], ENTRY_ZERO_SEGMENT);

  /* Fast path: the same range, and the rest of the run, fault no more. */
  for (unsigned i = 0; i < 100; i++) {
    memset (buf, 0xaa, sizeof buf);
    EXPECT (agent_pread (a, t, buf, 8192, 100 * MiB + 4096) == 0);
    EXPECT (all_zero (buf, 8192));
  }
  ck_assert_int_eq (agent_pread (a, t, buf, 4096, 64 * MiB), 0);
  ck_assert_int_eq (agent_pread (a, t, buf, 4096, 128 * MiB - 4096), 0);
  ck_assert_uint_eq (fake_n_log (), 1);
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.faults, 1);

  /* A read across two runs faults for the second only. */
  memset (buf, 0xaa, sizeof buf);
  ck_assert_int_eq (agent_pread (a, t, buf, sizeof buf,
                                 128 * MiB - 4096), 0);
  ck_assert (all_zero (buf, sizeof buf));
  ck_assert_uint_eq (fake_n_log (), 2);
  check_fault (1, 2, FAULT_READ, 128, 64);

  /* The last run is clipped at the end of the table. */
  ck_assert_int_eq (agent_pread (a, t, buf, 4096, 1000 * MiB - 4096), 0);
  ck_assert_uint_eq (fake_n_log (), 3);
  check_fault (2, 2, FAULT_READ, 960, 40);
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.faults, 3);

  agent_close_vdisk (a, t);
  stop_agent (a);
}
END_TEST

START_TEST (test_fail_answer)
{
  struct agent *a = start_agent (0);
  uint8_t buf[4096];
  struct table *t;

  ck_assert_uint_eq (new_table (a, 2, "vd2", 100 * MiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "vd2");
  fake_set (ANSWER_FAIL, ENOSPC);
  errno = 0;
  ck_assert_int_eq (agent_pread (a, t, buf, sizeof buf, 0), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_uint_eq (fake_n_log (), 1);        /* no retry after FAIL */
  fake_set (ANSWER_FAIL, EROFS);
  errno = 0;
  ck_assert_int_eq (agent_pwrite (a, t, buf, sizeof buf, 0, false), -1);
  ck_assert_int_eq (errno, EROFS);
  ck_assert_uint_eq (fake_n_log (), 2);
  check_fault (1, 2, FAULT_WRITE, 0, 1);      /* a write: its segment */
  ck_assert_uint_eq (get_entry (a, 2, 0), ENTRY_INVALID);  /* nothing kept */

  /* The next answer is a RETRY: the same read now succeeds. */
  fake_set (ANSWER_ZERO, 0);
  ck_assert_int_eq (agent_pread (a, t, buf, sizeof buf, 0), 0);
  ck_assert (all_zero (buf, sizeof buf));
  agent_close_vdisk (a, t);
  stop_agent (a);
}
END_TEST

START_TEST (test_mapped_io)
{
  struct agent *a = start_agent (0);
  struct container *c = open_container (a, 64 * MiB);
  uint8_t buf[5000], got[5000];
  sm_entry e = ENTRY_VALID | ENTRY_ERROR;
  struct table *t;
  unsigned n;

  fake_set (ANSWER_MAP, 0);
  ck_assert_uint_eq (new_table (a, 8, "vd8", 32 * MiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "vd8");

  /* A write across segments 0 and 1: a write fault per segment. */
  fill (buf, sizeof buf, 3);
  ck_assert_int_eq (agent_pwrite (a, t, buf, sizeof buf, MiB - 1000, false),
                    0);
  ck_assert_uint_eq (fake_n_log (), 2);
  check_fault (0, 8, FAULT_WRITE, 0, 1);
  check_fault (1, 8, FAULT_WRITE, 1, 1);
  ck_assert_int_eq (agent_pread (a, t, got, sizeof got, MiB - 1000), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  /* The bytes are where the entries say: segment S at (S+2) MiB. */
  ck_assert_int_eq (container_pread (c, got, sizeof got, 3 * MiB - 1000), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  ck_assert_int_eq (agent_flush (a, t), 0);
  ck_assert_uint_eq (fake_n_log (), 3);
  ck_assert_str_eq (msg_type_to_string (fake_log (2).type), "flush");
  ck_assert_uint_eq (fake_log (2).vdisk, 8);

  /* NOWRITE: reads stay on the fast path, a write faults for its one
   * segment (the fake controller answers with the writable entry). */
  ck_assert_uint_eq (set_status (a, 8, 0, 2, ENTRY_NOWRITE, true, true), 0);
  ck_assert_int_eq (agent_pread (a, t, got, sizeof got, MiB - 1000), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  ck_assert_uint_eq (fake_n_log (), 3);
  fill (buf, sizeof buf, 4);
  ck_assert_int_eq (agent_pwrite (a, t, buf, 100, 4096, false), 0);
  ck_assert_uint_eq (fake_n_log (), 4);
  check_fault (3, 8, FAULT_WRITE, 0, 1);
  ck_assert_uint_eq (get_entry (a, 8, 0), mapped (0));
  ck_assert_uint_eq (get_entry (a, 8, 1), mapped (1) | ENTRY_NOWRITE);
  ck_assert_int_eq (container_pread (c, got, 100, 2 * MiB + 4096), 0);
  ck_assert_mem_eq (got, buf, 100);

  /* ERROR: EIO at once, no fault. */
  ck_assert_uint_eq (set_entries (a, 8, 5, 1, &e, 1, true), 0);
  n = fake_n_log ();
  errno = 0;
  ck_assert_int_eq (agent_pread (a, t, got, 512, 5 * MiB), -1);
  ck_assert_int_eq (errno, EIO);
  errno = 0;
  ck_assert_int_eq (agent_pwrite (a, t, buf, 512, 5 * MiB, false), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_uint_eq (fake_n_log (), n);

  agent_close_vdisk (a, t);
  stop_agent (a);
  container_close (c);
}
END_TEST

/*----------------------------------------------------------------------
 * QUIESCE and ACTIVATE.
 */

START_TEST (test_quiesce_activate)
{
  struct agent *a = start_agent (0);
  struct reader rd = { .a = a, .offset = 0, .len = 4096 };
  struct holder h = { .hold_ms = 500 };
  pthread_t th, th_h;
  uint64_t start;

  fake_set (ANSWER_ZERO, 0);
  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  rd.t = h.t = agent_open_vdisk (a, "vd1");

  /* Nothing in flight: quiesced at once; new I/O waits. */
  ck_assert_uint_eq (vdisk_list (a, 1, false, 1000), 0);
  ck_assert_int_eq (pthread_create (&th, NULL, reader_run, &rd), 0);
  sm_test_sleep_ms (200);
  ck_assert (!rd.done);
  ck_assert_uint_eq (fake_n_log (), 0);        /* not even a fault */
  ck_assert_uint_eq (vdisk_list (a, 1, true, 0), 0);
  ck_assert (join_within (th, 5000));
  ck_assert_int_eq (rd.r, 0);
  ck_assert_uint_eq (fake_n_log (), 1);

  /* In-flight I/O past the timeout: ETIMEDOUT, still quiesced. */
  holder_start (&th_h, &h);
  start = sm_test_now_ms ();
  ck_assert_uint_eq (vdisk_list (a, 1, false, 100), ETIMEDOUT);
  ck_assert_uint_ge (sm_test_now_ms () - start, 95);
  ck_assert (!h.exited);
  rd.done = false;
  ck_assert_int_eq (pthread_create (&th, NULL, reader_run, &rd), 0);
  pthread_join (th_h, NULL);
  sm_test_sleep_ms (100);
  ck_assert (!rd.done);
  ck_assert_uint_eq (vdisk_list (a, 1, true, 0), 0);
  ck_assert (join_within (th, 5000));
  ck_assert_int_eq (rd.r, 0);

  /* Unknown vdisks. */
  ck_assert_uint_eq (vdisk_list (a, 77, false, 100), ENOENT);
  ck_assert_uint_eq (vdisk_list (a, 77, true, 0), ENOENT);
  agent_close_vdisk (a, rd.t);
  stop_agent (a);
}
END_TEST

/* QUIESCE timed out and the controller gave up (ACTIVATE); the I/O
 * that outlived the timeout is still in flight.  A blocking SET_ENTRY
 * after that must still wait for it: it started before the command. */
START_TEST (test_blocking_after_quiesce_timeout)
{
  struct agent *a = start_agent (0);
  struct holder h = { .hold_ms = 700, .seg = 4 };
  sm_entry e = mapped (4);
  pthread_t th;
  bool exited;

  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  h.t = agent_open_vdisk (a, "vd1");
  holder_start (&th, &h);
  ck_assert_uint_eq (vdisk_list (a, 1, false, 100), ETIMEDOUT);
  ck_assert_uint_eq (vdisk_list (a, 1, true, 0), 0);
  ck_assert_uint_eq (set_entries (a, 1, 4, 1, &e, 1, true), 0);
  exited = h.exited;
  pthread_join (th, NULL);
  agent_close_vdisk (a, h.t);
  stop_agent (a);
  ck_assert_msg (exited, "blocking SET_ENTRY answered while an I/O that "
                 "started before it (and outlived a QUIESCE timeout) was "
                 "still in flight");
}
END_TEST

/* The controller reads entries of a quiesced vdisk (a group snapshot
 * runs between QUIESCE and ACTIVATE): GET_ENTRY must be answered, not
 * wait for an ACTIVATE that only the same controller thread can send. */
START_TEST (test_get_entry_while_quiesced)
{
  struct agent *a = start_agent (0);
  struct commander cmd = { .a = a };
  sm_entry e = mapped (2);
  struct table *t;
  pthread_t th;
  bool answered;

  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "vd1");
  ck_assert_uint_eq (set_entries (a, 1, 2, 1, &e, 1, false), 0);
  ck_assert_uint_eq (vdisk_list (a, 1, false, 1000), 0);
  cmd.m = (struct msg) { .type = MSG_GET_ENTRY, .vdisk = 1, .first = 2,
                         .count = 1 };
  ck_assert_int_eq (pthread_create (&th, NULL, commander_run, &cmd), 0);
  answered = join_within (th, 2000);
  if (!answered) {
    table_activate (t);                         /* release it, then fail */
    pthread_join (th, NULL);
  }
  ck_assert_uint_eq (vdisk_list (a, 1, true, 0), 0);
  ck_assert_uint_eq (cmd.status, 0);
  ck_assert_uint_eq (cmd.reply.n_entries, 1);
  e = cmd.reply.entries[0];
  msg_clear (&cmd.reply);
  agent_close_vdisk (a, t);
  stop_agent (a);
  ck_assert_msg (answered, "GET_ENTRY on a quiesced vdisk waits for "
                 "ACTIVATE (the controller thread would deadlock)");
  ck_assert_uint_eq (e, mapped (2));
}
END_TEST

/* DELETE_TABLE of a quiesced vdisk: the host I/O queued by the quiesce
 * must end (ENXIO); no ACTIVATE can reach a deleted table. */
START_TEST (test_delete_quiesced)
{
  struct agent *a = start_agent (0);
  struct reader rd = { .a = a, .offset = 0, .len = 4096 };
  pthread_t th;
  bool ended;

  fake_set (ANSWER_ZERO, 0);
  ck_assert_uint_eq (new_table (a, 1, "vd1", 100 * MiB, SEG_SHIFT), 0);
  rd.t = agent_open_vdisk (a, "vd1");
  ck_assert_uint_eq (vdisk_list (a, 1, false, 1000), 0);
  ck_assert_int_eq (pthread_create (&th, NULL, reader_run, &rd), 0);
  sm_test_sleep_ms (100);
  ck_assert (!rd.done);
  ck_assert_uint_eq (delete_table (a, 1), 0);
  ck_assert_uint_eq (vdisk_list (a, 1, true, 0), ENOENT);
  ended = join_within (th, 2000);
  if (!ended) {
    table_activate (rd.t);                      /* release it, then fail */
    pthread_join (th, NULL);
  }
  agent_close_vdisk (a, rd.t);
  stop_agent (a);
  ck_assert_msg (ended, "an I/O queued by QUIESCE still waits after "
                 "DELETE_TABLE of its vdisk");
  ck_assert_int_eq (rd.r, -1);
  ck_assert_int_eq (rd.err, ENXIO);
}
END_TEST

/*----------------------------------------------------------------------
 * The memory bound.
 */

START_TEST (test_memory_bound)
{
  const uint64_t limit = 512 * 1024;
  const unsigned n = 3000;
  struct agent *a = start_agent (limit);
  const char *seed = getenv ("SEGMAP_TEST_SEED");
  uint64_t state = (seed ? strtoull (seed, NULL, 10) : (uint64_t) time (NULL))
    | 1;
  uint64_t peak = 0, n_segments;
  struct agent_stats st;
  uint8_t buf[512];
  struct table *t;

  fake_set (ANSWER_ZERO, 0);
  ck_assert_uint_eq (new_table (a, 1, "huge", PiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "huge");
  n_segments = t->n_segments;
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.memory_limit, limit);
  ck_assert_uint_le (st.memory, 256 * 1024 + 64);   /* the top array */

  for (unsigned i = 0; i < n; i++) {
    uint64_t seg;

    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    /* Read I lands in stripe I of the table: random, but never in a
     * run (LOAD_AHEAD segments) another read has loaded. */
    seg = i * (n_segments / n) + LOAD_AHEAD
      + state % (n_segments / n - 2 * LOAD_AHEAD);
    memset (buf, 0xaa, sizeof buf);
    EXPECT (agent_pread (a, t, buf, sizeof buf, seg << SEG_SHIFT) == 0);
    EXPECT (all_zero (buf, sizeof buf));
    uint64_t bytes = atomic_load (&a->mem.bytes);
    if (bytes > peak)
      peak = bytes;
    EXPECT (bytes <= limit);
  }
  agent_get_stats (a, &st);
  ck_assert_uint_le (peak, limit);
  ck_assert_uint_le (st.memory, limit);
  ck_assert_uint_ge (st.faults, n);
  ck_assert_uint_gt (st.evicted_entries, n / 2 * TABLE_LEAF_ENTRIES);
  /* Entries are counted by real leaves, whose entries use the memory. */
  ck_assert_uint_gt (st.entries, 0);
  ck_assert_uint_eq (st.entries % TABLE_LEAF_ENTRIES, 0);
  ck_assert_uint_le (st.entries * sizeof (sm_entry), st.memory);
  /* One fault per read (no two share a run), plus a few refaults where
   * the eviction its own answer set off took the entries it had just
   * loaded. */
  ck_assert_uint_le (st.faults, n + n / 10);
  agent_close_vdisk (a, t);
  stop_agent (a);
}
END_TEST

/* A limit below what the tables cost before any entry is loaded (their
 * top arrays; 1 MiB is the smallest limit the config accepts, an 8 PiB
 * vdisk in 64 KiB segments has a 32 MiB top array): the agent cannot get
 * under it, but must still serve I/O, not evict the entries it just
 * loaded for a waiting I/O until that I/O gives up after 1000 faults. */
START_TEST (test_limit_below_fixed_cost)
{
  struct agent *a = start_agent (32 * 1024);
  struct agent_stats st;
  uint8_t buf[512];
  struct table *t;
  int r, err;

  fake_set (ANSWER_ZERO, 0);
  /* 2^28 segments of 64 KiB: a 64 KiB top array. */
  ck_assert_uint_eq (new_table (a, 1, "big", UINT64_C(1) << 44, 16), 0);
  t = agent_open_vdisk (a, "big");
  agent_get_stats (a, &st);
  ck_assert_uint_gt (st.memory, st.memory_limit);
  memset (buf, 0xaa, sizeof buf);
  errno = 0;
  r = agent_pread (a, t, buf, sizeof buf, UINT64_C(12345) << 16);
  err = errno;
  agent_get_stats (a, &st);
  agent_close_vdisk (a, t);
  stop_agent (a);
  ck_assert_msg (r == 0, "read failed (%s) after %" PRIu64 " faults: every "
                 "answer's entries were evicted before the I/O used them",
                 strerror (err), st.faults);
  ck_assert (all_zero (buf, sizeof buf));
  ck_assert_uint_le (st.faults, 2);
}
END_TEST


/*----------------------------------------------------------------------
 * First writes with grants.
 */

/* Check logged frame I: ALLOCATED of SEG of VDISK to the location E. */
static void
check_allocated (unsigned i, uint32_t vdisk, uint64_t seg, sm_entry e)
{
  struct msg m;

  fake_wait_n_log (i + 1);
  m = fake_log (i);
  ck_assert_str_eq (msg_type_to_string (m.type), "allocated");
  ck_assert_uint_eq (m.vdisk, vdisk);
  ck_assert_uint_eq (m.first, seg);
  ck_assert_uint_eq (m.alt, e);
}

START_TEST (test_first_write_grants)
{
  struct agent *a = start_agent (0);
  struct container *c = open_container (a, 64 * MiB);
  uint8_t buf[4096], got[4096];
  struct agent_stats st;
  sm_entry g = granted (0);
  struct msg m = { .type = MSG_GRANT, .vdisk = 77, .entries = &g,
                   .n_entries = 1 };
  struct table *t;

  fake_set (ANSWER_GRANT, 0);
  how.n_segments = 32;
  ck_assert_uint_eq (new_table (a, 9, "vd9", 32 * MiB, SEG_SHIFT), 0);
  t = agent_open_vdisk (a, "vd9");

  /* Segment 3 is not loaded: one write fault; the controller grants
   * segments 40 and 41 and says 3.. are zero; the write takes the first
   * grant at once and reports it. */
  fill (buf, sizeof buf, 1);
  ck_assert_int_eq (agent_pwrite (a, t, buf, sizeof buf, 3 * MiB + 512,
                                  false), 0);
  check_fault (0, 9, FAULT_WRITE, 3, 1);
  check_allocated (1, 9, 3, granted (0));
  ck_assert_uint_eq (get_entry (a, 9, 3), granted (0));
  ck_assert_int_eq (container_pread (c, got, sizeof got, 40 * MiB + 512), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);

  /* Segment 10 is known zero and a grant is at hand: no fault. */
  fill (buf, sizeof buf, 2);
  ck_assert_int_eq (agent_pwrite (a, t, buf, sizeof buf, 10 * MiB, false), 0);
  check_allocated (2, 9, 10, granted (1));
  ck_assert_int_eq (container_pread (c, got, sizeof got, 41 * MiB), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  /* Known zeros read as zeros without a fault either. */
  ck_assert_int_eq (agent_pread (a, t, got, sizeof got, 25 * MiB), 0);
  ck_assert (all_zero (got, sizeof got));
  ck_assert_uint_eq (fake_n_log (), 3);

  /* The pool is empty: the next first write faults for more. */
  ck_assert_int_eq (agent_pwrite (a, t, buf, 512, 20 * MiB, false), 0);
  check_fault (3, 9, FAULT_WRITE, 20, 1);
  check_allocated (4, 9, 20, granted (2));
  ck_assert_uint_eq (table_grants (t), 1);
  /* A write to a segment it mapped itself stays on the fast path, and
   * the flush comes after every ALLOCATED. */
  ck_assert_int_eq (agent_pwrite (a, t, buf, 512, 20 * MiB + 4096, true), 0);
  fake_wait_n_log (6);
  ck_assert_str_eq (msg_type_to_string (fake_log (5).type), "flush");
  agent_get_stats (a, &st);
  ck_assert_uint_eq (st.grants_used, 3);
  ck_assert_uint_eq (st.faults, 2);

  /* A grant for a vdisk the agent does not serve is refused. */
  ck_assert_uint_eq (command (a, &m, NULL), ENOENT);
  /* RECALL gives the unused grant back, and then none. */
  struct msg recall = { .type = MSG_RECALL, .vdisk = 9 }, r;
  ck_assert_uint_eq (command (a, &recall, &r), 0);
  ck_assert_uint_eq (r.n_entries, 1);
  ck_assert_uint_eq (r.entries[0], granted (3));
  msg_clear (&r);
  ck_assert_uint_eq (table_grants (t), 0);
  ck_assert_uint_eq (command (a, &recall, &r), 0);
  ck_assert_uint_eq (r.n_entries, 0);
  msg_clear (&r);
  recall.vdisk = 77;
  ck_assert_uint_eq (command (a, &recall, NULL), ENOENT);

  agent_close_vdisk (a, t);
  stop_agent (a);
  container_close (c);
}
END_TEST

static Suite *
agent_suite (void)
{
  Suite *s = suite_create ("agent");
  TCase *tc = tcase_create ("agent");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);           /* valgrind */
  tcase_add_test (tc, test_new_table);
  tcase_add_test (tc, test_delete_table);
  tcase_add_test (tc, test_delete_during_fault);
  tcase_add_test (tc, test_get_set);
  tcase_add_test (tc, test_set_entry_blocking);
  tcase_add_test (tc, test_read_only_drains);
  tcase_add_test (tc, test_set_entry_blocking_ignores_faults);
  tcase_add_test (tc, test_read_zero_one_fault);
  tcase_add_test (tc, test_fail_answer);
  tcase_add_test (tc, test_mapped_io);
  tcase_add_test (tc, test_first_write_grants);
  tcase_add_test (tc, test_quiesce_activate);
  tcase_add_test (tc, test_blocking_after_quiesce_timeout);
  tcase_add_test (tc, test_get_entry_while_quiesced);
  tcase_add_test (tc, test_delete_quiesced);
  tcase_add_test (tc, test_memory_bound);
  tcase_add_test (tc, test_limit_below_fixed_cost);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (agent_suite ());
}
