/* segmap: unit tests for the agent <-> controller message codec.
 *
 * What is checked and how:
 *  - Round trips: a sample of every type (typical values, edge values,
 *    maximum-size arrays) encodes, decodes equal field by field, and
 *    re-encodes to identical bytes.
 *  - Wire layout: an encoder written here from segmap-protocol(7)'s
 *    field lists (not from msg.c's table) builds the same bytes; it is
 *    also how frames that msg_encode would refuse are produced, to
 *    check that decode refuses them too, with the same message.
 *  - Rejection: every truncation, every single-byte change of the
 *    header, oversize counts, unknown types, trailing bytes.
 *  - Allocation: malloc/calloc/realloc are wrapped at link time
 *    (-Wl,--wrap, see tests/Makefile.am) so the test can assert that a
 *    decode never asks for more bytes than the frame holds, and that
 *    a lying count allocates nothing.
 *  - 100k random and mutated frames: decode never crashes, respects
 *    the allocation bound, and whatever it accepts re-encodes to the
 *    very same bytes.  SEGMAP_TEST_SEED=N reproduces a run.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/limits.h"
#include "proto/msg.h"

/*----------------------------------------------------------------------
 * Allocation accounting (the codec's malloc calls land here).
 */

void *__real_malloc (size_t n);
void *__real_calloc (size_t n, size_t size);
void *__real_realloc (void *p, size_t n);
void *__wrap_malloc (size_t n);
void *__wrap_calloc (size_t n, size_t size);
void *__wrap_realloc (void *p, size_t n);

static size_t alloc_bytes;      /* requested since the last reset */

void *
__wrap_malloc (size_t n)
{
  alloc_bytes += n;
  return __real_malloc (n);
}

void *
__wrap_calloc (size_t n, size_t size)
{
  alloc_bytes += n * size;
  return __real_calloc (n, size);
}

void *
__wrap_realloc (void *p, size_t n)
{
  alloc_bytes += n;
  return __real_realloc (p, n);
}

/* msg_decode, and how many bytes it asked for in *USED.  (Nothing but
 * the decode may run while counting: libcheck's assertions allocate.) */
static int
decode_counted (const uint8_t *frame, size_t len, struct msg *m,
                size_t *used)
{
  int r;

  alloc_bytes = 0;
  r = msg_decode (frame, len, m);
  *used = alloc_bytes;
  return r;
}

/*----------------------------------------------------------------------
 * Error capture: the last sm_error message.
 */

static char last_error[1024];

