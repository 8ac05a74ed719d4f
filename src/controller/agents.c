/* segmap: the agents the controller serves, and commands to them.
 *
 * An agent exists for the controller once it has sent REGISTER (name,
 * protocol version) over its transport: the controller checks the
 * version, gives it an id, attaches every container (CONTAINER_ATTACH:
 * the agent opens its own handle), creates every vdisk's table
 * (NEW_TABLE), tells it whether writes are refused (SET_DEGRADED) and
 * only then answers the REGISTER.  A version mismatch is refused with a
 * REPLY carrying EPROTONOSUPPORT and this controller's version (arg2),
 * and logged naming both.
 *
 * Matched replies.  Every command gets an id unique in this controller
 * (next_command_id); the agent's REPLY must carry that id.  What a
 * command did is then one of three outcomes:
 *   applied   a REPLY with status 0           -> 0
 *   refused   a REPLY with an errno           -> -1, errno
 *   unknown   the send failed, no REPLY came, -> CTRL_UNKNOWN, logged
 *             it did not decode, or it was
 *             not the REPLY to this command
 * "Unknown" is never taken for "not applied": the callers keep what
 * the agent may hold (grants stay outstanding) or fence the vdisk.
 *
 * Everything here runs on the controller thread.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "controller/controller-internal.h"
#include "proto/transport.h"
#include "store/container.h"

struct ctrl_agent *
ctrl_agent_of (struct controller *c, struct transport *tr)
{
  for (size_t i = 0; i < c->agents.len; i++)
    if (c->agents.ptr[i]->tr == tr)
      return c->agents.ptr[i];
  return NULL;
}

static void
agent_free_one (struct ctrl_agent *ag)
{
  if (ag) {
    free (ag->name);
    free (ag);
  }
}

void
ctrl_free_agents (struct controller *c)
{
  for (size_t i = 0; i < c->agents.len; i++)
    agent_free_one (c->agents.ptr[i]);
  free (c->agents.ptr);
  c->agents.ptr = NULL;
  c->agents.len = c->agents.cap = 0;
}

/* Deliver a frame; for a command, decode and match its REPLY. */
static int
deliver (struct controller *c, struct ctrl_agent *ag, const struct msg *m,
         const uint8_t *frame, size_t len, struct msg *reply)
{
  CLEANUP_FREE uint8_t *answer = NULL;
  size_t answer_len = 0;
  bool command = msg_is_command (m->type);
  struct msg r;

  if (ag->tr->to_agent (ag->tr, frame, len, &answer, &answer_len) == -1) {
    sm_error ("controller: agent %s: cannot deliver %s %" PRIu64
              ": its outcome is unknown", ag->name,
              msg_type_to_string (m->type), m->id);
    return CTRL_UNKNOWN;
  }
  if (!command)
    return 0;
  if (answer == NULL) {
    sm_error ("controller: agent %s: no reply to %s %" PRIu64 ": its "
              "outcome is unknown", ag->name, msg_type_to_string (m->type),
              m->id);
    return CTRL_UNKNOWN;
  }
  if (msg_decode (answer, answer_len, &r) == -1) {
    sm_error ("controller: agent %s: undecodable reply to %s %" PRIu64
              " (%s): its outcome is unknown", ag->name,
              msg_type_to_string (m->type), m->id, sm_last_error ());
    return CTRL_UNKNOWN;
  }
  if (r.type != MSG_REPLY || r.id != m->id) {
    sm_error ("controller: agent %s: %s %" PRIu64 " answered by %s %"
              PRIu64 ": its outcome is unknown", ag->name,
              msg_type_to_string (m->type), m->id,
              msg_type_to_string (r.type), r.id);
    msg_clear (&r);
    return CTRL_UNKNOWN;
  }
  if (r.status != 0) {
    errno = r.status;
    msg_clear (&r);
    return -1;
  }
  if (reply)
    *reply = r;
  else
    msg_clear (&r);
  return 0;
}

int
ctrl_send (struct controller *c, struct ctrl_agent *ag, struct msg *m,
           struct msg *reply)
{
  CLEANUP_FREE uint8_t *frame = NULL;
  size_t len;
  int r;

  if (ag == NULL) {
    sm_error ("controller: %s for no agent", msg_type_to_string (m->type));
    return CTRL_UNKNOWN;
  }
  if (msg_is_command (m->type))
    m->id = ++c->next_command_id;
  if (msg_encode (m, &frame, &len) == -1) {
    /* Nothing left: it is known not to have been applied. */
    errno = EINVAL;
    return -1;
  }
  r = deliver (c, ag, m, frame, len, reply);
  if (r == CTRL_UNKNOWN)
    ag->unknown++;
  ctrl_move_commanded (c, m, r);
  return r;
}

int
ctrl_broadcast_except (struct controller *c, struct msg *m, int ok_errno)
{
  int result = 0, err = 0;

  for (size_t i = 0; i < c->agents.len; i++) {
    int r = ctrl_send (c, c->agents.ptr[i], m, NULL);
    if (r == CTRL_UNKNOWN)
      result = CTRL_UNKNOWN;
    else if (r == -1 && (ok_errno == 0 || errno != ok_errno)
             && result == 0) {
      result = -1;
      err = errno;
    }
  }
  if (result == -1)
    errno = err;
  return result;
}

int
ctrl_quiesce (struct controller *c, uint32_t *ids, size_t n, bool on)
{
  struct msg m = { .type = on ? MSG_QUIESCE : MSG_ACTIVATE,
                   .vdisks = ids, .n_vdisks = n,
                   .arg = on ? CTRL_QUIESCE_TIMEOUT_MS : 0 };

  return ctrl_broadcast (c, &m) == 0 ? 0 : -1;
}

