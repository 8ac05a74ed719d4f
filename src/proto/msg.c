/* segmap: agent <-> controller message codec (frame format in msg.h,
 * the full description in segmap-protocol(7)).
 *
 * Design.  Each message type has one row in layouts[]: the body fields
 * it carries (a FIELD_* bitmask), the msg.flags bits it admits, and a
 * check function for the rules that belong to that type alone.  A body
 * is the carried fields in the fixed order of fields[]:
 *
 *   id u64 | op u8 | flags u8 | vdisk u32 | first u64 | count u32 |
 *   status u32 | arg u64 | arg2 u32 | alt u64 |
 *   entries (u32 n, n x u64) | blocks (u32 n, n x u8) |
 *   vdisks (u32 n, n x u32) | name (u32 n, n bytes, no NUL) |
 *   counters (u32 n, n x u64) | path (u32 n, n bytes, no NUL) |
 *   extents (u32 n, n x u64)
 *
 * so one encode loop and one decode loop serve every type, and adding
 * a type is adding a row.  All integers are big-endian.
 *
 * Invariants.
 *  - Encode and decode run the same validate(): a struct msg that
 *    msg_encode accepts decodes back equal, and a frame that msg_decode
 *    accepts re-encodes to the same bytes.  That is why a field a type
 *    does not carry must be zero / NULL: it could not survive the trip.
 *  - Decode never trusts a length.  Every count is checked against its
 *    MSG_MAX_* limit and against the bytes left in the body before
 *    anything is allocated, so a decode allocates at most about as many
 *    bytes as the frame holds.
 *  - On failure the struct is left cleared and sm_error says what is
 *    wrong, naming the message type and the field.
 */
#include <config.h>

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/be.h"
#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "proto/msg.h"

/* Body fields, one bit each, in wire order (the order of fields[]). */
enum {
  FIELD_ID      = 1u << 0,
  FIELD_OP      = 1u << 1,
  FIELD_FLAGS   = 1u << 2,
  FIELD_VDISK   = 1u << 3,
  FIELD_FIRST   = 1u << 4,
  FIELD_COUNT   = 1u << 5,
  FIELD_STATUS  = 1u << 6,
  FIELD_ARG     = 1u << 7,
  FIELD_ARG2    = 1u << 8,
  FIELD_ALT     = 1u << 9,
  FIELD_ENTRIES = 1u << 10,
  FIELD_BLOCKS  = 1u << 11,
  FIELD_VDISKS  = 1u << 12,
  FIELD_NAME    = 1u << 13,
  FIELD_COUNTERS = 1u << 14,
  FIELD_PATH    = 1u << 15,
  FIELD_EXTENTS = 1u << 16,
};
#define FIELD_RANGE (FIELD_VDISK | FIELD_FIRST | FIELD_COUNT)

/* Largest segment number + 1: the largest vdisk in the smallest
 * segments.  A range must end at or before it. */
#define MSG_MAX_SEGMENTS (SM_VDISK_SIZE_MAX / SM_SEGMENT_SIZE_MIN)

/* FAIL and REPLY carry 0 or an errno; Linux errnos are below 4096. */
#define MSG_MAX_ERRNO 4095

/* Segment shifts NEW_TABLE accepts. */
#define SEG_SHIFT_MIN 16
#define SEG_SHIFT_MAX 26
_Static_assert ((UINT64_C(1) << SEG_SHIFT_MIN) == SM_SEGMENT_SIZE_MIN,
                "segment shift limits follow limits.h");
_Static_assert ((UINT64_C(1) << SEG_SHIFT_MAX) == SM_SEGMENT_SIZE_MAX,
                "segment shift limits follow limits.h");
_Static_assert (MSG_MAX_BITMAP == SM_SEGMENT_SIZE_MAX / SM_BLOCK_SIZE / 8,
                "a bitmap covers the 4 KiB blocks of the largest segment");

/* Entry bits that only set_entry may change (entry.h). */
#define ENTRY_WHOLE_ONLY (ENTRY_VALID | ENTRY_ZERO | ENTRY_ERROR)

enum field_kind {
  FK_U8, FK_U32, FK_U64,        /* scalar member of that width */
  FK_ARRAY,                     /* u32 count, then count elements */
  FK_STRING,                    /* u32 length, then bytes (NUL-free) */
};

struct field {
  unsigned bit;
  const char *name;
  enum field_kind kind;
  size_t offset;                /* the member (array, string: pointer) */
  size_t count_offset;          /* FK_ARRAY: its uint32_t count */
  unsigned width;               /* bytes of one element, wire and memory */
  uint32_t max;                 /* FK_ARRAY, FK_STRING: most elements */
};

