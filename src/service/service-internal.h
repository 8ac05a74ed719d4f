/* segmap: the iSCSI service's private state, shared by its files.
 *
 *   service.c  lifecycle, target hooks, control-socket commands
 *   access.c   access lists and CHAP (access.h)
 *   units.c    one SCSI logical unit per vdisk, on the agent
 */
#ifndef SEGMAP_SERVICE_INTERNAL_H
#define SEGMAP_SERVICE_INTERNAL_H

#include <pthread.h>

#include <json.h>

#include "service/service.h"

struct access;
struct iscsi_target;
struct scsi_lu;
struct unit;

struct iscsi_service {
  const struct segmap_config *cfg;
  struct agent *agent;
  struct controller *controller;
  struct access *access;
  struct iscsi_target *target;  /* NULL when iSCSI is off */
  pthread_mutex_t units_lock;   /* protects units */
  struct unit *units;
};

/* Run controller command CMD with ARGS (consumed; NULL: none).  The
 * result, or NULL after sm_error with the controller's sentence. */
json_object *service_call (struct iscsi_service *s, const char *cmd,
                           json_object *args);

/* units.c */
struct scsi_lu *units_open (struct iscsi_service *s, const char *vdisk);
void units_close (struct iscsi_service *s, struct scsi_lu *lu);
void units_resized (struct iscsi_service *s, const char *vdisk);

#endif /* SEGMAP_SERVICE_INTERNAL_H */
