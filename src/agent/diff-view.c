/* segmap: the VDISK@FROM..TO export (see diff-view.h). */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/diff-view.h"
#include "common/errors.h"
#include "agent/table.h"
#include "common/limits.h"
#include "common/names.h"
#include "proto/msg.h"

bool
diff_view_name (const char *name)
{
  const char *dots = strstr (name, "..");

  return dots != NULL && memchr (name, '@', dots - name) != NULL;
}

/* Split VDISK@FROM..TO into FROM_NAME (VDISK@FROM) and TO_NAME
 * (VDISK@TO, or VDISK).  0 or -1 (EINVAL). */
static int
split (const char *name, char *from_name, char *to_name, size_t n)
{
  const char *dots = strstr (name, ".."), *at = strchr (name, '@');
  int r;

  if (dots == NULL || at == NULL || at > dots || at == name
      || dots == at + 1 || dots - name >= (ptrdiff_t) n) {
    errno = EINVAL;
    return -1;
  }
  snprintf (from_name, n, "%.*s", (int) (dots - name), name);
  if (dots[2] == '\0')
    r = snprintf (to_name, n, "%.*s", (int) (at - name), name);
  else
    r = snprintf (to_name, n, "%.*s@%s", (int) (at - name), name, dots + 2);
  if (r < 0 || (size_t) r >= n) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* Ask the controller for the ranges from FROM to V->to. */
static int
fetch_ranges (struct agent *a, struct diff_view *v, uint32_t from)
{
  struct msg req = { .type = MSG_GET_DIFF, .vdisk = v->to->vdisk,
                     .arg = from };
  struct msg answer;

  if (agent_request (a, &req, &answer) == -1)
    return -1;
  if (answer.type != MSG_DIFF || answer.status != 0) {
    errno = answer.type == MSG_DIFF ? (int) answer.status : EPROTO;
    msg_clear (&answer);
    return -1;
  }
  v->size = answer.arg;
  v->ranges = answer.extents;
  v->n_ranges = answer.n_extents / 2;
  answer.extents = NULL;
  msg_clear (&answer);
  return 0;
}

struct diff_view *
diff_view_open (struct agent *a, const char *name)
{
  char from_name[2 * SM_NAME_MAX + 4], to_name[2 * SM_NAME_MAX + 4];
  struct diff_view *v;
  struct table *from;
  uint32_t from_id;

  if (split (name, from_name, to_name, sizeof from_name) == -1) {
    sm_error ("'%s' is not VDISK@FROM..TO", name);
    return NULL;
  }
  if ((from = agent_open_vdisk (a, from_name)) == NULL) {
    sm_error ("no snapshot '%s'", from_name);
    return NULL;
  }
  from_id = from->vdisk;
  agent_close_vdisk (a, from);
  if ((v = calloc (1, sizeof *v)) == NULL)
    return NULL;
  if ((v->to = agent_open_vdisk (a, to_name)) == NULL) {
    sm_error ("no vdisk or snapshot '%s'", to_name);
    free (v);
    return NULL;
  }
  if (fetch_ranges (a, v, from_id) == -1) {
    sm_error ("the controller has no diff from %s to %s: %m", from_name,
              to_name);
    diff_view_close (a, v);
    return NULL;
  }
  return v;
}

void
diff_view_close (struct agent *a, struct diff_view *v)
{
  if (v == NULL)
    return;
  agent_close_vdisk (a, v->to);
  free (v->ranges);
  free (v);
}

/* The index of the first range ending after OFFSET (n_ranges if none). */
static uint32_t
first_range (const struct diff_view *v, uint64_t offset)
{
  uint32_t lo = 0, hi = v->n_ranges;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (v->ranges[2 * mid] + v->ranges[2 * mid + 1] <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int
diff_view_pread (struct agent *a, struct diff_view *v, void *buf,
                 uint32_t count, uint64_t offset)
{
  uint64_t end = offset + count;

  if (offset > v->size || count > v->size - offset) {
    errno = EINVAL;
    return -1;
  }
  memset (buf, 0, count);
  for (uint32_t i = first_range (v, offset); i < v->n_ranges; i++) {
    uint64_t s = v->ranges[2 * i], e = s + v->ranges[2 * i + 1];
    if (s >= end)
      break;
    if (s < offset)
      s = offset;
    if (e > end)
      e = end;
    if (agent_pread (a, v->to, (char *) buf + (s - offset), e - s, s) == -1)
      return -1;
  }
  return 0;
}

int
diff_view_extents (struct diff_view *v, uint32_t count, uint64_t offset,
                   int (*fn) (void *opaque, uint64_t offset, uint64_t len,
                              bool zero),
                   void *opaque)
{
  uint64_t pos = offset, end = offset + count;

  if (offset > v->size || count > v->size - offset) {
    errno = EINVAL;
    return -1;
  }
  for (uint32_t i = first_range (v, offset); i < v->n_ranges && pos < end;
       i++) {
    uint64_t s = v->ranges[2 * i], e = s + v->ranges[2 * i + 1];
    if (s > pos && fn (opaque, pos, (s < end ? s : end) - pos, true) == -1)
      return -1;
    if (s >= end)
      return 0;
    if (s < pos)
      s = pos;
    if (e > end)
      e = end;
    if (fn (opaque, s, e - s, false) == -1)
      return -1;
    pos = e;
  }
  if (pos < end && fn (opaque, pos, end - pos, true) == -1)
    return -1;
  return 0;
}
