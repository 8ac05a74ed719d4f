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

struct access {
  pthread_rwlock_t lock;
  struct iscsi_access st;       /* protected by lock */
};

void
iscsi_access_clear (struct iscsi_access *st)
{
  for (size_t i = 0; i < st->n_hosts; i++) {
    struct iscsi_host *h = &st->hosts[i];

    free (h->name);
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
  iscsi_access_clear (&ac->st);
  pthread_rwlock_destroy (&ac->lock);
  free (ac);
}

void
access_load (struct access *ac, struct iscsi_access *st)
{
  pthread_rwlock_wrlock (&ac->lock);
  iscsi_access_clear (&ac->st);
  ac->st = *st;
  pthread_rwlock_unlock (&ac->lock);
  memset (st, 0, sizeof *st);
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

static const struct iscsi_host *
find_host (const struct iscsi_access *st, const char *initiator)
{
  for (size_t i = 0; i < st->n_hosts; i++)
    if (strcasecmp (st->hosts[i].initiator, initiator) == 0)
      return &st->hosts[i];
  return NULL;
}

/* Does INITIATOR's [host] name VDISK?  (lock held) */
static bool
listed_locked (struct access *ac, const char *initiator, const char *vdisk)
{
  const struct iscsi_host *h = find_host (&ac->st, initiator);

  if (h == NULL)
    return false;
  for (size_t i = 0; i < h->n_vdisks; i++)
    if (strcmp (h->vdisks[i], vdisk) == 0)
      return true;
  return false;
}

bool
access_allowed (struct access *ac, const char *initiator, const char *vdisk)
{
  READ_LOCKED (ac);

  return ac->st.n_hosts == 0 || listed_locked (ac, initiator, vdisk);
}

bool
access_granted (struct access *ac, const char *initiator, const char *vdisk)
{
  READ_LOCKED (ac);

  return listed_locked (ac, initiator, vdisk);
}

bool
access_chap_required (struct access *ac, const char *initiator)
{
  READ_LOCKED (ac);
  const struct iscsi_host *h = find_host (&ac->st, initiator);

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
    const struct iscsi_host *h = find_host (&ac->st, initiator);
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
