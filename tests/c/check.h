/* check.h - the tiny assertion kit of the C unit tests: counts checks, prints "N passed, N failed". */
#ifndef EMBER_CHECK_H
#define EMBER_CHECK_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
  } while (0)

/* relative-or-absolute closeness, as the gradient checks want it */
#define CHECK_CLOSE(a, b, tol) do { \
    double a_ = (a), b_ = (b), d_ = fabs(a_ - b_), m_ = fmax(1.0, fmax(fabs(a_), fabs(b_))); \
    if (d_ <= (tol) * m_) check_passed++; \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s = %.9g, %s = %.9g (tol %g)\n", \
                                   __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol)); } \
  } while (0)

#define CHECK_STR_CONTAINS(hay, needle) do { \
    const char *h_ = (hay), *n_ = (needle); \
    if (h_ && strstr(h_, n_)) check_passed++; \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: \"%s\" does not contain \"%s\"\n", \
                                   __FILE__, __LINE__, h_ ? h_ : "(null)", n_); } \
  } while (0)

/* ends main(): prints the summary line that tests/run.sh adds up */
#define CHECK_DONE() (printf("%s: %d passed, %d failed\n", __FILE__, check_passed, check_failed), \
                      check_failed != 0)
#endif
