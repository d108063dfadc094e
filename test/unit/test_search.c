/*
 * test_search.c
 *	  Unit tests of the checked window search (rmi_search.h): answers for
 *	  any window, right or wrong, against a plain reference; whether it
 *	  says it galloped; and that a miss costs O(log distance) reads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keygen.h"
#include "rmi.h"
#include "unit.h"

#define RANDOM_TRIALS		20000
#define RANDOM_MAX_N		2000
#define FAR_N				1000000
#define MODEL_N				100000
#define MODEL_PROBES		20000

/* A sorted array under search: the probe, the order, and a count of reads. */
typedef struct ArraySearch
{
	const uint64_t *keys;
	uint64_t	n;
	uint64_t	probe;
	int			strict;			/* 1: before means <= probe */
	uint64_t	reads;
	int			out_of_range;	/* a read at or past n */
} ArraySearch;

/* The order of an ArraySearch; counts reads and catches any past the end. */
static int
array_before(const void *ctx, uint64_t pos)
{
	ArraySearch *s = (ArraySearch *) ctx;

	s->reads++;
	if (pos >= s->n)
	{
		s->out_of_range = 1;
		return 0;
	}
	return s->strict ? s->keys[pos] <= s->probe : s->keys[pos] < s->probe;
}

/* The reference: the first position not before the probe, by linear scan. */
static uint64_t
reference(const ArraySearch *s)
{
	uint64_t	i = 0;

	while (i < s->n && (s->strict ? s->keys[i] <= s->probe :
						s->keys[i] < s->probe))
		i++;
	return i;
}

/* ceil(log2(x)) for x >= 1. */
static uint64_t
log2_ceil(uint64_t x)
{
	uint64_t	b = 0;

	while ((UINT64_C(1) << b) < x && b < 63)
		b++;
	return b;
}

/*
 * Search one window and compare with the reference: the answer, the
 * mispredicted flag (set exactly when the answer is outside the clamped
 * [lo, hi + 1]), and the reads: a bisection of the window, one check, and
 * a gallop and bisection of about 2 log2 of the distance.
 */
static void
check_window(ArraySearch *s, uint64_t lo, uint64_t hi)
{
	uint64_t	want = reference(s);
	uint64_t	clo = lo;
	uint64_t	chi = hi;
	uint64_t	got;
	uint64_t	dist = 0;
	uint64_t	limit;
	int			mis = -1;

	s->reads = 0;
	s->out_of_range = 0;
	got = rmi_search_window(s->n, lo, hi, array_before, s, &mis);
	CHECK(got == want, "n=%llu window [%llu, %llu] probe %llu strict %d: "
		  "got %llu, want %llu", (unsigned long long) s->n,
		  (unsigned long long) lo, (unsigned long long) hi,
		  (unsigned long long) s->probe, s->strict, (unsigned long long) got,
		  (unsigned long long) want);
	CHECK(!s->out_of_range, "read past n=%llu", (unsigned long long) s->n);
	if (s->n == 0)
	{
		CHECK(mis == 0 && s->reads == 0, "n=0 read or mispredicted");
		return;
	}
	if (chi > s->n - 1)
		chi = s->n - 1;
	if (clo > chi)
		clo = chi;
	if (want < clo)
		dist = clo - want;
	else if (want > chi + 1)
		dist = want - chi - 1;
	CHECK(mis == (dist > 0), "mispredicted %d for answer %llu, window "
		  "[%llu, %llu]", mis, (unsigned long long) want,
		  (unsigned long long) clo, (unsigned long long) chi);
	limit = log2_ceil(chi - clo + 2) + 2 + 2 * (log2_ceil(dist + 1) + 1);
	CHECK(s->reads <= limit, "%llu reads for distance %llu, window %llu "
		  "wide (limit %llu)", (unsigned long long) s->reads,
		  (unsigned long long) dist, (unsigned long long) (chi - clo + 1),
		  (unsigned long long) limit);
}

/* A window bound: mostly inside the array, sometimes far outside it. */
static uint64_t
random_bound(uint64_t *state, uint64_t n)
{
	uint64_t	r = keygen_random(state);

	switch (r % 8)
	{
		case 0:
			return UINT64_MAX - r % 3;
		case 1:
			return n + r % 4;
		default:
			return (r >> 8) % (n + 1);
	}
}

