/* segmap: loading segmap.conf (the grammar is in segmap.conf(5)).
 *
 * Who does what.  libinih splits "key = value" lines and trims them;
 * everything else about the grammar is decided here, in the line reader
 * handed to ini_parse_stream, because inih as Debian builds it cannot
 * tell the handler the line number (no INI_HANDLER_LINENO), cuts
 * section names to 49 bytes, never reports an empty section, takes an
 * indented line for the continuation of the previous value and splits
 * lines longer than its 200-byte buffer without a word.  So the reader:
 *
 *   - reads whole lines and counts them.  inih calls the handler for a
 *     line before it asks for the next one, so while the handler runs,
 *     P->lineno is the line of the pair it was given;
 *   - rejects NUL bytes and lines longer than CFG_MAX_LINE (keeping
 *     only what fits in P->line: a huge line costs no memory);
 *   - drops a UTF-8 byte order mark, comments ('#' or ';' at the start
 *     of the line or after whitespace) and the whitespace around the
 *     line: indentation is only cosmetic and nothing ever continues on
 *     the next line;
 *   - parses "[KIND NAME]" headers itself;
 *   - hands inih nothing but "key = value" lines.
 *
 * The first error ends the parse: it is reported once, with sm_error,
 * as "FILE:LINE: message", P->failed is set and the reader returns EOF.
 *
 * Checks happen at three moments:
 *   value      syntax and range, when the key is read (key tables below);
 *   section    required and mutually exclusive keys, when the next header
 *              or the end of the file closes the section;
 *   file       references (vdisk -> container, host -> vdisk) once every
 *              section is known, so a section may name one declared
 *              further down.
 * Duplicate keys are caught by KEY_LINE (per section); duplicate
 * sections by SINGLETON_LINE or by looking the name up.
 *
 * Relative paths are resolved against the directory of the file (P->dir,
 * absolute) as soon as they are read.
 */
#include <config.h>

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "common/size.h"
#include "config/config-internal.h"
#include "config/config.h"

enum section_kind {
  SEC_NONE, SEC_CONTROLLER, SEC_AGENT, SEC_ISCSI,
  SEC_CONTAINER, SEC_VDISK, SEC_HOST,
  NR_SECTIONS
};

#define MAX_KEYS 8              /* at least the keys of the largest section */

struct parser {
  struct segmap_config *cfg;
  const char *file;             /* as the caller spelled it, for messages */
  char *dir;                    /* absolute directory of FILE */
  FILE *fp;
  /* The line being read: room for CFG_MAX_LINE characters, a byte
   * order mark, a '\r' and the NUL. */
  char line[CFG_MAX_LINE + 5];
  unsigned lineno;              /* of the line last read */
  bool failed;                  /* an error was reported: stop */

  /* The section being read. */
  enum section_kind kind;
  size_t index;                 /* named sections: index in its array */
  unsigned section_line;
  char header[16 + SM_NAME_MAX]; /* "vdisk NAME", for messages */
  unsigned key_line[MAX_KEYS];  /* line of each key seen, 0 if not yet */

  unsigned singleton_line[NR_SECTIONS]; /* [controller], [agent], [iscsi] */
};

struct key_def;
typedef int (*key_setter) (struct parser *p, const struct key_def *k,
                           const char *value);

struct key_def {
  const char *name;
  key_setter set;
  size_t offset;                /* of the field in the section's object */
  bool repeatable;
  const char *(*check_str) (const char *value);   /* for set_string */
  const char *(*check_size) (uint64_t value);     /* for set_size */
};

struct section_def {
  const char *name;
  bool named;                   /* [KIND NAME] rather than [KIND] */
  const struct key_def *keys;
  size_t n_keys;
  int (*open) (struct parser *p, const char *name);  /* named sections */
  int (*close) (struct parser *p);                   /* section checks */
};

static const struct section_def sections[NR_SECTIONS];

