/* segmap: unit tests of containers and fault injection
 * (src/store/container.c, src/store/inject.c).
 *
 * Every test works in a fresh temporary directory.  Two tests depend
 * on the environment:
 *  - the read-only file test: root bypasses file permissions, so when
 *    running as root it opens the file from a child process that has
 *    switched to the user nobody;
 *  - the block device test needs root and a free loop device (set up
 *    with LOOP_CONFIGURE + autoclear, so it detaches on close); without
 *    them it says so on stderr and passes vacuously.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/limits.h"
#include "store/container.h"
#include "store/inject.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static char tmpdir[64];
static char last_error[512];
static unsigned n_errors;

static void
error_sink (const char *fmt, va_list args)
{
  n_errors++;
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

static void
setup (void)
{
  strcpy (tmpdir, "/tmp/segmap-test-container.XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (tmpdir));
  sm_set_log_sinks (error_sink, NULL);
  n_errors = 0;
  last_error[0] = '\0';
  /* No inject_configure here: test_inject_env needs inject_init to be
   * the first to run.  teardown clears the rules after each test. */
}

static int
remove_one (const char *path, const struct stat *st, int flag,
            struct FTW *ftw)
{
  return remove (path);
}

static void
teardown (void)
{
  sm_set_log_sinks (NULL, NULL);
  inject_configure (NULL);
  nftw (tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path in the test directory (one buffer per call site is enough). */
static const char *
path_in (char *buf, const char *name)
{
  snprintf (buf, 128, "%s/%s", tmpdir, name);
  return buf;
}

static void
expect_error (const char *fragment)
{
  ck_assert_msg (strstr (last_error, fragment) != NULL,
                 "error '%s' does not contain '%s'", last_error, fragment);
}

static struct stat
stat_of (const char *path)
{
  struct stat st;

  ck_assert_int_eq (stat (path, &st), 0);
  return st;
}

static void
make_file (const char *path, off_t size)
{
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0644);

  ck_assert_int_ne (fd, -1);
  ck_assert_int_eq (ftruncate (fd, size), 0);
  close (fd);
}

static void
fill (char *buf, size_t len, unsigned seed)
{
  size_t i;

  for (i = 0; i < len; i++)
    buf[i] = (char) (i * 7 + seed + (i >> 12));
}

static bool
all_zero (const char *buf, size_t len)
{
  return len == 0 || (buf[0] == 0 && memcmp (buf, buf + 1, len - 1) == 0);
}

/* SEGMAP_INJECT is read by the first inject_init, so this test must run
 * before any container_open in the process (it is the first one). */
START_TEST (test_inject_env)
{
  setenv ("SEGMAP_INJECT", "pread:EROFS:after=1:count=2", 1);
  ck_assert_int_eq (inject_init (), 0);
  unsetenv ("SEGMAP_INJECT");
  ck_assert_int_eq (inject_check (INJECT_PREAD), 0);
  ck_assert_int_eq (inject_check (INJECT_PREAD), EROFS);
  ck_assert_int_eq (inject_check (INJECT_PWRITE), 0);
  ck_assert_int_eq (inject_check (INJECT_PREAD), EROFS);
  ck_assert_int_eq (inject_check (INJECT_PREAD), 0);
  ck_assert_int_eq (inject_init (), 0);      /* once only: no re-read */
  ck_assert_int_eq (inject_check (INJECT_PREAD), 0);
}
END_TEST

START_TEST (test_create_sparse)
{
  char p[128];
  struct container *c = container_open (7, "c7", path_in (p, "new.img"),
                                        GiB + 100);
  struct stat st;
  uint64_t bytes;

  ck_assert_ptr_nonnull (c);
  ck_assert_uint_eq (c->id, 7);
  ck_assert_str_eq (c->name, "c7");
  ck_assert_str_eq (c->path, p);
  ck_assert_int_eq (c->kind, CONTAINER_FILE);
  ck_assert_str_eq (container_kind_to_string (c->kind), "file");
  ck_assert_uint_eq (c->size, GiB);            /* rounded down to 64K */
  ck_assert (!c->failed);
  st = stat_of (p);
  ck_assert_int_eq (st.st_size, GiB);
  ck_assert (S_ISREG (st.st_mode));
  ck_assert_int_le (st.st_blocks * 512, 64 * 1024);  /* sparse */
  ck_assert_int_eq (container_allocated_bytes (c, &bytes), 0);
  ck_assert_uint_eq (bytes, st.st_blocks * 512);
  ck_assert_int_ne (fcntl (c->fd, F_GETFD) & FD_CLOEXEC, 0);
  container_close (c);
  ck_assert_uint_eq (n_errors, 0);
}
END_TEST

START_TEST (test_create_refused)
{
  char p[128], q[128];

  ck_assert_ptr_null (container_open (1, "a", path_in (p, "a.img"), 0));
  expect_error ("size is needed");
  ck_assert_ptr_null (container_open (1, "a", p, 1000));
  expect_error ("less than one 64 KiB unit");
  ck_assert_int_eq (access (p, F_OK), -1);     /* nothing left behind */
  ck_assert_ptr_null (container_open (1, "b", path_in (q, "no/b.img"), MiB));
  expect_error ("parent directory does not exist");
  expect_error (q);
}
END_TEST

START_TEST (test_grow_and_no_shrink)
{
  char p[128], buf[100], got[100];
  struct container *c = container_open (1, "g", path_in (p, "g.img"), MiB);

  fill (buf, sizeof buf, 3);
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 1000), 0);
  container_close (c);

  c = container_open (1, "g", p, 4 * MiB);     /* grow */
  ck_assert_ptr_nonnull (c);
  ck_assert_uint_eq (c->size, 4 * MiB);
  ck_assert_int_eq (stat_of (p).st_size, 4 * MiB);
  ck_assert_int_eq (container_pread (c, got, sizeof got, 1000), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  container_close (c);

  c = container_open (1, "g", p, MiB);         /* never shrinks */
  ck_assert_ptr_nonnull (c);
  ck_assert_uint_eq (c->size, 4 * MiB);
  ck_assert_int_eq (stat_of (p).st_size, 4 * MiB);
  container_close (c);

  c = container_open (1, "g", p, 0);           /* its own size */
  ck_assert_uint_eq (c->size, 4 * MiB);
  container_close (c);
  ck_assert_uint_eq (n_errors, 0);
}
END_TEST

