/* segmap: containers, the backing stores segments live in.
 *
 * A container is a regular file (created sparse, grown but never
 * shrunk) or a block device, opened read-write.  Its size is a
 * multiple of SM_UNIT_SIZE (64 KiB).  Every I/O function is a full
 * operation (short transfers and EINTR are retried), checks the range
 * against the size, consults fault injection (store/inject.h) first,
 * and on failure returns -1 with errno set and an sm_error naming the
 * container.  Any thread may do I/O on an open container.
 *
 * Durability: container_sync is the only barrier.  Once a sync has
 * failed the handle is `failed' for good and every later sync fails
 * too, because after a writeback error the kernel may have dropped the
 * dirty pages, and a retried fsync can report success without the data
 * ever reaching the disk ("fsyncgate").
 *
 * Failure: a read, write or zero that fails with an errno saying the
 * storage itself is failing (container_error_is_failure: EIO, the
 * device or file gone, ...) fails the handle too.  A failed handle
 * does no more I/O: every call fails at once with EIO, so a dead device
 * is not hammered and no write lands after the failure was seen.  Space
 * and argument errors (ENOSPC, EINVAL) do not fail it.  Only a new
 * handle (container_open) serves the container again: that is what
 * `container online' does (controller/failure.c).
 */
#ifndef SEGMAP_CONTAINER_H
#define SEGMAP_CONTAINER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum container_kind {
  CONTAINER_FILE,
  CONTAINER_BLOCK,
};

/* "file" or "block". */
const char *container_kind_to_string (enum container_kind k);

struct container {
  uint32_t id;
  char *name;
  char *path;
  int fd;
  enum container_kind kind;
  uint64_t size;              /* bytes, a multiple of 64 KiB */
  _Atomic bool failed;        /* sticky: a sync failed, or the storage
                                 failed an I/O: no more I/O, never
                                 report success again */
  _Atomic unsigned no_zero;   /* CONTAINER_NO_* methods found unsupported */
  _Atomic bool failure_told;  /* container_failure_news answered true */
};

/* Bits of no_zero: set by container_zero when a method is refused as
 * unsupported; tests set them to exercise the fallbacks. */
#define CONTAINER_NO_PUNCH_HOLE 1u
#define CONTAINER_NO_ZERO_RANGE 2u
#define CONTAINER_NO_BLKZEROOUT 4u

/* Open PATH read-write as container ID / NAME.  A missing regular file
 * is created sparse with SIZE bytes (SIZE 0 is an error); an existing
 * file smaller than SIZE is grown sparse, never shrunk (a larger file
 * keeps its size; SIZE 0 means its size).  A block device has its own
 * size (SIZE must be 0 or no more than it).  The size is rounded down
 * to 64 KiB and must be at least that.  NULL + sm_error on failure. */
struct container *container_open (uint32_t id, const char *name,
                                  const char *path, uint64_t size);

/* The same, but a missing PATH is an error (ENOENT), not created: a
 * container the database knows whose file is gone has failed. */
struct container *container_open_existing (uint32_t id, const char *name,
                                           const char *path, uint64_t size);

/* A handle of container ID / NAME at PATH that cannot be opened now:
 * failed from the start (every I/O fails with EIO); SIZE is recorded.
 * NULL + sm_error only if memory runs out. */
struct container *container_placeholder (uint32_t id, const char *name,
                                         const char *path, uint64_t size);

/* The size container_open would give PATH with SIZE (opening it once:
 * a missing file is created, a short one grown), in *REAL; refuses what
 * container_open refuses.  0, or -1 + sm_error. */
int container_probe_size (const char *name, const char *path, uint64_t size,
                          uint64_t *real);

/* Lock C's file or device exclusively for the life of the process
 * (store/lock.h): the claim of the one server that owns it.  Separate
 * from container_open because other handles of the same container in
 * this process (an agent's own) must neither take nor break the lock.
 * 0, or -1 + sm_error naming the holder's pid. */
int container_lock_exclusive (const struct container *c);

/* Drop that lock (the container is no longer served). */
void container_unlock (const struct container *c);

/* Close and free C (NULL is allowed). */
void container_close (struct container *c);

/* Read LEN bytes at OFFSET into BUF; file bytes past its end read as
 * zeros.  0, or -1 with errno + sm_error. */
int container_pread (struct container *c, void *buf, size_t len,
                     uint64_t offset);

/* Write LEN bytes from BUF at OFFSET.  0, or -1 with errno (ENOSPC is
 * kept for the caller) + sm_error. */
int container_pwrite (struct container *c, const void *buf, size_t len,
                      uint64_t offset);

/* Make [OFFSET, OFFSET+LEN) read as zeros, freeing the space where the
 * store can: punch a hole in a file (else zero-range, else write
 * zeros), BLKZEROOUT on a block device (else write zeros).  0, or -1
 * with errno + sm_error. */
int container_zero (struct container *c, uint64_t offset, uint64_t len);

/* Does ERR (an errno from a container call) say that the storage is
 * failing, rather than full (ENOSPC) or asked for something invalid? */
bool container_error_is_failure (int err);

/* Has C failed (a sync, or an I/O with a failure errno)? */
bool container_failed (const struct container *c);

/* Is C failed, and is this the first call to say so?  For the one who
 * reports the failure: asked after a call failed, true once per handle,
 * so no I/O pays for a check beforehand. */
bool container_failure_news (struct container *c);

/* Make every completed write durable (fdatasync).  On failure, and
 * always after any earlier failure, -1 with errno + sm_error. */
int container_sync (struct container *c);

/* Bytes of storage the container really takes: st_blocks * 512 for a
 * file, the size of a block device.  0, or -1 + sm_error. */
int container_allocated_bytes (struct container *c, uint64_t *bytes);

#endif /* SEGMAP_CONTAINER_H */
