/* segmap: MODE SENSE(6)/(10) and MODE SELECT(6)/(10) (SPC-4 §6.11-6.14,
 * §7.5; SBC-3 §6.4).
 *
 * Pages, in the order 3Fh lists them:
 *   01h read-write error recovery   nothing changeable
 *   08h caching                     WCE changeable (WCE=0: every write
 *                                   goes to the backend with FUA)
 *   0Ah control                     TST, QERR, D_SENSE, SWP changeable
 *                                   (SWP: software write protect, every
 *                                   command that writes the medium fails
 *                                   with DATA PROTECT); TAS
 *                                   set; QAM 1 (unrestricted reordering)
 *   1Ch informational exceptions    nothing changeable, DEXCPT set
 * None has subpages; subpage FFh of page 3Fh means the same as 00h.
 * The header's WP bit (device-specific parameter) is set under SWP and
 * whenever the backend says the medium is read-only (a read-only
 * vdisk), for current and changeable values.
 * Saved values cannot be reported nor saved (SAVING PARAMETERS NOT
 * SUPPORTED, SP=1 refused by the CDB decoder).
 *
 * MODE SELECT checks the whole parameter list against the current
 * values before applying anything: a field that is not changeable must
 * hold its current value, otherwise INVALID FIELD IN PARAMETER LIST
 * points at it.  A change raises MODE PARAMETERS CHANGED for every
 * other nexus (the pages are shared by all of them).
 */
#include <config.h>

#include <string.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

enum mode_pc { PC_CURRENT, PC_CHANGEABLE, PC_DEFAULT, PC_SAVED };

static const uint8_t mode_pages[] = { 0x01, 0x08, 0x0a, 0x1c };

static size_t
page_length (uint8_t page)
{
  return page == 0x08 ? 20 : 12;
}

/* Page PAGE with the values of M, or its changeable mask; returns its
 * length. */
static size_t
build_page (uint8_t page, const struct lu_mode *m, bool changeable,
            uint8_t *p)
{
  size_t len = page_length (page);

  memset (p, 0, len);
  p[0] = page;
  p[1] = len - 2;
  switch (page) {
  case 0x08:
    p[2] = changeable ? 0x04 : (m->wce ? 0x04 : 0);
    break;
  case 0x0a:
    if (changeable) {
      p[2] = 0xe0 | 0x04;                       /* TST, D_SENSE */
      p[3] = 0x06;                              /* QERR */
      p[4] = 0x08;                              /* SWP */
      break;
    }
    p[2] = (m->tst << 5) | (m->d_sense ? 0x04 : 0);
    p[3] = 0x10 | (m->qerr << 1);               /* QAM 1 */
    p[4] = m->swp ? 0x08 : 0;                   /* SWP */
    p[5] = 0x40;                                /* TAS */
    put_be16 (&p[8], 0xffff);                   /* BUSY TIMEOUT: unlimited */
    break;
  case 0x1c:
    p[2] = changeable ? 0 : 0x08;               /* DEXCPT */
    break;
  default:                                      /* 0x01: all zero */
    break;
  }
  return len;
}

static bool
page_known (uint8_t page)
{
  return memchr (mode_pages, page, sizeof mode_pages) != NULL;
}

/*----------------------------------------------------------------------
 * MODE SENSE.
 */

static size_t
block_descriptor (struct exec *x, bool longlba, bool changeable, uint8_t *p)
{
  uint64_t nb = lu_nblocks (x->lu);

  if (longlba) {
    memset (p, 0, 16);
    if (!changeable) {
      put_be64 (p, nb);
      put_be32 (&p[12], x->lu->block_size);
    }
    return 16;
  }
  memset (p, 0, 8);
  if (!changeable) {
    put_be32 (p, nb > UINT32_MAX ? UINT32_MAX : nb);
    put_be32 (&p[4], x->lu->block_size);        /* byte 4 reserved */
    p[4] = 0;
  }
  return 8;
}

static size_t
mode_pages_for (struct exec *x, const struct lu_mode *m, bool changeable,
                uint8_t *p)
{
  size_t off = 0, i;

  if (x->c.page != 0x3f)
    return build_page (x->c.page, m, changeable, p);
  for (i = 0; i < sizeof mode_pages; i++)
    off += build_page (mode_pages[i], m, changeable, &p[off]);
  return off;
}

