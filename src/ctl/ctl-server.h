/* segmap: the control socket server (protocol in ctl-proto.h).
 *
 * The server owns the transport only: it listens on a unix socket,
 * frames requests, validates their envelope and hands each one to a
 * dispatch function supplied by the caller (the controller's command
 * handlers), then frames the answer.  It knows nothing about commands.
 *
 * Threads: one accept thread plus one thread per connection (at most
 * max_connections).  All of them run with every signal blocked and stop
 * promptly when ctl_server_stop wakes them, except that a dispatch call
 * already running is waited for.
 */
#ifndef SEGMAP_CTL_SERVER_H
#define SEGMAP_CTL_SERVER_H

#include <json.h>

/* Called from a server thread, possibly from several at once.  Returns a
 * result object (ownership passes to the server) or NULL with *error set
 * to a malloc'd message.  ARGS is always an object, owned by the server
 * (take a reference with json_object_get to keep anything from it). */
/* Commands whose names start with this are refused on the socket: the
 * dispatch function serves them to the process itself. */
#define CTL_INTERNAL_PREFIX "internal."

typedef json_object *(*ctl_dispatch_fn) (void *opaque, const char *cmd,
                                         json_object *args, char **error);

struct ctl_server;

/* Tunables; a zero field means the protocol default. */
struct ctl_server_opts {
  unsigned max_connections;     /* default CTL_MAX_CONNECTIONS */
  int idle_timeout_ms;          /* default CTL_IDLE_TIMEOUT_MS */
};

/* Bind and listen on PATH (rules as ctl_server_start) without serving:
 * clients queue in the backlog until ctl_server_serve.  No thread is
 * started, so the server may be bound before a fork and served in the
 * child.  NULL with sm_error on failure. */
struct ctl_server *ctl_server_bind (const char *path);
struct ctl_server *ctl_server_bind_opts (const char *path,
                                         const struct ctl_server_opts *opts);

/* Start serving a bound server in background threads.  0, or -1 with
 * sm_error (the server stays bound; ctl_server_stop frees it). */
int ctl_server_serve (struct ctl_server *s, ctl_dispatch_fn fn,
                      void *opaque);

/* Bind PATH (mode 0600; a stale socket file nobody listens on is
 * removed; a live one -> error "another segmap is using PATH"), start
 * serving in background threads.  Returns NULL with sm_error on failure. */
struct ctl_server *ctl_server_start (const char *path, ctl_dispatch_fn fn,
                                     void *opaque);

/* The same with explicit tunables (OPTS may be NULL). */
struct ctl_server *ctl_server_start_opts (const char *path,
                                          ctl_dispatch_fn fn, void *opaque,
                                          const struct ctl_server_opts *opts);

/* Stop accepting (or only close, if never served), wake and join all
 * threads, close, unlink the socket
 * (only if the file is still ours).  S may be NULL.  Must not be called
 * from inside a dispatch function. */
void ctl_server_stop (struct ctl_server *s);

#endif /* SEGMAP_CTL_SERVER_H */
