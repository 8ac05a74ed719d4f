/* segmap: the mapping agent.
 *
 * The agent sits on the data path of every front-end (NBD now, iSCSI
 * later).  It owns one volatile table per vdisk (agent/table.h) and turns
 * host I/O into container I/O:
 *
 *   host I/O --> look up entry --fast path--> container pread/pwrite
 *                     |
 *                     +--(zero on write, a granted segment at hand)-->
 *                     |   map it, tell the controller (ALLOCATED, no
 *                     |   wait), container pwrite
 *                     +--(invalid, zero on write, no-write on write,
 *                     |   alternate)--> MAP_FAULT to the controller,
 *                     |   wait for the answer, apply it, retry
 *                     +--(error)--> EIO
 *
 * Tables are created, grown, changed and deleted only by the
 * controller's commands (NEW_TABLE, SET_ENTRY, ...), which arrive
 * through agent_receive() in order.  The agent never decides a mapping.
 *
 * The agent knows the controller only through messages (it includes
 * nothing of src/controller): it REGISTERs (agent_register) and gets
 * an id; containers are attached (CONTAINER_ATTACH: the agent opens
 * its own handle) and detached (CONTAINER_DETACH, blocking) by
 * command; degraded mode is set and cleared by command (SET_DEGRADED);
 * a failed sync is reported (REPORT); statistics are asked for
 * (GET_STATS).  Every request waits at most request_timeout_ms for its
 * answer (AGENT_REQUEST_TIMEOUT_MS by default), then fails with
 * ETIMEDOUT; a late answer is still applied if it is a RETRY.
 *
 * Container handles: the I/O path reads a container pointer only
 * inside an epoch section of the table it works on, and agent_flush
 * only under containers_lock (read); so a DETACH that unpublishes the
 * pointer, drains every table and takes containers_lock (write) knows
 * that nothing uses the handle any more before it closes it.  Anything
 * that adds container I/O must keep to this.
 *
 * Memory: the tables of one agent share a bound (memory_limit); when a
 * fault's answer takes the agent over it, the agent forgets the least
 * recently referenced leaves (clock) until it is under 90% of it.
 *
 * Errors on the data path: functions return -1 with errno set for the
 * front-end to pass to the host (EIO, ENOSPC, EROFS, ENXIO, ...) and
 * report details through sm_error.
 */
#ifndef SEGMAP_AGENT_H
#define SEGMAP_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "agent/table.h"
#include "proto/msg.h"
#include "proto/transport.h"

struct container;

/* Default bound on the wait for an answer (see segmap-protocol(7)). */
#define AGENT_REQUEST_TIMEOUT_MS 30000

struct agent_stats {
  uint64_t faults;
  uint64_t tables;
  uint64_t entries;               /* held in real leaves (not sentinels) */
  uint64_t memory;
  uint64_t memory_limit;
  uint64_t evicted_entries;       /* forgotten under the memory bound */
  uint64_t grants_used;           /* first writes mapped without a fault */
  uint64_t containers;            /* attached */
  uint64_t timeouts;              /* requests that timed out */
  bool degraded;
};

struct agent {
  char *name;
  uint32_t id;                    /* given by REGISTER's reply; 0 before */
  unsigned request_timeout_ms;
  struct transport *transport;
  struct table_memory mem;

  pthread_mutex_t tables_lock;    /* protects tables, n_tables */
  struct table **tables;
  size_t n_tables;

  /* Containers by id, attached by the controller (CONTAINER_ATTACH)
   * before any entry pointing into them is handed out.  OWNED: the
   * agent opened the handle (and closes it); a handle given with
   * agent_set_container stays its giver's. */
  _Atomic (struct container *) *containers;     /* [ENTRY_MAX_CONTAINER+1] */
  bool *owned;                                  /* [ENTRY_MAX_CONTAINER+1] */
  _Atomic uint32_t max_container; /* highest id ever set */
  pthread_rwlock_t containers_lock; /* flush: read; detach: write */

  pthread_mutex_t pending_lock;   /* protects pending */
  struct agent_pending *pending;  /* requests waiting for their answer */
  _Atomic uint64_t next_id;       /* ids of everything the agent sends */

  _Atomic bool degraded;          /* a sync failed: writes fail */
  _Atomic uint64_t faults;
  _Atomic uint64_t grants_used;
  _Atomic uint64_t timeouts;
  pthread_mutex_t evict_lock;     /* one evictor at a time */
};

/* Create an agent bound by MEMORY_LIMIT bytes of tables (0: no bound). */
struct agent *agent_new (const char *name, uint64_t memory_limit);
void agent_free (struct agent *a);
void agent_set_transport (struct agent *a, struct transport *tr);
/* Bound the wait for answers (0: the default). */
void agent_set_request_timeout (struct agent *a, unsigned ms);

/* REGISTER with the controller (name, MSG_VERSION) and wait for the
 * agent id.  0, or -1 with sm_error (refused: both versions named). */
int agent_register (struct agent *a);

/* Publish a handle the caller keeps owning (tests; the controller
 * attaches containers by CONTAINER_ATTACH). */
void agent_set_container (struct agent *a, uint32_t id, struct container *c);
struct container *agent_container (struct agent *a, uint32_t id);

/* Handle one frame from the controller (answer or command); see
 * transport.h for the REPLY convention.  0 or -1 (malformed frame). */
int agent_receive (struct agent *a, const uint8_t *frame, size_t len,
                   uint8_t **reply, size_t *reply_len);

/* Open a vdisk by name for I/O (takes a reference); NULL with errno
 * ENOENT if there is no such vdisk. */
