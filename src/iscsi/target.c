/* segmap: the iSCSI target object -- settings, start and stop, and the
 * administration calls (sessions, drop).  See target.h for the API and
 * target-internal.h for how the pieces fit.
 *
 * Life cycle:  new --> start --> (serving) --> stop --> free
 *   start:  bind every portal (all or none), then the workers, then the
 *           I/O threads (the first one also watches the listeners).
 *   stop:   close the listeners; each I/O thread closes its connections
 *           and exits; the workers empty their queue (tasks of closed
 *           connections are skipped) and exit; the last references to
 *           the connections go with the last tasks.
 *
 * Negotiation defaults (RFC 7143 ranges, params.c does the rest):
 * InitialR2T=No and ImmediateData=Yes so writes need no R2T round trip
 * up to FirstBurstLength (64 KiB, the default); MaxBurstLength 1 MiB;
 * our MaxRecvDataSegmentLength 256 KiB; MaxOutstandingR2T up to
 * ISCSI_R2T_MAX; digests None or CRC32C; ErrorRecoveryLevel 0;
 * MaxConnections 1.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

static void
config_defaults (struct iscsi_target *t)
{
  struct iscsi_target_config *cfg = &t->cfg;

  iscsi_target_config_defaults (cfg);
  cfg->want.initial_r2t = false;
  cfg->want.immediate_data = true;
  cfg->want.max_outstanding_r2t = ISCSI_R2T_MAX;
  cfg->portal_group_tag = ISCSI_PORTAL_TAG;
  t->login_env.hooks = &t->hooks;
  t->login_env.h = t->h;
  t->login_env.prefix = t->prefix;
  t->login_env.cfg = &t->cfg;
}

static unsigned
default_workers (void)
{
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  unsigned n = cpus > 0 ? 2 * (unsigned) cpus : 4;

  return n < 4 ? 4 : n;
}

static int
copy_settings (struct iscsi_target *t, const struct iscsi_target_settings *s)
{
  size_t i;

  if (s->n_portals == 0 || s->target_prefix == NULL
      || s->target_prefix[0] == '\0') {
    sm_error ("iscsi: a target needs at least one portal and a prefix");
    return -1;
  }
  t->portal_names = calloc (s->n_portals, sizeof *t->portal_names);
  t->prefix = strdup (s->target_prefix);
  if (t->portal_names == NULL || t->prefix == NULL)
    goto nomem;
  t->n_portals = s->n_portals;
  for (i = 0; i < s->n_portals; i++) {
    struct sockaddr_storage ss;
    socklen_t len;

    if (portal_parse (s->portals[i], &ss, &len) == -1)
      return -1;
    if ((t->portal_names[i] = strdup (s->portals[i])) == NULL)
      goto nomem;
  }
  t->n_loops = s->io_threads > 0 ? s->io_threads : 1;
  t->nop_interval = s->nop_interval > 0 ? s->nop_interval : 5;
  t->nop_timeout = s->nop_timeout > 0 ? s->nop_timeout : 15;
  return 0;
 nomem:
  sm_error ("iscsi: out of memory");
  return -1;
}

struct iscsi_target *
iscsi_target_new (const struct iscsi_target_settings *s,
                  const struct iscsi_target_hooks *hooks, void *h)
{
  struct iscsi_target *t = calloc (1, sizeof *t);
  unsigned i;

  if (t == NULL) {
    sm_error ("iscsi: out of memory");
    return NULL;
  }
  t->hooks = *hooks;
  t->h = h;
  pthread_mutex_init (&t->lock, NULL);
  if (copy_settings (t, s) == -1)
    goto fail;
  config_defaults (t);
  t->loops = calloc (t->n_loops, sizeof *t->loops);
  if (t->loops == NULL) {
    sm_error ("iscsi: out of memory");
    goto fail;
  }
  for (i = 0; i < t->n_loops; i++)
    t->loops[i].epfd = t->loops[i].wakefd = -1;
  for (i = 0; i < t->n_loops; i++)
    if (ioloop_init (&t->loops[i], t) == -1)
      goto fail;
  if (workers_init (&t->workers, s->workers > 0 ? s->workers
                    : default_workers ()) == -1)
    goto fail;
  return t;
 fail:
  iscsi_target_free (t);
  return NULL;
}

int
iscsi_target_start (struct iscsi_target *t)
{
  size_t i;

  if (t->running) {
    sm_error ("iscsi: the target is already running");
    return -1;
  }
  if (server_listen (t) == -1)
    return -1;
  for (i = 0; i < t->n_portals; i++)
    if (ioloop_add_listener (&t->loops[0], &t->portals[i]) == -1)
      goto fail;
  if (workers_start (&t->workers) == -1)
    goto fail;
  for (i = 0; i < t->n_loops; i++)
    if (ioloop_start (&t->loops[i]) == -1)
      goto fail;
  t->running = true;
  return 0;
 fail:
  t->running = true;
  iscsi_target_stop (t);
  return -1;
}

void
iscsi_target_stop (struct iscsi_target *t)
{
  unsigned i;

  if (!t->running)
    return;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    t->stopping = true;
  }
  for (i = 0; i < t->n_loops; i++)
    ioloop_stop (&t->loops[i]);
  server_close (t);
  workers_stop (&t->workers);
  t->running = false;
}

void
iscsi_target_free (struct iscsi_target *t)
{
  unsigned i;
  size_t k;

  if (t == NULL)
    return;
  iscsi_target_stop (t);
  if (t->loops != NULL)
    for (i = 0; i < t->n_loops; i++)
      if (t->loops[i].epfd >= 0 || t->loops[i].wakefd >= 0)
        ioloop_destroy (&t->loops[i]);
  free (t->loops);
  if (t->workers.threads != NULL)
    workers_destroy (&t->workers);
  if (t->portal_names != NULL)
    for (k = 0; k < t->n_portals; k++)
      free (t->portal_names[k]);
  free (t->portal_names);
  free (t->prefix);
  pthread_mutex_destroy (&t->lock);
  free (t);
}

void
target_forget_conn (struct iscsi_target *t, struct iscsi_conn *c)
{
  struct iscsi_conn **pp;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  for (pp = &t->conns; *pp != NULL; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      t->n_conns--;
      break;
    }
}

/*----------------------------------------------------------------------
 * Administration.
 */

