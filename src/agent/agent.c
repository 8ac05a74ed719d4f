/* segmap: the mapping agent's control side: tables, faults, commands.
 *
 * Faults: the I/O thread registers a `struct agent_pending` (id, its own
 * semaphore, the table's claim count), sends MAP_FAULT and sleeps, at
 * most request_timeout_ms.  The pending struct is on the heap and
 * linked in a->pending while unanswered; whoever unlinks it (the
 * answering thread) reads its `abandoned' flag in the same critical
 * section.  A waiter that times out marks it abandoned if it is still
 * linked and leaves: the late answer is then applied (a RETRY's
 * entries) and the struct freed by the answering thread.  A waiter
 * that finds it unlinked waits for the post that is coming.
 * agent_receive(), called by the transport in the controller's order,
 * applies the answer's entries to the table first (table_load: only
 * where the table knows nothing newer, and not at all if a later claim
 * was evicted since the fault was sent) and only then wakes the thread, which
 * retries its lookup.  Applying before waking (and before the
 * controller's next request) is what makes a later set_entry win.
 *
 * Grants: GRANT adds segments to a table's pool; a first write takes
 * one (table_claim, io.c) and sends ALLOCATED, which needs no answer;
 * RECALL empties the pool into its REPLY.
 *
 * Commands from the controller are answered with a REPLY frame.  A
 * blocking SET_ENTRY / SET_STATUS changes the table and then drains it
 * (table_drain), so its REPLY means "no I/O that could have used the
 * old entries is still running".
 *
 * Containers: CONTAINER_ATTACH opens the agent's own handle and
 * publishes it; CONTAINER_DETACH unpublishes it, drains every table
 * (the I/O path reads the pointer inside an epoch section) and waits
 * for flushes in progress (containers_lock), then closes it, so it
 * answers only when nothing uses the handle.
 *
 * Table lifetime: the agent holds one reference to each live table and
 * every open handle one more; DELETE_TABLE marks the table dead, forgets
 * its entries (draining), drops the agent's reference and removes it
 * from the list; the last agent_close_vdisk frees it.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "store/container.h"

/* A request waiting for its answer.  The answering thread unlinks it
 * under pending_lock, fills in the answer and posts the semaphore; the
 * waiter then owns everything again without touching the lock. */
struct agent_pending {
  struct agent_pending *next;
  uint64_t id;
  uint64_t claim_seq;           /* the table's, when a fault was sent */
  bool abandoned;               /* the waiter timed out (under the lock) */
  struct msg answer;
  sem_t done;
};

