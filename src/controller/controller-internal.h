/* segmap: the controller's private state, shared by its files.
 *
 *   controller.c  thread, queue, group commit, lifecycle
 *   startup.c     open, reconcile config, containers, recovery
 *   agents.c      registered agents, matched commands (ctrl_send)
 *   faults.c      MAP_FAULT, ALLOCATED and FLUSH from agents; grants
 *   cow.c         copy-on-write of shared segments, the copier
 *   snapshot.c    snapshot commands (create, list, delete)
 *   clone.c       clone create, snapshot rollback
 *   jobs.c        background jobs (sql/007): registry, job commands
 *   flatten.c     the clone flatten job
 *   faults-move.c data movements: DO_WRITE, DO_SPLIT_READ, IO_DONE;
 *                 stored in the store's movement table (sql/005)
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
struct transport;

/* A registered agent (agents.c).  The controller knows an agent only
 * by its transport and the messages it sent: nothing here points into
 * the agent's memory. */
struct ctrl_agent {
  uint32_t id;
  char *name;
  uint32_t version;             /* protocol version it registered with */
  struct transport *tr;
  time_t registered;
  time_t last_heard;            /* its last frame (any counts as alive) */
  uint64_t faults, allocations, flushes;
  uint64_t unknown;             /* commands whose outcome is unknown */
};
DEFINE_VECTOR_TYPE (agent_vector, struct ctrl_agent *);

/* A FLUSH waiting for the commit: whose, and its request id. */
struct flusher {
  struct ctrl_agent *agent;
  uint64_t id;
};
DEFINE_VECTOR_TYPE (flusher_vector, struct flusher);

/* Marks of one segment not yet in the store (cbt.c). */
struct cbt_pending {
  uint32_t vdisk;
  uint64_t seg;
  uint32_t n_bytes;
  uint8_t *bits;                /* NULL: an empty slot */
};

/* A write fault answered RETRY(E, MARKED) after the next commit
 * (cbt.c). */
struct cbt_waiter {
  struct ctrl_agent *agent;
  uint64_t id;
  uint32_t vdisk;
  uint64_t seg;
  sm_entry e;
};
DEFINE_VECTOR_TYPE (cbt_waiter_vector, struct cbt_waiter);

/* ctrl_send's result when the command may or may not have been
 * applied (send failed, reply lost, undecodable or not matching). */
#define CTRL_UNKNOWN (-2)

/* A container as the controller sees it: the open file and its
 * free-space map. */
struct ctrl_container {
  struct container *c;
  struct alloc *alloc;
  uint64_t n_segments;          /* physical segments allocated */
  bool unsynced;                /* zeroed since its last sync: the next
                                 * commit syncs it (and only it) first */
  bool failed;                  /* failure.c: its rows show as ERROR */
  bool fail_pending;            /* ctrl_failure_step has not run yet */
  char *failed_why;             /* why, or NULL */
  int64_t failed_at;            /* when (seconds since the epoch) */
  bool unlocked;                /* could not be opened at start-up: C is
                                 * a placeholder, not locked */
};

/* A freed physical segment: zeroed (ZERO: after the commit, by the
 * delete pipeline's worker, controller.c), and given back to the
 * allocator only after the commit that frees it (so an uncommitted free
 * can never be handed to another vdisk). */
struct pending_free {
  uint32_t container;
  uint64_t unit;
  uint32_t units;
  bool zero;                    /* zero it after the commit, not before */
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
  struct ctrl_agent *agent;     /* the agent holding the pool */
  uint32_t vdisk;
  uint32_t container;
  uint32_t units;               /* of one segment */
  struct entry_vector out;      /* out.ptr[head .. out.len): granted, not
                                   reported ALLOCATED yet, in the order
                                   granted (the order the agent uses) */
  size_t head;
};
DEFINE_VECTOR_TYPE (grants_vector, struct vdisk_grants);

/* The copy-on-write copier (cow.c). */
struct cow_copier;

/* The running and paused jobs (jobs.c), by id. */
DEFINE_VECTOR_TYPE (job_vector, struct sm_job);

