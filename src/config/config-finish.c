/* segmap: defaults, lookups and the lifetime of a struct segmap_config.
 *
 * cfg_finish is where every default lives, so that the plugin, the
 * controller and the agent never invent one of their own.  Order
 * matters: the state directory is settled first (the plugin's override,
 * else the file, else SM_DEFAULT_STATE_DIR) because the socket, the
 * database and the embedded container default to names inside it.
 * Every path is then made absolute with the current working directory:
 * nbdkit may change directory to / once configuration is over.  Paths
 * from the file were already made absolute by cfg_load, relative to the
 * file's directory.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/names.h"
#include "config/config-internal.h"
#include "config/config.h"

#define SUN_PATH_MAX (sizeof ((struct sockaddr_un *) 0)->sun_path - 1)

void *
cfg_grow_array (void *array, size_t n, size_t size)
{
  char *p;

  if (n >= SIZE_MAX / size - 1) {
    errno = ENOMEM;
    return NULL;
  }
  p = realloc (array, (n + 1) * size);
  if (p == NULL)
    return NULL;
  memset (p + n * size, 0, size);
  return p;
}

char *
cfg_join_path (const char *dir, const char *path)
{
  size_t dlen = strlen (dir);
  char *r;

  if (path[0] == '/' || dlen == 0)
    return strdup (path);
  while (path[0] == '.' && path[1] == '/') {
    path += 2;
    path += strspn (path, "/");
  }
  if (strcmp (path, ".") == 0)
    path = "";
  while (dlen > 1 && dir[dlen - 1] == '/')
    dlen--;
  if (asprintf (&r, "%.*s%s%s", (int) dlen, dir,
                dir[dlen - 1] == '/' || path[0] == '\0' ? "" : "/",
                path) == -1)
    return NULL;
  return r;
}

char *
cfg_absolute_dir (const char *file)
{
  const char *slash = strrchr (file, '/');
  CLEANUP_FREE char *cwd = NULL;
  CLEANUP_FREE char *dir = NULL;

  if (slash == file)
    return strdup ("/");
  if (slash)
    dir = strndup (file, slash - file);
  else
    dir = strdup (".");
  if (dir == NULL)
    return NULL;
  if (dir[0] == '/') {
    char *r = dir;
    dir = NULL;
    return r;
  }
  cwd = getcwd (NULL, 0);
  if (cwd == NULL)
    return NULL;
  return cfg_join_path (cwd, dir);
}

struct segmap_config *
cfg_new_empty (void)
{
  struct segmap_config *cfg = calloc (1, sizeof *cfg);

  if (cfg == NULL) {
    sm_error ("calloc: %m");
    return NULL;
  }
  cfg->iscsi_enabled = true;
  return cfg;
}

/* Set *FIELD to a copy of VALUE if it is unset. */
static int
default_string (char **field, const char *value)
{
  if (*field)
    return 0;
  *field = strdup (value);
  if (*field == NULL) {
    sm_error ("strdup: %m");
    return -1;
  }
  return 0;
}

/* Set *FIELD to DIR/NAME if it is unset. */
static int
default_path (char **field, const char *dir, const char *name)
{
  if (*field)
    return 0;
  *field = cfg_join_path (dir, name);
  if (*field == NULL) {
    sm_error ("%s: %m", name);
    return -1;
  }
  return 0;
}

/* Make the path in *FIELD (if any) absolute against CWD. */
static int
make_absolute (char **field, const char *cwd)
{
  char *abs;

  if (*field == NULL || (*field)[0] == '/')
    return 0;
  abs = cfg_join_path (cwd, *field);
  if (abs == NULL) {
    sm_error ("%s: %m", *field);
    return -1;
  }
  free (*field);
  *field = abs;
  return 0;
}

static int
finish_state_dir (struct segmap_config *cfg, const char *override,
                  const char *cwd)
{
  if (override) {
    if (*override == '\0') {
      sm_error ("state-dir: the state directory cannot be empty");
      return -1;
    }
    free (cfg->state_dir);
    cfg->state_dir = NULL;
  }
  if (default_string (&cfg->state_dir,
                      override ? override : SM_DEFAULT_STATE_DIR) == -1
      || make_absolute (&cfg->state_dir, cwd) == -1)
    return -1;
  return 0;
}

static int
finish_paths (struct segmap_config *cfg, const char *cwd)
{
  char **paths[] = { &cfg->socket, &cfg->database, &cfg->psk_file,
                     &cfg->agent_psk_file, &cfg->chap_secret_file,
                     &cfg->mutual_chap_secret_file };

  if (default_path (&cfg->socket, cfg->state_dir, SM_SOCKET_NAME) == -1
      || default_path (&cfg->database, cfg->state_dir,
                       SM_DATABASE_NAME) == -1)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE (paths); i++)
    if (make_absolute (paths[i], cwd) == -1)
      return -1;
  for (size_t i = 0; i < cfg->n_containers; i++)
    if (make_absolute (&cfg->containers[i].path, cwd) == -1)
      return -1;
  if (strlen (cfg->socket) > SUN_PATH_MAX) {
    sm_error ("control socket path '%s' is too long for a Unix socket "
              "(at most %zu bytes): set socket or state-dir to a shorter "
              "path", cfg->socket, SUN_PATH_MAX);
    return -1;
  }
  return 0;
}

