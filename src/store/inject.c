/* segmap: fault injection into container I/O (grammar in inject.h).
 *
 * The rules live in a static table written only while `active' is
 * false, under init_lock; `active' is then stored with release order.
 * inject_check loads `active' relaxed (the whole cost when nothing is
 * configured) and, when it is set, issues an acquire fence before
 * reading the table, so it sees the rules completely written.  Each
 * rule's call counter is an atomic, bumped once per matching call.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
  [INJECT_ZERO] = "zero", [INJECT_SYNC] = "sync",
};

static const struct { const char *name; int err; } errno_names[] = {
  { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
};

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
            "pwrite, zero or sync)", s);
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
  sm_error ("SEGMAP_INJECT: unknown errno '%s' (expected EIO, ENOSPC or "
            "EROFS)", s);
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
  if (n > 0) {
    sm_debug ("fault injection: %d rule(s) from '%s'", n, spec);
    atomic_store_explicit (&active, true, memory_order_release);
  }
  return 0;
}

int
inject_init (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&init_lock);

  if (initialised)
    return 0;
  return configure_locked (getenv ("SEGMAP_INJECT"));
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
  for (i = 0; i < n_rules; i++) {
    if (rules[i].op == op && rule_fires (&rules[i]) && err == 0)
      err = rules[i].err;
  }
  if (err != 0)
    sm_debug ("fault injection: %s fails with errno %d",
              inject_op_to_string (op), err);
  return err;
}
