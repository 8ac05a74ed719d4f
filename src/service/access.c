/* segmap: who may use the iSCSI target (see access.h). */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "service/access.h"

struct host {
  char *initiator;
  char *chap_user, *chap_secret_file;   /* or NULL */
  char **vdisks;
  size_t n_vdisks;
};

/* Target-wide CHAP settings, NULL when off. */
struct chap_settings {
  char *user, *secret_file;
  char *mutual_user, *mutual_secret_file;
};

struct access_state {
  struct host *hosts;
  size_t n_hosts;
  struct chap_settings chap;
};

struct access {
  pthread_rwlock_t lock;
  struct access_state st;       /* protected by lock */
};

static void
state_clear (struct access_state *st)
{
  for (size_t i = 0; i < st->n_hosts; i++) {
    struct host *h = &st->hosts[i];

    free (h->initiator);
    free (h->chap_user);
    free (h->chap_secret_file);
    for (size_t j = 0; j < h->n_vdisks; j++)
      free (h->vdisks[j]);
    free (h->vdisks);
  }
  free (st->hosts);
  free (st->chap.user);
  free (st->chap.secret_file);
  free (st->chap.mutual_user);
  free (st->chap.mutual_secret_file);
  memset (st, 0, sizeof *st);
}

struct access *
access_new (void)
{
  struct access *ac = calloc (1, sizeof *ac);

  if (ac == NULL) {
    sm_error ("calloc: %m");
    return NULL;
  }
  pthread_rwlock_init (&ac->lock, NULL);
  return ac;
}

void
access_free (struct access *ac)
{
  if (ac == NULL)
    return;
  state_clear (&ac->st);
  pthread_rwlock_destroy (&ac->lock);
  free (ac);
}

/* Loading ------------------------------------------------------------------ */

/* A copy of string member KEY of O into *OUT (NULL if absent/null). */
static int
copy_member (json_object *o, const char *key, char **out)
{
  json_object *v;

  *out = NULL;
  if (!json_object_object_get_ex (o, key, &v)
      || json_object_is_type (v, json_type_null))
    return 0;
  if (!json_object_is_type (v, json_type_string)) {
    sm_error ("iSCSI access state: '%s' is not a string", key);
    return -1;
  }
  *out = strdup (json_object_get_string (v));
  if (*out == NULL) {
    sm_error ("strdup: %m");
    return -1;
  }
  return 0;
}

static int
load_host (json_object *o, struct host *h)
{
  json_object *v;

  if (copy_member (o, "initiator", &h->initiator) == -1
      || copy_member (o, "chap_user", &h->chap_user) == -1
      || copy_member (o, "chap_secret_file", &h->chap_secret_file) == -1)
    return -1;
  if (h->initiator == NULL
      || !json_object_object_get_ex (o, "vdisks", &v)
      || !json_object_is_type (v, json_type_array)) {
    sm_error ("iSCSI access state: a host without initiator or vdisks");
    return -1;
  }
  h->vdisks = calloc (json_object_array_length (v) + 1, sizeof *h->vdisks);
  if (h->vdisks == NULL) {
    sm_error ("calloc: %m");
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length (v); i++) {
    h->vdisks[i] = strdup (json_object_get_string
                           (json_object_array_get_idx (v, i)));
    if (h->vdisks[i] == NULL) {
      sm_error ("strdup: %m");
      return -1;
    }
    h->n_vdisks++;
  }
  return 0;
}

static int
load_state (struct access_state *st, json_object *hosts, json_object *chap)
{
  json_object *a;
  size_t n;

  if (!json_object_object_get_ex (hosts, "hosts", &a)
      || !json_object_is_type (a, json_type_array)) {
    sm_error ("iSCSI access state: no host list");
    return -1;
  }
  n = json_object_array_length (a);
  st->hosts = calloc (n + 1, sizeof *st->hosts);
  if (st->hosts == NULL) {
    sm_error ("calloc: %m");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    st->n_hosts++;
    if (load_host (json_object_array_get_idx (a, i), &st->hosts[i]) == -1)
      return -1;
  }
  return copy_member (chap, "chap_user", &st->chap.user) == -1
    || copy_member (chap, "chap_secret_file", &st->chap.secret_file) == -1
    || copy_member (chap, "mutual_chap_user", &st->chap.mutual_user) == -1
    || copy_member (chap, "mutual_chap_secret_file",
                    &st->chap.mutual_secret_file) == -1 ? -1 : 0;
}

