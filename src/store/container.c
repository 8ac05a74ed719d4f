/* segmap: containers: files and block devices (see container.h).
 *
 * Opening classifies the path with stat() before opening it, so that a
 * FIFO is never opened (it would block) and each refusal says why:
 * missing parent directory, directory, other file type, read-only.  A
 * new file is created with O_EXCL, sized with ftruncate (sparse), and
 * fsync'ed with its directory, so that a container recorded in the
 * database still exists after a crash.
 *
 * Zeroing tries the cheapest method that frees space first and
 * remembers, per container (no_zero), the methods the file system
 * or device refused as unsupported, so a container on a file system
 * without hole punching does not pay a failing syscall on every call:
 *
 *   file:  PUNCH_HOLE|KEEP_SIZE -> ZERO_RANGE|KEEP_SIZE -> write zeros
 *   block: BLKZEROOUT (512-aligned ranges)              -> write zeros
 *
 * Error handling: every public function reports through sm_error and
 * returns -1 with errno set; an injected fault (store/inject.h) looks
 * exactly like the real error to the caller.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "store/container.h"
#include "store/inject.h"
#include "store/lock.h"

#define MAX_IO_CHUNK   (UINT64_C(1) << 30)  /* per pread/pwrite call */
#define ZERO_BUF_SIZE  (UINT64_C(1) << 20)  /* for writing zeros */

const char *
container_kind_to_string (enum container_kind k)
{
  switch (k) {
  case CONTAINER_FILE: return "file";
  case CONTAINER_BLOCK: return "block";
  }
  return "unknown";
}

static uint64_t
round_to_unit (uint64_t size)
{
  return size & ~(SM_UNIT_SIZE - 1);
}

/* fsync the directory holding PATH, so a new entry in it is durable. */
static int
sync_parent_dir (const char *path)
{
  CLEANUP_FREE char *copy = strdup (path);
  CLEANUP_CLOSE int fd = -1;

  if (copy == NULL)
    return -1;
  fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || fsync (fd) == -1)
    return -1;
  return 0;
}

/* Set the size of a just-created or existing file and record it. */
static int
file_set_size (struct container *c, uint64_t cur, uint64_t size)
{
  uint64_t want = round_to_unit (size);

  if (want > cur) {
    if (ftruncate (c->fd, want) == -1) {
      sm_error ("container %s: cannot grow %s to %" PRIu64 " bytes: %m",
                c->name, c->path, want);
      return -1;
    }
    cur = want;
  }
  else if (size != 0 && round_to_unit (cur) > want)
    sm_debug ("container %s: %s is %" PRIu64 " bytes, larger than the %"
              PRIu64 " requested; keeping its size", c->name, c->path,
              cur, size);
  c->size = round_to_unit (cur);
  return 0;
}

