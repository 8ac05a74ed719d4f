/* segmap: unit tests of the configuration file (src/config/).
 *
 * Every file is written into a fresh temporary directory and loaded
 * with cfg_load.  Errors are captured through sm_set_log_sinks: each
 * error test asserts the exact "FILE:LINE: " prefix of the last message
 * and a piece of its text, so a wrong line number fails the test.
 *
 * test_examples parses the shipped example files: it needs
 * $abs_top_srcdir, which `make check` sets.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>

#include "test-util.h"
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/limits.h"
#include "config/config.h"

/* sm_error calls are counted, and the last message kept. */
static unsigned n_errors;
static char last_error[1024];

static char tmpdir[PATH_MAX];   /* this test's directory */
static char saved_cwd[PATH_MAX];
static char conf_path[PATH_MAX + 32];   /* the file the test wrote last */

static void
error_sink (const char *fmt, va_list args)
{
  n_errors++;
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

static void
setup (void)
{
  const char *t = getenv ("TMPDIR");

  char dir[PATH_MAX];

  /* The physical path: getcwd, which segmap uses, resolves symlinks. */
  snprintf (dir, sizeof dir, "%s/test-config.XXXXXX", t ? t : "/tmp");
  ck_assert_ptr_nonnull (mkdtemp (dir));
  ck_assert_ptr_nonnull (realpath (dir, tmpdir));
  ck_assert_ptr_nonnull (getcwd (saved_cwd, sizeof saved_cwd));
  sm_set_log_sinks (error_sink, NULL);
  n_errors = 0;
  last_error[0] = '\0';
}

static int
remove_one (const char *path, const struct stat *st, int flag,
            struct FTW *ftw)
{
  (void) st; (void) flag; (void) ftw;
  return remove (path);
}

static void
teardown (void)
{
  sm_set_log_sinks (NULL, NULL);
  assert (chdir (saved_cwd) == 0);
  assert (nftw (tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* Write LEN bytes of TEXT to TMPDIR/NAME; the path is in conf_path. */
static const char *
write_file_n (const char *name, const char *text, size_t len)
{
  FILE *fp;

  snprintf (conf_path, sizeof conf_path, "%s/%s", tmpdir, name);
  fp = fopen (conf_path, "w");
  ck_assert_ptr_nonnull (fp);
  ck_assert_uint_eq (fwrite (text, 1, len, fp), len);
  ck_assert_int_eq (fclose (fp), 0);
  return conf_path;
}

static const char *
write_file (const char *name, const char *text)
{
  return write_file_n (name, text, strlen (text));
}

static struct segmap_config *
load (const char *text)
{
  struct segmap_config *cfg;

  n_errors = 0;
  last_error[0] = '\0';
  cfg = cfg_load (write_file ("t.conf", text));

  ck_assert_msg (cfg != NULL, "unexpected error: %s\n--- in:\n%s",
                 last_error, text);
  ck_assert_uint_eq (n_errors, 0);
  return cfg;
}

/* Loading LEN bytes of TEXT fails with "FILE:LINE: ...MSG...". */
static void
expect_error_n (const char *text, size_t len, unsigned line,
                const char *msg)
{
  char prefix[PATH_MAX + 64];
  struct segmap_config *cfg;

  n_errors = 0;
  last_error[0] = '\0';
  cfg = cfg_load (write_file_n ("t.conf", text, len));
  ck_assert_msg (cfg == NULL, "accepted:\n%s", text);
  snprintf (prefix, sizeof prefix, "%s:%u: ", conf_path, line);
  ck_assert_msg (strncmp (last_error, prefix, strlen (prefix)) == 0,
                 "expected prefix '%s', got '%s'\n--- in:\n%s",
                 prefix, last_error, text);
  ck_assert_msg (strstr (last_error, msg) != NULL,
                 "expected '%s' in '%s'\n--- in:\n%s", msg, last_error, text);
}

static void
expect_error (const char *text, unsigned line, const char *msg)
{
  expect_error_n (text, strlen (text), line, msg);
  /* One message, except when sm_parse_size explained a bad size first. */
  ck_assert_uint_le (n_errors, strstr (last_error, "expected a size")
                     || strstr (last_error, "too large") ? 2 : 1);
}

/* TMPDIR/REL, for comparing resolved paths. */
static const char *
in_tmp (const char *rel)
{
  static char buf[PATH_MAX + 64];

  snprintf (buf, sizeof buf, "%s/%s", tmpdir, rel);
  return buf;
}

/*----------------------------------------------------------------------
 * Good files.
 */

static const char full_conf[] =
  "# a full configuration\n"                                   /* 1 */
  "[controller]\n"
  "state-dir = /var/lib/segmap\n"
  "socket = /run/segmap.sock\n"
  "database = /var/lib/segmap/map.db\n"                        /* 5 */
  "# listen, psk-file: not supported yet\n"
  "\n"
  "\n"
  "[agent]\n"
  "controller = local\n"                                       /* 10 */
  "name = node-2\n"
  "# psk-file: not supported yet\n"
  "memory-limit = 256M\n"
  "\n"
  "[iscsi]\n"                                                  /* 15 */
  "enabled = no\n"
  "portal = 192.0.2.1:3260\n"
  "portal = [2001:db8::1]:3260\n"
  "target-prefix = iqn.2026-11.com.example.storage\n"
  "chap-user = admin\n"                                        /* 20 */
  "chap-secret-file = /etc/segmap/chap\n"
  "\n"
  "[container fast]\n"
  "path = /dev/nvme0n1\n"
  "[container slow]\n"                                         /* 25 */
  "path = /srv/slow.img\n"
  "size = 2T\n"
  "[container san]\n"
  "path = /srv/san.img\n"
  "\n"                                                         /* 30 */
  "[vdisk db]\n"
  "size = 100G\n"
  "container = fast\n"
  "segment-size = 4M\n"
  "[vdisk web]\n"                                              /* 35 */
  "size = 20G\n"
  "\n"
  "[host web1]\n"
  "initiator = iqn.1994-05.com.redhat:web1\n"
  "vdisk = web\n"                                              /* 40 */
  "vdisk = db\n";

START_TEST (test_full_file)
{
  struct segmap_config *cfg = load (full_conf);
  const struct cfg_vdisk *v;
  const struct cfg_host *h;

  ck_assert_str_eq (cfg->file, conf_path);
  ck_assert_str_eq (cfg->state_dir, "/var/lib/segmap");
  ck_assert_str_eq (cfg->socket, "/run/segmap.sock");
  ck_assert_str_eq (cfg->database, "/var/lib/segmap/map.db");
  ck_assert_ptr_null (cfg->listen);
  ck_assert_ptr_null (cfg->psk_file);
  ck_assert_str_eq (cfg->agent_controller, "local");
  ck_assert_str_eq (cfg->agent_name, "node-2");
  ck_assert_ptr_null (cfg->agent_psk_file);
  ck_assert_uint_eq (cfg->memory_limit, UINT64_C(256) << 20);
  ck_assert (!cfg->iscsi_enabled);
  ck_assert_uint_eq (cfg->n_portals, 2);
  ck_assert_str_eq (cfg->portals[0], "192.0.2.1:3260");
  ck_assert_str_eq (cfg->portals[1], "[2001:db8::1]:3260");
  ck_assert_str_eq (cfg->target_prefix, "iqn.2026-11.com.example.storage");
  ck_assert_str_eq (cfg->chap_user, "admin");
  ck_assert_str_eq (cfg->chap_secret_file, "/etc/segmap/chap");

  ck_assert_uint_eq (cfg->n_containers, 3);
  ck_assert_str_eq (cfg->containers[0].name, "fast");
  ck_assert_str_eq (cfg->containers[0].path, "/dev/nvme0n1");
  ck_assert_ptr_null (cfg->containers[0].uri);
  ck_assert_uint_eq (cfg->containers[0].size, 0);
  ck_assert_uint_eq (cfg->containers[0].line, 23);
  ck_assert_uint_eq (cfg->containers[1].size, UINT64_C(2) << 40);
  ck_assert_str_eq (cfg->containers[2].path, "/srv/san.img");
  ck_assert_ptr_null (cfg->containers[2].uri);
  ck_assert_uint_eq (cfg->containers[2].line, 28);

  ck_assert_uint_eq (cfg->n_vdisks, 2);
  v = cfg_find_vdisk (cfg, "db");
  ck_assert_ptr_eq (v, &cfg->vdisks[0]);
  ck_assert_uint_eq (v->size, UINT64_C(100) << 30);
  ck_assert_str_eq (v->container, "fast");
  ck_assert_uint_eq (v->container_line, 33);
  ck_assert_uint_eq (v->segment_size, UINT64_C(4) << 20);
  ck_assert_uint_eq (v->line, 31);
  v = cfg_find_vdisk (cfg, "web");
  ck_assert_ptr_null (v->container);
  ck_assert_uint_eq (v->container_line, 0);
  ck_assert_uint_eq (v->segment_size, 0);
  ck_assert_ptr_null (cfg_find_vdisk (cfg, "nope"));

  ck_assert_uint_eq (cfg->n_hosts, 1);
  h = cfg_find_host (cfg, "web1");
  ck_assert_ptr_nonnull (h);
  ck_assert_str_eq (h->initiator, "iqn.1994-05.com.redhat:web1");
  ck_assert_uint_eq (h->n_vdisks, 2);
  ck_assert_str_eq (h->vdisks[0], "web");
  ck_assert_str_eq (h->vdisks[1], "db");
  ck_assert_uint_eq (h->vdisk_lines[0], 40);
  ck_assert_uint_eq (h->vdisk_lines[1], 41);
  ck_assert_ptr_nonnull (cfg_find_container (cfg, "san"));

  /* cfg_finish keeps what was given and fills in the rest. */
  ck_assert_int_eq (cfg_finish (cfg, NULL), 0);
  ck_assert_str_eq (cfg->state_dir, "/var/lib/segmap");
  ck_assert_str_eq (cfg->socket, "/run/segmap.sock");
  ck_assert_uint_eq (cfg->n_portals, 2);
  ck_assert_uint_eq (cfg->n_containers, 3);
  ck_assert_uint_eq (cfg->n_vdisks, 2);
  ck_assert_str_eq (cfg_find_vdisk (cfg, "web")->container, "fast");
  ck_assert_uint_eq (cfg_find_vdisk (cfg, "web")->segment_size,
                     SM_SEGMENT_SIZE_DEFAULT);
  ck_assert_uint_eq (cfg_find_vdisk (cfg, "db")->segment_size,
                     UINT64_C(4) << 20);
  cfg_free (cfg);
}
END_TEST

/* Comments, indentation, CRLF, a byte order mark, spacing, ';' inside a
 * value, a line of exactly CFG_MAX_LINE characters. */
START_TEST (test_grammar)
{
  static const char fmt[] =
    "\xef\xbb\xbf; leading comment after a BOM\r\n"
    "   # indented comment\r\n"
    "[ container   c1 ]   # trailing comment\r\n"
    "\tpath = /srv/c1.img ; comment\r\n"
    "  size=1G%s\n"
    "\n"
    "[container c2]\n"
    "path = %s\n"
    "[vdisk  v]\n"
    "    size   =   1M   \n"
    "    container = c1\n"
    "[iscsi]\n"
    "chap-user = a;b#c\n"
    "chap-secret-file = s\n"
    "enabled = YES\n";
  char text[1024], path[CFG_MAX_LINE + 1];
  struct segmap_config *cfg;
  size_t prefix = strlen ("path = /");

  memset (path, 'p', sizeof path);
  path[0] = '/';
  path[CFG_MAX_LINE - prefix + 1] = '\0';
  ck_assert_uint_eq (strlen ("path = ") + strlen (path), CFG_MAX_LINE);

  /* ';' without a blank before it is part of the value. */
  snprintf (text, sizeof text, fmt, ";no-comment", path);
  expect_error (text, 5, "invalid size '1G;no-comment'");

  snprintf (text, sizeof text, fmt, " ;a comment", path);
  cfg = load (text);
  ck_assert_uint_eq (cfg->n_containers, 2);
  ck_assert_str_eq (cfg->containers[0].name, "c1");
  ck_assert_str_eq (cfg->containers[0].path, "/srv/c1.img");
  ck_assert_uint_eq (cfg->containers[0].size, UINT64_C(1) << 30);
  ck_assert_str_eq (cfg->containers[1].path, path);
  ck_assert_str_eq (cfg->vdisks[0].name, "v");
  ck_assert_uint_eq (cfg->vdisks[0].size, UINT64_C(1) << 20);
  ck_assert_str_eq (cfg->vdisks[0].container, "c1");
  ck_assert_uint_eq (cfg->vdisks[0].line, 9);
  ck_assert_str_eq (cfg->chap_user, "a;b#c");
  ck_assert_str_eq (cfg->chap_secret_file, in_tmp ("s"));
  ck_assert (cfg->iscsi_enabled);
  cfg_free (cfg);
}
END_TEST

/* Containers may be declared after the vdisks and hosts naming them. */
START_TEST (test_forward_references)
{
  struct segmap_config *cfg = load ("[host h]\n"
                                    "vdisk = v\n"
                                    "initiator = eui.0123456789ABCDEF\n"
                                    "[vdisk v]\n"
                                    "container = c\n"
                                    "size = 512\n"
                                    "[container c]\n"
                                    "path = /c");   /* no final newline */

  ck_assert_uint_eq (cfg->vdisks[0].size, 512);
  ck_assert_str_eq (cfg->containers[0].path, "/c");
  ck_assert_str_eq (cfg->hosts[0].initiator, "eui.0123456789ABCDEF");
  cfg_free (cfg);
}
END_TEST

/* Paths written in the file are relative to the file's directory, even
 * when the file itself was named by a relative path. */
START_TEST (test_relative_paths)
{
  static const char text[] =
    "[controller]\n"
    "state-dir = state\n"
    "socket = ./run/s.sock\n"
    "database = ../db/map.db\n"
    "[iscsi]\n"
    "chap-user = u\n"
    "chap-secret-file = chap.secret\n"
    "[container a]\n"
    "path = disks/a.img\n"
    "[container b]\n"
    "path = /abs/b.img\n";
  struct segmap_config *cfg;
  char sub[PATH_MAX + 8], expect[PATH_MAX + 64];

  snprintf (sub, sizeof sub, "%s/sub", tmpdir);
  ck_assert_int_eq (mkdir (sub, 0700), 0);
  write_file ("sub/t.conf", text);

  for (int rel = 0; rel <= 1; rel++) {
    /* Absolute file name, then "sub/t.conf" from TMPDIR. */
    if (rel)
      ck_assert_int_eq (chdir (tmpdir), 0);
    cfg = cfg_load (rel ? "sub/t.conf" : conf_path);
    ck_assert_msg (cfg != NULL, "%s", last_error);
    ck_assert_str_eq (cfg->file, rel ? "sub/t.conf" : conf_path);
#define CHECK(field, rel_path)                                  \
    snprintf (expect, sizeof expect, "%s/%s", sub, rel_path);   \
    ck_assert_str_eq (field, expect)
    CHECK (cfg->state_dir, "state");
    CHECK (cfg->socket, "run/s.sock");
    CHECK (cfg->database, "../db/map.db");
    CHECK (cfg->chap_secret_file, "chap.secret");
    CHECK (cfg->containers[0].path, "disks/a.img");
#undef CHECK
    ck_assert_str_eq (cfg->containers[1].path, "/abs/b.img");
    /* Already absolute: cfg_finish leaves them alone, whatever the cwd. */
    ck_assert_int_eq (chdir ("/"), 0);
    ck_assert_int_eq (cfg_finish (cfg, NULL), 0);
    ck_assert_str_eq (cfg->containers[0].path, in_tmp ("sub/disks/a.img"));
    ck_assert_str_eq (cfg->state_dir, in_tmp ("sub/state"));
    cfg_free (cfg);
    ck_assert_int_eq (chdir (saved_cwd), 0);
  }
}
END_TEST

/*----------------------------------------------------------------------
 * cfg_finish.
 */

static void
check_embedded (const struct segmap_config *cfg, const char *state_dir)
{
  char expect[PATH_MAX + 64];

  ck_assert_str_eq (cfg->state_dir, state_dir);
  snprintf (expect, sizeof expect, "%s/segmap.sock", state_dir);
  ck_assert_str_eq (cfg->socket, expect);
  snprintf (expect, sizeof expect, "%s/segmap.db", state_dir);
  ck_assert_str_eq (cfg->database, expect);
  ck_assert_uint_eq (cfg->n_containers, 1);
  ck_assert_str_eq (cfg->containers[0].name, SM_DEFAULT_CONTAINER);
  snprintf (expect, sizeof expect, "%s/default.img", state_dir);
  ck_assert_str_eq (cfg->containers[0].path, expect);
  ck_assert_uint_eq (cfg->containers[0].size, SM_DEFAULT_CONTAINER_SIZE);
  ck_assert_uint_eq (cfg->n_vdisks, 1);
  ck_assert_str_eq (cfg->vdisks[0].name, SM_DEFAULT_VDISK);
  ck_assert_uint_eq (cfg->vdisks[0].size, SM_DEFAULT_VDISK_SIZE);
  ck_assert_str_eq (cfg->vdisks[0].container, SM_DEFAULT_CONTAINER);
  ck_assert_uint_eq (cfg->vdisks[0].segment_size, SM_SEGMENT_SIZE_DEFAULT);
  ck_assert_uint_eq (cfg->vdisks[0].line, 0);
}

START_TEST (test_finish_defaults)
{
  struct segmap_config *cfg = cfg_new_empty ();

  ck_assert_int_eq (chdir (tmpdir), 0);
  ck_assert_ptr_null (cfg->file);
  ck_assert_int_eq (cfg_finish (cfg, NULL), 0);
  check_embedded (cfg, in_tmp ("segmap-state"));
  ck_assert_str_eq (cfg->agent_controller, "local");
  ck_assert_ptr_nonnull (cfg->agent_name);
  ck_assert_ptr_null (cfg->agent_psk_file);
  ck_assert_uint_eq (cfg->memory_limit, UINT64_C(64) << 20);
  ck_assert (cfg->iscsi_enabled);
  ck_assert_uint_eq (cfg->n_portals, 1);
  ck_assert_str_eq (cfg->portals[0], "127.0.0.1:3260");
  ck_assert_str_eq (cfg->target_prefix, "iqn.2026-11.org.segmap");
  ck_assert_ptr_null (cfg->listen);
  ck_assert_ptr_null (cfg->chap_user);
  ck_assert_uint_eq (cfg->n_hosts, 0);
  cfg_free (cfg);

  /* The override, relative to the working directory. */
  cfg = cfg_new_empty ();
  ck_assert_int_eq (cfg_finish (cfg, "./elsewhere/st"), 0);
  check_embedded (cfg, in_tmp ("elsewhere/st"));
  cfg_free (cfg);

  /* A file that declares no container and no vdisk gets them too. */
  cfg = load ("# nothing\n[controller]\nstate-dir = /srv/st\n"
              "[host h]\ninitiator = iqn.2000-01.org.example:h\n");
  ck_assert_int_eq (cfg_finish (cfg, NULL), 0);
  check_embedded (cfg, "/srv/st");
  cfg_free (cfg);

  /* The override wins over the file. */
  cfg = load ("[controller]\nstate-dir = /srv/st\n");
  ck_assert_int_eq (cfg_finish (cfg, "/srv/other"), 0);
  check_embedded (cfg, "/srv/other");
  cfg_free (cfg);
}
END_TEST

/* Embedded defaults only when nothing is declared; a vdisk without a
 * container gets the first one. */
START_TEST (test_finish_declared)
{
  struct segmap_config *cfg;

  cfg = load ("[container only]\npath = /c.img\n");
  ck_assert_int_eq (cfg_finish (cfg, NULL), 0);
  ck_assert_uint_eq (cfg->n_containers, 1);
  ck_assert_str_eq (cfg->containers[0].name, "only");
  ck_assert_uint_eq (cfg->n_vdisks, 0);
  cfg_free (cfg);

  cfg = load ("[container one]\npath = /1.img\n"
              "[container two]\npath = /2.img\n"
              "[vdisk a]\nsize = 1G\n"
              "[vdisk b]\nsize = 1G\ncontainer = two\n");
  ck_assert_int_eq (cfg_finish (cfg, "/st"), 0);
  ck_assert_uint_eq (cfg->n_containers, 2);
  ck_assert_uint_eq (cfg->n_vdisks, 2);
  ck_assert_str_eq (cfg->vdisks[0].container, "one");
  ck_assert_str_eq (cfg->vdisks[1].container, "two");
  ck_assert_str_eq (cfg->socket, "/st/segmap.sock");
  cfg_free (cfg);

  /* A socket given in the file is kept when state-dir is overridden. */
  cfg = load ("[controller]\nsocket = /run/x.sock\n");
  ck_assert_int_eq (cfg_finish (cfg, "/st"), 0);
  ck_assert_str_eq (cfg->socket, "/run/x.sock");
  ck_assert_str_eq (cfg->database, "/st/segmap.db");
  cfg_free (cfg);
}
END_TEST

START_TEST (test_finish_errors)
{
  struct segmap_config *cfg = cfg_new_empty ();
  char longdir[200];

  ck_assert_int_eq (cfg_finish (cfg, ""), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "cannot be empty"));
  cfg_free (cfg);

  memset (longdir, 'd', sizeof longdir);
  longdir[0] = '/';
  longdir[sizeof longdir - 1] = '\0';
  cfg = cfg_new_empty ();
  ck_assert_int_eq (cfg_finish (cfg, longdir), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "too long for a Unix socket"));
  cfg_free (cfg);
}
END_TEST

/*----------------------------------------------------------------------
 * Errors, one test per class.
 */

START_TEST (test_err_unknown_section)
{
  expect_error ("[controller]\n\n[disk a]\n", 3, "unknown section [disk]");
  expect_error ("[Controller]\n", 1, "unknown section [Controller]");
  expect_error ("[]\n", 1, "empty section header");
}
END_TEST

/* A vdisk's pool and placement (sql/011). */
START_TEST (test_vdisk_pool)
{
  struct segmap_config *cfg = load ("[container a]\npath = /a\n"
                                    "[container b]\npath = /b\n"
                                    "[vdisk v]\nsize = 1G\n"
                                    "container = b,a\nplacement = spread\n");
  const struct cfg_vdisk *v = cfg_find_vdisk (cfg, "v");

  ck_assert_str_eq (v->container, "b,a");
  ck_assert_str_eq (v->placement, "spread");
  cfg_free (cfg);
  expect_error ("[container a]\npath = /a\n[vdisk v]\nsize = 1G\n"
                "container = a,d\n", 5,
                "vdisk 'v' names undeclared container 'd'");
  expect_error ("[vdisk v]\ncontainer = a, b\n", 2,
                "several separated by commas (no spaces)");
  expect_error ("[vdisk v]\ncontainer = a,\n", 2, "separated by commas");
  expect_error ("[vdisk v]\ncontainer = a,,b\n", 2, "separated by commas");
  expect_error ("[vdisk v]\nplacement = round\n", 2, "fill or spread");
}
END_TEST

START_TEST (test_err_unknown_key)
{
  expect_error ("[vdisk a]\nsize = 1G\nsegmentsize = 1M\n", 3,
                "unknown key 'segmentsize' in [vdisk a] (expected size, "
                "container, placement, segment-size)");
  expect_error ("[controller]\nportal = 1.2.3.4:3260\n", 2,
                "unknown key 'portal' in [controller]");
  expect_error ("[container c]\npath = /x\nSize = 1G\n", 3,
                "unknown key 'Size'");
}
END_TEST

START_TEST (test_err_duplicate_key)
{
  expect_error ("[vdisk a]\nsize = 1G\n# again\nsize = 2G\n", 4,
                "duplicate key 'size' in [vdisk a] (first at line 2)");
  expect_error ("[iscsi]\nenabled = yes\nenabled = no\n", 3,
                "duplicate key 'enabled' in [iscsi]");
  expect_error ("[host h]\ninitiator = iqn.2000-01.org.x:a\n"
                "initiator = iqn.2000-01.org.x:b\n", 3,
                "duplicate key 'initiator'");
}
END_TEST

START_TEST (test_err_duplicate_section)
{
  expect_error ("[container c]\npath = /x\n[vdisk a]\nsize = 1G\n"
                "[vdisk b]\nsize = 1G\n[vdisk a]\nsize = 2G\n", 7,
                "duplicate section [vdisk a] (first at line 3)");
  expect_error ("[controller]\n[agent]\n[controller]\n", 3,
                "duplicate section [controller] (first at line 1)");
  expect_error ("[container c]\npath = /x\n[container c]\npath = /y\n", 3,
                "duplicate section [container c]");
  expect_error ("[host h]\ninitiator = iqn.2000-01.org.x:a\n[host h]\n", 3,
                "duplicate section [host h]");
}
END_TEST

START_TEST (test_err_container_path_uri)
{
  expect_error ("[container c]\npath = /x\n"
                "uri = iscsi://h/iqn.2000-01.org.x:t/0\n", 3,
                "has both path (line 2) and uri (line 3)");
  expect_error ("[container c]\nuri = iscsi://h/iqn.2000-01.org.x:t/0\n"
                "size = 1G\npath = /x\n", 4, "has both path");
  expect_error ("[container c]\nsize = 1G\n[vdisk v]\nsize = 1G\n", 1,
                "[container c] needs path");
  expect_error ("[vdisk v]\nsize = 1G\n[container c]\n", 3,
                "[container c] needs path");
  /* Two containers on the same file. */
  expect_error ("[container a]\npath = /x.img\n[container b]\nsize = 1G\n"
                "path = /x.img\n", 5, "container 'b' uses the same path as "
                "container 'a' (line 1)");
}
END_TEST

START_TEST (test_err_undeclared_container)
{
  expect_error ("[container c]\npath = /x\n[vdisk a]\nsize = 1G\n"
                "container = d\n[vdisk b]\nsize = 1G\n", 5,
                "vdisk 'a' names undeclared container 'd'");
  expect_error ("[vdisk a]\nsize = 1G\n", 1,
                "vdisk 'a' needs a container, and no [container] is "
                "declared");
}
END_TEST

START_TEST (test_err_undeclared_vdisk)
{
  expect_error ("[container c]\npath = /x\n[vdisk a]\nsize = 1G\n"
                "[host h]\ninitiator = iqn.2000-01.org.x:h\nvdisk = a\n"
                "vdisk = b\n", 8, "host 'h' names undeclared vdisk 'b'");
  expect_error ("[host h]\ninitiator = iqn.2000-01.org.x:h\nvdisk = a\n"
                "vdisk = a\n", 4, "vdisk 'a' is already listed for host "
                "'h' (line 3)");
}
END_TEST

START_TEST (test_err_portal)
{
  static const char *const bad[] = {
    "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
    "127.0.0.1:32a", ":3260", "localhost:3260", "1.2.3:3260",
    "::1:3260", "[::1]", "[::1]3260", "[::1:3260", "[1.2.3.4]:3260",
    "[]:3260", "[fe80::1%eth0]:3260", "1.2.3.4:+80",
  };
  char text[256];

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf (text, sizeof text, "[iscsi]\nportal = 0.0.0.0:3260\n"
              "portal = %s\n", bad[i]);
    expect_error (text, 3, "invalid portal");
  }
  expect_error ("[iscsi]\nportal = 10.0.0.1:3260\nportal = 10.0.0.1:3261\n"
                "portal = [::1]:3260\nportal = [0:0::1]:3260\n", 5,
                "portal [0:0::1]:3260 is listed twice (also as [::1]:3260)");
}
END_TEST

START_TEST (test_err_outside_section)
{
  expect_error ("# comment\nsize = 1G\n[vdisk a]\n", 2,
                "key 'size' outside any section");
}
END_TEST

START_TEST (test_err_empty_value)
{
  expect_error ("[container c]\npath =\n", 2, "empty value for 'path'");
  expect_error ("[iscsi]\nportal =    # nothing\n", 2,
                "empty value for 'portal'");
}
END_TEST

START_TEST (test_err_long_line)
{
  char text[8192];
  size_t n;

  /* CFG_MAX_LINE + 1 characters on line 3. */
  n = snprintf (text, sizeof text, "[container c]\n# ok\npath = /");
  memset (text + n, 'x', CFG_MAX_LINE + 1 - strlen ("path = /"));
  strcpy (text + n + CFG_MAX_LINE + 1 - strlen ("path = /"), "\n");
  expect_error (text, 3, "line too long (198 characters, at most 197)");

  /* CFG_MAX_LINE characters, with a CR LF and after a BOM: fine. */
  n = snprintf (text, sizeof text, "\xef\xbb\xbf#");
  memset (text + n, 'x', CFG_MAX_LINE - 1);
  strcpy (text + n + CFG_MAX_LINE - 1, "\r\n[container c]\npath = /x\n");
  cfg_free (load (text));

  /* A very long comment is still a long line: no silent split. */
  n = snprintf (text, sizeof text, "[container c]\npath = /x\n#");
  memset (text + n, 'c', 5000);
  strcpy (text + n + 5000, "\n[vdisk v]\n");
  expect_error (text, 3, "line too long (5001 characters");
}
END_TEST

START_TEST (test_err_nul)
{
  static const char text[] = "[container c]\npath = /x\0y\n";
  static const char text2[] = "[container c]\npath = /x\n#\0\n";

  expect_error_n (text, sizeof text - 1, 2, "NUL byte");
  expect_error_n (text2, sizeof text2 - 1, 3, "NUL byte");
}
END_TEST

START_TEST (test_err_sizes)
{
  static const struct { const char *text; const char *msg; } bad[] = {
    { "[vdisk v]\nsize = 0\n", "a vdisk cannot be empty" },
    { "[vdisk v]\nsize = 1000\n", "multiple of 512" },
    { "[vdisk v]\nsize = 9P\n", "at most 8P" },
    { "[vdisk v]\nsize = 1X\n", "invalid size '1X': expected a size" },
    { "[vdisk v]\nsize = -1\n", "expected a size" },
    { "[vdisk v]\nsize = 1 G\n", "expected a size" },
    { "[vdisk v]\nsegment-size = 3M\n", "power of two from 64K to 64M" },
    { "[vdisk v]\nsegment-size = 32K\n", "power of two" },
    { "[vdisk v]\nsegment-size = 128M\n", "power of two" },
    { "[container c]\nsize = 100K\n", "multiple of 64K" },
    { "[container c]\nsize = 0\n", "cannot be empty" },
    { "[container c]\nsize = 128P\n", "at most 64P" },
    { "[agent]\nmemory-limit = 512K\n", "at least 1M" },
    { "[agent]\nmemory-limit = 99999999999999999999\n", "too large" },
    { "[agent]\nmemory-limit = 8E\n", "too large" },
  };

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_error (bad[i].text, 2, bad[i].msg);
}
END_TEST

START_TEST (test_err_names)
{
  expect_error ("[vdisk -a]\n", 1, "invalid vdisk name '-a': names are");
  expect_error ("[container a/b]\n", 1, "invalid container name 'a/b'");
  expect_error ("[vdisk a@snap]\n", 1, "invalid vdisk name");
  expect_error ("[vdisk a]\nsize = 1G\ncontainer = ../x\n", 3,
                "invalid container '../x'");
  expect_error ("[agent]\nname = my agent\n", 2, "invalid name 'my agent'");
}
END_TEST

START_TEST (test_err_header_syntax)
{
  expect_error ("[vdisk a\n", 1, "missing ']'");
  expect_error ("[vdisk a] size = 1G\n", 1, "unexpected text after ']'");
  expect_error ("[vdisk]\n", 1, "section [vdisk] needs a name");
  expect_error ("[controller main]\n", 1, "[controller] takes no name");
  expect_error ("[vdisk a b]\n", 1, "unexpected 'b' in section header");
}
END_TEST

START_TEST (test_err_pair_syntax)
{
  expect_error ("[vdisk a]\nsize 1G\n", 2, "expected 'KEY = VALUE'");
  expect_error ("[vdisk a]\nsize: 1G\n", 2, "expected 'KEY = VALUE'");
  expect_error ("[vdisk a]\n= 1G\n", 2, "missing key before '='");
  /* No continuation lines: an indented line is a line of its own. */
  expect_error ("[container c]\npath = /x\n   /more\n", 3,
                "expected 'KEY = VALUE'");
}
END_TEST

START_TEST (test_err_required)
{
  expect_error ("[container c]\npath = /x\n[vdisk a]\ncontainer = c\n"
                "[vdisk b]\nsize = 1G\n", 3, "[vdisk a] needs size");
  expect_error ("[host h]\nvdisk = a\n", 1, "[host h] needs initiator");
}
END_TEST

START_TEST (test_err_iscsi)
{
  expect_error ("[iscsi]\nchap-user = u\n", 2,
                "chap-user needs chap-secret-file");
  expect_error ("[iscsi]\nenabled = yes\nchap-secret-file = /s\n", 3,
                "chap-secret-file needs chap-user");
  expect_error ("[iscsi]\nmutual-chap-user = m\n"
                "mutual-chap-secret-file = /m\n", 2,
                "mutual-chap-user needs chap-user");
  expect_error ("[iscsi]\nchap-user = u\nchap-secret-file = /s\n"
                "mutual-chap-secret-file = /m\n", 4,
                "mutual-chap-secret-file needs mutual-chap-user");
  expect_error ("[host h]\ninitiator = iqn.2026-01.com.example:h\n"
                "chap-user = u\n", 3, "chap-user needs chap-secret-file");
  expect_error ("[iscsi]\nenabled = maybe\n", 2,
                "invalid enabled 'maybe': expected yes or no");
  expect_error ("[iscsi]\ntarget-prefix = iqn.2026-11.org.x:\n", 2,
                "must not end with ':'");
  expect_error ("[iscsi]\ntarget-prefix = eui.0123456789abcdef\n", 2,
                "must be an iqn. name");
  expect_error ("[iscsi]\ntarget-prefix = iqn.2026-13.org.x\n", 2,
                "invalid target-prefix");
  expect_error ("[host h]\ninitiator = iqn.2026-11.org.X:h\n", 2,
                "lowercase");
  expect_error ("[host h]\ninitiator = web1\n", 2, "invalid initiator");
  expect_error ("[host h]\ninitiator = eui.0123\n", 2, "16 hex digits");
  expect_error ("[host h]\ninitiator = naa.0123456789abcdef0\n", 2,
                "16 or 32 hex digits");
  expect_error ("[host a]\ninitiator = iqn.2000-01.org.x:h\n"
                "[host b]\ninitiator = iqn.2000-01.org.x:h\n", 4,
                "initiator iqn.2000-01.org.x:h already belongs to host "
                "'a' (line 1)");
}
END_TEST

START_TEST (test_err_controller_agent)
{
  expect_error ("[controller]\nlisten = 0.0.0.0:10809\n", 2,
                "listen needs psk-file");
  expect_error ("[controller]\nlisten = any:10809\npsk-file = k\n", 2,
                "invalid listen 'any:10809'");
  expect_error ("[agent]\ncontroller = tcp://ctl:10809\n", 2,
                "needs psk-file in [agent]");
  expect_error ("[agent]\ncontroller = remote\n", 2,
                "expected 'local' or tcp://HOST:PORT");
  expect_error ("[agent]\npsk-file = k\ncontroller = tcp://ctl\n", 3,
                "missing ':PORT'");
  expect_error ("[agent]\npsk-file = k\ncontroller = tcp://-x:1\n", 3,
                "HOST must be");
  /* Valid, but not built yet: refused with the line, never ignored. */
  expect_error ("[controller]\nlisten = 0.0.0.0:10809\npsk-file = k\n", 2,
                "listen is not supported yet");
  expect_error ("[controller]\nstate-dir = /s\npsk-file = k\n", 3,
                "psk-file is not supported yet");
  expect_error ("[agent]\npsk-file = k\ncontroller = tcp://ctl:10809\n", 3,
                "controller = tcp://ctl:10809 is not supported yet");
  expect_error ("[agent]\nname = a\npsk-file = k\n", 3,
                "psk-file is not supported yet");
  cfg_free (load ("[agent]\ncontroller = local\n"));
}
END_TEST

START_TEST (test_err_uri)
{
  static const char *const bad[] = {
    "http://h/iqn.2000-01.org.x:t/0", "iscsi://h", "iscsi://h/0",
    "iscsi:///iqn.2000-01.org.x:t/0", "iscsi://h/iqn.2000-01.org.x:t/",
    "iscsi://h/iqn.2000-01.org.x:t/x", "iscsi://h:0/iqn.2000-01.org.x:t/0",
    "iscsi://h/not-an-iqn/0", "iscsi://@h/iqn.2000-01.org.x:t/0",
    "iscsi://[::1/iqn.2000-01.org.x:t/0",
  };
  static const char *const good[] = {
    "iscsi://h/iqn.2000-01.org.x:t/0",
    "iscsi://10.0.0.1:3261/iqn.2000-01.org.x:t/12",
    "iscsi://[fd00::1]/iqn.2000-01.org.x:t/0",
    "iscsi://[fd00::1]:3260/eui.0123456789abcdef/1",
    "iscsi://user%secret@san.example.com/iqn.2000-01.org.x:t/0",
  };
  char text[256];

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf (text, sizeof text, "[container c]\nuri = %s\n", bad[i]);
    expect_error (text, 2, "invalid uri");
  }
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    snprintf (text, sizeof text, "[container c]\nuri = %s\n", good[i]);
    expect_error (text, 2, "uri is not supported yet");
  }
}
END_TEST

