/* segmap: unit tests of the agent's side of the agent/controller
 * contract (src/agent/agent.c): REGISTER, request time-outs, container
 * attach/detach by message, degraded mode, statistics and sync-failure
 * reports.
 *
 * A scripted controller: a transport whose to_controller queues the
 * agent's frames for a thread that answers them as the test says
 * (REGISTER: accept or refuse with a version; MAP_FAULT: answer with
 * ZERO entries, or hold the answer until the test releases it; FLUSH:
 * REPLY 0), delivering answers with agent_receive as the in-process
 * transport does.  Commands (CONTAINER_ATTACH, ...) are delivered from
 * the test thread with agent_receive and their REPLY decoded.
 */
#include <config.h>

#include <check.h>

#include "test-errors.h"
#include "test-util.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "proto/msg.h"
#include "proto/transport.h"
#include "store/container.h"
#include "store/inject.h"

#define MiB (UINT64_C(1) << 20)
#define LOG_MAX 4096

struct frame {
  struct frame *next;
  uint8_t *bytes;
  size_t len;
};

struct script {
  struct transport tr;          /* first: the agent hands us &tr */
  struct agent *a;
  pthread_t thread;
  pthread_mutex_t lock;         /* protects everything below */
  pthread_cond_t cond;
  struct frame *head, **tail;
  bool stop;
  bool hold_faults;             /* keep MAP_FAULT unanswered */
  struct msg held;              /* the held fault (no arrays) */
  bool have_held;
  uint32_t register_status;     /* REPLY status to REGISTER */
  uint32_t register_version;    /* REPLY arg2 to REGISTER */
  uint8_t log_types[LOG_MAX];   /* what the agent sent */
  struct msg reports[8];        /* REPORTs (no arrays) */
  unsigned n_log, n_reports;
};

static struct script sc;
static char path1[64], path2[64];

static int
script_to_controller (struct transport *tr, uint8_t *frame, size_t len)
{
  struct script *s = (struct script *) tr;
  struct frame *fr = malloc (sizeof *fr);

  if (fr == NULL) {
    free (frame);
    return -1;
  }
  fr->next = NULL;
  fr->bytes = frame;
  fr->len = len;
  pthread_mutex_lock (&s->lock);
  *s->tail = fr;
  s->tail = &fr->next;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  return 0;
}

/* Deliver M to the agent (an answer: no REPLY expected). */
static void
deliver (const struct msg *m)
{
  uint8_t *frame, *reply;
  size_t len, reply_len;

  ck_assert_int_eq (msg_encode (m, &frame, &len), 0);
  ck_assert_int_eq (agent_receive (sc.a, frame, len, &reply, &reply_len), 0);
  ck_assert_ptr_null (reply);
  free (frame);
}

/* A RETRY for fault M: every entry ZERO. */
static void
answer_zero (const struct msg *m)
{
  struct msg a = { .type = MSG_RETRY, .id = m->id, .vdisk = m->vdisk,
                   .first = m->first, .count = m->count,
                   .n_entries = m->count };

  a.entries = calloc (m->count, sizeof a.entries[0]);
  ck_assert_ptr_nonnull (a.entries);
  for (uint32_t i = 0; i < m->count; i++)
    a.entries[i] = ENTRY_ZERO_SEGMENT;
  deliver (&a);
  free (a.entries);
}

static void
handle (struct msg *m)
{
  struct msg r = { .type = MSG_REPLY, .id = m->id };
  bool hold;

  pthread_mutex_lock (&sc.lock);
  if (sc.n_log < LOG_MAX)
    sc.log_types[sc.n_log] = m->type;
  sc.n_log++;
  if (m->type == MSG_REPORT && sc.n_reports < 8)
    sc.reports[sc.n_reports++] = *m;
  hold = sc.hold_faults && m->type == MSG_MAP_FAULT;
  if (hold) {
    sc.held = *m;
    sc.held.blocks = NULL;
    sc.have_held = true;
  }
  if (m->type == MSG_REGISTER) {
    r.status = sc.register_status;
    r.arg = r.status ? 0 : 42;
    r.arg2 = sc.register_version;
  }
  pthread_cond_broadcast (&sc.cond);
  pthread_mutex_unlock (&sc.lock);
  if (m->type == MSG_MAP_FAULT && !hold)
    answer_zero (m);
  else if (m->type == MSG_REGISTER || m->type == MSG_FLUSH)
    deliver (&r);
}

