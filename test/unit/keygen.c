/*
 * keygen.c
 *	  Key distributions for the model's tests and micro-benchmark.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keygen.h"

static const char *const dist_names[DIST_COUNT] = {
	"dense", "sparse", "normal", "lognormal", "clustered", "duplicates",
	"extremes"
};

/* The name used in test output and CSV files. */
const char *
keygen_name(KeyDist dist)
{
	return dist < DIST_COUNT ? dist_names[dist] : "unknown";
}

/* splitmix64: small, fast, and good enough to spread keys. */
uint64_t
keygen_random(uint64_t *state)
{
	uint64_t	z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* A uniform double in (0, 1). */
static double
uniform01(uint64_t *state)
{
	return ((double) (keygen_random(state) >> 11) + 0.5) / 9007199254740992.0;
}

/* A standard normal variate (Box-Muller). */
static double
gaussian(uint64_t *state)
{
	double		u = uniform01(state);
	double		v = uniform01(state);

	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* v as a key, clamped into [0, 2^64). */
static uint64_t
clamp_key(double v)
{
	if (!(v > 0.0))
		return 0;
	if (v >= 18446744073709549568.0)
		return UINT64_MAX;
	return (uint64_t) v;
}

/* Fill keys with dist; see keygen.h. */
int
keygen_fill(KeyDist dist, uint64_t *keys, uint64_t n, uint64_t seed)
{
	uint64_t	state = seed * 0x2545F4914F6CDD1DULL + 1;
	uint64_t	distinct = n / 100 > 0 ? n / 100 : 1;

	for (uint64_t i = 0; i < n; i++)
	{
		uint64_t	r = keygen_random(&state);

		switch (dist)
		{
			case DIST_DENSE:
				keys[i] = 1000000 + i;
				break;
			case DIST_SPARSE:
				keys[i] = r;
				break;
			case DIST_NORMAL:
				keys[i] = clamp_key(4611686018427387904.0 +
									gaussian(&state) * 1125899906842624.0);
				break;
			case DIST_LOGNORMAL:
				keys[i] = clamp_key(exp(gaussian(&state) * 2.0) * 1e12);
				break;
			case DIST_CLUSTERED:
				{
					/* 1000 centres; keys within 2^20 of their centre */
					uint64_t	centre_seed = (r % 1000) + 1;
					uint64_t	centre = keygen_random(&centre_seed) >> 1;

					keys[i] = centre + (keygen_random(&state) & 0xFFFFF);
					break;
				}
			case DIST_DUPLICATES:
				{
					uint64_t	value_seed = r % distinct;

					keys[i] = keygen_random(&value_seed) >> 16;
					break;
				}
			case DIST_EXTREMES:
				keys[i] = (r & 1) ? (r >> 1) % (n + 1) :
					UINT64_MAX - (r >> 1) % (n + 1);
				break;
			default:
				return -1;
		}
	}
	if (dist == DIST_EXTREMES && n >= 2)
	{
		keys[0] = 0;
		keys[1] = UINT64_MAX;
	}
	return keygen_sort(keys, n);
}

/* LSD radix sort, 16 bits a pass; see keygen.h. */
int
keygen_sort(uint64_t *keys, uint64_t n)
{
	uint64_t   *tmp;
	uint64_t   *src = keys;
	uint64_t   *dst;
	uint64_t   *count;

	if (n < 2)
		return 0;
	tmp = malloc(n * sizeof(uint64_t));
	count = malloc(65536 * sizeof(uint64_t));
	if (tmp == NULL || count == NULL)
	{
		free(tmp);
		free(count);
		return -1;
	}
	dst = tmp;
	for (int shift = 0; shift < 64; shift += 16)
	{
		uint64_t	sum = 0;
		uint64_t   *swap;

		memset(count, 0, 65536 * sizeof(uint64_t));
		for (uint64_t i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xFFFF]++;
		for (int b = 0; b < 65536; b++)
		{
			uint64_t	c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (uint64_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xFFFF]++] = src[i];
		swap = src;
		src = dst;
		dst = swap;
	}
	/* four passes: the sorted keys are back in the caller's array */
	free(tmp);
	free(count);
	return 0;
}
