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

struct agent_stats {
  uint64_t faults;
  uint64_t tables;
  uint64_t entries;               /* held in real leaves (not sentinels) */
  uint64_t memory;
  uint64_t memory_limit;
  uint64_t evicted_entries;       /* forgotten under the memory bound */
  uint64_t grants_used;           /* first writes mapped without a fault */
};

struct agent {
  char *name;
  struct transport *transport;
  struct table_memory mem;

  pthread_mutex_t tables_lock;    /* protects tables, n_tables */
  struct table **tables;
  size_t n_tables;

  /* Containers by id, set by the controller (in process) before any
   * entry pointing into them is handed out. */
  _Atomic (struct container *) *containers;     /* [ENTRY_MAX_CONTAINER+1] */
  _Atomic uint32_t max_container; /* highest id ever set */

  pthread_mutex_t pending_lock;   /* protects pending, next_id */
  struct agent_pending *pending;  /* faults waiting for their answer */
  uint64_t next_id;

  _Atomic bool degraded;          /* a sync failed: writes fail */
  _Atomic uint64_t faults;
  _Atomic uint64_t grants_used;
  pthread_mutex_t evict_lock;     /* one evictor at a time */
};

/* Create an agent bound by MEMORY_LIMIT bytes of tables (0: no bound). */
struct agent *agent_new (const char *name, uint64_t memory_limit);
void agent_free (struct agent *a);
void agent_set_transport (struct agent *a, struct transport *tr);
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
 * could not be told of an allocation. */
void agent_set_degraded (struct agent *a);

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
 * the controller's fine-grained handling; 0, 0 for whole segments). */
int agent_fault (struct agent *a, struct table *t, uint8_t op,
                 uint64_t first, uint32_t count, uint64_t offset,
                 uint32_t len, struct msg *answer);
/* Tell the controller that SEG of T now maps to the granted location E
 * (no answer).  On failure the agent is degraded: -1. */
int agent_allocated (struct agent *a, struct table *t, uint64_t seg,
                     sm_entry e);
/* Evict leaves while table memory is over the bound.  Not inside an
 * epoch section (eviction drains). */
void agent_enforce_memory_limit (struct agent *a);

#endif /* SEGMAP_AGENT_H */