int
access_load (struct access *ac, json_object *hosts, json_object *chap)
{
  struct access_state st = { 0 };

  if (load_state (&st, hosts, chap) == -1) {
    state_clear (&st);
    return -1;
  }
  pthread_rwlock_wrlock (&ac->lock);
  state_clear (&ac->st);
  ac->st = st;
  pthread_rwlock_unlock (&ac->lock);
  return 0;
}

/* Queries ------------------------------------------------------------------ */

static void
unlock_rw (pthread_rwlock_t **l)
{
  pthread_rwlock_unlock (*l);
}

/* Hold AC's read lock until the end of the scope. */
#define READ_LOCKED(ac)                                                  \
  pthread_rwlock_t *rw_held_ __attribute__ ((cleanup (unlock_rw))) =     \
    (pthread_rwlock_rdlock (&(ac)->lock), &(ac)->lock)

static const struct host *
find_host (const struct access_state *st, const char *initiator)
{
  for (size_t i = 0; i < st->n_hosts; i++)
    if (strcasecmp (st->hosts[i].initiator, initiator) == 0)
      return &st->hosts[i];
  return NULL;
}

bool
access_allowed (struct access *ac, const char *initiator, const char *vdisk)
{
  READ_LOCKED (ac);
  const struct host *h;

  if (ac->st.n_hosts == 0)
    return true;
  h = find_host (&ac->st, initiator);
  if (h == NULL)
    return false;
  for (size_t i = 0; i < h->n_vdisks; i++)
    if (strcmp (h->vdisks[i], vdisk) == 0)
      return true;
  return false;
}

bool
access_chap_required (struct access *ac, const char *initiator)
{
  READ_LOCKED (ac);
  const struct host *h = find_host (&ac->st, initiator);

  return (h && h->chap_user) || ac->st.chap.user != NULL;
}

/* Load the secret in FILE for USER into CRED. */
static int
load_secret (const char *user, const char *file,
             struct chap_credentials *cred)
{
  memset (cred, 0, sizeof *cred);
  if (strlen (user) > CHAP_USER_MAX) {
    sm_error ("CHAP user name '%s' is too long", user);
    return -1;
  }
  strcpy (cred->user, user);
  return chap_secret_load (file, cred);
}

int
access_lookup_secret (void *opaque, const char *initiator, const char *user,
                      struct chap_credentials *cred)
{
  struct access *ac = opaque;
  CLEANUP_FREE char *want_user = NULL, *file = NULL;

  {
    READ_LOCKED (ac);
    const struct host *h = find_host (&ac->st, initiator);
    const char *u = h && h->chap_user ? h->chap_user : ac->st.chap.user;
    const char *f = h && h->chap_user ? h->chap_secret_file
      : ac->st.chap.secret_file;

    if (u == NULL) {
      sm_error ("CHAP: no secret is set for %s", initiator);
      return -1;
    }
    want_user = strdup (u);
    file = strdup (f);
  }
  if (want_user == NULL || file == NULL) {
    sm_error ("strdup: %m");
    return -1;
  }
  if (strcmp (user, want_user) != 0) {
    sm_error ("CHAP: %s logged in as user '%s', not as '%s'",
              initiator, user, want_user);
    return -1;
  }
  return load_secret (want_user, file, cred);
}

int
access_target_credentials (struct access *ac, const char *initiator,
                           struct chap_credentials *cred)
{
  CLEANUP_FREE char *user = NULL, *file = NULL;

  {
    READ_LOCKED (ac);

    if (ac->st.chap.mutual_user == NULL)
      return -1;
    user = strdup (ac->st.chap.mutual_user);
    file = strdup (ac->st.chap.mutual_secret_file);
  }
  if (user == NULL || file == NULL) {
    sm_error ("strdup: %m");
    return -1;
  }
  return load_secret (user, file, cred);
}