struct agent *
agent_new (const char *name, uint64_t memory_limit)
{
  struct agent *a = calloc (1, sizeof *a);

  if (a == NULL)
    goto nomem;
  a->name = strdup (name);
  a->containers = calloc (ENTRY_MAX_CONTAINER + 1, sizeof a->containers[0]);
  a->owned = calloc (ENTRY_MAX_CONTAINER + 1, sizeof a->owned[0]);
  if (a->name == NULL || a->containers == NULL || a->owned == NULL)
    goto nomem;
  a->mem.limit = memory_limit;
  a->next_id = 1;
  a->request_timeout_ms = AGENT_REQUEST_TIMEOUT_MS;
  {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init (&attr);
    /* A DETACH waiting for the write lock is not starved by flushes. */
    pthread_rwlockattr_setkind_np
      (&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init (&a->containers_lock, &attr);
    pthread_rwlockattr_destroy (&attr);
  }
  pthread_mutex_init (&a->tables_lock, NULL);
  pthread_mutex_init (&a->pending_lock, NULL);
  pthread_mutex_init (&a->evict_lock, NULL);
  return a;

 nomem:
  sm_error ("cannot allocate the mapping agent: %m");
  if (a) {
    free (a->name);
    free (a->containers);
    free (a->owned);
  }
  free (a);
  return NULL;
}

static void
table_unref (struct table *t)
{
  if (atomic_fetch_sub (&t->refs, 1) == 1)
    table_free (t);
}

void
agent_free (struct agent *a)
{
  if (a == NULL)
    return;
  for (size_t i = 0; i < a->n_tables; i++)
    table_unref (a->tables[i]);
  free (a->tables);
  for (uint32_t id = 1; id <= atomic_load (&a->max_container); id++)
    if (a->owned[id])
      container_close (atomic_load (&a->containers[id]));
  while (a->pending) {          /* abandoned by waiters that timed out */
    struct agent_pending *p = a->pending;
    a->pending = p->next;
    sem_destroy (&p->done);
    free (p);
  }
  free (a->containers);
  free (a->owned);
  free (a->name);
  pthread_rwlock_destroy (&a->containers_lock);
  pthread_mutex_destroy (&a->tables_lock);
  pthread_mutex_destroy (&a->pending_lock);
  pthread_mutex_destroy (&a->evict_lock);
  free (a);
}

void
agent_set_transport (struct agent *a, struct transport *tr)
{
  a->transport = tr;
}

void
agent_set_request_timeout (struct agent *a, unsigned ms)
{
  a->request_timeout_ms = ms ? ms : AGENT_REQUEST_TIMEOUT_MS;
}

void
agent_set_container (struct agent *a, uint32_t id, struct container *c)
{
  atomic_store (&a->containers[id & ENTRY_MAX_CONTAINER], c);
  if (c && id > atomic_load (&a->max_container))
    atomic_store (&a->max_container, id);
}

struct container *
agent_container (struct agent *a, uint32_t id)
{
  return atomic_load (&a->containers[id & ENTRY_MAX_CONTAINER]);
}

void
agent_set_degraded (struct agent *a)
{
  if (!atomic_exchange (&a->degraded, true))
    sm_error ("agent %s: degraded: every vdisk is now read-only until "
              "'segmapctl check' passes after a restart", a->name);
}

void
agent_report (struct agent *a, uint8_t op, uint32_t vdisk, uint32_t cid,
              int err)
{
  struct msg m = { .type = MSG_REPORT, .op = op, .vdisk = vdisk, .arg2 = cid,
                   .status = err > 0 ? err : EIO,
                   .id = atomic_fetch_add (&a->next_id, 1) };
  uint8_t *frame;
  size_t len;

  if (msg_encode (&m, &frame, &len) == -1
      || a->transport->to_controller (a->transport, frame, len) == -1)
    sm_error ("agent %s: cannot report %s to the controller", a->name,
              report_op_to_string (op));
}

/* Tables -------------------------------------------------------------- */

/* The live table of vdisk ID, or NULL.  Caller holds tables_lock. */
static struct table *
find_table_locked (struct agent *a, uint32_t id, size_t *index)
{
  for (size_t i = 0; i < a->n_tables; i++)
    if (a->tables[i]->vdisk == id) {
      if (index)
        *index = i;
      return a->tables[i];
    }
  return NULL;
}

struct table *
agent_open_vdisk (struct agent *a, const char *name)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);

  for (size_t i = 0; i < a->n_tables; i++)
    if (strcmp (a->tables[i]->name, name) == 0) {
      atomic_fetch_add (&a->tables[i]->refs, 1);
      return a->tables[i];
    }
  errno = ENOENT;
  return NULL;
}

void
agent_close_vdisk (struct agent *a, struct table *t)
{
  if (t)
    table_unref (t);
}

int
agent_foreach_vdisk (struct agent *a,
                     int (*fn) (void *opaque, const struct table *t),
                     void *opaque)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);

  for (size_t i = 0; i < a->n_tables; i++) {
    int r = fn (opaque, a->tables[i]);
    if (r)
      return r;
  }
  return 0;
}

void
agent_get_stats (struct agent *a, struct agent_stats *st)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
    st->tables = a->n_tables;
  }
  st->faults = atomic_load (&a->faults);
  st->memory = atomic_load (&a->mem.bytes);
  st->memory_limit = a->mem.limit;
  st->entries = atomic_load (&a->mem.leaves) * TABLE_LEAF_ENTRIES;
  st->evicted_entries =
    atomic_load (&a->mem.evicted_leaves) * TABLE_LEAF_ENTRIES;
  st->grants_used = atomic_load (&a->grants_used);
  st->timeouts = atomic_load (&a->timeouts);
  st->degraded = atomic_load (&a->degraded);
  st->containers = 0;
  for (uint32_t id = 1; id <= atomic_load (&a->max_container); id++)
    st->containers += atomic_load (&a->containers[id]) != NULL;
}