START_TEST (test_err_no_file)
{
  char path[PATH_MAX + 16];

  snprintf (path, sizeof path, "%s/missing.conf", tmpdir);
  ck_assert_ptr_null (cfg_load (path));
  ck_assert_ptr_nonnull (strstr (last_error, path));
  ck_assert_ptr_nonnull (strstr (last_error, "No such file"));
  /* A directory is not a configuration file either. */
  ck_assert_ptr_null (cfg_load (tmpdir));
  ck_assert_ptr_nonnull (strstr (last_error, "read error"));
}
END_TEST

/*----------------------------------------------------------------------
 * Value helpers and the shipped examples.
 */

START_TEST (test_values)
{
  char addr[CFG_ADDR_MAX];
  uint16_t port;
  bool b;

  ck_assert_ptr_null (cfg_parse_address ("10.1.2.3:860", addr, &port));
  ck_assert_str_eq (addr, "10.1.2.3");
  ck_assert_uint_eq (port, 860);
  ck_assert_ptr_null (cfg_parse_address ("[::]:65535", addr, &port));
  ck_assert_str_eq (addr, "::");
  ck_assert_uint_eq (port, 65535);
  ck_assert_ptr_nonnull (cfg_parse_address ("host:1", addr, &port));
  ck_assert_int_eq (cfg_parse_bool ("On", &b), 0);
  ck_assert (b);
  ck_assert_int_eq (cfg_parse_bool ("0", &b), 0);
  ck_assert (!b);
  ck_assert_int_eq (cfg_parse_bool ("", &b), -1);
  ck_assert_int_eq (cfg_parse_bool ("yess", &b), -1);
}
END_TEST