START_TEST (test_existing_sizes)
{
  char p[128], q[128];
  struct container *c;

  make_file (path_in (p, "odd.img"), 3 * MiB + 100);
  c = container_open (1, "odd", p, 0);
  ck_assert_uint_eq (c->size, 3 * MiB);        /* rounded down ... */
  ck_assert_int_eq (stat_of (p).st_size, 3 * MiB + 100); /* not cut */
  container_close (c);

  make_file (path_in (q, "tiny.img"), 1000);
  ck_assert_ptr_null (container_open (1, "tiny", q, 0));
  expect_error ("smaller than one 64 KiB unit");
}
END_TEST

START_TEST (test_read_write)
{
  char p[128];
  struct container *c = container_open (1, "rw", path_in (p, "rw.img"),
                                        2 * MiB);
  char *buf = malloc (MiB), *got = malloc (MiB);

  fill (buf, MiB, 1);
  ck_assert_int_eq (container_pwrite (c, buf, MiB, 512 * 1024 + 3), 0);
  ck_assert_int_eq (container_pread (c, got, MiB, 512 * 1024 + 3), 0);
  ck_assert_mem_eq (got, buf, MiB);
  ck_assert_int_eq (container_pread (c, got, 1000, 0), 0);
  ck_assert (all_zero (got, 1000));
  ck_assert_int_eq (container_sync (c), 0);
  ck_assert_uint_eq (n_errors, 0);

  /* Beyond the end: refused, with a message. */
  ck_assert_int_eq (container_pwrite (c, buf, 2, 2 * MiB - 1), -1);
  ck_assert_int_eq (errno, EINVAL);
  expect_error ("beyond its end");
  ck_assert_int_eq (container_pread (c, got, 1, 2 * MiB), -1);
  ck_assert_int_eq (container_zero (c, UINT64_MAX, 2), -1);
  ck_assert_int_eq (container_pread (c, got, 0, 2 * MiB), 0);
  container_close (c);
  free (buf);
  free (got);
}
END_TEST

