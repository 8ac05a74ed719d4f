/* segmap: unit tests of the iSCSI service's directory as the controller
 * implements it (src/controller/iscsi-directory.c) and of per-vdisk
 * read-only from the controller down to the agent's I/O path.
 *
 * Each test runs a whole in-process agent and controller, wired as the
 * composition room (src/instance) wires them, on a temporary state directory (the embedded
 * defaults: container "default", vdisk "disk0").  Changes are made the
 * way segmapctl makes them (controller_admin, JSON), and read back
 * through the typed directory, as the iSCSI service reads them; a
 * "restart" stops the controller and starts a new agent and controller
 * on the same state.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test-util.h"

#include "agent/agent.h"
#include "common/errors.h"
#include "config/config.h"
#include "controller/controller.h"
#include "controller/iscsi-directory.h"
#include "instance/transport-local.h"
#include "proto/transport.h"

static char state_dir[] = "/tmp/segmap-test-directory-XXXXXX";
static struct segmap_config *cfg;
static struct agent *agent;
static struct controller *ctrl;
static struct transport tr;
static const struct iscsi_directory_ops *dir = &controller_iscsi_directory;

static void
start (void)
{
  agent = agent_new ("test", 0);
  ck_assert_ptr_nonnull (agent);
  ctrl = controller_new (cfg);
  ck_assert_ptr_nonnull (ctrl);
  transport_local_init (&tr, agent, ctrl);
  agent_set_transport (agent, &tr);
  ck_assert_int_eq (controller_start (ctrl), 0);
  ck_assert_int_eq (agent_register (agent), 0);
}

static void
stop (void)
{
  controller_stop (ctrl);
  controller_free (ctrl);
  agent_free (agent);
  ctrl = NULL;
  agent = NULL;
}

static void
setup (void)
{
  ck_assert_ptr_nonnull (mkdtemp (state_dir));
  cfg = cfg_new_empty ();
  ck_assert_ptr_nonnull (cfg);
  ck_assert_int_eq (cfg_finish (cfg, state_dir), 0);
  start ();
}

static void
teardown (void)
{
  char cmd[sizeof state_dir + 16];

  stop ();
  cfg_free (cfg);
  snprintf (cmd, sizeof cmd, "rm -rf %s", state_dir);
  ck_assert_int_eq (system (cmd), 0);
  strcpy (state_dir + strlen (state_dir) - 6, "XXXXXX");
}

/* Run administration command CMD with ARGS (JSON text); the result, or
 * NULL with the error in *ERROR (caller frees both). */
static json_object *
admin (const char *cmd, const char *args, char **error)
{
  json_object *a = json_tokener_parse (args);
  json_object *r;

  ck_assert_ptr_nonnull (a);
  r = controller_admin (ctrl, cmd, a, error);
  json_object_put (a);
  return r;
}

static void
admin_ok (const char *cmd, const char *args)
{
  char *error = NULL;
  json_object *r = admin (cmd, args, &error);

  if (r == NULL)
    ck_abort_msg ("%s %s: %s", cmd, args, error);
  json_object_put (r);
}

/* Access lists ------------------------------------------------------------- */

START_TEST (test_access_empty)
{
  struct iscsi_access a;

  ck_assert_int_eq (dir->access (ctrl, &a), 0);
  ck_assert_uint_eq (a.n_hosts, 0);
  ck_assert_ptr_null (a.chap.user);
  ck_assert_ptr_null (a.chap.secret_file);
  ck_assert_ptr_null (a.chap.mutual_user);
  ck_assert_ptr_null (a.chap.mutual_secret_file);
  iscsi_access_clear (&a);
}
END_TEST

