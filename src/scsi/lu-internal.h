/* segmap: what the files of the SCSI logical unit share (lu.c, exec*.c,
 * gate.c, pr*.c, reserve.c).  Not for use outside src/scsi/.
 *
 * Locks and what they protect:
 *   lu->lock     the nexus list, every nexus's port / name, the mode
 *                page values, the SPC-2 reservation, the persistent
 *                reservation state, the target ports.  Never held
 *                across data I/O (the persistent reservation store's
 *                save is the exception: PR OUT is serialised by it).
 *   gate.lock    the locked-range list of the atomicity gate (gate.c).
 * Atomics read without a lock on the fast path:
 *   itl->ua          bit set of pending unit attentions (enum lu_ua)
 *   lu->nblocks      capacity (scsi_lu_set_size may change it)
 *   lu->wce, lu->d_sense   mode page bits used on every command
 *   lu->res_active   an SPC-2 reservation or a PR registration exists,
 *                    so commands must take lu->lock to check conflicts
 *   gate.inflight, gate.atomic_pending   (gate.c)
 */
#ifndef SEGMAP_SCSI_LU_INTERNAL_H
#define SEGMAP_SCSI_LU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/be.h"
#include "scsi/cdb.h"
#include "scsi/lu.h"
#include "scsi/sense.h"

/*----------------------------------------------------------------------
 * Limits advertised in VPD 0xB0 and enforced by the CDB decoder.
 */
#define LU_MAX_XFER_BYTES          (UINT32_C (8) << 20)  /* 8 MiB */
/* UNMAP: 512 MiB per command (at most 2^20 blocks of 512 bytes, what
 * initiators such as libiscsi's test suite expect at most). */
#define LU_MAX_UNMAP_BYTES         (UINT64_C (1) << 29)
#define LU_MAX_UNMAP_DESCRIPTORS   256
/* WRITE SAME: 16 MiB, so that a pattern write is 16 backend calls. */
#define LU_MAX_WRITE_SAME_BYTES    (UINT64_C (1) << 24)
#define LU_MAX_COMPARE_WRITE_BLOCKS 255
#define LU_MAX_ATOMIC_BLOCKS       256
#define LU_ATOMIC_ALIGNMENT        1
#define LU_ATOMIC_GRANULARITY      1
/* PRE-FETCH answers CONDITION MET when the range would fit this. */
#define LU_PREFETCH_FIT_BYTES      LU_MAX_XFER_BYTES
/* Bounce buffers (VERIFY, WRITE SAME pattern, GET LBA STATUS). */
#define LU_CHUNK_BYTES             (UINT32_C (1) << 20)

/*----------------------------------------------------------------------
 * Unit attentions, highest priority first (SAM-5 §5.14: the 29h
 * conditions outrank the others).
 */
enum lu_ua {
  UA_POWER_ON,                  /* 29h/00h */
  UA_BUS_DEVICE_RESET,          /* 29h/03h */
  UA_RESERVATIONS_PREEMPTED,    /* 2Ah/03h */
  UA_RESERVATIONS_RELEASED,     /* 2Ah/04h */
  UA_REGISTRATIONS_PREEMPTED,   /* 2Ah/05h */
  UA_MODE_PARAMETERS_CHANGED,   /* 2Ah/01h */
  UA_CAPACITY_CHANGED,          /* 2Ah/09h */
  UA_COMMANDS_CLEARED,          /* 2Fh/00h */
  UA_COUNT
};

const char *lu_ua_to_string (enum lu_ua ua);
uint16_t lu_ua_asc (enum lu_ua ua);

/*----------------------------------------------------------------------
 * Persistent reservations (pr.c, pr-codec.c).
 */
struct pr_reg {
  char *initiator;              /* SCSI initiator port name */
  uint16_t port;                /* relative target port id */
  uint64_t key;
  bool all_tg_pt;               /* registered with ALL_TG_PT */
};

enum pr_type {
  PR_NONE = 0,
  PR_WRITE_EXCLUSIVE = 1,
  PR_EXCLUSIVE_ACCESS = 3,
  PR_WRITE_EXCLUSIVE_RO = 5,    /* registrants only */
  PR_EXCLUSIVE_ACCESS_RO = 6,
  PR_WRITE_EXCLUSIVE_AR = 7,    /* all registrants */
  PR_EXCLUSIVE_ACCESS_AR = 8,
};

struct pr_state {
  uint32_t generation;
  struct pr_reg *regs;
  size_t n_regs;
  uint8_t type;                 /* enum pr_type, PR_NONE: no reservation */
  uint8_t scope;                /* always 0 (LU_SCOPE) */
  char *holder;                 /* the holder's initiator port name... */
  uint16_t holder_port;         /* ...and target port (RO types; for
                                 * AR types every registrant holds) */
  bool aptpl;                   /* last APTPL bit received */
};