/* Keep table memory under the bound: evict until under 90% of it. */
void
agent_enforce_memory_limit (struct agent *a)
{
  uint64_t limit = a->mem.limit;

  if (limit == 0 || atomic_load (&a->mem.bytes) <= limit)
    return;
  if (pthread_mutex_trylock (&a->evict_lock) != 0)
    return;
  for (unsigned pass = 0; pass < 3; pass++) {
    uint64_t bytes = atomic_load (&a->mem.bytes);
    uint64_t target = limit / 10 * 9;
    if (bytes <= target)
      break;
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
    for (size_t i = 0; i < a->n_tables && bytes > target; i++) {
      table_evict (a->tables[i], bytes - target);
      bytes = atomic_load (&a->mem.bytes);
    }
  }
  pthread_mutex_unlock (&a->evict_lock);
}

/* Faults -------------------------------------------------------------- */

/* Unlink P if it is still waiting: true; false if an answer took it. */
static bool
pending_remove (struct agent *a, struct agent_pending *p)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->pending_lock);
  for (struct agent_pending **pp = &a->pending; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      return true;
    }
  return false;
}

/* The waiter of P timed out: abandon P if it is still linked (its late
 * answer frees it): true; false if an answer is being delivered. */
static bool
pending_abandon (struct agent *a, struct agent_pending *p)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->pending_lock);
  for (struct agent_pending *q = a->pending; q; q = q->next)
    if (q == p) {
      p->abandoned = true;
      return true;
    }
  return false;
}

static int request (struct agent *a, struct msg *req, uint64_t claim_seq,
                    struct msg *answer);

int
agent_fault (struct agent *a, struct table *t, uint8_t op,
             uint64_t first, uint32_t count, uint64_t offset, uint32_t len,
             uint8_t *blocks, uint32_t n_blocks, struct msg *answer)
{
  struct msg m = { .type = MSG_MAP_FAULT, .op = op, .vdisk = t->vdisk,
                   .first = first, .count = count, .arg = offset,
                   .arg2 = len, .blocks = blocks, .n_blocks = n_blocks };

  atomic_fetch_add (&a->faults, 1);
  return request (a, &m, table_claim_seq (t), answer);
}

int
agent_request (struct agent *a, struct msg *req, struct msg *answer)
{
  return request (a, req, 0, answer);
}

int
agent_allocated (struct agent *a, struct table *t, uint64_t seg, sm_entry e)
{
  struct msg m = { .type = MSG_ALLOCATED, .vdisk = t->vdisk, .first = seg,
                   .alt = e, .id = atomic_fetch_add (&a->next_id, 1) };
  uint8_t *frame;
  size_t len;

  atomic_fetch_add (&a->grants_used, 1);
  if (msg_encode (&m, &frame, &len) == 0
      && a->transport->to_controller (a->transport, frame, len) == 0)
    return 0;
  sm_error ("vdisk %s: cannot tell the controller that segment %" PRIu64
            " was allocated", t->name, seg);
  agent_set_degraded (a);
  agent_report (a, REPORT_UNRECORDED, 0, 0, EIO);
  return -1;
}

/* Send a MARK or MOVED of BLOCKS of SEG (no answer).  0, or -1 (the
 * agent is degraded now). */
static int
send_blocks (struct agent *a, struct table *t, uint8_t type, uint64_t seg,
             const uint8_t *blocks, uint32_t n_blocks)
{
  struct msg m = { .type = type, .vdisk = t->vdisk, .first = seg,
                   .blocks = (uint8_t *) blocks, .n_blocks = n_blocks,
                   .id = atomic_fetch_add (&a->next_id, 1) };
  uint8_t *frame;
  size_t len;

  if (msg_encode (&m, &frame, &len) == 0
      && a->transport->to_controller (a->transport, frame, len) == 0)
    return 0;
  sm_error ("vdisk %s: cannot tell the controller that blocks of segment %"
            PRIu64 " %s", t->name, seg,
            type == MSG_MARK ? "changed" : "were written at alt");
  agent_set_degraded (a);
  agent_report (a, REPORT_UNRECORDED, 0, 0, EIO);
  return -1;
}

