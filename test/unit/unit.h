/*
 * unit.h
 *	  A small test runner: each test is a function that records failed
 *	  checks; the runner (unit.c) prints TAP: one line per test, then the
 *	  plan.
 */
#ifndef KYRO_UNIT_H
#define KYRO_UNIT_H

#include <stdio.h>

extern int	unit_failures;		/* failed checks in the running test */

/* Record a failed check (at most a few lines of detail per test). */
#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
		{ \
			if (unit_failures++ < 5) \
			{ \
				fprintf(stderr, "  %s:%d: check failed: %s: ", \
						__FILE__, __LINE__, #cond); \
				fprintf(stderr, __VA_ARGS__); \
				fputc('\n', stderr); \
			} \
		} \
	} while (0)

typedef void (*UnitTestFn) (void);

/* Run fn as the test called name; returns 1 if it passed. */
extern int	unit_run(const char *name, UnitTestFn fn);

/*
 * The groups of tests, one per file, run in this order by unit.c; big is 0
 * under --quick, which leaves out the slow datasets.
 */
extern void rmi_tests(int big);		/* test_rmi.c: the model */
extern void search_tests(int big);	/* test_search.c: the checked search */
extern void page_tests(int big);	/* test_page.c: the page codec */
extern void sort_tests(int big);	/* test_sort.c: the radix sort */
extern void area_tests(int big);	/* test_area.c: the insert area */

#endif							/* KYRO_UNIT_H */