static void *
script_run (void *arg)
{
  for (;;) {
    struct frame *fr;
    struct msg m;

    pthread_mutex_lock (&sc.lock);
    while (sc.head == NULL && !sc.stop)
      pthread_cond_wait (&sc.cond, &sc.lock);
    fr = sc.head;
    if (fr) {
      sc.head = fr->next;
      if (sc.head == NULL)
        sc.tail = &sc.head;
    }
    pthread_mutex_unlock (&sc.lock);
    if (fr == NULL)
      return NULL;
    if (msg_decode (fr->bytes, fr->len, &m) == 0) {
      handle (&m);
      msg_clear (&m);
    }
    free (fr->bytes);
    free (fr);
  }
}

/* Deliver command M; returns the REPLY's status (the REPLY in *R if
 * not NULL). */
static uint32_t
command (struct msg *m, struct msg *r)
{
  static uint64_t next_id = 1000;
  uint8_t *frame, *reply;
  size_t len, reply_len;
  struct msg got;
  uint32_t status;

  m->id = next_id++;
  ck_assert_int_eq (msg_encode (m, &frame, &len), 0);
  ck_assert_int_eq (agent_receive (sc.a, frame, len, &reply, &reply_len), 0);
  ck_assert_ptr_nonnull (reply);
  ck_assert_int_eq (msg_decode (reply, reply_len, &got), 0);
  ck_assert_uint_eq (got.type, MSG_REPLY);
  ck_assert_uint_eq (got.id, m->id);
  free (frame);
  free (reply);
  status = got.status;
  if (r)
    *r = got;
  else
    msg_clear (&got);
  return status;
}

static void
setup (void)
{
  test_errors_clear ();
  sm_set_log_sinks (test_capture_error, NULL);
  memset (&sc, 0, sizeof sc);
  pthread_mutex_init (&sc.lock, NULL);
  pthread_cond_init (&sc.cond, NULL);
  sc.tail = &sc.head;
  sc.tr.to_controller = script_to_controller;
  sc.register_version = MSG_VERSION;
  sc.a = agent_new ("link-test", 0);
  ck_assert_ptr_nonnull (sc.a);
  sc.tr.agent = sc.a;
  agent_set_transport (sc.a, &sc.tr);
  ck_assert_int_eq (pthread_create (&sc.thread, NULL, script_run, NULL), 0);
  strcpy (path1, "/tmp/segmap-test-link1.XXXXXX");
  strcpy (path2, "/tmp/segmap-test-link2.XXXXXX");
  close (mkstemp (path1));
  close (mkstemp (path2));
}

static void
teardown (void)
{
  pthread_mutex_lock (&sc.lock);
  sc.stop = true;
  sc.hold_faults = false;
  pthread_cond_broadcast (&sc.cond);
  pthread_mutex_unlock (&sc.lock);
  pthread_join (sc.thread, NULL);
  agent_free (sc.a);
  pthread_mutex_destroy (&sc.lock);
  pthread_cond_destroy (&sc.cond);
  unlink (path1);
  unlink (path2);
  inject_configure (NULL);
  sm_set_log_sinks (NULL, NULL);
}

static void
attach (uint32_t id, const char *path)
{
  struct msg m = { .type = MSG_CONTAINER_ATTACH, .arg2 = id,
                   .arg = 64 * MiB, .name = (char *) "c", .path =
                   (char *) path };

  ck_assert_uint_eq (command (&m, NULL), 0);
}

static uint32_t
detach (uint32_t id)
{
  struct msg m = { .type = MSG_CONTAINER_DETACH, .arg2 = id };

  return command (&m, NULL);
}

static struct table *
new_vdisk (void)
{
  struct msg m = { .type = MSG_NEW_TABLE, .vdisk = 1, .arg = 16 * MiB,
                   .arg2 = 20, .name = (char *) "v" };
  struct table *t;

  ck_assert_uint_eq (command (&m, NULL), 0);
  t = agent_open_vdisk (sc.a, "v");
  ck_assert_ptr_nonnull (t);
  return t;
}

/*----------------------------------------------------------------------*/

START_TEST (test_register_ok)
{
  ck_assert_int_eq (agent_register (sc.a), 0);
  ck_assert_uint_eq (sc.a->id, 42);
}
END_TEST