#define SCALAR(bit, member, kind, width)                                \
  { bit, #member, kind, offsetof (struct msg, member), 0, width, 0 }
#define ARRAY(bit, member, n, width, max)                               \
  { bit, #member, FK_ARRAY, offsetof (struct msg, member),              \
    offsetof (struct msg, n), width, max }

static const struct field fields[] = {
  SCALAR (FIELD_ID, id, FK_U64, 8),
  SCALAR (FIELD_OP, op, FK_U8, 1),
  SCALAR (FIELD_FLAGS, flags, FK_U8, 1),
  SCALAR (FIELD_VDISK, vdisk, FK_U32, 4),
  SCALAR (FIELD_FIRST, first, FK_U64, 8),
  SCALAR (FIELD_COUNT, count, FK_U32, 4),
  SCALAR (FIELD_STATUS, status, FK_U32, 4),
  SCALAR (FIELD_ARG, arg, FK_U64, 8),
  SCALAR (FIELD_ARG2, arg2, FK_U32, 4),
  SCALAR (FIELD_ALT, alt, FK_U64, 8),
  ARRAY (FIELD_ENTRIES, entries, n_entries, 8, MSG_MAX_ENTRIES),
  ARRAY (FIELD_BLOCKS, blocks, n_blocks, 1, MSG_MAX_BITMAP),
  ARRAY (FIELD_VDISKS, vdisks, n_vdisks, 4, MSG_MAX_VDISKS),
  { FIELD_NAME, "name", FK_STRING, offsetof (struct msg, name), 0, 1,
    MSG_MAX_NAME },
  ARRAY (FIELD_COUNTERS, counters, n_counters, 8, MSG_MAX_COUNTERS),
  { FIELD_PATH, "path", FK_STRING, offsetof (struct msg, path), 0, 1,
    MSG_MAX_PATH },
  ARRAY (FIELD_EXTENTS, extents, n_extents, 8, MSG_MAX_EXTENTS),
};

_Static_assert (sizeof (sm_entry) == 8, "entries are 8 bytes");

struct layout {
  const char *name;             /* NULL: no such type */
  unsigned fields;              /* FIELD_* carried in the body */
  uint8_t flags;                /* MSG_F_* this type admits */
  int (*check) (const struct msg *m);   /* type rules, or NULL */
};

static int check_register (const struct msg *m);
static int check_map_fault (const struct msg *m);
static int check_retry (const struct msg *m);
static int check_fail (const struct msg *m);
static int check_do_write (const struct msg *m);
static int check_do_split_read (const struct msg *m);
static int check_new_table (const struct msg *m);
static int check_get (const struct msg *m);
static int check_set_entry (const struct msg *m);
static int check_set_status (const struct msg *m);
static int check_vdisk_list (const struct msg *m);
static int check_reply (const struct msg *m);
static int check_get_diff (const struct msg *m);
static int check_mark (const struct msg *m);
static int check_diff (const struct msg *m);
static int check_grant (const struct msg *m);
static int check_allocated (const struct msg *m);
static int check_io_done (const struct msg *m);
static int check_attach (const struct msg *m);
static int check_detach (const struct msg *m);
static int check_report (const struct msg *m);

static const struct layout layouts[MSG_TYPE_MAX + 1] = {
  [MSG_REGISTER] = { "register", FIELD_ID | FIELD_ARG | FIELD_NAME, 0,
                     check_register },
  [MSG_HEARTBEAT] = { "heartbeat", FIELD_ID | FIELD_ARG, 0, NULL },
  [MSG_MAP_FAULT] = { "map_fault", FIELD_ID | FIELD_OP | FIELD_RANGE |
                      FIELD_ARG | FIELD_ARG2 | FIELD_BLOCKS, 0,
                      check_map_fault },
  [MSG_FLUSH] = { "flush", FIELD_ID | FIELD_VDISK, 0, NULL },
  [MSG_RETRY] = { "retry", FIELD_ID | FIELD_FLAGS | FIELD_RANGE |
                  FIELD_ARG | FIELD_ENTRIES, MSG_F_MARKED, check_retry },
  [MSG_FAIL] = { "fail", FIELD_ID | FIELD_STATUS, 0, check_fail },
  [MSG_DO_WRITE] = { "do_write", FIELD_ID | FIELD_ALT | FIELD_ENTRIES |
                     FIELD_BLOCKS, 0, check_do_write },
  [MSG_DO_SPLIT_READ] = { "do_split_read", FIELD_ID | FIELD_ALT |
                          FIELD_ENTRIES | FIELD_BLOCKS, 0,
                          check_do_split_read },
  [MSG_COMPLETE_TO_HOST] = { "complete_to_host", FIELD_ID, 0, NULL },
  [MSG_NEW_TABLE] = { "new_table", FIELD_ID | FIELD_FLAGS | FIELD_VDISK |
                      FIELD_ARG | FIELD_ARG2 | FIELD_NAME, MSG_F_READ_ONLY,
                      check_new_table },
  [MSG_DELETE_TABLE] = { "delete_table", FIELD_ID | FIELD_VDISK, 0, NULL },
  [MSG_GET_ENTRY] = { "get_entry", FIELD_ID | FIELD_RANGE, 0, check_get },
  [MSG_GET_STATUS] = { "get_status", FIELD_ID | FIELD_RANGE, 0, check_get },
  [MSG_SET_ENTRY] = { "set_entry", FIELD_ID | FIELD_FLAGS | FIELD_RANGE |
                      FIELD_ENTRIES, MSG_F_BLOCKING, check_set_entry },
  [MSG_SET_STATUS] = { "set_status", FIELD_ID | FIELD_FLAGS | FIELD_RANGE |
                       FIELD_ARG, MSG_F_BLOCKING | MSG_F_ON,
                       check_set_status },
  [MSG_QUIESCE] = { "quiesce", FIELD_ID | FIELD_ARG | FIELD_VDISKS, 0,
                    check_vdisk_list },
  [MSG_ACTIVATE] = { "activate", FIELD_ID | FIELD_VDISKS, 0,
                     check_vdisk_list },
  [MSG_REPLY] = { "reply", FIELD_ID | FIELD_STATUS | FIELD_ARG |
                  FIELD_ARG2 | FIELD_ENTRIES | FIELD_COUNTERS, 0,
                  check_reply },
  [MSG_GRANT] = { "grant", FIELD_ID | FIELD_VDISK | FIELD_ENTRIES, 0,
                  check_grant },
  [MSG_ALLOCATED] = { "allocated", FIELD_ID | FIELD_VDISK | FIELD_FIRST |
                      FIELD_ALT, 0, check_allocated },
  [MSG_RECALL] = { "recall", FIELD_ID | FIELD_VDISK, 0, NULL },
  [MSG_IO_DONE] = { "io_done", FIELD_ID | FIELD_VDISK | FIELD_FIRST |
                    FIELD_STATUS | FIELD_ARG | FIELD_BLOCKS, 0,
                    check_io_done },
  [MSG_CONTAINER_ATTACH] = { "container_attach", FIELD_ID | FIELD_ARG |
                             FIELD_ARG2 | FIELD_NAME | FIELD_PATH, 0,
                             check_attach },
  [MSG_CONTAINER_DETACH] = { "container_detach", FIELD_ID | FIELD_ARG2, 0,
                             check_detach },
  [MSG_SET_DEGRADED] = { "set_degraded", FIELD_ID | FIELD_FLAGS, MSG_F_ON,
                         NULL },
  [MSG_REPORT] = { "report", FIELD_ID | FIELD_OP | FIELD_STATUS |
                   FIELD_VDISK | FIELD_ARG2, 0, check_report },
  [MSG_GET_STATS] = { "get_stats", FIELD_ID, 0, NULL },
  [MSG_GET_DIFF] = { "get_diff", FIELD_ID | FIELD_VDISK | FIELD_ARG, 0,
                     check_get_diff },
  [MSG_DIFF] = { "diff", FIELD_ID | FIELD_STATUS | FIELD_ARG | FIELD_EXTENTS,
                 0, check_diff },
  [MSG_MARK] = { "mark", FIELD_ID | FIELD_VDISK | FIELD_FIRST | FIELD_BLOCKS,
                 0, check_mark },
  [MSG_DELEGATE] = { "delegate", FIELD_ID | FIELD_VDISK | FIELD_FIRST |
                     FIELD_ALT | FIELD_ENTRIES | FIELD_BLOCKS, 0,
                     check_do_write },
  [MSG_MOVED] = { "moved", FIELD_ID | FIELD_VDISK | FIELD_FIRST |
                  FIELD_BLOCKS, 0, check_mark },
  [MSG_REVOKE] = { "revoke", FIELD_ID | FIELD_RANGE, 0, check_get },
};

static const char *const report_ops[REPORT_OP_MAX + 1] = {
  [REPORT_SYNC_FAILED] = "sync_failed",
  [REPORT_UNRECORDED] = "unrecorded_allocation",
  [REPORT_IO_FAILED] = "io_failed",
  [REPORT_UNSYNCED] = "unsynced_writes",
};

int
msg_is_command (unsigned type)
{
  switch (type) {
  case MSG_NEW_TABLE: case MSG_DELETE_TABLE: case MSG_GET_ENTRY:
  case MSG_GET_STATUS: case MSG_SET_ENTRY: case MSG_SET_STATUS:
  case MSG_QUIESCE: case MSG_ACTIVATE: case MSG_GRANT: case MSG_RECALL:
  case MSG_CONTAINER_ATTACH: case MSG_CONTAINER_DETACH:
  case MSG_SET_DEGRADED: case MSG_GET_STATS: case MSG_REVOKE:
    return 1;
  default:
    return 0;
  }
}

const char *
report_op_to_string (unsigned op)
{
  if (op > REPORT_OP_MAX || report_ops[op] == NULL)
    return "unknown";
  return report_ops[op];
}

static const char *const fault_ops[FAULT_OP_MAX + 1] = {
  [FAULT_READ] = "read",
  [FAULT_WRITE] = "write",
  [FAULT_TRIM] = "trim",
  [FAULT_ZERO] = "zero",
};

const char *
msg_type_to_string (unsigned type)
{
  if (type > MSG_TYPE_MAX || layouts[type].name == NULL)
    return "unknown";
  return layouts[type].name;
}

const char *
fault_op_to_string (unsigned op)
{
  if (op > FAULT_OP_MAX || fault_ops[op] == NULL)
    return "unknown";
  return fault_ops[op];
}

/* The row of TYPE, or NULL with an error. */
static const struct layout *
layout_of (unsigned type)
{
  if (type > MSG_TYPE_MAX || layouts[type].name == NULL) {
    sm_error ("unknown message type %u", type);
    return NULL;
  }
  return &layouts[type];
}

/*----------------------------------------------------------------------
 * Access to the members of struct msg that fields[] describes.
 */

static uint64_t
get_scalar (const struct msg *m, const struct field *f)
{
  const char *p = (const char *) m + f->offset;

  switch (f->kind) {
  case FK_U8: return *(const uint8_t *) p;
  case FK_U32: return *(const uint32_t *) p;
  case FK_U64: return *(const uint64_t *) p;
  default: abort ();
  }
}

static void
set_scalar (struct msg *m, const struct field *f, uint64_t v)
{
  char *p = (char *) m + f->offset;

  switch (f->kind) {
  case FK_U8: *(uint8_t *) p = v; break;
  case FK_U32: *(uint32_t *) p = v; break;
  case FK_U64: *(uint64_t *) p = v; break;
  default: abort ();
  }
}

/* The pointer members have different types; copy their bytes. */
static void *
get_ptr (const struct msg *m, const struct field *f)
{
  void *ptr;

  memcpy (&ptr, (const char *) m + f->offset, sizeof ptr);
  return ptr;
}

static void
set_ptr (struct msg *m, const struct field *f, void *ptr)
{
  memcpy ((char *) m + f->offset, &ptr, sizeof ptr);
}

static uint32_t
get_count (const struct msg *m, const struct field *f)
{
  return *(const uint32_t *) ((const char *) m + f->count_offset);
}

static void
set_count (struct msg *m, const struct field *f, uint32_t n)
{
  *(uint32_t *) ((char *) m + f->count_offset) = n;
}

/* Element I of an array member, widened. */
static uint64_t
get_elem (const void *array, unsigned width, size_t i)
{
  switch (width) {
  case 1: return ((const uint8_t *) array)[i];
  case 4: return ((const uint32_t *) array)[i];
  case 8: return ((const uint64_t *) array)[i];
  default: abort ();
  }
}

static void
set_elem (void *array, unsigned width, size_t i, uint64_t v)
{
  switch (width) {
  case 1: ((uint8_t *) array)[i] = v; break;
  case 4: ((uint32_t *) array)[i] = v; break;
  case 8: ((uint64_t *) array)[i] = v; break;
  default: abort ();
  }
}

/* Does M hold anything in the member F describes? */
static bool
field_is_set (const struct msg *m, const struct field *f)
{
  switch (f->kind) {
  case FK_ARRAY: return get_count (m, f) != 0 || get_ptr (m, f) != NULL;
  case FK_STRING: return get_ptr (m, f) != NULL;
  default: return get_scalar (m, f) != 0;
  }
}

/*----------------------------------------------------------------------
 * Validation, shared by encode and decode.
 */

/* The error for N elements of F, over its limit (encode and decode). */
static int
too_many (const char *type, const struct field *f, uint64_t n)
{
  if (f->kind == FK_STRING)
    sm_error ("%s: %s is %" PRIu64 " bytes, longer than %" PRIu32,
              type, f->name, n, f->max);
  else
    sm_error ("%s: %" PRIu64 " %s exceed the limit of %" PRIu32,
              type, n, f->name, f->max);
  return -1;
}

/* Generic rules for field F of a message whose row is ROW. */
static int
check_field (const struct msg *m, const struct layout *row,
             const struct field *f)
{
  if (!(row->fields & f->bit)) {
    if (field_is_set (m, f)) {
      sm_error ("%s messages do not carry %s", row->name, f->name);
      return -1;
    }
    return 0;
  }
  if (f->kind == FK_STRING) {
    const char *s = get_ptr (m, f);
    if (s != NULL && strlen (s) > f->max)
      return too_many (row->name, f, strlen (s));
  }
  if (f->kind == FK_ARRAY) {
    uint32_t n = get_count (m, f);
    if (n > f->max)
      return too_many (row->name, f, n);
    if (n > 0 && get_ptr (m, f) == NULL) {
      sm_error ("%s: %s is NULL but its count is %" PRIu32,
                row->name, f->name, n);
      return -1;
    }
  }
  return 0;
}

/* A name or path, if present, has no control bytes: they end up in
 * logs.  (check_field has bounded its length; decode refused NUL
 * bytes.) */
static int
check_string_bytes (const char *s, const char *what,
                    const struct layout *row)
{
  size_t i, len;

  if (s == NULL)
    return 0;
  len = strlen (s);
  for (i = 0; i < len; i++) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f) {
      sm_error ("%s: %s has control character 0x%02x at byte %zu",
                row->name, what, c, i);
      return -1;
    }
  }
  return 0;
}

