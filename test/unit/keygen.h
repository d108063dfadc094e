/*
 * keygen.h
 *	  Sorted key arrays of the distributions the model is tested and
 *	  measured on; shared by the unit tests and bench/micro.
 */
#ifndef KYRO_KEYGEN_H
#define KYRO_KEYGEN_H

#include <stdint.h>

typedef enum KeyDist
{
	DIST_DENSE,					/* consecutive integers */
	DIST_SPARSE,				/* uniform over all 64-bit values */
	DIST_NORMAL,
	DIST_LOGNORMAL,
	DIST_CLUSTERED,				/* dense runs around random centres */
	DIST_DUPLICATES,			/* about 100 copies of each key */
	DIST_EXTREMES,				/* near 0 and near UINT64_MAX, both ends included */
	DIST_COUNT
} KeyDist;

extern const char *keygen_name(KeyDist dist);

/* A uniform 64-bit value; advances *state (splitmix64). */
extern uint64_t keygen_random(uint64_t *state);

/* Fill keys[0..n) with keys of dist from seed, sorted ascending. */
extern int	keygen_fill(KeyDist dist, uint64_t *keys, uint64_t n, uint64_t seed);

/* Sort keys[0..n) ascending (LSD radix sort); 0 on success. */
extern int	keygen_sort(uint64_t *keys, uint64_t n);

#endif							/* KYRO_KEYGEN_H */
