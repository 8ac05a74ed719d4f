/* segmap tests: powercut.so, an LD_PRELOAD interposer that turns kill -9
 * into a power cut for the files of one directory.
 *
 * Use (tests/test-powercut.sh):
 *
 *   POWERCUT_DIR=STATE-DIR POWERCUT_MATCH='segmap.db*:*.img' \
 *   LD_PRELOAD=.../powercut.so nbdkit ... segmap state-dir=STATE-DIR
 *
 * A regular file is tracked when it is opened through a path inside
 * POWERCUT_DIR (as /proc/self/fd shows it) whose last component matches
 * one of the ':'-separated fnmatch(3) patterns of POWERCUT_MATCH, and
 * does not end in "-shm" (SQLite's shared-memory index is mmap'd and
 * rebuilt from the log after a crash: it is left alone).  Nothing is
 * tracked when POWERCUT_DIR is unset.
 *
 * The model: a tracked file's real content on disk is its durable
 * content.  Every change goes to an overlay in this process's memory --
 * the page cache of a machine whose disk has a volatile write cache --
 * and reaches the real file only when the file is synced:
 *
 *   pwrite/pwrite64/pwritev/write   4 KiB pages in the overlay
 *   ftruncate                       the overlay's size (a shrink also
 *                                   hides the real bytes past it)
 *   fallocate PUNCH_HOLE/ZERO_RANGE zero pages in the overlay: a punch
 *                                   is not durable before a sync
 *   fallocate (allocation modes)    the size only (KEEP_SIZE: nothing)
 *   fsync/fdatasync                 overlay -> real file (pages written,
 *                                   zero runs punched, size set), then
 *                                   the real fdatasync/fsync; the
 *                                   overlay is emptied
 *   O_SYNC/O_DSYNC descriptors,     every write is followed by a sync
 *   pwritev2 RWF_SYNC/RWF_DSYNC     of the whole file
 *   sync_file_range                 nothing (it never made data durable)
 *   sync/syncfs                     every tracked file with an open
 *                                   descriptor is synced
 *
 * Reads (pread/pread64/preadv/read) see the overlay over the real file;
 * fstat/stat/lstat/fstatat/statx and lseek(SEEK_END) see the overlay's
 * size.  close keeps the overlay (the page cache outlives a close); it
 * is keyed by the file's device and inode.  kill -9 of the process is
 * the power cut: the overlay vanishes, and only what was synced is in
 * the files.  A kill during a sync leaves any prefix of that sync's
 * pages written, as a cut during a real writeback can.
 *
 * POWERCUT_WRITEBACK=N: one change in N (at random) also writes one
 * random dirty page or zero range to the real file early, unsynced, as
 * the kernel's writeback may, so that a cut keeps a random subset of the
 * unsynced changes instead of none of them.
 *
 * Not modelled (documented simplifications): directory entries --
 * creation, unlink, rename, O_TRUNC at open -- are durable at once
 * (segmap fsyncs the directory after creating a container, and SQLite
 * after creating its log, so the model only leaves out a loss they
 * already guard against); without POWERCUT_WRITEBACK unsynced writes
 * never reach the disk early (a cut loses all of them; test-crash.sh
 * covers the case where all of them survive).  O_DIRECT
 * is cleared on a tracked descriptor (the overlay is the cache it
 * would bypass).  mmap of a
 * tracked file, and a descriptor made by dup/fcntl(F_DUPFD), would
 * bypass the overlay: mmap of a tracked file aborts the process with a
 * message; segmap and SQLite (mmap_size 0) never dup these descriptors.
 * Locks (flock, fcntl) are not intercepted and pass through untouched.
 *
 * Locking: one mutex protects every overlay and the file list; the real
 * I/O of a tracked file runs under it (this is a test harness: clarity
 * over speed).  Untracked descriptors cost one relaxed load of fds[].
 */
#define _GNU_SOURCE 1

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#if SIZE_MAX != UINT64_MAX
#error "powercut.so assumes a 64-bit target (off_t and off64_t alike)"
#endif

#define PAGE 4096
#define MAX_FDS 65536

struct page {
  uint64_t idx;
  unsigned char *data;
  struct page *next;            /* hash chain */
};

/* Whole pages [start, end) zeroed (punched) since the last sync. */
struct zrange {
  uint64_t start, end;
};

struct pfile {
  dev_t dev;
  ino_t ino;
  char *path;
  uint64_t size;                /* the size the process sees */
  uint64_t valid;               /* real bytes still part of the content */
  struct page **buckets;        /* pages written since the last sync */
  size_t nbuckets, npages;
  struct zrange *zr;            /* sorted, disjoint, not adjacent; pages */
  size_t nzr, zcap;             /* override them */
  struct pfile *next;           /* in files, unless detached */
};

