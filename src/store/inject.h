/* segmap: fault injection into container I/O and the controller's
 * commits, for tests.
 *
 * Configured once from the environment variable SEGMAP_INJECT:
 *
 *   SEGMAP_INJECT = RULE [ "," RULE ]...          (at most 16 rules)
 *   RULE          = OP ":" ERRNO [ ":after=" N ] [ ":count=" M ]
 *   OP            = "pread" | "pwrite" | "zero" | "sync" | "commit"
 *   ERRNO         = "EIO" | "ENOSPC" | "EROFS" | "SKIP"
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
 *   SEGMAP_INJECT=commit:EIO:after=9:count=1   the 10th commit of the
 *                                              controller's store fails
 *   SEGMAP_INJECT=sync:SKIP                    container syncs do nothing
 *                                              and report success
 *
 * "commit" counts store_commit, the controller's COMMIT of its open
 * transaction (an injected failure rolls the transaction back).  "SKIP"
 * is for "sync" only: the sync is not done and reports success -- a
 * deliberately broken durability promise, with which the power-loss test
 * (tests/test-powercut.sh) proves that it detects lost flushed writes.
 *
 * Counting: when the environment variable SEGMAP_INJECT_COUNTS names a
 * file, every call of every operation is counted (rules or not), and the
 * file is rewritten after each call with one line per operation,
 * "OP COUNT" (the fault count-up test, tests/test-countup.sh, learns from
 * it how many calls its workload makes).
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
  INJECT_COMMIT,
};

/* inject_check's answer for a SKIP rule: report success, do nothing. */
#define INJECT_SKIP (-1)

#define INJECT_MAX_RULES 16

/* "pread", "pwrite", "zero", "sync", "commit". */
const char *inject_op_to_string (enum inject_op op);

/* Read SEGMAP_INJECT and SEGMAP_INJECT_COUNTS, the first time only
 * (later calls return 0, or -1 again if the first parse failed).  0, or
 * -1 + sm_error on a parse error.  Thread-safe; container_open and
 * store_open call it. */
int inject_init (void);

/* Replace the rules by those of SPEC (NULL or "" for none), as if it
 * were SEGMAP_INJECT; counters restart.  For tests: call it with no
 * container I/O in flight.  0, or -1 + sm_error (rules unchanged). */
int inject_configure (const char *spec);

/* Count every call into the file PATH from now on (NULL: stop), as
 * SEGMAP_INJECT_COUNTS does; counters restart.  For tests.  0, or -1 +
 * sm_error if PATH cannot be opened. */
int inject_count_to (const char *path);

/* 0 if the call OP may proceed, else the errno it must fail with, or
 * INJECT_SKIP (only for INJECT_SYNC) if it must report success without
 * doing anything.  Thread-safe. */
int inject_check (enum inject_op op);

#endif /* SEGMAP_INJECT_H */
