/* segmap: the iSCSI service (see service.h). */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/cleanup.h"
#include "common/errors.h"
#include "common/json-add.h"
#include "common/names.h"
#include "config/config.h"
#include "iscsi/chap.h"
#include "iscsi/target.h"
#include "service/access.h"
#include "service/service-internal.h"

/* Access lists -------------------------------------------------------------- */

static int
reload_access (struct iscsi_service *s)
{
  struct iscsi_access st = { 0 };

  if (s->dir.ops->access (s->dir.h, &st) == -1)
    return -1;
  access_load (s->access, &st);
  return 0;
}

/* Snapshots as targets.  A snapshot's table is VDISK@SNAP, and '@'
 * cannot appear in an iSCSI name, so its target is PREFIX:VDISK:SNAP
 * (':' is in no vdisk name).  It is served read-only, and only to the
 * initiators whose [host] names VDISK@SNAP: with no [host] at all,
 * every initiator sees every vdisk but no snapshot. */

/* The table name of target part NAME (VDISK or VDISK:SNAP) into BUF. */
static const char *
table_name (const char *name, char *buf, size_t n)
{
  const char *colon = strchr (name, ':');

  if (colon == NULL)
    return name;
  snprintf (buf, n, "%.*s@%s", (int) (colon - name), name, colon + 1);
  return buf;
}

/* May INITIATOR see target part NAME? */
static bool
may_see (struct iscsi_service *s, const char *initiator, const char *name)
{
  char buf[2 * SM_NAME_MAX + 2];
  const char *t = table_name (name, buf, sizeof buf);

  if (t != name)
    return access_granted (s->access, initiator, t);
  return access_allowed (s->access, initiator, t);
}

/* The vdisk of target name TARGET (PREFIX:VDISK), or NULL. */
static const char *
target_vdisk (struct iscsi_service *s, const char *target)
{
  size_t n = strlen (s->cfg->target_prefix);

  if (strncasecmp (target, s->cfg->target_prefix, n) != 0 || target[n] != ':')
    return NULL;
  return target + n + 1;
}

/* Close the sessions whose initiator may no longer see their vdisk. */
static void
drop_revoked (struct iscsi_service *s)
{
  struct iscsi_session_info *v;
  size_t n;

  if (s->target == NULL || iscsi_target_sessions (s->target, &v, &n) == -1)
    return;
  for (size_t i = 0; i < n; i++) {
    const char *vdisk = target_vdisk (s, v[i].target);

    if (vdisk && !may_see (s, v[i].initiator, vdisk)) {
      sm_debug ("iscsi: %s lost access to %s: closing its session",
                v[i].initiator, vdisk);
      iscsi_target_drop (s->target, v[i].initiator, vdisk);
    }
  }
  free (v);
}

/* Target hooks ----------------------------------------------------------- */

struct foreach_ctx {
  int (*fn) (void *opaque, const char *vdisk);
  void *opaque;
};

/* Every table is a target: a snapshot's VDISK@SNAP as VDISK:SNAP. */
static int
foreach_table (void *opaque, const struct table *t)
{
  struct foreach_ctx *ctx = opaque;
  const char *at = strchr (t->name, '@');
  char buf[2 * SM_NAME_MAX + 2];

  if (at == NULL)
    return ctx->fn (ctx->opaque, t->name);
  snprintf (buf, sizeof buf, "%.*s:%s", (int) (at - t->name), t->name,
            at + 1);
  return ctx->fn (ctx->opaque, buf);
}

static int
hook_foreach_vdisk (void *h, int (*fn) (void *opaque, const char *vdisk),
                    void *opaque)
{
  struct iscsi_service *s = h;
  struct foreach_ctx ctx = { fn, opaque };

  return agent_foreach_vdisk (s->agent, foreach_table, &ctx);
}

static bool
hook_allowed (void *h, const char *initiator, const char *vdisk)
{
  return may_see (h, initiator, vdisk);
}

static bool
hook_chap_required (void *h, const char *initiator)
{
  struct iscsi_service *s = h;
  return access_chap_required (s->access, initiator);
}

static int
hook_lookup_secret (void *h, const char *initiator, const char *user,
                    struct chap_credentials *cred)
{
  struct iscsi_service *s = h;
  return access_lookup_secret (s->access, initiator, user, cred);
}

static int
hook_target_credentials (void *h, const char *initiator,
                         struct chap_credentials *cred)
{
  struct iscsi_service *s = h;
  return access_target_credentials (s->access, initiator, cred);
}

static struct scsi_lu *
hook_open_lu (void *h, const char *vdisk)
{
  char buf[2 * SM_NAME_MAX + 2];

  return units_open (h, table_name (vdisk, buf, sizeof buf));
}

static void
hook_close_lu (void *h, struct scsi_lu *lu)
{
  units_close (h, lu);
}

static const struct iscsi_target_hooks hooks = {
  .foreach_vdisk = hook_foreach_vdisk,
  .allowed = hook_allowed,
  .chap_required = hook_chap_required,
  .lookup_secret = hook_lookup_secret,
  .target_credentials = hook_target_credentials,
  .open_lu = hook_open_lu,
  .close_lu = hook_close_lu,
};

/* Lifecycle ----------------------------------------------------------------- */