int
agent_mark (struct agent *a, struct table *t, uint64_t seg,
            const uint8_t *blocks, uint32_t n_blocks)
{
  return send_blocks (a, t, MSG_MARK, seg, blocks, n_blocks);
}

int
agent_moved (void *opaque, uint64_t seg, const uint8_t *blocks, uint32_t n)
{
  struct agent_table *at = opaque;

  return send_blocks (at->a, at->t, MSG_MOVED, seg, blocks, n);
}

/* The absolute CLOCK_REALTIME deadline MS from now (sem_timedwait). */
static struct timespec
deadline_in (unsigned ms)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long) (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

/* Wait for P's answer until the deadline.  0 (answered), or -1 with
 * errno ETIMEDOUT (P is abandoned: no longer the caller's). */
static int
wait_answer (struct agent *a, struct agent_pending *p, const struct msg *req)
{
  struct timespec deadline = deadline_in (a->request_timeout_ms);
  int r;

  while ((r = sem_timedwait (&p->done, &deadline)) == -1 && errno == EINTR)
    ;
  if (r == 0)
    return 0;
  if (pending_abandon (a, p)) {
    atomic_fetch_add (&a->timeouts, 1);
    sm_error ("agent %s: no answer to %s %" PRIu64 " within %u ms",
              a->name, msg_type_to_string (req->type), p->id,
              a->request_timeout_ms);
    errno = ETIMEDOUT;
    return -1;
  }
  /* The answer is being delivered right now. */
  while (sem_wait (&p->done) == -1)
    ;                           /* EINTR */
  return 0;
}

static int
request (struct agent *a, struct msg *req, uint64_t claim_seq,
         struct msg *answer)
{
  struct agent_pending *p = calloc (1, sizeof *p);
  uint8_t *frame;
  size_t len;
  int r;

  if (p == NULL) {
    sm_error ("agent %s: cannot send %s: %m", a->name,
              msg_type_to_string (req->type));
    return -1;
  }
  p->claim_seq = claim_seq;
  sem_init (&p->done, 0, 0);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->pending_lock);
    p->id = req->id = atomic_fetch_add (&a->next_id, 1);
    p->next = a->pending;
    a->pending = p;
  }
  if (msg_encode (req, &frame, &len) == -1
      || a->transport->to_controller (a->transport, frame, len) == -1) {
    /* Not sent: no answer can come, unless one already did. */
    if (pending_remove (a, p)) {
      sem_destroy (&p->done);
      free (p);
      errno = EIO;
      return -1;
    }
  }
  r = wait_answer (a, p, req);
  if (r == -1)
    return -1;                  /* P was abandoned: not ours any more */
  sem_destroy (&p->done);
  *answer = p->answer;
  free (p);
  return 0;
}

int
agent_register (struct agent *a)
{
  struct msg m = { .type = MSG_REGISTER, .arg = MSG_VERSION,
                   .name = a->name };
  struct msg answer;

  if (request (a, &m, 0, &answer) == -1) {
    sm_error ("agent %s: cannot register with the controller: %m", a->name);
    return -1;
  }
  if (answer.type != MSG_REPLY || answer.status != 0) {
    if (answer.type == MSG_REPLY && answer.arg2 != 0
        && answer.arg2 != MSG_VERSION)
      sm_error ("agent %s: the controller speaks protocol version %" PRIu32
                " and this agent version %d: registration refused",
                a->name, answer.arg2, MSG_VERSION);
    else
      sm_error ("agent %s: registration refused: %s", a->name,
                strerror (answer.status ? (int) answer.status : EPROTO));
    msg_clear (&answer);
    return -1;
  }
  a->id = answer.arg;
  msg_clear (&answer);
  sm_debug ("agent %s: registered as agent %" PRIu32, a->name, a->id);
  return 0;
}