/* Create the missing file PATH, SIZE bytes, sparse. */
static int
create_file (struct container *c, uint64_t size)
{
  if (size < SM_UNIT_SIZE) {
    errno = EINVAL;
    sm_error ("container %s: %s does not exist, and %s", c->name, c->path,
              size == 0 ? "a size is needed to create it"
              : "the size requested is less than one 64 KiB unit");
    return -1;
  }
  c->fd = open (c->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (c->fd == -1) {
    if (errno == ENOENT)
      sm_error ("container %s: cannot create %s: its parent directory "
                "does not exist", c->name, c->path);
    else
      sm_error ("container %s: cannot create %s: %m", c->name, c->path);
    return -1;
  }
  c->kind = CONTAINER_FILE;
  if (file_set_size (c, 0, size) == -1)
    goto fail;
  if (fsync (c->fd) == -1 || sync_parent_dir (c->path) == -1) {
    sm_error ("container %s: cannot sync new file %s: %m", c->name, c->path);
    goto fail;
  }
  return 0;

 fail:
  unlink (c->path);
  return -1;
}

/* Take the size of the block device open on c->fd. */
static int
block_set_size (struct container *c, uint64_t size)
{
  uint64_t dev;

  if (ioctl (c->fd, BLKGETSIZE64, &dev) == -1) {
    sm_error ("container %s: cannot get the size of %s: %m",
              c->name, c->path);
    return -1;
  }
  if (size > dev) {
    errno = EINVAL;
    sm_error ("container %s: requested size %" PRIu64 " is larger than "
              "the device %s (%" PRIu64 " bytes)", c->name, size, c->path,
              dev);
    return -1;
  }
  c->size = round_to_unit (dev);
  return 0;
}

/* Refuse what cannot be a container, from its stat. */
static int
check_type (struct container *c, const struct stat *st)
{
  if (S_ISREG (st->st_mode) || S_ISBLK (st->st_mode))
    return 0;
  if (S_ISDIR (st->st_mode)) {
    errno = EISDIR;
    sm_error ("container %s: %s is a directory", c->name, c->path);
  }
  else {
    errno = EINVAL;
    sm_error ("container %s: %s is neither a regular file nor a block "
              "device", c->name, c->path);
  }
  return -1;
}

/* Open the existing PATH read-write and size it. */
static int
open_existing (struct container *c, uint64_t size)
{
  struct stat st;

  c->fd = open (c->path, O_RDWR | O_CLOEXEC);
  if (c->fd == -1) {
    if (errno == EACCES || errno == EROFS || errno == EPERM)
      sm_error ("container %s: %s is read-only (cannot open it for "
                "writing: %m)", c->name, c->path);
    else
      sm_error ("container %s: cannot open %s: %m", c->name, c->path);
    return -1;
  }
  if (fstat (c->fd, &st) == -1) {
    sm_error ("container %s: fstat %s: %m", c->name, c->path);
    return -1;
  }
  if (check_type (c, &st) == -1)
    return -1;
  c->kind = S_ISBLK (st.st_mode) ? CONTAINER_BLOCK : CONTAINER_FILE;
  if (c->kind == CONTAINER_BLOCK)
    return block_set_size (c, size);
  return file_set_size (c, st.st_size, size);
}

/* Classify PATH, then create (if CREATE) or open it. */
static int
open_path (struct container *c, uint64_t size, bool create)
{
  struct stat st;

  if (stat (c->path, &st) == -1) {
    if (errno == ENOENT && create)
      return create_file (c, size);
    sm_error ("container %s: %s: %m", c->name, c->path);
    return -1;
  }
  if (check_type (c, &st) == -1)
    return -1;
  return open_existing (c, size);
}

static struct container *
open_container (uint32_t id, const char *name, const char *path,
                uint64_t size, bool create)
{
  struct container *c;

  if (inject_init () == -1)
    return NULL;
  c = calloc (1, sizeof *c);
  if (c == NULL) {
    sm_error ("container %s: calloc: %m", name);
    return NULL;
  }
  c->id = id;
  c->fd = -1;
  c->name = strdup (name);
  c->path = strdup (path);
  if (c->name == NULL || c->path == NULL) {
    sm_error ("container %s: strdup: %m", name);
    goto fail;
  }
  if (open_path (c, size, create) == -1)
    goto fail;
  if (c->size < SM_UNIT_SIZE) {
    errno = EINVAL;
    sm_error ("container %s: %s is smaller than one %" PRIu64 " KiB unit",
              name, path, SM_UNIT_SIZE / 1024);
    goto fail;
  }
  sm_debug ("container %s: opened %s (%s, %" PRIu64 " bytes)", name, path,
            container_kind_to_string (c->kind), c->size);
  return c;

 fail:
  container_close (c);
  return NULL;
}

struct container *
container_open (uint32_t id, const char *name, const char *path,
                uint64_t size)
{
  return open_container (id, name, path, size, true);
}

struct container *
container_open_existing (uint32_t id, const char *name, const char *path,
                         uint64_t size)
{
  return open_container (id, name, path, size, false);
}

struct container *
container_placeholder (uint32_t id, const char *name, const char *path,
                       uint64_t size)
{
  struct container *c = calloc (1, sizeof *c);

  if (c == NULL) {
    sm_error ("container %s: out of memory", name);
    return NULL;
  }
  c->id = id;
  c->fd = -1;
  c->size = size;
  if ((c->name = strdup (name)) == NULL || (c->path = strdup (path)) == NULL) {
    sm_error ("container %s: out of memory", name);
    container_close (c);
    return NULL;
  }
  atomic_store (&c->failed, true);
  return c;
}

int
container_lock_exclusive (const struct container *c)
{
  CLEANUP_FREE char *what = NULL;

  if (asprintf (&what, "container %s", c->name) == -1) {
    sm_error ("container %s: asprintf: %m", c->name);
    return -1;
  }
  return sm_lock_take (c->path, what, 0);
}

void
container_unlock (const struct container *c)
{
  sm_lock_release (c->path);
}

int
container_probe_size (const char *name, const char *path, uint64_t size,
                      uint64_t *real)
{
  struct container *probe = container_open (0, name, path, size);

  if (probe == NULL)
    return -1;
  *real = probe->size;
  container_close (probe);
  return 0;
}

void
container_close (struct container *c)
{
  if (c == NULL)
    return;
  if (c->fd >= 0)
    close (c->fd);
  free (c->name);
  free (c->path);
  free (c);
}

bool
container_error_is_failure (int err)
{
  switch (err) {
  case EIO: case ENXIO: case ENODEV: case ENOENT: case ESTALE:
  case EBADF: case EROFS: case ENOTCONN: case ECONNRESET: case EPIPE:
  case ESHUTDOWN: case ETIMEDOUT: case ENOMEDIUM: case EREMOTEIO:
  case EHOSTDOWN: case EHOSTUNREACH:
    return true;
  default:
    return false;
  }
}

bool
container_failed (const struct container *c)
{
  return atomic_load (&((struct container *) c)->failed);
}

bool
container_failure_news (struct container *c)
{
  return atomic_load (&c->failed) && !atomic_exchange (&c->failure_told, true);
}

/* An I/O failed with errno: fail the handle if the errno says so.
 * Returns -1 with errno kept. */
static int
io_failed (struct container *c)
{
  int err = errno;

  if (container_error_is_failure (err)
      && !atomic_exchange (&c->failed, true))
    sm_error ("container %s: failed (%s): no more I/O until it is brought "
              "online again", c->name, strerror (err));
  errno = err;
  return -1;
}

/* Refuse I/O on a failed handle.  0, or -1 with EIO. */
static int
check_serving (struct container *c, const char *what)
{
  if (!atomic_load_explicit (&c->failed, memory_order_relaxed))
    return 0;
  errno = EIO;
  sm_debug ("container %s: %s refused: the container has failed", c->name,
            what);
  return -1;
}

/* Report an injected fault ERR on operation WHAT as a real one. */
static int
injected (struct container *c, const char *what, int err)
{
  errno = err;
  sm_error ("container %s: %s: %m (injected)", c->name, what);
  return io_failed (c);
}

/* Refuse I/O outside the container. */
static int
check_range (struct container *c, const char *what, uint64_t len,
             uint64_t offset)
{
  if (offset <= c->size && len <= c->size - offset)
    return 0;
  errno = EINVAL;
  sm_error ("container %s: %s of %" PRIu64 " bytes at %" PRIu64 " is "
            "beyond its end (%" PRIu64 " bytes)", c->name, what, len, offset,
            c->size);
  return -1;
}

static size_t
chunk (size_t len)
{
  return len < MAX_IO_CHUNK ? len : MAX_IO_CHUNK;
}

int
container_pread (struct container *c, void *buf, size_t len,
                 uint64_t offset)
{
  int err = inject_check (INJECT_PREAD);
  char *p = buf;
  ssize_t r;

  if (check_serving (c, "read") == -1)
    return -1;
  if (err != 0)
    return injected (c, "read", err);
  if (check_range (c, "read", len, offset) == -1)
    return -1;
  while (len > 0) {
    r = pread (c->fd, p, chunk (len), offset);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      sm_error ("container %s: read of %zu bytes at %" PRIu64 ": %m",
                c->name, len, offset);
      return io_failed (c);
    }
    if (r == 0) {               /* past the end of the file */
      memset (p, 0, len);
      break;
    }
    p += r, len -= r, offset += r;
  }
  return 0;
}