/* A segment whose data moves (faults-move.c). */
struct ctrl_move;
DEFINE_VECTOR_TYPE (move_vector, struct ctrl_move *);

enum creq_kind { CREQ_FRAME, CREQ_ADMIN, CREQ_CALL, CREQ_STOP };

/* A typed call run on the controller thread (ctrl_call): 0, or -1 with
 * *ERROR set (malloc'd, one sentence). */
typedef int ctrl_call_fn (struct controller *c, void *arg, char **error);

struct snap_wait;
DEFINE_VECTOR_TYPE (snap_wait_vector, struct snap_wait *);

struct creq {
  struct creq *next;
  enum creq_kind kind;
  struct transport *from;       /* CREQ_FRAME: the agent's transport */
  uint8_t *frame;               /* CREQ_FRAME */
  size_t len;
  const char *cmd;              /* CREQ_ADMIN */
  json_object *args;
  json_object *result;
  ctrl_call_fn *fn;             /* CREQ_CALL */
  void *arg;
  int status;
  char *error;                  /* CREQ_ADMIN, CREQ_CALL */
  bool done;                    /* protected by queue_lock */
  pthread_cond_t cond;
};

struct controller {
  const struct segmap_config *cfg;
  struct store *store;
  struct agent_vector agents;   /* registered (agents.c) */
  uint32_t next_agent_id;
  uint64_t next_command_id;     /* commands' ids: unique, never 0 */
  struct ctrl_agent *from;      /* whose request is being handled */

  pthread_t thread;
  bool thread_started;
  pthread_mutex_t queue_lock;   /* protects queue_*, start_* */
  pthread_cond_t queue_cond;
  struct creq *queue_head, *queue_tail;
  struct creq *batch;           /* taken from the queue, not yet handled
                                   (controller thread only) */
  unsigned queued_lazy;         /* ALLOCATED queued without a wake-up */
  bool idle;                    /* waiting with no deadline */
  bool stopping;
  int start_status;             /* 1 starting, 0 ok, -1 failed */
  pthread_cond_t start_cond;

  struct ctrl_container *containers[ENTRY_MAX_CONTAINER + 1];
  uint32_t max_container;       /* highest id ever opened: loops stop there */
  unsigned n_failed;            /* containers failed (failure.c) */
  struct sm_vdisk_info *vdisks; /* cache of the vdisk table */
  size_t n_vdisks;
  struct sm_vdisk_info *deleting;       /* vdisks being deleted (delete.c) */
  size_t n_deleting;
  struct pending_free_vector delete_freed, delete_syncing;
  struct delete_sync *delete_sync;
  uint64_t delete_last_ms;      /* when the last batch was freed */

  bool dirty;                   /* an open transaction has changes */
  struct pending_free_vector frees;
  uint64_t dirty_since_ms;   

  struct flusher_vector flushers; /* FLUSHes waiting for the commit */
  struct cbt_waiter_vector cbt_waiters; /* marks waiting for it (cbt.c) */
  struct cbt_pending *cbt_pending;      /* marks not yet in the store: */
  size_t cbt_pending_cap, cbt_pending_len; /* a hash table (cbt.c) */
  struct grants_vector grants;  /* per vdisk that writes new segments */
  struct move_vector moves;     /* by (vdisk, segment) (faults-move.c) */
  struct cow_copier *cow;       /* copies of moving segments (cow.c) */
  struct creq *admin_req;       /* the admin request being handled */
  struct snap_wait_vector snap_waits;   /* parked creates (snapshot.c) */
  struct job_vector jobs;       /* running and paused jobs (jobs.c) */

  bool degraded;                /* sync or commit failed: no writes */
  bool no_delegation;           /* writes to moving segments as orders
                                   only, never DELEGATE (tests) */
  time_t started;

  _Atomic uint64_t commits, allocations, faults, frees_total;
};

