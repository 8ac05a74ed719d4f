/* segmap: background jobs (DESIGN §5 Jobs, sql/007-clone.sql).
 *
 * A job is a long operation on one vdisk that the controller runs a
 * step at a time between batches of requests, so host I/O is never
 * held up by it: a clone flatten (flatten.c), a migration
 * (migrate.c), the evacuation of a container (evacuate.c, the one kind
 * that works on a container, not a vdisk).  Its row in the store is the truth; c->jobs holds
 * the running and paused ones, loaded at start-up, so a job resumes
 * after a restart (clean or not) from its last committed cursor.
 *
 *            pause              cancel
 *   running <------> paused ----------> cancelled
 *      |     resume    |
 *      |               +---- cancel --> cancelled
 *      +-- step: complete ------------> done
 *      +-- step: failed --------------> failed (error says why)
 *      +-- cancel --------------------> cancelled
 *
 * States and progress are stored in the controller's open transaction
 * (committed with the work they describe, at most COMMIT_INTERVAL
 * later); a state change a user asked for, and the end of a job, are
 * committed before they are answered or reported, so `job wait' sees a
 * durable result.  A job's work is made of steps that each leave the
 * data consistent on their own (a flatten's segment moves are ordinary
 * data movements): pausing or cancelling stops new steps; the ones in
 * flight finish as any movement does, and every segment keeps exactly
 * one authoritative location throughout.
 *
 * Everything here runs on the controller thread.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "controller/admin-internal.h"
#include "controller/controller-internal.h"

int
ctrl_job_load (struct controller *c)
{
  struct sm_job *v;
  size_t n;

  ctrl_job_free_all (c);
  if (store_job_list (c->store, true, &v, &n) == -1)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (job_vector_append (&c->jobs, v[i]) == -1) {
      for (size_t k = i; k < n; k++)
        sm_job_clear (&v[k]);
      free (v);
      sm_error ("controller: cannot load the jobs: %m");
      return -1;
    }
  free (v);                     /* the strings moved to c->jobs */
  if (n > 0)
    sm_debug ("controller: %zu jobs to resume", n);
  return 0;
}

void
ctrl_job_free_all (struct controller *c)
{
  for (size_t i = 0; i < c->jobs.len; i++)
    sm_job_clear (&c->jobs.ptr[i]);
  free (c->jobs.ptr);
  c->jobs = (struct job_vector) { NULL, 0, 0 };
}

bool
ctrl_job_pending (const struct controller *c)
{
  if (c->degraded)
    return false;
  for (size_t i = 0; i < c->jobs.len; i++)
    if (c->jobs.ptr[i].state == SM_JOB_RUNNING)
      return true;
  return false;
}

struct sm_job *
ctrl_job_of_vdisk (struct controller *c, uint32_t vdisk)
{
  for (size_t i = 0; i < c->jobs.len; i++)
    if (c->jobs.ptr[i].vdisk == vdisk)
      return &c->jobs.ptr[i];
  return NULL;
}

static struct sm_job *
find (struct controller *c, uint64_t id)
{
  for (size_t i = 0; i < c->jobs.len; i++)
    if (c->jobs.ptr[i].id == id)
      return &c->jobs.ptr[i];
  return NULL;
}

/* What J works on: "vdisk" or "container". */
static const char *
object_of (const struct sm_job *j)
{
  return j->kind == SM_JOB_EVACUATE ? "container" : "vdisk";
}

/* Store J in the open transaction.  0, or -1 (degraded). */
static int
save (struct controller *c, struct sm_job *j)
{
  if (ctrl_change (c) == -1 || store_job_update (c->store, j) == -1) {
    ctrl_set_degraded (c, "a job could not be recorded");
    return -1;
  }
  return 0;
}

/* J (in c->jobs) ends in STATE with ERROR (malloc'd or NULL; taken):
 * stored, committed, and no longer registered.  0 or -1. */
static int
end (struct controller *c, struct sm_job *j, enum sm_job_state state,
     char *error)
{
  bool evacuation = j->kind == SM_JOB_EVACUATE;
  int r;

  j->state = state;
  free (j->error);
  j->error = error;
  r = save (c, j) == 0 && ctrl_commit (c, false) == 0 ? 0 : -1;
  sm_debug ("controller: job %" PRIu64 " (%s of %s %s) %s%s%s",
            j->id, sm_job_kind_to_string (j->kind), object_of (j), j->name,
            sm_job_state_to_string (state), error ? ": " : "",
            error ? error : "");
  sm_job_clear (j);
  *j = c->jobs.ptr[--c->jobs.len];
  if (evacuation)
    ctrl_evacuate_ended (c);
  return r;
}