static void
capture_error (const char *fmt, va_list args)
{
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

#define ck_assert_error_has(substr)                                     \
  ck_assert_msg (strstr (last_error, (substr)) != NULL,                 \
                 "error \"%s\" does not mention \"%s\"", last_error, (substr))

/*----------------------------------------------------------------------
 * Samples: one valid message per type and variant.
 */

enum { V_TYPICAL, V_EDGE, N_SMALL_VARIANTS, V_HUGE = N_SMALL_VARIANTS,
       N_VARIANTS };

static sm_entry sample_entries[4];
static uint8_t sample_blocks[32];
static uint32_t sample_vdisks[3] = { 1, 2, 0xffffffff };
static char long_name[MSG_MAX_NAME + 1];
static char long_path[MSG_MAX_PATH + 1];
static uint64_t sample_counters[MSG_MAX_COUNTERS];
/* (offset, length) pairs: ascending, apart. */
static uint64_t sample_extents[] = { 4096, 8192, 1 << 20, 4096 };
static sm_entry *huge_entries;
static sm_entry grant_entries[2];
static sm_entry *grant_huge;             /* MSG_MAX_ENTRIES locations */
static uint8_t *huge_blocks;
static sm_entry orig_entries[2];         /* DO_*: the original location */
static uint32_t *huge_vdisks;

static void
init_samples (void)
{
  size_t i;

  sample_entries[0] = entry_make (3, 1000, ENTRY_VALID);
  sample_entries[1] = ENTRY_ZERO_SEGMENT;
  sample_entries[2] = entry_make (0xffff, ENTRY_MAX_UNIT,
                                  ENTRY_VALID | ENTRY_NOWRITE | ENTRY_ALT);
  sample_entries[3] = ENTRY_INVALID;
  for (i = 0; i < sizeof sample_blocks; i++)
    sample_blocks[i] = i * 37 + 1;
  grant_entries[0] = entry_make (1, 16, ENTRY_VALID);
  grant_entries[1] = entry_make (0xffff, ENTRY_MAX_UNIT, ENTRY_VALID);
  orig_entries[0] = entry_make (2, 300, ENTRY_VALID | ENTRY_NOWRITE |
                                ENTRY_ALT);
  orig_entries[1] = ENTRY_ZERO_SEGMENT;
  memset (long_name, 'n', MSG_MAX_NAME);
  long_name[MSG_MAX_NAME] = '\0';
  memset (long_path, 'p', MSG_MAX_PATH);
  long_path[0] = '/';
  long_path[MSG_MAX_PATH] = '\0';
  for (i = 0; i < MSG_MAX_COUNTERS; i++)
    sample_counters[i] = i == 1 ? UINT64_MAX : i * 1000003;
}

static void
init_huge (void)
{
  uint32_t i;

  huge_entries = malloc (MSG_MAX_ENTRIES * sizeof *huge_entries);
  huge_blocks = malloc (MSG_MAX_BITMAP);
  huge_vdisks = malloc (MSG_MAX_VDISKS * sizeof *huge_vdisks);
  assert (huge_entries && huge_blocks && huge_vdisks);
  grant_huge = malloc (MSG_MAX_ENTRIES * sizeof *grant_huge);
  assert (grant_huge);
  for (i = 0; i < MSG_MAX_ENTRIES; i++)
    huge_entries[i] = entry_make (i & 0xffff, i, ENTRY_VALID);
  for (i = 0; i < MSG_MAX_ENTRIES; i++)
    grant_huge[i] = entry_make (1 + (i & 0xfffe), i, ENTRY_VALID);
  for (i = 0; i < MSG_MAX_BITMAP; i++)
    huge_blocks[i] = i;
  for (i = 0; i < MSG_MAX_VDISKS; i++)
    huge_vdisks[i] = i * 7;
}

static void
sample_ids (struct msg *m, unsigned variant)
{
  m->id = variant == V_TYPICAL ? 0x0102030405060708 : UINT64_MAX;
}

/* Fill the type-specific fields of M for VARIANT. */
static void
sample_body (struct msg *m, unsigned variant)
{
  bool edge = variant != V_TYPICAL;
  bool huge = variant == V_HUGE;

  switch (m->type) {
  case MSG_REGISTER:
    m->arg = edge ? UINT64_MAX : 1;
    m->name = edge ? long_name : "agent-1.example";
    break;
  case MSG_HEARTBEAT:
    m->arg = edge ? 0 : 30000;
    break;
  case MSG_MAP_FAULT:
    m->op = edge ? FAULT_ZERO : FAULT_WRITE;
    m->vdisk = edge ? UINT32_MAX : 7;
    m->count = edge ? UINT32_MAX : 2;
    m->first = edge ? (UINT64_C(1) << 37) - m->count : 100;
    m->arg = edge ? SM_SEGMENT_SIZE_MAX - 1 : 4096;
    m->arg2 = edge ? UINT32_MAX : 8192;
    m->n_blocks = huge ? MSG_MAX_BITMAP : edge ? 0 : 3;
    m->blocks = huge ? huge_blocks : edge ? NULL : sample_blocks;
    break;
  case MSG_FLUSH:
  case MSG_DELETE_TABLE:
  case MSG_RECALL:
    m->vdisk = edge ? UINT32_MAX : 7;
    break;
  case MSG_RETRY:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->count = huge ? MSG_MAX_ENTRIES : edge ? 1 : 4;
    m->first = edge ? (UINT64_C(1) << 37) - m->count : 100;
    m->arg = edge ? 0 : 1000;           /* zero_after */
    m->flags = edge ? MSG_F_MARKED : 0;
    m->n_entries = m->count;
    m->entries = huge ? huge_entries : sample_entries;
    break;
  case MSG_GRANT:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->n_entries = huge ? MSG_MAX_ENTRIES : edge ? 1 : 2;
    m->entries = huge ? grant_huge : edge ? grant_entries + 1 : grant_entries;
    break;
  case MSG_ALLOCATED:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->first = edge ? (UINT64_C(1) << 37) - 1 : 12345;
    m->alt = edge ? entry_make (0xffff, ENTRY_MAX_UNIT, ENTRY_VALID)
      : entry_make (1, 16, ENTRY_VALID);
    break;
  case MSG_FAIL:
    m->status = edge ? 4095 : 5;
    break;
  case MSG_DELEGATE:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->first = edge ? (UINT64_C(1) << 37) - 1 : 100;
    /* fall through */
  case MSG_DO_WRITE:
    m->alt = edge ? entry_make (0xffff, ENTRY_MAX_UNIT, ENTRY_VALID)
      : entry_make (4, 77, ENTRY_VALID);
    m->entries = edge ? orig_entries + 1 : orig_entries;
    m->n_entries = 1;
    m->n_blocks = huge ? MSG_MAX_BITMAP : edge ? 0 : sizeof sample_blocks;
    m->blocks = huge ? huge_blocks : edge ? NULL : sample_blocks;
    break;
  case MSG_DO_SPLIT_READ:
    m->alt = entry_make (4, 77, ENTRY_VALID | (edge ? ENTRY_NOWRITE : 0));
    m->entries = edge ? orig_entries + 1 : orig_entries;
    m->n_entries = 1;
    m->n_blocks = huge ? MSG_MAX_BITMAP : edge ? 1 : sizeof sample_blocks;
    m->blocks = huge ? huge_blocks : sample_blocks;
    break;
  case MSG_IO_DONE:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->first = edge ? (UINT64_C(1) << 37) - 1 : 100;
    m->status = edge ? 4095 : 0;
    m->arg = edge ? UINT64_MAX : 42;
    m->n_blocks = huge ? MSG_MAX_BITMAP : edge ? 0 : sizeof sample_blocks;
    m->blocks = huge ? huge_blocks : edge ? NULL : sample_blocks;
    break;
  case MSG_COMPLETE_TO_HOST:
    break;
  case MSG_NEW_TABLE:
    m->flags = edge ? MSG_F_READ_ONLY : 0;
    m->vdisk = edge ? 0 : 7;
    m->arg = edge ? SM_VDISK_SIZE_MAX : UINT64_C(1) << 30;
    m->arg2 = edge ? 26 : 20;
    m->name = edge ? long_name : "disk0@snap-1";
    break;
  case MSG_GET_ENTRY:
  case MSG_GET_STATUS:
  case MSG_REVOKE:
    m->vdisk = 9;
    m->count = edge ? MSG_MAX_ENTRIES : 16;
    m->first = edge ? (UINT64_C(1) << 37) - m->count : 0;
    break;
  case MSG_SET_ENTRY:
    m->flags = edge ? 0 : MSG_F_BLOCKING;
    m->vdisk = 9;
    m->first = 10;
    m->count = huge ? MSG_MAX_ENTRIES : edge ? UINT32_MAX : 4;
    m->n_entries = huge ? MSG_MAX_ENTRIES : edge ? 1 : 4;
    m->entries = huge ? huge_entries : sample_entries;
    break;
  case MSG_SET_STATUS:
    m->flags = edge ? 0 : MSG_F_BLOCKING | MSG_F_ON;
    m->vdisk = 9;
    m->first = 0;
    m->count = edge ? UINT32_MAX : 1024;
    m->arg = edge ? ENTRY_NOWRITE | ENTRY_ALT : ENTRY_NOWRITE;
    break;
  case MSG_QUIESCE:
    m->arg = edge ? UINT64_MAX : 5000;
    /* fall through */
  case MSG_ACTIVATE:
    m->n_vdisks = huge ? MSG_MAX_VDISKS : edge ? 1 : 3;
    m->vdisks = huge ? huge_vdisks : sample_vdisks;
    break;
  case MSG_REPLY:
    m->status = variant == V_EDGE ? 4095 : 0;
    m->n_entries = huge ? MSG_MAX_ENTRIES : edge ? 0 : 3;
    m->entries = huge ? huge_entries : edge ? NULL : sample_entries;
    m->arg = edge ? UINT64_MAX : 1;           /* REGISTER: agent id */
    m->arg2 = edge ? UINT32_MAX : MSG_VERSION;
    m->n_counters = huge ? MSG_MAX_COUNTERS : edge ? 0 : MSG_STAT_COUNT;
    m->counters = edge && !huge ? NULL : sample_counters;
    break;
  case MSG_CONTAINER_ATTACH:
    m->arg = edge ? UINT64_MAX - (SM_UNIT_SIZE - 1) : UINT64_C(1) << 30;
    m->arg2 = edge ? ENTRY_MAX_CONTAINER : 1;
    m->name = edge ? long_name : "c1";
    m->path = huge ? long_path : edge ? "/" : "/var/lib/segmap/c1.img";
    break;
  case MSG_CONTAINER_DETACH:
    m->arg2 = edge ? ENTRY_MAX_CONTAINER : 1;
    break;
  case MSG_SET_DEGRADED:
    m->flags = edge ? 0 : MSG_F_ON;
    break;
  case MSG_REPORT:
    m->op = edge ? REPORT_UNRECORDED : REPORT_UNSYNCED;
    m->status = edge ? 4095 : 5;
    m->vdisk = edge ? 0 : 9;
    m->arg2 = edge ? 0 : 3;
    break;
  case MSG_GET_STATS:
    break;
  case MSG_GET_DIFF:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->arg = edge ? 1 : 5;              /* from */
    break;
  case MSG_MARK: case MSG_MOVED:
    m->vdisk = edge ? UINT32_MAX : 7;
    m->first = edge ? (UINT64_C(1) << 37) - 1 : 100;
    m->n_blocks = huge ? MSG_MAX_BITMAP : 3;
    m->blocks = huge ? huge_blocks : sample_blocks;
    break;
  case MSG_DIFF:
    m->arg = edge ? UINT64_MAX : UINT64_C(1) << 30;     /* size */
    m->n_extents = edge ? 0 : 4;
    m->extents = edge ? NULL : sample_extents;
    break;
  default:
    abort ();
  }
}

/* A valid message; its arrays are static, never msg_clear it. */
static struct msg
sample (unsigned type, unsigned variant)
{
  struct msg m;

  memset (&m, 0, sizeof m);
  m.type = type;
  sample_ids (&m, variant);
  sample_body (&m, variant);
  return m;
}

static void
assert_msg_equal (const struct msg *a, const struct msg *b)
{
  ck_assert_uint_eq (a->type, b->type);
  ck_assert_uint_eq (a->op, b->op);
  ck_assert_uint_eq (a->flags, b->flags);
  ck_assert_uint_eq (a->id, b->id);
  ck_assert_uint_eq (a->vdisk, b->vdisk);
  ck_assert_uint_eq (a->first, b->first);
  ck_assert_uint_eq (a->count, b->count);
  ck_assert_uint_eq (a->status, b->status);
  ck_assert_uint_eq (a->arg, b->arg);
  ck_assert_uint_eq (a->arg2, b->arg2);
  ck_assert_uint_eq (a->alt, b->alt);
  ck_assert_uint_eq (a->n_entries, b->n_entries);
  ck_assert_uint_eq (a->n_blocks, b->n_blocks);
  ck_assert_uint_eq (a->n_vdisks, b->n_vdisks);
  if (a->n_entries)
    ck_assert (memcmp (a->entries, b->entries, a->n_entries * 8) == 0);
  if (a->n_blocks)
    ck_assert (memcmp (a->blocks, b->blocks, a->n_blocks) == 0);
  if (a->n_vdisks)
    ck_assert (memcmp (a->vdisks, b->vdisks, a->n_vdisks * 4) == 0);
  ck_assert ((a->name == NULL) == (b->name == NULL));
  if (a->name)
    ck_assert_str_eq (a->name, b->name);
  ck_assert_uint_eq (a->n_counters, b->n_counters);
  if (a->n_counters)
    ck_assert (memcmp (a->counters, b->counters, a->n_counters * 8) == 0);
  ck_assert ((a->path == NULL) == (b->path == NULL));
  if (a->path)
    ck_assert_str_eq (a->path, b->path);
}

static bool
msg_is_cleared (const struct msg *m)
{
  static const struct msg zero;
  return memcmp (m, &zero, sizeof zero) == 0;
}

/* Decode a frame that must be rejected; the struct must stay cleared.
 * Returns the bytes the attempt allocated. */
static size_t
assert_rejected (const uint8_t *frame, size_t len)
{
  struct msg m;
  size_t used;
  int r;

  memset (&m, 0xaa, sizeof m);
  last_error[0] = '\0';
  r = decode_counted (frame, len, &m, &used);
  ck_assert_msg (r == -1, "a %zu-byte frame was accepted", len);
  ck_assert (msg_is_cleared (&m));
  ck_assert_msg (last_error[0] != '\0', "rejected without a message");
  ck_assert_uint_le (used, len);
  return used;
}

/*----------------------------------------------------------------------
 * An independent encoder, following segmap-protocol(7): the body
 * fields of each type, in this letter code:
 *   i id u64, o op u8, f flags u8, v vdisk u32, F first u64,
 *   c count u32, s status u32, a arg u64, b arg2 u32, A alt u64,
 *   E entries, B blocks, V vdisks, N name, C counters, P path, X extents
 *   (each: u32 n, then data).
 */

static const char *const wire_fields[MSG_TYPE_MAX + 1] = {
  [MSG_REGISTER] = "iaN",
  [MSG_HEARTBEAT] = "ia",
  [MSG_MAP_FAULT] = "iovFcabB",
  [MSG_FLUSH] = "iv",
  [MSG_RETRY] = "ifvFcaE",
  [MSG_FAIL] = "is",
  [MSG_DO_WRITE] = "iAEB",
  [MSG_DO_SPLIT_READ] = "iAEB",
  [MSG_COMPLETE_TO_HOST] = "i",
  [MSG_NEW_TABLE] = "ifvabN",
  [MSG_DELETE_TABLE] = "iv",
  [MSG_GET_ENTRY] = "ivFc",
  [MSG_GET_STATUS] = "ivFc",
  [MSG_SET_ENTRY] = "ifvFcE",
  [MSG_SET_STATUS] = "ifvFca",
  [MSG_QUIESCE] = "iaV",
  [MSG_ACTIVATE] = "iV",
  [MSG_REPLY] = "isabEC",
  [MSG_GRANT] = "ivE",
  [MSG_ALLOCATED] = "ivFA",
  [MSG_RECALL] = "iv",
  [MSG_IO_DONE] = "ivFsaB",
  [MSG_CONTAINER_ATTACH] = "iabNP",
  [MSG_CONTAINER_DETACH] = "ib",
  [MSG_SET_DEGRADED] = "if",
  [MSG_REPORT] = "iovsb",
  [MSG_GET_STATS] = "i",
  [MSG_GET_DIFF] = "iva",
  [MSG_DIFF] = "isaX",
  [MSG_MARK] = "ivFB",
  [MSG_DELEGATE] = "ivFAEB",
  [MSG_MOVED] = "ivFB",
  [MSG_REVOKE] = "ivFc",
};

struct tbuf {
  uint8_t *p;
  size_t len, cap;
};

static void
tb_put (struct tbuf *b, uint64_t v, unsigned width)
{
  unsigned i;

  if (b->len + width > b->cap) {
    b->cap = (b->len + width) * 2 + 64;
    b->p = realloc (b->p, b->cap);
    assert (b->p);
  }
  for (i = 0; i < width; i++)
    b->p[b->len++] = v >> (8 * (width - 1 - i));
}

/* Raw name bytes (may hold NUL); NULL: use m->name. */
static const char *raw_name;
static uint32_t raw_name_len;

static void
tb_name (struct tbuf *b, const struct msg *m)
{
  const char *s = raw_name ? raw_name : m->name ? m->name : "";
  uint32_t n = raw_name ? raw_name_len : strlen (s), i;

  tb_put (b, n, 4);
  for (i = 0; i < n; i++)
    tb_put (b, (uint8_t) s[i], 1);
}

static void
tb_field (struct tbuf *b, const struct msg *m, char code)
{
  uint32_t i;

  switch (code) {
  case 'i': tb_put (b, m->id, 8); break;
  case 'o': tb_put (b, m->op, 1); break;
  case 'f': tb_put (b, m->flags, 1); break;
  case 'v': tb_put (b, m->vdisk, 4); break;
  case 'F': tb_put (b, m->first, 8); break;
  case 'c': tb_put (b, m->count, 4); break;
  case 's': tb_put (b, m->status, 4); break;
  case 'a': tb_put (b, m->arg, 8); break;
  case 'b': tb_put (b, m->arg2, 4); break;
  case 'A': tb_put (b, m->alt, 8); break;
  case 'E':
    tb_put (b, m->n_entries, 4);
    for (i = 0; i < m->n_entries; i++)
      tb_put (b, m->entries[i], 8);
    break;
  case 'B':
    tb_put (b, m->n_blocks, 4);
    for (i = 0; i < m->n_blocks; i++)
      tb_put (b, m->blocks[i], 1);
    break;
  case 'V':
    tb_put (b, m->n_vdisks, 4);
    for (i = 0; i < m->n_vdisks; i++)
      tb_put (b, m->vdisks[i], 4);
    break;
  case 'N': tb_name (b, m); break;
  case 'C':
    tb_put (b, m->n_counters, 4);
    for (i = 0; i < m->n_counters; i++)
      tb_put (b, m->counters[i], 8);
    break;
  case 'X':
    tb_put (b, m->n_extents, 4);
    for (i = 0; i < m->n_extents; i++)
      tb_put (b, m->extents[i], 8);
    break;
  case 'P':
    tb_put (b, m->path ? strlen (m->path) : 0, 4);
    for (i = 0; m->path && m->path[i]; i++)
      tb_put (b, (uint8_t) m->path[i], 1);
    break;
  default: abort ();
  }
}

/* Build M's frame without any validation.  Caller frees b.p. */
static struct tbuf
tb_frame (const struct msg *m)
{
  struct tbuf b = { NULL, 0, 0 };
  const char *code;

  tb_put (&b, MSG_MAGIC, 4);
  tb_put (&b, MSG_VERSION, 1);
  tb_put (&b, m->type, 1);
  tb_put (&b, 0, 2);
  tb_put (&b, 0, 4);            /* body length, patched below */
  for (code = wire_fields[m->type]; *code; code++)
    tb_field (&b, m, *code);
  b.p[8] = (b.len - 12) >> 24;
  b.p[9] = (b.len - 12) >> 16;
  b.p[10] = (b.len - 12) >> 8;
  b.p[11] = b.len - 12;
  return b;
}

static void
set_body_len (uint8_t *frame, uint32_t n)
{
  frame[8] = n >> 24;
  frame[9] = n >> 16;
  frame[10] = n >> 8;
  frame[11] = n;
}

/*----------------------------------------------------------------------
 * Round trips and layout.
 */

static void
check_roundtrip (unsigned type, unsigned variant)
{
  struct msg in = sample (type, variant), out;
  uint8_t *frame, *frame2;
  size_t len, len2, flen, used;
  struct tbuf ref;
  int r;

  ck_assert_msg (msg_encode (&in, &frame, &len) == 0, "encode %s/%u: %s",
                 msg_type_to_string (type), variant, last_error);
  ref = tb_frame (&in);
  ck_assert_uint_eq (ref.len, len);
  ck_assert_msg (memcmp (ref.p, frame, len) == 0,
                 "%s/%u: wire layout differs from the documented one",
                 msg_type_to_string (type), variant);
  ck_assert_int_eq (msg_frame_length (frame, len, &flen), 0);
  ck_assert_uint_eq (flen, len);
  r = decode_counted (frame, len, &out, &used);
  ck_assert_msg (r == 0, "decode %s/%u: %s",
                 msg_type_to_string (type), variant, last_error);
  ck_assert_uint_le (used, len);
  assert_msg_equal (&in, &out);
  ck_assert_int_eq (msg_encode (&out, &frame2, &len2), 0);
  ck_assert_uint_eq (len2, len);
  ck_assert (memcmp (frame, frame2, len) == 0);
  msg_clear (&out);
  ck_assert (msg_is_cleared (&out));
  free (frame);
  free (frame2);
  free (ref.p);
}

START_TEST (test_roundtrip)
{
  unsigned type, variant;

  for (type = 1; type <= MSG_TYPE_MAX; type++)
    for (variant = 0; variant < N_SMALL_VARIANTS; variant++)
      check_roundtrip (type, variant);
}
END_TEST

START_TEST (test_roundtrip_max_sizes)
{
  static const unsigned types[] = {
    MSG_MAP_FAULT, MSG_RETRY, MSG_DO_WRITE, MSG_DO_SPLIT_READ, MSG_SET_ENTRY,
    MSG_QUIESCE, MSG_ACTIVATE, MSG_REPLY, MSG_GRANT, MSG_IO_DONE,
    MSG_CONTAINER_ATTACH,
  };
  size_t i;

  init_huge ();
  for (i = 0; i < sizeof types / sizeof types[0]; i++)
    check_roundtrip (types[i], V_HUGE);
  free (huge_entries);
  free (grant_huge);
  free (huge_blocks);
  free (huge_vdisks);
}
END_TEST

/* Spell one frame out byte by byte, as the man page describes it. */
START_TEST (test_golden_frame)
{
  static const uint8_t expect[] = {
    'S', 'G', 'M', 'P', MSG_VERSION, MSG_MAP_FAULT, 0, 0, 0, 0, 0, 44,
    1, 2, 3, 4, 5, 6, 7, 8,                     /* id */
    FAULT_WRITE,                                /* op */
    0, 0, 0, 7,                                 /* vdisk */
    0, 0, 0, 0, 0, 0, 0, 100,                   /* first */
    0, 0, 0, 2,                                 /* count */
    0, 0, 0, 0, 0, 0, 0x10, 0,                  /* arg: offset */
    0, 0, 0x20, 0,                              /* arg2: length */
    0, 0, 0, 3, 1, 38, 75,                      /* blocks */
  };
  struct msg m = sample (MSG_MAP_FAULT, V_TYPICAL);
  uint8_t *frame;
  size_t len;

  ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
  ck_assert_uint_eq (len, sizeof expect);
  ck_assert (memcmp (frame, expect, len) == 0);
  free (frame);
}
END_TEST

/*----------------------------------------------------------------------
 * Rejection of damaged frames.
 */

START_TEST (test_truncation)
{
  unsigned type, variant;
  size_t cut;

  for (type = 1; type <= MSG_TYPE_MAX; type++)
    for (variant = 0; variant < N_SMALL_VARIANTS; variant++) {
      struct msg m = sample (type, variant);
      uint8_t *frame;
      size_t len;

      ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
      for (cut = 0; cut < len; cut++) {
        /* As cut off by the transport. */
        assert_rejected (frame, cut);
        if (cut < MSG_HEADER_SIZE)
          continue;
        /* With a header that agrees: the body itself is too short. */
        uint8_t *copy = malloc (cut);
        memcpy (copy, frame, cut);
        set_body_len (copy, cut - MSG_HEADER_SIZE);
        assert_rejected (copy, cut);
        ck_assert_error_has ("truncated");
        free (copy);
      }
      free (frame);
    }
}
END_TEST

/* Changing header byte I to V: must fail, unless it turned the type
 * into another type with the same body layout (then it is simply a
 * valid frame of that type, and must re-encode to itself). */
static void
check_header_change (uint8_t *frame, size_t len, unsigned i, unsigned v)
{
  struct msg m;
  uint8_t *again;
  size_t len2;

  last_error[0] = '\0';
  if (msg_decode (frame, len, &m) == -1) {
    ck_assert (msg_is_cleared (&m));
    ck_assert (last_error[0] != '\0');
    return;
  }
  if (i == 4 && frame[5] == MSG_REGISTER) {
    msg_clear (&m);             /* REGISTER: any version decodes */
    return;
  }
  ck_assert_msg (i == 5, "header byte %u = 0x%02x was accepted", i, v);
  ck_assert_uint_eq (m.type, v);
  ck_assert_int_eq (msg_encode (&m, &again, &len2), 0);
  ck_assert_uint_eq (len2, len);
  ck_assert (memcmp (again, frame, len) == 0);
  free (again);
  msg_clear (&m);
}

START_TEST (test_header_corruption)
{
  unsigned type, i, v;

  for (type = 1; type <= MSG_TYPE_MAX; type++) {
    struct msg m = sample (type, V_TYPICAL);
    uint8_t *frame;
    size_t len;

    ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
    for (i = 0; i < MSG_HEADER_SIZE; i++) {
      uint8_t orig = frame[i];
      for (v = 0; v < 256; v++) {
        if (v == orig)
          continue;
        frame[i] = v;
        check_header_change (frame, len, i, v);
      }
      frame[i] = orig;
    }
    free (frame);
  }
}
END_TEST

START_TEST (test_header_messages)
{
  struct msg m = sample (MSG_FLUSH, V_TYPICAL), out;
  uint8_t *frame;
  size_t len, flen;

  ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
  frame[0] = 'X';
  assert_rejected (frame, len);
  ck_assert_error_has ("magic");
  frame[0] = 'S';
  frame[4] = 1;                 /* version 1 had no grants */
  assert_rejected (frame, len);
  ck_assert_error_has ("version 1");
  frame[4] = 2;                 /* version 2 had no redirected I/O */
  assert_rejected (frame, len);
  ck_assert_error_has ("version 2");
  frame[4] = MSG_VERSION + 1;
  assert_rejected (frame, len);
  ck_assert_error_has ("this peer speaks version");
  frame[4] = MSG_VERSION;
  frame[7] = 1;
  assert_rejected (frame, len);
  ck_assert_error_has ("reserved");
  frame[7] = 0;
  frame[11]++;
  assert_rejected (frame, len);
  ck_assert_str_eq (last_error, "flush frame body is 12 bytes but header says 13");
  frame[11]--;
  set_body_len (frame, MSG_MAX_BODY + 1);
  ck_assert_int_eq (msg_frame_length (frame, len, &flen), -1);
  ck_assert_error_has ("exceeds");
  ck_assert_int_eq (msg_frame_length (frame, 11, &flen), -1);
  set_body_len (frame, len - MSG_HEADER_SIZE);
  ck_assert_int_eq (msg_decode (frame, len, &out), 0);
  msg_clear (&out);
  free (frame);
}
END_TEST

START_TEST (test_unknown_type)
{
  static const unsigned bad[] = { 0, MSG_TYPE_MAX + 1, 77, 255 };
  struct msg m = sample (MSG_COMPLETE_TO_HOST, V_TYPICAL);
  char expect[64];
  uint8_t *frame, *copy;
  size_t i, len, flen;

  ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf (expect, sizeof expect, "unknown message type %u", bad[i]);
    frame[5] = bad[i];
    assert_rejected (frame, len);
    ck_assert_str_eq (last_error, expect);
    ck_assert_int_eq (msg_frame_length (frame, len, &flen), -1);
    m.type = bad[i];
    ck_assert_int_eq (msg_encode (&m, &copy, &flen), -1);
    ck_assert_str_eq (last_error, expect);
  }
  free (frame);
}
END_TEST

