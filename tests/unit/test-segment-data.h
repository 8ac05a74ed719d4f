/* segmap: recognisable segment contents for the redirected-I/O tests
 * (test-agent-faults.c, test-faults-move.c).
 *
 * A segment's original location is filled with orig_byte(i) and its
 * alternate with alt_byte(i) (i: the byte's offset in the segment), so
 * every byte read back can be traced to the place it came from.
 */
#ifndef SEGMAP_TEST_SEGMENT_DATA_H
#define SEGMAP_TEST_SEGMENT_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "store/container.h"

static inline uint8_t
orig_byte (uint64_t off)
{
  return (uint8_t) (off * 7 + 1 + (off >> 12));
}

static inline uint8_t
alt_byte (uint64_t off)
{
  return (uint8_t) (off * 13 + 5 + (off >> 12) * 3);
}

/* SIZE bytes of BOX at AT (caller frees). */
static inline uint8_t *
segment_read (struct container *box, uint64_t at, uint64_t size)
{
  uint8_t *buf = malloc (size);

  ck_assert_ptr_nonnull (buf);
  ck_assert_int_eq (container_pread (box, buf, size, at), 0);
  return buf;
}

/* Fill SIZE bytes of BOX at AT with BYTE (i). */
static inline void
segment_fill (struct container *box, uint64_t at, uint64_t size,
              uint8_t (*byte) (uint64_t))
{
  uint8_t *buf = malloc (size);

  ck_assert_ptr_nonnull (buf);
  for (uint64_t i = 0; i < size; i++)
    buf[i] = byte (i);
  ck_assert_int_eq (container_pwrite (box, buf, size, at), 0);
  free (buf);
}

/* Are the SIZE bytes of BOX at AT exactly BYTE (i)? */
static inline bool
segment_is (struct container *box, uint64_t at, uint64_t size,
            uint8_t (*byte) (uint64_t))
{
  uint8_t *buf = segment_read (box, at, size);
  bool same = true;

  for (uint64_t i = 0; i < size && same; i++)
    same = buf[i] == byte (i);
  free (buf);
  return same;
}

#endif /* SEGMAP_TEST_SEGMENT_DATA_H */