START_TEST (test_read_past_eof)
{
  char p[128], buf[32768], got[32768];
  struct container *c = container_open (1, "eof", path_in (p, "eof.img"),
                                        MiB);

  fill (buf, sizeof buf, 9);
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 48 * 1024), 0);
  /* Someone cuts the file behind our back: the tail reads as zeros. */
  ck_assert_int_eq (truncate (p, 64 * 1024), 0);
  memset (got, 0xaa, sizeof got);
  ck_assert_int_eq (container_pread (c, got, sizeof got, 48 * 1024), 0);
  ck_assert_mem_eq (got, buf, 16 * 1024);
  ck_assert (all_zero (got + 16 * 1024, 16 * 1024));
  memset (got, 0xaa, sizeof got);
  ck_assert_int_eq (container_pread (c, got, sizeof got, 512 * 1024), 0);
  ck_assert (all_zero (got, sizeof got));
  container_close (c);
}
END_TEST

START_TEST (test_zero)
{
  char p[128];
  struct container *c = container_open (1, "z", path_in (p, "z.img"),
                                        4 * MiB);
  char *buf = malloc (2 * MiB), *got = malloc (2 * MiB);
  uint64_t before, after;

  fill (buf, 2 * MiB, 5);
  ck_assert_int_eq (container_pwrite (c, buf, 2 * MiB, MiB), 0);
  ck_assert_int_eq (container_sync (c), 0);
  ck_assert_int_eq (container_allocated_bytes (c, &before), 0);
  ck_assert_uint_ge (before, 2 * MiB);

  ck_assert_int_eq (container_zero (c, MiB, MiB), 0);
  ck_assert_int_eq (container_pread (c, got, MiB, MiB), 0);
  ck_assert (all_zero (got, MiB));
  ck_assert_int_eq (container_allocated_bytes (c, &after), 0);
  ck_assert_uint_le (after, before - MiB);     /* the space was freed */

  /* An unaligned range: exact bytes zeroed, neighbours intact. */
  ck_assert_int_eq (container_zero (c, 2 * MiB + 4096 + 100, 10000), 0);
  ck_assert_int_eq (container_pread (c, got, MiB, 2 * MiB), 0);
  ck_assert_mem_eq (got, buf + MiB, 4096 + 100);
  ck_assert (all_zero (got + 4096 + 100, 10000));
  ck_assert_mem_eq (got + 14196, buf + MiB + 14196, MiB - 14196);
  ck_assert_int_eq (container_zero (c, 0, 0), 0);
  container_close (c);
  free (buf);
  free (got);
  ck_assert_uint_eq (n_errors, 0);
}
END_TEST

/* The fallbacks, forced: zero-range, then writing zeros. */
START_TEST (test_zero_fallbacks)
{
  static const unsigned forced[] = {
    CONTAINER_NO_PUNCH_HOLE,
    CONTAINER_NO_PUNCH_HOLE | CONTAINER_NO_ZERO_RANGE,
  };
  char p[128], *buf = malloc (3 * MiB), *got = malloc (3 * MiB);
  struct container *c = container_open (1, "zf", path_in (p, "zf.img"),
                                        4 * MiB);
  size_t i;

  fill (buf, 3 * MiB, 8);
  for (i = 0; i < sizeof forced / sizeof forced[0]; i++) {
    ck_assert_int_eq (container_pwrite (c, buf, 3 * MiB, 0), 0);
    c->no_zero = forced[i];
    ck_assert_int_eq (container_zero (c, 100, 2 * MiB + 1), 0);
    ck_assert_uint_eq (c->no_zero, forced[i]);   /* nothing else refused */
    ck_assert_int_eq (container_pread (c, got, 3 * MiB, 0), 0);
    ck_assert_mem_eq (got, buf, 100);
    ck_assert (all_zero (got + 100, 2 * MiB + 1));
    ck_assert_mem_eq (got + 2 * MiB + 101, buf + 2 * MiB + 101,
                      MiB - 101);
  }
  container_close (c);
  free (buf);
  free (got);
  ck_assert_uint_eq (n_errors, 0);
}
END_TEST