/* controller.c */
int ctrl_change (struct controller *c);
int ctrl_commit (struct controller *c, bool sync_data);
void ctrl_set_degraded (struct controller *c, const char *why);
/* Handle now the ALLOCATED, MARK and MOVED frames of VDISK still queued: after a
 * QUIESCE, those of the writes it drained, before a command replaces
 * the vdisk's map. */
void ctrl_take_allocated (struct controller *c, uint32_t vdisk);

/* agents.c.  Send M to agent AG.  A command (msg_is_command) gets a
 * fresh id and its REPLY is matched to it: 0 and *REPLY (if not NULL;
 * caller msg_clear()s it), -1 with errno = the agent's refusal status,
 * or CTRL_UNKNOWN (logged) when it may or may not have been applied.
 * An answer to a request keeps M->id: 0, or CTRL_UNKNOWN. */
int ctrl_send (struct controller *c, struct ctrl_agent *ag, struct msg *m,
               struct msg *reply);
/* Send command M to every agent: 0, -1 (a refusal, errno) or
 * CTRL_UNKNOWN (at least one unknown; wins over a refusal). */
int ctrl_broadcast (struct controller *c, struct msg *m);
/* The same, counting a refusal with OK_ERRNO (e.g. ENOENT: the agent
 * has no such thing) as done. */
int ctrl_broadcast_except (struct controller *c, struct msg *m,
                           int ok_errno);
/* QUIESCE (ON: new I/O waits, in-flight I/O drains, at most
 * CTRL_QUIESCE_TIMEOUT_MS) or ACTIVATE the N vdisks IDS at every
 * agent.  0 or -1 (a quiesce that failed must still be activated). */
#define CTRL_QUIESCE_TIMEOUT_MS 10000
int ctrl_quiesce (struct controller *c, uint32_t *ids, size_t n, bool on);
/* Handle REGISTER from transport TR (the request REQ): check the
 * version, bring the agent up (containers, tables, mode) and answer. */
void ctrl_register_agent (struct controller *c, struct transport *tr,
                          struct msg *req);
struct ctrl_agent *ctrl_agent_of (struct controller *c,
                                  struct transport *tr);
void ctrl_free_agents (struct controller *c);
/* CONTAINER_ATTACH of CC to AG (ALL: every agent).  As ctrl_send. */
int ctrl_attach_container (struct controller *c, struct ctrl_agent *ag,
                           const struct ctrl_container *cc);
/* Fence vdisk V read-only (stored, logged at error level): a command's
 * outcome is unknown or an allocation could not be accounted for. */
void ctrl_fence_vdisk (struct controller *c, struct sm_vdisk_info *v,
                       const char *why);
int ctrl_sync_containers (struct controller *c);
/* From any thread but the controller's: run FN (ARG) on the controller
 * thread, in queue order, and wait.  0, or -1 after sm_error on the
 * calling thread with FN's sentence. */
int ctrl_call (struct controller *c, ctrl_call_fn *fn, void *arg);

/* failure.c: failed containers (design note there). */
bool ctrl_container_is_failed (const struct controller *c, uint32_t id);
/* Fail container ID (no-op if it is failed or unknown): WHAT failed
 * with ERR. */
void ctrl_container_fail (struct controller *c, uint32_t id, int err,
                          const char *what);
/* The same for handle H (NULL: nothing) if ERR says the storage is
 * failing (container_error_is_failure); other errors are the caller's. */
void ctrl_container_failed_io (struct controller *c,
                               const struct container *h, int err,
                               const char *what);
/* The controller loop, after each batch: tell the agents of the
 * containers failed since (record, recall, forget, detach). */
void ctrl_failure_step (struct controller *c);
/* ENTRIES[0..COUNT) (rows FIRST.. of VDISK, as a RETRY shows them):
 * those on a failed container become ERROR entries. */
void ctrl_failed_overlay (struct controller *c, uint32_t vdisk,
                          uint64_t first, uint32_t count, sm_entry *entries);
/* A READ or WRITE fault on one segment, on a failed container:
 * answered (RETRY with its ERROR entry), true.  Else false. */