/* Write all of BUF, no injection, no range check. */
static int
write_full (struct container *c, const char *p, size_t len, uint64_t offset)
{
  ssize_t r;

  while (len > 0) {
    r = pwrite (c->fd, p, chunk (len), offset);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        errno = EIO;
      sm_error ("container %s: write of %zu bytes at %" PRIu64 ": %m",
                c->name, len, offset);
      return -1;
    }
    p += r, len -= r, offset += r;
  }
  return 0;
}

int
container_pwrite (struct container *c, const void *buf, size_t len,
                  uint64_t offset)
{
  int err = inject_check (INJECT_PWRITE);

  if (check_serving (c, "write") == -1)
    return -1;
  if (err != 0)
    return injected (c, "write", err);
  if (check_range (c, "write", len, offset) == -1)
    return -1;
  return write_full (c, buf, len, offset) == 0 ? 0 : io_failed (c);
}

/* The zeroing of last resort. */
static int
write_zeros (struct container *c, uint64_t offset, uint64_t len)
{
  size_t n = len < ZERO_BUF_SIZE ? len : ZERO_BUF_SIZE;
  CLEANUP_FREE char *zeros = calloc (1, n);

  if (zeros == NULL) {
    sm_error ("container %s: calloc: %m", c->name);
    return -1;
  }
  for (; len > 0; offset += n, len -= n) {
    n = len < ZERO_BUF_SIZE ? len : ZERO_BUF_SIZE;
    if (write_full (c, zeros, n, offset) == -1)
      return -1;
  }
  return 0;
}

