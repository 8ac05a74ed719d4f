/* segmap: iSCSI text segments -- key=value pairs of Login and Text PDUs.
 *
 * Groundwork for a future iSCSI target (RFC 7143 §6.1); nothing in
 * segmap uses it yet.
 *
 * A text is a sequence of "key=value\0" pairs, possibly spread over
 * several PDUs with the C (continue) bit.  The flow for a target:
 *
 *   iscsi_text_acc_append() for each PDU's data segment   (bounded)
 *   iscsi_text_parse() once the last PDU (C=0) arrived     (validated)
 *   ... negotiate (params.h) into an iscsi_text_builder ...
 *   iscsi_text_chunk() to cut the answer into PDUs
 *
 * Limits enforced here: key names 1-63 bytes of [A-Za-z0-9.-+@_#]
 * starting with a capital letter; values at most 255 bytes except the
 * binary CHAP_C / CHAP_R (at most 1024 bytes once decoded, so up to
 * "0x" + 2048 hex digits); values valid UTF-8; every pair ends in NUL;
 * no key twice; the whole text at most ISCSI_TEXT_MAX (8 KiB) -- the
 * accumulator refuses to grow past its limit *before* allocating.
 *
 * Parse errors are returned as enum iscsi_text_error (bad text is
 * expected input; the caller answers with a Login reject); the builder
 * is fed by our own code and reports misuse through sm_error.
 */
#ifndef SEGMAP_ISCSI_TEXT_H
#define SEGMAP_ISCSI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISCSI_KEY_NAME_MAX   63
#define ISCSI_VALUE_MAX      255
#define ISCSI_BINARY_MAX     1024      /* CHAP_C / CHAP_R, decoded */
#define ISCSI_BINARY_VALUE_MAX (2 + 2 * ISCSI_BINARY_MAX)  /* "0x" + hex */
#define ISCSI_TEXT_MAX       8192      /* one request, all its PDUs */

enum iscsi_text_error {
  ISCSI_TEXT_OK = 0,
  ISCSI_TEXT_ERR_NO_NUL,        /* the last pair is not NUL-terminated */
  ISCSI_TEXT_ERR_EMPTY_PAIR,    /* two NULs in a row */
  ISCSI_TEXT_ERR_NO_EQUALS,     /* a pair without '=' */
  ISCSI_TEXT_ERR_EMPTY_KEY,     /* "=value" */
  ISCSI_TEXT_ERR_KEY_TOO_LONG,  /* key > 63 bytes */
  ISCSI_TEXT_ERR_KEY_CHARS,     /* not a key-name */
  ISCSI_TEXT_ERR_VALUE_TOO_LONG,/* value > 255 (or the key's limit) */
  ISCSI_TEXT_ERR_UTF8,          /* value is not valid UTF-8 */
  ISCSI_TEXT_ERR_DUPLICATE,     /* the same key twice */
  ISCSI_TEXT_ERR_TOO_LONG,      /* the text is over its limit */
  ISCSI_TEXT_ERR_BINARY,        /* bad 0x / 0b binary value */
  ISCSI_TEXT_ERR_NOMEM,
  ISCSI_TEXT_ERR__COUNT
};

struct iscsi_text_pair {
  const char *key;              /* NUL-terminated */
  const char *value;            /* NUL-terminated, may be "" */
  size_t value_len;
};

/* A parsed text: pairs point into buf (owned). */
struct iscsi_text {
  char *buf;
  struct iscsi_text_pair *pairs;
  size_t n;
};

/* Flags for iscsi_text_parse. */
#define ISCSI_TEXT_ALLOW_DUPLICATES 0x1u  /* SendTargets answers repeat keys */

/* Parse LEN bytes of text into *OUT (iscsi_text_clear frees it).  On
 * error *OUT is empty and, if ERR_OFFSET is not NULL, it is set to the
 * offset of the offending pair.  Allocates at most about 2.4 x LEN. */
enum iscsi_text_error iscsi_text_parse (const void *data, size_t len,
                                        unsigned flags,
                                        struct iscsi_text *out,
                                        size_t *err_offset);
void iscsi_text_clear (struct iscsi_text *t);

/* The value of KEY in T, or NULL (the first one, with duplicates). */
const char *iscsi_text_find (const struct iscsi_text *t, const char *key);

/* Accumulates the data segments of continued PDUs, up to LIMIT bytes
 * (0: ISCSI_TEXT_MAX).  Never allocates beyond the limit. */
struct iscsi_text_acc {
  uint8_t *buf;
  size_t len, cap, limit;
};

void iscsi_text_acc_init (struct iscsi_text_acc *acc, size_t limit);
/* Append LEN bytes; ISCSI_TEXT_ERR_TOO_LONG (nothing appended) if the
 * total would pass the limit, ISCSI_TEXT_ERR_NOMEM if out of memory. */
enum iscsi_text_error iscsi_text_acc_append (struct iscsi_text_acc *acc,
                                             const void *data, size_t len);
/* Forget the contents, keep the limit. */
void iscsi_text_acc_reset (struct iscsi_text_acc *acc);
void iscsi_text_acc_clear (struct iscsi_text_acc *acc);

/* Builds a text (our answers and declarations). */
struct iscsi_text_builder {
  char *buf;
  size_t len, cap;
};

/* Append "KEY=VALUE\0".  Returns 0, or -1 with sm_error if KEY is not
 * a key-name, VALUE is too long for KEY or not UTF-8, or on ENOMEM. */
int iscsi_text_add (struct iscsi_text_builder *b, const char *key,
                    const char *value);
int iscsi_text_addf (struct iscsi_text_builder *b, const char *key,
                     const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
void iscsi_text_builder_clear (struct iscsi_text_builder *b);

/* Cut B into data segments of at most MAX bytes: the length of the one
 * starting at OFFSET, and *MORE (the C bit) if more follow. */
size_t iscsi_text_chunk (const struct iscsi_text_builder *b, size_t offset,
                         size_t max, bool *more);

/* Syntax helpers. */
bool iscsi_key_name_valid (const char *key, size_t len);
/* The longest value KEY may have (255, or more for binary CHAP keys). */
size_t iscsi_value_max (const char *key);
bool iscsi_utf8_valid (const void *s, size_t len);

/* Decode a binary value "0x<hex>" or "0b<base64>" (RFC 7143 §6.1) into
 * OUT (may be NULL to only measure), at most OUT_MAX bytes.  Empty,
 * odd-length hex, bad characters or padding, or too long: ERR_BINARY. */
enum iscsi_text_error iscsi_binary_decode (const char *value, uint8_t *out,
                                           size_t out_max, size_t *out_len);
/* Encode LEN bytes as "0x..." or "0b..." into OUT (with NUL).  Returns
 * the string length, or -1 if OUT_SIZE is too small. */
int iscsi_binary_encode_hex (const uint8_t *in, size_t len, char *out,
                             size_t out_size);
int iscsi_binary_encode_base64 (const uint8_t *in, size_t len, char *out,
                                size_t out_size);

const char *iscsi_text_error_to_string (enum iscsi_text_error err);

#endif /* SEGMAP_ISCSI_TEXT_H */
