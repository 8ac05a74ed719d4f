/* segmap: the controller's iSCSI commands -- access lists and CHAP
 * settings.
 *
 * The controller only stores these; the iSCSI service (src/service)
 * reads them back after every change through its typed directory
 * (iscsi-directory.c, which also keeps persistent reservations) and
 * applies them at the next discovery or login.  Secrets never enter the database: a host row or
 * the target-wide setting names the file that holds the secret, which
 * the service reads at each login.
 *
 *   iscsi.host.list                          {hosts: [...]}
 *   iscsi.host.add    {name, initiator, vdisks?, chap_user?,
 *                      chap_secret_file?}    the new host
 *   iscsi.host.remove {name}
 *   iscsi.host.allow  {name, vdisk}          (idempotent)
 *   iscsi.host.deny   {name, vdisk}          (idempotent)
 *   iscsi.host.chap   {name, chap_user?, chap_secret_file?} (absent: off)
 *   iscsi.chap.get                           the target-wide settings
 *   iscsi.chap.set    {chap_user?, chap_secret_file?, mutual_chap_user?,
 *                      mutual_chap_secret_file?}  (absent: off)
 *
 * Start-up (ctrl_reconcile_iscsi): every [host] section of the
 * configuration replaces the stored host of its name, and CHAP settings
 * given in [iscsi] replace the stored ones; hosts and settings made with
 * segmapctl persist otherwise.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/names.h"
#include "config/config.h"
#include "config/config-internal.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"

/* The four meta keys of the target-wide CHAP settings, in the order of
 * the JSON arguments of the same names. */
static const char *const chap_keys[] = {
  "chap_user", "chap_secret_file", "mutual_chap_user",
  "mutual_chap_secret_file",
};
#define N_CHAP_KEYS (sizeof chap_keys / sizeof chap_keys[0])
_Static_assert (N_CHAP_KEYS == CTRL_N_CHAP_KEYS, "four CHAP settings");

static const char *
meta_key (const char *arg)
{
  static const char *const keys[N_CHAP_KEYS] = {
    "iscsi_chap_user", "iscsi_chap_secret_file", "iscsi_mutual_chap_user",
    "iscsi_mutual_chap_secret_file",
  };

  for (size_t i = 0; i < N_CHAP_KEYS; i++)
    if (strcmp (arg, chap_keys[i]) == 0)
      return keys[i];
  abort ();
}

/* Hosts ------------------------------------------------------------------ */

static json_object *
string_or_null (const char *s)
{
  return s ? json_object_new_string (s) : NULL;
}

static json_object *
host_json (const struct sm_host_info *h)
{
  json_object *o = json_object_new_object ();
  json_object *v = json_object_new_array ();

  json_add_string (o, "name", h->name);
  json_object_object_add (o, "initiator",
                          json_object_new_string (h->initiator));
  json_object_object_add (o, "chap_user", string_or_null (h->chap_user));
  json_object_object_add (o, "chap_secret_file",
                          string_or_null (h->chap_secret_file));
  for (size_t i = 0; i < h->n_vdisks; i++)
    json_object_array_add (v, json_object_new_string (h->vdisks[i]));
  json_object_object_add (o, "vdisks", v);
  return o;
}

/* The stored host NAME, into *H (caller sm_host_info_free's *ALL).
 * NULL + *error if there is none. */
static struct sm_host_info *
find_host (struct controller *c, const char *name,
           struct sm_host_info **all, size_t *n, char **error)
{
  *all = NULL;
  *n = 0;
  if (store_host_list (c->store, all, n) == -1) {
    fail (error, "cannot list hosts: %s", sm_last_error ());
    return NULL;
  }
  for (size_t i = 0; i < *n; i++)
    if (strcmp ((*all)[i].name, name) == 0)
      return &(*all)[i];
  fail (error, "host '%s' does not exist", name);
  return NULL;
}

/* Store H and commit; the stored host as JSON, or NULL + *error. */
static json_object *
put_host (struct controller *c, const struct sm_host_info *h, char **error)
{
  if (ctrl_change (c) == -1 || store_host_put (c->store, h) == -1)
    return fail (error, "cannot store host '%s': %s", h->name,
                 sm_last_error ());
  if (ctrl_commit (c, false) == -1)
    return fail (error, "cannot commit host '%s'", h->name);
  return host_json (h);
}

json_object *
ctrl_cmd_host_list (struct controller *c, json_object *args, char **error)
{
  struct sm_host_info *v;
  size_t n;
  json_object *o, *a;

  if (store_host_list (c->store, &v, &n) == -1)
    return fail (error, "cannot list hosts: %s", sm_last_error ());
  o = json_object_new_object ();
  a = json_object_new_array ();
  for (size_t i = 0; i < n; i++)
    json_object_array_add (a, host_json (&v[i]));
  json_object_object_add (o, "hosts", a);
  sm_host_info_free (v, n);
  return o;
}

