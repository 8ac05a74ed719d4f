/* segmap: the iSCSI service -- binds the iSCSI target (src/iscsi) to the
 * mapping agent and the controller in one process.
 *
 * It gives the target what it asks through its hooks (vdisks, access
 * lists, CHAP secrets, logical units) and serves the iSCSI commands of
 * the control socket: the plugin installs iscsi_service_dispatch as the
 * socket's dispatch function; it answers "iscsi.sessions" itself, passes
 * everything else to the controller, and afterwards applies what a
 * change means to the target (reloading access lists and dropping
 * sessions that lost access, resizing or dropping the logical unit of a
 * resized or deleted vdisk).
 *
 * Lifecycle (nbdkit plugin): new in after_fork once the controller runs,
 * start (binds the portals unless iSCSI is off), stop before the
 * controller stops, free.
 */
#ifndef SEGMAP_SERVICE_H
#define SEGMAP_SERVICE_H

#include <json.h>

struct agent;
struct controller;
struct segmap_config;
struct iscsi_service;

struct iscsi_service *iscsi_service_new (const struct segmap_config *cfg,
                                         struct agent *agent,
                                         struct controller *controller);
int iscsi_service_start (struct iscsi_service *s);
void iscsi_service_stop (struct iscsi_service *s);
void iscsi_service_free (struct iscsi_service *s);

/* ctl_dispatch_fn (src/ctl/ctl-server.h); OPAQUE is the service. */
json_object *iscsi_service_dispatch (void *opaque, const char *cmd,
                                     json_object *args, char **error);

#endif /* SEGMAP_SERVICE_H */