/* A controller of another version refuses; the agent says both. */
START_TEST (test_register_refused)
{
  sc.register_status = EPROTONOSUPPORT;
  sc.register_version = MSG_VERSION + 1;
  ck_assert_int_eq (agent_register (sc.a), -1);
  {
    char want[128];
    snprintf (want, sizeof want, "the controller speaks protocol version %d "
              "and this agent version %d", MSG_VERSION + 1, MSG_VERSION);
    ck_assert_msg (test_errors_have (want), "errors: %s", test_errors);
  }
  ck_assert_uint_eq (sc.a->id, 0);
}
END_TEST

/* A fault unanswered past the deadline fails with ETIMEDOUT; its late
 * RETRY is still applied to the table, then dropped. */
START_TEST (test_request_timeout)
{
  struct table *t = new_vdisk ();
  struct msg get = { .type = MSG_GET_ENTRY, .vdisk = 1, .first = 0,
                     .count = 1 }, r;
  char buf[512];
  struct agent_stats st;
  uint64_t start;

  agent_set_request_timeout (sc.a, 200);
  sc.hold_faults = true;
  start = sm_test_now_ms ();
  ck_assert_int_eq (agent_pread (sc.a, t, buf, sizeof buf, 0), -1);
  ck_assert_int_eq (errno, ETIMEDOUT);
  ck_assert_uint_ge (sm_test_now_ms () - start, 190);
  ck_assert (test_errors_have ("no answer to map_fault"));
  agent_get_stats (sc.a, &st);
  ck_assert_uint_eq (st.timeouts, 1);

  /* The late answer: applied, no waiter, no crash (ASan/valgrind). */
  pthread_mutex_lock (&sc.lock);
  ck_assert (sc.have_held);
  struct msg held = sc.held;
  pthread_mutex_unlock (&sc.lock);
  answer_zero (&held);
  ck_assert_uint_eq (command (&get, &r), 0);
  ck_assert_uint_eq (r.n_entries, 1);
  ck_assert_uint_eq (r.entries[0], ENTRY_ZERO_SEGMENT);
  msg_clear (&r);
  agent_close_vdisk (sc.a, t);
}
END_TEST

/* Containers by message: the agent opens its own handle; a second
 * attach of the id is refused; detach closes it; an unknown id is
 * ENOENT. */
START_TEST (test_attach_detach)
{
  struct msg bad = { .type = MSG_CONTAINER_ATTACH, .arg2 = 2, .arg = 64 * MiB,
                     .name = (char *) "x", .path =
                     (char *) "/nonexistent-dir/x.img" };

  attach (1, path1);
  ck_assert_ptr_nonnull (agent_container (sc.a, 1));
  ck_assert_str_eq (agent_container (sc.a, 1)->path, path1);
  {
    struct msg again = { .type = MSG_CONTAINER_ATTACH, .arg2 = 1,
                         .arg = 64 * MiB, .name = (char *) "c",
                         .path = path1 };
    ck_assert_uint_eq (command (&again, NULL), EEXIST);
  }
  ck_assert_uint_ne (command (&bad, NULL), 0);
  ck_assert_ptr_null (agent_container (sc.a, 2));
  ck_assert_uint_eq (detach (1), 0);
  ck_assert_ptr_null (agent_container (sc.a, 1));
  ck_assert_uint_eq (detach (1), ENOENT);
}
END_TEST

struct holder {
  struct table *t;
  atomic_bool entered, release;
};

static void *
hold_epoch (void *arg)
{
  struct holder *h = arg;
  uint64_t e = table_enter (h->t);

  atomic_store (&h->entered, true);
  while (!atomic_load (&h->release))
    sm_test_sleep_ms (1);
  table_exit (h->t, e);
  return NULL;
}

struct detacher {
  uint32_t status;
  atomic_bool done;
};

static void *
run_detach (void *arg)
{
  struct detacher *d = arg;

  d->status = detach (1);
  atomic_store (&d->done, true);
  return NULL;
}

/* DETACH answers only after the I/O in flight (an epoch section) ends. */
START_TEST (test_detach_waits_for_io)
{
  struct table *t = new_vdisk ();
  struct holder h = { .t = t };
  struct detacher d = { 0 };
  pthread_t th, td;

  attach (1, path1);
  ck_assert_int_eq (pthread_create (&th, NULL, hold_epoch, &h), 0);
  while (!atomic_load (&h.entered))
    sm_test_sleep_ms (1);
  ck_assert_int_eq (pthread_create (&td, NULL, run_detach, &d), 0);
  sm_test_sleep_ms (300);
  ck_assert_msg (!atomic_load (&d.done), "detach did not wait for the I/O");
  atomic_store (&h.release, true);
  pthread_join (th, NULL);
  pthread_join (td, NULL);
  ck_assert (atomic_load (&d.done));
  ck_assert_uint_eq (d.status, 0);
  agent_close_vdisk (sc.a, t);
}
END_TEST