struct table *agent_open_vdisk (struct agent *a, const char *name);
void agent_close_vdisk (struct agent *a, struct table *t);

/* Names of all vdisks, for listing exports: calls FN for each. */
int agent_foreach_vdisk (struct agent *a,
                         int (*fn) (void *opaque, const struct table *t),
                         void *opaque);

void agent_get_stats (struct agent *a, struct agent_stats *st);

/* Mark the agent degraded: a container sync failed, or the controller
 * could not be told of an allocation.  The controller hears of it by a
 * REPORT (agent_report). */
void agent_set_degraded (struct agent *a);

/* Send a REPORT (no answer) of OP about VDISK (0: none) and container
 * CID with ERR. */
void agent_report (struct agent *a, uint8_t op, uint32_t vdisk,
                   uint32_t cid, int err);

/* The byte offset where the calling thread's last failed agent_pread,
 * agent_pwrite, agent_trim or agent_zero failed: the start of the first
 * piece (segment) that failed, or UINT64_MAX if it failed elsewhere (a
 * flush, a whole-segment trim).  Like errno, valid right after the call
 * returned -1. */
uint64_t agent_io_failed_offset (void);

/* The I/O path (io.c).  Ranges must lie inside the vdisk (the front-end
 * checks bounds; these refuse with EINVAL otherwise). */
int agent_pread (struct agent *a, struct table *t, void *buf,
                 uint32_t count, uint64_t offset);
int agent_pwrite (struct agent *a, struct table *t, const void *buf,
                  uint32_t count, uint64_t offset, bool fua);
int agent_flush (struct agent *a, struct table *t);
/* Discard (TRIM) or write zeros: whole segments go back to the zero
 * state and are freed; partial segments are zeroed in place. */
int agent_trim (struct agent *a, struct table *t, uint32_t count,
                uint64_t offset, bool fua);
int agent_zero (struct agent *a, struct table *t, uint32_t count,
                uint64_t offset, bool fua);
/* Would agent_zero of the range change only metadata (whole segments,
 * and partial ones already zero)?  1 yes, 0 no (it would write data),
 * -1 with errno.  May fault entries in; writes nothing. */
int agent_zero_is_fast (struct agent *a, struct table *t, uint32_t count,
                        uint64_t offset);

/* Extents: calls FN for runs of [offset, offset+len) with ZERO true for
 * segments in the zero state.  May stop early (after at least one run)
 * to bound the work; returns 0 or -1. */
int agent_extents (struct agent *a, struct table *t, uint32_t count,
                   uint64_t offset,
                   int (*fn) (void *opaque, uint64_t offset, uint64_t len,
                              bool zero),
                   void *opaque);

/* Internal to the agent (agent.c, used by io.c): send a request to the
 * controller and wait for its answer (caller msg_clear()s it). */
int agent_request (struct agent *a, struct msg *req, struct msg *answer);
/* OFFSET and LEN: the bytes of the first segment the I/O touches (for
 * the controller's fine-grained handling; 0, 0 for whole segments);
 * BLOCKS (N_BLOCKS bytes, may be NULL, 0): the same as a bitmap of its
 * 4 KiB blocks (proto/msg.h). */
int agent_fault (struct agent *a, struct table *t, uint8_t op,
                 uint64_t first, uint32_t count, uint64_t offset,
                 uint32_t len, uint8_t *blocks, uint32_t n_blocks,
                 struct msg *answer);
/* Tell the controller that SEG of T now maps to the granted location E
 * (no answer).  On failure the agent is degraded: -1. */
int agent_allocated (struct agent *a, struct table *t, uint64_t seg,
                     sm_entry e);
/* Changed-block tracking: BLOCKS (a bitmap of N_BLOCKS bytes) of SEG of
 * T are about to be written in place in an open segment: MARK them,
 * not waiting for an answer (queue order, like ALLOCATED, so a later
 * FLUSH covers it).  0, or -1 (the agent is degraded now). */
int agent_mark (struct agent *a, struct table *t, uint64_t seg,
                const uint8_t *blocks, uint32_t n_blocks);
/* A held movement's report (held_report_fn, held.h): OPAQUE is a
 * struct agent_table; sends MOVED like agent_mark. */
struct agent_table { struct agent *a; struct table *t; };
int agent_moved (void *opaque, uint64_t seg, const uint8_t *blocks,
                 uint32_t n);
/* Container I/O of the I/O path (cio.c): what the table's next flush
 * must sync is recorded, a failing container REPORTed.  0, or -1 with
 * errno. */
int agent_cio_pread (struct agent *a, struct container *c, void *buf,
                     size_t len, uint64_t offset);
int agent_cio_pwrite (struct agent *a, struct table *t, struct container *c,
                      const void *buf, size_t len, uint64_t offset);
int agent_cio_zero (struct agent *a, struct table *t, struct container *c,
                    uint64_t offset, uint64_t len);
/* The data part of T's flush: sync every container T wrote since its
 * last flush.  0, or -1 (EIO) if one failed now or T is lost (cio.c).
 * Under containers_lock (read). */
int agent_cio_sync (struct agent *a, struct table *t);
/* C, detached, is about to be closed: sync it for the tables TS[0..N)
 * that wrote to it since their last flush, or mark them lost. */
void agent_cio_detaching (struct agent *a, struct table **ts, size_t n,
                          struct container *c);

/* Evict leaves while table memory is over the bound.  Not inside an
 * epoch section (eviction drains). */
void agent_enforce_memory_limit (struct agent *a);

#endif /* SEGMAP_AGENT_H */
