/* segmap: syntax and range checks for single configuration values.
 *
 * Pure functions, no I/O, no reporting: each answers NULL ("fine") or a
 * static reason (see config-internal.h).  The grammars, all ASCII:
 *
 *   address   A.B.C.D:PORT | [IPV6]:PORT           numeric, PORT 1-65535
 *   tcp       tcp://HOST:PORT                      HOST: DNS name, IPv4
 *                                                  or [IPV6]
 *   uri       iscsi://[USER[%PASSWORD]@]HOST[:PORT]/ISCSI-NAME/LUN
 *   iSCSI     iqn.YYYY-MM.AUTHORITY[:ANYTHING]     [a-z0-9.:-] (RFC 3720)
 *   name      eui.<16 hex> | naa.<16 or 32 hex>
 */
#include <config.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/limits.h"
#include "common/names.h"
#include "common/size.h"
#include "config/config-internal.h"
#include "config/config.h"
#include "proto/entry.h"

/* A container can hold at most ENTRY_MAX_UNIT + 1 units of 64 KiB: the
 * unit number of a map entry has 40 bits. */
#define CONTAINER_SIZE_MAX ((ENTRY_MAX_UNIT + 1) << ENTRY_UNIT_SHIFT)

#define ISCSI_NAME_MAX 223      /* RFC 3720 §3.2.6.1 */
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* Parse the decimal port in [S, S+LEN) into *PORT. */
static bool
parse_port (const char *s, size_t len, uint16_t *port)
{
  unsigned long v = 0;

  if (len == 0 || len > 5 || strspn (s, "0123456789") < len)
    return false;
  for (size_t i = 0; i < len; i++)
    v = v * 10 + (s[i] - '0');
  if (v == 0 || v > 65535)
    return false;
  *port = v;
  return true;
}

/* Split "HOST:PORT" or "[HOST]:PORT" into the host (brackets removed,
 * copied into HOST of CFG_ADDR_MAX bytes at most), whether it was
 * bracketed, and the port.  Returns a reason or NULL. */
static const char *
split_host_port (const char *str, char *host, size_t host_size,
                 bool *bracketed, uint16_t *port)
{
  const char *end, *colon;

  *bracketed = str[0] == '[';
  if (*bracketed) {
    end = strchr (str, ']');
    if (end == NULL)
      return "missing ']' after an IPv6 address";
    if (end[1] != ':')
      return "expected ':PORT' after ']'";
    colon = end + 1;
    str++;
  }
  else {
    colon = strrchr (str, ':');
    if (colon == NULL)
      return "missing ':PORT'";
    if (memchr (str, ':', colon - str) != NULL)
      return "an IPv6 address must be written in brackets: [ADDR]:PORT";
    end = colon;
  }
  if (end == str)
    return "missing address before ':PORT'";
  if ((size_t) (end - str) >= host_size)
    return "address too long";
  memcpy (host, str, end - str);
  host[end - str] = '\0';
  if (!parse_port (colon + 1, strlen (colon + 1), port))
    return "the port must be a number from 1 to 65535";
  return NULL;
}

const char *
cfg_parse_address (const char *str, char *addr, uint16_t *port)
{
  unsigned char bin[16];
  bool bracketed;
  const char *why;

  why = split_host_port (str, addr, CFG_ADDR_MAX, &bracketed, port);
  if (why)
    return why;
  if (bracketed) {
    if (inet_pton (AF_INET6, addr, bin) != 1)
      return "not a numeric IPv6 address in [ADDR]:PORT";
  }
  else if (inet_pton (AF_INET, addr, bin) != 1)
    return "expected a numeric address: A.B.C.D:PORT or [IPV6]:PORT";
  return NULL;
}

int
cfg_parse_bool (const char *str, bool *value)
{
  static const char *const yes[] = { "yes", "true", "on", "1" };
  static const char *const no[] = { "no", "false", "off", "0" };

  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp (str, yes[i]) == 0) {
      *value = true;
      return 0;
    }
    if (strcasecmp (str, no[i]) == 0) {
      *value = false;
      return 0;
    }
  }
  return -1;
}

