/* segmap: iSCSI sessions -- TSIH, reinstatement, the logical unit
 * nexus and the CmdSN window.
 *
 * With MaxConnections=1 a session is its one connection (c->sess).  It
 * is created when the login succeeds (session_create) and destroyed
 * with its connection's last reference (session_destroy).
 *
 * Reinstatement (RFC 7143 §6.3.5): a new login with TSIH 0 and the
 * ISID and InitiatorName of a live session closes that session first.
 * A login with a non-zero TSIH must name a live session of the same
 * initiator port (else 020a); having one connection per session, we
 * replace the old connection and keep the TSIH and the session-wide
 * values negotiated before.
 *
 * CmdSN window: ExpCmdSN is the next CmdSN to run; MaxCmdSN = ExpCmdSN
 * + (ISCSI_QUEUE_DEPTH - outstanding) - 1, where outstanding counts the
 * non-immediate commands received and not finished.  MaxCmdSN never
 * goes down (RFC 7143 §4.2.2.1).
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

void
session_update_window (struct iscsi_session *s)
{
  uint32_t free_slots = s->outstanding >= ISCSI_QUEUE_DEPTH ? 0
    : ISCSI_QUEUE_DEPTH - s->outstanding;
  uint32_t max = s->exp_cmdsn + free_slots - 1;
  uint32_t old = atomic_load (&s->max_cmdsn);

  atomic_store (&s->exp_cmdsn_pub, s->exp_cmdsn);
  if (iscsi_sn_before (old, max))
    atomic_store (&s->max_cmdsn, max);
}

/* A live session (t->lock held) of this initiator port, but C's. */
static struct iscsi_conn *
find_session (struct iscsi_target *t, struct iscsi_conn *c,
              const char *initiator, uint64_t isid, uint16_t tsih)
{
  struct iscsi_conn *o;

  for (o = t->conns; o != NULL; o = o->next)
    if (o != c && o->sess != NULL && !atomic_load (&o->closed)
        && !atomic_load (&o->kill) && o->sess->isid == isid
        && strcmp (o->sess->initiator, initiator) == 0
        && (tsih == 0 || o->sess->tsih == tsih))
      return o;
  return NULL;
}

bool
session_tsih_in_use (struct iscsi_target *t, uint16_t tsih)
{
  struct iscsi_conn *o;

  for (o = t->conns; o != NULL; o = o->next)
    if (o->sess != NULL && o->sess->tsih == tsih)
      return true;
  return false;
}

static uint16_t
new_tsih (struct iscsi_target *t)
{
  do
    t->next_tsih++;
  while (t->next_tsih == 0 || session_tsih_in_use (t, t->next_tsih));
  return t->next_tsih;
}

static struct iscsi_session *
session_alloc (const struct login *l)
{
  struct iscsi_session *s = calloc (1, sizeof *s);

  if (s == NULL) {
    sm_error ("iscsi: out of memory for a session");
    return NULL;
  }
  s->isid = l->isid;
  s->params = l->params;
  s->discovery = l->params.session_type == ISCSI_SESSION_DISCOVERY;
  s->chap = l->chap_required;
  snprintf (s->initiator, sizeof s->initiator, "%s",
            l->params.initiator_name);
  snprintf (s->initiator_port, sizeof s->initiator_port,
            "%s,i,0x%012" PRIx64, s->initiator, s->isid);
  if (!s->discovery) {
    snprintf (s->vdisk, sizeof s->vdisk, "%s", l->vdisk);
    snprintf (s->target, sizeof s->target, "%s", l->params.target_name);
  }
  s->exp_cmdsn = l->cmdsn;
  atomic_init (&s->max_cmdsn, l->cmdsn - 1);
  session_update_window (s);
  return s;
}

/* Open the logical unit and attach the nexus.  Returns 0 or -1. */
static int
attach_lu (struct iscsi_target *t, struct iscsi_session *s)
{
  /* The logical unit's target ports (relative port ISCSI_TARGET_PORT_ID
   * in portal group ISCSI_PORTAL_TAG) are set by whoever creates it. */
  s->lu = t->hooks.open_lu (t->h, s->vdisk);
  if (s->lu == NULL)
    return -1;
  s->itl = scsi_lu_attach (s->lu, s->initiator_port, ISCSI_TARGET_PORT_ID);
  return s->itl == NULL ? -1 : 0;
}

/* Close the sessions C replaces and give C its TSIH (t->lock held). */
static void
install (struct iscsi_target *t, struct iscsi_conn *c,
         struct iscsi_session *s, uint16_t tsih)
{
  struct iscsi_conn *old;

  while ((old = find_session (t, c, s->initiator, s->isid, 0)) != NULL) {
    sm_debug ("iscsi: reinstating the session of %s (TSIH %u)",
              s->initiator_port, old->sess->tsih);
    atomic_store (&old->kill, true);
    if (old->loop != NULL)
      ioloop_wake (old->loop);
  }
  s->tsih = tsih != 0 ? tsih : new_tsih (t);
  c->sess = s;
}

uint16_t
session_create (struct iscsi_conn *c, const struct login *l)
{
  struct iscsi_target *t = c->t;
  struct iscsi_session *s;

  if (l->tsih != 0) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    struct iscsi_conn *old = find_session (t, c, l->params.initiator_name,
                                           l->isid, l->tsih);

    if (old == NULL)
      return ISCSI_LOGIN_NO_SESSION;
  }
  if ((s = session_alloc (l)) == NULL)
    return ISCSI_LOGIN_OUT_OF_RESOURCES;
  if (!s->discovery && attach_lu (t, s) == -1) {
    session_destroy (t, s);
    return ISCSI_LOGIN_TARGET_ERROR;
  }
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    if (l->tsih != 0) {
      struct iscsi_conn *old = find_session (t, c, s->initiator, s->isid,
                                             l->tsih);

      if (old == NULL) {
        pthread_mutex_unlock (&t->lock);
        session_destroy (t, s);
        pthread_mutex_lock (&t->lock);
        return ISCSI_LOGIN_NO_SESSION;
      }
      /* Session-wide values stay; this connection's are new. */
      {
        struct iscsi_params p = old->sess->params;

        p.header_digest = s->params.header_digest;
        p.data_digest = s->params.data_digest;
        p.max_recv_dsl = s->params.max_recv_dsl;
        s->params = p;
      }
    }
    install (t, c, s, l->tsih);
  }
  return 0;
}

void
session_destroy (struct iscsi_target *t, struct iscsi_session *s)
{
  if (s->itl != NULL)
    scsi_lu_detach (s->itl);
  if (s->lu != NULL)
    t->hooks.close_lu (t->h, s->lu);
  free (s);
}
