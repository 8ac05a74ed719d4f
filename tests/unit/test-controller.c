/* segmap: unit tests of the controller's side of the agent contract
 * (src/controller/agents.c and the REGISTER / ALLOCATED / GRANT parts
 * of faults.c), with a real controller on a temporary state directory
 * and a scripted agent.
 *
 * The scripted agent is a transport: what the controller delivers to
 * it (to_agent, on the controller thread) is decoded and logged, and
 * commands are answered with a REPLY chosen by the test (status 0, a
 * refusal, or a REPLY with the wrong id); what it sends goes through
 * controller_submit_frame, as the in-process transport does.  The
 * controller is driven only by frames and by controller_admin (the
 * control socket's entry), never by calling into its internals.
 */
#include <config.h>

#include <check.h>

#include "test-errors.h"
#include "test-util.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "common/errors.h"
#include "common/limits.h"
#include "config/config.h"
#include "controller/controller.h"
#include "proto/msg.h"
#include "proto/transport.h"

#define LOG_MAX 256

enum reply_mode {
  REPLY_OK,                     /* REPLY status 0, the command's id */
  REPLY_WRONG_ID,               /* REPLY status 0, another id */
  REPLY_REFUSE,                 /* REPLY status ENOMEM */
};

struct fake_agent {
  struct transport tr;          /* first: the controller hands us &tr */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct msg log[LOG_MAX];      /* what the controller delivered */
  unsigned n_log;
  uint8_t odd_type;             /* commands of this type ... */
  enum reply_mode odd_mode;     /* ... are answered so */
  uint64_t tables;              /* answered to GET_STATS */
  struct msg on_quiesce;        /* sent (once) before answering a
                                   QUIESCE, as a drained write sends
                                   its ALLOCATED; type 0: none */
};

static struct fake_agent fake;
static char state_dir[64];
static struct segmap_config *cfg;
static struct controller *ctrl;


static void fake_send (struct msg *m, unsigned header_version);

/* Controller -> scripted agent. */
static int
fake_to_agent (struct transport *tr, const uint8_t *frame, size_t len,
               uint8_t **reply, size_t *reply_len)
{
  struct fake_agent *f = (struct fake_agent *) tr;
  struct msg m, r = { .type = MSG_REPLY };
  uint64_t counters[MSG_STAT_COUNT] = { 0 };
  enum reply_mode mode = REPLY_OK;

  *reply = NULL;
  *reply_len = 0;
  if (msg_decode (frame, len, &m) == -1)
    return -1;
  pthread_mutex_lock (&f->lock);
  if (f->n_log < LOG_MAX) {
    f->log[f->n_log] = m;       /* keeps the arrays: freed at teardown */
    memset (&m, 0, sizeof m);
  }
  f->n_log++;
  if (f->log[f->n_log - 1].type == f->odd_type)
    mode = f->odd_mode;
  counters[MSG_STAT_TABLES] = f->tables;
  pthread_cond_broadcast (&f->cond);
  r.id = f->log[f->n_log - 1].id;
  if (!msg_is_command (f->log[f->n_log - 1].type)) {
    pthread_mutex_unlock (&f->lock);
    msg_clear (&m);
    return 0;                   /* an answer: no REPLY */
  }
  if (f->log[f->n_log - 1].type == MSG_GET_STATS) {
    r.counters = counters;
    r.n_counters = MSG_STAT_COUNT;
  }
  if (f->log[f->n_log - 1].type == MSG_QUIESCE && f->on_quiesce.type) {
    struct msg first = f->on_quiesce;
    f->on_quiesce.type = 0;
    pthread_mutex_unlock (&f->lock);
    fake_send (&first, MSG_VERSION);
    pthread_mutex_lock (&f->lock);
  }
  pthread_mutex_unlock (&f->lock);
  msg_clear (&m);
  if (mode == REPLY_WRONG_ID)
    r.id += 1000;
  else if (mode == REPLY_REFUSE)
    r.status = ENOMEM;
  return msg_encode (&r, reply, reply_len);
}

/* Scripted agent -> controller. */
static void
fake_send (struct msg *m, unsigned header_version)
{
  uint8_t *frame;
  size_t len;

  ck_assert_int_eq (msg_encode (m, &frame, &len), 0);
  frame[4] = header_version;
  ck_assert_int_eq (controller_submit_frame (ctrl, &fake.tr, frame, len), 0);
}

/* Wait (5 s at most) for a delivered frame of TYPE at or after index
 * *FROM; returns a copy (no arrays) and moves *FROM past it. */
