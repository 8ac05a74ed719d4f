/* segmap: movements the controller delegated to the agent (see held.h). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/held.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/limits.h"

/* A segment's writes are reported after this many, or with the first
 * write this long after its last report: a vdisk written without
 * flushes loses no more on a crash than about a commit interval's
 * worth, as with writes the controller records itself. */
#define REPORT_EVERY 64
#define REPORT_AFTER_MS 1000

void
held_map_init (struct held_map *hm)
{
  memset (hm, 0, sizeof *hm);
  pthread_mutex_init (&hm->lock, NULL);
}

static void
held_free (struct held *h)
{
  pthread_rwlock_destroy (&h->io);
  pthread_mutex_destroy (&h->bits_lock);
  free (h->at_alt);
  free (h->unreported);
  free (h);
}

void
held_map_destroy (struct held_map *hm)
{
  for (size_t i = 0; i < hm->len; i++)
    held_free (hm->v[i]);
  free (hm->v);
  pthread_mutex_destroy (&hm->lock);
}

/* Index of the first held movement at or after SEG (map lock held). */
static size_t
lower_bound (const struct held_map *hm, uint64_t seg)
{
  size_t lo = 0, hi = hm->len;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (hm->v[mid]->seg < seg)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static struct held *
held_new (uint64_t seg, sm_entry orig, sm_entry alt, const uint8_t *at_alt,
          uint32_t n_at_alt, uint32_t n_bytes)
{
  struct held *h = calloc (1, sizeof *h);

  if (h == NULL)
    return NULL;
  h->at_alt = calloc (n_bytes, 1);
  h->unreported = calloc (n_bytes, 1);
  if (h->at_alt == NULL || h->unreported == NULL) {
    free (h->at_alt);
    free (h->unreported);
    free (h);
    return NULL;
  }
  h->seg = seg;
  h->orig = orig;
  h->alt = alt;
  h->n_bytes = n_bytes;
  h->reported_ms = sm_now_ms ();
  if (n_at_alt > 0)
    memcpy (h->at_alt, at_alt, n_at_alt < n_bytes ? n_at_alt : n_bytes);
  pthread_rwlock_init (&h->io, NULL);
  pthread_mutex_init (&h->bits_lock, NULL);
  return h;
}

int
held_install (struct held_map *hm, uint64_t seg, sm_entry orig, sm_entry alt,
              const uint8_t *at_alt, uint32_t n_at_alt, uint32_t n_bytes)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&hm->lock);
  size_t i = lower_bound (hm, seg);
  struct held *h;

  if (i < hm->len && hm->v[i]->seg == seg) {
    errno = EEXIST;
    return -1;
  }
  if (hm->len == hm->cap) {
    size_t cap = hm->cap ? hm->cap * 2 : 16;
    struct held **v = realloc (hm->v, cap * sizeof *v);
    if (v == NULL) {
      errno = ENOMEM;
      return -1;
    }
    hm->v = v;
    hm->cap = cap;
  }
  h = held_new (seg, orig, alt, at_alt, n_at_alt, n_bytes);
  if (h == NULL) {
    errno = ENOMEM;
    return -1;
  }
  memmove (&hm->v[i + 1], &hm->v[i], (hm->len - i) * sizeof hm->v[0]);
  hm->v[i] = h;
  hm->len++;
  return 0;
}

struct held *
held_get (struct held_map *hm, uint64_t seg)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&hm->lock);
  size_t i = lower_bound (hm, seg);

  if (i == hm->len || hm->v[i]->seg != seg)
    return NULL;
  hm->v[i]->users++;
  return hm->v[i];
}

void
held_put (struct held_map *hm, struct held *h)
{
  bool last;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&hm->lock);
    last = --h->users == 0 && h->dropped;
  }
  if (last)
    held_free (h);
}

int
held_begin (struct held *h, bool exclusive)
{
  bool dropped;

  if (exclusive)
    pthread_rwlock_wrlock (&h->io);
  else
    pthread_rwlock_rdlock (&h->io);
  /* Set by a drop holding the io lock for writing: stable now. */
  dropped = __atomic_load_n (&h->dropped, __ATOMIC_ACQUIRE);
  if (dropped)
    pthread_rwlock_unlock (&h->io);
  return dropped ? -1 : 0;
}

