/* segmap: how frames travel between an agent and the controller.
 *
 * The agent and the controller never call each other directly: they
 * hand encoded frames (proto/msg.h) to a transport.  Two directions:
 *
 *  - agent -> controller: asynchronous.  The agent's thread that sent a
 *    MAP_FAULT or FLUSH then waits for the answer frame with the same id.
 *  - controller -> agent: the controller delivers answers and commands
 *    in order, one at a time.  The agent applies each answer's entries
 *    to its table *before* the controller handles its next request, so
 *    an answer can never overwrite a later set_entry (this ordering is
 *    what keeps a freed segment from being written).  A command's answer
 *    (REPLY) comes back as the return value of the delivery.
 *
 * The in-process transport (src/instance/transport-local.c) is two
 * function calls; a TCP transport keeps the same ordering with one
 * reader per socket.  src/proto knows neither end: the agent and the
 * controller pointers below are opaque here (forward declarations),
 * set by whoever wires the two ends (the composition room).
 */
#ifndef SEGMAP_TRANSPORT_H
#define SEGMAP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct controller;

struct transport {
  /* Agent -> controller.  Takes ownership of FRAME.  0 or -1. */
  int (*to_controller) (struct transport *tr, uint8_t *frame, size_t len);

  /* Controller -> agent.  Does not take ownership of FRAME.  For a
   * command, *REPLY receives the agent's REPLY frame (caller frees);
   * for an answer to a fault, *REPLY is set to NULL.  0 or -1. */
  int (*to_agent) (struct transport *tr, const uint8_t *frame, size_t len,
                   uint8_t **reply, size_t *reply_len);

  struct agent *agent;
  struct controller *controller;
};

#endif /* SEGMAP_TRANSPORT_H */