static void
fill_info (const struct iscsi_conn *c, struct iscsi_session_info *i)
{
  const struct iscsi_session *s = c->sess;

  memset (i, 0, sizeof *i);
  snprintf (i->initiator, sizeof i->initiator, "%s", s->initiator);
  snprintf (i->initiator_port, sizeof i->initiator_port, "%s",
            s->initiator_port);
  snprintf (i->target, sizeof i->target, "%s", s->target);
  snprintf (i->portal, sizeof i->portal, "%s", c->local);
  snprintf (i->peer, sizeof i->peer, "%s", c->peer);
  i->tsih = s->tsih;
  i->cid = c->cid;
  i->discovery = s->discovery;
  i->header_digest = s->params.header_digest == ISCSI_DIGEST_CRC32C;
  i->data_digest = s->params.data_digest == ISCSI_DIGEST_CRC32C;
  i->chap = s->chap;
  i->max_recv_dsl = c->rx_lim.max_recv_dsl;
  i->peer_max_recv_dsl = s->params.max_recv_dsl;
  i->max_burst_length = s->params.max_burst_length;
  i->first_burst_length = s->params.first_burst_length;
  i->initial_r2t = s->params.initial_r2t;
  i->immediate_data = s->params.immediate_data;
  i->commands = atomic_load (&((struct iscsi_session *) s)->commands);
}

int
iscsi_target_sessions (struct iscsi_target *t,
                       struct iscsi_session_info **out, size_t *n)
{
  struct iscsi_conn *c;
  size_t count = 0;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  *out = calloc (t->n_conns + 1, sizeof **out);
  if (*out == NULL) {
    sm_error ("iscsi: out of memory");
    return -1;
  }
  for (c = t->conns; c != NULL; c = c->next)
    if (c->sess != NULL && !atomic_load (&c->closed))
      fill_info (c, &(*out)[count++]);
  *n = count;
  return 0;
}

size_t
iscsi_target_drop (struct iscsi_target *t, const char *initiator,
                   const char *vdisk)
{
  struct iscsi_conn *c;
  size_t count = 0;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  for (c = t->conns; c != NULL; c = c->next) {
    const struct iscsi_session *s = c->sess;

    if (s == NULL || atomic_load (&c->closed))
      continue;
    if (initiator != NULL && strcmp (s->initiator, initiator) != 0)
      continue;
    if (vdisk != NULL && (s->discovery || strcmp (s->vdisk, vdisk) != 0))
      continue;
    conn_request_close (c);
    count++;
  }
  return count;
}
