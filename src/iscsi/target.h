/* segmap: the iSCSI target (RFC 7143) -- portals, connections, logins,
 * sessions and tasks, in the segmap process.
 *
 * One target per vdisk, named PREFIX:VDISK, with the vdisk as LUN 0.
 * The target does not know vdisks, access lists or secrets itself: it
 * asks the embedding program through struct iscsi_target_hooks, so
 * that run-time changes (segmapctl) take effect at the next discovery
 * or login without the target caching anything.
 *
 * Threads: iscsi_target_start binds every portal and starts the I/O
 * threads (epoll; they read and write PDUs and never block on storage)
 * and the worker threads (they run SCSI commands on the logical units,
 * which may block).  iscsi_target_stop closes every connection, waits
 * for running commands and joins all threads.
 *
 * Errors: -1 / NULL after sm_error.
 */
#ifndef SEGMAP_ISCSI_TARGET_H
#define SEGMAP_ISCSI_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iscsi/chap.h"

struct scsi_lu;

/* What the target asks the embedding program.  Every hook may be called
 * from any I/O thread at any time between start and stop. */
struct iscsi_target_hooks {
  /* Call FN for every vdisk name (for SendTargets). */
  int (*foreach_vdisk) (void *h, int (*fn) (void *opaque, const char *vdisk),
                        void *opaque);
  /* May INITIATOR (an iSCSI name) discover and log in to VDISK? */
  bool (*allowed) (void *h, const char *initiator, const char *vdisk);
  /* Is CHAP required for INITIATOR?  If so, LOOKUP_SECRET finds the
   * secret for a CHAP_N user name, and TARGET_CREDENTIALS (may return
   * -1: no mutual CHAP) the target's own for mutual CHAP. */
  bool (*chap_required) (void *h, const char *initiator);
  chap_lookup_fn lookup_secret;
  int (*target_credentials) (void *h, const char *initiator,
                             struct chap_credentials *cred);
  /* Open the logical unit of VDISK (a reference; NULL with sm_error if
   * there is none) and give it back when the last session closes. */
  struct scsi_lu *(*open_lu) (void *h, const char *vdisk);
  void (*close_lu) (void *h, struct scsi_lu *lu);
};

struct iscsi_target_settings {
  const char *const *portals;   /* "ADDR:PORT", "[ADDR6]:PORT" */
  size_t n_portals;
  const char *target_prefix;    /* IQN prefix: target = PREFIX:VDISK */
  unsigned io_threads;          /* 0: 1 */
  unsigned workers;             /* 0: 2 x online CPUs, at least 4 */
  unsigned nop_interval;        /* seconds of silence before a NOP-In
                                 * ping; 0: 5 */
  unsigned nop_timeout;         /* seconds without an answer before the
                                 * connection is dropped; 0: 15 */
};

/* One connection, for segmapctl iscsi sessions. */
struct iscsi_session_info {
  char initiator[224];
  char initiator_port[256];     /* "NAME,i,0xISID" */
  char target[224];             /* empty for discovery sessions */
  char portal[64];              /* the local ADDR:PORT */
  char peer[64];                /* the initiator's ADDR:PORT */
  uint16_t tsih, cid;
  bool discovery, header_digest, data_digest, chap;
  uint32_t max_recv_dsl;        /* ours */
  uint32_t peer_max_recv_dsl;   /* the initiator's */
  uint32_t max_burst_length, first_burst_length;
  bool initial_r2t, immediate_data;
  uint64_t commands;            /* SCSI commands received */
};

struct iscsi_target;

struct iscsi_target *iscsi_target_new (const struct iscsi_target_settings *s,
                                       const struct iscsi_target_hooks *hooks,
                                       void *h);
/* Bind the portals (all or none) and start the threads. */
int iscsi_target_start (struct iscsi_target *t);
void iscsi_target_stop (struct iscsi_target *t);
void iscsi_target_free (struct iscsi_target *t);

/* A snapshot of the connections: *OUT (malloc'd array, caller frees)
 * and *N.  Returns 0 or -1. */
int iscsi_target_sessions (struct iscsi_target *t,
                           struct iscsi_session_info **out, size_t *n);

/* Close every session of INITIATOR to VDISK (either may be NULL for
 * all), e.g. after its access was revoked.  Returns how many. */
size_t iscsi_target_drop (struct iscsi_target *t, const char *initiator,
                          const char *vdisk);

#endif /* SEGMAP_ISCSI_TARGET_H */
