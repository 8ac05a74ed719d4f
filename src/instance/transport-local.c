/* segmap: the in-process transport (see proto/transport.h).
 *
 * Agent -> controller: the frame is queued on the controller's queue,
 * tagged with this transport (which agent sent it).  Controller ->
 * agent: a direct call of agent_receive() on the controller thread, so
 * answers and commands are applied in exactly the order the
 * controller sent them.
 *
 * It lives in the composition room because it is the one piece of code
 * that calls into both the agent and the controller.
 */
#include <config.h>

#include "agent/agent.h"
#include "controller/controller.h"
#include "instance/transport-local.h"
#include "proto/transport.h"

static int
local_to_controller (struct transport *tr, uint8_t *frame, size_t len)
{
  return controller_submit_frame (tr->controller, tr, frame, len);
}

static int
local_to_agent (struct transport *tr, const uint8_t *frame, size_t len,
                uint8_t **reply, size_t *reply_len)
{
  return agent_receive (tr->agent, frame, len, reply, reply_len);
}

void
transport_local_init (struct transport *tr, struct agent *a,
                      struct controller *c)
{
  tr->to_controller = local_to_controller;
  tr->to_agent = local_to_agent;
  tr->agent = a;
  tr->controller = c;
}
