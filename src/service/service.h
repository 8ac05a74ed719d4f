/* segmap: the iSCSI service -- binds the iSCSI target (src/iscsi) to the
 * mapping agent and to a directory of hosts, CHAP settings, persistent
 * reservations and vdisk identities (service/directory.h) in one
 * process.
 *
 * It gives the target what it asks through its hooks (vdisks, access
 * lists, CHAP secrets, logical units) and serves the iSCSI commands of
 * the control socket: whoever composes the process installs
 * iscsi_service_dispatch as the socket's dispatch function; it answers
 * "iscsi.sessions" itself, passes everything else to the ADMIN dispatch
 * function it was given (the controller's), and afterwards applies what
 * a change means to the target (reloading access lists and dropping
 * sessions that lost access, resizing or dropping the logical unit of a
 * resized or deleted vdisk).
 *
 * The service includes nothing of the controller: the directory and the
 * admin dispatch function are handed to iscsi_service_new.
 *
 * Lifecycle: new once the directory answers (the controller runs),
 * start (binds the portals unless iSCSI is off), stop before the
 * directory goes away, free.
 */
#ifndef SEGMAP_SERVICE_H
#define SEGMAP_SERVICE_H

#include <json.h>

#include "ctl/ctl-server.h"
#include "service/directory.h"

struct agent;
struct segmap_config;
struct iscsi_service;

/* DIR is copied; its handle, ADMIN_H and CFG must outlive the service.
 * NULL + sm_error on ENOMEM. */
struct iscsi_service *iscsi_service_new (const struct segmap_config *cfg,
                                         struct agent *agent,
                                         const struct iscsi_directory *dir,
                                         ctl_dispatch_fn admin,
                                         void *admin_h);
int iscsi_service_start (struct iscsi_service *s);
void iscsi_service_stop (struct iscsi_service *s);
void iscsi_service_free (struct iscsi_service *s);

/* ctl_dispatch_fn (src/ctl/ctl-server.h); OPAQUE is the service. */
json_object *iscsi_service_dispatch (void *opaque, const char *cmd,
                                     json_object *args, char **error);

#endif /* SEGMAP_SERVICE_H */
