/* segmapctl: what the command files share (commands.c: the helpers and
 * the core commands; commands-iscsi.c: the iSCSI commands;
 * commands-snapshot.c: the snapshot commands; commands-clone.c: clones
 * and rollback; commands-job.c: background jobs). */
#ifndef SEGMAPCTL_COMMANDS_INTERNAL_H
#define SEGMAPCTL_COMMANDS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <json.h>

#include "tools/format.h"
#include "tools/segmapctl.h"

/* Send one request (ARGS consumed).  0 with *RESULT, or the exit status
 * after printing why. */
int call (struct session *s, const char *cmd, json_object *args,
          json_object **result);
/* Pretty JSON for --json. */
void print_json (json_object *result);

/* Members of a result; NULL / false / "-" when missing. */
const char *jstr (json_object *o, const char *key);
bool jint (json_object *o, const char *key, int64_t *out);
const char *jyesno (json_object *o, const char *key);
const char *jnum (json_object *o, const char *key, char *buf);
/* A time member ("2024-05-01 12:00:00 +0000", local time) into BUF,
 * "-" if missing. */
const char *jtime (json_object *o, const char *key, char *buf, size_t len);
/* A size member for humans into BUF (FMT_SIZE_LEN bytes), "-" if
 * missing. */
const char *jsize (json_object *o, const char *key, char *buf);
/* Print "KEY   value" (the key padded to a column). */
void kv (const char *key, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* A usage error unless NAME is a valid WHAT name. */
int check_name (const struct command *cmd, const char *what,
                const char *name);
/* A vdisk's or a snapshot's (VDISK@SNAP) name: 0 or a usage error. */
int check_export_name (const struct command *cmd, const char *name);
/* {"name": NAME} */
json_object *name_args (const char *name);
/* Parse a size argument of CMD (a usage error when it is not one). */
int parse_size (const struct command *cmd, const char *str, int64_t *size);
/* PATH made absolute against the working directory (malloc'd). */
char *absolute_path (const char *path);

/* Print ROWS (an array of objects, or one object) as a table of NCOLS
 * columns titled HEADERS (bit i of RIGHT: column i right-aligned), one
 * row per object from ADD_ROW. */
int print_table (json_object *rows, unsigned ncols,
                 const char *const *headers, unsigned right,
                 int (*add_row) (struct table *, json_object *));

/* commands-iscsi.c */
int run_iscsi_sessions (struct session *s, const struct command *cmd,
                        int argc, char **argv);
int run_iscsi_hosts (struct session *s, const struct command *cmd,
                     int argc, char **argv);
int run_iscsi_host_add (struct session *s, const struct command *cmd,
                        int argc, char **argv);
int run_iscsi_host_remove (struct session *s, const struct command *cmd,
                           int argc, char **argv);
int run_iscsi_allow (struct session *s, const struct command *cmd,
                     int argc, char **argv);
int run_iscsi_deny (struct session *s, const struct command *cmd,
                    int argc, char **argv);
int run_iscsi_host_chap (struct session *s, const struct command *cmd,
                         int argc, char **argv);
int run_iscsi_chap (struct session *s, const struct command *cmd,
                    int argc, char **argv);

/* commands-snapshot.c */
int run_vdisk_diff (struct session *s, const struct command *cmd, int argc,
                    char **argv);
int run_snapshot_create_group (struct session *s,
                               const struct command *cmd, int argc,
                               char **argv);
/* {"vdisk": VDISK, "snapshot": SNAP} into *ARGS after checking both
 * names; 0 or the usage error's exit status. */
int snapshot_args (const struct command *cmd, const char *vdisk,
                   const char *snap, json_object **args);
int run_snapshot_create (struct session *s, const struct command *cmd,
                         int argc, char **argv);
int run_snapshot_list (struct session *s, const struct command *cmd,
                       int argc, char **argv);
int run_snapshot_delete (struct session *s, const struct command *cmd,
                         int argc, char **argv);

/* commands-clone.c */
int run_clone_create (struct session *s, const struct command *cmd,
                      int argc, char **argv);
/* A container list NAME[,NAME...] and a --placement: 0 or a usage
 * error. */
int check_pool (const struct command *cmd, const char *list);
int check_placement (const struct command *cmd, const char *placement);
int run_container_evacuate (struct session *s, const struct command *cmd,
                            int argc, char **argv);
int run_migrate (struct session *s, const struct command *cmd, int argc,
                 char **argv);
int run_clone_flatten (struct session *s, const struct command *cmd,
                       int argc, char **argv);
int run_snapshot_rollback (struct session *s, const struct command *cmd,
                           int argc, char **argv);

/* commands-job.c */
int run_job_list (struct session *s, const struct command *cmd, int argc,
                  char **argv);
int run_job_wait (struct session *s, const struct command *cmd, int argc,
                  char **argv);
int run_job_cancel (struct session *s, const struct command *cmd, int argc,
                    char **argv);
int run_job_pause (struct session *s, const struct command *cmd, int argc,
                   char **argv);
int run_job_resume (struct session *s, const struct command *cmd, int argc,
                    char **argv);

#endif /* SEGMAPCTL_COMMANDS_INTERNAL_H */
