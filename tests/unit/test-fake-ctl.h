/* segmap: a fake controller for the agent's unit tests (test-agent.c,
 * test-agent-faults.c).
 *
 * The agent's transport queues what the agent sends; a thread takes
 * each frame, decodes it, logs it (its header and block bitmap), waits
 * while the test holds answers (fake_hold), then calls the test's
 * script, which answers through fake_deliver like the in-process
 * transport would (agent_receive on the controller's thread).
 *
 * One fake per test process (a static instance: each test program
 * includes this header once).  fake.lock protects the fake and may
 * also protect the script's own state.  Nothing here calls libcheck on
 * the fake's thread: problems there count in fake.errors, which
 * fake_stop checks.
 */
#ifndef SEGMAP_TEST_FAKE_CTL_H
#define SEGMAP_TEST_FAKE_CTL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "agent/agent.h"
#include "proto/msg.h"
#include "proto/transport.h"
#include "test-util.h"

#define FAKE_LOG_MAX 64
#define FAKE_BITMAP_MAX 256     /* block bitmap bytes kept per frame */

struct fake_logged {
  struct msg m;                 /* arrays cleared */
  uint8_t blocks[FAKE_BITMAP_MAX];
  uint32_t n_blocks;
};

struct fake_frame {
  struct fake_frame *next;
  uint8_t *bytes;
  size_t len;
};

/* Answer M (decoded, owned by the fake) on the fake's thread. */
typedef void (*fake_script_fn) (const struct msg *m);

static struct fake_ctl {
  struct transport tr;          /* first: the agent hands us &tr */
  struct agent *a;
  pthread_t thread;

  pthread_mutex_t lock;         /* protects everything below */
  pthread_cond_t cond;
  struct fake_frame *head, **tail;
  bool stop;
  bool hold;                    /* leave frames unanswered until cleared */
  fake_script_fn script;
  struct fake_logged log[FAKE_LOG_MAX];
  unsigned n_log;
  unsigned errors;              /* bad frames, failed deliveries */
} fake;

static inline void
fake_quiet_sink (const char *fmt, va_list args)
{
  (void) fmt;
  (void) args;
}

static inline void
fake_error (void)
{
  pthread_mutex_lock (&fake.lock);
  fake.errors++;
  pthread_mutex_unlock (&fake.lock);
}

/* Transport: agent -> controller.  Takes ownership of FRAME. */
static inline int
fake_to_controller (struct transport *tr, uint8_t *frame, size_t len)
{
  struct fake_frame *fr = malloc (sizeof *fr);

  (void) tr;
  if (fr == NULL) {
    free (frame);
    return -1;
  }
  *fr = (struct fake_frame) { NULL, frame, len };
  pthread_mutex_lock (&fake.lock);
  *fake.tail = fr;
  fake.tail = &fr->next;
  pthread_cond_broadcast (&fake.cond);
  pthread_mutex_unlock (&fake.lock);
  return 0;
}

/* Deliver answer A to the agent as the controller does; no REPLY. */
static inline void
fake_deliver (const struct msg *a)
{
  uint8_t *frame, *reply = NULL;
  size_t len, reply_len;

  if (msg_encode (a, &frame, &len) == -1) {
    fake_error ();
    return;
  }
  if (agent_receive (fake.a, frame, len, &reply, &reply_len) != 0 || reply)
    fake_error ();
  free (reply);
  free (frame);
}

