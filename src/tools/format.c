/* segmapctl: human output helpers (see format.h for the conventions).
 *
 * A table keeps every cell as its own malloc'd string in one flat
 * row-major array (header row first), and computes column widths only
 * when printed.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tools/format.h"

static const char units[] = "KMGTPE";

void
fmt_size (uint64_t size, char *buf, size_t len)
{
  unsigned i = 0;               /* units[i - 1] is the unit, 0: bytes */
  double v;

  while (i < sizeof units - 1 && size >> (10 * (i + 1)) != 0)
    i++;
  if (i == 0) {
    snprintf (buf, len, "%" PRIu64, size);
    return;
  }
  if ((size & ((UINT64_C(1) << (10 * i)) - 1)) == 0) {
    snprintf (buf, len, "%" PRIu64 "%c", size >> (10 * i), units[i - 1]);
    return;
  }
  v = (double) size / (double) (UINT64_C(1) << (10 * i));
  if (v >= 1023.95 && i < sizeof units - 1) {  /* would print "1024.0" */
    v /= 1024;
    i++;
  }
  snprintf (buf, len, "%.1f%c", v, units[i - 1]);
}

void
fmt_duration (uint64_t secs, char *buf, size_t len)
{
  uint64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60;
  uint64_t s = secs % 60;

  if (d)
    snprintf (buf, len, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s",
              d, h, m, s);
  else if (h)
    snprintf (buf, len, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s);
  else if (m)
    snprintf (buf, len, "%" PRIu64 "m %" PRIu64 "s", m, s);
  else
    snprintf (buf, len, "%" PRIu64 "s", s);
}

struct table {
  unsigned ncols;
  unsigned right_mask;
  char **cells;                 /* (nrows + 1) * ncols, header first */
  size_t nrows;                 /* rows, header included */
  size_t cap;                   /* rows allocated */
};

struct table *
table_new (unsigned ncols, const char *const *headers, unsigned right_mask)
{
  struct table *t;

  if (ncols == 0 || ncols > TABLE_MAX_COLS)
    return NULL;
  t = calloc (1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->ncols = ncols;
  t->right_mask = right_mask;
  if (table_add_row (t, headers) == -1) {
    table_free (t);
    return NULL;
  }
  return t;
}

int
table_add_row (struct table *t, const char *const *cells)
{
  unsigned i;

  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    char **p = realloc (t->cells, cap * t->ncols * sizeof *p);

    if (p == NULL)
      return -1;
    t->cells = p;
    t->cap = cap;
  }
  for (i = 0; i < t->ncols; i++) {
    t->cells[t->nrows * t->ncols + i] = strdup (cells[i] ? cells[i] : "-");
    if (t->cells[t->nrows * t->ncols + i] == NULL) {
      while (i-- > 0)
        free (t->cells[t->nrows * t->ncols + i]);
      return -1;
    }
  }
  t->nrows++;
  return 0;
}

/* Width of column COL: its longest cell. */
static size_t
column_width (const struct table *t, unsigned col)
{
  size_t w = 0, r;

  for (r = 0; r < t->nrows; r++) {
    size_t len = strlen (t->cells[r * t->ncols + col]);
    if (len > w)
      w = len;
  }
  return w;
}

/* Print one row; the last column, if left-aligned, is not padded. */
static void
print_row (const struct table *t, size_t row, const size_t *widths, FILE *fp)
{
  unsigned i;

  for (i = 0; i < t->ncols; i++) {
    const char *cell = t->cells[row * t->ncols + i];
    int w = (int) widths[i];
    bool last = i == t->ncols - 1;

    if (t->right_mask & (1u << i))
      fprintf (fp, "%*s", w, cell);
    else
      fprintf (fp, "%-*s", last ? 0 : w, cell);
    fputs (last ? "\n" : "  ", fp);
  }
}

void
table_print (const struct table *t, FILE *fp)
{
  size_t widths[TABLE_MAX_COLS];
  size_t r;
  unsigned i;

  for (i = 0; i < t->ncols; i++)
    widths[i] = column_width (t, i);
  for (r = 0; r < t->nrows; r++)
    print_row (t, r, widths, fp);
}

void
table_free (struct table *t)
{
  size_t i;

  if (t == NULL)
    return;
  for (i = 0; i < t->nrows * t->ncols; i++)
    free (t->cells[i]);
  free (t->cells);
  free (t);
}