START_TEST (test_trailing_bytes)
{
  unsigned type, extra;

  for (type = 1; type <= MSG_TYPE_MAX; type++) {
    struct msg m = sample (type, V_TYPICAL);
    uint8_t *frame, *longer;
    size_t len;

    ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
    for (extra = 1; extra <= 9; extra++) {
      longer = malloc (len + extra);
      memcpy (longer, frame, len);
      memset (longer + len, 0, extra);
      assert_rejected (longer, len + extra);
      ck_assert_error_has ("but header says");
      set_body_len (longer, len + extra - MSG_HEADER_SIZE);
      assert_rejected (longer, len + extra);
      ck_assert_error_has ("trailing");
      free (longer);
    }
    free (frame);
  }
}
END_TEST

/* A frame of TYPE whose body is BODY: counts that lie. */
static void
check_lying_count (unsigned type, const uint8_t *body, size_t blen,
                   const char *why)
{
  uint8_t frame[64];

  assert (blen + MSG_HEADER_SIZE <= sizeof frame);
  memcpy (frame, "SGMP", 4);
  frame[4] = MSG_VERSION;
  frame[5] = type;
  frame[6] = frame[7] = 0;
  set_body_len (frame, blen);
  memcpy (frame + MSG_HEADER_SIZE, body, blen);
  ck_assert_uint_eq (assert_rejected (frame, MSG_HEADER_SIZE + blen), 0);
  ck_assert_error_has (why);
}