/* The real functions. */
static struct {
  int (*open) (const char *, int, ...);
  int (*openat) (int, const char *, int, ...);
  int (*close) (int);
  ssize_t (*pread) (int, void *, size_t, off_t);
  ssize_t (*pwrite) (int, const void *, size_t, off_t);
  ssize_t (*read) (int, void *, size_t);
  ssize_t (*write) (int, const void *, size_t);
  off_t (*lseek) (int, off_t, int);
  int (*fsync) (int);
  int (*fdatasync) (int);
  int (*ftruncate) (int, off_t);
  int (*fallocate) (int, int, off_t, off_t);
  int (*fstat) (int, struct stat *);
  int (*stat) (const char *, struct stat *);
  int (*lstat) (const char *, struct stat *);
  int (*fstatat) (int, const char *, struct stat *, int);
  int (*statx) (int, const char *, int, unsigned, struct statx *);
  int (*unlink) (const char *);
  int (*unlinkat) (int, const char *, int);
  int (*rename) (const char *, const char *);
  int (*renameat) (int, const char *, int, const char *);
  int (*renameat2) (int, const char *, int, const char *, unsigned);
  void *(*mmap) (void *, size_t, int, int, int, off_t);
  void (*sync) (void);
  int (*syncfs) (int);
} real;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *dir;                       /* realpath of POWERCUT_DIR */
static char *match;                     /* POWERCUT_MATCH */
static unsigned writeback;              /* POWERCUT_WRITEBACK, 0: off */
static uint64_t rng_state;              /* under lock */
static struct pfile *files;             /* under lock */
static struct pfile *_Atomic fds[MAX_FDS];
static int sync_flags[MAX_FDS];         /* O_SYNC/O_DSYNC/O_APPEND of fd */

static void
die (const char *msg)
{
  fprintf (stderr, "powercut: %s\n", msg);
  abort ();
}

