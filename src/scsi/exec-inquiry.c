/* segmap: INQUIRY -- standard data and the vital product data pages
 * (SPC-4 §6.6, §7.8; SBC-3/4 §6.6).
 *
 * Pages: 00h supported pages, 80h unit serial number, 83h device
 * identification, B0h block limits (SBC-4 layout), B1h block device
 * characteristics, B2h logical block provisioning.  Every page is built
 * whole into a local buffer and then cut to the allocation length by
 * exec_reply, so the PAGE LENGTH always says how much there is.
 */
#include <config.h>

#include <string.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

#define INQ_VENDOR  "SEGMAP"
#define INQ_PRODUCT "VDISK"
#define INQ_STD_LEN 96

/* Version descriptors (SPC-4 Table 141ff). */
static const uint16_t version_descriptors[] = {
  0x00a0,                       /* SAM-5 (no version claimed) */
  0x0960,                       /* iSCSI */
  0x0460,                       /* SPC-4 (no version claimed) */
  0x04c0,                       /* SBC-3 (no version claimed) */
};

static const uint8_t vpd_pages[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };

/* Space-padded, not NUL-terminated. */
static void
put_ascii (uint8_t *p, size_t width, const char *s)
{
  size_t n = strlen (s);

  memset (p, ' ', width);
  memcpy (p, s, n < width ? n : width);
}

static void
inquiry_standard (struct exec *x)
{
  uint8_t b[INQ_STD_LEN] = { 0 };
  size_t i;

  b[0] = 0x00;                  /* connected, direct access block device */
  b[2] = 0x06;                  /* SPC-4 */
  b[3] = 0x10 | 0x02;           /* HISUP, RESPONSE DATA FORMAT 2 */
  b[4] = INQ_STD_LEN - 5;
  b[5] = 0x10;                  /* TPGS 01b: implicit ALUA */
  b[7] = 0x02;                  /* CMDQUE */
  put_ascii (&b[8], 8, INQ_VENDOR);
  put_ascii (&b[16], 16, INQ_PRODUCT);
  put_ascii (&b[32], 4, PACKAGE_VERSION);
  for (i = 0; i < ARRAY_SIZE (version_descriptors); i++)
    put_be16 (&b[58 + 2 * i], version_descriptors[i]);
  exec_reply (x, b, sizeof b);
}

static size_t
vpd_supported (struct exec *x, uint8_t *b)
{
  memcpy (&b[4], vpd_pages, sizeof vpd_pages);
  return 4 + sizeof vpd_pages;
}

static size_t
vpd_serial (struct exec *x, uint8_t *b)
{
  size_t n = strlen (x->lu->serial);

  if (n > 250)
    n = 250;
  memcpy (&b[4], x->lu->serial, n);
  return 4 + n;
}

/* One designation descriptor header; returns where the designator
 * goes. */
static uint8_t *
designator (uint8_t *d, uint8_t proto_codeset, uint8_t piv_assoc_type,
            uint8_t len)
{
  d[0] = proto_codeset;
  d[1] = piv_assoc_type;
  d[2] = 0;
  d[3] = len;
  return &d[4];
}

#define PROTO_ISCSI 0x50
#define CS_BINARY   0x01
#define CS_ASCII    0x02
#define CS_UTF8     0x03
#define PIV         0x80
#define ASSOC_PORT  0x10

static size_t
desig_naa (struct exec *x, uint8_t *d)
{
  uint8_t *p = designator (d, CS_BINARY, 0x03, 16);
  uint64_t naa = (x->lu->naa & ~(UINT64_C (0xf) << 60))
                 | (UINT64_C (6) << 60);

  put_be64 (p, naa);
  put_be64 (p + 8, x->lu->naa_ext);
  return 20;
}

static size_t
desig_t10 (struct exec *x, uint8_t *d)
{
  size_t n = strlen (x->lu->serial);
  uint8_t *p;

  if (n > 64)
    n = 64;
  p = designator (d, CS_ASCII, 0x01, 8 + n);
  put_ascii (p, 8, INQ_VENDOR);
  memcpy (p + 8, x->lu->serial, n);
  return 4 + 8 + n;
}

