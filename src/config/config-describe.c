/* segmap: the one line a server logs when it is ready.
 *
 * It names what an administrator needs to reach the server: the state
 * directory, the control socket, the NBD endpoint and the iSCSI
 * portals.  The NBD listening address belongs to nbdkit (its -p, -i,
 * -U options) and the plugin API does not tell it, so the line says so
 * instead of guessing.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "config/config.h"

/* Append STR to the malloc'd string *OUT (of length *LEN). */
static int
append (char **out, size_t *len, const char *str)
{
  size_t n = strlen (str);
  char *p = realloc (*out, *len + n + 1);

  if (p == NULL)
    return -1;
  memcpy (p + *len, str, n + 1);
  *out = p;
  *len += n;
  return 0;
}

char *
cfg_ready_line (const struct segmap_config *cfg)
{
  char *line = NULL;
  size_t len = 0;
  int r;

  r = append (&line, &len, "segmap: ready: state directory ");
  r |= append (&line, &len, cfg->state_dir);
  r |= append (&line, &len, ", control socket ");
  r |= append (&line, &len, cfg->socket);
  r |= append (&line, &len, ", NBD through nbdkit (its -p/-i/-U options)"
               ", iSCSI ");
  if (!cfg->iscsi_enabled || cfg->n_portals == 0)
    r |= append (&line, &len, "off");
  for (size_t i = 0; cfg->iscsi_enabled && i < cfg->n_portals; i++) {
    r |= append (&line, &len, i ? ", " : "on ");
    r |= append (&line, &len, cfg->portals[i]);
  }
  if (r != 0) {
    sm_error ("out of memory");
    free (line);
    return NULL;
  }
  return line;
}