#define REAL(name) \
  do { if ((real.name = dlsym (RTLD_NEXT, #name)) == NULL) \
         die ("dlsym " #name); } while (0)

static void
init (void)
{
  const char *d = getenv ("POWERCUT_DIR"), *m = getenv ("POWERCUT_MATCH");
  const char *wb = getenv ("POWERCUT_WRITEBACK");

  REAL (open); REAL (openat); REAL (close); REAL (pread); REAL (pwrite);
  REAL (read); REAL (write); REAL (lseek); REAL (fsync); REAL (fdatasync);
  REAL (ftruncate); REAL (fallocate); REAL (fstat); REAL (stat);
  REAL (lstat); REAL (fstatat); REAL (statx); REAL (unlink);
  REAL (unlinkat); REAL (rename); REAL (renameat); REAL (renameat2);
  REAL (mmap); REAL (sync); REAL (syncfs);
  if (d == NULL || *d == '\0')
    return;
  if ((dir = realpath (d, NULL)) == NULL)
    die ("POWERCUT_DIR does not exist");
  match = strdup (m != NULL && *m != '\0' ? m : "*");
  writeback = wb != NULL ? strtoul (wb, NULL, 10) : 0;
  rng_state = (uint64_t) getpid () * 0x9E3779B97F4A7C15ULL | 1;
  fprintf (stderr, "powercut: unsynced writes to %s/{%s} are volatile%s\n",
           dir, match, writeback ? ", some written back early" : "");
}

static void
ensure_init (void)
{
  pthread_once (&init_once, init);
}

static struct pfile *
tracked (int fd)
{
  if (fd < 0 || fd >= MAX_FDS)
    return NULL;
  return atomic_load_explicit (&fds[fd], memory_order_relaxed);
}

/*----------------------------------------------------------------------
 * Pages
 */

static struct page **
slot (struct pfile *f, uint64_t idx)
{
  struct page **pp = &f->buckets[(idx * 0x9E3779B97F4A7C15ULL >> 20)
                                 & (f->nbuckets - 1)];

  while (*pp && (*pp)->idx != idx)
    pp = &(*pp)->next;
  return pp;
}

static void
rehash (struct pfile *f)
{
  struct page **old = f->buckets;
  size_t n = f->nbuckets, i;

  f->nbuckets = n ? n * 4 : 256;
  if ((f->buckets = calloc (f->nbuckets, sizeof *f->buckets)) == NULL)
    die ("out of memory");
  for (i = 0; i < n; i++) {
    struct page *p = old[i], *next;
    for (; p; p = next) {
      next = p->next;
      p->next = NULL;
      *slot (f, p->idx) = p;
    }
  }
  free (old);
}

static struct page *
find_page (struct pfile *f, uint64_t idx)
{
  return f->nbuckets ? *slot (f, idx) : NULL;
}

/* Forget the pages [start, end). */
static void
drop_range (struct pfile *f, uint64_t start, uint64_t end)
{
  size_t i;

  for (i = 0; i < f->nbuckets; i++) {
    struct page **pp = &f->buckets[i];
    while (*pp) {
      struct page *p = *pp;
      if (p->idx >= start && p->idx < end) {
        *pp = p->next;
        free (p->data);
        free (p);
        f->npages--;
      }
      else
        pp = &p->next;
    }
  }
}

/*----------------------------------------------------------------------
 * Zero ranges
 */

/* Index of the first range ending after IDX. */
static size_t
zr_search (struct pfile *f, uint64_t idx)
{
  size_t lo = 0, hi = f->nzr;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (f->zr[mid].end <= idx)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static bool
zr_contains (struct pfile *f, uint64_t idx)
{
  size_t i = zr_search (f, idx);

  return i < f->nzr && f->zr[i].start <= idx;
}

/* Add [start, end), merging with the ranges it touches. */
static void
zr_add (struct pfile *f, uint64_t start, uint64_t end)
{
  size_t i = start > 0 ? zr_search (f, start - 1) : 0, j = i;

  while (j < f->nzr && f->zr[j].start <= end) {
    if (f->zr[j].start < start)
      start = f->zr[j].start;
    if (f->zr[j].end > end)
      end = f->zr[j].end;
    j++;
  }
  if (i == j) {                 /* insert at i */
    if (f->nzr == f->zcap) {
      f->zcap = f->zcap ? 2 * f->zcap : 16;
      if ((f->zr = realloc (f->zr, f->zcap * sizeof *f->zr)) == NULL)
        die ("out of memory");
    }
    memmove (&f->zr[i + 1], &f->zr[i], (f->nzr - i) * sizeof *f->zr);
    f->nzr++;
  }
  else {                        /* ranges i..j-1 become one */
    memmove (&f->zr[i + 1], &f->zr[j], (f->nzr - j) * sizeof *f->zr);
    f->nzr -= j - i - 1;
  }
  f->zr[i].start = start;
  f->zr[i].end = end;
}

/* Forget the ranges at and past page IDX. */
static void
zr_clip (struct pfile *f, uint64_t idx)
{
  size_t i = zr_search (f, idx);

  if (i < f->nzr && f->zr[i].start < idx)
    f->zr[i++].end = idx;
  f->nzr = i;
}

static void
drop_pages (struct pfile *f)
{
  size_t i;

  for (i = 0; i < f->nbuckets; i++) {
    struct page *p = f->buckets[i], *next;
    for (; p; p = next) {
      next = p->next;
      free (p->data);
      free (p);
    }
  }
  free (f->buckets);
  f->buckets = NULL;
  f->nbuckets = f->npages = 0;
  f->nzr = 0;
}

/* Read LEN bytes of the durable content at OFF (zeros past `valid'). */
static int
base_read (struct pfile *f, int fd, unsigned char *buf, size_t len,
           uint64_t off)
{
  size_t done = 0;

  while (done < len && off + done < f->valid) {
    size_t want = len - done;
    ssize_t r;
    if (off + done + want > f->valid)
      want = f->valid - (off + done);
    r = real.pread (fd, buf + done, want, off + done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0)
      break;
    done += r;
  }
  memset (buf + done, 0, len - done);
  return 0;
}

static unsigned char *
page_alloc (void)
{
  void *p;

  if (posix_memalign (&p, PAGE, PAGE) != 0)
    die ("out of memory");
  return p;
}

/* The page IDX with data, made from the durable content if new. */
static struct page *
page_for_write (struct pfile *f, int fd, uint64_t idx)
{
  struct page *p = find_page (f, idx);

  if (p == NULL) {
    if (f->npages >= f->nbuckets)
      rehash (f);
    if ((p = calloc (1, sizeof *p)) == NULL)
      die ("out of memory");
    p->idx = idx;
    p->data = page_alloc ();
    if (zr_contains (f, idx))
      memset (p->data, 0, PAGE);
    else if (base_read (f, fd, p->data, PAGE, idx * PAGE) == -1) {
      free (p->data);
      free (p);
      return NULL;
    }
    *slot (f, idx) = p;
    f->npages++;
  }
  return p;
}

/*----------------------------------------------------------------------
 * Overlay operations (lock held)
 */

static ssize_t
ov_pread (struct pfile *f, int fd, void *buf, size_t len, uint64_t off)
{
  unsigned char *b = buf;
  uint64_t end, pos, run;

  if (off >= f->size)
    return 0;
  if (len > f->size - off)
    len = f->size - off;
  end = off + len;
  /* [run, pos) is a stretch of durable content not yet read. */
  for (pos = off, run = off; pos < end; ) {
    uint64_t idx = pos / PAGE, pend = (idx + 1) * PAGE;
    struct page *p = find_page (f, idx);
    bool zero = p == NULL && zr_contains (f, idx);
    if (pend > end)
      pend = end;
    if (p != NULL || zero) {
      if (run < pos && base_read (f, fd, b + (run - off), pos - run, run))
        return -1;
      if (p != NULL)
        memcpy (b + (pos - off), p->data + pos % PAGE, pend - pos);
      else
        memset (b + (pos - off), 0, pend - pos);
      run = pend;
    }
    pos = pend;
  }
  if (run < end && base_read (f, fd, b + (run - off), end - run, run))
    return -1;
  return len;
}

static ssize_t
ov_pwrite (struct pfile *f, int fd, const void *buf, size_t len,
           uint64_t off)
{
  const unsigned char *b = buf;
  uint64_t pos, end = off + len;

  for (pos = off; pos < end; ) {
    uint64_t idx = pos / PAGE, pend = (idx + 1) * PAGE;
    struct page *p = page_for_write (f, fd, idx);
    if (p == NULL)
      return -1;
    if (pend > end)
      pend = end;
    memcpy (p->data + pos % PAGE, b + (pos - off), pend - pos);
    pos = pend;
  }
  if (end > f->size)
    f->size = end;
  return len;
}

/* Zero the partial page at [pos, pend) (pend within pos's page). */
static int
zero_part (struct pfile *f, int fd, uint64_t pos, uint64_t pend)
{
  struct page *p;

  if (pos == pend)
    return 0;
  if ((p = page_for_write (f, fd, pos / PAGE)) == NULL)
    return -1;
  memset (p->data + pos % PAGE, 0, pend - pos);
  return 0;
}

static int
ov_zero (struct pfile *f, int fd, uint64_t off, uint64_t len)
{
  uint64_t end = off + len;
  uint64_t first = (off + PAGE - 1) / PAGE, last = end / PAGE;

  if (first > last)             /* within one page */
    return zero_part (f, fd, off, end);
  if (zero_part (f, fd, off, first * PAGE) == -1
      || zero_part (f, fd, last * PAGE, end) == -1)
    return -1;
  if (first < last) {
    drop_range (f, first, last);
    zr_add (f, first, last);
  }
  return 0;
}

static int
ov_truncate (struct pfile *f, int fd, uint64_t len)
{
  uint64_t idx;

  if (len < f->size) {
    idx = (len + PAGE - 1) / PAGE;
    drop_range (f, idx, UINT64_MAX);
    zr_clip (f, idx);
    if (len % PAGE) {
      struct page *p = page_for_write (f, fd, len / PAGE);
      if (p == NULL)
        return -1;
      memset (p->data + len % PAGE, 0, PAGE - len % PAGE);
    }
    if (f->valid > len)
      f->valid = len;
  }
  f->size = len;
  return 0;
}

static int
cmp_idx (const void *a, const void *b)
{
  uint64_t x = (*(struct page *const *) a)->idx;
  uint64_t y = (*(struct page *const *) b)->idx;

  return x < y ? -1 : x > y;
}

/* The pages of F in order (caller frees the array). */
static struct page **
sorted_pages (struct pfile *f)
{
  struct page **v = malloc ((f->npages + 1) * sizeof *v);
  size_t i, n = 0;

  if (v == NULL)
    die ("out of memory");
  for (i = 0; i < f->nbuckets; i++)
    for (struct page *p = f->buckets[i]; p; p = p->next)
      v[n++] = p;
  qsort (v, n, sizeof *v, cmp_idx);
  return v;
}

static int
write_all (int fd, const unsigned char *buf, size_t len, uint64_t off)
{
  while (len > 0) {
    ssize_t r = real.pwrite (fd, buf, len, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    buf += r;
    len -= r;
    off += r;
  }
  return 0;
}

/* Write the overlay into the real file (not yet synced): bytes past
 * `valid' cut off, zero ranges punched, pages written in order, size
 * set. */
static int
ov_writeback (struct pfile *f, int fd)
{
  const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  struct stat st;
  struct page **v;
  size_t i;
  int r = 0;

  if (real.fstat (fd, &st) == -1)
    return -1;
  if ((uint64_t) st.st_size > f->valid) {
    if (real.ftruncate (fd, f->valid) == -1)
      return -1;
    st.st_size = f->valid;
  }
  for (i = 0; r == 0 && i < f->nzr; i++)
    if (f->zr[i].start * PAGE < (uint64_t) st.st_size)
      r = real.fallocate (fd, punch, f->zr[i].start * PAGE,
                          (f->zr[i].end - f->zr[i].start) * PAGE);
  v = sorted_pages (f);
  for (i = 0; r == 0 && i < f->npages; i++)
    r = write_all (fd, v[i]->data, PAGE, v[i]->idx * PAGE);
  free (v);
  if (r == 0)
    r = real.ftruncate (fd, f->size);
  return r;
}

static uint64_t
rng (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* POWERCUT_WRITEBACK=N: after one change in N (at random), write one
 * random dirty page or zero range of F to the real file, unsynced, as
 * the kernel's writeback may: a cut then keeps any subset of the
 * unsynced changes, not only none.  The overlay keeps it (still dirty:
 * the sync writes it again), so what the process reads is unchanged. */
static void
maybe_writeback (struct pfile *f, int fd)
{
  const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  size_t i;

  if (writeback == 0 || rng () % writeback != 0
      || f->npages + f->nzr == 0)
    return;
  if (rng () % (f->npages + f->nzr) < f->nzr) {
    struct zrange *z = &f->zr[rng () % f->nzr];
    real.fallocate (fd, punch, z->start * PAGE, (z->end - z->start) * PAGE);
    return;
  }
  for (i = rng () % f->nbuckets; f->buckets[i] == NULL;
       i = (i + 1) % f->nbuckets)
    ;
  write_all (fd, f->buckets[i]->data, PAGE, f->buckets[i]->idx * PAGE);
}

/* Sync F through FD with SYNCFN (the real fsync or fdatasync). */
static int
ov_sync (struct pfile *f, int fd, int (*syncfn) (int))
{
  if (ov_writeback (f, fd) == -1 || syncfn (fd) == -1)
    return -1;
  drop_pages (f);
  f->valid = f->size;
  return 0;
}

/*----------------------------------------------------------------------
 * Tracking
 */

static struct pfile *
find_file (dev_t dev, ino_t ino)
{
  struct pfile *f;

  for (f = files; f; f = f->next)
    if (f->dev == dev && f->ino == ino)
      return f;
  return NULL;
}

/* Take F out of the file list (its inode is gone or replaced). */
static void
detach (dev_t dev, ino_t ino)
{
  struct pfile **pp;

  for (pp = &files; *pp; pp = &(*pp)->next) {
    if ((*pp)->dev == dev && (*pp)->ino == ino) {
      *pp = (*pp)->next;        /* descriptors may still use it */
      return;
    }
  }
}

static bool
wanted (const char *path)
{
  size_t n = strlen (dir), len = strlen (path);
  const char *base = strrchr (path, '/') + 1;
  char *pats, *p, *save = NULL;
  bool ok = false;

  if (strncmp (path, dir, n) != 0 || path[n] != '/'
      || (len >= 4 && strcmp (path + len - 4, "-shm") == 0))
    return false;
  if ((pats = strdup (match)) == NULL)
    die ("out of memory");
  for (p = strtok_r (pats, ":", &save); p && !ok;
       p = strtok_r (NULL, ":", &save))
    ok = fnmatch (p, base, 0) == 0;
  free (pats);
  return ok;
}

/* After a successful open of FD with FLAGS: track it if wanted. */
static void
opened (int fd, int flags)
{
  char link[64], path[PATH_MAX];
  struct stat st;
  struct pfile *f;
  ssize_t n;

  if (dir == NULL)
    return;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  if ((n = readlink (link, path, sizeof path - 1)) <= 0)
    return;
  path[n] = '\0';
  if (!wanted (path) || real.fstat (fd, &st) == -1 || !S_ISREG (st.st_mode))
    return;
  if (fd >= MAX_FDS)
    die ("descriptor of a tracked file past the table");
  /* The overlay reads and writes at any offset and length. */
  if ((flags & O_DIRECT) && fcntl (fd, F_SETFL, flags & ~O_DIRECT) == -1)
    die ("cannot clear O_DIRECT");
  pthread_mutex_lock (&lock);
  f = find_file (st.st_dev, st.st_ino);
  if (f == NULL) {
    if ((f = calloc (1, sizeof *f)) == NULL || !(f->path = strdup (path)))
      die ("out of memory");
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = f->valid = st.st_size;
    f->next = files;
    files = f;
    fprintf (stderr, "powercut: tracking %s\n", path);
  }
  else if (flags & O_TRUNC)
    ov_truncate (f, fd, 0);
  sync_flags[fd] = flags & (O_SYNC | O_DSYNC | O_APPEND);
  atomic_store_explicit (&fds[fd], f, memory_order_relaxed);
  pthread_mutex_unlock (&lock);
}

/* The regular file PATH (at DIRFD) names, before an unlink or a rename
 * over it: its device and inode in ST, or false. */
static bool
file_at (int dirfd, const char *path, struct stat *st)
{
  return dir != NULL
    && real.fstatat (dirfd, path, st, AT_SYMLINK_NOFOLLOW) == 0
    && S_ISREG (st->st_mode);
}

/* After R == 0, the inode in ST lost its name: forget its overlay. */
static int
forget (int r, bool had_file, const struct stat *st)
{
  if (r == 0 && had_file) {
    pthread_mutex_lock (&lock);
    detach (st->st_dev, st->st_ino);
    pthread_mutex_unlock (&lock);
  }
  return r;
}

/*----------------------------------------------------------------------
 * Opening and closing
 */

static int
do_openat (int dirfd, const char *path, int flags, mode_t mode)
{
  int fd;

  ensure_init ();
  fd = real.openat (dirfd, path, flags, mode);
  if (fd >= 0)
    opened (fd, flags);
  return fd;
}

#define MODE_ARG(flags, mode) \
  do { if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) { \
         va_list a; \
         va_start (a, flags); mode = va_arg (a, mode_t); va_end (a); } \
  } while (0)

int
open (const char *path, int flags, ...)
{
  mode_t mode = 0;

  MODE_ARG (flags, mode);
  return do_openat (AT_FDCWD, path, flags, mode);
}

int
openat (int dirfd, const char *path, int flags, ...)
{
  mode_t mode = 0;

  MODE_ARG (flags, mode);
  return do_openat (dirfd, path, flags, mode);
}

int open64 (const char *, int, ...) __attribute__ ((alias ("open")));
int openat64 (int, const char *, int, ...) __attribute__ ((alias ("openat")));

int
__open_2 (const char *path, int flags)
{
  return do_openat (AT_FDCWD, path, flags, 0);
}

int
__openat_2 (int dirfd, const char *path, int flags)
{
  return do_openat (dirfd, path, flags, 0);
}

int __open64_2 (const char *, int) __attribute__ ((alias ("__open_2")));
int __openat64_2 (int, const char *, int)
  __attribute__ ((alias ("__openat_2")));

int
creat (const char *path, mode_t mode)
{
  return do_openat (AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64 (const char *, mode_t) __attribute__ ((alias ("creat")));

int
close (int fd)
{
  ensure_init ();
  if (tracked (fd))
    atomic_store_explicit (&fds[fd], NULL, memory_order_relaxed);
  return real.close (fd);
}

void *
mmap (void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
  ensure_init ();
  if (tracked (fd))
    die ("mmap of a tracked file would bypass the overlay");
  return real.mmap (addr, len, prot, flags, fd, off);
}

void *mmap64 (void *, size_t, int, int, int, off_t)
  __attribute__ ((alias ("mmap")));

/*----------------------------------------------------------------------
 * Data
 */

static int sync_locked (struct pfile *f, int fd, int (*syncfn) (int));

ssize_t
pread (int fd, void *buf, size_t len, off_t off)
{
  struct pfile *f;
  ssize_t r;

  ensure_init ();
  if ((f = tracked (fd)) == NULL)
    return real.pread (fd, buf, len, off);
  if (off < 0) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock (&lock);
  r = ov_pread (f, fd, buf, len, off);
  pthread_mutex_unlock (&lock);
  return r;
}

/* A write at OFF (-1: at the file position, or the end with O_APPEND). */
static ssize_t
tracked_write (struct pfile *f, int fd, const void *buf, size_t len,
               off_t off)
{
  bool at_pos = off == -1;
  ssize_t r;

  pthread_mutex_lock (&lock);
  if (at_pos)
    off = sync_flags[fd] & O_APPEND ? (off_t) f->size
      : real.lseek (fd, 0, SEEK_CUR);
  r = off < 0 ? -1 : ov_pwrite (f, fd, buf, len, off);
  if (r >= 0)
    maybe_writeback (f, fd);
  if (r >= 0 && at_pos)
    real.lseek (fd, off + r, SEEK_SET);
  if (r >= 0 && (sync_flags[fd] & (O_SYNC | O_DSYNC))
      && sync_locked (f, fd, real.fdatasync) == -1)
    r = -1;
  pthread_mutex_unlock (&lock);
  return r;
}

ssize_t
pwrite (int fd, const void *buf, size_t len, off_t off)
{
  struct pfile *f;

  ensure_init ();
  if ((f = tracked (fd)) == NULL)
    return real.pwrite (fd, buf, len, off);
  if (off < 0) {
    errno = EINVAL;
    return -1;
  }
  return tracked_write (f, fd, buf, len, off);
}

ssize_t pread64 (int, void *, size_t, off_t) __attribute__ ((alias ("pread")));
ssize_t pwrite64 (int, const void *, size_t, off_t)
  __attribute__ ((alias ("pwrite")));

ssize_t
read (int fd, void *buf, size_t len)
{
  struct pfile *f;
  ssize_t r;
  off_t pos;

  ensure_init ();
  if ((f = tracked (fd)) == NULL)
    return real.read (fd, buf, len);
  pthread_mutex_lock (&lock);
  pos = real.lseek (fd, 0, SEEK_CUR);
  r = pos < 0 ? -1 : ov_pread (f, fd, buf, len, pos);
  if (r > 0)
    real.lseek (fd, pos + r, SEEK_SET);
  pthread_mutex_unlock (&lock);
  return r;
}

ssize_t
write (int fd, const void *buf, size_t len)
{
  struct pfile *f;

  ensure_init ();
  if ((f = tracked (fd)) == NULL)
    return real.write (fd, buf, len);
  return tracked_write (f, fd, buf, len, -1);
}

/* preadv/pwritev: one iovec at a time, each through the overlay. */
static ssize_t
vec_io (int fd, const struct iovec *iov, int n, off_t off, bool wr,
        bool sync_after)
{
  ssize_t total = 0, r = 0;
  int i;

  for (i = 0; i < n; i++) {
    if (wr)
      r = off == -1 ? write (fd, iov[i].iov_base, iov[i].iov_len)
        : pwrite (fd, iov[i].iov_base, iov[i].iov_len, off + total);
    else
      r = off == -1 ? read (fd, iov[i].iov_base, iov[i].iov_len)
        : pread (fd, iov[i].iov_base, iov[i].iov_len, off + total);
    if (r < 0)
      return total > 0 ? total : -1;
    total += r;
    if ((size_t) r < iov[i].iov_len)
      break;
  }
  if (wr && sync_after && fdatasync (fd) == -1)
    return -1;
  return total;
}

#define VEC_WRAPPERS(name, wr) \
  ssize_t name (int fd, const struct iovec *iov, int n, off_t off) \
  { \
    static ssize_t (*fn) (int, const struct iovec *, int, off_t); \
    ensure_init (); \
    if (tracked (fd)) \
      return vec_io (fd, iov, n, off, wr, false); \
    if (fn == NULL && (fn = dlsym (RTLD_NEXT, #name)) == NULL) \
      die ("dlsym " #name); \
    return fn (fd, iov, n, off); \
  } \
  ssize_t name##2 (int fd, const struct iovec *iov, int n, off_t off, \
                   int flags) \
  { \
    static ssize_t (*fn) (int, const struct iovec *, int, off_t, int); \
    ensure_init (); \
    if (tracked (fd)) \
      return vec_io (fd, iov, n, off, wr, \
                     (flags & (RWF_SYNC | RWF_DSYNC)) != 0); \
    if (fn == NULL && (fn = dlsym (RTLD_NEXT, #name "2")) == NULL) \
      die ("dlsym " #name "2"); \
    return fn (fd, iov, n, off, flags); \
  }

VEC_WRAPPERS (preadv, false)
VEC_WRAPPERS (pwritev, true)
VEC_WRAPPERS (preadv64, false)
VEC_WRAPPERS (pwritev64, true)

off_t
lseek (int fd, off_t off, int whence)
{
  struct pfile *f;
  off_t r;

  ensure_init ();
  if ((f = tracked (fd)) == NULL || whence != SEEK_END)
    return real.lseek (fd, off, whence);
  pthread_mutex_lock (&lock);
  r = real.lseek (fd, (off_t) f->size + off, SEEK_SET);
  pthread_mutex_unlock (&lock);
  return r;
}

off_t lseek64 (int, off_t, int) __attribute__ ((alias ("lseek")));

int
ftruncate (int fd, off_t len)
{
  struct pfile *f;
  int r;

  ensure_init ();
  if ((f = tracked (fd)) == NULL)
    return real.ftruncate (fd, len);
  if (len < 0) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock (&lock);
  r = ov_truncate (f, fd, len);
  pthread_mutex_unlock (&lock);
  return r;
}

int ftruncate64 (int, off_t) __attribute__ ((alias ("ftruncate")));

int
fallocate (int fd, int mode, off_t off, off_t len)
{
  const int zeroing = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  struct pfile *f;
  int r = 0;

  ensure_init ();
  if ((f = tracked (fd)) == NULL)
    return real.fallocate (fd, mode, off, len);
  if (off < 0 || len <= 0
      || (mode & ~(zeroing | FALLOC_FL_KEEP_SIZE)) != 0
      || ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))) {
    errno = off < 0 || len <= 0 ? EINVAL : EOPNOTSUPP;
    return -1;
  }
  pthread_mutex_lock (&lock);
  if (mode & zeroing) {
    uint64_t end = (uint64_t) off + len;
    if ((mode & FALLOC_FL_KEEP_SIZE) && end > f->size)
      end = f->size > (uint64_t) off ? f->size : (uint64_t) off;
    r = ov_zero (f, fd, off, end - off);
    if (r == 0)
      maybe_writeback (f, fd);
  }
  if (r == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && (uint64_t) (off + len) > f->size)
    f->size = off + len;
  pthread_mutex_unlock (&lock);
  return r;
}

int fallocate64 (int, int, off_t, off_t) __attribute__ ((alias ("fallocate")));

/*----------------------------------------------------------------------
 * Syncs
 */

static int
sync_locked (struct pfile *f, int fd, int (*syncfn) (int))
{
  int r;

  while ((r = ov_sync (f, fd, syncfn)) == -1 && errno == EINTR)
    ;
  return r;
}

static int
tracked_sync (int fd, int (*syncfn) (int))
{
  struct pfile *f = tracked (fd);
  int r;

  if (f == NULL)
    return syncfn (fd);
  pthread_mutex_lock (&lock);
  r = sync_locked (f, fd, syncfn);
  pthread_mutex_unlock (&lock);
  return r;
}

int
fsync (int fd)
{
  ensure_init ();
  return tracked_sync (fd, real.fsync);
}

int
fdatasync (int fd)
{
  ensure_init ();
  return tracked_sync (fd, real.fdatasync);
}

int
sync_file_range (int fd, off_t off, off_t len, unsigned flags)
{
  static int (*fn) (int, off_t, off_t, unsigned);

  ensure_init ();
  if (tracked (fd))
    return 0;                   /* writeback without a cache flush */
  if (fn == NULL && (fn = dlsym (RTLD_NEXT, "sync_file_range")) == NULL)
    die ("dlsym sync_file_range");
  return fn (fd, off, len, flags);
}

/* Sync every tracked file that has an open descriptor. */
static int
sync_all (void)
{
  int fd, r = 0;

  for (fd = 0; fd < MAX_FDS; fd++)
    if (tracked (fd) && tracked_sync (fd, real.fsync) == -1)
      r = -1;
  return r;
}

void
sync (void)
{
  ensure_init ();
  sync_all ();
  real.sync ();
}

int
syncfs (int fd)
{
  ensure_init ();
  return sync_all () == -1 ? -1 : real.syncfs (fd);
}

/*----------------------------------------------------------------------
 * Sizes and names
 */

/* If ST is a tracked file's, show the overlay's size. */
static void
patch_size (dev_t dev, ino_t ino, uint64_t *size)
{
  struct pfile *f;

  if (dir == NULL)
    return;
  pthread_mutex_lock (&lock);
  if ((f = find_file (dev, ino)) != NULL)
    *size = f->size;
  pthread_mutex_unlock (&lock);
}

static int
patched (int r, struct stat *st)
{
  uint64_t size;

  if (r == 0 && S_ISREG (st->st_mode)) {
    size = st->st_size;
    patch_size (st->st_dev, st->st_ino, &size);
    st->st_size = size;
  }
  return r;
}

int
fstat (int fd, struct stat *st)
{
  struct pfile *f;
  int r;

  ensure_init ();
  r = real.fstat (fd, st);
  if (r == 0 && (f = tracked (fd)) != NULL) {
    pthread_mutex_lock (&lock);
    st->st_size = f->size;
    pthread_mutex_unlock (&lock);
    return r;
  }
  return patched (r, st);
}

int
stat (const char *path, struct stat *st)
{
  ensure_init ();
  return patched (real.stat (path, st), st);
}

int
lstat (const char *path, struct stat *st)
{
  ensure_init ();
  return patched (real.lstat (path, st), st);
}

int
fstatat (int dirfd, const char *path, struct stat *st, int flags)
{
  ensure_init ();
  if (*path == '\0' && (flags & AT_EMPTY_PATH))
    return fstat (dirfd, st);
  return patched (real.fstatat (dirfd, path, st, flags), st);
}

/* (struct stat64 is struct stat on the 64-bit targets this runs on.) */
int fstat64 (int fd, struct stat64 *st)
{ return fstat (fd, (struct stat *) st); }
int stat64 (const char *path, struct stat64 *st)
{ return stat (path, (struct stat *) st); }
int lstat64 (const char *path, struct stat64 *st)
{ return lstat (path, (struct stat *) st); }
int fstatat64 (int dirfd, const char *path, struct stat64 *st, int flags)
{ return fstatat (dirfd, path, (struct stat *) st, flags); }

int
statx (int dirfd, const char *path, int flags, unsigned mask,
       struct statx *stx)
{
  int r;

  ensure_init ();
  r = real.statx (dirfd, path, flags, mask, stx);
  if (r == 0 && S_ISREG (stx->stx_mode)) {
    uint64_t size = stx->stx_size;
    patch_size (makedev (stx->stx_dev_major, stx->stx_dev_minor),
                stx->stx_ino, &size);
    stx->stx_size = size;
  }
  return r;
}

int
unlink (const char *path)
{
  struct stat st;
  bool had;

  ensure_init ();
  had = file_at (AT_FDCWD, path, &st);
  return forget (real.unlink (path), had, &st);
}

int
unlinkat (int dirfd, const char *path, int flags)
{
  struct stat st;
  bool had;

  ensure_init ();
  had = !(flags & AT_REMOVEDIR) && file_at (dirfd, path, &st);
  return forget (real.unlinkat (dirfd, path, flags), had, &st);
}

int
rename (const char *from, const char *to)
{
  struct stat st;
  bool had;

  ensure_init ();
  had = file_at (AT_FDCWD, to, &st);
  return forget (real.rename (from, to), had, &st);
}

int
renameat (int fromfd, const char *from, int tofd, const char *to)
{
  struct stat st;
  bool had;

  ensure_init ();
  had = file_at (tofd, to, &st);
  return forget (real.renameat (fromfd, from, tofd, to), had, &st);
}

/* (RENAME_EXCHANGE keeps both inodes named: nothing to forget.) */
int
renameat2 (int fromfd, const char *from, int tofd, const char *to,
           unsigned flags)
{
  struct stat st;
  bool had;

  ensure_init ();
  had = !(flags & RENAME_EXCHANGE) && file_at (tofd, to, &st);
  return forget (real.renameat2 (fromfd, from, tofd, to, flags), had, &st);
}