static struct msg
wait_for (uint8_t type, unsigned *from)
{
  uint64_t start = sm_test_now_ms ();
  struct msg found = { 0 };
  bool ok = false;

  pthread_mutex_lock (&fake.lock);
  while (!ok && sm_test_now_ms () - start < 5000) {
    for (; *from < fake.n_log && *from < LOG_MAX; (*from)++)
      if (fake.log[*from].type == type) {
        found = fake.log[*from];
        (*from)++;
        ok = true;
        break;
      }
    if (!ok) {
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += 10000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait (&fake.cond, &fake.lock, &ts);
    }
  }
  pthread_mutex_unlock (&fake.lock);
  ck_assert_msg (ok, "no %s delivered", msg_type_to_string (type));
  return found;
}

static json_object *
admin (const char *cmd, json_object *args)
{
  char *error = NULL;
  json_object *r;

  if (args == NULL)
    args = json_object_new_object ();
  r = controller_admin (ctrl, cmd, args, &error);
  json_object_put (args);
  ck_assert_msg (r != NULL, "%s: %s", cmd, error ? error : "?");
  free (error);
  return r;
}

static uint64_t
jget_u64 (json_object *o, const char *key)
{
  json_object *v;

  ck_assert_msg (json_object_object_get_ex (o, key, &v), "no %s", key);
  return json_object_get_int64 (v);
}

