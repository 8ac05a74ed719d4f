/* segmap: the SCSI logical units of the iSCSI service -- one per vdisk,
 * on the mapping agent.
 *
 * Every session to a vdisk shares its one struct scsi_lu, because
 * reservations and unit attentions belong to the logical unit, not to
 * a session.  A unit is created at the first login to its vdisk and
 * freed when the last session closes (units_open / units_close, under
 * the registry's mutex; logins are rare, commands never take it).
 *
 * The backend is the agent's I/O path (agent/agent.h), the same one the
 * NBD front-end uses, so both protocols see the same bytes at once.
 * Persistent reservations are kept by the directory (directory.h:
 * pr_load / pr_save, the controller in segmap), durably before
 * PERSISTENT RESERVE OUT completes.
 *
 * Write protection: a vdisk made read-only (segmapctl vdisk set NAME
 * --read-only) has its agent table marked so by the controller; the
 * logical unit asks the backend at every command that writes and at
 * every MODE SENSE (be_read_only), so the change shows at once on every
 * session: WP in MODE SENSE, writes refused with DATA PROTECT / WRITE
 * PROTECTED.
 *
 * Identity: the NAA identifier and the serial number are a hash of the
 * vdisk's name, id and creation time -- stable across restarts, and
 * different for a vdisk deleted and created again under the same name
 * (its id is never reused).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/cleanup.h"
#include "common/errors.h"
#include "common/hash.h"
#include "config/config.h"
#include "scsi/lu.h"
#include "service/service-internal.h"

#define BLOCK_SIZE 512

struct unit {
  struct unit *next;
  struct iscsi_service *s;
  char *name;
  struct table *t;
  struct scsi_lu *lu;
  unsigned refs;                /* sessions; protected by units_lock */
};

/* Backend: the agent ------------------------------------------------------ */

static int
be_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct unit *u = h;
  return agent_pread (u->s->agent, u->t, buf, count, offset);
}

static int
be_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           bool fua)
{
  struct unit *u = h;
  return agent_pwrite (u->s->agent, u->t, buf, count, offset, fua);
}

static uint64_t
be_failed_offset (void *h)
{
  return agent_io_failed_offset ();
}

static int
be_flush (void *h)
{
  struct unit *u = h;
  return agent_flush (u->s->agent, u->t);
}

static int
be_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct unit *u = h;
  return agent_trim (u->s->agent, u->t, count, offset, fua);
}

static int
be_zero (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct unit *u = h;
  return agent_zero (u->s->agent, u->t, count, offset, fua);
}

static int
be_extents (void *h, uint32_t count, uint64_t offset,
            int (*fn) (void *opaque, uint64_t offset, uint64_t len,
                       bool zero),
            void *opaque)
{
  struct unit *u = h;
  return agent_extents (u->s->agent, u->t, count, offset, fn, opaque);
}

static bool
be_read_only (void *h)
{
  struct unit *u = h;
  return atomic_load (&u->t->read_only);
}

static const struct scsi_backend_ops agent_backend = {
  .pread = be_pread, .pwrite = be_pwrite, .flush = be_flush,
  .trim = be_trim, .zero = be_zero, .extents = be_extents,
  .read_only = be_read_only,
  .failed_offset = be_failed_offset,
};

/* Persistent reservations: the directory ----------------------------------- */

static int
pr_load (void *h, const char *lu_name, void **blob, size_t *len)
{
  struct iscsi_service *s = h;
  return s->dir.ops->pr_load (s->dir.h, lu_name, blob, len);
}

static int
pr_save (void *h, const char *lu_name, const void *blob, size_t len)
{
  struct iscsi_service *s = h;
  return s->dir.ops->pr_save (s->dir.h, lu_name, blob, len);
}

static const struct scsi_pr_store_ops directory_pr = {
  .load = pr_load, .save = pr_save,
};

/* Identity ------------------------------------------------------------------ */

static int
fill_info (struct iscsi_service *s, struct unit *u,
           struct scsi_lu_info *info, char serial[33])
{
  struct iscsi_vdisk_identity id;
  uint64_t h1, h2;
  char key[128];
  int n;

