/* segmap: control protocol encoding and validation (see ctl-proto.h).
 *
 * Pure functions: no I/O, no globals.  Parsing is total: any byte
 * string either yields a well-formed request/response or an error
 * message, never a crash.  json-c's tokener limits nesting depth (32),
 * so hostile input cannot exhaust the stack.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "ctl/ctl-proto.h"

#ifndef JSON_TOKENER_VALIDATE_UTF8
#define JSON_TOKENER_VALIDATE_UTF8 0
#endif

/* malloc'd copy of a printf-formatted message; NULL only if out of memory. */
static char * __attribute__ ((format (printf, 1, 2)))
msg (const char *fmt, ...)
{
  va_list args;
  char *s;
  int r;

  va_start (args, fmt);
  r = vasprintf (&s, fmt, args);
  va_end (args);
  return r < 0 ? NULL : s;
}

/* Parse a whole line as one JSON value.  LINE[LEN] is '\0', which ends
 * a top-level number for the tokener.  Trailing whitespace is fine,
 * anything else after the value is an error. */
static json_object *
parse_json (const char *line, size_t len, char **error)
{
  json_tokener *tok;
  json_object *obj;
  enum json_tokener_error err;
  size_t end;

  if (memchr (line, '\0', len) != NULL) {
    *error = msg ("invalid request: the line contains a NUL byte");
    return NULL;
  }
  tok = json_tokener_new ();
  if (tok == NULL) {
    *error = msg ("out of memory");
    return NULL;
  }
  json_tokener_set_flags (tok,
                          JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  obj = json_tokener_parse_ex (tok, line, len + 1);
  err = json_tokener_get_error (tok);
  end = json_tokener_get_parse_end (tok);
  json_tokener_free (tok);
  if (err != json_tokener_success) {
    json_object_put (obj);
    *error = msg ("invalid JSON: %s at byte %zu",
                  json_tokener_error_desc (err), end);
    return NULL;
  }
  if (obj == NULL)              /* the literal null */
    *error = msg ("invalid request: not a JSON object");
  return obj;
}

/* Check "v": present, an integer, equal to CTL_PROTO_VERSION. */
static int
check_version (json_object *root, char **error)
{
  json_object *v;

  if (!json_object_object_get_ex (root, "v", &v) || v == NULL) {
    *error = msg ("invalid request: missing protocol version \"v\" "
                  "(this server speaks %d)", CTL_PROTO_VERSION);
    return -1;
  }
  if (!json_object_is_type (v, json_type_int) ||
      json_object_get_int64 (v) != CTL_PROTO_VERSION) {
    *error = msg ("unsupported protocol version %s (this server speaks %d)",
                  json_object_to_json_string_ext (v, CTL_JSON_FLAGS),
                  CTL_PROTO_VERSION);
    return -1;
  }
  return 0;
}

/* Find "args", or add an empty object when it is missing. */
static int
get_args (json_object *root, json_object **args, char **error)
{
  json_object *a;

  if (!json_object_object_get_ex (root, "args", &a)) {
    a = json_object_new_object ();
    if (a == NULL || json_object_object_add (root, "args", a) != 0) {
      *error = msg ("out of memory");
      return -1;
    }
  }
  if (!json_object_is_type (a, json_type_object)) {
    *error = msg ("invalid request: \"args\" must be an object");
    return -1;
  }
  *args = a;
  return 0;
}

int
ctl_request_parse (const char *line, size_t len,
                   struct ctl_request *req, char **error)
{
  json_object *root, *cmd;

  memset (req, 0, sizeof *req);
  *error = NULL;
  root = parse_json (line, len, error);
  if (root == NULL)
    return -1;
  req->root = root;
  if (!json_object_is_type (root, json_type_object)) {
    *error = msg ("invalid request: not a JSON object");
    goto fail;
  }
  if (check_version (root, error) == -1)
    goto fail;
  if (!json_object_object_get_ex (root, "cmd", &cmd) ||
      !json_object_is_type (cmd, json_type_string) ||
      json_object_get_string_len (cmd) == 0) {
    *error = msg ("invalid request: \"cmd\" must be a non-empty string");
    goto fail;
  }
  if (get_args (root, &req->args, error) == -1)
    goto fail;
  req->cmd = json_object_get_string (cmd);
  return 0;

 fail:
  if (*error == NULL)
    *error = msg ("out of memory");
  ctl_request_free (req);
  return -1;
}

void
ctl_request_free (struct ctl_request *req)
{
  json_object_put (req->root);
  memset (req, 0, sizeof *req);
}

json_object *
ctl_request_new (const char *cmd, json_object *args)
{
  json_object *req = json_object_new_object ();
  json_object *c = json_object_new_string (cmd);
  json_object *v = json_object_new_int (CTL_PROTO_VERSION);

  if (args == NULL)
    args = json_object_new_object ();
  if (req == NULL || c == NULL || v == NULL || args == NULL) {
    json_object_put (req);
    json_object_put (c);
    json_object_put (v);
    json_object_put (args);
    sm_error ("out of memory");
    return NULL;
  }
  json_object_object_add (req, "v", v);
  json_object_object_add (req, "cmd", c);
  json_object_object_add (req, "args", args);
  return req;
}

json_object *
ctl_reply_new (json_object *result, const char *error)
{
  json_object *reply = json_object_new_object ();
  json_object *ok = json_object_new_boolean (error == NULL);
  json_object *e = error ? json_object_new_string (error) : NULL;

  if (reply == NULL || ok == NULL || (error && e == NULL)) {
    json_object_put (reply);
    json_object_put (ok);
    json_object_put (e);
    json_object_put (result);
    return NULL;
  }
  json_object_object_add (reply, "ok", ok);
  if (error)
    json_object_object_add (reply, "error", e);
  else
    json_object_object_add (reply, "result", result);
  return reply;
}

/* Take the server's error message out of a failure response. */
static int
reply_error (json_object *root, char **error)
{
  json_object *e;

  if (!json_object_object_get_ex (root, "error", &e) ||
      !json_object_is_type (e, json_type_string)) {
    sm_error ("malformed response from the server: no error message");
    return -1;
  }
  *error = strdup (json_object_get_string (e));
  if (*error == NULL) {
    sm_error ("strdup: %m");
    return -1;
  }
  return 1;
}

int
ctl_reply_parse (const char *line, size_t len,
                 json_object **result, char **error)
{
  CTL_CLEANUP_PUT json_object *root = NULL;
  json_object *ok, *r = NULL;
  char *perr = NULL;

  *result = NULL;
  *error = NULL;
  root = parse_json (line, len, &perr);
  if (root == NULL || !json_object_is_type (root, json_type_object) ||
      !json_object_object_get_ex (root, "ok", &ok) ||
      !json_object_is_type (ok, json_type_boolean)) {
    sm_error ("malformed response from the server: %s",
              perr ? perr : "not an object with a boolean \"ok\"");
    free (perr);
    return -1;
  }
  if (!json_object_get_boolean (ok))
    return reply_error (root, error);
  json_object_object_get_ex (root, "result", &r);
  *result = json_object_get (r);
  return 0;
}