/* Open PATH as the user nobody, in a child; 0 if refused as read-only. */
static int
open_as_nobody (const char *path)
{
  pid_t pid = fork ();
  int status;

  ck_assert_int_ne (pid, -1);
  if (pid == 0) {
    struct container *c;
    if (setgid (65534) == -1 || setuid (65534) == -1)
      _exit (2);
    c = container_open (1, "ro", path, 0);
    _exit (c == NULL && strstr (last_error, "read-only") != NULL ? 0 : 1);
  }
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  ck_assert (WIFEXITED (status));
  return WEXITSTATUS (status);
}

START_TEST (test_read_only_file)
{
  char p[128];

  make_file (path_in (p, "ro.img"), MiB);
  ck_assert_int_eq (chmod (p, 0444), 0);
  if (geteuid () != 0) {
    ck_assert_ptr_null (container_open (1, "ro", p, 0));
    expect_error ("read-only");
    expect_error (p);
    return;
  }
  /* Root ignores the mode bits: try as nobody, who can reach the file
   * (the directory is made searchable) but not write it. */
  ck_assert_int_eq (chmod (tmpdir, 0755), 0);
  ck_assert_int_eq (open_as_nobody (p), 0);
}
END_TEST

START_TEST (test_wrong_types)
{
  char p[128];

  ck_assert_ptr_null (container_open (1, "d", tmpdir, MiB));
  ck_assert_int_eq (errno, EISDIR);
  expect_error ("is a directory");
  expect_error (tmpdir);
  ck_assert_int_eq (mkfifo (path_in (p, "fifo"), 0600), 0);
  ck_assert_ptr_null (container_open (1, "f", p, MiB));   /* no hang */
  expect_error ("neither a regular file nor a block device");
  ck_assert_ptr_null (container_open (1, "n", "/dev/null", 0));
  expect_error ("neither");
}
END_TEST

START_TEST (test_sync_failure_sticky)
{
  char p[128], q[128];
  struct container *c = container_open (1, "s", path_in (p, "s.img"), MiB);
  struct container *d = container_open (2, "t", path_in (q, "t.img"), MiB);

  ck_assert_int_eq (inject_configure ("sync:EIO:after=1:count=1"), 0);
  ck_assert_int_eq (container_sync (c), 0);
  ck_assert_int_eq (container_sync (c), -1);   /* the 2nd sync fails */
  ck_assert_int_eq (errno, EIO);
  expect_error ("injected");
  ck_assert (c->failed);
  /* The rule is spent, but the failure is sticky. */
  ck_assert_int_eq (container_sync (c), -1);
  ck_assert_int_eq (errno, EIO);
  expect_error ("it failed earlier");
  ck_assert_int_eq (container_sync (c), -1);
  /* Only for that container. */
  ck_assert_int_eq (container_sync (d), 0);
  ck_assert (!d->failed);
  container_close (c);
  container_close (d);
}
END_TEST

/* An I/O error that says the storage is failing fails the handle: no
 * more I/O through it; a new handle works. */