void
exec_mode_sense (struct exec *x)
{
  bool ten = x->c.opcode == SCSI_OP_MODE_SENSE10;
  bool longlba = ten && (x->c.flags & SCSI_CDB_LLBAA);
  size_t hdr = ten ? 8 : 4, off, bd = 0;
  uint8_t b[8 + 16 + 64] = { 0 };
  struct lu_mode m;
  uint8_t dsp;                  /* device-specific parameter */

  if (x->c.pc == PC_SAVED) {
    exec_check (x, SCSI_SK_ILLEGAL_REQUEST,
                SCSI_ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
    return;
  }
  if (x->c.page != 0x3f && !page_known (x->c.page)) {
    exec_bad_cdb (x, 2, 5);
    return;
  }
  if (x->c.subpage != 0 && !(x->c.page == 0x3f && x->c.subpage == 0xff)) {
    exec_bad_cdb (x, 3, -1);
    return;
  }
  if (x->c.pc == PC_DEFAULT)
    lu_mode_defaults (&m);
  else {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&x->lu->lock);
    m = x->lu->mode;
  }
  if (!(x->c.flags & SCSI_CDB_DBD))
    bd = block_descriptor (x, longlba, x->c.pc == PC_CHANGEABLE, &b[hdr]);
  off = hdr + bd;
  off += mode_pages_for (x, &m, x->c.pc == PC_CHANGEABLE, &b[off]);
  /* DPOFUA; WP: software write protect, or a read-only medium. */
  dsp = 0x10 | (m.swp || (x->c.pc != PC_DEFAULT
                          && lu_write_protected (x->lu)) ? 0x80 : 0);
  if (ten) {
    put_be16 (&b[0], off - 2);
    b[3] = dsp;
    b[4] = longlba && bd ? 0x01 : 0;            /* LONGLBA */
    put_be16 (&b[6], bd);
  }
  else {
    b[0] = off - 1;
    b[2] = dsp;
    b[3] = bd;
  }
  exec_reply (x, b, off);
}

/*----------------------------------------------------------------------
 * MODE SELECT.
 */

static int
param_length_error (struct exec *x)
{
  exec_check (x, SCSI_SK_ILLEGAL_REQUEST,
              SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
  return -1;
}

static int
bad_param (struct exec *x, size_t byte, int bit)
{
  exec_bad_param (x, byte, bit);
  return -1;
}

/* The block descriptor must describe the LU as it is. */
static int
check_block_descriptor (struct exec *x, const uint8_t *p, size_t off,
                        size_t len)
{
  uint64_t nb = len == 16 ? get_be (p, 8) : get_be (p, 4);
  uint32_t bl = len == 16 ? get_be (&p[12], 4) : get_be (&p[5], 3);
  uint64_t cur = lu_nblocks (x->lu);

  if (len == 8 && cur > UINT32_MAX)
    cur = UINT32_MAX;
  if (nb != 0 && nb != cur)
    return bad_param (x, off, -1);
  if (bl != x->lu->block_size)
    return bad_param (x, off + (len == 16 ? 12 : 5), -1);
  return 0;
}

/* Apply the page at P (at byte OFF of the list) to *M. */
static int
select_page (struct exec *x, const uint8_t *p, size_t off, struct lu_mode *m)
{
  uint8_t page = p[0] & 0x3f;
  uint8_t cur[20], mask[20];
  size_t len, i;

  if (p[0] & 0x40)                              /* SPF: no subpages */
    return bad_param (x, off, 6);
  if (!page_known (page))
    return bad_param (x, off, 5);
  len = build_page (page, m, false, cur);
  build_page (page, m, true, mask);
  if (p[1] != len - 2)
    return bad_param (x, off + 1, -1);
  for (i = 2; i < len; i++) {
    uint8_t bad = (p[i] ^ cur[i]) & ~mask[i];

    if (bad)
      return bad_param (x, off + i, 31 - __builtin_clz (bad));
  }
  if (page == 0x08)
    m->wce = p[2] & 0x04;
  if (page == 0x0a) {
    if ((p[2] >> 5) > 1)                        /* TST 000b or 001b */
      return bad_param (x, off + 2, 7);
    if (((p[3] >> 1) & 3) == 2)                 /* QERR 10b reserved */
      return bad_param (x, off + 3, 2);
    m->tst = p[2] >> 5;
    m->d_sense = p[2] & 0x04;
    m->qerr = (p[3] >> 1) & 3;
    m->swp = p[4] & 0x08;
  }
  return 0;
}

static int
parse_select (struct exec *x, const uint8_t *p, size_t len,
              struct lu_mode *m)
{
  bool ten = x->c.opcode == SCSI_OP_MODE_SELECT10;
  size_t hdr = ten ? 8 : 4, bd, off;

  if (len < hdr)
    return param_length_error (x);
  if (p[ten ? 2 : 1] != 0)                      /* MEDIUM TYPE */
    return bad_param (x, ten ? 2 : 1, -1);
  bd = ten ? get_be (&p[6], 2) : p[3];
  if (bd != 0 && bd != 8 && !(ten && bd == 16 && (p[4] & 1)))
    return bad_param (x, ten ? 6 : 3, -1);
  if (hdr + bd > len)
    return param_length_error (x);
  if (bd && check_block_descriptor (x, &p[hdr], hdr, bd) == -1)
    return -1;
  for (off = hdr + bd; off < len; off += 2 + p[off + 1]) {
    if (off + 2 > len || off + 2 + p[off + 1] > len)
      return param_length_error (x);
    if (select_page (x, &p[off], off, m) == -1)
      return -1;
  }
  return 0;
}

void
exec_mode_select (struct exec *x)
{
  struct scsi_lu *lu = x->lu;
  size_t len = x->c.alloc_len;
  struct lu_mode m;

  if (!exec_need_data_out (x, len))
    return;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lu->lock);
  m = lu->mode;
  if (parse_select (x, x->task->data_out, len, &m) == -1)
    return;
  if (memcmp (&m, &lu->mode, sizeof m) != 0) {
    lu->mode = m;
    lu_mode_publish_locked (lu);
    lu_ua_raise_all_locked (lu, UA_MODE_PARAMETERS_CHANGED, x->itl);
  }
  exec_good (x);
}