static size_t
desig_port_ids (struct exec *x, uint8_t *d, const struct lu_port *port)
{
  uint8_t *p = designator (d, PROTO_ISCSI | CS_BINARY,
                           PIV | ASSOC_PORT | 0x04, 4);

  put_be16 (p + 2, x->itl->port);
  if (port == NULL)
    return 8;
  p = designator (d + 8, PROTO_ISCSI | CS_BINARY, PIV | ASSOC_PORT | 0x05, 4);
  put_be16 (p + 2, port->port_group);
  return 16;
}

/* SCSI name string: NUL-terminated, padded to a multiple of 4. */
static size_t
desig_name (uint8_t *d, const char *name)
{
  size_t n = strlen (name);
  size_t len;

  if (n > 250)
    n = 250;
  len = (n + 1 + 3) & ~(size_t) 3;
  memset (designator (d, PROTO_ISCSI | CS_UTF8, PIV | ASSOC_PORT | 0x08,
                      len), 0, len);
  memcpy (d + 4, name, n);
  return 4 + len;
}

static size_t
vpd_device_id (struct exec *x, uint8_t *b)
{
  size_t off = 4;

  off += desig_naa (x, &b[off]);
  off += desig_t10 (x, &b[off]);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&x->lu->lock);
    const struct lu_port *port = lu_find_port_locked (x->lu, x->itl->port);

    off += desig_port_ids (x, &b[off], port);
    if (port != NULL && port->name[0] != '\0')
      off += desig_name (&b[off], port->name);
  }
  return off;
}

/* OPTIMAL TRANSFER LENGTH GRANULARITY is 16 bits: halve a segment
 * that does not fit (segments are powers of two). */
static uint32_t
granularity_blocks (const struct scsi_lu *lu, uint32_t max)
{
  uint32_t g = lu->optimal_granularity / lu->block_size;

  while (g > max && g % 2 == 0)
    g /= 2;
  return g > max ? 0 : g;
}

static size_t
vpd_block_limits (struct exec *x, uint8_t *b)
{
  const struct scsi_lu *lu = x->lu;
  const struct scsi_lu_limits *l = &x->lim;

  b[5] = l->max_compare_write_blocks;
  put_be16 (&b[6], granularity_blocks (lu, 0xffff));
  put_be32 (&b[8], l->max_xfer_blocks);
  put_be32 (&b[12], l->max_xfer_blocks);
  if (lu->thin) {
    put_be32 (&b[20], l->max_unmap_blocks);
    put_be32 (&b[24], l->max_unmap_descriptors);
    put_be32 (&b[28], granularity_blocks (lu, UINT32_MAX));
    b[32] = 0x80;               /* UGAVALID, alignment 0 */
  }
  put_be64 (&b[36], l->max_write_same_blocks);
  put_be32 (&b[44], l->max_atomic_blocks);
  put_be32 (&b[48], l->atomic_alignment);
  put_be32 (&b[52], l->atomic_granularity);
  return 64;
}

static size_t
vpd_characteristics (struct exec *x, uint8_t *b)
{
  put_be16 (&b[4], 1);          /* non-rotating medium */
  return 64;
}

static size_t
vpd_provisioning (struct exec *x, uint8_t *b)
{
  if (x->lu->thin) {
    b[5] = 0x80 | 0x40 | 0x20 | 0x04;   /* LBPU LBPWS LBPWS10 LBPRZ */
    b[6] = 0x02;                        /* thin provisioned */
  }
  return 8;
}

void
exec_inquiry (struct exec *x)
{
  uint8_t b[512] = { 0 };
  size_t len;

  if (!(x->c.flags & SCSI_CDB_EVPD)) {
    inquiry_standard (x);
    return;
  }
  switch (x->c.page) {
  case 0x00: len = vpd_supported (x, b); break;
  case 0x80: len = vpd_serial (x, b); break;
  case 0x83: len = vpd_device_id (x, b); break;
  case 0xb0: len = vpd_block_limits (x, b); break;
  case 0xb1: len = vpd_characteristics (x, b); break;
  case 0xb2: len = vpd_provisioning (x, b); break;
  default:
    exec_bad_cdb (x, 2, -1);
    return;
  }
  b[1] = x->c.page;
  put_be16 (&b[2], len - 4);
  exec_reply (x, b, len);
}
