/*
 * micro_rmi.c
 *	  Micro-benchmark of the model: nanoseconds per lookup of the RMI and of
 *	  a branchless binary search over the same sorted keys, beside the
 *	  latency of one random memory access over an array of the same size
 *	  (pointer chasing: the physical floor of a lookup that misses cache).
 *
 * Lookups are random present keys in random order, run back to back; each
 * answer is checked against the binary search's outside the timed loops.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "keygen.h"
#include "rmi.h"

#define HUGE_PAGE (2u << 20)
#define TIMING_RUNS 3			/* each time is the best of this many runs */

/* Monotonic time in nanoseconds. */
static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A large array backed by transparent huge pages where the kernel allows. */
static void *
alloc_big(size_t bytes)
{
	void	   *p = NULL;

	bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);
	memset(p, 0, bytes);
	return p;
}

/* ns per step of a chase through one random cycle over n slots. */
static double
chase_ns(uint64_t n, uint64_t steps, uint64_t seed)
{
	uint64_t   *next = alloc_big(n * sizeof(uint64_t));
	uint64_t	state = seed;
	uint64_t	at = 0;
	double		start;
	double		ns;

	if (next == NULL)
		return -1.0;
	/* Sattolo's shuffle: one cycle through every slot */
	for (uint64_t i = 0; i < n; i++)
		next[i] = i;
	for (uint64_t i = n - 1; i > 0; i--)
	{
		uint64_t	j = keygen_random(&state) % i;
		uint64_t	t = next[i];

		next[i] = next[j];
		next[j] = t;
	}
	for (uint64_t i = 0; i < steps / 10; i++)
		at = next[at];
	start = now_ns();
	for (uint64_t i = 0; i < steps; i++)
		at = next[at];
	ns = (now_ns() - start) / (double) steps;
	if (at == UINT64_MAX)
		puts("");				/* keeps the chase from being optimised out */
	free(next);
	return ns;
}

/* One CSV row for a distribution and size. */
static int
run_case(KeyDist dist, uint64_t n, uint64_t queries, FILE *csv)
{
	uint64_t   *keys = alloc_big(n * sizeof(uint64_t));
	uint64_t   *probes = malloc(queries * sizeof(uint64_t));
	uint64_t	state = 2024 + n + dist;
	RmiModel	model;
	RmiStatus	status;
	double		t0;
	double		build_ms;
	double		rmi_ns;
	double		bin_ns;
	double		dram;
	uint64_t	sum_rmi = 0;
	uint64_t	sum_bin = 0;
	char		row[256];

	if (keys == NULL || probes == NULL || keygen_fill(dist, keys, n, n + dist) != 0)
	{
		fprintf(stderr, "out of memory at n=%llu\n", (unsigned long long) n);
		return 1;
	}
	t0 = now_ns();
	status = rmi_build(keys, n, NULL, &model);
	build_ms = (now_ns() - t0) / 1e6;
	if (status != RMI_OK)
	{
		fprintf(stderr, "build failed: %s\n", rmi_status_message(status));
		return 1;
	}
	for (uint64_t i = 0; i < queries; i++)
		probes[i] = keys[keygen_random(&state) % n];

	/*
	 * Warm both paths, then time each over the same probes, best of
	 * TIMING_RUNS: the least disturbed run of a shared machine.
	 */
	for (uint64_t i = 0; i < queries / 10; i++)
		sum_rmi += rmi_lookup(&model, keys, n, probes[i]) +
			rmi_binary_search(keys, n, probes[i]);
	rmi_ns = bin_ns = 1e300;
	for (int run = 0; run < TIMING_RUNS; run++)
	{
		double		ns;

		sum_rmi = 0;
		t0 = now_ns();
		for (uint64_t i = 0; i < queries; i++)
			sum_rmi += rmi_lookup(&model, keys, n, probes[i]);
		ns = (now_ns() - t0) / (double) queries;
		rmi_ns = ns < rmi_ns ? ns : rmi_ns;
		sum_bin = 0;
		t0 = now_ns();
		for (uint64_t i = 0; i < queries; i++)
			sum_bin += rmi_binary_search(keys, n, probes[i]);
		ns = (now_ns() - t0) / (double) queries;
		bin_ns = ns < bin_ns ? ns : bin_ns;
	}
	if (sum_rmi != sum_bin)
	{
		fprintf(stderr, "%s n=%llu: model and binary search disagree\n",
				keygen_name(dist), (unsigned long long) n);
		return 1;
	}
	for (uint64_t i = 0; i < queries; i += 97)
		if (rmi_lookup(&model, keys, n, probes[i]) !=
			rmi_binary_search(keys, n, probes[i]))
		{
			fprintf(stderr, "wrong answer for probe %llu\n",
					(unsigned long long) probes[i]);
			return 1;
		}
	dram = chase_ns(n, queries, n ^ dist);
	for (int run = 1; run < TIMING_RUNS; run++)
	{
		double		ns = chase_ns(n, queries, (n ^ dist) + run);

		dram = ns < dram ? ns : dram;
	}

	snprintf(row, sizeof(row), "%s,%llu,%.1f,%.1f,%.1f,%llu,%u,%.2f,%.1f\n",
			 keygen_name(dist), (unsigned long long) n, rmi_ns, bin_ns, dram,
			 (unsigned long long) rmi_serialized_size(&model), model.max_error,
			 model.mean_error, build_ms);
	fputs(row, stdout);
	fflush(stdout);
	if (csv)
	{
		fputs(row, csv);
		fflush(csv);
	}
	rmi_free(&model);
	free(probes);
	free(keys);
	return 0;
}

/* micro_rmi [csv-path] [n ...] */
int
main(int argc, char **argv)
{
	FILE	   *csv = NULL;
	uint64_t	sizes[8] = {1000000, 10000000, 100000000};
	int			n_sizes = 3;
	const char *header =
		"dist,n,rmi_ns,binsearch_ns,dram_ns,model_bytes,max_err,mean_err,build_ms\n";

	if (argc > 1 && strcmp(argv[1], "-") != 0)
	{
		csv = fopen(argv[1], "w");
		if (csv == NULL)
		{
			perror(argv[1]);
			return 1;
		}
		fputs(header, csv);
	}
	if (argc > 2)
	{
		n_sizes = 0;
		for (int i = 2; i < argc && n_sizes < 8; i++)
			sizes[n_sizes++] = strtoull(argv[i], NULL, 10);
	}
	fputs(header, stdout);
	for (int s = 0; s < n_sizes; s++)
		for (KeyDist d = 0; d < DIST_COUNT; d++)
			if (run_case(d, sizes[s], 2000000, csv) != 0)
				return 1;
	if (csv)
		fclose(csv);
	return 0;
}
