/* segmap: the controller's private state, shared by its files.
 *
 *   controller.c  thread, queue, group commit, lifecycle
 *   startup.c     open, reconcile config, containers, recovery
 *   faults.c      MAP_FAULT, ALLOCATED and FLUSH from agents; grants
 *   admin.c       control-socket commands
 *   check.c       the consistency checker
 *
 * Everything here is touched only by the controller thread, except the
 * queue (protected by queue_lock) and the statistics marked atomic.
 */
#ifndef SEGMAP_CONTROLLER_INTERNAL_H
#define SEGMAP_CONTROLLER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json.h>

#include "controller/alloc.h"
#include "controller/controller.h"
#include "controller/store.h"
#include "common/vector.h"
#include "proto/msg.h"

struct container;

/* A container as the controller sees it: the open file and its
 * free-space map. */
struct ctrl_container {
  struct container *c;
  struct alloc *alloc;
  uint64_t n_segments;          /* physical segments allocated */
};

/* A freed physical segment: zeroed at once, but given back to the
 * allocator only after the commit that frees it (so an uncommitted free
 * can never be handed to another vdisk). */
struct pending_free {
  uint32_t container;
  uint64_t unit;
  uint32_t units;
};
DEFINE_VECTOR_TYPE (pending_free_vector, struct pending_free);
DEFINE_VECTOR_TYPE (id_vector, uint64_t);
DEFINE_VECTOR_TYPE (entry_vector, sm_entry);

/* The segments granted to the agent for one vdisk (faults.c): reserved
 * in the container's allocator (alloc_reserve), not in the store, until
 * the agent reports one ALLOCATED; then it is recorded like any
 * allocation.  Grants of a deleted vdisk, or outstanding at shutdown,
 * are zeroed and released. */
struct vdisk_grants {
  uint32_t vdisk;
  uint32_t container;
  uint32_t units;               /* of one segment */
  struct entry_vector out;      /* out.ptr[head .. out.len): granted, not
                                   reported ALLOCATED yet, in the order
                                   granted (the order the agent uses) */
  size_t head;
};
DEFINE_VECTOR_TYPE (grants_vector, struct vdisk_grants);

enum creq_kind { CREQ_FRAME, CREQ_ADMIN, CREQ_STOP };

struct creq {
  struct creq *next;
  enum creq_kind kind;
  uint8_t *frame;               /* CREQ_FRAME */
  size_t len;
  const char *cmd;              /* CREQ_ADMIN */
  json_object *args;
  json_object *result;
  char *error;
  bool done;                    /* protected by queue_lock */
  pthread_cond_t cond;
};

struct controller {
  const struct segmap_config *cfg;
  struct agent *agent;          /* in-process agent (containers) */
  struct transport *transport;
  struct store *store;

  pthread_t thread;
  bool thread_started;
  pthread_mutex_t queue_lock;   /* protects queue_*, start_* */
  pthread_cond_t queue_cond;
  struct creq *queue_head, *queue_tail;
  unsigned queued_lazy;         /* ALLOCATED queued without a wake-up */
  bool idle;                    /* waiting with no deadline */
  bool stopping;
  int start_status;             /* 1 starting, 0 ok, -1 failed */
  pthread_cond_t start_cond;

  struct ctrl_container *containers[ENTRY_MAX_CONTAINER + 1];
  uint32_t max_container;       /* highest id ever opened: loops stop there */
  struct sm_vdisk_info *vdisks; /* cache of the vdisk table */
  size_t n_vdisks;
  struct sm_vdisk_info *deleting;       /* vdisks being deleted (delete.c) */
  size_t n_deleting;
  struct pending_free_vector delete_zeroed, delete_syncing;
  struct delete_sync *delete_sync;

  bool dirty;                   /* an open transaction has changes */
  bool frees_unsynced;          /* zeroing not yet synced */
  struct pending_free_vector frees;
  struct timespec dirty_since;

  struct id_vector flushers;    /* ids of FLUSH waiting for the commit */
  struct grants_vector grants;  /* per vdisk that writes new segments */

  bool degraded;                /* sync or commit failed: no writes */
  time_t started;

  _Atomic uint64_t commits, allocations, faults, frees_total;
};

/* controller.c */
int ctrl_change (struct controller *c);
int ctrl_commit (struct controller *c, bool sync_data);
int ctrl_send (struct controller *c, struct msg *m, struct msg *reply);
void ctrl_set_degraded (struct controller *c, const char *why);
int ctrl_sync_containers (struct controller *c);

/* startup.c */
int ctrl_startup (struct controller *c);
int ctrl_reload_vdisks (struct controller *c);
int ctrl_open_container (struct controller *c, const struct sm_container_info *ci);
void ctrl_close_containers (struct controller *c);
struct sm_vdisk_info *ctrl_find_vdisk (struct controller *c, uint32_t id);
struct sm_vdisk_info *ctrl_find_vdisk_by_name (struct controller *c,
                                               const char *name);
int ctrl_announce_vdisk (struct controller *c, const struct sm_vdisk_info *v);

/* faults.c */
void ctrl_handle_frame (struct controller *c, const uint8_t *frame,
                        size_t len);
int ctrl_free_vdisk_range (struct controller *c,
                           const struct sm_vdisk_info *v,
                           uint64_t first, uint64_t count);
/* After each batch of requests: top up the grant pools of the vdisks
 * that write new segments; release those of deleted vdisks. */
void ctrl_refill_grants (struct controller *c);
/* Zero and release every outstanding grant (shutdown). */
void ctrl_release_grants (struct controller *c);

/* delete.c: vdisks deleted a batch at a time (see there), at most one
 * batch per DELETE_PACE_MS while the controller has nothing else to do
 * (so the deletion takes a fraction of a core, not all of it). */
#define DELETE_PACE_MS 2
int ctrl_delete_start (struct controller *c, uint32_t id);
int ctrl_delete_resume (struct controller *c);
bool ctrl_delete_pending (const struct controller *c);
void ctrl_delete_step (struct controller *c);
/* Units of CONTAINER freed by deletes, not yet back in the allocator. */
uint64_t ctrl_delete_units_held (const struct controller *c,
                                 uint32_t container);
/* Wait for the sync thread (shutdown). */
void ctrl_delete_stop (struct controller *c);

/* admin.c */
json_object *ctrl_admin (struct controller *c, const char *cmd,
                         json_object *args, char **error);

/* check.c */
int ctrl_check (struct controller *c, json_object *problems,
                json_object *checked);

#endif /* SEGMAP_CONTROLLER_INTERNAL_H */