static int
check_name_bytes (const struct msg *m, const struct layout *row)
{
  if (check_string_bytes (m->name, "name", row) == -1)
    return -1;
  return check_string_bytes (m->path, "path", row);
}

static int
check_flags (const struct msg *m, const struct layout *row)
{
  if (m->flags & ~MSG_F_KNOWN) {
    sm_error ("%s: unknown flag bits 0x%02x",
              row->name, m->flags & ~MSG_F_KNOWN);
    return -1;
  }
  if (m->flags & ~row->flags) {
    sm_error ("%s does not take flags 0x%02x",
              row->name, m->flags & ~row->flags);
    return -1;
  }
  return 0;
}

static int
check_entries (const struct msg *m, const struct layout *row)
{
  uint32_t i;

  for (i = 0; i < m->n_entries; i++) {
    if (!entry_is_well_formed (m->entries[i])) {
      sm_error ("%s: entry %" PRIu32 " (0x%016" PRIx64 ") is not well formed",
                row->name, i, m->entries[i]);
      return -1;
    }
  }
  return 0;
}

/* All the rules for M, in the order a reader would look for them. */
static int
validate (const struct msg *m)
{
  const struct layout *row = layout_of (m->type);
  size_t i;

  if (row == NULL || check_flags (m, row) == -1)
    return -1;
  for (i = 0; i < ARRAY_SIZE (fields); i++)
    if (check_field (m, row, &fields[i]) == -1)
      return -1;
  if (check_name_bytes (m, row) == -1 || check_entries (m, row) == -1)
    return -1;
  return row->check ? row->check (m) : 0;
}

