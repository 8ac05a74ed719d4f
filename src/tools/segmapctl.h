/* segmapctl: shared definitions of the command-line front end
 * (segmapctl.c: options, help, dispatch) and the commands (commands.c).
 */
#ifndef SEGMAPCTL_H
#define SEGMAPCTL_H

#include <stdbool.h>

#include <json.h>

#include "tools/ctl-client.h"

/* Exit statuses (documented in segmapctl(8)). */
#define EXIT_SERVER_ERROR 1     /* the server said no, or check failed */
#define EXIT_USAGE 2
#define EXIT_CONNECT 3          /* cannot reach or talk to the server */

/* Command-specific options a command accepts. */
#define OPT_CONTAINER    (1u << 0)
#define OPT_SEGMENT_SIZE (1u << 1)
#define OPT_MODE         (1u << 2)      /* --read-only, --read-write */
#define OPT_RATE         (1u << 3)
#define OPT_TO           (1u << 4)
#define OPT_PLACEMENT    (1u << 5)

struct session {
  const char *socket;
  bool json;                    /* --json */
  const char *container;        /* --container, or NULL */
  const char *segment_size;     /* --segment-size, or NULL */
  bool read_only, read_write;   /* --read-only, --read-write */
  const char *rate;             /* --rate, or NULL */
  const char *to;               /* --to, or NULL */
  const char *placement;        /* --placement, or NULL */
  struct ctl_client *client;    /* connected on the first request */
};

struct command {
  const char *group;            /* "vdisk", or NULL for a bare command */
  const char *name;
  const char *args;             /* argument synopsis, "" for none */
  const char *summary;          /* one line */
  const char *details;          /* paragraph(s) for --help */
  unsigned min_args, max_args;  /* positional arguments after the name */
  unsigned opts;                /* OPT_* accepted */
  /* Run with ARGV[0..argc-1] the positional arguments; returns the
   * exit status. */
  int (*run) (struct session *s, const struct command *cmd, int argc,
              char **argv);
};

/* commands.c */
extern const struct command commands[];
extern const unsigned nr_commands;

/* segmapctl.c */

/* Report a usage error about CMD (NULL: the whole program): print
 * "segmapctl: MESSAGE" and a pointer to the help; returns EXIT_USAGE. */
int usage_error (const struct command *cmd, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Print the usage line of CMD (NULL: the whole program) and a pointer
 * to its --help, after an error message was already printed. */
void usage_hint (const struct command *cmd);

#endif /* SEGMAPCTL_H */
