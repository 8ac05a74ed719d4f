/* segmap: the composition room — one process's parts, wired together.
 *
 * The agent (src/agent) and the controller (src/controller) know each
 * other only through messages over a transport (src/proto); this room
 * is the one place that knows both.  It creates, in this order:
 *
 *   agent -> controller -> in-process transport (transport-local.c)
 *   -> controller thread (opens the database and the containers)
 *   -> agent REGISTER (the controller attaches the containers and
 *      creates the tables over the transport) -> iSCSI service
 *   -> control socket
 *
 * and stops and frees them in the reverse order.  A front-end (the
 * nbdkit plugin) calls only this room to start and stop, and the
 * agent's data-path functions (agent_pread, agent_pwrite, ...) on
 * instance_agent() directly: the data path gains no indirection.
 *
 * Two phases, because a daemon forks between them: instance_new
 * (before the fork: checks, nothing running) and instance_start (after
 * it: threads).
 *
 * An agent-only process (multi-instance, later) is this room without
 * the controller step: the agent's transport then connects to a remote
 * controller instead of transport_local_init, and everything after
 * REGISTER is the same.
 */
#ifndef SEGMAP_INSTANCE_H
#define SEGMAP_INSTANCE_H

struct agent;
struct instance;
struct segmap_config;

/* Before a daemon forks: take the state directory's lock, open the
 * database and containers once so that a bad configuration fails
 * visibly, and bind the control socket (served from instance_start),
 * so that it answers as soon as nbdkit reports the server started.  No
 * thread is started.  CFG must outlive the
 * instance.  NULL + sm_error on failure. */
struct instance *instance_new (const struct segmap_config *cfg);

/* After any fork: start everything (threads).  0, or -1 + sm_error
 * with whatever had started stopped again (instance_free still
 * needed). */
int instance_start (struct instance *in);

/* Stop the control socket, the iSCSI service and the controller
 * (commit, mark clean), then free everything.  NULL is allowed. */
void instance_free (struct instance *in);

/* The agent, for the data path. */
struct agent *instance_agent (struct instance *in);

#endif /* SEGMAP_INSTANCE_H */