START_TEST (test_failure)
{
  char p[128], buf[4096] = { 7 }, got[4096];
  struct container *c = container_open (1, "f", path_in (p, "f.img"), MiB);
  struct container *d;

  ck_assert_ptr_nonnull (c);
  ck_assert (container_error_is_failure (EIO));
  ck_assert (container_error_is_failure (ENXIO));
  ck_assert (container_error_is_failure (ENOTCONN));
  ck_assert (!container_error_is_failure (ENOSPC));
  ck_assert (!container_error_is_failure (EINVAL));
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 0), 0);
  ck_assert_int_eq (inject_configure ("zero:EIO:count=1"), 0);
  errno = 0;
  ck_assert_int_eq (container_zero (c, 0, 4096), -1);
  ck_assert_int_eq (errno, EIO);
  expect_error ("Input/output error");
  ck_assert (container_failed (c));
  ck_assert_int_eq (inject_configure (NULL), 0);
  errno = 0;
  ck_assert_int_eq (container_pread (c, got, sizeof got, 0), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 0), -1);
  ck_assert_int_eq (container_zero (c, 0, 4096), -1);
  ck_assert_int_eq (container_sync (c), -1);
  /* A new handle serves (what `container online' opens). */
  d = container_open_existing (1, "f", p, 0);
  ck_assert_ptr_nonnull (d);
  ck_assert_int_eq (container_pread (d, got, sizeof got, 0), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  ck_assert_int_eq (container_sync (d), 0);
  container_close (c);
  container_close (d);
}
END_TEST

/* A container the database knows is never created again when its file
 * is gone; a placeholder stands for it, failed. */
START_TEST (test_open_existing)
{
  char p[128], got[16];
  struct container *c;

  path_in (p, "gone.img");
  unlink (p);
  errno = 0;
  ck_assert_ptr_null (container_open_existing (1, "g", p, MiB));
  ck_assert_int_eq (errno, ENOENT);
  expect_error ("No such file or directory");
  ck_assert_int_eq (access (p, F_OK), -1);
  c = container_placeholder (1, "g", p, MiB);
  ck_assert_ptr_nonnull (c);
  ck_assert_uint_eq (c->size, MiB);
  ck_assert (container_failed (c));
  errno = 0;
  ck_assert_int_eq (container_pread (c, got, sizeof got, 0), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (container_sync (c), -1);
  container_close (c);
}
END_TEST

START_TEST (test_inject_enospc)
{
  char p[128], buf[4096] = { 1 }, got[4096];
  struct container *c = container_open (1, "e", path_in (p, "e.img"), MiB);

  ck_assert_int_eq (inject_configure ("pwrite:ENOSPC:after=1"), 0);
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 0), 0);
  errno = 0;
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 4096), -1);
  ck_assert_int_eq (errno, ENOSPC);
  expect_error ("No space left on device");
  /* A full container has not failed: reads work, writes once there is
   * room again. */
  ck_assert (!container_failed (c));
  ck_assert_int_eq (container_pread (c, got, sizeof got, 0), 0);
  ck_assert_mem_eq (got, buf, sizeof buf);
  ck_assert_int_eq (inject_configure (NULL), 0);
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, 4096), 0);
  container_close (c);
}
END_TEST

START_TEST (test_inject_parse)
{
  static const char *const bad[] = {
    "foo:EIO", "sync", "sync:", "sync:EFOO", "sync:EIO:after=",
    "sync:EIO:after=x", "sync:EIO:after=-1", "sync:EIO:count=0",
    "sync:EIO:bogus=1", "sync:EIO,", ",sync:EIO", "sync:EIO:after=1 ",
    "pwrite:SKIP", "commit:SKIP", "zero:SKIP", "commits:EIO",
    "sync:EIO,sync:EIO,sync:EIO,sync:EIO,sync:EIO,sync:EIO,sync:EIO,"
    "sync:EIO,sync:EIO,sync:EIO,sync:EIO,sync:EIO,sync:EIO,sync:EIO,"
    "sync:EIO,sync:EIO,sync:EIO",
  };
  size_t i;

  ck_assert_int_eq (inject_configure ("zero:EROFS:count=2:after=2"), 0);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unsigned before = n_errors;
    ck_assert_msg (inject_configure (bad[i]) == -1, "accepted '%s'", bad[i]);
    ck_assert_uint_eq (n_errors, before + 1);
    expect_error ("SEGMAP_INJECT");
  }
  /* The refused specs left the rule in place. */
  ck_assert_int_eq (inject_check (INJECT_ZERO), 0);
  ck_assert_int_eq (inject_check (INJECT_ZERO), 0);
  ck_assert_int_eq (inject_check (INJECT_ZERO), EROFS);
  ck_assert_int_eq (inject_check (INJECT_ZERO), EROFS);
  ck_assert_int_eq (inject_check (INJECT_ZERO), 0);
  ck_assert_int_eq (inject_check (INJECT_SYNC), 0);
  ck_assert_str_eq (inject_op_to_string (INJECT_PWRITE), "pwrite");

  /* Two rules on one op: the first listed wins, both count. */
  ck_assert_int_eq (inject_configure ("sync:EIO:after=1:count=1,"
                                      "sync:ENOSPC:count=3"), 0);
  ck_assert_int_eq (inject_check (INJECT_SYNC), ENOSPC);
  ck_assert_int_eq (inject_check (INJECT_SYNC), EIO);
  ck_assert_int_eq (inject_check (INJECT_SYNC), ENOSPC);
  ck_assert_int_eq (inject_check (INJECT_SYNC), 0);
}
END_TEST

