/* segmap: the controller — the one owner of the authoritative map.
 *
 * A single thread owns the SQLite store, the containers' allocators and
 * every decision about mappings.  Everything reaches it through one
 * queue: agent frames (faults, flushes) from the transport and
 * administration commands from the control socket.  Being the only
 * thread that decides makes the controller's work a sequence: a fault
 * answered before a set_entry can never be applied after it.
 *
 * Lifecycle: controller_start() starts the thread, which opens the
 * database, reconciles the configuration, opens the containers, rebuilds
 * the allocators and recovers from an unclean shutdown, then reports
 * success or failure to the caller.  Agents then REGISTER over their
 * transports; each is given the containers and the vdisks' tables.
 * controller_stop() commits, syncs, marks the shutdown clean and closes.
 */
#ifndef SEGMAP_CONTROLLER_H
#define SEGMAP_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include <json.h>

struct controller;
struct segmap_config;
struct transport;

/* CFG must outlive the controller.  NULL + sm_error on ENOMEM.
 * Agents join later, each over its own transport, by sending REGISTER
 * (controller_submit_frame). */
struct controller *controller_new (const struct segmap_config *cfg);

/* Before nbdkit forks into the background: create the state directory,
 * open (creating or migrating) the database and open every container
 * once, so that a bad configuration fails the start with its message
 * instead of after nbdkit has detached.  Nothing stays open.  0 or -1. */
int controller_preflight (const struct segmap_config *cfg);

/* Start the thread and wait for its start-up.  0, or -1 with sm_error
 * saying why start-up failed (the thread has then exited). */
int controller_start (struct controller *c);

/* Stop the thread: commit, sync, mark clean, close the store. */
void controller_stop (struct controller *c);
void controller_free (struct controller *c);

/* Queue a frame from the agent at the other end of FROM (ownership of
 * FRAME passes).  Answers and commands go back through FROM's
 * to_agent.  0 or -1. */
int controller_submit_frame (struct controller *c, struct transport *from,
                             uint8_t *frame, size_t len);

/* Run an administration command on the controller thread and wait for
 * its result (see src/ctl/ctl-proto.h for the commands).  Matches
 * ctl_dispatch_fn. */
json_object *controller_admin (void *controller, const char *cmd,
                               json_object *args, char **error);

#endif /* SEGMAP_CONTROLLER_H */
