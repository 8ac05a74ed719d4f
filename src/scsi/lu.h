/* segmap: a SCSI logical unit (SPC-4 / SBC-3/4 block device) executing
 * commands on a backend.
 *
 * The iSCSI target hands each SCSI command, once all its Data-Out has
 * arrived, to scsi_lu_execute().  The logical unit decodes the CDB
 * (scsi/cdb.h), checks unit attentions and reservations, runs the
 * command on its backend (in segmap: the mapping agent, through struct
 * scsi_backend_ops) and fills in the status, the sense data and the
 * Data-In bytes.  It knows nothing of iSCSI: the transport owns PDUs,
 * sequencing, R2T and task management; the logical unit owns SCSI
 * semantics.
 *
 * Who is talking: each I_T nexus (an initiator port -- iSCSI
 * "NAME,i,0xISID" -- through a target port) attaches to the logical unit
 * once (scsi_lu_attach, at login) and passes its struct scsi_itl with
 * every command; unit attentions, SPC-2 reservations and persistent
 * reservation registrations are kept per nexus.
 *
 * Threads: scsi_lu_execute may be called from many threads at once, for
 * any nexus.  Reads and writes of disjoint ranges run concurrently with
 * no lock on the path (atomics only); COMPARE AND WRITE and WRITE ATOMIC
 * are atomic against every other command touching their range.
 *
 * Persistent reservations are saved through struct scsi_pr_store_ops
 * (the controller, in segmap) before PERSISTENT RESERVE OUT completes,
 * and loaded by scsi_lu_new, so they survive a restart (APTPL is honoured
 * by always persisting, as SPC-4 permits).
 *
 * Errors: scsi_lu_new and scsi_lu_attach return NULL with sm_error.
 * scsi_lu_execute never fails as a function: every problem is a SCSI
 * status (CHECK CONDITION with sense) in the task.
 */
#ifndef SEGMAP_SCSI_LU_H
#define SEGMAP_SCSI_LU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/sense.h"

/* The storage under the logical unit.  Byte offsets and counts; the
 * logical unit keeps every call inside [0, size).  Each returns 0, or
 * -1 with errno set: EIO (medium error), ENOSPC (space allocation
 * failed), EROFS (write protected), anything else is an internal target
 * failure. */
struct scsi_backend_ops {
  int (*pread) (void *h, void *buf, uint32_t count, uint64_t offset);
  int (*pwrite) (void *h, const void *buf, uint32_t count, uint64_t offset,
                 bool fua);
  int (*flush) (void *h);
  /* Deallocate: afterwards the range reads as zeros. */
  int (*trim) (void *h, uint32_t count, uint64_t offset, bool fua);
  /* Write zeros (may deallocate). */
  int (*zero) (void *h, uint32_t count, uint64_t offset, bool fua);
  /* Calls FN for runs of [offset, offset+count): ZERO true for
   * deallocated (reads-as-zero, unmapped) runs.  May stop early after
   * at least one run. */
  int (*extents) (void *h, uint32_t count, uint64_t offset,
                  int (*fn) (void *opaque, uint64_t offset, uint64_t len,
                             bool zero),
                  void *opaque);
  /* Optional: is the medium write protected now (the vdisk is
   * read-only)?  Asked at every command that writes the medium (refused
   * with DATA PROTECT / WRITE PROTECTED) and at every MODE SENSE (the
   * WP bit), so a change shows at once.  NULL: never. */
  bool (*read_only) (void *h);
  /* Optional: after a call of this thread failed with EIO, the byte
   * offset where the failure starts (the medium error's LBA in the
   * sense data's INFORMATION field), or UINT64_MAX if unknown.  NULL:
   * never known. */
  uint64_t (*failed_offset) (void *h);
};

/* Where persistent reservations are kept.  LOAD sets *BLOB (malloc'd,
 * the caller frees it) and *LEN, or *BLOB = NULL when nothing was ever
 * saved.  SAVE returns only once BLOB is durable.  Both return 0, or -1
 * with sm_error. */
struct scsi_pr_store_ops {
  int (*load) (void *h, const char *lu_name, void **blob, size_t *len);
  int (*save) (void *h, const char *lu_name, const void *blob, size_t len);
};

