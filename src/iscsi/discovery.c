/* segmap: SendTargets (RFC 7143 §13.3, Appendix C) and target names.
 *
 * Every vdisk is one target, PREFIX:VDISK.  An initiator only ever
 * learns the targets hooks->allowed lets it log in to; for each it gets
 * one TargetAddress per portal, all in portal group 1
 * ("ADDR:PORT,1"; IPv6 in brackets).  A portal bound to a wildcard
 * address (0.0.0.0, ::) is reported with the address the initiator
 * reached us on, which is the one it can use again.
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "iscsi/target-internal.h"

struct find_vdisk {
  const char *want;
  bool found;
};

static int
find_vdisk_cb (void *opaque, const char *vdisk)
{
  struct find_vdisk *f = opaque;

  if (strcmp (vdisk, f->want) == 0)
    f->found = true;
  return 0;
}

bool
discovery_vdisk_of (const struct login_env *env, const char *name,
                    char *vdisk, size_t size)
{
  size_t plen = strlen (env->prefix);
  struct find_vdisk f;

  if (strncmp (name, env->prefix, plen) != 0 || name[plen] != ':'
      || name[plen + 1] == '\0' || strlen (&name[plen + 1]) >= size)
    return false;
  f.want = &name[plen + 1];
  f.found = false;
  if (env->hooks->foreach_vdisk (env->h, find_vdisk_cb, &f) == -1)
    return false;
  if (!f.found)
    return false;
  snprintf (vdisk, size, "%s", f.want);
  return true;
}

static bool
is_wildcard (const struct sockaddr_storage *ss)
{
  if (ss->ss_family == AF_INET)
    return ((const struct sockaddr_in *) ss)->sin_addr.s_addr
      == htonl (INADDR_ANY);
  if (ss->ss_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED
      (&((const struct sockaddr_in6 *) ss)->sin6_addr);
  return false;
}

static uint16_t
port_of (const struct sockaddr_storage *ss)
{
  if (ss->ss_family == AF_INET)
    return ntohs (((const struct sockaddr_in *) ss)->sin_port);
  return ntohs (((const struct sockaddr_in6 *) ss)->sin6_port);
}

static void
set_port (struct sockaddr_storage *ss, uint16_t port)
{
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *) ss)->sin_port = htons (port);
  else
    ((struct sockaddr_in6 *) ss)->sin6_port = htons (port);
}

struct send_targets {
  const struct login_env *env;
  const char *initiator;
  const char *only;             /* a vdisk name, or NULL for all */
  const char *const *portals;
  size_t n_portals;
  const struct sockaddr_storage *local;
  struct iscsi_text_builder *resp;
};

static int
add_addresses (struct send_targets *st)
{
  size_t i;

  for (i = 0; i < st->n_portals; i++) {
    struct sockaddr_storage ss;
    socklen_t len;
    char addr[80];

    if (portal_parse (st->portals[i], &ss, &len) == -1)
      return -1;
    if (is_wildcard (&ss) && st->local != NULL) {
      uint16_t port = port_of (&ss);

      ss = *st->local;
      set_port (&ss, port);
    }
    sockaddr_format (&ss, addr, sizeof addr);
    if (iscsi_text_addf (st->resp, "TargetAddress", "%s,%u", addr,
                         ISCSI_PORTAL_TAG) == -1)
      return -1;
  }
  return 0;
}

static int
add_target (void *opaque, const char *vdisk)
{
  struct send_targets *st = opaque;

  if (st->only != NULL && strcmp (st->only, vdisk) != 0)
    return 0;
  if (!st->env->hooks->allowed (st->env->h, st->initiator, vdisk))
    return 0;
  if (iscsi_text_addf (st->resp, "TargetName", "%s:%s", st->env->prefix,
                       vdisk) == -1)
    return -1;
  return add_addresses (st);
}

int
discovery_send_targets (const struct login_env *env, const char *initiator,
                        const char *value, const char *current,
                        const char *const *portals, size_t n_portals,
                        const struct sockaddr_storage *local,
                        struct iscsi_text_builder *resp)
{
  struct send_targets st = {
    .env = env, .initiator = initiator, .portals = portals,
    .n_portals = n_portals, .local = local, .resp = resp,
  };
  char vdisk[ISCSI_NAME_MAX + 1];

  if (strcmp (value, "All") != 0) {
    const char *name = value[0] != '\0' ? value : current;

    /* An unknown name answers nothing, like a forbidden one. */
    if (name == NULL || !discovery_vdisk_of (env, name, vdisk, sizeof vdisk))
      return 0;
    st.only = vdisk;
  }
  return env->hooks->foreach_vdisk (env->h, add_target, &st);
}