/*----------------------------------------------------------------------
 * Per-type rules (the check column of layouts[]).
 */

static int
need_name (const struct msg *m)
{
  if (m->name == NULL || m->name[0] == '\0') {
    sm_error ("%s needs a name", msg_type_to_string (m->type));
    return -1;
  }
  return 0;
}

/* first/count: 1 <= count <= MAX_COUNT, ending inside the largest vdisk. */
static int
check_range (const struct msg *m, uint64_t max_count)
{
  const char *name = msg_type_to_string (m->type);

  if (m->count == 0 || m->count > max_count) {
    sm_error ("%s: count %" PRIu32 " is outside 1..%" PRIu64,
              name, m->count, max_count);
    return -1;
  }
  if (m->first > MSG_MAX_SEGMENTS || m->count > MSG_MAX_SEGMENTS - m->first) {
    sm_error ("%s: range %" PRIu64 "+%" PRIu32 " ends past segment %" PRIu64,
              name, m->first, m->count, MSG_MAX_SEGMENTS);
    return -1;
  }
  return 0;
}

static int
check_errno (const struct msg *m, uint32_t min)
{
  if (m->status < min || m->status > MSG_MAX_ERRNO) {
    sm_error ("%s: status %" PRIu32 " is not %san errno (%" PRIu32 "..%d)",
              msg_type_to_string (m->type), m->status,
              min == 0 ? "0 or " : "", min == 0 ? 1 : min, MSG_MAX_ERRNO);
    return -1;
  }
  return 0;
}

