/* segmapctl: human output helpers (sizes, durations, aligned tables).
 *
 * Sizes are shown in the largest binary unit they reach: exact values
 * without a fraction ("1G", "512M", "4K", "100"), others with one
 * rounded decimal ("1.5G", "1.0G" for one byte over 1G): a decimal
 * point always means "not exact".  Scripts should use --json, which
 * carries bytes.
 */
#ifndef SEGMAPCTL_FORMAT_H
#define SEGMAPCTL_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#define FMT_SIZE_LEN 32

/* Format SIZE (bytes) for humans into BUF (FMT_SIZE_LEN is enough). */
void fmt_size (uint64_t size, char *buf, size_t len);

/* Format SECS as "3d 4h 5m 6s" (leading zero units left out). */
void fmt_duration (uint64_t secs, char *buf, size_t len);

struct table;

#define TABLE_MAX_COLS 16

/* A table of NCOLS (1..TABLE_MAX_COLS) columns titled HEADERS; bit i
 * of RIGHT_MASK right-aligns column i (numbers).  Returns NULL on
 * allocation failure. */
struct table *table_new (unsigned ncols, const char *const *headers,
                         unsigned right_mask);

/* Append a row of exactly NCOLS strings (copied).  Returns 0 or -1. */
int table_add_row (struct table *t, const char *const *cells);

/* Print the header and rows, columns two spaces apart, no trailing
 * blanks.  A table without rows prints only its header. */
void table_print (const struct table *t, FILE *fp);

void table_free (struct table *t);

#endif /* SEGMAPCTL_FORMAT_H */