struct flusher {
  struct table *t;
  atomic_bool stop;
  unsigned errors, flushes;
};

static void *
flush_loop (void *arg)
{
  struct flusher *f = arg;

  while (!atomic_load (&f->stop)) {
    if (agent_flush (sc.a, f->t) == -1)
      f->errors++;
    f->flushes++;
  }
  return NULL;
}

/* DETACH answers only after a flush that is syncing the containers
 * (it holds containers_lock for reading, as sync_containers does) is
 * done with them. */
START_TEST (test_detach_waits_for_flush)
{
  struct detacher d = { 0 };
  pthread_t td;

  attach (1, path1);
  ck_assert_int_eq (pthread_rwlock_rdlock (&sc.a->containers_lock), 0);
  ck_assert_int_eq (pthread_create (&td, NULL, run_detach, &d), 0);
  sm_test_sleep_ms (300);
  ck_assert_msg (!atomic_load (&d.done), "detach did not wait for the flush");
  ck_assert_ptr_null (agent_container (sc.a, 1));   /* no new user */
  pthread_rwlock_unlock (&sc.a->containers_lock);
  pthread_join (td, NULL);
  ck_assert_uint_eq (d.status, 0);
}
END_TEST

/* Containers come and go while flushes sync them: no flush fails and
 * no handle is used after it was closed.  The race this guards against
 * is narrow (a flush between loading a handle and using its fd), so
 * this stress run catches a regression only now and then, mostly under
 * ASan or valgrind; test_detach_waits_for_flush pins the mechanism. */
START_TEST (test_detach_under_flush)
{
  struct table *t = new_vdisk ();
  struct flusher f = { .t = t };
  pthread_t th[2];

  attach (1, path1);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq (pthread_create (&th[i], NULL, flush_loop, &f), 0);
  for (int i = 0; i < 200; i++) {
    attach (2, path2);
    ck_assert_uint_eq (detach (2), 0);
  }
  atomic_store (&f.stop, true);
  for (int i = 0; i < 2; i++)
    pthread_join (th[i], NULL);
  ck_assert_uint_eq (f.errors, 0);
  ck_assert_uint_gt (f.flushes, 0);
  agent_close_vdisk (sc.a, t);
}
END_TEST