static int
check_register (const struct msg *m)
{
  if (need_name (m) == -1)
    return -1;
  if (m->arg == 0) {
    sm_error ("register: protocol version 0 is not a version");
    return -1;
  }
  return 0;
}

static int
check_map_fault (const struct msg *m)
{
  if (m->op == 0 || m->op > FAULT_OP_MAX) {
    sm_error ("map_fault: fault op %u is not one of 1..%d",
              m->op, FAULT_OP_MAX);
    return -1;
  }
  if (check_range (m, UINT32_MAX) == -1)
    return -1;
  if (m->arg >= SM_SEGMENT_SIZE_MAX) {
    sm_error ("map_fault: offset %" PRIu64 " is past the largest segment",
              m->arg);
    return -1;
  }
  return 0;
}

static int
check_retry (const struct msg *m)
{
  if (check_range (m, UINT32_MAX) == -1)
    return -1;
  if (m->n_entries != m->count) {
    sm_error ("retry: %" PRIu32 " entries for %" PRIu32 " segments "
              "(must be the count)", m->n_entries, m->count);
    return -1;
  }
  if (m->arg > MSG_MAX_SEGMENTS - m->first - m->count) {
    sm_error ("retry: %" PRIu64 " zero segments after %" PRIu64 "+%" PRIu32
              " end past segment %" PRIu64, m->arg, m->first, m->count,
              MSG_MAX_SEGMENTS);
    return -1;
  }
  return 0;
}

static int
check_fail (const struct msg *m)
{
  return check_errno (m, 1);
}

/* DO_WRITE, DO_SPLIT_READ: alt is a location (valid, no zero, error or
 * alternate bit); entries holds exactly the original location, which
 * may be a ZERO entry (its blocks read as zeros) but not an error. */
static int
check_do_write (const struct msg *m)
{
  const char *name = msg_type_to_string (m->type);

  if (!entry_is_valid (m->alt)
      || (m->alt & (ENTRY_ZERO | ENTRY_ERROR | ENTRY_ALT))) {
    sm_error ("%s: alternate 0x%016" PRIx64 " is not a location (%s)",
              name, m->alt, entry_state_to_string (m->alt));
    return -1;
  }
  if (m->n_entries != 1) {
    sm_error ("%s: %" PRIu32 " entries (must be 1: the original location)",
              name, m->n_entries);
    return -1;
  }
  if (!entry_is_valid (m->entries[0]) || (m->entries[0] & ENTRY_ERROR)) {
    sm_error ("%s: original 0x%016" PRIx64 " is not a location or zero (%s)",
              name, m->entries[0], entry_state_to_string (m->entries[0]));
    return -1;
  }
  return 0;
}

/* A granted location: a plain mapped entry in a real container. */
static int
check_granted (const struct msg *m, sm_entry e)
{
  if (entry_flags (e) != ENTRY_VALID || entry_container (e) == 0) {
    sm_error ("%s: 0x%016" PRIx64 " is not a free location to grant (%s)",
              msg_type_to_string (m->type), e, entry_state_to_string (e));
    return -1;
  }
  return 0;
}

static int
check_grant (const struct msg *m)
{
  if (m->n_entries == 0) {
    sm_error ("grant carries no locations");
    return -1;
  }
  for (uint32_t i = 0; i < m->n_entries; i++)
    if (check_granted (m, m->entries[i]) == -1)
      return -1;
  return 0;
}

static int
check_allocated (const struct msg *m)
{
  if (m->first >= MSG_MAX_SEGMENTS) {
    sm_error ("allocated: segment %" PRIu64 " is past segment %" PRIu64,
              m->first, MSG_MAX_SEGMENTS);
    return -1;
  }
  return check_granted (m, m->alt);
}

