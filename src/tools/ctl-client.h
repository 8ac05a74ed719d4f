/* segmapctl: the client side of the control protocol (ctl-proto.h).
 *
 * A blocking connection that sends one request line and reads one
 * response line at a time.  Errors follow the libsegmap convention
 * (sm_error, then -1/NULL); a failure response from the server is not
 * an error of the client and is returned separately.
 */
#ifndef SEGMAPCTL_CTL_CLIENT_H
#define SEGMAPCTL_CTL_CLIENT_H

#include <json.h>

struct ctl_client;

/* Connect to the control socket PATH.  Returns NULL with an sm_error
 * naming PATH and the reason (with a hint when segmap seems down). */
struct ctl_client *ctl_client_connect (const char *path);

/* Send CMD with ARGS (ownership taken; NULL means {}) and wait for the
 * response.  Returns 0 with *RESULT (caller owns it, may be NULL for
 * JSON null), 1 with *ERROR set to the server's malloc'd message, or -1
 * with sm_error when the connection failed or the response was not
 * well formed. */
int ctl_client_call (struct ctl_client *c, const char *cmd, json_object *args,
                     json_object **result, char **error);

/* Close the connection and free C (NULL is fine). */
void ctl_client_close (struct ctl_client *c);

#endif /* SEGMAPCTL_CTL_CLIENT_H */
