/*
 * rmi_sort.c
 *	  LSD radix sort of (key, tid) pairs, one byte per pass.
 *
 * The pairs are sorted as 128-bit numbers, key high, by stable counting
 * passes from the least significant byte up: the tid's bytes, then the
 * key's.  A first read finds which bits differ at all between the pairs
 * (and whether they are already in order, as a heap scan of ids in
 * insertion order often is); one more read counts every byte that
 * differs; then one pass per such byte moves the pairs.  Bytes every pair
 * shares, typically the high bytes of keys and blocks, cost nothing.
 */
#include <string.h>

#include "rmi_sort.h"

#define DIGIT_BITS		8
#define DIGIT_VALUES	(1 << DIGIT_BITS)
#define DIGIT_MASK		(DIGIT_VALUES - 1)
#define WORD_DIGITS		(64 / DIGIT_BITS)
#define MAX_DIGITS		(2 * WORD_DIGITS)	/* tid bytes, then key bytes */

/* Below this many pairs insertion sort beats the passes' fixed costs. */
#define SMALL_SORT		64

/* One byte to sort by: which word of the pair, and where in it. */
typedef struct Digit
{
	int			of_key;			/* 1: the key's byte, 0: the tid's */
	uint32_t	shift;
} Digit;

/* 1 if a sorts before b by (key, tid). */
static inline int
pair_less(const RmiPair *a, const RmiPair *b)
{
	return a->key < b->key || (a->key == b->key && a->tid < b->tid);
}

/* Sort a few pairs in place. */
static void
insertion_sort(RmiPair *a, uint64_t n)
{
	uint64_t	i;

	for (i = 1; i < n; i++)
	{
		RmiPair		x = a[i];
		uint64_t	j = i;

		while (j > 0 && pair_less(&x, &a[j - 1]))
		{
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

/*
 * Move src[0..n) into dst, stably ordered by one byte, given that byte's
 * histogram.  Two loops rather than one with a test, so each is tight.
 */
static void
scatter(const RmiPair *src, RmiPair *dst, uint64_t n, Digit digit,
		const uint64_t *hist)
{
	uint64_t	next[DIGIT_VALUES];
	uint64_t	sum = 0;
	uint64_t	i;
	int			v;

	for (v = 0; v < DIGIT_VALUES; v++)
	{
		next[v] = sum;
		sum += hist[v];
	}
	if (digit.of_key)
		for (i = 0; i < n; i++)
			dst[next[(src[i].key >> digit.shift) & DIGIT_MASK]++] = src[i];
	else
		for (i = 0; i < n; i++)
			dst[next[(src[i].tid >> digit.shift) & DIGIT_MASK]++] = src[i];
}

/* Sort a[0..n) by (key, tid); see rmi_sort.h. */
void
rmi_sort_pairs(RmiPair *a, uint64_t n, RmiPair *tmp)
{
	uint64_t	hist[MAX_DIGITS][DIGIT_VALUES];
	Digit		digits[MAX_DIGITS];
	int			ndigits = 0;
	uint64_t	key_diff = 0;
	uint64_t	tid_diff = 0;
	uint64_t	descents = 0;
	RmiPair    *src = a;
	RmiPair    *dst = tmp;
	uint64_t	i;
	int			d;

	if (n < SMALL_SORT)
	{
		insertion_sort(a, n);
		return;
	}

	/* Which bits differ anywhere, and is there anything to do? */
	for (i = 1; i < n; i++)
	{
		key_diff |= a[i].key ^ a[0].key;
		tid_diff |= a[i].tid ^ a[0].tid;
		descents += pair_less(&a[i], &a[i - 1]);
	}
	if (descents == 0)
		return;

	/* The bytes that differ, least significant first. */
	for (d = 0; d < WORD_DIGITS; d++)
		if ((tid_diff >> (d * DIGIT_BITS)) & DIGIT_MASK)
		{
			digits[ndigits].of_key = 0;
			digits[ndigits++].shift = (uint32_t) (d * DIGIT_BITS);
		}
	for (d = 0; d < WORD_DIGITS; d++)
		if ((key_diff >> (d * DIGIT_BITS)) & DIGIT_MASK)
		{
			digits[ndigits].of_key = 1;
			digits[ndigits++].shift = (uint32_t) (d * DIGIT_BITS);
		}

	/* All their histograms in one read. */
	memset(hist, 0, sizeof(hist[0]) * ndigits);
	for (i = 0; i < n; i++)
		for (d = 0; d < ndigits; d++)
		{
			uint64_t	word = digits[d].of_key ? a[i].key : a[i].tid;

			hist[d][(word >> digits[d].shift) & DIGIT_MASK]++;
		}

	for (d = 0; d < ndigits; d++)
	{
		RmiPair    *swap;

		scatter(src, dst, n, digits[d], hist[d]);
		swap = src;
		src = dst;
		dst = swap;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(RmiPair));
}
