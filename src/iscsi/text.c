/* segmap: iSCSI text segments: parse, accumulate, build (see text.h).
 *
 * Parsing copies the text once, counts the NULs to size the pair array
 * exactly, then splits each pair at its first '=' (values may contain
 * '=': base64 padding).  Duplicates are found by sorting an index of
 * the keys, so a hostile 8 KiB text of 2,700 one-letter pairs costs
 * n log n compares, not n^2.  Memory is bounded by the input: the copy
 * plus one pair struct per NUL.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/text.h"

/*----------------------------------------------------------------------
 * Syntax.
 */

static bool
key_char (unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
    || (c >= '0' && c <= '9') || strchr (".-+@_#", c) != NULL;
}

bool
iscsi_key_name_valid (const char *key, size_t len)
{
  size_t i;

  if (len == 0 || len > ISCSI_KEY_NAME_MAX || key[0] < 'A' || key[0] > 'Z')
    return false;
  for (i = 1; i < len; i++)
    if (key[i] == '\0' || !key_char (key[i]))
      return false;
  return true;
}

size_t
iscsi_value_max (const char *key)
{
  if (strcmp (key, "CHAP_C") == 0 || strcmp (key, "CHAP_R") == 0)
    return ISCSI_BINARY_VALUE_MAX;
  return ISCSI_VALUE_MAX;
}

/* Length of the UTF-8 sequence starting at P (AVAIL bytes), or 0 if it
 * is malformed: overlong, a surrogate, above U+10FFFF, truncated. */