/* Store the big-endian u32 V at P. */
static void
put_u32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

START_TEST (test_oversize_counts)
{
  /* Retry: id, flags, vdisk, first, count (1: a valid range),
   * zero_after, then the entries count, then 8 bytes of "data". */
  uint8_t retry[8 + 1 + 4 + 8 + 4 + 8 + 4 + 8] = { 0 };
  /* Activate: id, then the vdisks count, then 8 bytes of "data". */
  uint8_t body[8 + 4 + 8] = { 0 };
  static const uint32_t counts[] = { 0xffffffff, MSG_MAX_ENTRIES,
                                     MSG_MAX_ENTRIES + 1, 3 };

  put_u32 (retry + 21, 1);
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    put_u32 (retry + 33, counts[i]);
    check_lying_count (MSG_RETRY, retry, sizeof retry,
                       counts[i] > MSG_MAX_ENTRIES ? "exceed the limit"
                       : "truncated");
    put_u32 (body + 8, counts[i]);
    check_lying_count (MSG_ACTIVATE, body, sizeof body,
                       counts[i] > MSG_MAX_VDISKS ? "exceed the limit"
                       : "truncated");
  }
  /* Name: 256 is over the limit, 255 is more than the body holds. */
  uint8_t reg[8 + 8 + 4 + 8] = { 0 };
  reg[15] = 1;                  /* version */
  reg[18] = 1;                  /* name length 256 */
  check_lying_count (MSG_REGISTER, reg, sizeof reg, "longer than 255");
  reg[18] = 0;
  reg[19] = 255;
  check_lying_count (MSG_REGISTER, reg, sizeof reg, "truncated");
  /* Io_done: id, vdisk, first, status, arg, then blocks of
   * MSG_MAX_BITMAP + 1 and MSG_MAX_BITMAP, then 8 bytes of "data". */
  uint8_t done[8 + 4 + 8 + 4 + 8 + 4 + 8] = { 0 };
  put_u32 (done + 32, MSG_MAX_BITMAP + 1);
  check_lying_count (MSG_IO_DONE, done, sizeof done, "exceed the limit");
  put_u32 (done + 32, MSG_MAX_BITMAP);
  check_lying_count (MSG_IO_DONE, done, sizeof done, "truncated");
  /* Reply: counters of MSG_MAX_COUNTERS + 1 and 3 (more than the body
   * holds): id, status, arg, arg2, entries (0), counters. */
  uint8_t rep[8 + 4 + 8 + 4 + 4 + 4 + 8] = { 0 };
  put_u32 (rep + 28, MSG_MAX_COUNTERS + 1);
  check_lying_count (MSG_REPLY, rep, sizeof rep, "exceed the limit");
  put_u32 (rep + 28, 3);
  check_lying_count (MSG_REPLY, rep, sizeof rep, "truncated");
  /* Container_attach: a path of 4097, and of 4096 in a short body:
   * id, size, container id, name (empty), path. */
  uint8_t att[8 + 8 + 4 + 4 + 4 + 8] = { 0 };
  att[19] = 1;                  /* container 1; name length 0 */
  put_u32 (att + 24, MSG_MAX_PATH + 1);
  check_lying_count (MSG_CONTAINER_ATTACH, att, sizeof att,
                     "longer than 4096");
  put_u32 (att + 24, MSG_MAX_PATH);
  check_lying_count (MSG_CONTAINER_ATTACH, att, sizeof att, "truncated");
}
END_TEST

