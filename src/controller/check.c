/* segmap: the consistency checker behind `segmapctl check`.
 *
 * Runs on the controller thread, so it sees one consistent state: the
 * store (including the open transaction) and the allocators.  It checks
 *   - the store itself (store_check: SQLite integrity and foreign keys,
 *     reference counts against a recount, overlapping or out-of-range
 *     segments, dangling and out-of-range map rows, leaked segments);
 *   - that every segment in the store is marked used by its container's
 *     allocator, and that the allocator marks nothing else used except
 *     segments waiting for the commit that frees them: no segment is
 *     both mapped and free, and nothing leaks;
 *   - that no container has failed a sync in this process, neither the
 *     controller's handle nor an agent's (REPORTed).
 * When everything holds and the database carried needs_check (set after
 * a failed sync or commit in an earlier run), the flag is cleared and
 * writes are allowed again.
 */
#include <config.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/errors.h"
#include "common/json-add.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "store/container.h"

struct check_ctx {
  struct controller *c;
  json_object *problems;
  int n;
  uint64_t segments;
  uint64_t used_units[ENTRY_MAX_CONTAINER + 1];
};

static void
problem (struct check_ctx *x, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
problem (struct check_ctx *x, const char *fmt, ...)
{
  char buf[512];
  va_list args;

  va_start (args, fmt);
  vsnprintf (buf, sizeof buf, fmt, args);
  va_end (args);
  json_object_array_add (x->problems, json_object_new_string (buf));
  x->n++;
}

static void
report_store_problem (void *opaque, const char *text)
{
  problem (opaque, "%s", text);
}

static int
check_segment (void *opaque, uint32_t container, uint64_t unit,
               uint32_t units, uint32_t refcount)
{
  struct check_ctx *x = opaque;
  struct ctrl_container *cc = x->c->containers[container];

  x->segments++;
  if (cc == NULL) {
    problem (x, "segment at unit %" PRIu64 " of container id %u: the "
             "container is not open", unit, container);
    return 0;
  }
  if (unit + units > alloc_total_units (cc->alloc)
      || !alloc_is_used (cc->alloc, unit, units))
    problem (x, "container %s: segment at unit %" PRIu64 " is mapped but "
             "free in the allocator", cc->c->name, unit);
  x->used_units[container] += units;
  return 0;
}

static void
check_allocators (struct check_ctx *x)
{
  struct controller *c = x->c;

  for (uint32_t id = 1; id <= c->max_container; id++) {
    struct ctrl_container *cc = c->containers[id];
    uint64_t expected = x->used_units[id];

    if (cc == NULL)
      continue;
    for (size_t i = 0; i < c->frees.len; i++)
      if (c->frees.ptr[i].container == id)
        expected += c->frees.ptr[i].units;
    expected += ctrl_delete_units_held (c, id);
    if (alloc_used_units (cc->alloc) != expected)
      problem (x, "container %s: the allocator has %" PRIu64 " units in "
               "use but the map accounts for %" PRIu64 " (leak)",
               cc->c->name, alloc_used_units (cc->alloc), expected);
    if (atomic_load (&cc->c->failed) && !cc->failed)
      problem (x, "container %s failed a sync: restart segmap, then check "
               "again", cc->c->name);
  }
}

static void
clear_needs_check (struct controller *c)
{
  struct msg m = { .type = MSG_SET_DEGRADED };

  if (!c->degraded)
    return;
  if (ctrl_change (c) == -1
      || store_meta_set (c->store, "needs_check", "0") == -1
      || ctrl_commit (c, false) == -1)
    return;
  c->degraded = false;
  if (ctrl_broadcast (c, &m) != 0)
    sm_error ("check passed, but not every agent confirmed that writes "
              "are allowed again");
  else
    sm_debug ("check passed: writes allowed again");
}

int
ctrl_check (struct controller *c, json_object *problems, json_object *checked)
{
  struct check_ctx *x = calloc (1, sizeof *x);
  unsigned n_containers = 0;
  int r;

  if (x == NULL)
    return -1;
  x->c = c;
  x->problems = problems;
  if (store_check (c->store, report_store_problem, x) < 0
      || store_segment_foreach (c->store, 0, check_segment, x) < 0) {
    free (x);
    return -1;
  }
  check_allocators (x);
  for (uint32_t id = 1; id <= c->max_container; id++)
    n_containers += c->containers[id] != NULL;
  json_add_u64 (checked, "vdisks", c->n_vdisks);
  json_add_u64 (checked, "segments", x->segments);
  json_add_u64 (checked, "containers", n_containers);
  r = x->n;
  free (x);
  if (r == 0)
    clear_needs_check (c);
  return r;
}