/* CHAP_USER and CHAP_SECRET_FILE arguments: both or neither, sane.  0,
 * or -1 with *error. */
static int
chap_args (json_object *args, const char *user_key, const char *file_key,
           const char **user, const char **file, char **error)
{
  *user = arg_string (args, user_key);
  *file = arg_string (args, file_key);
  if ((*user == NULL) != (*file == NULL)) {
    fail (error, "%s and %s go together", user_key, file_key);
    return -1;
  }
  if (*user && (**user == '\0' || strlen (*user) > 255)) {
    fail (error, "invalid %s: 1 to 255 bytes", user_key);
    return -1;
  }
  if (*file && (*file)[0] != '/') {
    fail (error, "%s must be an absolute path", file_key);
    return -1;
  }
  return 0;
}

/* Vdisk names in args["vdisks"] (an array of names), into H. */
static int
vdisk_args (json_object *args, struct sm_host_info *h, char **error)
{
  json_object *a;

  if (!json_object_object_get_ex (args, "vdisks", &a)
      || json_object_is_type (a, json_type_null))
    return 0;
  if (!json_object_is_type (a, json_type_array)) {
    fail (error, "vdisks must be an array of names");
    return -1;
  }
  h->n_vdisks = json_object_array_length (a);
  h->vdisks = calloc (h->n_vdisks + 1, sizeof *h->vdisks);
  if (h->vdisks == NULL) {
    fail (error, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < h->n_vdisks; i++) {
    json_object *e = json_object_array_get_idx (a, i);
    const char *name = json_object_get_string (e);

    if (!json_object_is_type (e, json_type_string)
        || !sm_valid_export_name (name)) {
      fail (error, "invalid vdisk name in vdisks: names are %s, or "
            "VDISK@SNAP for a snapshot", SM_NAME_RULE);
      return -1;
    }
    h->vdisks[i] = (char *) name;       /* borrowed from ARGS */
  }
  return 0;
}

json_object *
ctrl_cmd_host_add (struct controller *c, json_object *args, char **error)
{
  struct sm_host_info h = { 0 };
  struct sm_host_info *all;
  size_t n;
  const char *why;
  json_object *r = NULL;

  h.name = (char *) arg_name (args, "name", error);
  if (h.name == NULL)
    return NULL;
  h.initiator = (char *) arg_string (args, "initiator");
  if (h.initiator == NULL)
    return fail (error, "missing argument 'initiator'");
  if ((why = cfg_check_initiator (h.initiator)) != NULL)
    return fail (error, "invalid initiator '%s': %s", h.initiator, why);
  if (chap_args (args, "chap_user", "chap_secret_file",
                 (const char **) &h.chap_user,
                 (const char **) &h.chap_secret_file, error) == -1
      || vdisk_args (args, &h, error) == -1)
    goto out;
  if (store_host_list (c->store, &all, &n) == -1) {
    fail (error, "cannot list hosts: %s", sm_last_error ());
    goto out;
  }
  for (size_t i = 0; i < n && !*error; i++)
    if (strcmp (all[i].name, h.name) == 0)
      fail (error, "host '%s' already exists", h.name);
  sm_host_info_free (all, n);
  if (*error == NULL)
    r = put_host (c, &h, error);
 out:
  free (h.vdisks);
  return r;
}

json_object *
ctrl_cmd_host_remove (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);

  if (name == NULL)
    return NULL;
  if (ctrl_change (c) == -1 || store_host_delete (c->store, name) == -1)
    return fail (error, "cannot remove host '%s': %s", name,
                 sm_last_error ());
  if (ctrl_commit (c, false) == -1)
    return fail (error, "cannot commit the removal of host '%s'", name);
  return json_object_new_object ();
}

/* Add (ALLOW) or take away VDISK from host NAME's list. */
static json_object *
change_vdisks (struct controller *c, json_object *args, bool allow,
               char **error)
{
  const char *name = arg_name (args, "name", error);
  const char *vdisk = name ? arg_string (args, "vdisk") : NULL;
  struct sm_host_info *all, *h;
  size_t n, j = 0;
  json_object *r = NULL;
  char **v;

  if (name && (vdisk == NULL || !sm_valid_export_name (vdisk)))
    return fail (error, "invalid vdisk name '%s': names are %s, or "
                 "VDISK@SNAP for a snapshot", vdisk ? vdisk : "",
                 SM_NAME_RULE);
  if (vdisk == NULL || (h = find_host (c, name, &all, &n, error)) == NULL)
    return NULL;
  v = calloc (h->n_vdisks + 1, sizeof *v);
  if (v == NULL) {
    sm_host_info_free (all, n);
    return fail (error, "out of memory");
  }
  for (size_t i = 0; i < h->n_vdisks; i++)
    if (strcmp (h->vdisks[i], vdisk) != 0)
      v[j++] = h->vdisks[i];
  if (allow)
    v[j++] = (char *) vdisk;
  {
    struct sm_host_info changed = *h;

    changed.vdisks = v;
    changed.n_vdisks = j;
    r = put_host (c, &changed, error);
  }
  free (v);
  sm_host_info_free (all, n);
  return r;
}