/* REGISTER is decoded whatever version its header says, so that a peer
 * of another version can be refused naming both versions; any other
 * frame of another version is not. */
START_TEST (test_register_any_version)
{
  struct msg m = sample (MSG_REGISTER, V_TYPICAL), out;
  uint8_t *frame;
  size_t len;

  m.arg = 2;
  ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
  frame[4] = 2;
  ck_assert_int_eq (msg_decode (frame, len, &out), 0);
  ck_assert_uint_eq (out.arg, 2);
  ck_assert_str_eq (out.name, m.name);
  msg_clear (&out);
  free (frame);

  m = sample (MSG_HEARTBEAT, V_TYPICAL);
  ck_assert_int_eq (msg_encode (&m, &frame, &len), 0);
  frame[4] = 2;
  assert_rejected (frame, len);
  ck_assert_error_has ("version 2");
  free (frame);
}
END_TEST

START_TEST (test_is_command)
{
  ck_assert (msg_is_command (MSG_CONTAINER_ATTACH));
  ck_assert (msg_is_command (MSG_GET_STATS));
  ck_assert (msg_is_command (MSG_GRANT));
  ck_assert (!msg_is_command (MSG_REPLY));
  ck_assert (!msg_is_command (MSG_RETRY));
  ck_assert (!msg_is_command (MSG_REPORT));
  ck_assert (!msg_is_command (MSG_REGISTER));
  ck_assert_str_eq (report_op_to_string (REPORT_SYNC_FAILED), "sync_failed");
  ck_assert_str_eq (report_op_to_string (0), "unknown");
}
END_TEST

/*----------------------------------------------------------------------
 * Messages that break a rule: msg_encode refuses them, and a frame
 * carrying them (built by tb_frame) is refused by msg_decode with the
 * same message.
 */

struct bad_case {
  const char *what;
  unsigned type;
  void (*spoil) (struct msg *m);
  const char *error;            /* expected in the sm_error message */
  bool encode_only;             /* the wire cannot carry the defect */
};

static sm_entry bad_entries[3];
static uint32_t many_vdisks[MSG_MAX_VDISKS + 1];
static uint8_t many_blocks[MSG_MAX_BITMAP + 1];
static char too_long_name[MSG_MAX_NAME + 2];