const char *pr_type_to_string (uint8_t type);
bool pr_type_all_registrants (uint8_t type);
void pr_state_clear (struct pr_state *st);
/* pr-codec.c: the saved blob.  Encode returns a malloc'd buffer (NULL
 * with sm_error); decode returns 0, or -1 with sm_error when the blob
 * is malformed (ST is then left empty). */
void *pr_encode (const struct pr_state *st, size_t *len);
int pr_decode (const void *blob, size_t len, struct pr_state *st);

/*----------------------------------------------------------------------
 * The atomicity gate (gate.c).
 */
struct gate_range {
  uint64_t lba, nblocks;
  struct gate_range *next;
};

struct gate {
  atomic_uint inflight;         /* ordinary commands on the fast path */
  atomic_uint atomic_pending;   /* atomic commands announced */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct gate_range *ranges;    /* locked ranges (protected by lock) */
};

/* How a command passed the gate, for gate_leave. */
struct gate_ticket {
  bool slow;                    /* holds RANGE in the list */
  struct gate_range range;
};

void gate_init (struct gate *g);
void gate_destroy (struct gate *g);
/* An ordinary command on [LBA, LBA + N): lock-free unless an atomic
 * command is pending, then it waits for and locks its range. */
void gate_enter (struct gate *g, uint64_t lba, uint64_t n,
                 struct gate_ticket *t);
/* An atomic command: excludes every other command on its range. */
void gate_enter_atomic (struct gate *g, uint64_t lba, uint64_t n,
                        struct gate_ticket *t);
void gate_leave (struct gate *g, struct gate_ticket *t);
void gate_leave_atomic (struct gate *g, struct gate_ticket *t);

/*----------------------------------------------------------------------
 * The logical unit and its nexuses.
 */
struct scsi_itl {
  struct scsi_lu *lu;
  char *initiator;              /* SCSI initiator port name */
  uint16_t port;                /* relative target port id */
  atomic_uint ua;               /* 1 << enum lu_ua, pending */
  struct scsi_itl *next;        /* protected by lu->lock */
};

struct lu_port {
  uint16_t relative_port_id;
  uint16_t port_group;
  char *name;
};

/* The mode page values that can change (MODE SELECT). */
struct lu_mode {
  bool wce;                     /* caching: write cache enabled */
  bool d_sense;                 /* control: descriptor format sense */
  uint8_t tst;                  /* control: task set type */
  uint8_t qerr;                 /* control: queue error management */
  bool swp;                     /* control: software write protect */
};

struct scsi_lu {
  char *name, *serial;
  uint32_t block_size;
  uint32_t optimal_granularity;
  uint64_t naa, naa_ext;
  bool thin;
  _Atomic uint64_t nblocks;
  const struct scsi_backend_ops *ops;
  void *h;
  const struct scsi_pr_store_ops *pr_ops;
  void *pr_h;

  pthread_mutex_t lock;
  struct scsi_itl *nexuses;     /* protected by lock */
  struct lu_port *ports;        /* protected by lock */
  size_t n_ports;
  struct lu_mode mode;          /* protected by lock */
  atomic_bool wce, d_sense, swp;  /* copies of the mode page bits */
  struct scsi_itl *spc2_holder; /* protected by lock */
  struct pr_state pr;           /* protected by lock */
  atomic_bool res_active;

  struct gate gate;
};

/* lu.c.  The _locked functions need lu->lock. */
void lu_ua_raise (struct scsi_itl *itl, enum lu_ua ua);
/* Every nexus but EXCEPT (may be NULL). */
void lu_ua_raise_all_locked (struct scsi_lu *lu, enum lu_ua ua,
                             const struct scsi_itl *except);
/* Every nexus of INITIATOR through PORT. */
void lu_ua_raise_nexus_locked (struct scsi_lu *lu, const char *initiator,
                               uint16_t port, enum lu_ua ua);
/* Take the highest-priority pending unit attention: false if none. */
bool lu_ua_take (struct scsi_itl *itl, enum lu_ua *ua);
void lu_update_res_active_locked (struct scsi_lu *lu);
void lu_mode_defaults (struct lu_mode *m);
void lu_mode_publish_locked (struct scsi_lu *lu);
const struct lu_port *lu_find_port_locked (const struct scsi_lu *lu,
                                           uint16_t relative_port_id);
uint64_t lu_nblocks (const struct scsi_lu *lu);
/* Writes are refused: software write protect (SWP) or a medium the
 * backend says is read-only.  SWP is the mode page's own bit. */
bool lu_write_protected (struct scsi_lu *lu);

/*----------------------------------------------------------------------
 * Command execution (exec.c and the exec-*.c families).
 */
struct exec {
  struct scsi_lu *lu;
  struct scsi_itl *itl;
  struct scsi_task *task;
  struct scsi_cdb c;
  struct scsi_lu_limits lim;
};

typedef void (*exec_fn) (struct exec *x);