int
ctrl_job_start (struct controller *c, struct sm_job *j, char **error)
{
  if (ctrl_change (c) == -1 || store_job_add (c->store, j) == -1
      || ctrl_commit (c, false) == -1) {
    fail (error, "cannot record a %s job for %s '%s': %s",
          sm_job_kind_to_string (j->kind), object_of (j), j->name,
          sm_last_error ());
    return -1;
  }
  if (job_vector_append (&c->jobs, *j) == -1) {
    fail (error, "job %" PRIu64 " was recorded but cannot run before a "
          "restart: out of memory", j->id);
    return -1;
  }
  return 0;
}

/* Run one step of running job J: the kind's step, then J stored.  The
 * job may end (J is then gone from c->jobs): true if it did. */
static bool
step_one (struct controller *c, struct sm_job *j)
{
  struct sm_job before = *j;
  char *error = NULL;
  int r = -1;

  switch (j->kind) {
  case SM_JOB_FLATTEN:
    r = ctrl_flatten_step (c, j, &error);
    break;
  case SM_JOB_MIGRATE:
    r = ctrl_migrate_step (c, j, &error);
    break;
  case SM_JOB_EVACUATE:
    r = ctrl_evacuate_step (c, j, &error);
    break;
  }
  if (r == 1 || (r == -1 && !c->degraded)) {
    end (c, j, r == 1 ? SM_JOB_DONE : SM_JOB_FAILED, error);
    return true;
  }
  free (error);                 /* degraded: it resumes after a restart */
  if (j->done != before.done || j->total != before.total
      || j->cursor != before.cursor)
    save (c, j);
  return false;
}

void
ctrl_job_step (struct controller *c)
{
  size_t i = 0;

  while (!c->degraded && i < c->jobs.len) {
    struct sm_job *j = &c->jobs.ptr[i];
    char *gone = NULL;

    if (j->kind == SM_JOB_EVACUATE
        ? c->containers[j->container] == NULL
        : ctrl_find_vdisk (c, j->vdisk) == NULL) {
      /* Deleted, paused or not: nothing left to do. */
      if (asprintf (&gone, "%s '%s' was deleted", object_of (j),
                    j->name) == -1)
        gone = NULL;
      end (c, j, SM_JOB_FAILED, gone);
    }
    else if (j->state != SM_JOB_RUNNING || !step_one (c, j))
      i++;                      /* else the last one moved to I */
  }
}

const struct sm_vdisk_info *
ctrl_job_vdisk (struct controller *c, const char *name, char **error)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk_by_name (c, name);
  const struct sm_job *busy;

  if (v == NULL || v->parent) {
    fail (error, "no vdisk '%s'", name);
    return NULL;
  }
  if (c->degraded || v->read_only) {
    fail (error, "vdisk '%s' is read-only", name);
    return NULL;
  }
  if ((busy = ctrl_job_of_vdisk (c, v->id)) != NULL) {
    fail (error, "vdisk '%s' already has job %" PRIu64 " (%s, %s)", name,
          busy->id, sm_job_kind_to_string (busy->kind),
          sm_job_state_to_string (busy->state));
    return NULL;
  }
  return v;
}

/* Begin moving row SEG of V to V's container.  0, or -1 with *ERROR. */
static int
begin_move (struct controller *c, const struct sm_vdisk_info *v,
            uint64_t seg, char **error)
{
  sm_entry row;
  int err;

  if (store_map_get (c->store, v->id, seg, 1, &row) == -1) {
    fail (error, "cannot read segment %" PRIu64 " of vdisk '%s'", seg,
          v->name);
    return -1;
  }
  err = ctrl_cow_begin (c, v, seg, row);
  if (err == 0)
    return 0;
  if (err == ENOSPC)
    fail (error, "vdisk '%s': its container is full", v->name);
  else
    fail (error, "vdisk '%s' segment %" PRIu64 ": cannot start its copy: "
          "%s", v->name, seg, strerror (err));
  return -1;
}

int
ctrl_job_walk (struct controller *c, struct sm_job *j,
               const struct sm_vdisk_info *v, const struct job_walk *w,
               char **error)
{
  uint64_t n_segs = ctrl_vdisk_segments (v);
  unsigned inflight = ctrl_vdisk_moving (c, v);

  if (j->cursor > n_segs)
    j->cursor = n_segs;         /* the vdisk was rolled back smaller */

  while (inflight < w->inflight && j->cursor < n_segs) {
    uint64_t seg;
    int r = w->next (c, v, j->cursor, &seg);

    if (r == -1) {
      fail (error, "cannot read the map of vdisk '%s'", v->name);
      return -1;
    }
    if (r == 0 || seg >= n_segs) {
      j->cursor = n_segs;
      break;
    }
    if (ctrl_move_find (c, v->id, seg) == NULL) {
      if (w->may_begin
          && !w->may_begin (j, UINT64_C(1) << v->seg_shift))
        break;                  /* later, at the same row */
      if (begin_move (c, v, seg, error) == -1)
        return -1;              /* the cursor stays: a resume retries */
      inflight++;
    }
    j->cursor = seg + 1;
    j->done++;
  }
  return j->cursor == n_segs && ctrl_vdisk_moving (c, v) == 0;
}