/* Apply a RETRY's entries to its table (see table_load).  A stale
 * answer is not applied: the thread looks up, and faults, again.  Keep
 * under the bound, then apply again: the sweep may have evicted the
 * very entries the waiting I/O needs. */
static void
apply_retry (struct agent *a, struct msg *m, uint64_t claim_seq)
{
  struct table *t;
  int r;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
    t = find_table_locked (a, m->vdisk, NULL);
    if (t == NULL)
      return;
    atomic_fetch_add (&t->refs, 1);
  }
  r = table_load (t, m->first, m->count, m->entries, m->arg, claim_seq);
  if (r == 0) {
    agent_enforce_memory_limit (a);
    r = table_load (t, m->first, m->count, m->entries, 0, claim_seq);
  }
  table_unref (t);
  if (r == -1)
    m->type = MSG_FAIL, m->status = ENOMEM;
}

/* DELEGATE: hold the movement it names (held.h) before the waiter
 * retries; applied here, like a RETRY, so that an answer whose waiter
 * gave up is held all the same (the controller counts it delegated).
 * A failure becomes the answer (FAIL). */
static void
apply_delegate (struct agent *a, struct msg *m)
{
  struct table *t;
  uint32_t n_bytes;
  int err = 0;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
    t = find_table_locked (a, m->vdisk, NULL);
    if (t == NULL)
      err = ENOENT;
    else
      atomic_fetch_add (&t->refs, 1);
  }
  if (t) {
    n_bytes = table_bitmap_bytes (t);
    if (m->first >= atomic_load (&t->n_segments) || m->n_blocks > n_bytes) {
      sm_error ("vdisk %s: delegate names segment %" PRIu64 " with a %"
                PRIu32 "-byte bitmap, which it does not have", t->name,
                m->first, m->n_blocks);
      err = EIO;
    }
    else if (held_install (&t->held, m->first, m->entries[0], m->alt,
                           m->blocks, m->n_blocks, n_bytes) == -1
             && errno != EEXIST)
      err = errno;
    else
      /* Reads split from now on (an entry not loaded gets ALT with
       * its next load). */
      table_set_bits (t, m->first, 1, ENTRY_ALT, true);
    table_unref (t);
  }
  if (err)
    m->type = MSG_FAIL, m->status = err;
}

/* An answer to a fault or flush: apply, then wake the waiting thread. */
static int
receive_answer (struct agent *a, struct msg *m)
{
  struct agent_pending *p = NULL;
  bool abandoned = false;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->pending_lock);
    for (struct agent_pending **pp = &a->pending; *pp; pp = &(*pp)->next)
      if ((*pp)->id == m->id) {
        p = *pp;
        *pp = p->next;
        abandoned = p->abandoned;
        break;
      }
  }
  if (p == NULL) {
    sm_error ("agent: answer %s for unknown request %" PRIu64,
              msg_type_to_string (m->type), m->id);
    return -1;
  }
  if (m->type == MSG_RETRY)
    apply_retry (a, m, p->claim_seq);
  else if (m->type == MSG_DELEGATE)
    apply_delegate (a, m);
  if (abandoned) {              /* its waiter timed out: applied, dropped */
    sm_debug ("agent: late %s for request %" PRIu64 " dropped",
              msg_type_to_string (m->type), m->id);
    sem_destroy (&p->done);
    free (p);
    return 0;
  }
  p->answer = *m;
  memset (m, 0, sizeof *m);     /* ownership moved to the waiter */
  sem_post (&p->done);
  return 0;
}

/* Commands ------------------------------------------------------------ */

static struct table *table_of (struct agent *a, const struct msg *m);

/* NEW_TABLE of a table the agent has: its size and mode.  Turning a
 * vdisk read-only drains it, so the REPLY means that no write that
 * could have missed the flag is still running (writes look at the flag
 * inside their epoch section: io.c). */
