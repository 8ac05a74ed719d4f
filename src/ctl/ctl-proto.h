/* segmap: the control socket protocol (segmapctl <-> the running segmap).
 *
 * Transport: a unix stream socket, by default <state-dir>/segmap.sock,
 * created with mode 0600.  The server also checks the peer's credentials
 * (SO_PEERCRED): only our own uid and root may talk to it.
 *
 * Framing: newline-delimited JSON.  Every request is one JSON object on
 * one line (at most CTL_MAX_LINE bytes, not counting the '\n'; a '\r'
 * before the '\n' is tolerated), and every request gets exactly one
 * response line, in order.  A connection may carry any number of
 * requests in sequence; the server never sends anything unsolicited
 * except one error line just before it refuses or drops a connection.
 *
 *   request:  {"v":1,"cmd":"vdisk.create","args":{"name":"d1","size":4096}}
 *   success:  {"ok":true,"result":<any JSON value>}
 *   failure:  {"ok":false,"error":"<human-readable message>"}
 *
 * Request members:
 *   "v"     integer, must be CTL_PROTO_VERSION (1).
 *   "cmd"   non-empty string, "<group>.<verb>" or a bare verb
 *           ("status", "check", "container.list", ...).
 *   "args"  object; optional, a missing "args" means {}.
 * Other members are ignored (room for later versions).  Sizes are JSON
 * integers in bytes.
 *
 * Malformed requests (not JSON, not an object, no string "cmd", a wrong
 * "v", "args" not an object, a NUL byte in the line, invalid UTF-8) get
 * a failure response and the connection stays usable.  A line longer
 * than CTL_MAX_LINE gets a failure response and the connection is
 * closed, since the server cannot find where the next request starts.
 *
 * Connection lifetime: at most CTL_MAX_CONNECTIONS at once (a connection
 * beyond that gets {"ok":false,"error":"too many connections ..."} and is
 * closed); a connection idle (nothing received, nothing sent) for
 * CTL_IDLE_TIMEOUT_MS is closed silently; a peer of another uid gets
 * {"ok":false,"error":"permission denied ..."} and is closed.
 *
 * This file also holds the encoding helpers shared by the server
 * (ctl-server.c) and the client (src/tools/ctl-client.c), so both sides
 * agree on exactly one definition of a well-formed line.
 */
#ifndef SEGMAP_CTL_PROTO_H
#define SEGMAP_CTL_PROTO_H

#include <stddef.h>

#include <json.h>

#define CTL_PROTO_VERSION 1
#define CTL_MAX_LINE (1u << 20)                 /* 1 MiB per line */
#define CTL_MAX_CONNECTIONS 32
#define CTL_IDLE_TIMEOUT_MS (5 * 60 * 1000)     /* 5 minutes */

/* Serialisation used for every line on the wire: compact, no newlines. */
#define CTL_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Drop a json-c reference when the variable goes out of scope. */
static inline void
ctl_cleanup_json_put (json_object **obj)
{
  json_object_put (*obj);
}
#define CTL_CLEANUP_PUT __attribute__ ((cleanup (ctl_cleanup_json_put)))

/* A parsed request.  cmd and args point into root, which owns them. */
struct ctl_request {
  json_object *root;
  const char *cmd;
  json_object *args;            /* never NULL after a successful parse */
};

/* Parse one request line of LEN bytes (without the '\n'); LINE[LEN] must
 * be '\0'.  Returns 0 and fills REQ (free it with ctl_request_free), or
 * -1 with *ERROR set to a malloc'd message for the failure response. */
int ctl_request_parse (const char *line, size_t len,
                       struct ctl_request *req, char **error);

/* Release what ctl_request_parse allocated. */
void ctl_request_free (struct ctl_request *req);

/* Build a request object; takes ownership of ARGS (NULL means {}).
 * Returns NULL with sm_error on allocation failure. */
json_object *ctl_request_new (const char *cmd, json_object *args);

/* Build a response object: with ERROR == NULL a success carrying RESULT
 * (ownership passes; NULL stands for JSON null), else a failure carrying
 * ERROR (RESULT must then be NULL).  Returns NULL on allocation failure. */
json_object *ctl_reply_new (json_object *result, const char *error);

/* Parse one response line (LINE[LEN] == '\0').  Returns 0 with *RESULT
 * set (caller owns it; may be NULL for JSON null), 1 with *ERROR set to
 * the server's malloc'd message, or -1 with sm_error if the line is not
 * a well-formed response. */
int ctl_reply_parse (const char *line, size_t len,
                     json_object **result, char **error);

#endif /* SEGMAP_CTL_PROTO_H */