bool ctrl_failed_fault (struct controller *c, struct msg *req);
/* Bring failed container CC back: 0, or -1 with *ERROR (malloc'd). */
int ctrl_container_online (struct controller *c, struct ctrl_container *cc,
                           char **error);

/* startup.c */
int ctrl_startup (struct controller *c);
int ctrl_reload_vdisks (struct controller *c);
int ctrl_open_container (struct controller *c, const struct sm_container_info *ci);
/* Zero every free range of CC through handle H (CC's own, or a new one
 * about to replace it).  0, or non-zero on failure. */
int ctrl_zero_free (struct ctrl_container *cc, struct container *h);
void ctrl_close_containers (struct controller *c);
struct sm_vdisk_info *ctrl_find_vdisk (struct controller *c, uint32_t id);
struct sm_vdisk_info *ctrl_find_vdisk_by_name (struct controller *c,
                                               const char *name);
/* NEW_TABLE to AG, or to every agent if AG is NULL.  0 or -1. */
int ctrl_announce_vdisk (struct controller *c, struct ctrl_agent *ag,
                         const struct sm_vdisk_info *v);

/* faults.c */
void ctrl_handle_frame (struct controller *c, struct transport *from,
                        const uint8_t *frame, size_t len);
int ctrl_free_vdisk_range (struct controller *c,
                           const struct sm_vdisk_info *v,
                           uint64_t first, uint64_t count);
/* After each batch of requests: top up the grant pools of the vdisks
 * that write new segments; release those of deleted vdisks. */
void ctrl_refill_grants (struct controller *c);
/* Zero and release every outstanding grant (shutdown). */
void ctrl_release_grants (struct controller *c);
/* The same for the pools of VDISK, whose agent tables were dropped. */
void ctrl_drop_grants (struct controller *c, uint32_t vdisk);
/* Answer an agent's request (FAIL EIO if the answer cannot be sent). */
void ctrl_answer (struct controller *c, struct msg *m);
/* Drop one reference to the segment at E (UNITS units), in the open
 * transaction; with the last, zero it and give it to the allocator
 * after the commit.  0 or -1. */
int ctrl_unref_segment (struct controller *c, sm_entry e, uint32_t units);

/* faults-move.c: the registry of data movements (design note there).
 * Each 0, or -1 with errno. */
enum move_block {
  MOVE_BLOCK_ORIG,              /* its data is at orig */
  MOVE_BLOCK_ALT,               /* at alt (copied or written there) */
  MOVE_BLOCK_WRITING,           /* a redirected write is putting it at alt */
};
const char *move_block_to_string (enum move_block b);
/* SEG of VDISK starts moving from ORIG (where the store maps it: a
 * location, or ZERO) to ALT (a plain location, which the caller took
 * from the container's allocator: used there, not in the store);
 * REDIRECT: host writes go to alt, else they wait for the end.  The
 * movement is recorded in the open transaction with ALT's segment row,
 * whose reference is the movement's; the agent's entry becomes NOWRITE
 * (blocking), unless ORIG carries NOWRITE (the stored row is no-write
 * already, and so are the agents' entries).  EEXIST, EINVAL (also: ORIG is not the stored entry),
 * ENOMEM, EIO (degraded, or the agent did not take it); on failure the
 * caller gives ALT back to the allocator. */
int ctrl_move_begin (struct controller *c, uint32_t vdisk, uint64_t seg,
                     sm_entry orig, sm_entry alt, bool redirect);
/* Blocks [FIRST, FIRST+N) were copied to alt: marked, and recorded in
 * the open transaction.  EBUSY if a redirected write is writing one of
 * them (nothing marked), ENOENT, EINVAL, EIO (the store failed: the
 * controller is degraded). */
int ctrl_move_mark (struct controller *c, uint32_t vdisk, uint64_t seg,
                    uint64_t first, uint64_t n);
/* Where BLOCK's data is.  ENOENT (no movement), EINVAL. */
int ctrl_move_query (struct controller *c, uint32_t vdisk, uint64_t seg,
                     uint64_t block, enum move_block *where);