static int
update_table (struct agent *a, struct table *t, struct msg *m)
{
  bool read_only = m->flags & MSG_F_READ_ONLY, was;
  int r;

  if (t->seg_shift != m->arg2 || strcmp (t->name, m->name) != 0)
    return EINVAL;
  was = atomic_exchange (&t->read_only, read_only);
  r = table_grow (t, m->arg) == 0 ? 0 : ENOMEM;
  if (read_only && !was)
    table_drain (t);
  if (!read_only && was && atomic_exchange (&t->lost, false))
    sm_error ("agent %s: vdisk %s made writable again: its flushes "
              "succeed again", a->name, t->name);
  return r;
}

static int
cmd_new_table (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t = table_of (a, m), **tables;
  bool read_only = m->flags & MSG_F_READ_ONLY;

  if (t) {
    int r = update_table (a, t, m);
    table_unref (t);
    return r;
  }
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
  if (find_table_locked (a, m->vdisk, NULL))
    return EEXIST;              /* commands arrive in order: never */
  t = table_new (m->vdisk, m->name, m->arg, m->arg2, &a->mem);
  if (t == NULL)
    return ENOMEM;
  atomic_store (&t->read_only, read_only);
  tables = realloc (a->tables, (a->n_tables + 1) * sizeof *tables);
  if (tables == NULL) {
    table_free (t);
    return ENOMEM;
  }
  atomic_store (&t->refs, 1);
  a->tables = tables;
  a->tables[a->n_tables++] = t;
  return 0;
}

/* End the delegated movements of [FIRST, FIRST+COUNT) of T: their I/O
 * done, their unreported blocks sent (MOVED) before the command that
 * ends them is answered (held.h).  0, or the errno to answer with. */
static int
drop_held (struct agent *a, struct table *t, uint64_t first, uint64_t count)
{
  struct agent_table at = { a, t };

  if (held_drop (&t->held, first, count, agent_moved, &at) == 0)
    return 0;
  return errno == ENOMEM ? ENOMEM : EIO;
}

static int
cmd_delete_table (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t;
  size_t i;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
    t = find_table_locked (a, m->vdisk, &i);
    if (t == NULL)
      return ENOENT;
    a->tables[i] = a->tables[--a->n_tables];
  }
  atomic_store (&t->dead, true);
  table_forget_all (t);         /* drains: no I/O uses its segments */
  table_activate (t);           /* I/O held by a quiesce now fails */
  drop_held (a, t, 0, UINT64_MAX);  /* reports of a deleted vdisk */
  table_unref (t);
  return 0;
}

/* Look up the live table of M->vdisk with a reference, or NULL. */
static struct table *
table_of (struct agent *a, const struct msg *m)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
  struct table *t = find_table_locked (a, m->vdisk, NULL);

  if (t)
    atomic_fetch_add (&t->refs, 1);
  return t;
}

static int
cmd_get_entry (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t = table_of (a, m);

  if (t == NULL)
    return ENOENT;
  reply->entries = calloc (m->count, sizeof reply->entries[0]);
  if (reply->entries == NULL) {
    table_unref (t);
    return ENOMEM;
  }
  reply->n_entries = m->count;
  /* Under the table lock, not in an epoch: an epoch would wait while
   * the vdisk is quiesced, and the lock keeps eviction and grow from
   * freeing what we read. */
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    for (uint32_t i = 0; i < m->count; i++) {
      sm_entry x = m->first + i < t->n_segments
        ? table_lookup (t, m->first + i) : ENTRY_INVALID;
      reply->entries[i] = m->type == MSG_GET_STATUS ? entry_flags (x) : x;
    }
  }
  table_unref (t);
  return 0;
}

static int
cmd_set_entry (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t = table_of (a, m);
  int r = 0;

  if (t == NULL)
    return ENOENT;
  if ((r = drop_held (a, t, m->first, m->count)) != 0) {
    table_unref (t);
    return r;
  }
  marks_forget (&t->marks, m->first, m->count);
  if (m->type == MSG_SET_ENTRY) {
    if (table_store (t, m->first, m->count, m->entries, m->n_entries) == -1)
      r = ENOMEM;
  }
  else
    table_set_bits (t, m->first, m->count, m->arg, m->flags & MSG_F_ON);
  if (m->flags & MSG_F_BLOCKING)
    table_drain (t);
  table_unref (t);
  return r;
}