static void count_0 (struct msg *m) { m->count = 0; }
static void op_0 (struct msg *m) { m->op = 0; }
static void op_5 (struct msg *m) { m->op = FAULT_OP_MAX + 1; }
static void range_past_end (struct msg *m) { m->first = UINT64_C(1) << 37; }
static void range_wraps (struct msg *m) { m->first = UINT64_MAX; }
static void offset_64m (struct msg *m) { m->arg = SM_SEGMENT_SIZE_MAX; }
static void flags_on_fault (struct msg *m) { m->flags = MSG_F_BLOCKING; }
static void two_entries (struct msg *m) { m->n_entries = 2; }
static void three_entries (struct msg *m) { m->n_entries = 3; }
static void flag_on (struct msg *m) { m->flags = MSG_F_ON; }
static void flag_unknown (struct msg *m) { m->flags = 0x80 | MSG_F_BLOCKING; }
static void flag_16 (struct msg *m) { m->flags = 0x10; }
static void flag_ro (struct msg *m) { m->flags = MSG_F_READ_ONLY; }
static void bits_valid (struct msg *m) { m->arg = ENTRY_VALID; }
static void bits_zero (struct msg *m) { m->arg = ENTRY_ZERO | ENTRY_NOWRITE; }
static void bits_error (struct msg *m) { m->arg = ENTRY_ERROR; }
static void bits_none (struct msg *m) { m->arg = 0; }
static void bits_unknown (struct msg *m) { m->arg = 0x100; }
static void no_name (struct msg *m) { m->name = NULL; }
static void empty_name (struct msg *m) { m->name = ""; }
static void ctl_name (struct msg *m) { m->name = "disk\n0"; }
static void long_name_ (struct msg *m) { m->name = too_long_name; }
static void shift_15 (struct msg *m) { m->arg2 = 15; }
static void shift_27 (struct msg *m) { m->arg2 = 27; }
static void size_odd (struct msg *m) { m->arg = 1000; }
static void size_big (struct msg *m) { m->arg = SM_VDISK_SIZE_MAX + 512; }
static void version_0 (struct msg *m) { m->arg = 0; }
static void status_0 (struct msg *m) { m->status = 0; }
static void status_4096 (struct msg *m) { m->status = 4096; }
static void error_with_entries (struct msg *m) { m->status = 5; }
static void no_entries (struct msg *m) { m->n_entries = 0; m->entries = NULL; }
static void alt_zero (struct msg *m) { m->alt = ENTRY_ZERO_SEGMENT; }
static void alt_invalid (struct msg *m) { m->alt = ENTRY_INVALID; }
static void alt_error (struct msg *m) { m->alt |= ENTRY_ERROR; }
static void alt_alt (struct msg *m) { m->alt |= ENTRY_ALT; }
static void no_blocks (struct msg *m) { m->n_blocks = 0; m->blocks = NULL; }
static void no_vdisks (struct msg *m) { m->n_vdisks = 0; m->vdisks = NULL; }
static void count_too_many (struct msg *m) { m->count = MSG_MAX_ENTRIES + 1; }
static void no_path (struct msg *m) { m->path = NULL; }
static void ctl_path (struct msg *m) { m->path = "/tmp/a\tb"; }
static void cid_0 (struct msg *m) { m->arg2 = 0; }
static void cid_big (struct msg *m) { m->arg2 = ENTRY_MAX_CONTAINER + 1; }
static void size_0 (struct msg *m) { m->arg = 0; }
static void size_not_unit (struct msg *m) { m->arg = SM_UNIT_SIZE + 512; }
static void report_op_big (struct msg *m) { m->op = REPORT_OP_MAX + 1; }
static void flag_blocking (struct msg *m) { m->flags = MSG_F_BLOCKING; }
static void
error_with_counters (struct msg *m)
{
  m->status = 5;
  m->n_entries = 0;
  m->entries = NULL;
}
static uint64_t many_counters[MSG_MAX_COUNTERS + 1];
static void
too_many_counters (struct msg *m)
{
  m->n_counters = MSG_MAX_COUNTERS + 1;
  m->counters = many_counters;
}
static char too_long_path[MSG_MAX_PATH + 2];
static void
long_path_ (struct msg *m)
{
  memset (too_long_path, 'p', MSG_MAX_PATH + 1);
  m->path = too_long_path;
}
static uint64_t bad_extents[4];
static void diff_odd (struct msg *m) { m->n_extents = 3; }
static void
diff_unordered (struct msg *m)
{
  bad_extents[0] = 8192; bad_extents[1] = 4096;
  bad_extents[2] = 4096; bad_extents[3] = 4096;
  m->extents = bad_extents;
}
static void get_diff_self (struct msg *m) { m->arg = m->vdisk; }
static void mark_no_blocks (struct msg *m) { m->n_blocks = 0; m->blocks = NULL; }

static void
bad_flag_entry (struct msg *m)
{
  bad_entries[0] = ENTRY_VALID;
  bad_entries[1] = ENTRY_VALID | 0x80;
  m->entries = bad_entries;
  m->n_entries = 2;
  m->count = 2;
}
static void
zero_with_location (struct msg *m)
{
  bad_entries[0] = entry_make (1, 5, ENTRY_VALID | ENTRY_ZERO);
  m->entries = bad_entries;
  m->n_entries = 1;
  m->count = 1;                 /* retry: the only defect is the entry */
}
static void
bits_without_valid (struct msg *m)
{
  bad_entries[2] = ENTRY_NOWRITE;
  m->entries = bad_entries + 2;
  m->n_entries = 1;
}
static void
too_many_vdisks (struct msg *m)
{
  m->vdisks = many_vdisks;
  m->n_vdisks = MSG_MAX_VDISKS + 1;
}
static void
too_many_blocks (struct msg *m)
{
  m->blocks = many_blocks;
  m->n_blocks = MSG_MAX_BITMAP + 1;
}
static void vdisk_on_register (struct msg *m) { m->vdisk = 1; }
static void null_entries (struct msg *m) { m->entries = NULL; }
static void name_on_flush (struct msg *m) { m->name = "x"; }
static void zero_after_past_end (struct msg *m)
{
  m->arg = (UINT64_C(1) << 37) - m->first - m->count + 1;
}
static void grant_zero_entry (struct msg *m)
{
  bad_entries[0] = grant_entries[0];
  bad_entries[1] = ENTRY_ZERO_SEGMENT;
  m->entries = bad_entries;
  m->n_entries = 2;
}
static void grant_no_container (struct msg *m)
{
  bad_entries[0] = entry_make (0, 0, ENTRY_VALID | ENTRY_ERROR);
  m->entries = bad_entries;
  m->n_entries = 1;
}
static void grant_nowrite (struct msg *m)
{
  bad_entries[0] = entry_make (1, 16, ENTRY_VALID | ENTRY_NOWRITE);
  m->entries = bad_entries;
  m->n_entries = 1;
}
static void allocated_past_end (struct msg *m) { m->first = UINT64_C(1) << 37; }
static void op_write (struct msg *m) { m->op = FAULT_WRITE; }
static void
two_originals (struct msg *m)
{
  bad_entries[0] = orig_entries[0];
  bad_entries[1] = orig_entries[0];
  m->entries = bad_entries;
  m->n_entries = 2;
}
static void
orig_error (struct msg *m)
{
  bad_entries[0] = entry_make (2, 300, ENTRY_VALID | ENTRY_ERROR);
  m->entries = bad_entries;
}
static void
orig_invalid (struct msg *m)
{
  bad_entries[0] = ENTRY_INVALID;
  m->entries = bad_entries;
}
static void allocated_count (struct msg *m) { m->count = 1; }