/* Results.  Every handler ends with exactly one of these. */
void exec_good (struct exec *x);
void exec_status (struct exec *x, uint8_t status);
void exec_sense (struct exec *x, const struct scsi_sense *s);
void exec_check (struct exec *x, uint8_t key, uint16_t asc);
void exec_bad_cdb (struct exec *x, uint16_t byte, int bit);
void exec_bad_param (struct exec *x, uint16_t byte, int bit);
void exec_conflict (struct exec *x);
/* A backend call failed with ERR: the sense SBC wants for it. */
void exec_errno (struct exec *x, int err, bool writing);
/* Data-In of LEN bytes (truncated to the allocation length and the
 * transport's room), GOOD. */
void exec_reply (struct exec *x, const void *buf, size_t len);
/* Data-Out is at least LEN bytes; otherwise fails the command. */
bool exec_need_data_out (struct exec *x, uint64_t len);
/* Writes go to the backend with FUA when asked or when WCE=0. */
bool exec_fua (const struct exec *x);

/* Where the command's LBA range starts on the backend, and how many
 * bytes it spans (the CDB checks bound both). */
static inline uint64_t
exec_byte_offset (const struct exec *x)
{
  return x->c.lba * x->lu->block_size;
}

static inline uint32_t
exec_byte_count (const struct exec *x)
{
  return (uint32_t) x->c.nblocks * x->lu->block_size;
}

static inline void
put_be16 (uint8_t *p, uint16_t v)
{
  put_be (p, 2, v);
}

static inline void
put_be32 (uint8_t *p, uint32_t v)
{
  put_be (p, 4, v);
}

static inline void
put_be64 (uint8_t *p, uint64_t v)
{
  put_be (p, 8, v);
}

/* exec-inquiry.c */
void exec_inquiry (struct exec *x);
/* exec-rw.c */
void exec_read (struct exec *x);
void exec_write (struct exec *x);
void exec_verify (struct exec *x);
void exec_write_verify (struct exec *x);
void exec_pre_fetch (struct exec *x);
void exec_sync_cache (struct exec *x);
/* Compare LEN bytes of A (the medium) and B: the offset of the first
 * difference, or -1. */
int64_t exec_first_difference (const uint8_t *a, const uint8_t *b,
                               size_t len);
/* MISCOMPARE DURING VERIFY OPERATION, INFORMATION = OFFSET. */
void exec_miscompare (struct exec *x, uint64_t offset);
/* exec-provision.c */
void exec_read_capacity10 (struct exec *x);
void exec_read_capacity16 (struct exec *x);
void exec_get_lba_status (struct exec *x);
void exec_unmap (struct exec *x);
void exec_write_same (struct exec *x);
/* exec-atomic.c */
void exec_compare_and_write (struct exec *x);
void exec_write_atomic (struct exec *x);
/* exec-mode.c */
void exec_mode_sense (struct exec *x);
void exec_mode_select (struct exec *x);
/* exec-report.c */
void exec_test_unit_ready (struct exec *x);
void exec_request_sense (struct exec *x);
void exec_report_luns (struct exec *x);
void exec_report_opcodes (struct exec *x);
void exec_report_port_groups (struct exec *x);
/* pr.c */
void exec_pr_in (struct exec *x);
void exec_pr_out (struct exec *x);
/* Load the saved state (scsi_lu_new): 0, or -1 with sm_error. */
int pr_load (struct scsi_lu *lu);
/* reserve.c */
void exec_reserve (struct exec *x);
void exec_release (struct exec *x);

/* Reservation classes of commands (SPC-4 §5.13.1 tables). */
enum res_class {
  RES_ALLOW,                    /* never conflicts (INQUIRY, TUR...) */
  RES_READ,                     /* reads the medium */
  RES_WRITE,                    /* modifies the medium or the LU */
  RES_MODE_SENSE,               /* allowed under write exclusive */
  RES_SPC2,                     /* RESERVE / RELEASE */
  RES_PR,                       /* PERSISTENT RESERVE IN / OUT */
};

/* reserve.c: does X conflict with a reservation?  Needs lu->lock. */
bool res_conflicts_locked (struct exec *x, enum res_class cls);
/* pr.c: is the nexus registered / does it conflict with the PR? */
bool pr_registered_locked (const struct pr_state *st, const char *initiator,
                           uint16_t port);
bool pr_conflicts_locked (const struct scsi_lu *lu,
                          const struct scsi_itl *itl, enum res_class cls);

/* exec.c: the command table, for REPORT SUPPORTED OPERATION CODES. */
struct exec_entry {
  uint8_t opcode, sa;           /* sa: SCSI_SA_NONE if none */
  uint8_t flags;                /* EXEC_* */
  uint8_t res;                  /* enum res_class */
  exec_fn fn;
};
#define EXEC_UA_EXEMPT 0x01     /* INQUIRY, REPORT LUNS, REQUEST SENSE */
#define EXEC_HAS_SA    0x02     /* service action in byte 1 */
#define EXEC_WRITES    0x04     /* changes the medium: refused under SWP */

const struct exec_entry *exec_entries (size_t *n);

#endif /* SEGMAP_SCSI_LU_INTERNAL_H */