/* SKIP: the sync reports success without syncing, for sync only; commit
 * rules count store_commit calls. */
START_TEST (test_inject_skip_commit)
{
  char p[128];
  struct container *c = container_open (1, "k", path_in (p, "k.img"), MiB);

  ck_assert_int_eq (inject_configure ("sync:SKIP:after=1:count=1,"
                                      "commit:ENOSPC:after=1:count=1"), 0);
  ck_assert_int_eq (inject_check (INJECT_SYNC), 0);
  ck_assert_int_eq (inject_check (INJECT_SYNC), INJECT_SKIP);
  ck_assert_int_eq (inject_check (INJECT_SYNC), 0);
  ck_assert_int_eq (inject_check (INJECT_COMMIT), 0);
  ck_assert_int_eq (inject_check (INJECT_COMMIT), ENOSPC);
  ck_assert_int_eq (inject_check (INJECT_COMMIT), 0);
  ck_assert_str_eq (inject_op_to_string (INJECT_COMMIT), "commit");
  /* A skipped sync succeeds and leaves the container healthy. */
  ck_assert_int_eq (inject_configure ("sync:SKIP"), 0);
  ck_assert_int_eq (container_sync (c), 0);
  ck_assert (!c->failed);
  ck_assert_uint_eq (n_errors, 0);
  container_close (c);
}
END_TEST

/* The counts file holds the latest per-operation totals. */
START_TEST (test_inject_counts)
{
  char p[128], text[512] = "";
  uint64_t n[5] = { 0 };
  int fd, i;

  ck_assert_int_eq (inject_count_to (path_in (p, "counts")), 0);
  for (i = 0; i < 3; i++)
    ck_assert_int_eq (inject_check (INJECT_PWRITE), 0);
  ck_assert_int_eq (inject_check (INJECT_COMMIT), 0);
  ck_assert_int_eq (inject_configure ("sync:EIO:count=1"), 0);
  ck_assert_int_eq (inject_check (INJECT_SYNC), EIO);   /* both at once */
  fd = open (p, O_RDONLY);
  ck_assert_int_ne (fd, -1);
  ck_assert_int_gt (read (fd, text, sizeof text - 1), 0);
  close (fd);
  ck_assert_int_eq (sscanf (text, "pread %" SCNu64 " pwrite %" SCNu64
                            " zero %" SCNu64 " sync %" SCNu64
                            " commit %" SCNu64, &n[0], &n[1], &n[2], &n[3],
                            &n[4]), 5);
  ck_assert_uint_eq (n[0], 0);
  ck_assert_uint_eq (n[1], 3);
  ck_assert_uint_eq (n[2], 0);
  ck_assert_uint_eq (n[3], 1);
  ck_assert_uint_eq (n[4], 1);
  ck_assert_int_eq (inject_count_to (NULL), 0);
  ck_assert_int_eq (inject_count_to ("/nonexistent/dir/counts"), -1);
  expect_error ("SEGMAP_INJECT_COUNTS");
}
END_TEST

static void *
hammer (void *arg)
{
  unsigned *fails = arg, i;

  for (i = 0; i < 10000; i++)
    if (inject_check (INJECT_PWRITE) == EIO)
      (*fails)++;
  return NULL;
}