static int
check_io_done (const struct msg *m)
{
  if (m->first >= MSG_MAX_SEGMENTS) {
    sm_error ("io_done: segment %" PRIu64 " is past segment %" PRIu64,
              m->first, MSG_MAX_SEGMENTS);
    return -1;
  }
  return check_errno (m, 0);
}

static int
check_do_split_read (const struct msg *m)
{
  if (check_do_write (m) == -1)
    return -1;
  if (m->n_blocks == 0) {
    sm_error ("do_split_read carries no block bitmap");
    return -1;
  }
  return 0;
}

static int
check_new_table (const struct msg *m)
{
  if (need_name (m) == -1)
    return -1;
  if (m->arg2 < SEG_SHIFT_MIN || m->arg2 > SEG_SHIFT_MAX) {
    sm_error ("new_table: segment shift %" PRIu32 " is outside %d..%d",
              m->arg2, SEG_SHIFT_MIN, SEG_SHIFT_MAX);
    return -1;
  }
  if (m->arg > SM_VDISK_SIZE_MAX || m->arg % SM_SECTOR_SIZE != 0) {
    sm_error ("new_table: size %" PRIu64 " is not a multiple of %d "
              "up to %" PRIu64, m->arg, SM_SECTOR_SIZE, SM_VDISK_SIZE_MAX);
    return -1;
  }
  return 0;
}

/* GET_ENTRY, GET_STATUS: the reply carries COUNT entries. */
static int
check_get (const struct msg *m)
{
  return check_range (m, MSG_MAX_ENTRIES);
}

static int
check_set_entry (const struct msg *m)
{
  if (check_range (m, UINT32_MAX) == -1)
    return -1;
  if (m->n_entries != 1 && m->n_entries != m->count) {
    sm_error ("set_entry: %" PRIu32 " entries for %" PRIu32 " segments "
              "(must be 1 or the count)", m->n_entries, m->count);
    return -1;
  }
  return 0;
}

static int
check_set_status (const struct msg *m)
{
  if (check_range (m, UINT32_MAX) == -1)
    return -1;
  if (m->arg == 0 || (m->arg & ~ENTRY_KNOWN_FLAGS)) {
    sm_error ("set_status: bits 0x%" PRIx64 " are not entry flags", m->arg);
    return -1;
  }
  if (m->arg & ENTRY_WHOLE_ONLY) {
    sm_error ("set_status cannot change valid, zero or error (bits 0x%"
              PRIx64 "): only set_entry replaces those", m->arg);
    return -1;
  }
  return 0;
}

static int
check_vdisk_list (const struct msg *m)
{
  if (m->n_vdisks == 0) {
    sm_error ("%s names no vdisks", msg_type_to_string (m->type));
    return -1;
  }
  return 0;
}

static int
check_reply (const struct msg *m)
{
  if (check_errno (m, 0) == -1)
    return -1;
  if (m->status != 0 && (m->n_entries != 0 || m->n_counters != 0)) {
    sm_error ("reply: an error (status %" PRIu32 ") carries no entries "
              "or counters", m->status);
    return -1;
  }
  return 0;
}

/* MARK: a segment and at least one block. */
static int
check_mark (const struct msg *m)
{
  if (m->first >= MSG_MAX_SEGMENTS || m->n_blocks == 0) {
    sm_error ("%s: segment %" PRIu64 " with %" PRIu32 " bitmap bytes",
              msg_type_to_string (m->type), m->first, m->n_blocks);
    return -1;
  }
  return 0;
}

/* GET_DIFF: from (arg) is another vdisk id. */
static int
check_get_diff (const struct msg *m)
{
  if (m->arg == 0 || m->arg > UINT32_MAX || m->arg == m->vdisk) {
    sm_error ("get_diff: 'from' %" PRIu64 " is not another vdisk id",
              m->arg);
    return -1;
  }
  return 0;
}

/* DIFF: (offset, length) pairs, ascending, apart, non-empty, inside the
 * size (arg); an error carries none. */
static int
check_diff (const struct msg *m)
{
  uint64_t end = 0;

  if (check_errno (m, 0) == -1)
    return -1;
  if (m->status != 0 && m->n_extents != 0) {
    sm_error ("diff: an error (status %" PRIu32 ") carries no extents",
              m->status);
    return -1;
  }
  if (m->n_extents % 2 != 0) {
    sm_error ("diff: %" PRIu32 " extent words, not pairs", m->n_extents);
    return -1;
  }
  for (uint32_t i = 0; i < m->n_extents; i += 2) {
    uint64_t off = m->extents[i], len = m->extents[i + 1];
    if (len == 0 || off < end || (i > 0 && off == end)
        || off > m->arg || len > m->arg - off) {
      sm_error ("diff: extent %" PRIu32 " (%" PRIu64 ", %" PRIu64 ") is "
                "empty, out of order, touching the previous one or past "
                "the size %" PRIu64, i / 2, off, len, m->arg);
      return -1;
    }
    end = off + len;
  }
  return 0;
}

/* A container id as entries address it: 1..ENTRY_MAX_CONTAINER. */
static int
check_container_id (const struct msg *m)
{
  if (m->arg2 == 0 || m->arg2 > ENTRY_MAX_CONTAINER) {
    sm_error ("%s: container id %" PRIu32 " is outside 1..%u",
              msg_type_to_string (m->type), m->arg2,
              (unsigned) ENTRY_MAX_CONTAINER);
    return -1;
  }
  return 0;
}