/* End the movement: its row goes in the open transaction and its
 * waiting faults are queued again.  KEEP_ALT: the movement's reference
 * to alt passes to the caller, who maps alt in the same turn; else it
 * is dropped (alt zeroed and freed after the commit).  EBUSY while an
 * order is outstanding, ENOENT, EIO (the store failed: degraded).  See
 * the design note for what the caller does in the same turn. */
int ctrl_move_end (struct controller *c, uint32_t vdisk, uint64_t seg,
                   bool keep_alt);
/* End every movement of VDISK (being deleted), dropping alt: how many
 * are left because an order is outstanding (try again later), or -1. */
int ctrl_move_end_vdisk (struct controller *c, uint32_t vdisk);
/* Start-up: register every stored movement (nothing busy, no orders;
 * alt shown if a block is at alt).  0 or -1. */
int ctrl_move_load (struct controller *c);
struct ctrl_move *ctrl_move_find (struct controller *c, uint32_t vdisk,
                                  uint64_t seg);
void ctrl_move_free_all (struct controller *c);
/* Hooks for faults.c: answer a READ/WRITE fault on a moving segment
 * (true if it did); add NOWRITE/ALT to loaded entries of moving
 * segments; handle IO_DONE. */
bool ctrl_move_fault (struct controller *c, struct msg *req);
void ctrl_move_overlay (struct controller *c, uint32_t vdisk, uint64_t first,
                        uint32_t count, sm_entry *entries);
/* A run of N zero segments from FIRST, cut at the first moving one. */
uint64_t ctrl_move_zero_run (struct controller *c, uint32_t vdisk,
                             uint64_t first, uint64_t n);
void ctrl_move_io_done (struct controller *c, struct msg *req);
/* Take back every delegated movement of VDISK, so that the store knows
 * every block its agents wrote (a diff of the live vdisk).  0, or -1
 * (the vdisk is fenced). */
int ctrl_move_take_back_vdisk (struct controller *c, uint32_t vdisk);
/* Is SEG of VDISK moving?  Then true, with its locations in *ORIG and
 * *ALT. */
bool ctrl_move_locations (struct controller *c, uint32_t vdisk, uint64_t seg,
                          sm_entry *orig, sm_entry *alt);
/* MOVED: blocks an agent wrote at alt under a delegation. */
void ctrl_move_moved (struct controller *c, struct msg *req);
/* M was sent to an agent (ctrl_send; R: what deliver returned): a
 * successful command that ends delegations (REVOKE, SET_ENTRY,
 * SET_STATUS, QUIESCE, DELETE_TABLE) clears them here, and the MOVED
 * frames its drop queued are handled at once. */
void ctrl_move_commanded (struct controller *c, const struct msg *m, int r);
/* A copy of blocks from orig to alt that the controller runs (cow.c):
 * BLOCKS (N_BYTES bytes, malloc'd: the caller frees) are held as an
 * order, so no redirected write touches them and the movement cannot
 * end, until ctrl_move_copied. */
struct move_copy {
  uint32_t vdisk;
  uint64_t seg;
  sm_entry orig, alt;
  uint8_t *blocks;
  uint32_t n_bytes;
};
/* Claim every block at orig not held by an order, of the first movement
 * that has some and no copy running: 1 and *OUT, 0 if none, -1 ENOMEM. */
int ctrl_move_claim_copy (struct controller *c, struct move_copy *out);
/* The copy CP finished (OK: the blocks are at alt, durably): marked in
 * the open transaction, released either way, waiting writes queued
 * again.  ENOENT, or EIO (the store failed: degraded). */
int ctrl_move_copied (struct controller *c, const struct move_copy *cp,
                      bool ok);
/* The worker has written CP's blocks at alt (not yet synced): they are
 * no longer busy, so redirected writes may overwrite them (and are
 * marked themselves), and the movement may be delegated again (those
 * blocks read the same at orig); the copy stays an order until
 * ctrl_move_copied marks the blocks. */