static size_t
utf8_seq (const unsigned char *p, size_t avail)
{
  unsigned c = p[0], n, min, i;
  unsigned long cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; cp = c & 0x0f; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; cp = c & 0x07; }
  else
    return 0;
  if (avail < n)
    return 0;
  for (i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

bool
iscsi_utf8_valid (const void *s, size_t len)
{
  const unsigned char *p = s;

  while (len > 0) {
    size_t n = utf8_seq (p, len);

    if (n == 0)
      return false;
    p += n;
    len -= n;
  }
  return true;
}

/*----------------------------------------------------------------------
 * Parsing.
 */

void
iscsi_text_clear (struct iscsi_text *t)
{
  free (t->buf);
  free (t->pairs);
  memset (t, 0, sizeof *t);
}

/* Split the NUL-terminated pair at S (PLEN bytes) into *PAIR. */
static enum iscsi_text_error
parse_pair (char *s, size_t plen, struct iscsi_text_pair *pair)
{
  char *eq;
  size_t klen;

  if (plen == 0)
    return ISCSI_TEXT_ERR_EMPTY_PAIR;
  eq = memchr (s, '=', plen);
  if (eq == NULL)
    return ISCSI_TEXT_ERR_NO_EQUALS;
  klen = eq - s;
  if (klen == 0)
    return ISCSI_TEXT_ERR_EMPTY_KEY;
  if (klen > ISCSI_KEY_NAME_MAX)
    return ISCSI_TEXT_ERR_KEY_TOO_LONG;
  if (!iscsi_key_name_valid (s, klen))
    return ISCSI_TEXT_ERR_KEY_CHARS;
  *eq = '\0';
  pair->key = s;
  pair->value = eq + 1;
  pair->value_len = plen - klen - 1;
  if (pair->value_len > iscsi_value_max (s))
    return ISCSI_TEXT_ERR_VALUE_TOO_LONG;
  if (!iscsi_utf8_valid (pair->value, pair->value_len))
    return ISCSI_TEXT_ERR_UTF8;
  return ISCSI_TEXT_OK;
}

static int
compare_keys (const void *a, const void *b)
{
  const struct iscsi_text_pair *const *pa = a, *const *pb = b;
  int r = strcmp ((*pa)->key, (*pb)->key);

  /* Ties by position, so the reported duplicate is the later one. */
  return r != 0 ? r : (*pa > *pb) - (*pa < *pb);
}

/* The first pair whose key appeared before, or NULL. */
static const struct iscsi_text_pair *
find_duplicate (const struct iscsi_text *t, enum iscsi_text_error *err)
{
  CLEANUP_FREE const struct iscsi_text_pair **idx = NULL;
  const struct iscsi_text_pair *dup = NULL;
  size_t i;

  *err = ISCSI_TEXT_OK;
  if (t->n < 2)
    return NULL;
  idx = malloc (t->n * sizeof *idx);
  if (idx == NULL) {
    *err = ISCSI_TEXT_ERR_NOMEM;
    return NULL;
  }
  for (i = 0; i < t->n; i++)
    idx[i] = &t->pairs[i];
  qsort (idx, t->n, sizeof *idx, compare_keys);
  for (i = 1; i < t->n; i++)
    if (strcmp (idx[i - 1]->key, idx[i]->key) == 0
        && (dup == NULL || idx[i] < dup))
      dup = idx[i];
  if (dup != NULL)
    *err = ISCSI_TEXT_ERR_DUPLICATE;
  return dup;
}

static size_t
count_nuls (const char *p, size_t len)
{
  size_t n = 0;

  while (len-- > 0)
    n += *p++ == '\0';
  return n;
}

/* Fill T->pairs from T->buf (LEN bytes, ending in NUL). */
static enum iscsi_text_error
split_pairs (struct iscsi_text *t, size_t len, size_t *err_offset)
{
  size_t off = 0;
  enum iscsi_text_error e;

  while (off < len) {
    char *s = &t->buf[off];
    size_t plen = strlen (s);

    e = parse_pair (s, plen, &t->pairs[t->n]);
    if (e != ISCSI_TEXT_OK) {
      *err_offset = off;
      return e;
    }
    t->n++;
    off += plen + 1;
  }
  return ISCSI_TEXT_OK;
}

enum iscsi_text_error
iscsi_text_parse (const void *data, size_t len, unsigned flags,
                  struct iscsi_text *out, size_t *err_offset)
{
  size_t where = 0, count;
  enum iscsi_text_error e = ISCSI_TEXT_OK;
  const struct iscsi_text_pair *dup;

  memset (out, 0, sizeof *out);
  if (len > ISCSI_TEXT_MAX)
    e = ISCSI_TEXT_ERR_TOO_LONG;
  else if (len > 0 && ((const char *) data)[len - 1] != '\0') {
    e = ISCSI_TEXT_ERR_NO_NUL;
    where = len;
  }
  if (e != ISCSI_TEXT_OK || len == 0)
    goto out;
  count = count_nuls (data, len);
  out->buf = malloc (len);
  out->pairs = malloc (count * sizeof *out->pairs);
  if (out->buf == NULL || out->pairs == NULL) {
    e = ISCSI_TEXT_ERR_NOMEM;
    goto out;
  }
  memcpy (out->buf, data, len);
  e = split_pairs (out, len, &where);
  if (e == ISCSI_TEXT_OK && !(flags & ISCSI_TEXT_ALLOW_DUPLICATES)) {
    dup = find_duplicate (out, &e);
    if (dup != NULL)
      where = dup->key - out->buf;
  }
 out:
  if (e != ISCSI_TEXT_OK) {
    iscsi_text_clear (out);
    if (err_offset != NULL)
      *err_offset = where;
  }
  return e;
}

const char *
iscsi_text_find (const struct iscsi_text *t, const char *key)
{
  size_t i;

  for (i = 0; i < t->n; i++)
    if (strcmp (t->pairs[i].key, key) == 0)
      return t->pairs[i].value;
  return NULL;
}

/*----------------------------------------------------------------------
 * Accumulating continued PDUs.
 */

void
iscsi_text_acc_init (struct iscsi_text_acc *acc, size_t limit)
{
  memset (acc, 0, sizeof *acc);
  acc->limit = limit ? limit : ISCSI_TEXT_MAX;
}

enum iscsi_text_error
iscsi_text_acc_append (struct iscsi_text_acc *acc, const void *data,
                       size_t len)
{
  size_t cap;
  uint8_t *p;

  if (len > acc->limit - acc->len)
    return ISCSI_TEXT_ERR_TOO_LONG;
  if (acc->len + len > acc->cap) {
    cap = acc->cap ? acc->cap * 2 : 512;
    if (cap < acc->len + len)
      cap = acc->len + len;
    if (cap > acc->limit)
      cap = acc->limit;
    p = realloc (acc->buf, cap);
    if (p == NULL)
      return ISCSI_TEXT_ERR_NOMEM;
    acc->buf = p;
    acc->cap = cap;
  }
  if (len > 0)
    memcpy (&acc->buf[acc->len], data, len);
  acc->len += len;
  return ISCSI_TEXT_OK;
}

void
iscsi_text_acc_reset (struct iscsi_text_acc *acc)
{
  acc->len = 0;
}

void
iscsi_text_acc_clear (struct iscsi_text_acc *acc)
{
  free (acc->buf);
  iscsi_text_acc_init (acc, acc->limit);
}

/*----------------------------------------------------------------------
 * Building.
 */

static int
builder_reserve (struct iscsi_text_builder *b, size_t more)
{
  size_t cap = b->cap ? b->cap : 256;
  char *p;

  if (b->len + more <= b->cap)
    return 0;
  while (cap < b->len + more)
    cap *= 2;
  p = realloc (b->buf, cap);
  if (p == NULL) {
    sm_error ("iscsi text: %m");
    return -1;
  }
  b->buf = p;
  b->cap = cap;
  return 0;
}

int
iscsi_text_add (struct iscsi_text_builder *b, const char *key,
                const char *value)
{
  size_t klen = strlen (key), vlen = strlen (value);

  if (!iscsi_key_name_valid (key, klen)) {
    sm_error ("iscsi text: invalid key name \"%s\"", key);
    return -1;
  }
  if (vlen > iscsi_value_max (key) || !iscsi_utf8_valid (value, vlen)) {
    sm_error ("iscsi text: invalid value for %s (%zu bytes)", key, vlen);
    return -1;
  }
  if (builder_reserve (b, klen + vlen + 2) == -1)
    return -1;
  memcpy (&b->buf[b->len], key, klen);
  b->buf[b->len + klen] = '=';
  memcpy (&b->buf[b->len + klen + 1], value, vlen + 1);
  b->len += klen + vlen + 2;
  return 0;
}

int
iscsi_text_addf (struct iscsi_text_builder *b, const char *key,
                 const char *fmt, ...)
{
  char value[ISCSI_VALUE_MAX + 2];
  va_list args;
  int n;

  va_start (args, fmt);
  n = vsnprintf (value, sizeof value, fmt, args);
  va_end (args);
  if (n < 0 || (size_t) n > ISCSI_VALUE_MAX) {
    sm_error ("iscsi text: value for %s too long", key);
    return -1;
  }
  return iscsi_text_add (b, key, value);
}

void
iscsi_text_builder_clear (struct iscsi_text_builder *b)
{
  free (b->buf);
  memset (b, 0, sizeof *b);
}

size_t
iscsi_text_chunk (const struct iscsi_text_builder *b, size_t offset,
                  size_t max, bool *more)
{
  size_t n = offset < b->len ? b->len - offset : 0;

  if (n > max)
    n = max;
  *more = offset + n < b->len;
  return n;
}

const char *
iscsi_text_error_to_string (enum iscsi_text_error err)
{
  static const char *const names[ISCSI_TEXT_ERR__COUNT] = {
    [ISCSI_TEXT_OK] = "no error",
    [ISCSI_TEXT_ERR_NO_NUL] = "text does not end with NUL",
    [ISCSI_TEXT_ERR_EMPTY_PAIR] = "empty key=value pair",
    [ISCSI_TEXT_ERR_NO_EQUALS] = "key without '='",
    [ISCSI_TEXT_ERR_EMPTY_KEY] = "empty key",
    [ISCSI_TEXT_ERR_KEY_TOO_LONG] = "key longer than 63 bytes",
    [ISCSI_TEXT_ERR_KEY_CHARS] = "invalid key name",
    [ISCSI_TEXT_ERR_VALUE_TOO_LONG] = "value too long",
    [ISCSI_TEXT_ERR_UTF8] = "value is not valid UTF-8",
    [ISCSI_TEXT_ERR_DUPLICATE] = "duplicate key",
    [ISCSI_TEXT_ERR_TOO_LONG] = "text longer than its limit",
    [ISCSI_TEXT_ERR_BINARY] = "invalid binary value",
    [ISCSI_TEXT_ERR_NOMEM] = "out of memory",
  };

  if ((unsigned) err >= ISCSI_TEXT_ERR__COUNT)
    return "unknown text error";
  return names[err];
}
