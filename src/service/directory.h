/* segmap: the iSCSI service's directory -- what the service needs to
 * know from the rest of the process, as a typed interface.
 *
 * The service asks; whoever keeps the durable state answers.  In
 * segmap the controller implements it (src/controller/iscsi-directory.c:
 * each call runs on the controller thread, through its queue, with C
 * structs in and out) and whoever composes the process hands the
 * service the controller's ops and handle.  The service never sees the
 * controller, and the control socket's JSON never enters this path.
 *
 *   access          the access lists (hosts, with their initiators and
 *                   vdisks) and the target-wide CHAP settings, as one
 *                   consistent snapshot
 *   vdisk_identity  a vdisk's id (never reused) and creation time: what
 *                   the logical unit's NAA identifier and serial number
 *                   are derived from
 *   pr_load         the saved persistent reservations of a vdisk (an
 *                   opaque blob, src/scsi/pr-codec.c), or none
 *   pr_save         save them; durable when the call returns
 *
 * Each call returns 0, or -1 after sm_error on the calling thread (one
 * sentence naming what failed).  Results are malloc'd by the
 * implementation and belong to the caller: free an access snapshot with
 * iscsi_access_clear (access.c).
 */
#ifndef SEGMAP_SERVICE_DIRECTORY_H
#define SEGMAP_SERVICE_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

/* An initiator the access lists name. */
struct iscsi_host {
  char *name;
  char *initiator;              /* iSCSI name */
  char *chap_user;              /* its own CHAP user, or NULL */
  char *chap_secret_file;       /* NULL exactly when chap_user is */
  char **vdisks;                /* the vdisks it may see (names) */
  size_t n_vdisks;
};

/* The target-wide CHAP settings.  NULL user and file: CHAP is off;
 * NULL mutual user and file: no mutual CHAP. */
struct iscsi_chap_settings {
  char *user, *secret_file;
  char *mutual_user, *mutual_secret_file;
};

/* Everything the access lists are made of. */
struct iscsi_access {
  struct iscsi_host *hosts;
  size_t n_hosts;
  struct iscsi_chap_settings chap;
};

struct iscsi_vdisk_identity {
  uint32_t id;                  /* never reused, even after a delete */
  int64_t created;              /* seconds since the epoch */
};

struct iscsi_directory_ops {
  int (*access) (void *h, struct iscsi_access *out);
  int (*vdisk_identity) (void *h, const char *vdisk,
                         struct iscsi_vdisk_identity *out);
  /* *BLOB = NULL (and *LEN = 0) when nothing was ever saved. */
  int (*pr_load) (void *h, const char *vdisk, void **blob, size_t *len);
  int (*pr_save) (void *h, const char *vdisk, const void *blob, size_t len);
};

struct iscsi_directory {
  const struct iscsi_directory_ops *ops;
  void *h;
};

/* Free what ACCESS holds and zero it. */
void iscsi_access_clear (struct iscsi_access *access);

#endif /* SEGMAP_SERVICE_DIRECTORY_H */