void ctrl_move_copy_written (struct controller *c, const struct move_copy *cp);
/* The first movement with every block at alt and no order outstanding:
 * 1 and *OUT (no blocks), or 0. */
int ctrl_move_next_complete (struct controller *c, struct move_copy *out);
bool ctrl_move_any (const struct controller *c);

/* Redirected and delegated writes' marks are stored only once a sync
 * of alt's container covers their data (faults-move.c, written_at_alt).
 * settle_marks: sync the alt container of every movement with such
 * marks (on this thread) and store them: before a FLUSH's commit and a clean stop's; 0 or -1
 * (degraded).  settle_due: a movement has every block at alt but some
 * not stored (it cannot end before a settle).  cover: the copier's
 * batch closed and its worker will sync the containers SYNCED[0..N-1]:
 * remember the marks its sync covers; covered: that sync is done (OK)
 * or failed: store them, or forget them.  0 or -1 (degraded). */
int ctrl_move_settle_marks (struct controller *c);
bool ctrl_move_settle_due (const struct controller *c);
void ctrl_move_cover (struct controller *c, const uint32_t *synced,
                      size_t n);
int ctrl_move_covered (struct controller *c, bool ok);
/* Grants outstanding in the pools of AG. */
uint64_t ctrl_grants_of_agent (struct controller *c,
                               const struct ctrl_agent *ag);

/* delete.c: vdisks deleted a batch at a time (see there), at most one
 * batch per DELETE_PACE_MS, busy or idle: every freed segment is a
 * punched hole, and the file system's journal commits that carry them
 * stall every other write to it when they come faster (500 segments a
 * second: a fully written 10 GiB vdisk of 1 MiB segments in about 30 s). */
#define DELETE_PACE_MS 16
int ctrl_delete_start (struct controller *c, uint32_t id);
int ctrl_delete_resume (struct controller *c);
bool ctrl_delete_pending (const struct controller *c);
void ctrl_delete_step (struct controller *c);
/* Units of CONTAINER freed by deletes, not yet back in the allocator. */
uint64_t ctrl_delete_units_held (const struct controller *c,
                                 uint32_t container);
/* Wait for the sync thread (shutdown). */
void ctrl_delete_stop (struct controller *c);

/* cow.c: copy-on-write (design note there).  ctrl_cow_fault answers or
 * prepares a write fault on a shared no-write row (true if answered);
 * ctrl_cow_step runs the copier after each batch of requests;
 * ctrl_cow_pending: the copier has work it has not started; stop waits
 * for a copy in flight (shutdown). */
bool ctrl_cow_fault (struct controller *c, struct msg *req);
/* Begin the copy-on-write of SEG of V, whose stored row ROW is shared:
 * a new segment from V's container, a redirected movement.  0 or an
 * errno (ENOSPC: the container is full). */
int ctrl_cow_begin (struct controller *c, const struct sm_vdisk_info *v,
                    uint64_t seg, sm_entry row);
void ctrl_cow_step (struct controller *c);
bool ctrl_cow_pending (const struct controller *c);
void ctrl_cow_stop (struct controller *c);

/* jobs.c: background jobs (design note there).  load at start-up;
 * step after each batch of requests; pending: a job is running (the
 * loop then waits at most DELETE_PACE_MS). */
int ctrl_job_load (struct controller *c);
void ctrl_job_step (struct controller *c);
bool ctrl_job_pending (const struct controller *c);
void ctrl_job_free_all (struct controller *c);
/* The running or paused job of VDISK, or NULL. */
struct sm_job *ctrl_job_of_vdisk (struct controller *c, uint32_t vdisk);
/* Record new job J (kind, vdisk, name, total) running, commit,
 * and register it.  0, or -1 with *ERROR. */
int ctrl_job_start (struct controller *c, struct sm_job *j, char **error);

/* How many segments V's size spans. */
static inline uint64_t
ctrl_vdisk_segments (const struct sm_vdisk_info *v)
{
  return (v->size + (UINT64_C(1) << v->seg_shift) - 1) >> v->seg_shift;
}