/* The agent's name: the host name when it is a valid name. */
static int
finish_agent (struct segmap_config *cfg)
{
  char host[256] = "";

  if (default_string (&cfg->agent_controller,
                      CFG_DEFAULT_AGENT_CONTROLLER) == -1)
    return -1;
  if (cfg->memory_limit == 0)
    cfg->memory_limit = CFG_DEFAULT_MEMORY_LIMIT;
  if (gethostname (host, sizeof host - 1) == -1 || !sm_valid_name (host))
    strcpy (host, "local");
  return default_string (&cfg->agent_name, host);
}

static int
finish_iscsi (struct segmap_config *cfg)
{
  if (cfg->n_portals == 0) {
    char **p = cfg_grow_array (cfg->portals, 0, sizeof *p);
    if (p == NULL) {
      sm_error ("realloc: %m");
      return -1;
    }
    cfg->portals = p;
    if (default_string (&p[0], CFG_DEFAULT_PORTAL) == -1)
      return -1;
    cfg->n_portals = 1;
  }
  return default_string (&cfg->target_prefix, CFG_DEFAULT_TARGET_PREFIX);
}

/* Nothing declared: container "default" and vdisk "disk0" on it. */
static int
add_embedded_defaults (struct segmap_config *cfg)
{
  struct cfg_container *c;
  struct cfg_vdisk *v;

  c = cfg_grow_array (cfg->containers, 0, sizeof *c);
  if (c == NULL)
    goto nomem;
  cfg->containers = c;
  cfg->n_containers = 1;
  c->size = SM_DEFAULT_CONTAINER_SIZE;
  if (default_string (&c->name, SM_DEFAULT_CONTAINER) == -1
      || default_path (&c->path, cfg->state_dir,
                       SM_DEFAULT_CONTAINER_FILE) == -1)
    return -1;

  v = cfg_grow_array (cfg->vdisks, 0, sizeof *v);
  if (v == NULL)
    goto nomem;
  cfg->vdisks = v;
  cfg->n_vdisks = 1;
  v->size = SM_DEFAULT_VDISK_SIZE;
  return default_string (&v->name, SM_DEFAULT_VDISK);

 nomem:
  sm_error ("realloc: %m");
  return -1;
}

static int
finish_vdisks (struct segmap_config *cfg)
{
  for (size_t i = 0; i < cfg->n_vdisks; i++) {
    struct cfg_vdisk *v = &cfg->vdisks[i];

    if (v->segment_size == 0)
      v->segment_size = SM_SEGMENT_SIZE_DEFAULT;
    if (v->container)
      continue;
    if (cfg->n_containers == 0) {
      sm_error ("vdisk '%s' has no container to live on", v->name);
      return -1;
    }
    if (default_string (&v->container, cfg->containers[0].name) == -1)
      return -1;
  }
  return 0;
}

int
cfg_finish (struct segmap_config *cfg, const char *state_dir_override)
{
  CLEANUP_FREE char *cwd = getcwd (NULL, 0);

  if (cwd == NULL) {
    sm_error ("getcwd: %m");
    return -1;
  }
  if (finish_state_dir (cfg, state_dir_override, cwd) == -1
      || finish_paths (cfg, cwd) == -1
      || finish_agent (cfg) == -1
      || finish_iscsi (cfg) == -1)
    return -1;
  if (cfg->n_containers == 0 && cfg->n_vdisks == 0
      && add_embedded_defaults (cfg) == -1)
    return -1;
  return finish_vdisks (cfg);
}

static void
free_strings (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
cfg_free (struct segmap_config *cfg)
{
  if (cfg == NULL)
    return;
  for (size_t i = 0; i < cfg->n_containers; i++) {
    free (cfg->containers[i].name);
    free (cfg->containers[i].path);
    free (cfg->containers[i].uri);
  }
  for (size_t i = 0; i < cfg->n_vdisks; i++) {
    free (cfg->vdisks[i].name);
    free (cfg->vdisks[i].container);
    free (cfg->vdisks[i].placement);
  }
  for (size_t i = 0; i < cfg->n_hosts; i++) {
    free (cfg->hosts[i].name);
    free (cfg->hosts[i].initiator);
    free (cfg->hosts[i].chap_user);
    free (cfg->hosts[i].chap_secret_file);
    free_strings (cfg->hosts[i].vdisks, cfg->hosts[i].n_vdisks);
    free (cfg->hosts[i].vdisk_lines);
  }
  free (cfg->containers);
  free (cfg->vdisks);
  free (cfg->hosts);
  free_strings (cfg->portals, cfg->n_portals);
  free (cfg->file);
  free (cfg->state_dir);
  free (cfg->socket);
  free (cfg->database);
  free (cfg->listen);
  free (cfg->psk_file);
  free (cfg->agent_controller);
  free (cfg->agent_name);
  free (cfg->agent_psk_file);
  free (cfg->target_prefix);
  free (cfg->chap_user);
  free (cfg->chap_secret_file);
  free (cfg->mutual_chap_user);
  free (cfg->mutual_chap_secret_file);
  free (cfg);
}

const struct cfg_vdisk *
cfg_find_vdisk (const struct segmap_config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->n_vdisks; i++)
    if (strcmp (cfg->vdisks[i].name, name) == 0)
      return &cfg->vdisks[i];
  return NULL;
}

const struct cfg_container *
cfg_find_container (const struct segmap_config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->n_containers; i++)
    if (strcmp (cfg->containers[i].name, name) == 0)
      return &cfg->containers[i];
  return NULL;
}

const struct cfg_host *
cfg_find_host (const struct segmap_config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->n_hosts; i++)
    if (strcmp (cfg->hosts[i].name, name) == 0)
      return &cfg->hosts[i];
  return NULL;
}