/* Apply FN to each vdisk named in M (quiesce/activate). */
static int
cmd_quiesce (struct agent *a, struct msg *m, struct msg *reply)
{
  int r = 0, err;

  for (uint32_t i = 0; i < m->n_vdisks; i++) {
    struct msg one = { .vdisk = m->vdisks[i] };
    struct table *t = table_of (a, &one);
    if (t == NULL) {
      r = ENOENT;
      continue;
    }
    if (m->type == MSG_ACTIVATE)
      table_activate (t);
    else if (table_quiesce (t, m->arg) == -1)
      r = ETIMEDOUT;
    else if ((err = drop_held (a, t, 0, UINT64_MAX)) != 0)
      r = err;
    table_unref (t);
  }
  return r;
}

static int
cmd_grant (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t = table_of (a, m);
  int r = 0;

  if (t == NULL)
    return ENOENT;
  if (atomic_load (&t->dead))
    r = ENOENT;
  else if (table_add_grants (t, m->entries, m->n_entries) == -1)
    r = ENOMEM;
  table_unref (t);
  return r;
}

/* RECALL: give the unused grants back in the REPLY. */
static int
cmd_recall (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t = table_of (a, m);
  int64_t n;

  if (t == NULL)
    return ENOENT;
  n = table_take_grants (t, &reply->entries);
  table_unref (t);
  if (n == -1)
    return ENOMEM;
  reply->n_entries = n;
  return 0;
}

/* REVOKE: give the delegated movements of the range back. */
static int
cmd_revoke (struct agent *a, struct msg *m, struct msg *reply)
{
  struct table *t = table_of (a, m);
  int r;

  if (t == NULL)
    return ENOENT;
  r = drop_held (a, t, m->first, m->count);
  table_unref (t);
  return r;
}

/* CONTAINER_ATTACH: open our own handle and publish it. */
static int
cmd_container_attach (struct agent *a, struct msg *m, struct msg *reply)
{
  uint32_t id = m->arg2;
  struct container *c;

  if (atomic_load (&a->containers[id]) != NULL)
    return EEXIST;
  c = container_open_existing (id, m->name, m->path, m->arg);
  if (c == NULL)
    return errno ? errno : EIO;
  a->owned[id] = true;
  agent_set_container (a, id, c);
  return 0;
}

/* Every live table, each with a reference, into a new array (*N);
 * NULL on ENOMEM. */
static struct table **
ref_all_tables (struct agent *a, size_t *n)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&a->tables_lock);
  struct table **ts = malloc ((a->n_tables ? a->n_tables : 1) * sizeof *ts);

  if (ts == NULL)
    return NULL;
  for (size_t i = 0; i < a->n_tables; i++) {
    ts[i] = a->tables[i];
    atomic_fetch_add (&ts[i]->refs, 1);
  }
  *n = a->n_tables;
  return ts;
}

/* CONTAINER_DETACH: unpublish, wait for every user (no I/O that started
 * before now is in an epoch section of any table: the I/O path's
 * container accesses are all inside one; flushes hold containers_lock),
 * sync what the tables' next flushes would have synced there, close. */