/* A DNS name (or IPv4 literal): dot-separated labels of letters, digits
 * and '-', not starting or ending with '-'. */
static bool
valid_dns_name (const char *s)
{
  size_t total = strlen (s);

  if (total == 0 || total > DNS_NAME_MAX)
    return false;
  while (*s) {
    size_t len = strspn (s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
    if (len == 0 || len > DNS_LABEL_MAX || s[0] == '-' || s[len - 1] == '-')
      return false;
    s += len;
    if (*s == '.' && s[1] != '\0')
      s++;
    else if (*s != '\0')
      return false;
  }
  return true;
}

/* HOST as written in a URL: a DNS name, or an IPv6 literal if it was in
 * brackets. */
static bool
valid_url_host (const char *host, bool bracketed)
{
  unsigned char bin[16];

  if (bracketed)
    return inet_pton (AF_INET6, host, bin) == 1;
  return valid_dns_name (host);
}

static bool
all_hex (const char *s, size_t len)
{
  return strlen (s) == len && strspn (s, "0123456789abcdefABCDEF") == len;
}

/* "iqn.YYYY-MM." with a real month. */
static bool
valid_iqn_date (const char *s)
{
  return strncmp (s, "iqn.", 4) == 0
    && strspn (s + 4, "0123456789") == 4 && s[8] == '-'
    && strspn (s + 9, "0123456789") == 2 && s[11] == '.'
    && ((s[9] == '0' && s[10] >= '1') || (s[9] == '1' && s[10] <= '2'));
}

/* An iSCSI name, or a reason.  LEN is the part of S to check. */
static const char *
check_iscsi_name (const char *s, size_t len)
{
  char buf[ISCSI_NAME_MAX + 1];

  if (len > ISCSI_NAME_MAX)
    return "an iSCSI name has at most 223 characters";
  memcpy (buf, s, len);
  buf[len] = '\0';
  if (strncmp (buf, "eui.", 4) == 0)
    return all_hex (buf + 4, 16) ? NULL : "expected eui. and 16 hex digits";
  if (strncmp (buf, "naa.", 4) == 0)
    return all_hex (buf + 4, 16) || all_hex (buf + 4, 32) ? NULL
      : "expected naa. and 16 or 32 hex digits";
  if (!valid_iqn_date (buf))
    return "expected an iSCSI name: iqn.YYYY-MM.REVERSED.DOMAIN[:ID], "
      "eui.HEX16 or naa.HEX16";
  if (!isalnum ((unsigned char) buf[12])
      || strspn (buf + 12, "abcdefghijklmnopqrstuvwxyz0123456789.:-")
         != len - 12)
    return "an iqn. name holds lowercase letters, digits, '.', '-' and ':' "
      "after its date";
  return NULL;
}

const char *
cfg_check_name (const char *value)
{
  return sm_valid_name (value) ? NULL : "names are " SM_NAME_RULE;
}

const char *
cfg_check_name_list (const char *value)
{
  return sm_valid_name_list (value) ? NULL
    : "a container name, or several separated by commas (no spaces); "
      "names are " SM_NAME_RULE;
}

const char *
cfg_check_placement (const char *value)
{
  return strcmp (value, "fill") == 0 || strcmp (value, "spread") == 0
    ? NULL : "fill or spread";
}

const char *
cfg_check_initiator (const char *value)
{
  return check_iscsi_name (value, strlen (value));
}

const char *
cfg_check_target_prefix (const char *value)
{
  size_t len = strlen (value);
  const char *why;

  if (strncmp (value, "iqn.", 4) != 0)
    return "the prefix must be an iqn. name (targets are PREFIX:VDISK)";
  why = check_iscsi_name (value, len);
  if (why)
    return why;
  if (value[len - 1] == ':' || value[len - 1] == '.')
    return "the prefix must not end with ':' or '.'";
  return NULL;
}

const char *
cfg_check_portal (const char *value)
{
  char addr[CFG_ADDR_MAX];
  uint16_t port;

  return cfg_parse_address (value, addr, &port);
}

const char *
cfg_check_listen (const char *value)
{
  return cfg_check_portal (value);
}

const char *
cfg_check_agent_controller (const char *value)
{
  char host[DNS_NAME_MAX + 1];
  bool bracketed;
  uint16_t port;
  const char *why;

  if (strcmp (value, "local") == 0)
    return NULL;
  if (strncmp (value, "tcp://", 6) != 0)
    return "expected 'local' or tcp://HOST:PORT";
  why = split_host_port (value + 6, host, sizeof host, &bracketed, &port);
  if (why)
    return why;
  if (!valid_url_host (host, bracketed))
    return "HOST must be a DNS name, an IPv4 address or [IPV6]";
  return NULL;
}

/* The HOST[:PORT] authority of an iscsi:// URI, [S, S+LEN). */
static const char *
check_uri_authority (const char *s, size_t len)
{
  char buf[DNS_NAME_MAX + 8], host[DNS_NAME_MAX + 1];
  const char *at;
  bool bracketed;
  uint16_t port;

  at = memchr (s, '@', len);            /* USER[%PASSWORD]@ */
  if (at) {
    if (at == s)
      return "empty user name before '@'";
    len -= at + 1 - s;
    s = at + 1;
  }
  if (len == 0 || len >= sizeof buf - 6)
    return "expected iscsi://HOST[:PORT]/ISCSI-NAME/LUN";
  memcpy (buf, s, len);
  buf[len] = '\0';
  if ((s[0] == '[' && s[len - 1] == ']')
      || (s[0] != '[' && memchr (s, ':', len) == NULL))
    strcpy (buf + len, ":3260");       /* the port is optional */
  if (split_host_port (buf, host, sizeof host, &bracketed, &port) != NULL
      || !valid_url_host (host, bracketed))
    return "bad HOST[:PORT] in iscsi://HOST[:PORT]/ISCSI-NAME/LUN";
  return NULL;
}

const char *
cfg_check_iscsi_uri (const char *value)
{
  const char *s, *slash, *lun;
  const char *why;

  if (strncmp (value, "iscsi://", 8) != 0)
    return "expected iscsi://HOST[:PORT]/ISCSI-NAME/LUN";
  s = value + 8;
  slash = strchr (s, '/');
  lun = slash ? strrchr (slash + 1, '/') : NULL;
  if (lun == NULL)
    return "expected iscsi://HOST[:PORT]/ISCSI-NAME/LUN";
  why = check_uri_authority (s, slash - s);
  if (why)
    return why;
  why = check_iscsi_name (slash + 1, lun - slash - 1);
  if (why)
    return why;
  lun++;
  if (*lun == '\0' || strlen (lun) > 5
      || strspn (lun, "0123456789") != strlen (lun) || atoi (lun) > 65535)
    return "the LUN must be a number from 0 to 65535";
  return NULL;
}

const char *
cfg_check_segment_size (uint64_t size)
{
  if (!sm_is_power_of_2 (size)
      || size < SM_SEGMENT_SIZE_MIN || size > SM_SEGMENT_SIZE_MAX)
    return "the segment size must be a power of two from 64K to 64M";
  return NULL;
}

const char *
cfg_check_vdisk_size (uint64_t size)
{
  if (size == 0)
    return "a vdisk cannot be empty";
  if (size % SM_SECTOR_SIZE != 0)
    return "a vdisk size must be a multiple of 512 bytes";
  if (size > SM_VDISK_SIZE_MAX)
    return "a vdisk can be at most 8P";
  return NULL;
}

const char *
cfg_check_container_size (uint64_t size)
{
  if (size == 0)
    return "a container cannot be empty (leave size out to use the "
      "existing file or device size)";
  if (size % SM_UNIT_SIZE != 0)
    return "a container size must be a multiple of 64K";
  if (size > CONTAINER_SIZE_MAX)
    return "a container can be at most 64P";
  return NULL;
}

const char *
cfg_check_memory_limit (uint64_t size)
{
  if (size < CFG_MIN_MEMORY_LIMIT)
    return "the agent needs at least 1M";
  return NULL;
}
