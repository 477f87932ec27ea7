/* Minimal unit-test support: CHECK records a failure and goes on, so
 * one run reports every broken expectation.
 */
#ifndef P2V_TEST_H
#define P2V_TEST_H

#include <stdio.h>

static int test_failures;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
               #cond);                                                  \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#define TEST_DONE()                                                     \
  (fprintf (stderr, "%s\n", test_failures ? "FAILED" : "ok"),           \
   test_failures ? 1 : 0)

#endif