START_TEST (test_access_hosts_and_chap)
{
  struct iscsi_access a;

  admin_ok ("iscsi.host.add",
            "{\"name\": \"web\", \"initiator\": \"iqn.2026-11.org.t:web\","
            " \"vdisks\": [\"disk0\", \"later\"], \"chap_user\": \"wu\","
            " \"chap_secret_file\": \"/etc/web.secret\"}");
  admin_ok ("iscsi.host.add",
            "{\"name\": \"db\", \"initiator\": \"iqn.2026-11.org.t:db\"}");
  admin_ok ("iscsi.chap.set",
            "{\"chap_user\": \"admin\", \"chap_secret_file\": \"/a\","
            " \"mutual_chap_user\": \"tgt\","
            " \"mutual_chap_secret_file\": \"/m\"}");

  ck_assert_int_eq (dir->access (ctrl, &a), 0);
  ck_assert_uint_eq (a.n_hosts, 2);
  /* Ordered by name. */
  ck_assert_str_eq (a.hosts[0].name, "db");
  ck_assert_str_eq (a.hosts[0].initiator, "iqn.2026-11.org.t:db");
  ck_assert_ptr_null (a.hosts[0].chap_user);
  ck_assert_ptr_null (a.hosts[0].chap_secret_file);
  ck_assert_uint_eq (a.hosts[0].n_vdisks, 0);
  ck_assert_str_eq (a.hosts[1].name, "web");
  ck_assert_str_eq (a.hosts[1].initiator, "iqn.2026-11.org.t:web");
  ck_assert_str_eq (a.hosts[1].chap_user, "wu");
  ck_assert_str_eq (a.hosts[1].chap_secret_file, "/etc/web.secret");
  ck_assert_uint_eq (a.hosts[1].n_vdisks, 2);
  ck_assert (strcmp (a.hosts[1].vdisks[0], "disk0") == 0
             || strcmp (a.hosts[1].vdisks[1], "disk0") == 0);
  ck_assert (strcmp (a.hosts[1].vdisks[0], "later") == 0
             || strcmp (a.hosts[1].vdisks[1], "later") == 0);
  ck_assert_str_eq (a.chap.user, "admin");
  ck_assert_str_eq (a.chap.secret_file, "/a");
  ck_assert_str_eq (a.chap.mutual_user, "tgt");
  ck_assert_str_eq (a.chap.mutual_secret_file, "/m");
  iscsi_access_clear (&a);
  ck_assert_uint_eq (a.n_hosts, 0);
  ck_assert_ptr_null (a.hosts);

  /* A change made after is seen by the next snapshot. */
  admin_ok ("iscsi.host.remove", "{\"name\": \"web\"}");
  admin_ok ("iscsi.chap.set", "{}");
  ck_assert_int_eq (dir->access (ctrl, &a), 0);
  ck_assert_uint_eq (a.n_hosts, 1);
  ck_assert_str_eq (a.hosts[0].name, "db");
  ck_assert_ptr_null (a.chap.user);
  ck_assert_ptr_null (a.chap.mutual_user);
  iscsi_access_clear (&a);
}
END_TEST

/* Identity ----------------------------------------------------------------- */

START_TEST (test_identity)
{
  struct iscsi_vdisk_identity id0, id1, again;
  time_t now = time (NULL);

  ck_assert_int_eq (dir->vdisk_identity (ctrl, "disk0", &id0), 0);
  ck_assert_uint_ne (id0.id, 0);
  ck_assert_int_ge (id0.created, now - 60);
  ck_assert_int_le (id0.created, now + 60);

  /* Deleted and created again under the same name: a new id. */
  admin_ok ("vdisk.create", "{\"name\": \"d1\", \"size\": 1048576}");
  ck_assert_int_eq (dir->vdisk_identity (ctrl, "d1", &id1), 0);
  ck_assert_uint_ne (id1.id, id0.id);
  admin_ok ("vdisk.delete", "{\"name\": \"d1\"}");
  ck_assert_int_eq (dir->vdisk_identity (ctrl, "d1", &again), -1);
  ck_assert_ptr_nonnull (strstr (sm_last_error (), "'d1' does not exist"));
  admin_ok ("vdisk.create", "{\"name\": \"d1\", \"size\": 1048576}");
  ck_assert_int_eq (dir->vdisk_identity (ctrl, "d1", &again), 0);
  ck_assert_uint_ne (again.id, id1.id);

  /* Stable across a restart. */
  stop ();
  start ();
  ck_assert_int_eq (dir->vdisk_identity (ctrl, "disk0", &again), 0);
  ck_assert_uint_eq (again.id, id0.id);
  ck_assert_int_eq (again.created, id0.created);
}
END_TEST

/* Persistent reservations --------------------------------------------------- */

START_TEST (test_pr)
{
  static const char state[] = "reservation state \0 with a zero byte";
  void *blob = (void *) 1;
  size_t len = 99;

  ck_assert_int_eq (dir->pr_load (ctrl, "disk0", &blob, &len), 0);
  ck_assert_ptr_null (blob);
  ck_assert_uint_eq (len, 0);
  ck_assert_int_eq (dir->pr_save (ctrl, "disk0", state, sizeof state), 0);
  ck_assert_int_eq (dir->pr_load (ctrl, "disk0", &blob, &len), 0);
  ck_assert_uint_eq (len, sizeof state);
  ck_assert (memcmp (blob, state, len) == 0);
  free (blob);

  /* Durable: read back after a restart. */
  stop ();
  start ();
  ck_assert_int_eq (dir->pr_load (ctrl, "disk0", &blob, &len), 0);
  ck_assert_uint_eq (len, sizeof state);
  ck_assert (memcmp (blob, state, len) == 0);
  free (blob);

  /* No such vdisk: refused, with its name. */
  ck_assert_int_eq (dir->pr_save (ctrl, "ghost", state, 4), -1);
  ck_assert_ptr_nonnull (strstr (sm_last_error (), "'ghost'"));
  ck_assert_int_eq (dir->pr_load (ctrl, "ghost", &blob, &len), -1);
  ck_assert_ptr_null (blob);
}
END_TEST

