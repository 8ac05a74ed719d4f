/* segmap: libFuzzer harness for the agent <-> controller message codec.
 *
 * Whatever bytes arrive, msg_decode must either refuse them or produce
 * a message that msg_encode turns back into exactly the same frame and
 * that decodes again to an equal message (the codec is canonical: one
 * message, one frame; a REGISTER decodes whatever its header's version
 * byte says, and re-encodes with this version).  Crashes, leaks and undefined behaviour are
 * caught by the sanitizers; broken round trips abort().
 *
 * Not part of the autotools build: fuzz/run-fuzz-msg.sh compiles and
 * runs it with clang -fsanitize=fuzzer,address,undefined.
 */
#include <config.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "proto/msg.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
quiet (const char *fmt, va_list args)
{
  /* Rejections are the common case; do not flood the fuzzer's log. */
}

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-msg: %s\n", what);
  abort ();
}

static int
same_array (const void *a, const void *b, size_t bytes)
{
  return bytes == 0 || memcmp (a, b, bytes) == 0;
}

static int
msg_equal (const struct msg *a, const struct msg *b)
{
  return a->type == b->type && a->op == b->op && a->flags == b->flags
    && a->id == b->id && a->vdisk == b->vdisk && a->first == b->first
    && a->count == b->count && a->status == b->status
    && a->arg == b->arg && a->arg2 == b->arg2 && a->alt == b->alt
    && a->n_entries == b->n_entries && a->n_blocks == b->n_blocks
    && a->n_vdisks == b->n_vdisks
    && same_array (a->entries, b->entries, a->n_entries * sizeof (sm_entry))
    && same_array (a->blocks, b->blocks, a->n_blocks)
    && same_array (a->vdisks, b->vdisks, a->n_vdisks * sizeof (uint32_t))
    && (a->name == NULL ? b->name == NULL
        : b->name != NULL && strcmp (a->name, b->name) == 0)
    && a->n_counters == b->n_counters
    && same_array (a->counters, b->counters, a->n_counters * sizeof (uint64_t))
    && (a->path == NULL ? b->path == NULL
        : b->path != NULL && strcmp (a->path, b->path) == 0);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  sm_set_log_sinks (quiet, NULL);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct msg m, m2;
  uint8_t *frame;
  size_t len;

  if (msg_decode (data, size, &m) == -1)
    return 0;
  if (msg_encode (&m, &frame, &len) == -1)
    fail ("a decoded message does not encode");
  if (m.type == MSG_REGISTER && len == size && size > 4)
    frame[4] = data[4];         /* the version byte is not decoded */
  if (len != size || memcmp (frame, data, size) != 0)
    fail ("re-encoding gives different bytes");
  if (msg_decode (frame, len, &m2) == -1)
    fail ("a re-encoded frame does not decode");
  if (!msg_equal (&m, &m2))
    fail ("a re-encoded frame decodes to a different message");
  msg_clear (&m);
  msg_clear (&m2);
  free (frame);
  return 0;
}
