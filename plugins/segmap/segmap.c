/* segmap: the nbdkit plugin — glue between nbdkit and libsegmap.
 *
 * Life of the process:
 *   config / config_complete  parse parameters and the configuration
 *                             file (nothing opened yet)
 *   get_ready                 instance_new: open the database and the
 *                             containers once, so errors show before
 *                             nbdkit detaches
 *   after_fork                instance_start: start the process's parts
 *                             through the composition room
 *                             (src/instance/instance.h:
 *                             agent, controller, transport, iSCSI
 *                             service, control socket) — threads must
 *                             be started after nbdkit forks into the
 *                             background
 *   open ... close            one handle per connection: a reference to
 *                             the vdisk's table in the agent
 *   cleanup                   instance_free: stop and free everything
 *
 * The plugin starts and stops nothing itself: only the room does.
 * Every data callback hands straight to the agent (src/agent/agent.h)
 * that the room made, with no indirection on the data path;
 * errors come back as -1 with errno, which nbdkit forwards to the client
 * (.errno_is_preserved).
 *
 * A read-only vdisk (segmapctl vdisk set NAME --read-only) is exported
 * read-only to connections opened while it is (can_write); nbdkit asks
 * can_write once per connection, so a connection opened before the
 * change keeps a writable export and its writes fail with EROFS from
 * the agent (NBD_EPERM on the wire: NBD has no EROFS).
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "agent/agent.h"
#include "agent/diff-view.h"
#include "common/errors.h"
#include "common/limits.h"
#include "common/size.h"
#include "config/config.h"
#include "instance/instance.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static char *config_file;       /* config= */
static char *state_dir;         /* state-dir= */
static char *iscsi_portals;     /* iscsi= */
static uint64_t memory_limit;   /* memory-limit=, 0: from the config */
static struct segmap_config *cfg;

static struct instance *instance;
static struct agent *agent;     /* instance_agent (instance) */
static pid_t ready_pid;         /* the process get_ready ran in */

static void
segmap_load (void)
{
  sm_set_log_sinks (nbdkit_verror, nbdkit_vdebug);
  sm_set_debug (true);          /* nbdkit -v decides what is shown */
}

static void
segmap_unload (void)
{
  cfg_free (cfg);
  free (config_file);
  free (state_dir);
  free (iscsi_portals);
}

static int
replace_string (char **where, const char *value)
{
  free (*where);
  *where = strdup (value);
  if (*where == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}

static int
segmap_config (const char *key, const char *value)
{
  if (strcmp (key, "config") == 0)
    return replace_string (&config_file, value);
  if (strcmp (key, "state-dir") == 0)
    return replace_string (&state_dir, value);
  if (strcmp (key, "memory-limit") == 0)
    return sm_parse_size (value, &memory_limit);
  if (strcmp (key, "iscsi") == 0)
    return replace_string (&iscsi_portals, value);
  nbdkit_error ("unknown parameter '%s' (see nbdkit-segmap-plugin(1))", key);
  return -1;
}

static int
segmap_config_complete (void)
{
  cfg = config_file ? cfg_load (config_file) : cfg_new_empty ();
  if (cfg == NULL)
    return -1;
  if (memory_limit)
    cfg->memory_limit = memory_limit;
  if (iscsi_portals && cfg_set_portals (cfg, iscsi_portals) == -1)
    return -1;
  return cfg_finish (cfg, state_dir);
}

#define segmap_config_help \
  "config=FILE             Configuration file (segmap.conf(5)).\n" \
  "state-dir=DIR           State directory (default ./segmap-state).\n" \
  "memory-limit=SIZE       Bound on the agent's mapping tables.\n" \
  "iscsi=ADDR:PORT[,...]|off  iSCSI portals (default 127.0.0.1:3260)."

/* Before nbdkit forks: fail now, visibly, if the state, database or
 * containers cannot be opened (threads must wait for after_fork). */
static int
segmap_get_ready (void)
{
  ready_pid = getpid ();
  instance = instance_new (cfg);  /* binds the control socket */
  return instance ? 0 : -1;
}

/* The start-up line goes where nbdkit's own messages go by default:
 * stderr in the foreground (nbdkit -f, systemd), syslog once nbdkit
 * has forked into the background (its stderr is then /dev/null). */
static int
announce_ready (void)
{
  char *line = cfg_ready_line (cfg);

  if (line == NULL)
    return -1;
  if (getpid () != ready_pid)
    syslog (LOG_NOTICE, "%s", line);
  else
    fprintf (stderr, "%s\n", line);
  free (line);
  return 0;
}

static int
segmap_after_fork (void)
{
  if (instance_start (instance) == -1)
    return -1;
  agent = instance_agent (instance);
  return announce_ready ();
}

static void
segmap_cleanup (void)
{
  instance_free (instance);
  instance = NULL;
  agent = NULL;
}

/* Exports ------------------------------------------------------------------ */

static int
add_export (void *opaque, const struct table *t)
{
  return nbdkit_add_export (opaque, t->name, NULL);
}

static int
segmap_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  return agent_foreach_vdisk (agent, add_export, exports);
}

static int
first_name (void *opaque, const struct table *t)
{
  const char **name = opaque;

  if (*name == NULL || strcmp (t->name, SM_DEFAULT_VDISK) == 0)
    *name = t->name;
  return 0;
}

