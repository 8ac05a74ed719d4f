/* segmap: the configuration (segmap.conf(5)).
 *
 * A struct segmap_config is built in two steps:
 *
 *   cfg_load (FILE)  or  cfg_new_empty ()    what the administrator wrote,
 *                                            parsed and fully validated
 *   cfg_finish (cfg, state_dir_override)     every default filled in,
 *                                            every path absolute
 *
 * After cfg_finish no field the caller needs is NULL or 0 (except the
 * optional ones documented below as such), so consumers never apply
 * defaults themselves.  cfg_finish must run before the process changes
 * directory (in nbdkit: in .config_complete), because relative paths
 * that do not come from the file are taken relative to the working
 * directory.
 *
 * Paths written in the file are relative to the directory holding the
 * file; cfg_load already makes them absolute.
 *
 * LINE fields hold the line of the file where the thing was declared,
 * or 0 when it was not read from a file (embedded defaults), so later
 * layers can still report "FILE:LINE: message".
 *
 * The structure is plain data: it is never modified after cfg_finish
 * and can be read from any thread.
 */
#ifndef SEGMAP_CONFIG_H
#define SEGMAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_DEFAULT_AGENT_CONTROLLER "local"
#define CFG_DEFAULT_MEMORY_LIMIT  (UINT64_C(64) << 20)   /* 64 MiB */
#define CFG_MIN_MEMORY_LIMIT      (UINT64_C(1) << 20)    /* 1 MiB */
#define CFG_DEFAULT_PORTAL        "127.0.0.1:3260"
#define CFG_DEFAULT_TARGET_PREFIX "iqn.2026-11.org.segmap"

/* Longest line of a configuration file, not counting its line ending:
 * libinih's line buffer (INI_MAX_LINE, 200 bytes) less room for
 * "\r\n" and the terminating NUL. */
#define CFG_MAX_LINE 197

/* Room for a numeric address from cfg_parse_address (INET6_ADDRSTRLEN). */
#define CFG_ADDR_MAX 46

struct cfg_container {
  char *name;
  char *path;                   /* file or block device, or NULL */
  char *uri;                    /* iscsi://HOST[:PORT]/IQN/LUN, or NULL */
  uint64_t size;                /* 0: not given (use the existing size) */
  unsigned line;
};

struct cfg_vdisk {
  char *name;
  uint64_t size;
  char *container;              /* NAME[,NAME...]: its pool; NULL in a
                                 * loaded file: the first one */
  char *placement;              /* "fill", "spread", or NULL (fill) */
  uint64_t segment_size;        /* 0 in a loaded file: the default */
  unsigned line;
  unsigned container_line;      /* line of "container =", or 0 */
};

struct cfg_host {
  char *name;
  char *initiator;              /* iSCSI initiator name (iqn./eui./naa.) */
  char *chap_user, *chap_secret_file;   /* both or neither (NULL): this
                                         * initiator's own CHAP secret */
  char **vdisks;                /* the vdisks this initiator may see */
  size_t n_vdisks;
  unsigned line;
  unsigned *vdisk_lines;        /* line of each "vdisk =" */
};

struct segmap_config {
  char *file;                   /* the config file, NULL when built from defaults */

  /* [controller] */
  char *state_dir, *socket, *database;
  char *listen;                 /* ADDR:PORT for remote agents, or NULL */
  char *psk_file;               /* or NULL */

  /* [agent] */
  char *agent_controller;       /* "local" or "tcp://HOST:PORT" */
  char *agent_name;
  char *agent_psk_file;         /* or NULL */
  uint64_t memory_limit;        /* bytes of mapping table the agent may hold */

  /* [iscsi] */
  bool iscsi_enabled;
  char **portals;               /* "ADDR:PORT" or "[ADDR]:PORT" */
  size_t n_portals;
  char *target_prefix;          /* target IQN = PREFIX:VDISK */
  char *chap_user, *chap_secret_file;   /* both or neither (NULL) */
  /* the target's own name and secret for mutual CHAP, or NULL */
  char *mutual_chap_user, *mutual_chap_secret_file;

  struct cfg_container *containers;
  size_t n_containers;
  struct cfg_vdisk *vdisks;
  size_t n_vdisks;
  struct cfg_host *hosts;
  size_t n_hosts;
};

/* Parse and validate the file PATH.  Returns a new configuration, or
 * NULL after one sm_error ("FILE:LINE: message") naming the first
 * problem (just "FILE: message" when the file cannot be read). */
struct segmap_config *cfg_load (const char *path);

/* A configuration with nothing declared (iSCSI enabled); NULL on ENOMEM. */
struct segmap_config *cfg_new_empty (void);

/* Fill in defaults once all sources are known (see segmap.conf(5),
 * "EMBEDDED DEFAULTS").  STATE_DIR_OVERRIDE (the plugin's state-dir=
 * parameter), when not NULL, wins over the file's state-dir.  When
 * nothing at all is declared, adds container "default" (a sparse file
 * STATE_DIR/default.img) and vdisk "disk0" on it.  Makes every path
 * absolute.  Returns 0, or -1 with sm_error. */
int cfg_finish (struct segmap_config *cfg, const char *state_dir_override);

/* The plugin's iscsi= parameter: "off" disables the iSCSI target,
 * otherwise LIST (ADDR:PORT[,ADDR:PORT...]) replaces the portals.  Call
 * before cfg_finish.  0, or -1 with sm_error naming the bad portal. */
int cfg_set_portals (struct segmap_config *cfg, const char *list);

/* The line a server logs once it serves: "segmap: ready: state
 * directory DIR, control socket PATH, NBD through nbdkit (...), iSCSI
 * on PORTAL[, PORTAL...]" (or "iSCSI off").  Malloc'd; NULL + sm_error
 * on ENOMEM. */
char *cfg_ready_line (const struct segmap_config *cfg);

/* Free CFG and everything it holds; NULL is allowed. */
void cfg_free (struct segmap_config *cfg);

/* Look a vdisk / container / host up by name; NULL if not declared. */
const struct cfg_vdisk *cfg_find_vdisk (const struct segmap_config *cfg,
                                        const char *name);
const struct cfg_container *cfg_find_container (const struct segmap_config *cfg,
                                                const char *name);
const struct cfg_host *cfg_find_host (const struct segmap_config *cfg,
                                      const char *name);

/* Parse a numeric listening address: "A.B.C.D:PORT" or "[IPV6]:PORT"
 * (port 1-65535).  On success stores the address without brackets in
 * ADDR (CFG_ADDR_MAX bytes) and the port in *PORT and returns NULL;
 * otherwise returns a static string saying what is wrong, for the
 * caller to report with its own context (file:line, parameter name). */
const char *cfg_parse_address (const char *str, char *addr, uint16_t *port);

/* Parse a yes/no value (yes, no, true, false, on, off, 1, 0; any case)
 * into *VALUE.  Returns 0, or -1 (nothing reported) if STR is none of
 * these. */
int cfg_parse_bool (const char *str, bool *value);

#endif /* SEGMAP_CONFIG_H */