static const struct bad_case bad_cases[] = {
  { "fault count 0", MSG_MAP_FAULT, count_0, "count 0", false },
  { "fault op 0", MSG_MAP_FAULT, op_0, "fault op 0", false },
  { "fault op 5", MSG_MAP_FAULT, op_5, "fault op 5", false },
  { "range past end", MSG_MAP_FAULT, range_past_end, "ends past", false },
  { "range wraps", MSG_GET_ENTRY, range_wraps, "ends past", false },
  { "offset past segment", MSG_MAP_FAULT, offset_64m, "offset", false },
  { "fault with flags", MSG_MAP_FAULT, flags_on_fault, "does not take flags",
    true },
  { "set_entry 2 for 4", MSG_SET_ENTRY, two_entries, "2 entries for 4", false },
  { "set_entry count 0", MSG_SET_ENTRY, count_0, "count 0", false },
  { "set_entry ON", MSG_SET_ENTRY, flag_on, "does not take flags", false },
  { "set_entry 0x80", MSG_SET_ENTRY, flag_unknown, "unknown flag", false },
  { "set_status 0x10", MSG_SET_STATUS, flag_16, "unknown flag", false },
  { "set_status read-only", MSG_SET_STATUS, flag_ro, "does not take flags",
    false },
  { "entry flag 0x80", MSG_SET_ENTRY, bad_flag_entry, "not well formed", false },
  { "diff odd words", MSG_DIFF, diff_odd, "not pairs", false },
  { "diff unordered", MSG_DIFF, diff_unordered, "out of order", false },
  { "get_diff from itself", MSG_GET_DIFF, get_diff_self, "not another", false },
  { "mark without blocks", MSG_MARK, mark_no_blocks, "bitmap bytes", false },
  { "zero with location", MSG_RETRY, zero_with_location, "not well formed",
    false },
  { "bits without valid", MSG_REPLY, bits_without_valid, "not well formed",
    false },
  { "set_status valid", MSG_SET_STATUS, bits_valid, "cannot change", false },
  { "set_status zero", MSG_SET_STATUS, bits_zero, "cannot change", false },
  { "set_status error", MSG_SET_STATUS, bits_error, "cannot change", false },
  { "set_status nothing", MSG_SET_STATUS, bits_none, "not entry flags", false },
  { "set_status 0x100", MSG_SET_STATUS, bits_unknown, "not entry flags",
    false },
  { "set_status count 0", MSG_SET_STATUS, count_0, "count 0", false },
  { "new_table no name", MSG_NEW_TABLE, no_name, "needs a name", false },
  { "new_table empty name", MSG_NEW_TABLE, empty_name, "needs a name", false },
  { "new_table name ctl", MSG_NEW_TABLE, ctl_name, "control character",
    false },
  { "new_table name 256", MSG_NEW_TABLE, long_name_, "name", false },
  { "new_table shift 15", MSG_NEW_TABLE, shift_15, "shift 15", false },
  { "new_table shift 27", MSG_NEW_TABLE, shift_27, "shift 27", false },
  { "new_table size 1000", MSG_NEW_TABLE, size_odd, "size 1000", false },
  { "new_table size big", MSG_NEW_TABLE, size_big, "size", false },
  { "register no name", MSG_REGISTER, no_name, "needs a name", false },
  { "register version 0", MSG_REGISTER, version_0, "version 0", false },
  { "register vdisk", MSG_REGISTER, vdisk_on_register, "carry vdisk", true },
  { "fail status 0", MSG_FAIL, status_0, "status 0", false },
  { "fail status 4096", MSG_FAIL, status_4096, "status 4096", false },
  { "reply status 4096", MSG_REPLY, status_4096, "status 4096", false },
  { "reply error+entries", MSG_REPLY, error_with_entries, "carries no entries",
    false },
  { "retry no entries", MSG_RETRY, no_entries, "0 entries for 4", false },
  { "retry 3 for 4", MSG_RETRY, three_entries, "3 entries for 4", false },
  { "retry count 0", MSG_RETRY, count_0, "count 0", false },
  { "retry range past end", MSG_RETRY, range_past_end, "ends past", false },
  { "retry NULL entries", MSG_RETRY, null_entries, "NULL", true },
  { "do_write alt zero", MSG_DO_WRITE, alt_zero, "not a location", false },
  { "do_write alt invalid", MSG_DO_WRITE, alt_invalid, "not a location",
    false },
  { "do_write alt error", MSG_DO_WRITE, alt_error, "not a location", false },
  { "split alt alt", MSG_DO_SPLIT_READ, alt_alt, "not a location", false },
  { "split no blocks", MSG_DO_SPLIT_READ, no_blocks, "no block bitmap",
    false },
  { "split blocks 2049", MSG_DO_SPLIT_READ, too_many_blocks,
    "exceed the limit", false },
  { "fault blocks 2049", MSG_MAP_FAULT, too_many_blocks, "exceed the limit",
    false },
  { "do_write blocks 2049", MSG_DO_WRITE, too_many_blocks, "exceed the limit",
    false },
  { "io_done blocks 2049", MSG_IO_DONE, too_many_blocks, "exceed the limit",
    false },
  { "do_write no original", MSG_DO_WRITE, no_entries, "0 entries", false },
  { "do_write 2 originals", MSG_DO_WRITE, two_originals, "2 entries", false },
  { "split no original", MSG_DO_SPLIT_READ, no_entries, "0 entries", false },
  { "do_write orig error", MSG_DO_WRITE, orig_error, "not a location or zero",
    false },
  { "split orig invalid", MSG_DO_SPLIT_READ, orig_invalid,
    "not a location or zero", false },
  { "io_done status 4096", MSG_IO_DONE, status_4096, "status 4096", false },
  { "io_done past end", MSG_IO_DONE, allocated_past_end, "past segment",
    false },
  { "io_done with op", MSG_IO_DONE, op_write, "carry op", true },
  { "quiesce no vdisks", MSG_QUIESCE, no_vdisks, "names no vdisks", false },
  { "activate no vdisks", MSG_ACTIVATE, no_vdisks, "names no vdisks", false },
  { "activate 4097", MSG_ACTIVATE, too_many_vdisks, "exceed the limit",
    false },
  { "get_entry count 0", MSG_GET_ENTRY, count_0, "count 0", false },
  { "get_status too many", MSG_GET_STATUS, count_too_many,
    "count 1048577", false },
  { "flush with name", MSG_FLUSH, name_on_flush, "carry name", true },
  { "retry zero_after past end", MSG_RETRY, zero_after_past_end,
    "zero segments after", false },
  { "grant no entries", MSG_GRANT, no_entries, "no locations", false },
  { "grant a zero entry", MSG_GRANT, grant_zero_entry, "not a free location",
    false },
  { "grant an error entry", MSG_GRANT, grant_no_container,
    "not a free location", false },
  { "grant a no-write entry", MSG_GRANT, grant_nowrite, "not a free location",
    false },
  { "allocated alt zero", MSG_ALLOCATED, alt_zero, "not a free location",
    false },
  { "allocated alt invalid", MSG_ALLOCATED, alt_invalid,
    "not a free location", false },
  { "allocated alt error", MSG_ALLOCATED, alt_error, "not a free location",
    false },
  { "allocated past end", MSG_ALLOCATED, allocated_past_end, "past segment",
    false },
  { "allocated with count", MSG_ALLOCATED, allocated_count, "carry count",
    true },
  { "attach no path", MSG_CONTAINER_ATTACH, no_path, "needs a path", false },
  { "attach path control", MSG_CONTAINER_ATTACH, ctl_path,
    "path has control character", false },
  { "attach path 4097", MSG_CONTAINER_ATTACH, long_path_, "longer than 4096",
    false },
  { "attach no name", MSG_CONTAINER_ATTACH, no_name, "needs a name", false },
  { "attach container 0", MSG_CONTAINER_ATTACH, cid_0, "container id 0",
    false },
  { "attach container 65536", MSG_CONTAINER_ATTACH, cid_big,
    "container id 65536", false },
  { "attach size 0", MSG_CONTAINER_ATTACH, size_0, "size 0", false },
  { "attach size odd", MSG_CONTAINER_ATTACH, size_not_unit,
    "not a positive multiple", false },
  { "detach container 0", MSG_CONTAINER_DETACH, cid_0, "container id 0",
    false },
  { "set_degraded blocking", MSG_SET_DEGRADED, flag_blocking,
    "does not take flags", false },
  { "report op 0", MSG_REPORT, op_0, "op 0", false },
  { "report op 5", MSG_REPORT, report_op_big, "op 5", false },
  { "report status 0", MSG_REPORT, status_0, "status 0", false },
  { "report sync container 0", MSG_REPORT, cid_0, "container id 0", false },
  { "reply error+counters", MSG_REPLY, error_with_counters,
    "carries no entries or counters", false },
  { "reply 65 counters", MSG_REPLY, too_many_counters, "exceed the limit",
    false },
};

START_TEST (test_invalid_messages)
{
  const struct bad_case *c = &bad_cases[_i];
  struct msg m = sample (c->type, V_TYPICAL);
  uint8_t *frame;
  size_t len;
  struct tbuf b;
  char enc_error[sizeof last_error];

  memset (too_long_name, 'x', MSG_MAX_NAME + 1);
  c->spoil (&m);
  last_error[0] = '\0';
  ck_assert_msg (msg_encode (&m, &frame, &len) == -1,
                 "%s: encoded", c->what);
  ck_assert_error_has (c->error);
  if (c->encode_only)
    return;
  strcpy (enc_error, last_error);
  b = tb_frame (&m);
  assert_rejected (b.p, b.len);
  ck_assert_str_eq (last_error, enc_error);
  free (b.p);
}
END_TEST

START_TEST (test_name_with_nul)
{
  struct msg m = sample (MSG_REGISTER, V_TYPICAL);
  struct tbuf b;

  raw_name = "agent\0one";
  raw_name_len = 9;
  b = tb_frame (&m);
  raw_name = NULL;
  assert_rejected (b.p, b.len);
  ck_assert_error_has ("NUL byte at byte 5");
  free (b.p);
}
END_TEST

/*----------------------------------------------------------------------
 * Random and mutated frames.
 */

static uint64_t rng_state;

