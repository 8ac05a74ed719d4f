/* segmap test harness: serve one file as an iSCSI target, through
 * segmap's own logical unit (scsi/lu.h) and target (iscsi/target.h),
 * without nbdkit or the controller -- for libiscsi's iscsi-test-cu,
 * iscsi-ls, qemu and the Linux initiator.
 *
 *   iscsi-serve [-p ADDR:PORT]... [-P PREFIX] [-n NAME] [-b BLOCKSIZE]
 *               [--chap USER:SECRETFILE] [--mutual USER:SECRETFILE]
 *               [--allow IQN]... [--pr-dir DIR] [-t IOTHREADS]
 *               [-w WORKERS] FILE
 *
 * The target is PREFIX:NAME (default iqn.2024-01.org.segmap:NAME, NAME
 * defaults to "disk0"), LUN 0, on 127.0.0.1:3260 unless -p is given.
 * --allow limits the initiators (default: everyone).  --chap requires
 * CHAP of every initiator with that user and secret; --mutual gives
 * the target's own credentials for mutual CHAP.  Persistent
 * reservations are kept in DIR/NAME.pr (default: in memory only).
 *
 * The file backend: pread/pwrite, fdatasync, fallocate PUNCH_HOLE for
 * trim and zero, SEEK_DATA/SEEK_HOLE for extents.  It runs in the
 * foreground until SIGINT or SIGTERM and prints "ready" once listening.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/hash.h"
#include "iscsi/chap.h"
#include "iscsi/target.h"
#include "scsi/lu.h"

#define MAX_PORTALS 8
#define MAX_ALLOW   32

struct serve {
  int fd;
  const char *name;
  struct scsi_lu *lu;
  const char *allow[MAX_ALLOW];
  size_t n_allow;
  bool chap;
  struct chap_credentials chap_cred;
  bool mutual;
  struct chap_credentials mutual_cred;
  const char *pr_dir;
  void *pr_blob;                /* in memory when there is no --pr-dir */
  size_t pr_len;
};

/*----------------------------------------------------------------------
 * The file backend.
 */

static int
file_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct serve *s = h;
  char *p = buf;

  while (count > 0) {
    ssize_t r = pread (s->fd, p, count, offset);

    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0) {               /* past the end of a short file: zeros */
      memset (p, 0, count);
      return 0;
    }
    p += r;
    count -= r;
    offset += r;
  }
  return 0;
}

static int
file_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
             bool fua)
{
  struct serve *s = h;
  const char *p = buf;

  while (count > 0) {
    ssize_t r = pwrite (s->fd, p, count, offset);

    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    p += r;
    count -= r;
    offset += r;
  }
  return fua ? fdatasync (s->fd) : 0;
}

static int
file_flush (void *h)
{
  struct serve *s = h;

  return fdatasync (s->fd);
}

static int
file_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct serve *s = h;

  if (fallocate (s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 offset, count) == -1)
    return -1;
  return fua ? fdatasync (s->fd) : 0;
}

static int
file_zero (void *h, uint32_t count, uint64_t offset, bool fua)
{
  return file_trim (h, count, offset, fua);
}

static int
file_extents (void *h, uint32_t count, uint64_t offset,
              int (*fn) (void *opaque, uint64_t offset, uint64_t len,
                         bool zero),
              void *opaque)
{
  struct serve *s = h;
  uint64_t end = offset + count;

  while (offset < end) {
    off_t data = lseek (s->fd, offset, SEEK_DATA);
    off_t next;
    bool zero;

    if (data == -1 && errno != ENXIO)
      return -1;
    if (data == -1 || (uint64_t) data >= end) {
      zero = true;
      next = end;
    }
    else if ((uint64_t) data > offset) {
      zero = true;
      next = data;
    }
    else {
      zero = false;
      next = lseek (s->fd, offset, SEEK_HOLE);
      if (next == -1)
        return -1;
      if ((uint64_t) next > end)
        next = end;
    }
    if (fn (opaque, offset, next - offset, zero) == -1)
      return -1;
    offset = next;
  }
  return 0;
}

static const struct scsi_backend_ops file_ops = {
  .pread = file_pread, .pwrite = file_pwrite, .flush = file_flush,
  .trim = file_trim, .zero = file_zero, .extents = file_extents,
};

/*----------------------------------------------------------------------
 * Persistent reservations: DIR/NAME.pr, or memory.
 */

