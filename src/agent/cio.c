/* segmap: the agent's container I/O, and what a flush must sync.
 *
 * Every read, write and zero the I/O path does on a container goes
 * through here, for two records:
 *
 *   written   each table keeps one bit per container id: set when a
 *             write or zero to that container has returned (so before
 *             the host hears of it), taken by the table's next flush,
 *             which syncs exactly those containers.  A write still in
 *             flight when the flush takes the bits was not acknowledged
 *             before the flush, so the flush need not cover it.
 *
 *   failure   an I/O whose errno says the storage is failing
 *             (container_error_is_failure) has failed the handle
 *             (store/container.h); the agent REPORTs it once
 *             (container_failure_news, asked only after a failed call:
 *             the I/O path checks nothing beforehand), and the
 *             controller fails the container for every agent
 *             (controller/failure.c).
 *
 * Lost writes.  Writes a table made to a container that then failed
 * before a sync covered them may be gone (after a failed fsync the
 * kernel may have dropped the pages).  The table is then `lost': every
 * flush of it fails from then on -- never a success that would cover
 * those writes -- and the agent REPORTs unsynced_writes, on which the
 * controller fences the vdisk read-only.  The administrator's
 * `vdisk set --read-write' (a NEW_TABLE turning it writable) clears it.
 * A container detached while tables have unsynced writes on it (failure,
 * `container online', removal) is synced first; if that fails, those
 * tables are lost too.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "store/container.h"

#define WORD_BITS 64

static void
note_written (struct table *t, uint32_t id)
{
  _Atomic uint64_t *w = &t->written[id / WORD_BITS];
  uint64_t bit = UINT64_C(1) << (id % WORD_BITS);

  if (!(atomic_load_explicit (w, memory_order_relaxed) & bit))
    atomic_fetch_or (w, bit);
}

/* An I/O on C failed: report the failure of the handle, once. */
static int
io_failed (struct agent *a, struct container *c)
{
  int err = errno;

  if (container_failure_news (c))
    agent_report (a, REPORT_IO_FAILED, 0, c->id, err);
  errno = err;
  return -1;
}

int
agent_cio_pread (struct agent *a, struct container *c, void *buf,
                 size_t len, uint64_t offset)
{
  if (container_pread (c, buf, len, offset) == -1)
    return io_failed (a, c);
  return 0;
}

int
agent_cio_pwrite (struct agent *a, struct table *t, struct container *c,
                  const void *buf, size_t len, uint64_t offset)
{
  if (container_pwrite (c, buf, len, offset) == -1)
    return io_failed (a, c);
  note_written (t, c->id);
  return 0;
}

int
agent_cio_zero (struct agent *a, struct table *t, struct container *c,
                uint64_t offset, uint64_t len)
{
  if (container_zero (c, offset, len) == -1)
    return io_failed (a, c);
  note_written (t, c->id);
  return 0;
}

/* T's writes to container ID (ERR: why) will never be synced. */
static void
lose (struct agent *a, struct table *t, uint32_t id, int err)
{
  if (atomic_exchange (&t->lost, true))
    return;
  sm_error ("agent %s: vdisk %s: writes to container %" PRIu32 " since "
            "its last flush were not made durable (%s): every flush of it "
            "fails until it is made writable again", a->name, t->name, id,
            strerror (err));
  agent_report (a, REPORT_UNSYNCED, t->vdisk, id, err);
}

/* Sync container ID for T.  0, or -1 (T is lost). */
static int
sync_one (struct agent *a, struct table *t, uint32_t id)
{
  struct container *c = agent_container (a, id);

  if (c == NULL) {
    lose (a, t, id, ENXIO);
    return -1;
  }
  if (container_sync (c) == -1) {
    int err = errno;
    if (container_failure_news (c))
      agent_report (a, REPORT_SYNC_FAILED, 0, id, err);
    lose (a, t, id, err);
    return -1;
  }
  return 0;
}

int
agent_cio_sync (struct agent *a, struct table *t)
{
  uint32_t max = atomic_load (&a->max_container);
  int r = 0;

  pthread_rwlock_rdlock (&a->containers_lock);
  for (uint32_t w = 0; w <= max / WORD_BITS; w++) {
    uint64_t bits = atomic_exchange (&t->written[w], 0);
    while (bits) {
      uint32_t id = w * WORD_BITS + __builtin_ctzll (bits);
      bits &= bits - 1;
      if (sync_one (a, t, id) == -1)
        r = -1;
    }
  }
  pthread_rwlock_unlock (&a->containers_lock);
  if (atomic_load (&t->lost)) {
    errno = EIO;
    return -1;
  }
  return r;
}

void
agent_cio_detaching (struct agent *a, struct table **ts, size_t n,
                     struct container *c)
{
  uint64_t bit = UINT64_C(1) << (c->id % WORD_BITS);
  bool wrote = false, synced;
  int err = 0;

  for (size_t i = 0; i < n && !wrote; i++)
    wrote = atomic_load (&ts[i]->written[c->id / WORD_BITS]) & bit;
  if (!wrote)
    return;
  synced = container_sync (c) == 0;
  if (!synced)
    err = errno;
  for (size_t i = 0; i < n; i++)
    if (atomic_fetch_and (&ts[i]->written[c->id / WORD_BITS], ~bit) & bit
        && !synced)
      lose (a, ts[i], c->id, err);
}
