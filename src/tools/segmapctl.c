/* segmapctl: administer a running segmap through its control socket.
 *
 * Command line: global options and command options are parsed in one
 * pass that sets positional words aside as it meets them, so every
 * option may come before or after them ("segmapctl vdisk create
 * d1 1G --json" works).  The positional words then select a command
 * from the table in commands.c: either a bare command ("status") or a
 * group and a verb ("vdisk create").  --help at any level prints the
 * help for the deepest level the words name.
 *
 * Exit status: 0 success, 1 the server reported an error (or check
 * found problems), 2 usage error, 3 cannot reach the server.  Usage
 * errors are detected before connecting, so a wrong command never needs
 * a running segmap to be diagnosed.
 */
#include <config.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "tools/segmapctl.h"

#define DEFAULT_SOCKET SM_DEFAULT_STATE_DIR "/" SM_SOCKET_NAME

enum {
  LONG_JSON = 256,
  LONG_CONTAINER,
  LONG_SEGMENT_SIZE,
  LONG_READ_ONLY,
  LONG_READ_WRITE,
  LONG_RATE,
  LONG_TO,
  LONG_PLACEMENT,
};

static const char short_options[] = "+:s:hV";
static const struct option long_options[] = {
  { "socket", required_argument, NULL, 's' },
  { "json", no_argument, NULL, LONG_JSON },
  { "help", no_argument, NULL, 'h' },
  { "version", no_argument, NULL, 'V' },
  { "container", required_argument, NULL, LONG_CONTAINER },
  { "segment-size", required_argument, NULL, LONG_SEGMENT_SIZE },
  { "read-only", no_argument, NULL, LONG_READ_ONLY },
  { "read-write", no_argument, NULL, LONG_READ_WRITE },
  { "rate", required_argument, NULL, LONG_RATE },
  { "to", required_argument, NULL, LONG_TO },
  { "placement", required_argument, NULL, LONG_PLACEMENT },
  { NULL, 0, NULL, 0 },
};

struct cmdline {
  bool help;
  bool version;
  char **words;                 /* positional arguments */
  int nwords;
};