static int
check_attach (const struct msg *m)
{
  if (check_container_id (m) == -1 || need_name (m) == -1)
    return -1;
  if (m->path == NULL || m->path[0] == '\0') {
    sm_error ("container_attach needs a path");
    return -1;
  }
  if (m->arg == 0 || m->arg % SM_UNIT_SIZE != 0) {
    sm_error ("container_attach: size %" PRIu64 " is not a positive "
              "multiple of %" PRIu64, m->arg, SM_UNIT_SIZE);
    return -1;
  }
  return 0;
}

static int
check_detach (const struct msg *m)
{
  return check_container_id (m);
}

static int
check_report (const struct msg *m)
{
  if (m->op == 0 || m->op > REPORT_OP_MAX) {
    sm_error ("report: op %u is not one of 1..%d", m->op, REPORT_OP_MAX);
    return -1;
  }
  if (m->op != REPORT_UNRECORDED && check_container_id (m) == -1)
    return -1;
  return check_errno (m, 1);
}

/*----------------------------------------------------------------------
 * Header.
 */

/* put_be, returning where the next field goes. */
static uint8_t *
emit_be (uint8_t *p, uint64_t v, unsigned width)
{
  put_be (p, width, v);
  return p + width;
}

/* Check a header; return its type and body length. */
static int
parse_header (const uint8_t *h, uint8_t *type, uint32_t *body_len)
{
  uint32_t magic = get_be (h, 4);

  if (magic != MSG_MAGIC) {
    sm_error ("bad frame magic 0x%08" PRIx32 " (expected 0x%08x, \"SGMP\")",
              magic, MSG_MAGIC);
    return -1;
  }
  /* REGISTER's body is the same in every version: decode it, so that
   * the controller can refuse the peer naming both versions. */
  if (h[4] != MSG_VERSION && h[5] != MSG_REGISTER) {
    sm_error ("frame is protocol version %u, this peer speaks version %d",
              h[4], MSG_VERSION);
    return -1;
  }
  if (layout_of (h[5]) == NULL)
    return -1;
  if (h[6] != 0 || h[7] != 0) {
    sm_error ("reserved header bytes are 0x%02x%02x, must be zero",
              h[6], h[7]);
    return -1;
  }
  *type = h[5];
  *body_len = get_be (h + 8, 4);
  if (*body_len > MSG_MAX_BODY) {
    sm_error ("%s frame body of %" PRIu32 " bytes exceeds the limit of %u",
              layouts[*type].name, *body_len, MSG_MAX_BODY);
    return -1;
  }
  return 0;
}

int
msg_frame_length (const uint8_t *hdr, size_t len, size_t *frame_len)
{
  uint8_t type;
  uint32_t body_len;

  if (len < MSG_HEADER_SIZE) {
    sm_error ("frame header is %zu bytes, needs %d", len, MSG_HEADER_SIZE);
    return -1;
  }
  if (parse_header (hdr, &type, &body_len) == -1)
    return -1;
  *frame_len = MSG_HEADER_SIZE + (size_t) body_len;
  return 0;
}

/*----------------------------------------------------------------------
 * Decoding.
 */

/* Where decoding is in the body, for reading and for error messages. */
struct cursor {
  const uint8_t *p;
  size_t left;
  size_t off;
  const char *type;
};

static int
need (struct cursor *c, size_t n, const char *what)
{
  if (c->left < n) {
    sm_error ("%s body is truncated: %s needs %zu bytes at offset %zu, "
              "%zu left", c->type, what, n, c->off, c->left);
    return -1;
  }
  return 0;
}

static void
advance (struct cursor *c, size_t n)
{
  c->p += n;
  c->left -= n;
  c->off += n;
}

/* The next WIDTH bytes as an integer; need() has been called. */
static uint64_t
take (struct cursor *c, unsigned width)
{
  uint64_t v = get_be (c->p, width);

  advance (c, width);
  return v;
}

static int
read_scalar (struct cursor *c, struct msg *m, const struct field *f)
{
  if (need (c, f->width, f->name) == -1)
    return -1;
  set_scalar (m, f, take (c, f->width));
  return 0;
}

/* A count of F's elements, within F's limit and the bytes left. */
static int
read_count (struct cursor *c, const struct field *f, uint32_t *n)
{
  if (need (c, 4, f->name) == -1)
    return -1;
  *n = take (c, 4);
  if (*n > f->max)
    return too_many (c->type, f, *n);
  if (*n > c->left / f->width) {
    sm_error ("%s body is truncated: %" PRIu32 " %s need %" PRIu64
              " bytes at offset %zu, %zu left", c->type, *n, f->name,
              (uint64_t) *n * f->width, c->off, c->left);
    return -1;
  }
  return 0;
}

static int
read_array (struct cursor *c, struct msg *m, const struct field *f)
{
  uint32_t n, i;
  void *array;

  if (read_count (c, f, &n) == -1)
    return -1;
  if (n == 0)
    return 0;
  array = malloc ((size_t) n * f->width);
  if (array == NULL) {
    sm_error ("malloc: %m");
    return -1;
  }
  for (i = 0; i < n; i++)
    set_elem (array, f->width, i, take (c, f->width));
  set_ptr (m, f, array);
  set_count (m, f, n);
  return 0;
}