static int
cmd_container_detach (struct agent *a, struct msg *m, struct msg *reply)
{
  uint32_t id = m->arg2;
  struct container *c = atomic_exchange (&a->containers[id], NULL);
  bool owned = a->owned[id];
  struct table **ts;
  size_t n = 0;

  if (c == NULL)
    return ENOENT;
  if ((ts = ref_all_tables (a, &n)) == NULL) {
    atomic_store (&a->containers[id], c);   /* never close a used handle */
    return ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    table_drain (ts[i]);
  a->owned[id] = false;
  pthread_rwlock_wrlock (&a->containers_lock);    /* flushes in progress */
  pthread_rwlock_unlock (&a->containers_lock);
  agent_cio_detaching (a, ts, n, c);
  for (size_t i = 0; i < n; i++)
    table_unref (ts[i]);
  free (ts);
  if (owned)
    container_close (c);
  return 0;
}

static int
cmd_set_degraded (struct agent *a, struct msg *m, struct msg *reply)
{
  if (m->flags & MSG_F_ON)
    agent_set_degraded (a);
  else if (atomic_exchange (&a->degraded, false))
    sm_debug ("agent %s: writes allowed again", a->name);
  return 0;
}

static int
cmd_get_stats (struct agent *a, struct msg *m, struct msg *reply)
{
  struct agent_stats st;

  reply->counters = calloc (MSG_STAT_COUNT, sizeof reply->counters[0]);
  if (reply->counters == NULL)
    return ENOMEM;
  agent_get_stats (a, &st);
  reply->n_counters = MSG_STAT_COUNT;
  reply->counters[MSG_STAT_FAULTS] = st.faults;
  reply->counters[MSG_STAT_TABLES] = st.tables;
  reply->counters[MSG_STAT_ENTRIES] = st.entries;
  reply->counters[MSG_STAT_MEMORY] = st.memory;
  reply->counters[MSG_STAT_MEMORY_LIMIT] = st.memory_limit;
  reply->counters[MSG_STAT_EVICTED] = st.evicted_entries;
  reply->counters[MSG_STAT_GRANTS_USED] = st.grants_used;
  reply->counters[MSG_STAT_DEGRADED] = st.degraded;
  reply->counters[MSG_STAT_CONTAINERS] = st.containers;
  reply->counters[MSG_STAT_TIMEOUTS] = st.timeouts;
  return 0;
}

typedef int (*command_fn) (struct agent *a, struct msg *m, struct msg *reply);

static const command_fn commands[MSG_TYPE_MAX + 1] = {
  [MSG_NEW_TABLE] = cmd_new_table,
  [MSG_DELETE_TABLE] = cmd_delete_table,
  [MSG_GET_ENTRY] = cmd_get_entry,
  [MSG_GET_STATUS] = cmd_get_entry,
  [MSG_SET_ENTRY] = cmd_set_entry,
  [MSG_SET_STATUS] = cmd_set_entry,
  [MSG_QUIESCE] = cmd_quiesce,
  [MSG_ACTIVATE] = cmd_quiesce,
  [MSG_GRANT] = cmd_grant,
  [MSG_RECALL] = cmd_recall,
  [MSG_CONTAINER_ATTACH] = cmd_container_attach,
  [MSG_CONTAINER_DETACH] = cmd_container_detach,
  [MSG_SET_DEGRADED] = cmd_set_degraded,
  [MSG_GET_STATS] = cmd_get_stats,
  [MSG_REVOKE] = cmd_revoke,
};

static int
receive_command (struct agent *a, struct msg *m,
                 uint8_t **reply_frame, size_t *reply_len)
{
  struct msg reply = { .type = MSG_REPLY, .id = m->id };
  int r;

  reply.status = commands[m->type] (a, m, &reply);
  r = msg_encode (&reply, reply_frame, reply_len);
  msg_clear (&reply);
  return r;
}

int
agent_receive (struct agent *a, const uint8_t *frame, size_t len,
               uint8_t **reply, size_t *reply_len)
{
  struct msg m;
  int r;

  *reply = NULL;
  *reply_len = 0;
  if (msg_decode (frame, len, &m) == -1)
    return -1;
  switch (m.type) {
  case MSG_RETRY: case MSG_FAIL: case MSG_COMPLETE_TO_HOST: case MSG_REPLY:
  case MSG_DIFF:
  case MSG_DO_WRITE: case MSG_DO_SPLIT_READ:    /* run by the waiter */
  case MSG_DELEGATE:
    r = receive_answer (a, &m);
    break;
  default:
    if (m.type <= MSG_TYPE_MAX && commands[m.type])
      r = receive_command (a, &m, reply, reply_len);
    else {
      sm_error ("agent: unexpected %s from the controller",
                msg_type_to_string (m.type));
      r = -1;
    }
  }
  msg_clear (&m);
  return r;
}
