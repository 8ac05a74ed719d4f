/* segmap: hexadecimal text for small binary blobs (JSON transport of
 * opaque state such as persistent reservations). */
#ifndef SEGMAP_HEX_H
#define SEGMAP_HEX_H

#include <stddef.h>

/* A new NUL-terminated lower-case hex string of LEN bytes, or NULL
 * (ENOMEM). */
char *sm_hex_encode (const void *data, size_t len);

/* Decode a non-empty, even-length hex string (either case) into a new
 * buffer *OUT of *LEN bytes.  0, or -1 with errno EINVAL (bad text) or
 * ENOMEM; nothing is reported through sm_error. */
int sm_hex_decode (const char *hex, void **out, size_t *len);

#endif /* SEGMAP_HEX_H */