static int
read_string (struct cursor *c, struct msg *m, const struct field *f)
{
  uint32_t n;
  const uint8_t *nul;
  char *s;

  if (read_count (c, f, &n) == -1)
    return -1;
  if (n == 0)
    return 0;
  nul = memchr (c->p, '\0', n);
  if (nul != NULL) {
    sm_error ("%s: %s has a NUL byte at byte %td", c->type, f->name,
              nul - c->p);
    return -1;
  }
  s = malloc ((size_t) n + 1);
  if (s == NULL) {
    sm_error ("malloc: %m");
    return -1;
  }
  memcpy (s, c->p, n);
  s[n] = '\0';
  advance (c, n);
  set_ptr (m, f, s);
  return 0;
}

static int
read_field (struct cursor *c, struct msg *m, const struct field *f)
{
  switch (f->kind) {
  case FK_ARRAY: return read_array (c, m, f);
  case FK_STRING: return read_string (c, m, f);
  default: return read_scalar (c, m, f);
  }
}

static int
decode_body (const uint8_t *body, size_t len, struct msg *m)
{
  const struct layout *row = &layouts[m->type];
  struct cursor c = { .p = body, .left = len, .off = 0, .type = row->name };
  size_t i;

  for (i = 0; i < ARRAY_SIZE (fields); i++)
    if ((row->fields & fields[i].bit) && read_field (&c, m, &fields[i]) == -1)
      return -1;
  if (c.left != 0) {
    sm_error ("%zu trailing bytes after the %s body (%zu bytes)",
              c.left, row->name, c.off);
    return -1;
  }
  return 0;
}

int
msg_decode (const uint8_t *frame, size_t len, struct msg *m)
{
  uint8_t type;
  uint32_t body_len;

  memset (m, 0, sizeof *m);
  if (len < MSG_HEADER_SIZE) {
    sm_error ("frame is %zu bytes, shorter than the %d-byte header",
              len, MSG_HEADER_SIZE);
    return -1;
  }
  if (parse_header (frame, &type, &body_len) == -1)
    return -1;
  if (len - MSG_HEADER_SIZE != body_len) {
    sm_error ("%s frame body is %zu bytes but header says %" PRIu32,
              layouts[type].name, len - MSG_HEADER_SIZE, body_len);
    return -1;
  }
  m->type = type;
  if (decode_body (frame + MSG_HEADER_SIZE, body_len, m) == -1
      || validate (m) == -1) {
    msg_clear (m);
    return -1;
  }
  return 0;
}

/*----------------------------------------------------------------------
 * Encoding.
 */

static size_t
field_size (const struct msg *m, const struct field *f)
{
  switch (f->kind) {
  case FK_ARRAY: return 4 + (size_t) get_count (m, f) * f->width;
  case FK_STRING: {
    const char *str = get_ptr (m, f);
    return 4 + (str ? strlen (str) : 0);
  }
  default: return f->width;
  }
}

static uint8_t *
write_field (uint8_t *p, const struct msg *m, const struct field *f)
{
  const void *ptr;
  uint32_t n, i;

  switch (f->kind) {
  case FK_ARRAY:
    n = get_count (m, f);
    ptr = get_ptr (m, f);
    p = emit_be (p, n, 4);
    for (i = 0; i < n; i++)
      p = emit_be (p, get_elem (ptr, f->width, i), f->width);
    return p;
  case FK_STRING:
    ptr = get_ptr (m, f);
    n = ptr ? strlen (ptr) : 0;
    p = emit_be (p, n, 4);
    memcpy (p, ptr ? ptr : "", n);
    return p + n;
  default:
    return emit_be (p, get_scalar (m, f), f->width);
  }
}

int
msg_encode (const struct msg *m, uint8_t **frame, size_t *len)
{
  const struct layout *row;
  size_t i, body = 0;
  uint8_t *buf, *p;

  if (validate (m) == -1)
    return -1;
  row = &layouts[m->type];
  for (i = 0; i < ARRAY_SIZE (fields); i++)
    if (row->fields & fields[i].bit)
      body += field_size (m, &fields[i]);
  if (body > MSG_MAX_BODY) {
    sm_error ("%s body of %zu bytes exceeds the limit of %u",
              row->name, body, MSG_MAX_BODY);
    return -1;
  }
  buf = malloc (MSG_HEADER_SIZE + body);
  if (buf == NULL) {
    sm_error ("malloc: %m");
    return -1;
  }
  p = emit_be (buf, MSG_MAGIC, 4);
  *p++ = MSG_VERSION;
  *p++ = m->type;
  p = emit_be (p, 0, 2);
  p = emit_be (p, body, 4);
  for (i = 0; i < ARRAY_SIZE (fields); i++)
    if (row->fields & fields[i].bit)
      p = write_field (p, m, &fields[i]);
  assert (p == buf + MSG_HEADER_SIZE + body);
  *frame = buf;
  *len = MSG_HEADER_SIZE + body;
  return 0;
}

void
msg_clear (struct msg *m)
{
  free (m->entries);
  free (m->blocks);
  free (m->vdisks);
  free (m->name);
  free (m->counters);
  free (m->path);
  free (m->extents);
  memset (m, 0, sizeof *m);
}