/* How many movements have their old or new location on CONTAINER. */
unsigned ctrl_move_count_on (const struct controller *c, uint32_t container);

/* How many segments of V are moving (copy-on-write, flatten or
 * migration). */
unsigned ctrl_vdisk_moving (struct controller *c,
                            const struct sm_vdisk_info *v);

/* jobs.c.  The walk of a job that moves segments (flatten, migrate):
 * from J's cursor, each row NEXT finds (1 with *SEG, 0 none, -1) that
 * is not moving already begins a movement to V's container (a
 * copy-on-write's, cow.c), while fewer than INFLIGHT of V's segments
 * move and MAY_BEGIN (if set) allows one of SEG_BYTES more; J's cursor
 * and DONE follow.  1 when the walk is at V's end with nothing of V
 * moving (the job may be complete), 0 to go on later, or -1 with *ERROR
 * (the cursor stays: a resume retries). */
struct job_walk {
  int (*next) (struct controller *c, const struct sm_vdisk_info *v,
               uint64_t from, uint64_t *seg);
  unsigned inflight;
  bool (*may_begin) (struct sm_job *j, uint64_t seg_bytes);
};
int ctrl_job_walk (struct controller *c, struct sm_job *j,
                   const struct sm_vdisk_info *v, const struct job_walk *w,
                   char **error);
/* The vdisk NAME if a job may start on it (it exists, is no snapshot,
 * takes writes and has no job); NULL with *ERROR. */
const struct sm_vdisk_info *ctrl_job_vdisk (struct controller *c,
                                            const char *name, char **error);

/* faults.c: RECALL the unused grants of every pool on container CID
 * (it is full): the agents give back what they have not used, never
 * written, so it goes straight back to the allocator.  How many came
 * back. */
uint32_t ctrl_recall_grants (struct controller *c, uint32_t cid);

/* placement.c: where V's new segments go.  pool_alloc: take a segment
 * for SEG from the pool (its first choice, else the next with room)
 * into *E (plain), 0 or an errno; place_grants: the container grants
 * come from (0: none, a spread pool allocates at each fault); pool_has:
 * is CONTAINER in V's pool; placed: may SEG stay on CONTAINER (a
 * migration leaves it); allocate_segment: a new segment for the ZERO
 * row SEG, recorded in the open transaction with FLAGS: its entry, or 0
 * with *ERR. */
int ctrl_pool_alloc (struct controller *c, const struct sm_vdisk_info *v,
                     uint64_t seg, sm_entry *e);
uint32_t ctrl_place_grants (struct controller *c,
                            const struct sm_vdisk_info *v);
bool ctrl_pool_has (const struct sm_vdisk_info *v, uint32_t container);
bool ctrl_placed (struct controller *c, const struct sm_vdisk_info *v,
                  uint64_t seg, uint32_t container);
sm_entry ctrl_allocate_segment (struct controller *c,
                                const struct sm_vdisk_info *v, uint64_t seg,
                                sm_entry flags, int *err);

/* evacuate.c: one step of evacuation job J (1 done, 0 more, -1 with
 * *ERROR); after an evacuation ended, the store's location index goes
 * if no other one runs; is container ID being evacuated? */
int ctrl_evacuate_step (struct controller *c, struct sm_job *j,
                        char **error);
void ctrl_evacuate_ended (struct controller *c);
bool ctrl_container_evacuating (const struct controller *c, uint32_t id);

/* migrate.c.  One step of migrate job J (running, its vdisk live): 1
 * complete, 0 not yet, -1 failed with *ERROR. */
int ctrl_migrate_step (struct controller *c, struct sm_job *j,
                       char **error);

/* flatten.c.  One step of flatten job J (running, its vdisk live): 1
 * when it is complete, 0 to carry on later, -1 with *ERROR (malloc'd)
 * when it failed.  Progress and cursor are updated in J (the caller
 * stores them). */
int ctrl_flatten_step (struct controller *c, struct sm_job *j,
                       char **error);