void
held_end (struct held *h)
{
  pthread_rwlock_unlock (&h->io);
}

/* Send H's unreported blocks, if any (bits lock held).  0 or -1. */
static int
report_locked (struct held *h, held_report_fn report, void *opaque)
{
  bool any = false;
  int r;

  for (uint32_t i = 0; i < h->n_bytes && !any; i++)
    any = h->unreported[i] != 0;
  h->writes_unreported = 0;
  h->reported_ms = sm_now_ms ();
  if (!any)
    return 0;
  r = report (opaque, h->seg, h->unreported, h->n_bytes);
  memset (h->unreported, 0, h->n_bytes);
  return r;
}

int
held_wrote (struct held *h, uint64_t off, uint32_t len,
            held_report_fn report, void *opaque)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&h->bits_lock);
  uint64_t last = (off + len - 1) / SM_BLOCK_SIZE;

  for (uint64_t b = off / SM_BLOCK_SIZE; b <= last && b / 8 < h->n_bytes;
       b++) {
    uint8_t bit = 1u << (b % 8);
    __atomic_fetch_or (&h->at_alt[b / 8], bit, __ATOMIC_RELEASE);
    h->unreported[b / 8] |= bit;
  }
  if (++h->writes_unreported < REPORT_EVERY
      && sm_now_ms () - h->reported_ms < REPORT_AFTER_MS)
    return 0;
  return report_locked (h, report, opaque);
}

/* The held movements of [FIRST, FIRST+COUNT), each with a use counted,
 * taken out of the map if TAKE; *N of them.  NULL if none (or ENOMEM:
 * *N is then 1 and nothing was taken). */
static struct held **
collect (struct held_map *hm, uint64_t first, uint64_t count, bool take,
         size_t *n)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&hm->lock);
  size_t i = lower_bound (hm, first), j = i;
  struct held **out;

  while (j < hm->len && hm->v[j]->seg - first < count)
    j++;
  *n = j - i;
  if (*n == 0)
    return NULL;
  out = malloc (*n * sizeof *out);
  if (out == NULL) {
    *n = 1;
    return NULL;
  }
  for (size_t k = i; k < j; k++) {
    out[k - i] = hm->v[k];
    hm->v[k]->users++;
  }
  if (take) {
    memmove (&hm->v[i], &hm->v[j], (hm->len - j) * sizeof hm->v[0]);
    hm->len -= j - i;
  }
  return out;
}

int
held_report_all (struct held_map *hm, held_report_fn report, void *opaque)
{
  size_t n;
  CLEANUP_FREE struct held **all = collect (hm, 0, UINT64_MAX, false, &n);
  int r = 0;

  if (all == NULL && n > 0) {
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    {
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&all[i]->bits_lock);
      if (report_locked (all[i], report, opaque) == -1)
        r = -1;
    }
    held_put (hm, all[i]);
  }
  return r;
}

int
held_drop (struct held_map *hm, uint64_t first, uint64_t count,
           held_report_fn report, void *opaque)
{
  size_t n;
  CLEANUP_FREE struct held **gone = collect (hm, first, count, true, &n);
  int r = 0;

  if (gone == NULL && n > 0) {
    errno = ENOMEM;             /* nothing dropped: the caller fails */
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    struct held *h = gone[i];
    pthread_rwlock_wrlock (&h->io);     /* its I/O is over */
    {
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&h->bits_lock);
      if (report_locked (h, report, opaque) == -1)
        r = -1;
    }
    {
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&hm->lock);
      __atomic_store_n (&h->dropped, true, __ATOMIC_RELEASE);
    }
    pthread_rwlock_unlock (&h->io);
    held_put (hm, h);           /* the last use frees it */
  }
  return r;
}

size_t
held_count (struct held_map *hm)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&hm->lock);
  return hm->len;
}