  if (s->dir.ops->vdisk_identity (s->dir.h, u->name, &id) == -1)
    return -1;
  n = snprintf (key, sizeof key, "%s/%" PRIu64 "/%" PRIu64,
                u->name, (uint64_t) id.id,
                (uint64_t) (id.created > 0 ? id.created : 0));
  h1 = fnv1a_64 (FNV1A_64_INIT, key, n);
  h2 = fnv1a_64 (h1 ^ UINT64_C(0x9e3779b97f4a7c15), key, n);
  snprintf (serial, 33, "%016" PRIx64 "%016" PRIx64, h1, h2);
  memset (info, 0, sizeof *info);
  info->name = u->name;
  info->size = atomic_load (&u->t->size) / BLOCK_SIZE * BLOCK_SIZE;
  info->block_size = BLOCK_SIZE;
  info->optimal_granularity = UINT32_C(1) << u->t->seg_shift;
  /* NAA 6 (IEEE registered extended): the company id field is taken
   * from the hash too, with the locally-administered bit set. */
  info->naa = (UINT64_C(6) << 60) | (h1 >> 4) | (UINT64_C(1) << 57);
  info->naa_ext = h2;
  info->serial = serial;
  info->thin = true;
  return 0;
}

/* Opening and closing -------------------------------------------------------- */

static void
unit_free (struct unit *u)
{
  if (u == NULL)
    return;
  scsi_lu_free (u->lu);
  if (u->t)
    agent_close_vdisk (u->s->agent, u->t);
  free (u->name);
  free (u);
}

static struct unit *
unit_new (struct iscsi_service *s, const char *vdisk)
{
  struct unit *u = calloc (1, sizeof *u);
  struct scsi_lu_info info;
  char serial[33];
  CLEANUP_FREE char *port_name = NULL;
  struct scsi_port_info port = { .relative_port_id = 1, .port_group = 1 };

  if (u == NULL || (u->name = strdup (vdisk)) == NULL) {
    sm_error ("out of memory");
    free (u);
    return NULL;
  }
  u->s = s;
  u->t = agent_open_vdisk (s->agent, vdisk);
  if (u->t == NULL) {
    sm_error ("vdisk '%s' does not exist", vdisk);
    goto fail;
  }
  if (fill_info (s, u, &info, serial) == -1)
    goto fail;
  u->lu = scsi_lu_new (&info, &agent_backend, u, &directory_pr, s);
  if (u->lu == NULL)
    goto fail;
  if (asprintf (&port_name, "%s:%s,t,0x0001", s->cfg->target_prefix,
                vdisk) == -1) {
    port_name = NULL;
    sm_error ("out of memory");
    goto fail;
  }
  port.name = port_name;
  if (scsi_lu_set_ports (u->lu, &port, 1) == -1)
    goto fail;
  return u;

 fail:
  unit_free (u);
  return NULL;
}

struct scsi_lu *
units_open (struct iscsi_service *s, const char *vdisk)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->units_lock);
  struct unit *u;

  for (u = s->units; u; u = u->next)
    if (strcmp (u->name, vdisk) == 0) {
      u->refs++;
      return u->lu;
    }
  u = unit_new (s, vdisk);
  if (u == NULL)
    return NULL;
  u->refs = 1;
  u->next = s->units;
  s->units = u;
  return u->lu;
}

void
units_close (struct iscsi_service *s, struct scsi_lu *lu)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->units_lock);

  for (struct unit **p = &s->units; *p; p = &(*p)->next)
    if ((*p)->lu == lu) {
      struct unit *u = *p;

      if (--u->refs == 0) {
        *p = u->next;
        unit_free (u);
      }
      return;
    }
}

void
units_resized (struct iscsi_service *s, const char *vdisk)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->units_lock);

  for (struct unit *u = s->units; u; u = u->next)
    if (strcmp (u->name, vdisk) == 0)
      scsi_lu_set_size (u->lu, atomic_load (&u->t->size)
                        / BLOCK_SIZE * BLOCK_SIZE);
}