/* cbt.c: changed-block tracking (a vdisk is tracked when it has a base
 * snapshot).  note: mark BLOCKS of SEG in the open transaction if VDISK is tracked
 * (0, or -1: degraded); note_segment: every block.  fault: a write
 * fault of a tracked vdisk (true if answered or queued).  answer: after
 * the batch's commit (STATUS 0) or its failure. */
int ctrl_cbt_note (struct controller *c, uint32_t vdisk, uint64_t seg,
                   const uint8_t *blocks, uint32_t n_bytes);
int ctrl_cbt_note_segment (struct controller *c, uint32_t vdisk,
                           uint64_t seg);
/* note_later: the same, gathered in memory (c->cbt_pending) first;
 * for the agents' reports (MARK, MOVED, IO_DONE), which are many. */
int ctrl_cbt_note_later (struct controller *c, uint32_t vdisk, uint64_t seg,
                         const uint8_t *blocks, uint32_t n_bytes);
/* Marks noted later gather in memory (c->cbt_pending) until flush writes
 * them to the store, in the open transaction: ctrl_commit does, and
 * so must anything about to read stored marks.  0, or -1 (degraded).
 * pending_free: at shutdown, after the last commit. */
int ctrl_cbt_flush (struct controller *c);
void ctrl_cbt_pending_free (struct controller *c);
bool ctrl_cbt_fault (struct controller *c, struct msg *req);
/* MARK: blocks of an open segment an agent writes in place.  recover:
 * start-up: close the open segments, after an unclean stop first marking
 * their unmarked blocks that differ from the base.  0 or -1. */
int ctrl_cbt_recover (struct controller *c, bool was_clean);
void ctrl_cbt_mark (struct controller *c, struct msg *req);
/* diff.c: the byte ranges changed from snapshot FROM to TO (a snapshot
 * or vdisk of the same base tree), (offset, length) pairs in *RANGES
 * (malloc'd; *N_WORDS words).  0, or -1 with *ERROR.  answer: GET_DIFF
 * -> DIFF. */
int ctrl_diff_ranges (struct controller *c, uint32_t from, uint32_t to,
                      uint64_t **ranges, uint32_t *n_words, char **error);
void ctrl_diff_answer (struct controller *c, struct msg *req);
/* faults.c: take VDISK's unused grants back from its agents (it became
 * tracked: its first writes are allocated by faults from now on). */
void ctrl_recall_vdisk_grants (struct controller *c, uint32_t vdisk);
bool ctrl_cbt_waiting (const struct controller *c);
void ctrl_cbt_answer (struct controller *c, int status);

/* admin.c */
json_object *ctrl_admin (struct controller *c, const char *cmd,
                         json_object *args, char **error);
/* controller.c: a handler that cannot answer in this turn parks its
 * request (ctrl_admin_park: it then returns NULL with no error) and
 * answers it later, exactly once, with ctrl_admin_finish (RESULT, or
 * NULL and ERROR, malloc'd: both owned by the request from then on). */
struct creq *ctrl_admin_park (struct controller *c);
void ctrl_admin_finish (struct controller *c, struct creq *r,
                        json_object *result, char *error);

/* snapshot.c: snapshot creates waiting, quiesced, for copy-on-write of
 * their vdisks to finish; after each batch (step), at a stop (stop:
 * each fails and its vdisks are activated again). */
bool ctrl_snapshot_waiting (const struct controller *c);
bool ctrl_snapshot_waits_for (const struct controller *c, uint32_t vdisk);
void ctrl_snapshot_step (struct controller *c);
void ctrl_snapshot_stop (struct controller *c);
/* Sum of every agent's GET_STATS counters into COUNTERS[MSG_STAT_COUNT];
 * returns how many agents answered. */
unsigned ctrl_agent_stats (struct controller *c, struct ctrl_agent *only,
                           uint64_t *counters);

/* check.c */
int ctrl_check (struct controller *c, json_object *problems,
                json_object *checked);

#endif /* SEGMAP_CONTROLLER_INTERNAL_H */
