/*
 * unit.c
 *	  The runner of the unit tests of src/rmi.  It speaks TAP: one
 *	  "ok N - name" or "not ok N - name" line per test, numbered across
 *	  every group, then the plan, "1..N", which test/run's TAP harness
 *	  counts by, and a summary comment for a reader.
 *
 *	  test_rmi [--quick]
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "unit.h"

int			unit_failures;
static int	tests_run;
static int	tests_failed;

/* Run one test and print its line. */
int
unit_run(const char *name, UnitTestFn fn)
{
	clock_t		start = clock();

	unit_failures = 0;
	fn();
	tests_run++;
	if (unit_failures > 0)
		tests_failed++;
	printf("%s %d - %s (%.2fs)\n", unit_failures ? "not ok" : "ok", tests_run,
		   name, (double) (clock() - start) / CLOCKS_PER_SEC);
	fflush(stdout);
	return unit_failures == 0;
}

/* Runs every group of tests; exits nonzero if any test failed. */
int
main(int argc, char **argv)
{
	int			big = !(argc > 1 && strcmp(argv[1], "--quick") == 0);

	rmi_tests(big);
	search_tests(big);
	page_tests(big);
	sort_tests(big);
	area_tests(big);

	printf("1..%d\n", tests_run);
	printf("# unit: %d passed, %d failed\n", tests_run - tests_failed, tests_failed);
	return tests_failed ? 1 : 0;
}