/* Random arrays with duplicates, random windows, both orders. */
static void
test_random_windows(void)
{
	uint64_t   *keys = malloc(RANDOM_MAX_N * sizeof(uint64_t));
	uint64_t	state = 7;
	ArraySearch s;

	if (keys == NULL)
	{
		CHECK(0, "out of memory");
		return;
	}
	for (int t = 0; t < RANDOM_TRIALS; t++)
	{
		uint64_t	r = keygen_random(&state);
		uint64_t	n = t < 30 ? (uint64_t) t % 4 : r % RANDOM_MAX_N;
		uint64_t	range = 1 + (r >> 16) % 3000;
		uint64_t	k = 0;

		for (uint64_t i = 0; i < n; i++)
		{
			k += keygen_random(&state) % range < range / 2 ? 0 :
				keygen_random(&state) % 5;
			keys[i] = k;
		}
		s.keys = keys;
		s.n = n;
		s.probe = keygen_random(&state) % (k + 3);
		if (n > 0 && r % 3 == 0)
			s.probe = keys[keygen_random(&state) % n];
		s.strict = (int) ((r >> 40) & 1);
		check_window(&s, random_bound(&state, n), random_bound(&state, n));
	}
	free(keys);
}

/* Windows at the wrong end of a large array: a gallop, never a scan. */
static void
test_far_misses(void)
{
	uint64_t   *keys = malloc(FAR_N * sizeof(uint64_t));
	ArraySearch s;
	const uint64_t probes[] = {0, 1, 2, 1000, FAR_N / 2, FAR_N - 2,
	FAR_N - 1, FAR_N, UINT64_MAX};

	if (keys == NULL)
	{
		CHECK(0, "out of memory");
		return;
	}
	for (uint64_t i = 0; i < FAR_N; i++)
		keys[i] = i;
	s.keys = keys;
	s.n = FAR_N;
	for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); p++)
		for (int strict = 0; strict <= 1; strict++)
		{
			s.probe = probes[p];
			s.strict = strict;
			check_window(&s, 0, 0);
			check_window(&s, FAR_N - 1, FAR_N - 1);
			check_window(&s, FAR_N / 2, FAR_N / 2 + 10);
			check_window(&s, 5, 3);
		}
	free(keys);
}

/* rmi_search over a model's window gives rmi_lookup's answer. */
static void
test_model_search(void)
{
	for (KeyDist d = 0; d < DIST_COUNT; d++)
	{
		uint64_t   *keys = malloc(MODEL_N * sizeof(uint64_t));
		uint64_t	state = 99 + d;
		RmiModel	model;
		ArraySearch s;

		if (keys == NULL || keygen_fill(d, keys, MODEL_N, 42 + d) != 0 ||
			rmi_build(keys, MODEL_N, NULL, &model) != RMI_OK)
		{
			CHECK(0, "setup failed for %s", keygen_name(d));
			free(keys);
			continue;
		}
		s.keys = keys;
		s.n = MODEL_N;
		s.strict = 0;
		for (int i = 0; i < MODEL_PROBES; i++)
		{
			uint64_t	at = keygen_random(&state) % MODEL_N;
			int			present = i % 2 == 0;
			int			mis = -1;
			uint64_t	got;

			s.probe = present ? keys[at] : keygen_random(&state);
			s.out_of_range = 0;
			got = rmi_search(&model, MODEL_N, s.probe, array_before, &s, &mis);
			CHECK(got == rmi_lookup(&model, keys, MODEL_N, s.probe),
				  "%s probe %llu: rmi_search %llu", keygen_name(d),
				  (unsigned long long) s.probe, (unsigned long long) got);
			CHECK(!s.out_of_range, "read past the end");
			/* the model's bounds hold for every key it was trained on */
			CHECK(!present || mis == 0, "%s: present key %llu mispredicted",
				  keygen_name(d), (unsigned long long) s.probe);
		}
		s.probe = keys[MODEL_N / 3];
		CHECK(rmi_search(NULL, MODEL_N, s.probe, array_before, &s, NULL) ==
			  rmi_lookup(NULL, keys, MODEL_N, s.probe), "NULL model");
		CHECK(rmi_search(&model, 0, s.probe, array_before, &s, NULL) == 0,
			  "n = 0");
		rmi_free(&model);
		free(keys);
	}
}

/* The checked search's tests. */
void
search_tests(int big)
{
	(void) big;
	unit_run("search window: random windows against a reference",
			 test_random_windows);
	unit_run("search window: far misses gallop in O(log distance)",
			 test_far_misses);
	unit_run("rmi_search agrees with rmi_lookup", test_model_search);
}