START_TEST (test_examples)
{
  static const char *const files[] = {
    "segmap.conf", "minimal.conf", "two-containers.conf",
  };
  const char *top = getenv ("abs_top_srcdir");
  char path[PATH_MAX];

  ck_assert_msg (top != NULL, "abs_top_srcdir is not set (run make check)");
  ck_assert_int_eq (chdir (tmpdir), 0);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    struct segmap_config *cfg;

    snprintf (path, sizeof path, "%s/examples/%s", top, files[i]);
    cfg = cfg_load (path);
    ck_assert_msg (cfg != NULL, "%s", last_error);
    ck_assert_uint_gt (cfg->n_vdisks, 0);
    ck_assert_int_eq (cfg_finish (cfg, NULL), 0);
    cfg_free (cfg);
  }
}
END_TEST

static Suite *
config_suite (void)
{
  Suite *s = suite_create ("config");
  TCase *tc = tcase_create ("config");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_full_file);
  tcase_add_test (tc, test_grammar);
  tcase_add_test (tc, test_forward_references);
  tcase_add_test (tc, test_relative_paths);
  tcase_add_test (tc, test_finish_defaults);
  tcase_add_test (tc, test_finish_declared);
  tcase_add_test (tc, test_finish_errors);
  tcase_add_test (tc, test_err_unknown_section);
  tcase_add_test (tc, test_err_unknown_key);
  tcase_add_test (tc, test_vdisk_pool);
  tcase_add_test (tc, test_err_duplicate_key);
  tcase_add_test (tc, test_err_duplicate_section);
  tcase_add_test (tc, test_err_container_path_uri);
  tcase_add_test (tc, test_err_undeclared_container);
  tcase_add_test (tc, test_err_undeclared_vdisk);
  tcase_add_test (tc, test_err_portal);
  tcase_add_test (tc, test_err_outside_section);
  tcase_add_test (tc, test_err_empty_value);
  tcase_add_test (tc, test_err_long_line);
  tcase_add_test (tc, test_err_nul);
  tcase_add_test (tc, test_err_sizes);
  tcase_add_test (tc, test_err_names);
  tcase_add_test (tc, test_err_header_syntax);
  tcase_add_test (tc, test_err_pair_syntax);
  tcase_add_test (tc, test_err_required);
  tcase_add_test (tc, test_err_iscsi);
  tcase_add_test (tc, test_err_controller_agent);
  tcase_add_test (tc, test_err_uri);
  tcase_add_test (tc, test_err_no_file);
  tcase_add_test (tc, test_values);
  tcase_add_test (tc, test_examples);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (config_suite ());
}
