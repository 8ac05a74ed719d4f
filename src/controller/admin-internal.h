/* segmap: what the controller's administration files share.
 *
 *   admin.c        the command table, containers, vdisks, status, check
 *   admin-iscsi.c  iSCSI access lists, CHAP settings
 *   snapshot.c     snapshots: create (one or a group), list, delete
 *   clone.c        clone create, snapshot rollback
 *   flatten.c      clone flatten
 *   migrate.c      migrate (a vdisk to another container)
 *   evacuate.c     container evacuate (every segment off a container)
 *   jobs.c         job list, info, cancel, pause, resume
 *   diff.c         vdisk diff (changed blocks between two snapshots)
 *
 * Handlers run on the controller thread and follow admin.c's
 * convention: a json-c object, or NULL with *error set (malloc'd, one
 * human sentence).
 */
#ifndef SEGMAP_ADMIN_INTERNAL_H
#define SEGMAP_ADMIN_INTERNAL_H

#include <stdint.h>

#include <json.h>

#include "common/json-add.h"
#include "controller/store.h"

struct controller;
struct ctrl_container;
struct sm_job;

/* Set *ERROR from FMT; returns NULL. */
json_object *fail (char **error, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* A string argument, or NULL when absent or not a string. */
const char *arg_string (json_object *args, const char *key);
/* A name argument checked against the naming rule; NULL + *error. */
const char *arg_name (json_object *args, const char *key, char **error);
/* 1: present and valid; 0: absent; -1: present but not a non-negative
 * integer. */
int arg_u64 (json_object *args, const char *key, uint64_t *out);
/* The open container named NAME, or NULL. */
struct ctrl_container *ctrl_container_by_name (struct controller *c,
                                               const char *name);

typedef json_object *admin_fn (struct controller *c, json_object *args,
                               char **error);

admin_fn ctrl_cmd_host_list, ctrl_cmd_host_add, ctrl_cmd_host_remove,
  ctrl_cmd_host_allow, ctrl_cmd_host_deny, ctrl_cmd_host_chap,
  ctrl_cmd_chap_get, ctrl_cmd_chap_set;

admin_fn ctrl_cmd_snapshot_create, ctrl_cmd_snapshot_create_group,
  ctrl_cmd_snapshot_list, ctrl_cmd_snapshot_delete;

admin_fn ctrl_cmd_clone_create, ctrl_cmd_snapshot_rollback,
  ctrl_cmd_clone_flatten;

admin_fn ctrl_cmd_migrate, ctrl_cmd_container_evacuate;

/* migrate.c: V's new segments come from pool IDS[0..N-1] with
 * PLACEMENT from now on (the agents give back the grants they hold
 * elsewhere).  c->vdisks is reloaded (V is stale after).  0, or -1 with
 * *ERROR. */
int ctrl_set_pool (struct controller *c, const struct sm_vdisk_info *v,
                   enum sm_placement placement, const uint32_t *ids,
                   unsigned n, char **error);
/* admin.c: the arguments "container" (NAME[,NAME...], absent: *N = 0)
 * and "placement" (absent: *PLACEMENT unchanged) into IDS[0..*N-1]
 * (room for SM_POOL_MAX); containers being evacuated are refused.  0,
 * or -1 with *ERROR. */
int ctrl_pool_arg (struct controller *c, json_object *args, uint32_t *ids,
                   unsigned *n, enum sm_placement *placement, char **error);

admin_fn ctrl_cmd_job_list, ctrl_cmd_job_info, ctrl_cmd_job_cancel,
  ctrl_cmd_job_pause, ctrl_cmd_job_resume;

/* One row of `job list' for J. */
json_object *ctrl_job_row (const struct sm_job *j);
admin_fn ctrl_cmd_vdisk_diff;

/* vdisk delete's path (admin.c): the agents stop serving vdisk ID
 * (drained), then its segments are freed in the background.  0, or -1
 * with *ERROR. */
int ctrl_admin_delete_vdisk (struct controller *c, uint32_t id,
                             char **error);

/* The target-wide CHAP settings, in the order chap_user,
 * chap_secret_file, mutual_chap_user, mutual_chap_secret_file: each
 * malloc'd or NULL (off).  0, or -1 with *ERROR. */
#define CTRL_N_CHAP_KEYS 4
int ctrl_chap_get (struct controller *c, char *values[CTRL_N_CHAP_KEYS],
                   char **error);

/* Make the configuration's [host] sections and CHAP settings the
 * stored ones (start-up).  0 or -1 with sm_error. */
int ctrl_reconcile_iscsi (struct controller *c);

#endif /* SEGMAP_ADMIN_INTERNAL_H */