struct iscsi_service *
iscsi_service_new (const struct segmap_config *cfg, struct agent *agent,
                   const struct iscsi_directory *dir, ctl_dispatch_fn admin,
                   void *admin_h)
{
  struct iscsi_service *s = calloc (1, sizeof *s);

  if (s == NULL) {
    sm_error ("calloc: %m");
    return NULL;
  }
  s->cfg = cfg;
  s->agent = agent;
  s->dir = *dir;
  s->admin = admin;
  s->admin_h = admin_h;
  pthread_mutex_init (&s->units_lock, NULL);
  s->access = access_new ();
  if (s->access == NULL) {
    iscsi_service_free (s);
    return NULL;
  }
  return s;
}

int
iscsi_service_start (struct iscsi_service *s)
{
  struct iscsi_target_settings set = {
    .portals = (const char *const *) s->cfg->portals,
    .n_portals = s->cfg->n_portals,
    .target_prefix = s->cfg->target_prefix,
  };

  if (reload_access (s) == -1)
    return -1;
  if (!s->cfg->iscsi_enabled)
    return 0;
  s->target = iscsi_target_new (&set, &hooks, s);
  if (s->target == NULL)
    return -1;
  if (iscsi_target_start (s->target) == -1) {
    iscsi_target_free (s->target);
    s->target = NULL;
    return -1;
  }
  return 0;
}

void
iscsi_service_stop (struct iscsi_service *s)
{
  if (s && s->target) {
    iscsi_target_stop (s->target);
    iscsi_target_free (s->target);
    s->target = NULL;
  }
}

void
iscsi_service_free (struct iscsi_service *s)
{
  if (s == NULL)
    return;
  iscsi_service_stop (s);
  access_free (s->access);
  pthread_mutex_destroy (&s->units_lock);
  free (s);
}

/* Control-socket commands ----------------------------------------------------- */

static json_object *
fail (char **error, const char *msg)
{
  *error = strdup (msg);
  return NULL;
}

static json_object *
session_json (const struct iscsi_session_info *i)
{
  json_object *o = json_object_new_object ();

  json_add_string (o, "initiator", i->initiator);
  json_add_string (o, "initiator_port", i->initiator_port);
  json_add_string (o, "target", i->target);
  json_add_string (o, "portal", i->portal);
  json_add_string (o, "peer", i->peer);
  json_add_u64 (o, "tsih", i->tsih);
  json_add_u64 (o, "cid", i->cid);
  json_add_string (o, "type", i->discovery ? "discovery" : "normal");
  json_add_bool (o, "header_digest", i->header_digest);
  json_add_bool (o, "data_digest", i->data_digest);
  json_add_bool (o, "chap", i->chap);
  json_add_u64 (o, "max_recv_data_segment_length", i->max_recv_dsl);
  json_add_u64 (o, "peer_max_recv_data_segment_length", i->peer_max_recv_dsl);
  json_add_u64 (o, "max_burst_length", i->max_burst_length);
  json_add_u64 (o, "first_burst_length", i->first_burst_length);
  json_add_bool (o, "initial_r2t", i->initial_r2t);
  json_add_bool (o, "immediate_data", i->immediate_data);
  json_add_u64 (o, "commands", i->commands);
  return o;
}

static json_object *
cmd_sessions (struct iscsi_service *s, char **error)
{
  json_object *o = json_object_new_object ();
  json_object *a = json_object_new_array ();
  struct iscsi_session_info *v = NULL;
  size_t n = 0;

  if (s->target && iscsi_target_sessions (s->target, &v, &n) == -1) {
    json_object_put (o);
    json_object_put (a);
    return fail (error, sm_last_error ());
  }
  for (size_t i = 0; i < n; i++)
    json_object_array_add (a, session_json (&v[i]));
  free (v);
  json_add_bool (o, "enabled", s->target != NULL);
  json_object_object_add (o, "sessions", a);
  return o;
}

/* Refuse a CHAP secret file the target could not use at login. */
static int
check_secret_arg (json_object *args, const char *key, char **error)
{
  json_object *v;
  struct chap_credentials cred;

  if (!json_object_object_get_ex (args, key, &v)
      || !json_object_is_type (v, json_type_string))
    return 0;
  if (chap_secret_load (json_object_get_string (v), &cred) == -1) {
    fail (error, sm_last_error ());
    return -1;
  }
  memset (&cred, 0, sizeof cred);
  return 0;
}

static bool
is_prefix (const char *prefix, const char *s)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

json_object *
iscsi_service_dispatch (void *opaque, const char *cmd, json_object *args,
                        char **error)
{
  struct iscsi_service *s = opaque;
  json_object *r;

  *error = NULL;
  if (strcmp (cmd, "iscsi.sessions") == 0)
    return cmd_sessions (s, error);
  if (check_secret_arg (args, "chap_secret_file", error) == -1
      || check_secret_arg (args, "mutual_chap_secret_file", error) == -1)
    return NULL;

  r = s->admin (s->admin_h, cmd, args, error);
  if (r == NULL)
    return NULL;

  if (is_prefix ("iscsi.host.", cmd) || is_prefix ("iscsi.chap.", cmd)) {
    if (reload_access (s) == -1)
      sm_error ("iscsi: %s done, but the access lists were not reloaded: "
                "%s", cmd, sm_last_error ());
    else
      drop_revoked (s);
  }
  else if (strcmp (cmd, "vdisk.resize") == 0) {
    json_object *name;

    if (json_object_object_get_ex (args, "name", &name))
      units_resized (s, json_object_get_string (name));
  }
  else if (strcmp (cmd, "vdisk.delete") == 0 && s->target) {
    json_object *name;

    if (json_object_object_get_ex (args, "name", &name))
      iscsi_target_drop (s->target, NULL, json_object_get_string (name));
  }
  return r;
}