int
ctrl_broadcast (struct controller *c, struct msg *m)
{
  return ctrl_broadcast_except (c, m, 0);
}

int
ctrl_attach_container (struct controller *c, struct ctrl_agent *ag,
                       const struct ctrl_container *cc)
{
  struct msg m = { .type = MSG_CONTAINER_ATTACH, .arg = cc->c->size,
                   .arg2 = cc->c->id, .name = cc->c->name,
                   .path = cc->c->path };

  return ag ? ctrl_send (c, ag, &m, NULL) : ctrl_broadcast (c, &m);
}

void
ctrl_fence_vdisk (struct controller *c, struct sm_vdisk_info *v,
                  const char *why)
{
  sm_error ("controller: vdisk %s fenced read-only: %s; check it, then "
            "make it writable again", v->name, why);
  if (v->read_only)
    return;
  v->read_only = true;
  if (ctrl_change (c) == -1
      || store_vdisk_set_read_only (c->store, v->id, true) == -1)
    sm_error ("controller: vdisk %s: the fence could not be stored "
              "(it holds until restart)", v->name);
  /* The controller refuses every allocation, trim and zero of V from
   * now on.  The agents learn V's mode with its table: NEW_TABLE of an
   * existing table changes nothing but what it carries of V (its size
   * today; its read-only flag once NEW_TABLE carries one, which is what
   * stops writes to segments already mapped). */
  ctrl_announce_vdisk (c, NULL, v);
}

unsigned
ctrl_agent_stats (struct controller *c, struct ctrl_agent *only,
                  uint64_t *counters)
{
  unsigned n = 0;

  memset (counters, 0, MSG_STAT_COUNT * sizeof counters[0]);
  for (size_t i = 0; i < c->agents.len; i++) {
    struct ctrl_agent *ag = c->agents.ptr[i];
    struct msg m = { .type = MSG_GET_STATS }, r;

    if ((only && ag != only) || ctrl_send (c, ag, &m, &r) != 0)
      continue;
    for (uint32_t k = 0; k < r.n_counters && k < MSG_STAT_COUNT; k++)
      counters[k] += r.counters[k];
    msg_clear (&r);
    n++;
  }
  return n;
}

/* Registration ------------------------------------------------------- */

static void
answer_register (struct controller *c, struct ctrl_agent *ag,
                 const struct msg *req, int status)
{
  struct msg m = { .type = MSG_REPLY, .id = req->id, .status = status,
                   .arg = status == 0 ? ag->id : 0,
                   .arg2 = MSG_VERSION };

  if (ctrl_send (c, ag, &m, NULL) != 0)
    sm_error ("controller: cannot answer the REGISTER of agent %s",
              ag->name);
}

/* Attach the containers, create the tables, set the mode. */
static int
bring_up (struct controller *c, struct ctrl_agent *ag)
{
  struct msg mode = { .type = MSG_SET_DEGRADED,
                      .flags = c->degraded ? MSG_F_ON : 0 };

  for (uint32_t id = 1; id <= c->max_container; id++)
    if (c->containers[id] && !c->containers[id]->failed
        && ctrl_attach_container (c, ag, c->containers[id]) != 0) {
      sm_error ("controller: agent %s cannot attach container %s: %m",
                ag->name, c->containers[id]->c->name);
      return -1;
    }
  for (size_t i = 0; i < c->n_vdisks; i++)
    if (ctrl_announce_vdisk (c, ag, &c->vdisks[i]) == -1)
      return -1;
  if (ctrl_send (c, ag, &mode, NULL) != 0) {
    sm_error ("controller: agent %s: cannot set its write mode", ag->name);
    return -1;
  }
  return 0;
}

void
ctrl_register_agent (struct controller *c, struct transport *tr,
                     struct msg *req)
{
  struct ctrl_agent *ag = calloc (1, sizeof *ag);
  bool listed = false;

  if (ag == NULL || (ag->name = strdup (req->name)) == NULL) {
    sm_error ("controller: cannot register agent %s: %m", req->name);
    if (ag) {
      struct ctrl_agent tmp = { .name = req->name, .tr = tr };
      answer_register (c, &tmp, req, ENOMEM);
    }
    free (ag);
    return;
  }
  ag->tr = tr;
  ag->version = req->arg;
  ag->registered = ag->last_heard = time (NULL);
  if (ctrl_agent_of (c, tr) != NULL) {
    sm_error ("controller: agent %s registers twice on one transport: "
              "refused", req->name);
    answer_register (c, ag, req, EEXIST);
  }
  else if (req->arg != MSG_VERSION) {
    sm_error ("controller: agent %s speaks protocol version %" PRIu64
              " and this controller version %d: registration refused",
              req->name, req->arg, MSG_VERSION);
    answer_register (c, ag, req, EPROTONOSUPPORT);
  }
  else if (agent_vector_append (&c->agents, ag) == -1)
    answer_register (c, ag, req, ENOMEM);
  else {
    listed = true;
    ag->id = ++c->next_agent_id;
    if (bring_up (c, ag) == -1) {
      c->agents.len--;          /* appended last */
      listed = false;
      answer_register (c, ag, req, EIO);
    }
    else {
      sm_debug ("controller: agent %s registered as agent %" PRIu32,
                ag->name, ag->id);
      answer_register (c, ag, req, 0);
    }
  }
  if (!listed)
    agent_free_one (ag);
}