static int
pr_load (void *h, const char *lu_name, void **blob, size_t *len)
{
  struct serve *s = h;
  char path[4096];
  struct stat st;
  int fd;

  *blob = NULL;
  *len = 0;
  if (s->pr_dir == NULL) {
    if (s->pr_blob != NULL && (*blob = malloc (s->pr_len)) != NULL) {
      memcpy (*blob, s->pr_blob, s->pr_len);
      *len = s->pr_len;
    }
    return 0;
  }
  snprintf (path, sizeof path, "%s/%s.pr", s->pr_dir, lu_name);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return errno == ENOENT ? 0 : -1;
  if (fstat (fd, &st) == -1 || (*blob = malloc (st.st_size + 1)) == NULL
      || read (fd, *blob, st.st_size) != st.st_size) {
    sm_error ("iscsi-serve: reading %s: %m", path);
    free (*blob);
    *blob = NULL;
    close (fd);
    return -1;
  }
  *len = st.st_size;
  close (fd);
  return 0;
}

static int
pr_save (void *h, const char *lu_name, const void *blob, size_t len)
{
  struct serve *s = h;
  char path[4096], tmp[4200];
  int fd;

  if (s->pr_dir == NULL) {
    void *copy = malloc (len ? len : 1);

    if (copy == NULL)
      return -1;
    memcpy (copy, blob, len);
    free (s->pr_blob);
    s->pr_blob = copy;
    s->pr_len = len;
    return 0;
  }
  snprintf (path, sizeof path, "%s/%s.pr", s->pr_dir, lu_name);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1 || write (fd, blob, len) != (ssize_t) len
      || fsync (fd) == -1 || close (fd) == -1
      || rename (tmp, path) == -1) {
    sm_error ("iscsi-serve: writing %s: %m", path);
    return -1;
  }
  return 0;
}

static const struct scsi_pr_store_ops pr_ops = {
  .load = pr_load, .save = pr_save,
};

/*----------------------------------------------------------------------
 * Target hooks.
 */

static int
hook_foreach_vdisk (void *h, int (*fn) (void *opaque, const char *vdisk),
                    void *opaque)
{
  struct serve *s = h;

  return fn (opaque, s->name);
}

static bool
hook_allowed (void *h, const char *initiator, const char *vdisk)
{
  struct serve *s = h;
  size_t i;

  if (strcmp (vdisk, s->name) != 0)
    return false;
  if (s->n_allow == 0)
    return true;
  for (i = 0; i < s->n_allow; i++)
    if (strcmp (s->allow[i], initiator) == 0)
      return true;
  return false;
}

static bool
hook_chap_required (void *h, const char *initiator)
{
  struct serve *s = h;

  return s->chap;
}

static int
hook_lookup_secret (void *h, const char *initiator, const char *user,
                    struct chap_credentials *cred)
{
  struct serve *s = h;

  if (!s->chap || strcmp (user, s->chap_cred.user) != 0)
    return -1;
  *cred = s->chap_cred;
  return 0;
}

static int
hook_target_credentials (void *h, const char *initiator,
                         struct chap_credentials *cred)
{
  struct serve *s = h;

  if (!s->mutual)
    return -1;
  *cred = s->mutual_cred;
  return 0;
}

static struct scsi_lu *
hook_open_lu (void *h, const char *vdisk)
{
  struct serve *s = h;

  if (strcmp (vdisk, s->name) != 0) {
    sm_error ("iscsi-serve: no vdisk %s", vdisk);
    return NULL;
  }
  return s->lu;
}