START_TEST (test_inject_threads)
{
  pthread_t t[4];
  unsigned fails[4] = { 0 }, i, total = 0;

  ck_assert_int_eq (inject_configure ("pwrite:EIO:after=1000:count=5000"), 0);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq (pthread_create (&t[i], NULL, hammer, &fails[i]), 0);
  for (i = 0; i < 4; i++) {
    pthread_join (t[i], NULL);
    total += fails[i];
  }
  ck_assert_uint_eq (total, 5000);
}
END_TEST

/* Attach a loop device to FILE (autoclear); its path in DEV, or -1. */
static int
loop_attach (const char *file, char *dev, size_t len)
{
  int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC), fd = -1;
  int backing = open (file, O_RDWR | O_CLOEXEC), tries, n;
  struct loop_config cfg = { .info.lo_flags = LO_FLAGS_AUTOCLEAR };

  for (tries = 0; ctl != -1 && backing != -1 && tries < 5; tries++) {
    if ((n = ioctl (ctl, LOOP_CTL_GET_FREE)) == -1)
      break;
    snprintf (dev, len, "/dev/loop%d", n);
    if ((fd = open (dev, O_RDWR | O_CLOEXEC)) == -1)
      break;
    cfg.fd = backing;
    if (ioctl (fd, LOOP_CONFIGURE, &cfg) == 0)
      break;
    close (fd);
    fd = -1;
    if (errno != EBUSY)
      break;
  }
  if (ctl != -1) close (ctl);
  if (backing != -1) close (backing);
  return fd;
}

START_TEST (test_block_device)
{
  char p[128], dev[64], buf[8192], got[8192];
  struct container *c;
  uint64_t bytes;
  int loop;

  make_file (path_in (p, "backing.img"), 4 * MiB);
  loop = geteuid () == 0 ? loop_attach (p, dev, sizeof dev) : -1;
  if (loop == -1) {
    fprintf (stderr, "test_block_device: skipped (needs root and a free "
             "loop device)\n");
    return;
  }
  ck_assert_ptr_null (container_open (1, "blk", dev, 8 * MiB));
  expect_error ("larger than the device");
  c = container_open (1, "blk", dev, 0);
  close (loop);                 /* the container's fd keeps it attached */
  ck_assert_ptr_nonnull (c);
  ck_assert_int_eq (c->kind, CONTAINER_BLOCK);
  ck_assert_str_eq (container_kind_to_string (c->kind), "block");
  ck_assert_uint_eq (c->size, 4 * MiB);
  ck_assert_int_eq (container_allocated_bytes (c, &bytes), 0);
  ck_assert_uint_eq (bytes, 4 * MiB);
  fill (buf, sizeof buf, 11);
  ck_assert_int_eq (container_pwrite (c, buf, sizeof buf, MiB), 0);
  ck_assert_int_eq (container_sync (c), 0);
  ck_assert_int_eq (container_zero (c, MiB, 4096), 0);     /* BLKZEROOUT */
  ck_assert_uint_eq (c->no_zero, 0);                       /* it worked */
  ck_assert_int_eq (container_zero (c, MiB + 5000, 100), 0); /* unaligned */
  ck_assert_int_eq (container_pread (c, got, sizeof got, MiB), 0);
  ck_assert (all_zero (got, 4096));
  ck_assert_mem_eq (got + 4096, buf + 4096, 5000 - 4096);
  ck_assert (all_zero (got + 5000, 100));
  ck_assert_mem_eq (got + 5100, buf + 5100, sizeof buf - 5100);
  container_close (c);
}
END_TEST

/* `flock -n PATH true': 0 if PATH could be locked, 99 if it is held. */
static int
flock_probe (const char *path)
{
  char cmd[256];

  snprintf (cmd, sizeof cmd, "flock -n -E 99 '%s' true", path);
  return WEXITSTATUS (system (cmd));
}

/* container_lock_exclusive: held against other processes, idempotent in
 * ours (by any path), not broken by another handle of the container
 * opened and closed, refused with the holder's pid. */
