/* segmap: the iSCSI service's directory, kept by the controller (see
 * iscsi-directory.h and service/directory.h).
 *
 * Each public op packs its arguments into a struct, runs a function on
 * the controller thread (ctrl_call; for the per-vdisk calls, the named
 * vdisk is looked up there first) and returns what it produced.  Those
 * functions read the store and the vdisk cache like any handler; only
 * pr_save changes anything, and it commits before it answers, so the
 * reservations are durable when PERSISTENT RESERVE OUT completes.  A vdisk's identity comes from the vdisk cache: no query,
 * so a login never waits for the store.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"
#include "controller/iscsi-directory.h"

/* Access lists ------------------------------------------------------------ */

/* Move host V (from the store) into H: the strings change owner. */
static void
move_host (struct sm_host_info *v, struct iscsi_host *h)
{
  h->name = v->name;
  h->initiator = v->initiator;
  h->chap_user = v->chap_user;
  h->chap_secret_file = v->chap_secret_file;
  h->vdisks = v->vdisks;
  h->n_vdisks = v->n_vdisks;
  memset (v, 0, sizeof *v);
}

static int
access_on_thread (struct controller *c, void *arg, char **error)
{
  struct iscsi_access *out = arg;
  struct sm_host_info *v;
  char *chap[CTRL_N_CHAP_KEYS];
  size_t n;

  if (store_host_list (c->store, &v, &n) == -1) {
    fail (error, "cannot list the iSCSI hosts: %s", sm_last_error ());
    return -1;
  }
  out->hosts = calloc (n + 1, sizeof *out->hosts);
  if (out->hosts == NULL) {
    sm_host_info_free (v, n);
    fail (error, "out of memory listing the iSCSI hosts");
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    move_host (&v[i], &out->hosts[i]);
  out->n_hosts = n;
  sm_host_info_free (v, n);     /* only the emptied array is left */
  if (ctrl_chap_get (c, chap, error) == -1) {
    iscsi_access_clear (out);
    return -1;
  }
  out->chap.user = chap[0];
  out->chap.secret_file = chap[1];
  out->chap.mutual_user = chap[2];
  out->chap.mutual_secret_file = chap[3];
  return 0;
}

static int
dir_access (void *h, struct iscsi_access *out)
{
  memset (out, 0, sizeof *out);
  return ctrl_call (h, access_on_thread, out);
}

/* Vdisks ------------------------------------------------------------------- */

struct vdisk_call;
typedef int vdisk_fn (struct controller *c, const struct sm_vdisk_info *v,
                      struct vdisk_call *a, char **error);

/* The arguments and results of the per-vdisk calls. */
struct vdisk_call {
  const char *vdisk;
  vdisk_fn *fn;                                 /* on the thread, with V */
  struct iscsi_vdisk_identity *identity;        /* vdisk_identity */
  void **blob;                                  /* pr_load */
  size_t *len;
  const void *in;                               /* pr_save */
  size_t in_len;
};

/* On the controller thread: find the vdisk, then run A->fn. */
static int
vdisk_on_thread (struct controller *c, void *arg, char **error)
{
  struct vdisk_call *a = arg;
  const struct sm_vdisk_info *v = ctrl_find_vdisk_by_name (c, a->vdisk);

  if (v == NULL) {
    fail (error, "vdisk '%s' does not exist", a->vdisk);
    return -1;
  }
  return a->fn (c, v, a, error);
}

static int
identity_of (struct controller *c, const struct sm_vdisk_info *v,
             struct vdisk_call *a, char **error)
{
  a->identity->id = v->id;
  a->identity->created = v->created;
  return 0;
}

static int
dir_vdisk_identity (void *h, const char *vdisk,
                    struct iscsi_vdisk_identity *out)
{
  struct vdisk_call a = { .vdisk = vdisk, .fn = identity_of,
                          .identity = out };

  return ctrl_call (h, vdisk_on_thread, &a);
}

static int
pr_load_of (struct controller *c, const struct sm_vdisk_info *v,
            struct vdisk_call *a, char **error)
{
  if (store_pr_get (c->store, v->id, a->blob, a->len) == -1) {
    fail (error, "cannot read the reservations of vdisk '%s': %s",
          v->name, sm_last_error ());
    return -1;
  }
  return 0;
}

static int
dir_pr_load (void *h, const char *vdisk, void **blob, size_t *len)
{
  struct vdisk_call a = { .vdisk = vdisk, .fn = pr_load_of, .blob = blob,
                          .len = len };

  *blob = NULL;
  *len = 0;
  return ctrl_call (h, vdisk_on_thread, &a);
}

static int
pr_save_of (struct controller *c, const struct sm_vdisk_info *v,
            struct vdisk_call *a, char **error)
{
  if (ctrl_change (c) == -1
      || store_pr_set (c->store, v->id, a->in, a->in_len) == -1) {
    fail (error, "cannot store the reservations of vdisk '%s': %s",
          v->name, sm_last_error ());
    return -1;
  }
  if (ctrl_commit (c, false) == -1) {
    fail (error, "cannot commit the reservations of vdisk '%s'", v->name);
    return -1;
  }
  return 0;
}

static int
dir_pr_save (void *h, const char *vdisk, const void *blob, size_t len)
{
  struct vdisk_call a = { .vdisk = vdisk, .fn = pr_save_of, .in = blob,
                          .in_len = len };

  return ctrl_call (h, vdisk_on_thread, &a);
}

const struct iscsi_directory_ops controller_iscsi_directory = {
  .access = dir_access,
  .vdisk_identity = dir_vdisk_identity,
  .pr_load = dir_pr_load,
  .pr_save = dir_pr_save,
};