static inline void
fake_handle (struct fake_frame *fr)
{
  struct msg m;
  fake_script_fn script;

  if (msg_decode (fr->bytes, fr->len, &m) == -1) {
    fake_error ();
    return;
  }
  pthread_mutex_lock (&fake.lock);
  if (fake.n_log < FAKE_LOG_MAX) {
    struct fake_logged *l = &fake.log[fake.n_log];
    l->m = m;
    l->m.entries = NULL;
    l->m.blocks = NULL;
    l->m.vdisks = NULL;
    l->m.name = NULL;
    l->n_blocks = m.n_blocks;
    if (m.n_blocks)
      memcpy (l->blocks, m.blocks, m.n_blocks < FAKE_BITMAP_MAX
              ? m.n_blocks : FAKE_BITMAP_MAX);
  }
  fake.n_log++;
  while (fake.hold && !fake.stop)
    pthread_cond_wait (&fake.cond, &fake.lock);
  script = fake.script;
  pthread_mutex_unlock (&fake.lock);
  script (&m);
  msg_clear (&m);
}

static inline void *
fake_run (void *arg)
{
  (void) arg;
  for (;;) {
    struct fake_frame *fr;

    pthread_mutex_lock (&fake.lock);
    while (fake.head == NULL && !fake.stop)
      pthread_cond_wait (&fake.cond, &fake.lock);
    fr = fake.head;
    if (fr && (fake.head = fr->next) == NULL)
      fake.tail = &fake.head;
    pthread_mutex_unlock (&fake.lock);
    if (fr == NULL)
      return NULL;              /* stopped and drained */
    fake_handle (fr);
    free (fr->bytes);
    free (fr);
  }
}

/* Wire a fresh fake to agent A and start its thread. */
static inline void
fake_start (struct agent *a, fake_script_fn script)
{
  memset (&fake, 0, sizeof fake);
  pthread_mutex_init (&fake.lock, NULL);
  pthread_cond_init (&fake.cond, NULL);
  fake.tail = &fake.head;
  fake.tr.to_controller = fake_to_controller;
  fake.tr.agent = a;
  fake.a = a;
  fake.script = script;
  agent_set_transport (a, &fake.tr);
  ck_assert_int_eq (pthread_create (&fake.thread, NULL, fake_run, NULL), 0);
}

/* Answer what is queued, stop the thread, check it met no error. */
static inline void
fake_stop (void)
{
  pthread_mutex_lock (&fake.lock);
  fake.stop = true;
  pthread_cond_broadcast (&fake.cond);
  pthread_mutex_unlock (&fake.lock);
  pthread_join (fake.thread, NULL);
  ck_assert_uint_eq (fake.errors, 0);
  pthread_mutex_destroy (&fake.lock);
  pthread_cond_destroy (&fake.cond);
}

static inline void
fake_set_script (fake_script_fn script)
{
  pthread_mutex_lock (&fake.lock);
  fake.script = script;
  pthread_mutex_unlock (&fake.lock);
}

static inline void
fake_hold (bool hold)
{
  pthread_mutex_lock (&fake.lock);
  fake.hold = hold;
  pthread_cond_broadcast (&fake.cond);
  pthread_mutex_unlock (&fake.lock);
}

static inline unsigned
fake_n_log (void)
{
  pthread_mutex_lock (&fake.lock);
  unsigned n = fake.n_log;
  pthread_mutex_unlock (&fake.lock);
  return n;
}

/* Logged frame I (must exist). */
static inline struct fake_logged
fake_logged (unsigned i)
{
  ck_assert_uint_lt (i, fake_n_log ());
  ck_assert_uint_lt (i, FAKE_LOG_MAX);
  pthread_mutex_lock (&fake.lock);
  struct fake_logged l = fake.log[i];
  pthread_mutex_unlock (&fake.lock);
  return l;
}

static inline struct msg
fake_log (unsigned i)
{
  return fake_logged (i).m;
}

/* Wait until the agent has sent N frames (at most 5 s). */
static inline void
fake_wait_n_log (unsigned n)
{
  uint64_t start = sm_test_now_ms ();

  while (fake_n_log () < n && sm_test_now_ms () - start < 5000)
    sm_test_sleep_ms (1);
  ck_assert_uint_ge (fake_n_log (), n);
}

#endif /* SEGMAP_TEST_FAKE_CTL_H */
