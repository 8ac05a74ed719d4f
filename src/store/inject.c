/* segmap: fault injection into container I/O and commits (grammar in
 * inject.h).
 *
 * The rules live in a static table written only while `active' is
 * false, under init_lock; `active' is then stored with release order.
 * inject_check loads `active' relaxed (the whole cost when nothing is
 * configured) and, when it is set, issues an acquire fence before
 * reading the table, so it sees the rules completely written.  Each
 * rule's call counter is an atomic, bumped once per matching call.
 *
 * Counting (SEGMAP_INJECT_COUNTS) also sets `active'; its per-operation
 * totals and the file they are written to are protected by count_lock,
 * so the file always holds the latest totals.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "store/inject.h"

struct rule {
  enum inject_op op;
  int err;                      /* errno to inject */
  uint64_t after;               /* calls that pass first */
  uint64_t count;               /* calls that then fail; UINT64_MAX: all */
  _Atomic uint64_t calls;       /* calls of op seen so far */
};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool initialised;                /* protected by init_lock */
static struct rule rules[INJECT_MAX_RULES]; /* written under init_lock */
static unsigned n_rules;                /* written under init_lock */
static _Atomic bool active;

static const char *const op_names[] = {
  [INJECT_PREAD] = "pread", [INJECT_PWRITE] = "pwrite",
  [INJECT_ZERO] = "zero", [INJECT_SYNC] = "sync", [INJECT_COMMIT] = "commit",
};
#define N_OPS ARRAY_SIZE (op_names)

static const struct { const char *name; int err; } errno_names[] = {
  { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
  { "SKIP", INJECT_SKIP },
};

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int count_fd = -1;       /* written under init_lock and count_lock */
static uint64_t counts[N_OPS];  /* protected by count_lock */

const char *
inject_op_to_string (enum inject_op op)
{
  if ((unsigned) op < ARRAY_SIZE (op_names))
    return op_names[op];
  return "unknown";
}

static int
parse_op (const char *s, enum inject_op *op)
{
  size_t i;

  for (i = 0; i < ARRAY_SIZE (op_names); i++) {
    if (strcmp (s, op_names[i]) == 0) {
      *op = i;
      return 0;
    }
  }
  sm_error ("SEGMAP_INJECT: unknown operation '%s' (expected pread, "
            "pwrite, zero, sync or commit)", s);
  return -1;
}

static int
parse_errno (const char *s, int *err)
{
  size_t i;

  for (i = 0; i < ARRAY_SIZE (errno_names); i++) {
    if (strcmp (s, errno_names[i].name) == 0) {
      *err = errno_names[i].err;
      return 0;
    }
  }
  sm_error ("SEGMAP_INJECT: unknown errno '%s' (expected EIO, ENOSPC, "
            "EROFS or SKIP)", s);
  return -1;
}

/* Parse a decimal number with nothing else around it. */
static int
parse_number (const char *s, uint64_t *n)
{
  char *end;

  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  *n = strtoull (s, &end, 10);
  return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Parse one "after=N" or "count=M" option into R. */
static int
parse_option (const char *s, struct rule *r)
{
  uint64_t n;

  if (strncmp (s, "after=", 6) == 0 && parse_number (s + 6, &n) == 0) {
    r->after = n;
    return 0;
  }
  if (strncmp (s, "count=", 6) == 0 && parse_number (s + 6, &n) == 0
      && n > 0) {
    r->count = n;
    return 0;
  }
  sm_error ("SEGMAP_INJECT: bad option '%s' (expected after=N or "
            "count=M with M >= 1)", s);
  return -1;
}

/* Parse one rule, TEXT being modifiable. */
static int
parse_rule (char *text, struct rule *r)
{
  char *op = strsep (&text, ":"), *err = strsep (&text, ":"), *opt;

  r->after = 0;
  r->count = UINT64_MAX;
  if (err == NULL) {
    sm_error ("SEGMAP_INJECT: rule '%s' is not OP:ERRNO[:after=N]"
              "[:count=M]", op);
    return -1;
  }
  if (parse_op (op, &r->op) == -1 || parse_errno (err, &r->err) == -1)
    return -1;
  if (r->err == INJECT_SKIP && r->op != INJECT_SYNC) {
    sm_error ("SEGMAP_INJECT: SKIP is for sync only, not %s", op);
    return -1;
  }
  while ((opt = strsep (&text, ":")) != NULL) {
    if (parse_option (opt, r) == -1)
      return -1;
  }
  return 0;
}

/* Parse SPEC into OUT; returns the number of rules or -1. */
static int
parse_spec (const char *spec, struct rule *out)
{
  CLEANUP_FREE char *copy = strdup (spec);
  char *p = copy, *text;
  int n = 0;

  if (copy == NULL) {
    sm_error ("SEGMAP_INJECT: strdup: %m");
    return -1;
  }
  while ((text = strsep (&p, ",")) != NULL) {
    if (n == INJECT_MAX_RULES) {
      sm_error ("SEGMAP_INJECT: more than %d rules", INJECT_MAX_RULES);
      return -1;
    }
    if (parse_rule (text, &out[n]) == -1)
      return -1;
    n++;
  }
  return n;
}

/* Install SPEC; init_lock is held. */
static int
configure_locked (const char *spec)
{
  struct rule parsed[INJECT_MAX_RULES];
  int n = 0, i;

  if (spec != NULL && *spec != '\0' && (n = parse_spec (spec, parsed)) == -1)
    return -1;
  atomic_store_explicit (&active, false, memory_order_release);
  for (i = 0; i < n; i++) {
    rules[i].op = parsed[i].op;
    rules[i].err = parsed[i].err;
    rules[i].after = parsed[i].after;
    rules[i].count = parsed[i].count;
    atomic_store_explicit (&rules[i].calls, 0, memory_order_relaxed);
  }
  n_rules = n;
  initialised = true;
  if (n > 0)
    sm_debug ("fault injection: %d rule(s) from '%s'", n, spec);
  if (n > 0 || count_fd != -1)
    atomic_store_explicit (&active, true, memory_order_release);
  return 0;
}

/* Start counting into PATH (NULL: stop); init_lock is held. */
static int
count_to_locked (const char *path)
{
  int fd = -1;

  if (path != NULL
      && (fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                     0644)) == -1) {
    sm_error ("SEGMAP_INJECT_COUNTS: %s: %m", path);
    return -1;
  }
  atomic_store_explicit (&active, false, memory_order_release);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&count_lock);
    if (count_fd != -1)
      close (count_fd);
    count_fd = fd;
    memset (counts, 0, sizeof counts);
  }
  if (n_rules > 0 || fd != -1)
    atomic_store_explicit (&active, true, memory_order_release);
  return 0;
}