static uint64_t
rng (void)
{
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

/* Apply one random change to BUF (LEN bytes, room for CAP). */
static size_t
mutate (uint8_t *buf, size_t len, size_t cap)
{
  size_t pos = len ? rng () % len : 0;
  uint32_t v;

  switch (rng () % 6) {
  case 0: if (len) buf[pos] ^= 1u << (rng () % 8); break;
  case 1: if (len) buf[pos] = rng (); break;
  case 2: return len ? rng () % len : 0;            /* truncate */
  case 3:                                           /* extend */
    while (len < cap && rng () % 4)
      buf[len++] = rng ();
    break;
  case 4:                                           /* a lying count */
    if (len >= 4) {
      pos = rng () % (len - 3);
      v = rng () % 3 == 0 ? 0xffffffff : rng () % 64;
      buf[pos] = v >> 24; buf[pos + 1] = v >> 16;
      buf[pos + 2] = v >> 8; buf[pos + 3] = v;
    }
    break;
  default:                                          /* a small value */
    if (len) buf[pos] = rng () % 3;
  }
  return len;
}

/* A random frame in BUF: noise, or a mutated sample. */
static size_t
random_frame (uint8_t *buf, size_t cap)
{
  size_t len, i, n;

  if (rng () % 8 == 0) {
    len = rng () % 48;
    for (i = 0; i < len; i++)
      buf[i] = rng ();
  }
  else {
    struct msg m = sample (1 + rng () % MSG_TYPE_MAX, rng () % 2);
    struct tbuf b = tb_frame (&m);
    assert (b.len <= cap);
    memcpy (buf, b.p, b.len);
    len = b.len;
    free (b.p);
  }
  for (n = rng () % 4; n > 0; n--)
    len = mutate (buf, len, cap);
  if (len >= MSG_HEADER_SIZE && rng () % 4)         /* reach the body */
    set_body_len (buf, len - MSG_HEADER_SIZE);
  return len;
}

/* Decode BUF; if accepted, it must be the canonical frame of what it
 * decodes to. */
static bool
check_random_frame (const uint8_t *buf, size_t len)
{
  struct msg m, m2;
  uint8_t *again;
  size_t len2;

  size_t used;

  if (decode_counted (buf, len, &m, &used) == -1) {
    ck_assert (msg_is_cleared (&m));
    ck_assert_uint_le (used, len);
    return false;
  }
  ck_assert_uint_le (used, len);
  ck_assert_msg (msg_encode (&m, &again, &len2) == 0,
                 "decoded but does not encode: %s", last_error);
  ck_assert_uint_eq (len2, len);
  if (m.type == MSG_REGISTER)   /* decoded whatever its version byte */
    again[4] = buf[4];
  ck_assert (memcmp (again, buf, len) == 0);
  ck_assert_int_eq (msg_decode (again, len2, &m2), 0);
  assert_msg_equal (&m, &m2);
  msg_clear (&m);
  msg_clear (&m2);
  free (again);
  return true;
}

START_TEST (test_random_frames)
{
  static uint8_t buf[1024];
  const char *seed = getenv ("SEGMAP_TEST_SEED");
  unsigned i, accepted = 0;

  rng_state = seed ? strtoull (seed, NULL, 0) : UINT64_C(0x5e6a9d15c0dec0de);
  if (rng_state == 0)
    rng_state = 1;
  fprintf (stderr, "test_random_frames: SEGMAP_TEST_SEED=%" PRIu64 "\n",
           rng_state);
  for (i = 0; i < 100000; i++)
    accepted += check_random_frame (buf, random_frame (buf, sizeof buf));
  fprintf (stderr, "test_random_frames: %u of 100000 frames accepted\n",
           accepted);
  /* The mutations must let some frames through, or the body parser
   * was never reached. */
  ck_assert_uint_gt (accepted, 1000);
  ck_assert_uint_lt (accepted, 90000);
}
END_TEST

/*----------------------------------------------------------------------
 * Block bitmaps: 4 KiB blocks, bit I of a segment is bit I % 8 of byte
 * I / 8; the largest segment (64 MiB) needs 2048 bytes.
 */

START_TEST (test_block_bitmaps)
{
  static const uint8_t b[2] = { 0x81, 0x02 };

  ck_assert_uint_eq (SM_BLOCK_SIZE, 4096);
  ck_assert_uint_eq (MSG_MAX_BITMAP, 2048);
  ck_assert_uint_eq ((uint64_t) MSG_MAX_BITMAP * 8 * SM_BLOCK_SIZE,
                     SM_SEGMENT_SIZE_MAX);
  ck_assert (msg_block_is_set (b, 2, 0));
  ck_assert (!msg_block_is_set (b, 2, 1));
  ck_assert (msg_block_is_set (b, 2, 7));
  ck_assert (!msg_block_is_set (b, 2, 8));
  ck_assert (msg_block_is_set (b, 2, 9));
  ck_assert (!msg_block_is_set (b, 2, 16));     /* past the end: clear */
  ck_assert (!msg_block_is_set (b, 1, 9));
  ck_assert (!msg_block_is_set (NULL, 0, 0));
}
END_TEST

/*----------------------------------------------------------------------
 * Names of things.
 */

START_TEST (test_to_string)
{
  ck_assert_str_eq (msg_type_to_string (MSG_MAP_FAULT), "map_fault");
  ck_assert_str_eq (msg_type_to_string (MSG_REPLY), "reply");
  ck_assert_str_eq (msg_type_to_string (MSG_IO_DONE), "io_done");
  ck_assert_str_eq (msg_type_to_string (0), "unknown");
  ck_assert_str_eq (msg_type_to_string (MSG_TYPE_MAX + 1), "unknown");
  ck_assert_str_eq (msg_type_to_string (~0u), "unknown");
  for (unsigned t = 1; t <= MSG_TYPE_MAX; t++)
    ck_assert_str_ne (msg_type_to_string (t), "unknown");
  ck_assert_str_eq (fault_op_to_string (FAULT_READ), "read");
  ck_assert_str_eq (fault_op_to_string (FAULT_ZERO), "zero");
  ck_assert_str_eq (fault_op_to_string (0), "unknown");
  ck_assert_str_eq (fault_op_to_string (5), "unknown");
  ck_assert_str_eq (entry_state_to_string (ENTRY_INVALID), "invalid");
  ck_assert_str_eq (entry_state_to_string (ENTRY_NOWRITE), "invalid");
  ck_assert_str_eq (entry_state_to_string (entry_make (1, 2, ENTRY_VALID)),
                    "mapped");
  ck_assert_str_eq (entry_state_to_string (ENTRY_ZERO_SEGMENT), "zero");
  ck_assert_str_eq (entry_state_to_string (ENTRY_VALID | ENTRY_NOWRITE),
                    "nowrite");
  ck_assert_str_eq (entry_state_to_string (ENTRY_VALID | ENTRY_ERROR),
                    "error");
  ck_assert_str_eq (entry_state_to_string (ENTRY_VALID | ENTRY_NOWRITE |
                                           ENTRY_ALT), "alternate");
}
END_TEST

static Suite *
msg_suite (void)
{
  Suite *s = suite_create ("msg");
  TCase *tc = tcase_create ("codec");

  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_roundtrip);
  tcase_add_test (tc, test_roundtrip_max_sizes);
  tcase_add_test (tc, test_golden_frame);
  tcase_add_test (tc, test_truncation);
  tcase_add_test (tc, test_header_corruption);
  tcase_add_test (tc, test_header_messages);
  tcase_add_test (tc, test_unknown_type);
  tcase_add_test (tc, test_trailing_bytes);
  tcase_add_test (tc, test_oversize_counts);
  tcase_add_test (tc, test_register_any_version);
  tcase_add_test (tc, test_is_command);
  tcase_add_loop_test (tc, test_invalid_messages, 0,
                       sizeof bad_cases / sizeof bad_cases[0]);
  tcase_add_test (tc, test_name_with_nul);
  tcase_add_test (tc, test_random_frames);
  tcase_add_test (tc, test_to_string);
  tcase_add_test (tc, test_block_bitmaps);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (msg_suite ());
  int failed;

  init_samples ();
  sm_set_log_sinks (capture_error, NULL);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
