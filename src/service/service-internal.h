/* segmap: the iSCSI service's private state, shared by its files.
 *
 *   service.c  lifecycle, target hooks, control-socket commands
 *   access.c   access lists and CHAP (access.h)
 *   units.c    one SCSI logical unit per vdisk, on the agent
 */
#ifndef SEGMAP_SERVICE_INTERNAL_H
#define SEGMAP_SERVICE_INTERNAL_H

#include <pthread.h>

#include "service/directory.h"
#include "service/service.h"

struct access;
struct iscsi_target;
struct scsi_lu;
struct unit;

struct iscsi_service {
  const struct segmap_config *cfg;
  struct agent *agent;
  struct iscsi_directory dir;   /* hosts, CHAP, reservations, identity */
  ctl_dispatch_fn admin;        /* the control socket's other commands */
  void *admin_h;
  struct access *access;
  struct iscsi_target *target;  /* NULL when iSCSI is off */
  pthread_mutex_t units_lock;   /* protects units */
  struct unit *units;
};

/* units.c */
struct scsi_lu *units_open (struct iscsi_service *s, const char *vdisk);
void units_close (struct iscsi_service *s, struct scsi_lu *lu);
void units_resized (struct iscsi_service *s, const char *vdisk);

#endif /* SEGMAP_SERVICE_INTERNAL_H */