int
inject_init (void)
{
  const char *counts_path = getenv ("SEGMAP_INJECT_COUNTS");
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&init_lock);

  if (initialised)
    return 0;
  if (counts_path != NULL && *counts_path != '\0'
      && count_to_locked (counts_path) == -1)
    return -1;
  return configure_locked (getenv ("SEGMAP_INJECT"));
}

int
inject_count_to (const char *path)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&init_lock);

  return count_to_locked (path);
}

/* Count a call of OP and rewrite the counts file (count_fd is set). */
static void
count_call (enum inject_op op)
{
  char text[N_OPS * 32];
  size_t len = 0, i;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&count_lock);

  if (count_fd == -1)
    return;
  counts[op]++;
  for (i = 0; i < N_OPS; i++)
    len += snprintf (text + len, sizeof text - len, "%-6s %20" PRIu64 "\n",
                     op_names[i], counts[i]);
  if (pwrite (count_fd, text, len, 0) != (ssize_t) len)
    sm_error ("SEGMAP_INJECT_COUNTS: write: %m");
}

int
inject_configure (const char *spec)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&init_lock);

  return configure_locked (spec);
}

/* Does rule R fire on this call? */
static bool
rule_fires (struct rule *r)
{
  uint64_t n = atomic_fetch_add_explicit (&r->calls, 1,
                                          memory_order_relaxed);

  return n >= r->after && n - r->after < r->count;
}

int
inject_check (enum inject_op op)
{
  unsigned i;
  int err = 0;

  if (!atomic_load_explicit (&active, memory_order_relaxed))
    return 0;
  atomic_thread_fence (memory_order_acquire);
  if (count_fd != -1)
    count_call (op);
  for (i = 0; i < n_rules; i++) {
    if (rules[i].op == op && rule_fires (&rules[i]) && err == 0)
      err = rules[i].err;
  }
  if (err == INJECT_SKIP)
    sm_debug ("fault injection: %s skipped", inject_op_to_string (op));
  else if (err != 0)
    sm_debug ("fault injection: %s fails with errno %d",
              inject_op_to_string (op), err);
  return err;
}
