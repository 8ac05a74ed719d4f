/* segmapctl: the iSCSI commands -- sessions, access lists, CHAP.
 *
 * Same conventions as commands.c: arguments are checked before anything
 * is sent, one request per command, --json prints the server's answer.
 * Secret files are named, never read here: the server checks that it
 * can use them (mode 0600, 12 to 256 bytes) before storing the name.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/limits.h"
#include "ctl/ctl-proto.h"
#include "tools/commands-internal.h"

/* Run CMD with ARGS; print the JSON with --json, else nothing. */
static int
call_quiet (struct session *s, const char *cmd, json_object *args)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  int rc = call (s, cmd, args, &r);

  if (rc == 0 && s->json)
    print_json (r);
  return rc;
}

/* ---- sessions ---- */

static const char *const session_headers[] = {
  "INITIATOR", "TARGET", "PORTAL", "PEER", "DIGEST", "MAXRECV", "BURST",
  "CHAP", "COMMANDS",
};
#define SESSION_RIGHT 0x160     /* MAXRECV, BURST, COMMANDS */

static int
add_session_row (struct table *t, json_object *o)
{
  char digest[16], recv[48], burst[48], b[FMT_SIZE_LEN];
  int64_t ours = 0, peer = 0, max = 0, first = 0;
  const char *target = jstr (o, "target");

  snprintf (digest, sizeof digest, "%s/%s",
            strcmp (jyesno (o, "header_digest"), "yes") == 0 ? "crc" : "none",
            strcmp (jyesno (o, "data_digest"), "yes") == 0 ? "crc" : "none");
  jint (o, "max_recv_data_segment_length", &ours);
  jint (o, "peer_max_recv_data_segment_length", &peer);
  jint (o, "max_burst_length", &max);
  jint (o, "first_burst_length", &first);
  snprintf (recv, sizeof recv, "%" PRId64 "/%" PRId64, ours, peer);
  snprintf (burst, sizeof burst, "%" PRId64 "/%" PRId64, max, first);
  {
    const char *cells[] = {
      jstr (o, "initiator"),
      target && *target ? target : "(discovery)",
      jstr (o, "portal"), jstr (o, "peer"), digest, recv, burst,
      jyesno (o, "chap"), jnum (o, "commands", b),
    };
    return table_add_row (t, cells);
  }
}

