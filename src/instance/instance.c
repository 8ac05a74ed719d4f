/* segmap: the composition room (see instance.h).
 *
 * The start-up and stop sequences were the nbdkit plugin's get_ready,
 * after_fork and cleanup; they are kept step for step.  Each step is one function
 * so that an agent-only process can leave out start_controller and
 * connect its transport elsewhere.
 */
#include <config.h>

#include <stdlib.h>

#include "agent/agent.h"
#include "common/errors.h"
#include "config/config.h"
#include "controller/controller.h"
#include "controller/iscsi-directory.h"
#include "ctl/ctl-server.h"
#include "instance/instance.h"
#include "instance/transport-local.h"
#include "proto/transport.h"
#include "service/directory.h"
#include "service/service.h"
#include "store/lock.h"

struct instance {
  const struct segmap_config *cfg;
  struct agent *agent;
  struct controller *controller;  /* NULL in an agent-only process */
  struct transport transport;     /* the agent's link to the controller */
  struct iscsi_directory directory; /* the controller's, for the service */
  struct iscsi_service *iscsi;
  struct ctl_server *ctl;
};

struct instance *
instance_new (const struct segmap_config *cfg)
{
  struct instance *in;

  if (controller_preflight (cfg) == -1)
    return NULL;
  in = calloc (1, sizeof *in);
  if (in == NULL) {
    sm_error ("cannot allocate the instance: %m");
    return NULL;
  }
  in->cfg = cfg;
  /* Bound and listening before nbdkit forks, served after it: when
   * nbdkit returns, segmapctl can connect (requests wait in the
   * backlog until instance_start). */
  in->ctl = ctl_server_bind (cfg->socket);
  if (in->ctl == NULL) {
    free (in);
    return NULL;
  }
  return in;
}

struct agent *
instance_agent (struct instance *in)
{
  return in->agent;
}

static int
start_agent (struct instance *in)
{
  in->agent = agent_new (in->cfg->agent_name ? in->cfg->agent_name
                         : "local", in->cfg->memory_limit);
  return in->agent ? 0 : -1;
}

/* The controller thread, and the agent's transport to it. */
static int
start_controller (struct instance *in)
{
  in->controller = controller_new (in->cfg);
  if (in->controller == NULL)
    return -1;
  transport_local_init (&in->transport, in->agent, in->controller);
  agent_set_transport (in->agent, &in->transport);
  return controller_start (in->controller);
}

static int
start_service (struct instance *in)
{
  in->directory = (struct iscsi_directory) { &controller_iscsi_directory,
                                             in->controller };
  in->iscsi = iscsi_service_new (in->cfg, in->agent, &in->directory,
                                 controller_admin, in->controller);
  if (in->iscsi == NULL || iscsi_service_start (in->iscsi) == -1)
    return -1;
  return ctl_server_serve (in->ctl, iscsi_service_dispatch, in->iscsi);
}

/* Stop what is running, keep IN. */
static void
stop_all (struct instance *in)
{
  ctl_server_stop (in->ctl);
  in->ctl = NULL;
  iscsi_service_free (in->iscsi);
  in->iscsi = NULL;
  controller_stop (in->controller);
  controller_free (in->controller);
  in->controller = NULL;
  agent_free (in->agent);
  in->agent = NULL;
}

int
instance_start (struct instance *in)
{
  if (start_agent (in) == -1
      || start_controller (in) == -1
      || agent_register (in->agent) == -1
      || start_service (in) == -1) {
    stop_all (in);
    return -1;
  }
  sm_debug ("segmap: serving from %s", in->cfg->state_dir);
  return 0;
}

void
instance_free (struct instance *in)
{
  if (in == NULL)
    return;
  stop_all (in);
  free (in);
  sm_lock_release_all ();       /* the state is free for the next server */
}
