/* segmapctl: background jobs (job list, wait, cancel, pause, resume).
 *
 * Requests: job.list {}, job.info / job.cancel / job.pause /
 * job.resume {id}; each answers job rows {id, kind, vdisk, state,
 * done, total, started, updated, error?}.
 *
 * `job wait' asks for the job's row every WAIT_POLL_MS until it has
 * ended.  On a terminal it redraws one progress line; otherwise it
 * prints a plain line whenever the progress changed, at most one per
 * second, so a log stays short.  It exits 0 when the job is done, 1
 * when it failed or was cancelled.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "ctl/ctl-proto.h"
#include "tools/commands-internal.h"

#define WAIT_POLL_MS 200
#define WAIT_LINE_MS 1000       /* plain lines: at most one a second */
#define BAR_WIDTH 30

/* {"id": ARG} after checking that ARG is a job number. */
static int
id_args (const struct command *cmd, const char *arg, json_object **args)
{
  char *end;
  unsigned long long id;

  errno = 0;
  id = strtoull (arg, &end, 10);
  if (errno || end == arg || *end || id == 0 || id > INT64_MAX
      || arg[0] == '-' || arg[0] == '+')
    return usage_error (cmd, "invalid job number '%s'", arg);
  *args = json_object_new_object ();
  json_object_object_add (*args, "id", json_object_new_int64 (id));
  return 0;
}

/* "DONE/TOTAL (P%)" of job row O into BUF (64 bytes). */
static const char *
progress (json_object *o, char *buf)
{
  int64_t done, total;

  if (!jint (o, "done", &done) || !jint (o, "total", &total))
    return "-";
  if (total > 0)
    snprintf (buf, 64, "%" PRId64 "/%" PRId64 " (%d%%)", done, total,
              (int) (100 * done / total));
  else
    snprintf (buf, 64, "%" PRId64 "/%" PRId64, done, total);
  return buf;
}

/* What job O works on: its vdisk, or an evacuation's container. */
static const char *
job_object (json_object *o)
{
  return jstr (o, "vdisk") ?: jstr (o, "container") ?: "-";
}

static const char *const job_headers[] = {
  "ID", "KIND", "VDISK", "STATE", "PROGRESS", "STARTED"
};

#define JOB_RIGHT 0x1

static int
add_job_row (struct table *t, json_object *o)
{
  char id[FMT_SIZE_LEN], prog[64], when[64];
  const char *cells[6];

  cells[0] = jnum (o, "id", id);
  cells[1] = jstr (o, "kind") ?: "-";
  cells[2] = job_object (o);
  cells[3] = jstr (o, "state") ?: "-";
  cells[4] = progress (o, prog);
  cells[5] = jtime (o, "started", when, sizeof when);
  return table_add_row (t, cells);
}

int
run_job_list (struct session *s, const struct command *cmd, int argc,
              char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = call (s, "job.list", NULL, &r);

  if (rc != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  return print_table (r, ARRAY_SIZE (job_headers), job_headers, JOB_RIGHT,
                      add_job_row);
}

/* Send REQ {id: argv[0]} and print the job row answered, saying WHAT
 * happened to it. */
static int
job_command (struct session *s, const struct command *cmd, char **argv,
             const char *req, const char *what)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  int rc = id_args (cmd, argv[0], &args);

  if (rc == 0)
    rc = call (s, req, args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    printf ("job %s %s\n", argv[0], what);
  return 0;
}

int
run_job_cancel (struct session *s, const struct command *cmd, int argc,
                char **argv)
{
  return job_command (s, cmd, argv, "job.cancel", "cancelled");
}

int
run_job_pause (struct session *s, const struct command *cmd, int argc,
               char **argv)
{
  return job_command (s, cmd, argv, "job.pause", "paused");
}

int
run_job_resume (struct session *s, const struct command *cmd, int argc,
                char **argv)
{
  return job_command (s, cmd, argv, "job.resume", "resumed");
}

/* Has job row O ended? */
static bool
ended (json_object *o)
{
  const char *st = jstr (o, "state");

  return st && strcmp (st, "running") != 0 && strcmp (st, "paused") != 0;
}

/* The progress line of job row O on a terminal: a bar, redrawn. */
static void
draw_bar (json_object *o, const char *id)
{
  char bar[BAR_WIDTH + 1], prog[64];
  int64_t done = 0, total = 0;
  int fill = 0;

  if (jint (o, "done", &done) && jint (o, "total", &total) && total > 0)
    fill = done >= total ? BAR_WIDTH : (int) (BAR_WIDTH * done / total);
  memset (bar, '#', fill);
  memset (bar + fill, '.', BAR_WIDTH - fill);
  bar[BAR_WIDTH] = '\0';
  printf ("\rjob %s %s %s [%s] %s %-9s", id, jstr (o, "kind") ?: "-",
          job_object (o), bar, progress (o, prog),
          jstr (o, "state") ?: "-");
  fflush (stdout);
}

/* The last line of job row O; the exit status. */
static int
finish_wait (json_object *o, const char *id)
{
  const char *st = jstr (o, "state") ?: "-";
  char prog[64];

  printf ("job %s %s %s: %s %s\n", id, jstr (o, "kind") ?: "-",
          job_object (o), st, progress (o, prog));
  if (jstr (o, "error"))
    fprintf (stderr, "segmapctl: job %s: %s\n", id, jstr (o, "error"));
  return strcmp (st, "done") == 0 ? 0 : EXIT_SERVER_ERROR;
}

int
run_job_wait (struct session *s, const struct command *cmd, int argc,
              char **argv)
{
  bool tty = isatty (STDOUT_FILENO) && !s->json;
  int64_t last_done = -1;
  uint64_t last_line = 0;
  json_object *args;
  int rc;

  if ((rc = id_args (cmd, argv[0], &args)) != 0)
    return rc;
  json_object_put (args);
  for (;;) {
    CTL_CLEANUP_PUT json_object *r = NULL;
    int64_t done = 0;

    id_args (cmd, argv[0], &args);
    if ((rc = call (s, "job.info", args, &r)) != 0)
      return rc;
    if (ended (r)) {
      if (tty)
        putchar ('\n');
      if (s->json) {
        print_json (r);
        return strcmp (jstr (r, "state"), "done") == 0 ? 0
          : EXIT_SERVER_ERROR;
      }
      return finish_wait (r, argv[0]);
    }
    jint (r, "done", &done);
    if (tty)
      draw_bar (r, argv[0]);
    else if (!s->json && done != last_done
             && sm_now_ms () - last_line >= WAIT_LINE_MS) {
      char prog[64];
      printf ("job %s %s: %s\n", argv[0], jstr (r, "state") ?: "-",
              progress (r, prog));
      fflush (stdout);
      last_done = done;
      last_line = sm_now_ms ();
    }
    usleep (WAIT_POLL_MS * 1000);
  }
}
