/* segmap: fault injection into container I/O, for tests.
 *
 * Configured once from the environment variable SEGMAP_INJECT:
 *
 *   SEGMAP_INJECT = RULE [ "," RULE ]...          (at most 16 rules)
 *   RULE          = OP ":" ERRNO [ ":after=" N ] [ ":count=" M ]
 *   OP            = "pread" | "pwrite" | "zero" | "sync"
 *   ERRNO         = "EIO" | "ENOSPC" | "EROFS"
 *
 * Each rule counts the calls of its operation (every container, every
 * thread).  The first N calls pass (after=, default 0); the next M fail
 * with ERRNO (count=, M >= 1, default: every call from then on).  When
 * several rules fire on the same call, the first one listed wins; every
 * matching rule counts every call.  No spaces; an empty or unset
 * variable injects nothing.
 *
 *   SEGMAP_INJECT=sync:EIO:after=3:count=1     the 4th sync fails, once
 *   SEGMAP_INJECT=pwrite:ENOSPC:after=100      writes fail from the 101st
 *
 * When nothing is configured, inject_check costs one relaxed atomic
 * load.
 */
#ifndef SEGMAP_INJECT_H
#define SEGMAP_INJECT_H

enum inject_op {
  INJECT_PREAD,
  INJECT_PWRITE,
  INJECT_ZERO,
  INJECT_SYNC,
};

#define INJECT_MAX_RULES 16

/* "pread", "pwrite", "zero", "sync". */
const char *inject_op_to_string (enum inject_op op);

/* Read SEGMAP_INJECT, the first time only (later calls return 0, or -1
 * again if the first parse failed).  0, or -1 + sm_error on a parse
 * error.  Thread-safe; container_open calls it. */
int inject_init (void);

/* Replace the rules by those of SPEC (NULL or "" for none), as if it
 * were SEGMAP_INJECT; counters restart.  For tests: call it with no
 * container I/O in flight.  0, or -1 + sm_error (rules unchanged). */
int inject_configure (const char *spec);

/* 0 if the call OP may proceed, else the errno it must fail with.
 * Thread-safe. */
int inject_check (enum inject_op op);

#endif /* SEGMAP_INJECT_H */