int
run_iscsi_sessions (struct session *s, const struct command *cmd, int argc,
                    char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *rows;
  int rc = call (s, "iscsi.sessions", NULL, &r);

  if (rc != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  if (!json_object_object_get_ex (r, "sessions", &rows))
    rows = json_object_new_array ();
  else
    json_object_get (rows);
  if (json_object_array_length (rows) == 0)
    printf ("%s\n", strcmp (jyesno (r, "enabled"), "no") == 0
            ? "the iSCSI target is off (iscsi=off)" : "no sessions");
  else
    rc = print_table (rows, ARRAY_SIZE (session_headers), session_headers,
                      SESSION_RIGHT, add_session_row);
  json_object_put (rows);
  return rc;
}

/* ---- hosts ---- */

static const char *const host_headers[] = {
  "NAME", "INITIATOR", "CHAP", "VDISKS",
};

static int
add_host_row (struct table *t, json_object *o)
{
  json_object *v;
  char vdisks[1024] = "";
  size_t len = 0;

  if (json_object_object_get_ex (o, "vdisks", &v)
      && json_object_is_type (v, json_type_array))
    for (size_t i = 0; i < json_object_array_length (v); i++) {
      int n = snprintf (vdisks + len, sizeof vdisks - len, "%s%s",
                        i ? "," : "",
                        json_object_get_string (json_object_array_get_idx
                                                (v, i)));
      if (n < 0 || (size_t) n >= sizeof vdisks - len)
        break;
      len += n;
    }
  {
    const char *user = jstr (o, "chap_user");
    const char *cells[] = {
      jstr (o, "name"), jstr (o, "initiator"), user ? user : "-",
      len ? vdisks : "(none)",
    };
    return table_add_row (t, cells);
  }
}

int
run_iscsi_hosts (struct session *s, const struct command *cmd, int argc,
                 char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *rows;
  int rc = call (s, "iscsi.host.list", NULL, &r);

  if (rc != 0)
    return rc;
  if (s->json) {
    print_json (r);
    return 0;
  }
  if (!json_object_object_get_ex (r, "hosts", &rows)
      || json_object_array_length (rows) == 0) {
    printf ("no hosts: every initiator may see every vdisk\n");
    return 0;
  }
  return print_table (rows, ARRAY_SIZE (host_headers), host_headers, 0,
                      add_host_row);
}

int
run_iscsi_host_add (struct session *s, const struct command *cmd, int argc,
                    char **argv)
{
  json_object *args, *vdisks;

  if (check_name (cmd, "host", argv[0]) != 0)
    return EXIT_USAGE;
  for (int i = 2; i < argc; i++)
    if (check_export_name (cmd, argv[i]) != 0)
      return EXIT_USAGE;
  args = name_args (argv[0]);
  vdisks = json_object_new_array ();
  json_object_object_add (args, "initiator",
                          json_object_new_string (argv[1]));
  for (int i = 2; i < argc; i++)
    json_object_array_add (vdisks, json_object_new_string (argv[i]));
  json_object_object_add (args, "vdisks", vdisks);
  return call_quiet (s, "iscsi.host.add", args);
}

int
run_iscsi_host_remove (struct session *s, const struct command *cmd,
                       int argc, char **argv)
{
  if (check_name (cmd, "host", argv[0]) != 0)
    return EXIT_USAGE;
  return call_quiet (s, "iscsi.host.remove", name_args (argv[0]));
}

static int
host_vdisk (struct session *s, const struct command *cmd, char **argv,
            const char *request)
{
  json_object *args;

  if (check_name (cmd, "host", argv[0]) != 0
      || check_export_name (cmd, argv[1]) != 0)
    return EXIT_USAGE;
  args = name_args (argv[0]);
  json_object_object_add (args, "vdisk", json_object_new_string (argv[1]));
  return call_quiet (s, request, args);
}

int
run_iscsi_allow (struct session *s, const struct command *cmd, int argc,
                 char **argv)
{
  return host_vdisk (s, cmd, argv, "iscsi.host.allow");
}

int
run_iscsi_deny (struct session *s, const struct command *cmd, int argc,
                char **argv)
{
  return host_vdisk (s, cmd, argv, "iscsi.host.deny");
}

/* Add "USER_KEY": USER, "FILE_KEY": absolute FILE to ARGS.  0 or an exit
 * status. */
static int
add_credentials (json_object *args, const char *user_key,
                 const char *file_key, const char *user, const char *file)
{
  CLEANUP_FREE char *abs = absolute_path (file);

  if (abs == NULL) {
    fprintf (stderr, "segmapctl: out of memory\n");
    return EXIT_SERVER_ERROR;
  }
  json_object_object_add (args, user_key, json_object_new_string (user));
  json_object_object_add (args, file_key, json_object_new_string (abs));
  return 0;
}

int
run_iscsi_host_chap (struct session *s, const struct command *cmd, int argc,
                     char **argv)
{
  json_object *args;
  int rc;

  if (check_name (cmd, "host", argv[0]) != 0)
    return EXIT_USAGE;
  if (argc == 2 ? strcmp (argv[1], "off") != 0 : argc != 3)
    return usage_error (cmd, "give USER SECRET-FILE, or off");
  args = name_args (argv[0]);
  if (argc == 3
      && (rc = add_credentials (args, "chap_user", "chap_secret_file",
                                argv[1], argv[2])) != 0) {
    json_object_put (args);
    return rc;
  }
  return call_quiet (s, "iscsi.host.chap", args);
}

static void
print_chap (json_object *r)
{
  const char *user = jstr (r, "chap_user");
  const char *mutual = jstr (r, "mutual_chap_user");

  if (user == NULL) {
    printf ("CHAP is off (initiators without a host CHAP secret log in "
            "without authentication)\n");
    return;
  }
  kv ("user:", "%s", user);
  kv ("secret file:", "%s", jstr (r, "chap_secret_file"));
  if (mutual) {
    kv ("mutual user:", "%s", mutual);
    kv ("mutual file:", "%s", jstr (r, "mutual_chap_secret_file"));
  }
  else
    kv ("mutual:", "off");
}

int
run_iscsi_chap (struct session *s, const struct command *cmd, int argc,
                char **argv)
{
  CTL_CLEANUP_PUT json_object *r = NULL;
  json_object *args = NULL;
  const char *request = "iscsi.chap.get";
  int rc;

  if (argc == 1 && strcmp (argv[0], "off") == 0) {
    args = json_object_new_object ();
    request = "iscsi.chap.set";
  }
  else if (argc == 1 || argc == 3)
    return usage_error (cmd, "give USER SECRET-FILE [MUTUAL-USER "
                        "MUTUAL-SECRET-FILE], or off");
  else if (argc >= 2) {
    args = json_object_new_object ();
    request = "iscsi.chap.set";
    if ((rc = add_credentials (args, "chap_user", "chap_secret_file",
                               argv[0], argv[1])) != 0
        || (argc == 4
            && (rc = add_credentials (args, "mutual_chap_user",
                                      "mutual_chap_secret_file",
                                      argv[2], argv[3])) != 0)) {
      json_object_put (args);
      return rc;
    }
  }
  rc = call (s, request, args, &r);
  if (rc != 0)
    return rc;
  if (s->json)
    print_json (r);
  else
    print_chap (r);
  return 0;
}
