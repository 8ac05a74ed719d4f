/* segmap: who may use the iSCSI target -- access lists and CHAP.
 *
 * A copy of the directory's iSCSI hosts and CHAP settings
 * (service/directory.h), reloaded after every change, read by the
 * target's hooks at each discovery and login.  Readers take a read
 * lock; a reload swaps the whole state under the write lock, so a login
 * sees either the old or the new lists, never a mix.
 *
 * Rules:
 *   - no host declared: every initiator may see every vdisk;
 *   - otherwise an initiator sees exactly the vdisks of its host (names
 *     compared exactly; initiator names without regard to case, as
 *     iSCSI names are case-insensitive), and an unknown initiator sees
 *     nothing;
 *   - CHAP is required for an initiator whose host has its own CHAP
 *     user, or for everyone when the target-wide chap_user is set; the
 *     host's user and secret then replace the target-wide ones;
 *   - mutual CHAP uses the target-wide mutual user and secret;
 *   - secrets are read from their files at each login (rotating a
 *     secret is replacing its file), through chap_secret_load.
 */
#ifndef SEGMAP_SERVICE_ACCESS_H
#define SEGMAP_SERVICE_ACCESS_H

#include <stdbool.h>

#include "iscsi/chap.h"
#include "service/directory.h"

struct access;

struct access *access_new (void);
void access_free (struct access *ac);

/* Replace the state with ST (a snapshot from the directory); AC takes
 * what ST holds and ST is left empty. */
void access_load (struct access *ac, struct iscsi_access *st);

bool access_allowed (struct access *ac, const char *initiator,
                     const char *vdisk);
/* As access_allowed, but only where a [host] names VDISK: no [host]
 * at all grants nothing (how snapshots are exported). */
bool access_granted (struct access *ac, const char *initiator,
                     const char *vdisk);
bool access_chap_required (struct access *ac, const char *initiator);
/* chap_lookup_fn: the secret for USER, if USER is the one INITIATOR
 * must use.  0, or -1 (wrong user, unreadable secret: sm_error). */
int access_lookup_secret (void *ac, const char *initiator, const char *user,
                          struct chap_credentials *cred);
/* The target's own credentials for mutual CHAP, or -1 if none. */
int access_target_credentials (struct access *ac, const char *initiator,
                               struct chap_credentials *cred);

#endif /* SEGMAP_SERVICE_ACCESS_H */
