/*
 * test_sort.c
 *	  Unit tests of the radix sort of (key, tid) pairs: its result is
 *	  compared with qsort's for inputs of every shape and size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygen.h"
#include "rmi_sort.h"
#include "unit.h"

#define BIG_SORT			1000000
#define ROWS_PER_BLOCK		185

/* Shapes of sort input. */
typedef enum SortShape
{
	SORT_RANDOM,				/* uniform keys and tids */
	SORT_DENSE,					/* ids with their tids, shuffled */
	SORT_DUPLICATES,			/* a few hundred keys, many tids each */
	SORT_EQUAL,					/* one key */
	SORT_SORTED,				/* already in order */
	SORT_REVERSED,				/* in descending order */
	SORT_NEARLY,				/* in order but for one pair swapped */
	SORT_EXTREMES,				/* 0 and all-ones in keys and tids */
	SORT_COUNT
} SortShape;

static const char *const sort_names[SORT_COUNT] = {
	"random", "dense", "duplicates", "equal", "sorted", "reversed", "nearly",
	"extremes"
};

/* qsort order of pairs. */
static int
pair_cmp(const void *a, const void *b)
{
	const RmiPair *x = (const RmiPair *) a;
	const RmiPair *y = (const RmiPair *) b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return 0;
}

/* Fill a[0..n) with pairs of shape. */
static void
make_pairs(SortShape shape, RmiPair *a, uint64_t n, uint64_t seed)
{
	uint64_t	state = seed;

	for (uint64_t i = 0; i < n; i++)
	{
		uint64_t	r = keygen_random(&state);

		switch (shape)
		{
			case SORT_RANDOM:
				a[i].key = r;
				a[i].tid = keygen_random(&state) >> 16;
				break;
			case SORT_DENSE:
			case SORT_SORTED:
			case SORT_REVERSED:
			case SORT_NEARLY:
				a[i].key = i + 1;
				a[i].tid = (i / ROWS_PER_BLOCK) << 16 | (i % ROWS_PER_BLOCK + 1);
				break;
			case SORT_DUPLICATES:
				a[i].key = r % 300;
				a[i].tid = (r >> 20) % 5000;
				break;
			case SORT_EQUAL:
				a[i].key = 42;
				a[i].tid = r >> 16;
				break;
			case SORT_EXTREMES:
				a[i].key = r % 3 == 0 ? 0 : r % 3 == 1 ? UINT64_MAX : r;
				a[i].tid = (r >> 2) % 3 == 0 ? 0 : UINT64_MAX - (r >> 60);
				break;
			default:
				break;
		}
	}
	if (shape == SORT_REVERSED)
		for (uint64_t i = 0; i < n / 2; i++)
		{
			RmiPair		t = a[i];

			a[i] = a[n - 1 - i];
			a[n - 1 - i] = t;
		}
	if (shape == SORT_NEARLY && n > 1)
	{
		uint64_t	i = keygen_random(&state) % n;
		uint64_t	j = keygen_random(&state) % n;
		RmiPair		t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
	if (shape == SORT_DENSE)
		for (uint64_t i = n; i > 1; i--)
		{
			uint64_t	j = keygen_random(&state) % i;
			RmiPair		t = a[i - 1];

			a[i - 1] = a[j];
			a[j] = t;
		}
}

/* Sort pairs of shape with both sorts and compare. */
static void
check_sort(SortShape shape, uint64_t n)
{
	RmiPair    *a = malloc((n + 1) * sizeof(RmiPair));
	RmiPair    *b = malloc((n + 1) * sizeof(RmiPair));
	RmiPair    *tmp = malloc((n + 1) * sizeof(RmiPair));

	if (a == NULL || b == NULL || tmp == NULL)
	{
		CHECK(0, "out of memory");
		free(a);
		free(b);
		free(tmp);
		return;
	}
	make_pairs(shape, a, n, n * 31 + shape);
	memcpy(b, a, n * sizeof(RmiPair));
	memset(tmp, 0x5A, n * sizeof(RmiPair));
	rmi_sort_pairs(a, n, tmp);
	qsort(b, n, sizeof(RmiPair), pair_cmp);
	CHECK(memcmp(a, b, n * sizeof(RmiPair)) == 0, "%s n=%llu: differs from qsort",
		  sort_names[shape], (unsigned long long) n);
	free(a);
	free(b);
	free(tmp);
}

/* Every shape at small, boundary and large sizes. */
static void
test_sort_shapes(void)
{
	const uint64_t sizes[] = {0, 1, 2, 3, 10, 63, 64, 65, 255, 256, 257, 1000,
	65536, 100001};

	for (SortShape s = 0; s < SORT_COUNT; s++)
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++)
			check_sort(s, sizes[z]);
}

/* A million pairs of the shapes a build sorts most. */
static void
test_sort_big(void)
{
	check_sort(SORT_DENSE, BIG_SORT);
	check_sort(SORT_RANDOM, BIG_SORT);
	check_sort(SORT_DUPLICATES, BIG_SORT);
}

/* The radix sort's tests; a million pairs only if big. */
void
sort_tests(int big)
{
	unit_run("sort: every shape against qsort", test_sort_shapes);
	if (big)
		unit_run("sort: a million pairs against qsort", test_sort_big);
}