/* Errors that mean "this method is not supported here". */
static bool
unsupported (int err)
{
  return err == EOPNOTSUPP || err == ENOSYS || err == ENOTTY;
}

/* Try one zeroing method (METHOD bit) unless known unsupported.
 * Returns 0 done, 1 not supported (try the next one), -1 error. */
static int
try_method (struct container *c, unsigned method, int r, const char *what)
{
  if (r == 0)
    return 0;
  if (unsupported (errno)) {
    sm_debug ("container %s: %s not supported: %m", c->name, what);
    atomic_fetch_or (&c->no_zero, method);
    return 1;
  }
  sm_error ("container %s: %s: %m", c->name, what);
  return -1;
}

static bool
known_unsupported (struct container *c, unsigned method)
{
  return (atomic_load_explicit (&c->no_zero, memory_order_relaxed)
          & method) != 0;
}

static int
zero_file (struct container *c, uint64_t offset, uint64_t len)
{
  const int keep = FALLOC_FL_KEEP_SIZE;
  int r = 1;

  if (!known_unsupported (c, CONTAINER_NO_PUNCH_HOLE))
    r = try_method (c, CONTAINER_NO_PUNCH_HOLE,
                    fallocate (c->fd, FALLOC_FL_PUNCH_HOLE | keep,
                               offset, len), "punch hole");
  if (r == 1 && !known_unsupported (c, CONTAINER_NO_ZERO_RANGE))
    r = try_method (c, CONTAINER_NO_ZERO_RANGE,
                    fallocate (c->fd, FALLOC_FL_ZERO_RANGE | keep,
                               offset, len), "zero range");
  return r == 1 ? write_zeros (c, offset, len) : r;
}

static int
zero_block (struct container *c, uint64_t offset, uint64_t len)
{
  uint64_t range[2] = { offset, len };
  int r = 1;

  if ((offset | len) % SM_SECTOR_SIZE == 0
      && !known_unsupported (c, CONTAINER_NO_BLKZEROOUT))
    r = try_method (c, CONTAINER_NO_BLKZEROOUT,
                    ioctl (c->fd, BLKZEROOUT, range), "BLKZEROOUT");
  return r == 1 ? write_zeros (c, offset, len) : r;
}

int
container_zero (struct container *c, uint64_t offset, uint64_t len)
{
  int err = inject_check (INJECT_ZERO);

  if (check_serving (c, "zero") == -1)
    return -1;
  if (err != 0)
    return injected (c, "zero", err);
  if (check_range (c, "zero", len, offset) == -1)
    return -1;
  if (len == 0)
    return 0;
  if ((c->kind == CONTAINER_BLOCK ? zero_block (c, offset, len)
       : zero_file (c, offset, len)) == -1)
    return io_failed (c);
  return 0;
}

/* Record a failed sync for good. */
static int
sync_failed (struct container *c, int err, bool was_injected)
{
  atomic_store (&c->failed, true);
  errno = err;
  sm_error ("container %s: sync failed%s: %m; the container can no longer "
            "promise durability", c->name, was_injected ? " (injected)" : "");
  return -1;
}

int
container_sync (struct container *c)
{
  int err;

  if (atomic_load (&c->failed)) {
    errno = EIO;
    sm_error ("container %s: it failed earlier; refusing to report "
              "durability", c->name);
    return -1;
  }
  err = inject_check (INJECT_SYNC);
  if (err == INJECT_SKIP)
    return 0;                   /* a test's broken sync (inject.h) */
  if (err != 0)
    return sync_failed (c, err, true);
  while (fdatasync (c->fd) == -1) {
    if (errno != EINTR)
      return sync_failed (c, errno, false);
  }
  return 0;
}

int
container_allocated_bytes (struct container *c, uint64_t *bytes)
{
  struct stat st;

  if (c->kind == CONTAINER_BLOCK) {
    *bytes = c->size;
    return 0;
  }
  if (fstat (c->fd, &st) == -1) {
    sm_error ("container %s: fstat: %m", c->name);
    return -1;
  }
  *bytes = (uint64_t) st.st_blocks * 512;
  return 0;
}