static void
hook_close_lu (void *h, struct scsi_lu *lu)
{
  /* The one logical unit lives as long as the program. */
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

/*----------------------------------------------------------------------
 * Main.
 */

static void
usage (int status)
{
  fprintf (status ? stderr : stdout,
           "usage: iscsi-serve [-p ADDR:PORT]... [-P PREFIX] [-n NAME] "
           "[-b BLOCKSIZE]\n"
           "                   [--chap USER:SECRETFILE] "
           "[--mutual USER:SECRETFILE]\n"
           "                   [--allow IQN]... [--pr-dir DIR] "
           "[-t IOTHREADS] [-w WORKERS] FILE\n");
  exit (status);
}

/* "USER:SECRETFILE" into *CRED. */
static void
load_credentials (const char *arg, struct chap_credentials *cred)
{
  const char *colon = strchr (arg, ':');

  if (colon == NULL || colon == arg
      || (size_t) (colon - arg) > CHAP_USER_MAX) {
    fprintf (stderr, "iscsi-serve: want USER:SECRETFILE, not %s\n", arg);
    exit (EXIT_FAILURE);
  }
  if (chap_secret_load (colon + 1, cred) == -1)
    exit (EXIT_FAILURE);
  memcpy (cred->user, arg, colon - arg);
  cred->user[colon - arg] = '\0';
}

static struct scsi_lu *
make_lu (struct serve *s, const char *file, uint32_t block_size)
{
  struct scsi_lu_info info;
  char serial[32];
  struct stat st;
  uint64_t h = fnv1a_64 (FNV1A_64_INIT, s->name, strlen (s->name));

  if (fstat (s->fd, &st) == -1) {
    fprintf (stderr, "iscsi-serve: %s: %m\n", file);
    return NULL;
  }
  snprintf (serial, sizeof serial, "%016" PRIx64, h);
  memset (&info, 0, sizeof info);
  info.name = s->name;
  info.size = st.st_size / block_size * block_size;
  info.block_size = block_size;
  info.optimal_granularity = 1024 * 1024;
  info.naa = UINT64_C (0x6000000000000000) | (h >> 4);
  info.naa_ext = fnv1a_64 (FNV1A_64_INIT, file, strlen (file));
  info.serial = serial;
  info.thin = true;
  return scsi_lu_new (&info, &file_ops, s, &pr_ops, s);
}

/* The one target port: all portals are portal group 1. */
static int
set_port (struct serve *s, const char *prefix)
{
  char name[512];
  struct scsi_port_info port = {
    .relative_port_id = 1, .port_group = 1, .name = name,
  };

  snprintf (name, sizeof name, "%s:%s,t,0x0001", prefix, s->name);
  return scsi_lu_set_ports (s->lu, &port, 1);
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "chap", required_argument, NULL, 'c' },
    { "mutual", required_argument, NULL, 'm' },
    { "allow", required_argument, NULL, 'a' },
    { "pr-dir", required_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *portals[MAX_PORTALS];
  struct iscsi_target_settings set = { .portals = portals };
  struct serve s = { .name = "disk0" };
  const char *prefix = "iqn.2024-01.org.segmap";
  unsigned long block_size = 512;
  struct iscsi_target *t;
  sigset_t sigs;
  int opt, sig;

  while ((opt = getopt_long (argc, argv, "p:P:n:b:t:w:h", longopts, NULL))
         != -1) {
    switch (opt) {
    case 'p':
      if (set.n_portals == MAX_PORTALS)
        usage (EXIT_FAILURE);
      portals[set.n_portals++] = optarg;
      break;
    case 'P': prefix = optarg; break;
    case 'n': s.name = optarg; break;
    case 'b': block_size = strtoul (optarg, NULL, 10); break;
    case 't': set.io_threads = strtoul (optarg, NULL, 10); break;
    case 'w': set.workers = strtoul (optarg, NULL, 10); break;
    case 'c': s.chap = true; load_credentials (optarg, &s.chap_cred); break;
    case 'm':
      s.mutual = true;
      load_credentials (optarg, &s.mutual_cred);
      break;
    case 'a':
      if (s.n_allow == MAX_ALLOW)
        usage (EXIT_FAILURE);
      s.allow[s.n_allow++] = optarg;
      break;
    case 'd': s.pr_dir = optarg; break;
    case 'h': usage (EXIT_SUCCESS); break;
    default: usage (EXIT_FAILURE);
    }
  }
  if (optind != argc - 1 || (block_size != 512 && block_size != 4096))
    usage (EXIT_FAILURE);
  if (set.n_portals == 0)
    portals[set.n_portals++] = "127.0.0.1:3260";
  set.target_prefix = prefix;

  s.fd = open (argv[optind], O_RDWR | O_CLOEXEC);
  if (s.fd == -1) {
    fprintf (stderr, "iscsi-serve: %s: %m\n", argv[optind]);
    return EXIT_FAILURE;
  }
  if ((s.lu = make_lu (&s, argv[optind], block_size)) == NULL
      || set_port (&s, prefix) == -1)
    return EXIT_FAILURE;

  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &sigs, NULL);

  t = iscsi_target_new (&set, &hooks, &s);
  if (t == NULL || iscsi_target_start (t) == -1)
    return EXIT_FAILURE;
  printf ("ready\n");
  fflush (stdout);
  while (sigwait (&sigs, &sig) != 0)
    ;
  iscsi_target_stop (t);
  iscsi_target_free (t);
  scsi_lu_free (s.lu);
  free (s.pr_blob);
  close (s.fd);
  return EXIT_SUCCESS;
}