json_object *
ctrl_cmd_host_allow (struct controller *c, json_object *args, char **error)
{
  return change_vdisks (c, args, true, error);
}

json_object *
ctrl_cmd_host_deny (struct controller *c, json_object *args, char **error)
{
  return change_vdisks (c, args, false, error);
}

json_object *
ctrl_cmd_host_chap (struct controller *c, json_object *args, char **error)
{
  const char *name = arg_name (args, "name", error);
  struct sm_host_info *all, *h, changed;
  const char *user, *file;
  size_t n;
  json_object *r;

  if (name == NULL
      || chap_args (args, "chap_user", "chap_secret_file", &user, &file,
                    error) == -1
      || (h = find_host (c, name, &all, &n, error)) == NULL)
    return NULL;
  changed = *h;
  changed.chap_user = (char *) user;
  changed.chap_secret_file = (char *) file;
  r = put_host (c, &changed, error);
  sm_host_info_free (all, n);
  return r;
}

/* Target-wide CHAP settings ---------------------------------------------- */

int
ctrl_chap_get (struct controller *c, char *values[CTRL_N_CHAP_KEYS],
               char **error)
{
  for (size_t i = 0; i < N_CHAP_KEYS; i++)
    if (store_meta_get (c->store, meta_key (chap_keys[i]), &values[i])
        == -1) {
      while (i-- > 0)
        free (values[i]);
      fail (error, "cannot read the CHAP settings: %s", sm_last_error ());
      return -1;
    }
  return 0;
}

json_object *
ctrl_cmd_chap_get (struct controller *c, json_object *args, char **error)
{
  char *v[N_CHAP_KEYS];
  json_object *o;

  if (ctrl_chap_get (c, v, error) == -1)
    return NULL;
  o = json_object_new_object ();
  for (size_t i = 0; i < N_CHAP_KEYS; i++) {
    json_object_object_add (o, chap_keys[i], string_or_null (v[i]));
    free (v[i]);
  }
  return o;
}

/* Store the four settings VALUES (NULL: off). */
static int
store_chap (struct controller *c, const char *const values[N_CHAP_KEYS])
{
  if (ctrl_change (c) == -1)
    return -1;
  for (size_t i = 0; i < N_CHAP_KEYS; i++)
    if (store_meta_set (c->store, meta_key (chap_keys[i]), values[i]) == -1)
      return -1;
  return 0;
}

json_object *
ctrl_cmd_chap_set (struct controller *c, json_object *args, char **error)
{
  const char *v[N_CHAP_KEYS];

  if (chap_args (args, chap_keys[0], chap_keys[1], &v[0], &v[1],
                 error) == -1
      || chap_args (args, chap_keys[2], chap_keys[3], &v[2], &v[3],
                    error) == -1)
    return NULL;
  if (v[2] && !v[0])
    return fail (error, "mutual CHAP needs chap_user: the target "
                 "authenticates itself only to initiators that "
                 "authenticate first");
  if (store_chap (c, v) == -1)
    return fail (error, "cannot store the CHAP settings: %s",
                 sm_last_error ());
  if (ctrl_commit (c, false) == -1)
    return fail (error, "cannot commit the CHAP settings");
  return ctrl_cmd_chap_get (c, args, error);
}

/* Start-up ---------------------------------------------------------------- */

static int
reconcile_host (struct controller *c, const struct cfg_host *ch)
{
  struct sm_host_info h = {
    .name = ch->name, .initiator = ch->initiator,
    .chap_user = ch->chap_user, .chap_secret_file = ch->chap_secret_file,
    .vdisks = ch->vdisks, .n_vdisks = ch->n_vdisks,
  };

  if (store_host_put (c->store, &h) == -1) {
    sm_error ("%s:%u: [host %s]: %s", c->cfg->file ? c->cfg->file : "",
              ch->line, ch->name, sm_last_error ());
    return -1;
  }
  return 0;
}

int
ctrl_reconcile_iscsi (struct controller *c)
{
  const struct segmap_config *cfg = c->cfg;

  if (cfg->n_hosts == 0 && cfg->chap_user == NULL)
    return 0;
  if (ctrl_change (c) == -1)
    return -1;
  for (size_t i = 0; i < cfg->n_hosts; i++)
    if (reconcile_host (c, &cfg->hosts[i]) == -1)
      return -1;
  if (cfg->chap_user) {
    const char *v[N_CHAP_KEYS] = {
      cfg->chap_user, cfg->chap_secret_file, cfg->mutual_chap_user,
      cfg->mutual_chap_secret_file,
    };
    if (store_chap (c, v) == -1)
      return -1;
  }
  return 0;
}