static void
setup (void)
{
  test_errors_clear ();
  sm_set_log_sinks (test_capture_error, NULL);
  strcpy (state_dir, "/tmp/segmap-test-ctrl.XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (state_dir));
  cfg = cfg_new_empty ();
  ck_assert_ptr_nonnull (cfg);
  ck_assert_int_eq (cfg_finish (cfg, state_dir), 0);
  memset (&fake, 0, sizeof fake);
  pthread_mutex_init (&fake.lock, NULL);
  pthread_cond_init (&fake.cond, NULL);
  fake.tr.to_agent = fake_to_agent;
  fake.tables = 1;
  ctrl = controller_new (cfg);
  ck_assert_ptr_nonnull (ctrl);
  ck_assert_int_eq (controller_start (ctrl), 0);
}

static void
teardown (void)
{
  char cmd[128];

  controller_stop (ctrl);
  controller_free (ctrl);
  cfg_free (cfg);
  for (unsigned i = 0; i < fake.n_log && i < LOG_MAX; i++)
    msg_clear (&fake.log[i]);
  pthread_mutex_destroy (&fake.lock);
  pthread_cond_destroy (&fake.cond);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", state_dir);
  ck_assert_int_eq (system (cmd), 0);
  sm_set_log_sinks (NULL, NULL);
}

/* REGISTER as FAKE and check the bring-up; returns the vdisk id of the
 * default vdisk and its segment shift, and the container's size. */
static void
register_ok (uint32_t *vdisk, uint32_t *seg_shift, uint64_t *csize)
{
  struct msg m = { .type = MSG_REGISTER, .id = 1, .arg = MSG_VERSION,
                   .name = (char *) "scripted" };
  struct msg att, nt, mode, r;
  unsigned i = 0;

  fake_send (&m, MSG_VERSION);
  att = wait_for (MSG_CONTAINER_ATTACH, &i);
  nt = wait_for (MSG_NEW_TABLE, &i);
  mode = wait_for (MSG_SET_DEGRADED, &i);
  r = wait_for (MSG_REPLY, &i);
  ck_assert_uint_eq (att.arg2, 1);
  ck_assert_uint_ne (att.id, 0);
  ck_assert_uint_gt (nt.id, att.id);          /* unique, increasing */
  ck_assert_uint_gt (mode.id, nt.id);
  ck_assert_uint_eq (mode.flags, 0);          /* writes allowed */
  ck_assert_uint_eq (r.id, 1);                /* the REGISTER's */
  ck_assert_uint_eq (r.status, 0);
  ck_assert_uint_eq (r.arg, 1);               /* agent id 1 */
  ck_assert_uint_eq (r.arg2, MSG_VERSION);
  *vdisk = nt.vdisk;
  *seg_shift = nt.arg2;
  *csize = att.arg;
}

/* A REGISTER of protocol version 2 (in a version-2 frame, as an older
 * agent sends it) is refused with both versions named, and the agent
 * is not listed. */
START_TEST (test_register_wrong_version)
{
  struct msg m = { .type = MSG_REGISTER, .id = 7, .arg = 2,
                   .name = (char *) "old-agent" };
  struct msg r;
  json_object *list;
  unsigned i = 0;

  fake_send (&m, 2);
  r = wait_for (MSG_REPLY, &i);
  ck_assert_uint_eq (r.id, 7);
  ck_assert_uint_eq (r.status, EPROTONOSUPPORT);
  ck_assert_uint_eq (r.arg2, MSG_VERSION);
  {
    char want[128];
    snprintf (want, sizeof want, "agent old-agent speaks protocol version 2 "
              "and this controller version %d", MSG_VERSION);
    ck_assert_msg (test_errors_have (want), "errors: %s", test_errors);
  }
  /* Nothing was attached or created for it. */
  pthread_mutex_lock (&fake.lock);
  ck_assert_uint_eq (fake.n_log, 1);
  pthread_mutex_unlock (&fake.lock);
  list = admin ("agents", NULL);
  ck_assert_uint_eq (json_object_array_length (list), 0);
  json_object_put (list);
}
END_TEST

/* A registered agent is brought up and listed; its frames before
 * REGISTER are refused. */
START_TEST (test_register_and_list)
{
  struct msg fault = { .type = MSG_MAP_FAULT, .id = 3, .op = FAULT_READ,
                       .vdisk = 1, .first = 0, .count = 1 };
  uint32_t vdisk, shift;
  uint64_t csize;
  json_object *list, *row;
  unsigned i = 0;
  struct msg f;

  fake_send (&fault, MSG_VERSION);
  f = wait_for (MSG_FAIL, &i);
  ck_assert_uint_eq (f.id, 3);
  ck_assert_uint_eq (f.status, EPROTO);

  register_ok (&vdisk, &shift, &csize);
  fake.tables = 1;
  list = admin ("agents", NULL);
  ck_assert_uint_eq (json_object_array_length (list), 1);
  row = json_object_array_get_idx (list, 0);
  ck_assert_uint_eq (jget_u64 (row, "id"), 1);
  ck_assert_uint_eq (jget_u64 (row, "version"), MSG_VERSION);
  ck_assert_uint_eq (jget_u64 (row, "tables"), 1);    /* from GET_STATS */
  ck_assert_uint_eq (jget_u64 (row, "grants"), 0);
  ck_assert_uint_eq (jget_u64 (row, "faults"), 0);
  ck_assert_str_eq (json_object_get_string
                    (json_object_object_get (row, "name")), "scripted");
  json_object_put (list);
}
END_TEST

/* Fault a write on the zero segment SEG of VDISK; wait for the GRANT
 * and the answer to the fault.  Returns the GRANT's first location. */
static sm_entry
write_fault (uint32_t vdisk, uint64_t seg, uint64_t id, unsigned *i,
             uint8_t answer_type)
{
  struct msg fault = { .type = MSG_MAP_FAULT, .id = id, .op = FAULT_WRITE,
                       .vdisk = vdisk, .first = seg, .count = 1 };
  struct msg g, a;
  sm_entry first;

  fake_send (&fault, MSG_VERSION);
  g = wait_for (MSG_GRANT, i);
  pthread_mutex_lock (&fake.lock);
  first = fake.log[*i - 1].entries[0];
  pthread_mutex_unlock (&fake.lock);
  ck_assert_uint_ge (g.n_entries, 1);
  a = wait_for (answer_type, i);
  ck_assert_uint_eq (a.id, id);
  return first;
}

static uint64_t
mapped_segments (void)
{
  json_object *args = json_object_new_object (), *r;
  uint64_t n;

  json_object_object_add (args, "name",
                          json_object_new_string (SM_DEFAULT_VDISK));
  r = admin ("vdisk.info", args);
  n = jget_u64 (r, "mapped_segments");
  json_object_put (r);
  return n;
}

static bool
vdisk_read_only (void)
{
  json_object *args = json_object_new_object (), *r, *v;
  bool ro;

  json_object_object_add (args, "name",
                          json_object_new_string (SM_DEFAULT_VDISK));
  r = admin ("vdisk.info", args);
  ck_assert (json_object_object_get_ex (r, "read_only", &v));
  ro = json_object_get_boolean (v);
  json_object_put (r);
  return ro;
}

/* A GRANT answered by a REPLY with the wrong id has an unknown outcome:
 * it stays outstanding, and an ALLOCATED for it is recorded. */
START_TEST (test_grant_unknown_stays_outstanding)
{
  uint32_t vdisk, shift;
  uint64_t csize;
  unsigned i = 0;
  json_object *list;
  sm_entry e;

  register_ok (&vdisk, &shift, &csize);
  i = fake.n_log;
  fake.odd_type = MSG_GRANT;
  fake.odd_mode = REPLY_WRONG_ID;
  e = write_fault (vdisk, 5, 100, &i, MSG_RETRY);
  ck_assert_msg (test_errors_have ("answered by reply"), "errors: %s", test_errors);
  list = admin ("agents", NULL);
  ck_assert_uint_gt (jget_u64 (json_object_array_get_idx (list, 0),
                               "grants"), 0);
  ck_assert_uint_gt (jget_u64 (json_object_array_get_idx (list, 0),
                               "unknown_outcomes"), 0);
  json_object_put (list);

  struct msg alloc = { .type = MSG_ALLOCATED, .vdisk = vdisk, .first = 5,
                       .alt = e };
  fake_send (&alloc, MSG_VERSION);
  ck_assert_uint_eq (mapped_segments (), 1);
  ck_assert (!vdisk_read_only ());
}
END_TEST

/* A refused GRANT is given back: nothing stays outstanding. */
START_TEST (test_grant_refused_released)
{
  uint32_t vdisk, shift;
  uint64_t csize;
  unsigned i;
  json_object *list;
  struct msg fault = { .type = MSG_MAP_FAULT, .id = 100, .op = FAULT_WRITE,
                       .first = 5, .count = 1 };

  register_ok (&vdisk, &shift, &csize);
  i = fake.n_log;
  fake.odd_type = MSG_GRANT;
  fake.odd_mode = REPLY_REFUSE;
  fault.vdisk = vdisk;
  fake_send (&fault, MSG_VERSION);
  ck_assert_uint_eq (wait_for (MSG_FAIL, &i).id, 100);
  list = admin ("agents", NULL);
  ck_assert_uint_eq (jget_u64 (json_object_array_get_idx (list, 0),
                               "grants"), 0);
  json_object_put (list);
}
END_TEST

/* An ALLOCATED for a location never granted: recorded if the location
 * is free and the row is zero, else the vdisk is fenced read-only; both
 * logged as errors, never dropped. */
START_TEST (test_allocated_unknown_grant)
{
  uint32_t vdisk, shift;
  uint64_t csize, units, unit;
  struct msg alloc = { .type = MSG_ALLOCATED, .first = 9 };

  register_ok (&vdisk, &shift, &csize);
  units = (UINT64_C(1) << shift) / SM_UNIT_SIZE;
  unit = (csize / SM_UNIT_SIZE / 2) / units * units;   /* free, far away */
  alloc.vdisk = vdisk;
  alloc.alt = entry_make (1, unit, ENTRY_VALID);
  fake_send (&alloc, MSG_VERSION);
  ck_assert_uint_eq (mapped_segments (), 1);
  ck_assert_msg (test_errors_have ("was not outstanding: recorded"),
                 "errors: %s", test_errors);
  ck_assert (!vdisk_read_only ());

  /* The same location again, for another segment: it is used now. */
  alloc.first = 10;
  fake_send (&alloc, MSG_VERSION);
  ck_assert (vdisk_read_only ());
  ck_assert_msg (test_errors_have ("fenced read-only"), "errors: %s", test_errors);
  ck_assert_uint_eq (mapped_segments (), 1);
}
END_TEST

/* A trim whose blocking SET_ENTRY has an unknown outcome fences the
 * vdisk (the agent may still map the range: nothing is freed) and
 * fails; a refused one only fails. */
START_TEST (test_trim_unknown_fences)
{
  uint32_t vdisk, shift;
  uint64_t csize;
  unsigned i;
  struct msg trim = { .type = MSG_MAP_FAULT, .id = 200, .op = FAULT_TRIM,
                      .first = 0, .count = 4 }, f;

  register_ok (&vdisk, &shift, &csize);
  trim.vdisk = vdisk;
  fake.odd_type = MSG_SET_ENTRY;
  fake.odd_mode = REPLY_REFUSE;
  i = fake.n_log;
  fake_send (&trim, MSG_VERSION);
  f = wait_for (MSG_FAIL, &i);
  ck_assert_uint_eq (f.id, 200);
  ck_assert (!vdisk_read_only ());

  fake.odd_mode = REPLY_WRONG_ID;
  trim.id = 201;
  fake_send (&trim, MSG_VERSION);
  f = wait_for (MSG_FAIL, &i);
  ck_assert_uint_eq (f.id, 201);
  ck_assert_uint_eq (f.status, EIO);
  ck_assert (vdisk_read_only ());
  ck_assert_msg (test_errors_have ("unknown outcome"), "errors: %s",
                 test_errors);
}
END_TEST

/* A fault's count is the agent's word: it does not size the
 * controller's allocation.  A read fault over 2^32 - 1 segments of a
 * 1 PiB vdisk is answered with a RETRY of at most 65536 entries. */
START_TEST (test_fault_count_bounded)
{
  uint32_t vdisk, shift;
  uint64_t csize;
  unsigned i;
  json_object *args = json_object_new_object (), *r;
  struct msg fault = { .type = MSG_MAP_FAULT, .id = 300, .op = FAULT_READ,
                       .first = 0, .count = UINT32_MAX }, nt, retry;

  register_ok (&vdisk, &shift, &csize);
  i = fake.n_log;
  json_object_object_add (args, "name", json_object_new_string ("huge"));
  json_object_object_add (args, "size",
                          json_object_new_int64 (INT64_C(1) << 50));
  r = admin ("vdisk.create", args);
  json_object_put (r);
  nt = wait_for (MSG_NEW_TABLE, &i);
  fault.vdisk = nt.vdisk;
  fake_send (&fault, MSG_VERSION);
  retry = wait_for (MSG_RETRY, &i);
  ck_assert_uint_eq (retry.id, 300);
  ck_assert_uint_eq (retry.first, 0);
  ck_assert_uint_eq (retry.count, 65536);
  ck_assert_uint_eq (retry.n_entries, 65536);
}
END_TEST

/* snapshot.{create,rollback} {vdisk: the default vdisk, snapshot: s}. */
static void
snapshot_cmd (const char *cmd)
{
  json_object *args = json_object_new_object ();

  json_object_object_add (args, "vdisk",
                          json_object_new_string (SM_DEFAULT_VDISK));
  json_object_object_add (args, "snapshot", json_object_new_string ("s"));
  json_object_put (admin (cmd, args));
}

/* A rollback records the ALLOCATED messages of the writes its QUIESCE
 * drained before it replaces the vdisk's map: such a write does not
 * outlive the rollback (segment 7 is zero in the snapshot), and the
 * map stays consistent. */
START_TEST (test_rollback_takes_drained_allocated)
{
  uint32_t vdisk, shift;
  uint64_t csize;
  unsigned i, g = 0;
  sm_entry e, second;
  json_object *r, *ok;
  struct msg alloc = { .type = MSG_ALLOCATED, .first = 5 };

  register_ok (&vdisk, &shift, &csize);
  i = fake.n_log;
  g = i;
  e = write_fault (vdisk, 5, 100, &i, MSG_RETRY);
  wait_for (MSG_GRANT, &g);
  pthread_mutex_lock (&fake.lock);
  ck_assert_uint_ge (fake.log[g - 1].n_entries, 2);
  second = fake.log[g - 1].entries[1];
  pthread_mutex_unlock (&fake.lock);
  alloc.vdisk = vdisk;
  alloc.alt = e;
  fake_send (&alloc, MSG_VERSION);
  ck_assert_uint_eq (mapped_segments (), 1);
  snapshot_cmd ("snapshot.create");

  fake.on_quiesce = (struct msg) { .type = MSG_ALLOCATED, .vdisk = vdisk,
                                   .first = 7, .alt = second };
  snapshot_cmd ("snapshot.rollback");
  ck_assert_uint_eq (mapped_segments (), 1);
  ck_assert (!vdisk_read_only ());
  r = admin ("check", NULL);
  ck_assert (json_object_object_get_ex (r, "ok", &ok));
  ck_assert_msg (json_object_get_boolean (ok), "check: %s",
                 json_object_to_json_string (r));
  json_object_put (r);
}
END_TEST

/* A second REGISTER on one transport is refused. */
START_TEST (test_register_twice)
{
  uint32_t vdisk, shift;
  uint64_t csize;
  struct msg m = { .type = MSG_REGISTER, .id = 2, .arg = MSG_VERSION,
                   .name = (char *) "again" };
  unsigned i;

  register_ok (&vdisk, &shift, &csize);
  i = fake.n_log;
  fake_send (&m, MSG_VERSION);
  ck_assert_uint_eq (wait_for (MSG_REPLY, &i).status, EEXIST);
}
END_TEST

static Suite *
controller_suite (void)
{
  Suite *s = suite_create ("controller");
  TCase *tc = tcase_create ("agents");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_register_wrong_version);
  tcase_add_test (tc, test_register_and_list);
  tcase_add_test (tc, test_grant_unknown_stays_outstanding);
  tcase_add_test (tc, test_grant_refused_released);
  tcase_add_test (tc, test_allocated_unknown_grant);
  tcase_add_test (tc, test_register_twice);
  tcase_add_test (tc, test_trim_unknown_fences);
  tcase_add_test (tc, test_fault_count_bounded);
  tcase_add_test (tc, test_rollback_takes_drained_allocated);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (controller_suite ());
}