static int parse_error (struct parser *p, unsigned line, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Report "FILE:LINE: message" and stop the parse.  Returns -1. */
static int
parse_error (struct parser *p, unsigned line, const char *fmt, ...)
{
  CLEANUP_FREE char *msg = NULL;
  va_list args;

  va_start (args, fmt);
  if (vasprintf (&msg, fmt, args) == -1)
    msg = NULL;
  va_end (args);
  sm_error ("%s:%u: %s", p->file, line, msg ? msg : fmt);
  p->failed = true;
  return -1;
}

static int
no_memory (struct parser *p)
{
  return parse_error (p, p->lineno, "out of memory");
}

/* The object the current section fills in. */
static void *
section_object (struct parser *p)
{
  switch (p->kind) {
  case SEC_CONTAINER: return &p->cfg->containers[p->index];
  case SEC_VDISK: return &p->cfg->vdisks[p->index];
  case SEC_HOST: return &p->cfg->hosts[p->index];
  default: return p->cfg;
  }
}

#define FIELD(p, k, type) ((type *) ((char *) section_object (p) + (k)->offset))

/* Line of key NAME in the current section, 0 if it was not given. */
static unsigned
key_line_of (const struct parser *p, const char *name)
{
  const struct section_def *s = &sections[p->kind];

  for (size_t i = 0; i < s->n_keys; i++)
    if (strcmp (s->keys[i].name, name) == 0)
      return p->key_line[i];
  abort ();                     /* a typo in this file */
}

static int
invalid_value (struct parser *p, const struct key_def *k, const char *value,
               const char *why)
{
  return parse_error (p, p->lineno, "invalid %s '%s': %s",
                      k->name, value, why);
}

/*----------------------------------------------------------------------
 * Setters: store one value into the current section's object.
 */

static int
set_string (struct parser *p, const struct key_def *k, const char *value)
{
  char **field = FIELD (p, k, char *);
  const char *why = k->check_str ? k->check_str (value) : NULL;

  if (why)
    return invalid_value (p, k, value, why);
  free (*field);
  *field = strdup (value);
  return *field ? 0 : no_memory (p);
}

/* A file name: relative to the directory of the configuration file. */
static int
set_path (struct parser *p, const struct key_def *k, const char *value)
{
  char **field = FIELD (p, k, char *);

  free (*field);
  *field = cfg_join_path (p->dir, value);
  return *field ? 0 : no_memory (p);
}

static int
set_size (struct parser *p, const struct key_def *k, const char *value)
{
  uint64_t size;
  const char *why;

  /* sm_parse_size reports its own message first; ours adds the place. */
  if (sm_parse_size (value, &size) == -1)
    return invalid_value (p, k, value, errno == ERANGE ? "too large"
                          : "expected a size such as 4096, 512K, 64M or 1G");
  why = k->check_size (size);
  if (why)
    return invalid_value (p, k, value, why);
  *FIELD (p, k, uint64_t) = size;
  return 0;
}

static int
set_bool (struct parser *p, const struct key_def *k, const char *value)
{
  if (cfg_parse_bool (value, FIELD (p, k, bool)) == -1)
    return invalid_value (p, k, value, "expected yes or no");
  return 0;
}

/* Append a copy of VALUE to the string vector *V of *N elements. */
static int
append_string (char ***v, size_t *n, const char *value)
{
  char **nv = cfg_grow_array (*v, *n, sizeof **v);

  if (nv == NULL)
    return -1;
  *v = nv;
  nv[*n] = strdup (value);
  if (nv[*n] == NULL)
    return -1;
  (*n)++;
  return 0;
}

/* Binary form of a valid address, to compare two spellings. */
static bool
same_address (const char *a, const char *b)
{
  char aa[CFG_ADDR_MAX], ab[CFG_ADDR_MAX];
  unsigned char ba[16] = { 0 }, bb[16] = { 0 };
  uint16_t pa, pb;

  if (cfg_parse_address (a, aa, &pa) || cfg_parse_address (b, ab, &pb))
    return false;
  if ((strchr (aa, ':') == NULL) != (strchr (ab, ':') == NULL) || pa != pb)
    return false;
  inet_pton (strchr (aa, ':') ? AF_INET6 : AF_INET, aa, ba);
  inet_pton (strchr (ab, ':') ? AF_INET6 : AF_INET, ab, bb);
  return memcmp (ba, bb, sizeof ba) == 0;
}

static int
add_portal (struct parser *p, const struct key_def *k, const char *value)
{
  struct segmap_config *cfg = p->cfg;
  const char *why = cfg_check_portal (value);

  if (why)
    return invalid_value (p, k, value, why);
  for (size_t i = 0; i < cfg->n_portals; i++)
    if (same_address (cfg->portals[i], value))
      return parse_error (p, p->lineno, "portal %s is listed twice "
                          "(also as %s)", value, cfg->portals[i]);
  if (append_string (&cfg->portals, &cfg->n_portals, value) == -1)
    return no_memory (p);
  return 0;
}

static int
add_host_vdisk (struct parser *p, const struct key_def *k, const char *value)
{
  struct cfg_host *h = section_object (p);
  unsigned *lines;

  if (!sm_valid_export_name (value))
    return invalid_value (p, k, value, "names are a vdisk's or a "
                          "snapshot's, VDISK@SNAP: " SM_NAME_RULE);
  for (size_t i = 0; i < h->n_vdisks; i++)
    if (strcmp (h->vdisks[i], value) == 0)
      return parse_error (p, p->lineno, "vdisk '%s' is already listed for "
                          "host '%s' (line %u)", value, h->name,
                          h->vdisk_lines[i]);
  lines = cfg_grow_array (h->vdisk_lines, h->n_vdisks, sizeof *lines);
  if (lines == NULL)
    return no_memory (p);
  h->vdisk_lines = lines;
  lines[h->n_vdisks] = p->lineno;
  if (append_string (&h->vdisks, &h->n_vdisks, value) == -1)
    return no_memory (p);
  return 0;
}

/*----------------------------------------------------------------------
 * Opening named sections: one object per [KIND NAME], names unique per
 * kind.
 */

static int
duplicate_section (struct parser *p, const char *kind, const char *name,
                   unsigned first)
{
  return parse_error (p, p->lineno, "duplicate section [%s %s] "
                      "(first at line %u)", kind, name, first);
}

static int
open_container (struct parser *p, const char *name)
{
  struct segmap_config *cfg = p->cfg;
  const struct cfg_container *old = cfg_find_container (cfg, name);
  struct cfg_container *c;

  if (old)
    return duplicate_section (p, "container", name, old->line);
  if (cfg->n_containers >= SM_MAX_CONTAINERS)
    return parse_error (p, p->lineno, "too many containers (at most %d)",
                        SM_MAX_CONTAINERS);
  c = cfg_grow_array (cfg->containers, cfg->n_containers, sizeof *c);
  if (c == NULL)
    return no_memory (p);
  cfg->containers = c;
  p->index = cfg->n_containers++;
  c[p->index].line = p->lineno;
  c[p->index].name = strdup (name);
  return c[p->index].name ? 0 : no_memory (p);
}

static int
open_vdisk (struct parser *p, const char *name)
{
  struct segmap_config *cfg = p->cfg;
  const struct cfg_vdisk *old = cfg_find_vdisk (cfg, name);
  struct cfg_vdisk *v;

  if (old)
    return duplicate_section (p, "vdisk", name, old->line);
  v = cfg_grow_array (cfg->vdisks, cfg->n_vdisks, sizeof *v);
  if (v == NULL)
    return no_memory (p);
  cfg->vdisks = v;
  p->index = cfg->n_vdisks++;
  v[p->index].line = p->lineno;
  v[p->index].name = strdup (name);
  return v[p->index].name ? 0 : no_memory (p);
}

static int
open_host (struct parser *p, const char *name)
{
  struct segmap_config *cfg = p->cfg;
  const struct cfg_host *old = cfg_find_host (cfg, name);
  struct cfg_host *h;

  if (old)
    return duplicate_section (p, "host", name, old->line);
  h = cfg_grow_array (cfg->hosts, cfg->n_hosts, sizeof *h);
  if (h == NULL)
    return no_memory (p);
  cfg->hosts = h;
  p->index = cfg->n_hosts++;
  h[p->index].line = p->lineno;
  h[p->index].name = strdup (name);
  return h[p->index].name ? 0 : no_memory (p);
}

/*----------------------------------------------------------------------
 * Closing sections: checks that involve several keys of one section.
 */

/* Keys the grammar knows (their values are checked) but this version
 * does not build yet: refused rather than silently ignored.  Checked
 * when the section closes, after the checks of the values. */
#define NOT_BUILT_AGENTS "remote agents are not built in this version"

static int
not_supported_yet (struct parser *p, unsigned line, const char *what,
                   const char *why)
{
  return parse_error (p, line, "%s is not supported yet: %s", what, why);
}

static int
close_controller (struct parser *p)
{
  unsigned listen = key_line_of (p, "listen");
  unsigned psk = key_line_of (p, "psk-file");

  if (listen && !psk)
    return parse_error (p, listen, "listen needs psk-file in [controller]: "
                        "remote agents must authenticate");
  if (listen)
    return not_supported_yet (p, listen, "listen", NOT_BUILT_AGENTS);
  if (psk)
    return not_supported_yet (p, psk, "psk-file", NOT_BUILT_AGENTS);
  return 0;
}

static int
close_agent (struct parser *p)
{
  unsigned controller = key_line_of (p, "controller");

  if (controller && strcmp (p->cfg->agent_controller, "local") != 0
      && !key_line_of (p, "psk-file"))
    return parse_error (p, controller, "controller = %s needs psk-file "
                        "in [agent]: the agent must authenticate",
                        p->cfg->agent_controller);
  if (controller && strcmp (p->cfg->agent_controller, "local") != 0)
    return parse_error (p, controller, "controller = %s is not supported "
                        "yet: %s (use controller = local)",
                        p->cfg->agent_controller, NOT_BUILT_AGENTS);
  if (key_line_of (p, "psk-file"))
    return not_supported_yet (p, key_line_of (p, "psk-file"), "psk-file",
                              NOT_BUILT_AGENTS);
  return 0;
}

/* USER_KEY and SECRET_KEY come in pairs. */
static int
check_key_pair (struct parser *p, const char *user_key, const char *secret_key)
{
  unsigned user = key_line_of (p, user_key);
  unsigned secret = key_line_of (p, secret_key);

  if (user && !secret)
    return parse_error (p, user, "%s needs %s", user_key, secret_key);
  if (secret && !user)
    return parse_error (p, secret, "%s needs %s", secret_key, user_key);
  return 0;
}

static int
close_iscsi (struct parser *p)
{
  if (check_key_pair (p, "chap-user", "chap-secret-file") == -1
      || check_key_pair (p, "mutual-chap-user",
                         "mutual-chap-secret-file") == -1)
    return -1;
  if (key_line_of (p, "mutual-chap-user") && !key_line_of (p, "chap-user"))
    return parse_error (p, key_line_of (p, "mutual-chap-user"),
                        "mutual-chap-user needs chap-user: the target "
                        "authenticates itself only to initiators that "
                        "authenticate first");
  return 0;
}

/* Two containers on the same file or LUN would hand out the same bytes
 * twice.  Compared as written (after making them absolute): symbolic
 * links and device aliases are not resolved here. */
static int
check_container_unique (struct parser *p, const struct cfg_container *c,
                        unsigned line)
{
  for (size_t i = 0; i < p->index; i++) {
    const struct cfg_container *o = &p->cfg->containers[i];
    if ((c->path && o->path && strcmp (c->path, o->path) == 0)
        || (c->uri && o->uri && strcmp (c->uri, o->uri) == 0))
      return parse_error (p, line, "container '%s' uses the same %s as "
                          "container '%s' (line %u)", c->name,
                          c->path ? "path" : "uri", o->name, o->line);
  }
  return 0;
}

static int
close_container (struct parser *p)
{
  const struct cfg_container *c = section_object (p);
  unsigned path = key_line_of (p, "path");
  unsigned uri = key_line_of (p, "uri");

  if (path && uri)
    return parse_error (p, path > uri ? path : uri, "[container %s] has "
                        "both path (line %u) and uri (line %u): give one",
                        c->name, path, uri);
  if (!path && !uri)
    return parse_error (p, p->section_line, "[container %s] needs path "
                        "(a file or block device) or uri (iscsi://...)",
                        c->name);
  if (uri)
    return not_supported_yet (p, uri, "uri", "iSCSI containers are not "
                              "built in this version (use path)");
  return check_container_unique (p, c, path);
}

static int
close_vdisk (struct parser *p)
{
  struct cfg_vdisk *v = section_object (p);

  if (!key_line_of (p, "size"))
    return parse_error (p, p->section_line, "[vdisk %s] needs size",
                        v->name);
  v->container_line = key_line_of (p, "container");
  return 0;
}

static int
close_host (struct parser *p)
{
  const struct cfg_host *h = section_object (p);
  unsigned line = key_line_of (p, "initiator");

  if (check_key_pair (p, "chap-user", "chap-secret-file") == -1)
    return -1;

  if (!line)
    return parse_error (p, p->section_line, "[host %s] needs initiator "
                        "(its iSCSI initiator name)", h->name);
  for (size_t i = 0; i < p->index; i++) {
    const struct cfg_host *o = &p->cfg->hosts[i];
    if (strcasecmp (o->initiator, h->initiator) == 0)
      return parse_error (p, line, "initiator %s already belongs to host "
                          "'%s' (line %u)", h->initiator, o->name, o->line);
  }
  return 0;
}

/*----------------------------------------------------------------------
 * The grammar: sections and their keys.
 */

#define CFG(field) offsetof (struct segmap_config, field)
#define CONTAINER(field) offsetof (struct cfg_container, field)
#define VDISK(field) offsetof (struct cfg_vdisk, field)
#define HOST(field) offsetof (struct cfg_host, field)

/* Fields of a key_def; what follows (check_*, repeatable) is optional. */
#define KEY(n, fn, off) .name = (n), .set = (fn), .offset = (off)

static const struct key_def controller_keys[] = {
  { KEY ("state-dir", set_path, CFG (state_dir)) },
  { KEY ("socket", set_path, CFG (socket)) },
  { KEY ("database", set_path, CFG (database)) },
  { KEY ("listen", set_string, CFG (listen)),
    .check_str = cfg_check_listen },
  { KEY ("psk-file", set_path, CFG (psk_file)) },
};

static const struct key_def agent_keys[] = {
  { KEY ("controller", set_string, CFG (agent_controller)),
    .check_str = cfg_check_agent_controller },
  { KEY ("name", set_string, CFG (agent_name)),
    .check_str = cfg_check_name },
  { KEY ("psk-file", set_path, CFG (agent_psk_file)) },
  { KEY ("memory-limit", set_size, CFG (memory_limit)),
    .check_size = cfg_check_memory_limit },
};

static const struct key_def iscsi_keys[] = {
  { KEY ("enabled", set_bool, CFG (iscsi_enabled)) },
  { KEY ("portal", add_portal, 0), .repeatable = true },
  { KEY ("target-prefix", set_string, CFG (target_prefix)),
    .check_str = cfg_check_target_prefix },
  { KEY ("chap-user", set_string, CFG (chap_user)) },
  { KEY ("chap-secret-file", set_path, CFG (chap_secret_file)) },
  { KEY ("mutual-chap-user", set_string, CFG (mutual_chap_user)) },
  { KEY ("mutual-chap-secret-file", set_path,
         CFG (mutual_chap_secret_file)) },
};

static const struct key_def container_keys[] = {
  { KEY ("path", set_path, CONTAINER (path)) },
  { KEY ("uri", set_string, CONTAINER (uri)),
    .check_str = cfg_check_iscsi_uri },
  { KEY ("size", set_size, CONTAINER (size)),
    .check_size = cfg_check_container_size },
};

static const struct key_def vdisk_keys[] = {
  { KEY ("size", set_size, VDISK (size)),
    .check_size = cfg_check_vdisk_size },
  { KEY ("container", set_string, VDISK (container)),
    .check_str = cfg_check_name_list },
  { KEY ("placement", set_string, VDISK (placement)),
    .check_str = cfg_check_placement },
  { KEY ("segment-size", set_size, VDISK (segment_size)),
    .check_size = cfg_check_segment_size },
};

static const struct key_def host_keys[] = {
  { KEY ("initiator", set_string, HOST (initiator)),
    .check_str = cfg_check_initiator },
  { KEY ("vdisk", add_host_vdisk, 0), .repeatable = true },
  { KEY ("chap-user", set_string, HOST (chap_user)) },
  { KEY ("chap-secret-file", set_path, HOST (chap_secret_file)) },
};

#define KEYS(a) a, ARRAY_SIZE (a)

static const struct section_def sections[NR_SECTIONS] = {
  [SEC_CONTROLLER] = { "controller", false, KEYS (controller_keys),
                       NULL, close_controller },
  [SEC_AGENT] = { "agent", false, KEYS (agent_keys), NULL, close_agent },
  [SEC_ISCSI] = { "iscsi", false, KEYS (iscsi_keys), NULL, close_iscsi },
  [SEC_CONTAINER] = { "container", true, KEYS (container_keys),
                      open_container, close_container },
  [SEC_VDISK] = { "vdisk", true, KEYS (vdisk_keys), open_vdisk,
                  close_vdisk },
  [SEC_HOST] = { "host", true, KEYS (host_keys), open_host, close_host },
};

/*----------------------------------------------------------------------
 * Section headers.
 */

static enum section_kind
find_section (const char *name)
{
  for (enum section_kind k = SEC_NONE + 1; k < NR_SECTIONS; k++)
    if (strcmp (sections[k].name, name) == 0)
      return k;
  return SEC_NONE;
}

static int
close_section (struct parser *p)
{
  if (p->kind == SEC_NONE || sections[p->kind].close == NULL)
    return 0;
  return sections[p->kind].close (p);
}

/* Cut S at the first blank; return what follows the blanks after it. */
static char *
next_word (char *s)
{
  s += strcspn (s, " \t");
  if (*s == '\0')
    return s;
  *s++ = '\0';
  return s + strspn (s, " \t");
}

/* Enter section KIND (named NAME, or "" for a singleton). */
static int
enter_section (struct parser *p, enum section_kind kind, const char *name)
{
  const struct section_def *s = &sections[kind];

  assert (s->n_keys <= MAX_KEYS);
  if (s->named) {
    if (s->open (p, name) == -1)
      return -1;
  }
  else {
    if (p->singleton_line[kind])
      return parse_error (p, p->lineno, "duplicate section [%s] (first at "
                          "line %u)", s->name, p->singleton_line[kind]);
    p->singleton_line[kind] = p->lineno;
  }
  p->kind = kind;
  p->section_line = p->lineno;
  memset (p->key_line, 0, sizeof p->key_line);
  snprintf (p->header, sizeof p->header, "%s%s%s", s->name,
            *name ? " " : "", name);
  return 0;
}

/* LINE is "[...]", trimmed and without comments. */
static int
read_header (struct parser *p, char *line)
{
  size_t len = strlen (line);
  enum section_kind kind;
  char *word, *name, *rest;

  if (line[len - 1] != ']')
    return parse_error (p, p->lineno, strchr (line, ']')
                        ? "unexpected text after ']'"
                        : "missing ']' at the end of the section header");
  line[len - 1] = '\0';
  word = line + 1 + strspn (line + 1, " \t");
  name = next_word (word);
  rest = next_word (name);
  if (*word == '\0')
    return parse_error (p, p->lineno, "empty section header");
  if (*rest)
    return parse_error (p, p->lineno, "unexpected '%s' in section header: "
                        "expected [KIND] or [KIND NAME]", rest);
  kind = find_section (word);
  if (kind == SEC_NONE)
    return parse_error (p, p->lineno, "unknown section [%s] (expected "
                        "controller, agent, iscsi, container, vdisk or "
                        "host)", word);
  if (sections[kind].named && *name == '\0')
    return parse_error (p, p->lineno, "section [%s] needs a name: "
                        "[%s NAME]", word, word);
  if (!sections[kind].named && *name)
    return parse_error (p, p->lineno, "section [%s] takes no name", word);
  if (*name && !sm_valid_name (name))
    return parse_error (p, p->lineno, "invalid %s name '%s': names are "
                        SM_NAME_RULE, word, name);
  return enter_section (p, kind, name);
}

/*----------------------------------------------------------------------
 * Lines: the reader handed to inih.
 */

/* Cut a comment: '#' or ';' at the start or after whitespace. */
static void
strip_comment (char *s)
{
  for (char *q = s; *q; q++) {
    if ((*q == '#' || *q == ';')
        && (q == s || isspace ((unsigned char) q[-1]))) {
      *q = '\0';
      return;
    }
  }
}

static char *
trim (char *s)
{
  size_t len;

  s += strspn (s, " \t\r\f\v");
  len = strlen (s);
  while (len > 0 && isspace ((unsigned char) s[len - 1]))
    s[--len] = '\0';
  return s;
}

/* Read the next line into P->line, without its '\n' and cut to what
 * fits.  Returns its full length, or -1 at the end of the file or after
 * an error. */
static ssize_t
read_raw_line (struct parser *p)
{
  size_t n = 0;
  int c;

  while ((c = getc (p->fp)) != EOF && c != '\n') {
    if (n < sizeof p->line - 1)
      p->line[n] = c;
    n++;
  }
  if (c == EOF && ferror (p->fp)) {
    parse_error (p, p->lineno + 1, "read error: %m");
    return -1;
  }
  if (c == EOF && n == 0)
    return -1;
  p->lineno++;
  p->line[n < sizeof p->line ? n : sizeof p->line - 1] = '\0';
  return n;
}

/* Read the next line and reduce it to its content (possibly "").
 * NULL at the end of the file or after an error.  MAX is the longest
 * line allowed. */
static char *
next_line (struct parser *p, size_t max)
{
  ssize_t n = read_raw_line (p);
  char *s = p->line;

  if (n == -1)
    return NULL;
  if ((size_t) n < sizeof p->line) {    /* else it was cut: too long */
    if (strlen (s) != (size_t) n) {
      parse_error (p, p->lineno, "NUL byte in line");
      return NULL;
    }
    if (p->lineno == 1 && strncmp (s, "\xef\xbb\xbf", 3) == 0) {
      s += 3;
      n -= 3;
    }
    if (n > 0 && s[n - 1] == '\r')
      s[--n] = '\0';
  }
  if ((size_t) n > max) {
    parse_error (p, p->lineno, "line too long (%zd characters, at most %zu)",
                 n, max);
    return NULL;
  }
  strip_comment (s);
  return trim (s);
}

/* A line that is neither blank nor a header must be KEY = VALUE. */
static int
check_pair (struct parser *p, const char *line)
{
  const char *eq = strchr (line, '=');

  if (eq == NULL || strcspn (line, ":") < (size_t) (eq - line))
    return parse_error (p, p->lineno, "expected 'KEY = VALUE' or "
                        "'[SECTION]'");
  if (eq == line)
    return parse_error (p, p->lineno, "missing key before '='");
  return 0;
}

/* The ini_reader: hand inih the next "key = value" line, in BUF of
 * SIZE bytes. */
static char *
read_pair (char *buf, int size, void *opaque)
{
  struct parser *p = opaque;
  size_t max = CFG_MAX_LINE;
  char *line;

  if (size < 3)
    return NULL;
  if ((size_t) size - 3 < max)
    max = size - 3;
  while (!p->failed && (line = next_line (p, max)) != NULL) {
    if (*line == '\0')
      continue;
    if (*line == '[') {
      if (close_section (p) == -1 || read_header (p, line) == -1)
        break;
      continue;
    }
    if (check_pair (p, line) == -1)
      break;
    memcpy (buf, line, strlen (line) + 1);
    return buf;
  }
  return NULL;
}

/*----------------------------------------------------------------------
 * Pairs: the ini_handler.
 */

static const struct key_def *
find_key (const struct section_def *s, const char *name, size_t *index)
{
  for (size_t i = 0; i < s->n_keys; i++) {
    if (strcmp (s->keys[i].name, name) == 0) {
      *index = i;
      return &s->keys[i];
    }
  }
  return NULL;
}

static int
unknown_key (struct parser *p, const struct section_def *s, const char *key)
{
  char expected[128] = "";

  for (size_t i = 0; i < s->n_keys; i++) {
    strcat (expected, i ? ", " : "");
    strcat (expected, s->keys[i].name);
  }
  return parse_error (p, p->lineno, "unknown key '%s' in [%s] (expected "
                      "%s)", key, p->header, expected);
}

/* Check KEY = VALUE against the current section and store it. */
static int
store_pair (struct parser *p, const char *key, const char *value)
{
  const struct section_def *s = &sections[p->kind];
  const struct key_def *k;
  size_t i;

  if (p->kind == SEC_NONE)
    return parse_error (p, p->lineno, "key '%s' outside any section", key);
  k = find_key (s, key, &i);
  if (k == NULL)
    return unknown_key (p, s, key);
  if (p->key_line[i] && !k->repeatable)
    return parse_error (p, p->lineno, "duplicate key '%s' in [%s] (first "
                        "at line %u)", key, p->header, p->key_line[i]);
  if (*value == '\0')
    return parse_error (p, p->lineno, "empty value for '%s'", key);
  if (!p->key_line[i])
    p->key_line[i] = p->lineno;
  return k->set (p, k, value);
}

/* The ini_handler.  SECTION is inih's idea of the section, ignored: it
 * may be cut short; P->kind says where we are.  P->lineno is the line
 * of the pair, as inih handles a line before reading the next. */
static int
handle_pair (void *opaque, const char *section, const char *key,
             const char *value)
{
  struct parser *p = opaque;

  (void) section;
  return !p->failed && store_pair (p, key, value) == 0;
}

/*----------------------------------------------------------------------
 * Whole-file checks and the entry point.
 */

static int
check_references (struct parser *p)
{
  const struct segmap_config *cfg = p->cfg;

  for (size_t i = 0; i < cfg->n_vdisks; i++) {
    const struct cfg_vdisk *v = &cfg->vdisks[i];
    const char *list = v->container;
    char name[SM_NAME_MAX + 2];
    while (sm_name_list_next (&list, name))
      if (cfg_find_container (cfg, name) == NULL)
        return parse_error (p, v->container_line, "vdisk '%s' names "
                            "undeclared container '%s'", v->name, name);
    if (v->container == NULL && cfg->n_containers == 0)
      return parse_error (p, v->line, "vdisk '%s' needs a container, "
                          "and no [container] is declared", v->name);
  }
  for (size_t i = 0; i < cfg->n_hosts; i++) {
    const struct cfg_host *h = &cfg->hosts[i];
    for (size_t j = 0; j < h->n_vdisks; j++) {
      /* A snapshot, VDISK@SNAP, is named by its vdisk's name. */
      char vdisk[SM_NAME_MAX + 1];
      snprintf (vdisk, sizeof vdisk, "%.*s",
                (int) strcspn (h->vdisks[j], "@"), h->vdisks[j]);
      if (cfg_find_vdisk (cfg, vdisk) == NULL)
        return parse_error (p, h->vdisk_lines[j], "host '%s' names "
                            "undeclared vdisk '%s'", h->name, vdisk);
    }
  }
  return 0;
}

static void
parse (struct parser *p)
{
  int r = ini_parse_stream (read_pair, p, handle_pair, p);

  if (!p->failed && r == -2)
    no_memory (p);
  else if (!p->failed && r != 0)        /* not expected: we stop first */
    parse_error (p, r, "syntax error");
  if (!p->failed && close_section (p) == 0)
    check_references (p);
}

struct segmap_config *
cfg_load (const char *path)
{
  struct parser p = { .file = path };
  struct segmap_config *cfg;

  p.fp = fopen (path, "re");
  if (p.fp == NULL) {
    sm_error ("%s: %m", path);
    return NULL;
  }
  cfg = p.cfg = cfg_new_empty ();
  if (cfg == NULL) {
    fclose (p.fp);
    return NULL;
  }
  p.dir = cfg_absolute_dir (path);
  cfg->file = strdup (path);
  if (p.dir == NULL || cfg->file == NULL) {
    sm_error ("%s: %m", path);
    p.failed = true;
  }
  else
    parse (&p);
  fclose (p.fp);
  free (p.dir);
  if (p.failed) {
    cfg_free (cfg);
    return NULL;
  }
  return cfg;
}

/*----------------------------------------------------------------------
 * The plugin's iscsi= parameter.
 */

int
cfg_set_portals (struct segmap_config *cfg, const char *list)
{
  char **portals = NULL;
  size_t n = 0;
  char *copy, *tok, *save = NULL;

  if (strcmp (list, "off") == 0) {
    cfg->iscsi_enabled = false;
    return 0;
  }
  copy = strdup (list);
  if (copy == NULL) {
    sm_error ("strdup: %m");
    return -1;
  }
  for (tok = strtok_r (copy, ",", &save); tok;
       tok = strtok_r (NULL, ",", &save)) {
    const char *why = cfg_check_portal (tok);

    for (size_t i = 0; why == NULL && i < n; i++)
      if (same_address (portals[i], tok))
        why = "listed twice";
    if (why) {
      sm_error ("iscsi=%s: portal '%s': %s", list, tok, why);
      goto fail;
    }
    if (append_string (&portals, &n, tok) == -1) {
      sm_error ("out of memory");
      goto fail;
    }
  }
  if (n == 0) {
    sm_error ("iscsi=%s: no portal (ADDR:PORT[,ADDR:PORT...] or off)", list);
    goto fail;
  }
  free (copy);
  for (size_t i = 0; i < cfg->n_portals; i++)
    free (cfg->portals[i]);
  free (cfg->portals);
  cfg->portals = portals;
  cfg->n_portals = n;
  cfg->iscsi_enabled = true;
  return 0;

 fail:
  for (size_t i = 0; i < n; i++)
    free (portals[i]);
  free (portals);
  free (copy);
  return -1;
}