/* Commands -------------------------------------------------------------- */

json_object *
ctrl_job_row (const struct sm_job *j)
{
  json_object *o = json_object_new_object ();

  json_add_u64 (o, "id", j->id);
  json_add_string (o, "kind", sm_job_kind_to_string (j->kind));
  json_add_string (o, object_of (j), j->name);
  json_add_string (o, "state", sm_job_state_to_string (j->state));
  json_add_u64 (o, "done", j->done);
  json_add_u64 (o, "total", j->total);
  json_add_u64 (o, "started", j->created > 0 ? (uint64_t) j->created : 0);
  json_add_u64 (o, "updated", j->updated > 0 ? (uint64_t) j->updated : 0);
  json_add_u64 (o, "rate", j->rate);
  if (j->error)
    json_add_string (o, "error", j->error);
  return o;
}

/* The argument ID (a job id) into *ID; -1 with *ERROR. */
static int
id_arg (json_object *args, uint64_t *id, char **error)
{
  json_object *v;

  if (!json_object_object_get_ex (args, "id", &v)
      || !json_object_is_type (v, json_type_int)
      || json_object_get_int64 (v) <= 0) {
    fail (error, "missing or invalid argument 'id' (a job number)");
    return -1;
  }
  *id = json_object_get_int64 (v);
  return 0;
}

/* The stored row of job ID as JSON, or NULL with *ERROR. */
static json_object *
stored_row (struct controller *c, uint64_t id, char **error)
{
  struct sm_job j;
  json_object *o;

  if (store_job_get (c->store, id, &j) == -1)
    return fail (error, errno == ENOENT ? "no job %" PRIu64
                 : "cannot read job %" PRIu64, id);
  o = ctrl_job_row (&j);
  sm_job_clear (&j);
  return o;
}

json_object *
ctrl_cmd_job_list (struct controller *c, json_object *args, char **error)
{
  json_object *list;
  struct sm_job *v;
  size_t n;

  if (store_job_list (c->store, false, &v, &n) == -1)
    return fail (error, "cannot list the jobs");
  list = json_object_new_array ();
  for (size_t i = 0; i < n; i++)
    json_object_array_add (list, ctrl_job_row (&v[i]));
  sm_job_free (v, n);
  return list;
}

json_object *
ctrl_cmd_job_info (struct controller *c, json_object *args, char **error)
{
  uint64_t id;

  if (id_arg (args, &id, error) == -1)
    return NULL;
  return stored_row (c, id, error);
}

/* The active job named by the arguments, or NULL with *ERROR (a job
 * that has ended is named with its state). */
static struct sm_job *
active_arg (struct controller *c, json_object *args, char **error)
{
  struct sm_job *j, stored;
  uint64_t id;

  if (id_arg (args, &id, error) == -1)
    return NULL;
  if ((j = find (c, id)) != NULL)
    return j;
  if (store_job_get (c->store, id, &stored) == -1)
    fail (error, "no job %" PRIu64, id);
  else {
    fail (error, "job %" PRIu64 " has ended (%s)", id,
          sm_job_state_to_string (stored.state));
    sm_job_clear (&stored);
  }
  return NULL;
}

json_object *
ctrl_cmd_job_cancel (struct controller *c, json_object *args, char **error)
{
  struct sm_job *j = active_arg (c, args, error);
  uint64_t id;

  if (j == NULL)
    return NULL;
  id = j->id;
  if (end (c, j, SM_JOB_CANCELLED, NULL) == -1)
    return fail (error, "cannot record the cancel of job %" PRIu64, id);
  return stored_row (c, id, error);
}

/* Pause (PAUSE) or resume the job named by ARGS. */
static json_object *
set_paused (struct controller *c, json_object *args, bool pause,
            char **error)
{
  struct sm_job *j = active_arg (c, args, error);

  if (j == NULL)
    return NULL;
  j->state = pause ? SM_JOB_PAUSED : SM_JOB_RUNNING;
  j->pace_since_ms = 0;         /* a rate counts from the resume */
  if (save (c, j) == -1 || ctrl_commit (c, false) == -1)
    return fail (error, "cannot record the state of job %" PRIu64, j->id);
  return ctrl_job_row (j);
}

json_object *
ctrl_cmd_job_pause (struct controller *c, json_object *args, char **error)
{
  return set_paused (c, args, true, error);
}

json_object *
ctrl_cmd_job_resume (struct controller *c, json_object *args, char **error)
{
  return set_paused (c, args, false, error);
}
