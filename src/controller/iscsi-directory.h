/* segmap: the controller's side of the iSCSI service's directory
 * (service/directory.h).
 *
 * Whoever composes the process hands the service
 *   { &controller_iscsi_directory, controller }
 * Every call runs on the controller thread (ctrl_call), in queue order
 * with agent frames and administration commands, and waits for it: a
 * reservation saved is committed, a host list read after `iscsi
 * host-add` answered contains the host.  Call them from any thread but
 * the controller's.
 */
#ifndef SEGMAP_CONTROLLER_ISCSI_DIRECTORY_H
#define SEGMAP_CONTROLLER_ISCSI_DIRECTORY_H

#include "service/directory.h"

/* The handle is the struct controller. */
extern const struct iscsi_directory_ops controller_iscsi_directory;

#endif /* SEGMAP_CONTROLLER_ISCSI_DIRECTORY_H */