/* SET_DEGRADED on refuses writes; off allows them again. */
START_TEST (test_set_degraded)
{
  struct table *t = new_vdisk ();
  struct msg on = { .type = MSG_SET_DEGRADED, .flags = MSG_F_ON };
  struct msg off = { .type = MSG_SET_DEGRADED };
  struct msg stats = { .type = MSG_GET_STATS }, r;
  char buf[512] = { 1 };

  ck_assert_uint_eq (command (&on, NULL), 0);
  ck_assert_int_eq (agent_pwrite (sc.a, t, buf, sizeof buf, 0, false), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (agent_trim (sc.a, t, MiB, 0, false), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_uint_eq (command (&stats, &r), 0);
  ck_assert_uint_eq (r.n_counters, MSG_STAT_COUNT);
  ck_assert_uint_eq (r.counters[MSG_STAT_DEGRADED], 1);
  ck_assert_uint_eq (r.counters[MSG_STAT_TABLES], 1);
  msg_clear (&r);
  ck_assert_uint_eq (command (&off, NULL), 0);
  ck_assert_uint_eq (command (&stats, &r), 0);
  ck_assert_uint_eq (r.counters[MSG_STAT_DEGRADED], 0);
  msg_clear (&r);
  /* Writable again: a whole-segment trim goes to the controller. */
  ck_assert_int_eq (agent_trim (sc.a, t, MiB, 0, false), 0);
  agent_close_vdisk (sc.a, t);
}
END_TEST

/* Wait until the controller has N REPORTs (at most 5 s); their count. */
static unsigned
wait_reports (unsigned n)
{
  uint64_t start = sm_test_now_ms ();
  unsigned got;

  do {
    pthread_mutex_lock (&sc.lock);
    got = sc.n_reports;
    pthread_mutex_unlock (&sc.lock);
  } while (got < n && sm_test_now_ms () - start < 5000
           && (sm_test_sleep_ms (1), true));
  return got;
}

/* A flush syncs only what its vdisk wrote; a failed sync is REPORTed,
 * naming the container and the errno, the vdisk's unsynced writes are
 * REPORTed lost, and that flush and every later one fail until the
 * vdisk is made writable again. */
START_TEST (test_sync_failure_reported)
{
  struct table *t = new_vdisk ();
  sm_entry e = entry_make (3, 0, ENTRY_VALID);
  struct msg set = { .type = MSG_SET_ENTRY, .vdisk = 1, .first = 0,
                     .count = 1, .entries = &e, .n_entries = 1 };
  struct msg ro = { .type = MSG_NEW_TABLE, .vdisk = 1, .arg = 16 * MiB,
                    .arg2 = 20, .name = (char *) "v",
                    .flags = MSG_F_READ_ONLY };
  struct msg rw = ro;
  char buf[512] = { 1 };

  rw.flags = 0;
  attach (3, path1);
  ck_assert_uint_eq (command (&set, NULL), 0);
  /* Nothing written: nothing to sync, the injected failure is not met. */
  ck_assert_int_eq (inject_configure ("sync:EIO:count=1"), 0);
  ck_assert_int_eq (agent_flush (sc.a, t), 0);
  ck_assert_int_eq (agent_pwrite (sc.a, t, buf, sizeof buf, 0, false), 0);
  ck_assert_int_eq (agent_flush (sc.a, t), -1);
  ck_assert_uint_eq (wait_reports (2), 2);
  ck_assert_uint_eq (sc.reports[0].op, REPORT_SYNC_FAILED);
  ck_assert_uint_eq (sc.reports[0].arg2, 3);
  ck_assert_uint_eq (sc.reports[0].status, EIO);
  ck_assert_uint_eq (sc.reports[1].op, REPORT_UNSYNCED);
  ck_assert_uint_eq (sc.reports[1].vdisk, 1);
  ck_assert_uint_eq (sc.reports[1].arg2, 3);
  /* No later success covers the lost writes. */
  ck_assert_int_eq (agent_flush (sc.a, t), -1);
  ck_assert_int_eq (errno, EIO);
  /* The administrator makes the vdisk writable again: flushes work. */
  ck_assert_uint_eq (command (&ro, NULL), 0);
  ck_assert_uint_eq (command (&rw, NULL), 0);
  ck_assert_int_eq (agent_flush (sc.a, t), 0);
  agent_close_vdisk (sc.a, t);
}
END_TEST

/* A container detached while a vdisk has unsynced writes on it is
 * synced first; if that fails, the writes are REPORTed lost. */
START_TEST (test_detach_syncs)
{
  struct table *t = new_vdisk ();
  sm_entry e = entry_make (3, 0, ENTRY_VALID);
  struct msg set = { .type = MSG_SET_ENTRY, .vdisk = 1, .first = 0,
                     .count = 1, .entries = &e, .n_entries = 1 };
  char buf[512] = { 1 };

  attach (3, path1);
  ck_assert_uint_eq (command (&set, NULL), 0);
  ck_assert_int_eq (agent_pwrite (sc.a, t, buf, sizeof buf, 0, false), 0);
  ck_assert_uint_eq (detach (3), 0);    /* synced: nothing lost */
  ck_assert_int_eq (agent_flush (sc.a, t), 0);
  attach (3, path1);
  ck_assert_int_eq (agent_pwrite (sc.a, t, buf, sizeof buf, 0, false), 0);
  ck_assert_int_eq (inject_configure ("sync:EIO:count=1"), 0);
  ck_assert_uint_eq (detach (3), 0);
  ck_assert_uint_eq (wait_reports (1), 1);
  ck_assert_uint_eq (sc.reports[0].op, REPORT_UNSYNCED);
  ck_assert_int_eq (agent_flush (sc.a, t), -1);
  agent_close_vdisk (sc.a, t);
}
END_TEST

static Suite *
link_suite (void)
{
  Suite *s = suite_create ("agent-link");
  TCase *tc = tcase_create ("link");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_register_ok);
  tcase_add_test (tc, test_register_refused);
  tcase_add_test (tc, test_request_timeout);
  tcase_add_test (tc, test_attach_detach);
  tcase_add_test (tc, test_detach_waits_for_io);
  tcase_add_test (tc, test_detach_waits_for_flush);
  tcase_add_test (tc, test_detach_under_flush);
  tcase_add_test (tc, test_set_degraded);
  tcase_add_test (tc, test_sync_failure_reported);
  tcase_add_test (tc, test_detach_syncs);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (link_suite ());
}