/* libsegmap's errors (sm_error) go to stderr as "segmapctl: ...". */
static void
error_sink (const char *fmt, va_list args)
{
  fputs ("segmapctl: ", stderr);
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

/* "vdisk create" or "status". */
static void
print_command_name (const struct command *cmd, FILE *fp)
{
  if (cmd->group)
    fprintf (fp, "%s ", cmd->group);
  fputs (cmd->name, fp);
}

/* One "  vdisk create NAME SIZE ..." line of a command list. */
static void
print_command_line (const struct command *cmd, FILE *fp)
{
  int n = fprintf (fp, "  %s%s%s%s%s", cmd->group ? cmd->group : "",
                   cmd->group ? " " : "", cmd->name,
                   *cmd->args ? " " : "", cmd->args);

  if (n > 32)
    fprintf (fp, "\n%34s", "");
  else
    fprintf (fp, "%*s", 34 - n, "");
  fprintf (fp, "%s\n", cmd->summary);
}

static void
main_help (FILE *fp)
{
  unsigned i;

  fprintf (fp,
"Usage: segmapctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Administer a running segmap through its control socket.\n"
"\n"
"Options (anywhere on the command line):\n"
"  -s, --socket SOCKET   the control socket (default: $SEGMAP_SOCKET, else\n"
"                        %s)\n"
"      --json            print the server's result as JSON\n"
"  -h, --help            show help for segmapctl or for a command\n"
"  -V, --version         show the version\n"
"\n"
"Commands:\n", DEFAULT_SOCKET);
  for (i = 0; i < nr_commands; i++)
    print_command_line (&commands[i], fp);
  fprintf (fp,
"\n"
"Sizes take an optional K, M, G, T or P suffix (powers of 1024).\n"
"Exit status: 0 success, 1 error reported by segmap (or check found\n"
"problems), 2 usage error, 3 cannot connect.\n"
"Run 'segmapctl COMMAND --help' for more; see segmapctl(8).\n");
}

static void
group_help (const char *group, FILE *fp)
{
  unsigned i;

  fprintf (fp, "Usage: segmapctl [OPTIONS] %s SUBCOMMAND [ARGS]\n\n"
           "Subcommands:\n", group);
  for (i = 0; i < nr_commands; i++)
    if (commands[i].group && strcmp (commands[i].group, group) == 0)
      print_command_line (&commands[i], fp);
  fprintf (fp, "\nRun 'segmapctl %s SUBCOMMAND --help' for more.\n", group);
}

static void
command_help (const struct command *cmd, FILE *fp)
{
  fputs ("Usage: segmapctl [-s SOCKET] [--json] ", fp);
  print_command_name (cmd, fp);
  fprintf (fp, "%s%s\n\n", *cmd->args ? " " : "", cmd->args);
  fprintf (fp, "%c%s.\n\n%s", cmd->summary[0] - 'a' + 'A',
           cmd->summary + 1, cmd->details);
}

void
usage_hint (const struct command *cmd)
{
  if (cmd) {
    fputs ("Usage: segmapctl ", stderr);
    print_command_name (cmd, stderr);
    fprintf (stderr, "%s%s\nTry 'segmapctl ", *cmd->args ? " " : "",
             cmd->args);
    print_command_name (cmd, stderr);
    fputs (" --help' for more information.\n", stderr);
  }
  else
    fputs ("Try 'segmapctl --help' for more information.\n", stderr);
}

int
usage_error (const struct command *cmd, const char *fmt, ...)
{
  va_list args;

  fputs ("segmapctl: ", stderr);
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fputc ('\n', stderr);
  usage_hint (cmd);
  return EXIT_USAGE;
}

/* getopt's complaint about argv[optind - 1]. */
static int
option_error (int c, char **argv)
{
  const char *arg = argv[optind - 1];

  if (c == ':')
    return usage_error (NULL, "option '%s' needs an argument", arg);
  if (optopt && strncmp (arg, "--", 2) != 0)
    return usage_error (NULL, "unknown option '-%c'", optopt);
  return usage_error (NULL, "unknown option '%s'", arg);
}

/* Parse every option, keeping the positional words in order.  getopt's
 * own permutation is turned off ("+") and done here, so that it does
 * not depend on $POSIXLY_CORRECT. */
static int
parse_options (int argc, char **argv, struct session *s, struct cmdline *cl)
{
  int c;

  cl->words = calloc (argc, sizeof *cl->words);
  if (cl->words == NULL)
    return usage_error (NULL, "out of memory");
  opterr = 0;
  while (optind < argc) {
    const char *arg = argv[optind];

    if (strcmp (arg, "--") == 0) {
      optind++;
      break;
    }
    if (arg[0] != '-' || arg[1] == '\0') {
      cl->words[cl->nwords++] = argv[optind++];
      continue;
    }
    c = getopt_long (argc, argv, short_options, long_options, NULL);
    switch (c) {
    case 's': s->socket = optarg; break;
    case 'h': cl->help = true; break;
    case 'V': cl->version = true; break;
    case LONG_JSON: s->json = true; break;
    case LONG_CONTAINER: s->container = optarg; break;
    case LONG_SEGMENT_SIZE: s->segment_size = optarg; break;
    case LONG_READ_ONLY: s->read_only = true; break;
    case LONG_READ_WRITE: s->read_write = true; break;
    case LONG_RATE: s->rate = optarg; break;
    case LONG_TO: s->to = optarg; break;
    case LONG_PLACEMENT: s->placement = optarg; break;
    default: return option_error (c, argv);
    }
  }
  while (optind < argc)         /* after "--": all positional */
    cl->words[cl->nwords++] = argv[optind++];
  return 0;
}

/* Find the command the words name.  Returns it and sets *USED to the
 * number of words its name took; NULL with *GROUP set when the words
 * name only a group; NULL with a usage error printed (*USED == -1)
 * when they name nothing. */
static const struct command *
lookup (char **words, int nwords, int *used, const char **group)
{
  bool is_group = false;
  unsigned i;

  *group = NULL;
  *used = -1;
  for (i = 0; i < nr_commands; i++) {
    const struct command *cmd = &commands[i];

    if (cmd->group == NULL && strcmp (cmd->name, words[0]) == 0) {
      *used = 1;
      return cmd;
    }
    if (cmd->group && strcmp (cmd->group, words[0]) == 0) {
      is_group = true;
      *group = cmd->group;
      if (nwords > 1 && strcmp (cmd->name, words[1]) == 0) {
        *used = 2;
        return cmd;
      }
    }
  }
  if (!is_group)
    usage_error (NULL, "unknown command '%s'", words[0]);
  else if (nwords > 1) {
    fprintf (stderr, "segmapctl: unknown %s command '%s'\n"
             "Try 'segmapctl %s --help' for more information.\n",
             words[0], words[1], words[0]);
  }
  else
    *used = 1;
  return NULL;
}

/* Check the argument count and the command-specific options. */
static int
check_usage (const struct command *cmd, const struct session *s, int nargs)
{
  if (nargs < (int) cmd->min_args)
    return usage_error (cmd, "missing arguments");
  if (nargs > (int) cmd->max_args)
    return usage_error (cmd, "too many arguments");
  if (s->container && !(cmd->opts & OPT_CONTAINER))
    return usage_error (cmd, "--container does not apply to this command");
  if (s->segment_size && !(cmd->opts & OPT_SEGMENT_SIZE))
    return usage_error (cmd, "--segment-size does not apply to this command");
  if (s->rate && !(cmd->opts & OPT_RATE))
    return usage_error (cmd, "--rate does not apply to this command");
  if (s->placement && !(cmd->opts & OPT_PLACEMENT))
    return usage_error (cmd, "--placement does not apply to this command");
  if (s->to && !(cmd->opts & OPT_TO))
    return usage_error (cmd, "--to does not apply to this command");
  if ((s->read_only || s->read_write) && !(cmd->opts & OPT_MODE))
    return usage_error (cmd, "--%s does not apply to this command",
                        s->read_only ? "read-only" : "read-write");
  return 0;
}

/* Handle a command line that named a group but no verb. */
static int
group_only (const char *group, bool help)
{
  if (help) {
    group_help (group, stdout);
    return 0;
  }
  fprintf (stderr, "segmapctl: '%s' needs a subcommand\n", group);
  group_help (group, stderr);
  return EXIT_USAGE;
}

/* Resolve the words and run the command (or its help). */
static int
run (struct session *s, const struct cmdline *cl)
{
  const struct command *cmd;
  const char *group;
  int used;

  if (cl->nwords == 0) {
    if (cl->help) {
      main_help (stdout);
      return 0;
    }
    return usage_error (NULL, "no command given");
  }
  cmd = lookup (cl->words, cl->nwords, &used, &group);
  if (cmd == NULL)
    return used == -1 ? EXIT_USAGE : group_only (group, cl->help);
  if (cl->help) {
    command_help (cmd, stdout);
    return 0;
  }
  if (check_usage (cmd, s, cl->nwords - used) != 0)
    return EXIT_USAGE;
  return cmd->run (s, cmd, cl->nwords - used, cl->words + used);
}

/* Make sure everything printed reached stdout. */
static int
flush_stdout (int rc)
{
  if (fflush (stdout) == EOF || ferror (stdout)) {
    sm_error ("error writing to standard output: %m");
    return rc ? rc : EXIT_SERVER_ERROR;
  }
  return rc;
}

int
main (int argc, char **argv)
{
  struct session s = { .socket = NULL };
  struct cmdline cl = { .help = false };
  int rc;

  sm_set_log_sinks (error_sink, NULL);
  rc = parse_options (argc, argv, &s, &cl);
  if (rc == 0 && cl.version && !cl.help)
    printf ("segmapctl %s\n", PACKAGE_VERSION);
  else if (rc == 0) {
    if (s.socket == NULL)
      s.socket = getenv ("SEGMAP_SOCKET");
    if (s.socket == NULL || *s.socket == '\0')
      s.socket = DEFAULT_SOCKET;
    rc = run (&s, &cl);
  }
  ctl_client_close (s.client);
  free (cl.words);
  return flush_stdout (rc);
}