/* What the logical unit is. */
struct scsi_lu_info {
  const char *name;             /* the vdisk name */
  uint64_t size;                /* bytes, a multiple of block_size */
  uint32_t block_size;          /* 512 or 4096 */
  uint32_t optimal_granularity; /* bytes (the segment size) */
  uint64_t naa;                 /* NAA 6 identifier, high 8 bytes... */
  uint64_t naa_ext;             /* ...and low 8 bytes (stable per vdisk) */
  const char *serial;           /* unit serial number (VPD 0x80) */
  bool thin;                    /* logical block provisioning (LBPME) */
};

/* One target port (an iSCSI portal group) of the logical unit, for
 * VPD 0x83 and REPORT TARGET PORT GROUPS. */
struct scsi_port_info {
  uint16_t relative_port_id;    /* 1.. */
  uint16_t port_group;          /* target port group id */
  const char *name;             /* SCSI name string: "IQN,t,0x0001" */
};

/* One command. */
struct scsi_task {
  /* in */
  const uint8_t *cdb;
  size_t cdb_len;
  uint8_t attr;                 /* task attribute (SAM) */
  const uint8_t *data_out;      /* all the Data-Out bytes received */
  uint32_t data_out_len;
  uint8_t *data_in;             /* room for Data-In... */
  uint32_t data_in_cap;         /* ...this many bytes (the expected length) */
  /* out */
  uint32_t data_in_len;         /* Data-In bytes produced (<= cap) */
  uint64_t want_len;            /* bytes the command would transfer
                                 * (either direction): residuals */
  uint8_t status;               /* enum scsi_status */
  uint8_t sense[SCSI_SENSE_MAX];
  uint32_t sense_len;           /* 0 unless CHECK CONDITION */
};

struct scsi_lu;
struct scsi_itl;

struct scsi_lu *scsi_lu_new (const struct scsi_lu_info *info,
                             const struct scsi_backend_ops *ops, void *h,
                             const struct scsi_pr_store_ops *pr, void *pr_h);
/* All nexuses must have detached. */
void scsi_lu_free (struct scsi_lu *lu);

/* Set the target ports (copied); the caller's portal groups. */
int scsi_lu_set_ports (struct scsi_lu *lu, const struct scsi_port_info *ports,
                       size_t n_ports);

/* The capacity changed (vdisk resize): CAPACITY DATA HAS CHANGED unit
 * attention for every nexus. */
void scsi_lu_set_size (struct scsi_lu *lu, uint64_t size);

/* Attach an I_T nexus: INITIATOR_PORT is the SCSI initiator port name
 * ("iqn...,i,0x23d000000001"), PORT the relative target port id.  The
 * nexus starts with a POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
 * unit attention, as SAM requires for a new nexus. */
struct scsi_itl *scsi_lu_attach (struct scsi_lu *lu,
                                 const char *initiator_port, uint16_t port);
/* The nexus ends (session closed): its SPC-2 reservation is released;
 * persistent registrations stay. */
void scsi_lu_detach (struct scsi_itl *itl);

/* Execute one command to completion (blocking on the backend). */
void scsi_lu_execute (struct scsi_itl *itl, struct scsi_task *task);
/* Is the command of CDB a READ or WRITE that the backend completes
 * from its cache: no FUA, and for a write the write cache enabled
 * (WCE)?  A transport may run such commands, when short, on its I/O
 * thread rather than hand them to a worker.  A hint only: the command
 * is checked in full by scsi_lu_execute. */
bool scsi_lu_is_quick (const struct scsi_itl *itl, const uint8_t *cdb,
                       size_t cdb_len);

/* Task management, after the transport has aborted or waited for the
 * affected tasks.  LUN RESET / TARGET WARM RESET: SPC-2 reservations
 * released, mode pages back to defaults, a BUS DEVICE RESET FUNCTION
 * OCCURRED unit attention for every nexus (ITL included, SAM-5 §6.3).  CLEAR TASK SET
 * (with TST=000b): COMMANDS CLEARED BY ANOTHER INITIATOR for the other
 * nexuses whose tasks were cleared (CLEARED_OTHERS true). */
void scsi_lu_reset (struct scsi_itl *itl);
void scsi_lu_task_set_cleared (struct scsi_itl *itl, bool cleared_others);

/* Fill TASK with CHECK CONDITION and the sense KEY/ASC (scsi/sense.h
 * enum scsi_asc, (asc << 8) | ascq), for the transport's own failures. */
void scsi_task_check_condition (struct scsi_task *task, uint8_t key,
                                uint16_t asc);

#endif /* SEGMAP_SCSI_LU_H */