static const char *
segmap_default_export (int readonly, int is_tls)
{
  const char *name = NULL;

  agent_foreach_vdisk (agent, first_name, &name);
  return name ? nbdkit_strdup_intern (name) : "";
}

/* A connection serves a vdisk or snapshot (T), or the blocks changed
 * between two snapshots (DIFF: the read-only export VDISK@FROM..TO). */
struct handle {
  struct table *t;
  struct diff_view *diff;
};

static void *
segmap_open (int readonly)
{
  const char *name = nbdkit_export_name ();
  struct handle *h = calloc (1, sizeof *h);

  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  if (name == NULL || *name == '\0')
    name = segmap_default_export (readonly, 0);
  if (diff_view_name (name)) {
    if ((h->diff = diff_view_open (agent, name)) == NULL) {
      nbdkit_error ("no changes export '%s' (VDISK@FROM..TO: FROM a "
                    "snapshot of VDISK, TO a later one or empty for the "
                    "vdisk itself)", name);
      free (h);
      return NULL;
    }
    return h;
  }
  h->t = agent_open_vdisk (agent, name);
  if (h->t == NULL) {
    nbdkit_error ("no vdisk '%s' (segmapctl vdisk list shows them)", name);
    free (h);
    return NULL;
  }
  return h;
}

static void
segmap_close (void *handle)
{
  struct handle *h = handle;

  if (h->diff)
    diff_view_close (agent, h->diff);
  else
    agent_close_vdisk (agent, h->t);
  free (h);
}

static int64_t
segmap_get_size (void *handle)
{
  struct handle *h = handle;

  return h->diff ? h->diff->size : h->t->size;
}

static int
segmap_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                   uint32_t *maximum)
{
  *minimum = 1;
  *preferred = SM_BLOCK_SIZE;
  *maximum = 0xffffffff;
  return 0;
}

static int segmap_true (void *handle) { return 1; }

static int
segmap_can_write (void *handle)
{
  struct handle *h = handle;

  return h->diff == NULL && !atomic_load (&h->t->read_only);
}

/* A write to a changes export: nbdkit refuses writes to a read-only
 * connection before the plugin sees them; this is the backstop. */
static int
refuse_diff (void)
{
  errno = EROFS;
  return -1;
}

static int
segmap_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
segmap_can_cache (void *handle)
{
  return NBDKIT_CACHE_NONE;
}

/* Data ---------------------------------------------------------------------- */

static int
segmap_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  struct handle *h = handle;

  if (h->diff)
    return diff_view_pread (agent, h->diff, buf, count, offset);
  return agent_pread (agent, h->t, buf, count, offset);
}

static int
segmap_pwrite (void *handle, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  if (h->diff)
    return refuse_diff ();
  return agent_pwrite (agent, h->t, buf, count, offset,
                       flags & NBDKIT_FLAG_FUA);
}

static int
segmap_flush (void *handle, uint32_t flags)
{
  struct handle *h = handle;

  return h->diff ? 0 : agent_flush (agent, h->t);
}

static int
segmap_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  if (h->diff)
    return refuse_diff ();
  return agent_trim (agent, h->t, count, offset, flags & NBDKIT_FLAG_FUA);
}

/* Zeroing whole segments is metadata, and so is a partial segment that
 * already reads as zeros; any other partial segment is zeroed in the
 * container, which may write: with NBDKIT_FLAG_FAST_ZERO that case
 * fails with ENOTSUP before anything is done. */
static int
segmap_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  if (h->diff)
    return refuse_diff ();
  if (flags & NBDKIT_FLAG_FAST_ZERO) {
    int fast = agent_zero_is_fast (agent, h->t, count, offset);
    if (fast != 1) {
      if (fast == 0)
        errno = ENOTSUP;
      return -1;
    }
  }
  return agent_zero (agent, h->t, count, offset, flags & NBDKIT_FLAG_FUA);
}

static int
add_extent (void *opaque, uint64_t offset, uint64_t len, bool zero)
{
  return nbdkit_add_extent (opaque, offset, len,
                            zero ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO
                            : 0);
}

static int
segmap_extents (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents)
{
  struct handle *h = handle;

  if (h->diff)
    return diff_view_extents (h->diff, count, offset, add_extent, extents);
  return agent_extents (agent, h->t, count, offset, add_extent, extents);
}

static struct nbdkit_plugin plugin = {
  .name = "segmap",
  .longname = "segmap storage-virtualization target",
  .version = PACKAGE_VERSION,
  .load = segmap_load,
  .unload = segmap_unload,
  .config = segmap_config,
  .config_complete = segmap_config_complete,
  .config_help = segmap_config_help,
  .get_ready = segmap_get_ready,
  .after_fork = segmap_after_fork,
  .cleanup = segmap_cleanup,
  .list_exports = segmap_list_exports,
  .default_export = segmap_default_export,
  .open = segmap_open,
  .close = segmap_close,
  .get_size = segmap_get_size,
  .block_size = segmap_block_size,
  .can_write = segmap_can_write,
  .can_flush = segmap_true,
  .can_fua = segmap_can_fua,
  .can_trim = segmap_true,
  .can_zero = segmap_true,
  .can_fast_zero = segmap_true,
  .can_extents = segmap_true,
  .can_multi_conn = segmap_true,
  .can_cache = segmap_can_cache,
  .pread = segmap_pread,
  .pwrite = segmap_pwrite,
  .flush = segmap_flush,
  .trim = segmap_trim,
  .zero = segmap_zero,
  .extents = segmap_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
