/* segmap: what test-text.c and test-negotiate.c (one program) share. */
#ifndef SEGMAP_TEST_TEXT_H
#define SEGMAP_TEST_TEXT_H

#include <check.h>

extern unsigned seed;           /* SEGMAP_TEST_SEED */

/* test-negotiate.c */
void add_negotiate_tests (TCase *tc);

#endif /* SEGMAP_TEST_TEXT_H */