/* Read-only ---------------------------------------------------------------- */

/* A 4 KiB write at offset 0 of T: 0, or -1 with errno. */
static int
try_write (struct table *t)
{
  char buf[4096] = "data";

  return agent_pwrite (agent, t, buf, sizeof buf, 0, false);
}

static void
expect_mode (const char *vdisk, bool read_only)
{
  char *error = NULL;
  char args[128];
  json_object *r, *ro;

  snprintf (args, sizeof args, "{\"name\": \"%s\"}", vdisk);
  r = admin ("vdisk.info", args, &error);
  ck_assert_ptr_nonnull (r);
  ck_assert (json_object_object_get_ex (r, "read_only", &ro));
  ck_assert_int_eq (json_object_get_boolean (ro), read_only);
  json_object_put (r);
}

START_TEST (test_read_only)
{
  struct table *t = agent_open_vdisk (agent, "disk0");
  char buf[4096];

  ck_assert_ptr_nonnull (t);
  ck_assert_int_eq (try_write (t), 0);
  admin_ok ("vdisk.set", "{\"name\": \"disk0\", \"read_only\": true}");
  expect_mode ("disk0", true);

  errno = 0;
  ck_assert_int_eq (try_write (t), -1);
  ck_assert_int_eq (errno, EROFS);
  errno = 0;
  ck_assert_int_eq (agent_trim (agent, t, 1 << 20, 0, false), -1);
  ck_assert_int_eq (errno, EROFS);
  errno = 0;
  ck_assert_int_eq (agent_zero (agent, t, 4096, 8192, false), -1);
  ck_assert_int_eq (errno, EROFS);
  /* Reads work, and see what was written before. */
  ck_assert_int_eq (agent_pread (agent, t, buf, sizeof buf, 0), 0);
  ck_assert_str_eq (buf, "data");

  /* Stored: still read-only after a restart. */
  agent_close_vdisk (agent, t);
  stop ();
  start ();
  expect_mode ("disk0", true);
  t = agent_open_vdisk (agent, "disk0");
  ck_assert_ptr_nonnull (t);
  errno = 0;
  ck_assert_int_eq (try_write (t), -1);
  ck_assert_int_eq (errno, EROFS);

  /* Read-write again, on the open handle. */
  admin_ok ("vdisk.set", "{\"name\": \"disk0\", \"read_only\": false}");
  expect_mode ("disk0", false);
  ck_assert_int_eq (try_write (t), 0);
  ck_assert_int_eq (agent_trim (agent, t, 1 << 20, 0, false), 0);
  agent_close_vdisk (agent, t);
}
END_TEST

START_TEST (test_read_only_bad_args)
{
  char *error = NULL;
  json_object *r;

  r = admin ("vdisk.set", "{\"name\": \"disk0\"}", &error);
  ck_assert_ptr_null (r);
  ck_assert_ptr_nonnull (strstr (error, "read_only"));
  free (error);
  error = NULL;
  r = admin ("vdisk.set", "{\"name\": \"disk0\", \"read_only\": 1}", &error);
  ck_assert_ptr_null (r);
  ck_assert_ptr_nonnull (strstr (error, "read_only"));
  free (error);
  error = NULL;
  r = admin ("vdisk.set", "{\"name\": \"ghost\", \"read_only\": true}",
             &error);
  ck_assert_ptr_null (r);
  ck_assert_ptr_nonnull (strstr (error, "ghost"));
  free (error);
  expect_mode ("disk0", false);
}
END_TEST

static Suite *
directory_suite (void)
{
  Suite *s = suite_create ("directory");
  TCase *tc = tcase_create ("directory");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_access_empty);
  tcase_add_test (tc, test_access_hosts_and_chap);
  tcase_add_test (tc, test_identity);
  tcase_add_test (tc, test_pr);
  tcase_add_test (tc, test_read_only);
  tcase_add_test (tc, test_read_only_bad_args);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return sm_test_run (directory_suite ());
}