START_TEST (test_lock_exclusive)
{
  char pbuf[128];
  const char *path = path_in (pbuf, "l.img");
  struct container *c = container_open (1, "l", path, MiB), *d;
  char link[160], stat_path[64], stat_buf[256];
  const char *named;
  pid_t holder;
  long pid, ppid = 0;
  FILE *fp;

  if (system ("flock -V >/dev/null 2>&1") != 0)
    return;                     /* no flock(1): nothing to probe with */
  ck_assert_ptr_nonnull (c);
  ck_assert_int_eq (flock_probe (path), 0);
  ck_assert_int_eq (container_lock_exclusive (c), 0);
  ck_assert_int_eq (flock_probe (path), 99);
  /* An agent's own handle: opened, used, closed; the lock stays. */
  d = container_open (1, "l", path, MiB);
  ck_assert_ptr_nonnull (d);
  container_close (d);
  ck_assert_int_eq (flock_probe (path), 99);
  ck_assert_int_eq (container_lock_exclusive (c), 0);
  snprintf (link, sizeof link, "%s/link.img", tmpdir);
  ck_assert_int_eq (symlink (path, link), 0);
  d = container_open (1, "l2", link, 0);
  ck_assert_ptr_nonnull (d);
  ck_assert_int_eq (container_lock_exclusive (d), 0);   /* same file */
  container_close (d);
  container_unlock (c);
  ck_assert_int_eq (flock_probe (path), 0);

  /* Another process holds it: refused, naming that process. */
  holder = fork ();
  ck_assert_int_ge (holder, 0);
  if (holder == 0) {
    execlp ("flock", "flock", path, "sleep", "30", (char *) NULL);
    _exit (127);
  }
  for (int i = 0; i < 500 && flock_probe (path) != 99; i++)
    usleep (10000);
  errno = 0;
  ck_assert_int_eq (container_lock_exclusive (c), -1);
  ck_assert_int_eq (errno, EWOULDBLOCK);
  ck_assert_msg (strstr (last_error, "is locked by another process") &&
                 strstr (last_error, path), "%s", last_error);
  /* flock(1) runs sleep as its child, which inherits the locked file:
   * either may be named, but one of them must be. */
  named = strstr (last_error, "(pid ");
  ck_assert_msg (named != NULL, "%s", last_error);
  pid = atol (named + 5);
  snprintf (stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
  if ((fp = fopen (stat_path, "r")) != NULL) {
    if (fgets (stat_buf, sizeof stat_buf, fp) && strrchr (stat_buf, ')'))
      sscanf (strrchr (stat_buf, ')') + 2, "%*c %ld", &ppid);
    fclose (fp);
  }
  ck_assert_msg (pid == holder || ppid == holder,
                 "named pid %ld, holder %ld: %s", pid, (long) holder,
                 last_error);
  kill (holder, SIGKILL);
  waitpid (holder, NULL, 0);
  container_close (c);
}
END_TEST

static Suite *
container_suite (void)
{
  Suite *s = suite_create ("container");
  TCase *tc = tcase_create ("container");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_inject_env);        /* must be first */
  tcase_add_test (tc, test_create_sparse);
  tcase_add_test (tc, test_create_refused);
  tcase_add_test (tc, test_grow_and_no_shrink);
  tcase_add_test (tc, test_existing_sizes);
  tcase_add_test (tc, test_read_write);
  tcase_add_test (tc, test_read_past_eof);
  tcase_add_test (tc, test_zero);
  tcase_add_test (tc, test_zero_fallbacks);
  tcase_add_test (tc, test_read_only_file);
  tcase_add_test (tc, test_wrong_types);
  tcase_add_test (tc, test_sync_failure_sticky);
  tcase_add_test (tc, test_inject_enospc);
  tcase_add_test (tc, test_failure);
  tcase_add_test (tc, test_open_existing);
  tcase_add_test (tc, test_inject_parse);
  tcase_add_test (tc, test_inject_threads);
  tcase_add_test (tc, test_inject_skip_commit);
  tcase_add_test (tc, test_inject_counts);
  tcase_add_test (tc, test_block_device);
  tcase_add_test (tc, test_lock_exclusive);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (container_suite ());
}
