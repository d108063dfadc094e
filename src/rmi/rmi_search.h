/*
 * rmi_search.h
 *	  The one checked window search that every search in the project uses.
 *
 * A model names a window of positions where it expects the answer.  The
 * search bisects inside the window, then checks the answer against the
 * neighbour just outside it: if the model was wrong (stale, damaged, or a
 * probe past a run of duplicates), it gallops outward from the window's
 * edge in doubling steps and bisects the last step, so a bad window costs
 * O(log distance) reads, never a linear scan and never a wrong answer.
 *
 * The order is given by a callback, so the same code serves a plain array
 * of keys, a packed page and the access method's snapshot.  The function
 * is static inline: where the callback is a static function the compiler
 * specialises the search for it and inlines the comparison.
 *
 * Pure C99 with no PostgreSQL headers.
 */
#ifndef KYRO_RMI_SEARCH_H
#define KYRO_RMI_SEARCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * 1 if the element at pos sorts before the probe: strictly before for a
 * lower bound, before or equal for a strict (upper) bound; the callback
 * decides.  The elements must be ordered so that before() is 1 on a prefix
 * of the positions and 0 on the rest.
 */
typedef int (*RmiBeforeFn) (const void *ctx, uint64_t pos);

/* Gallop steps stop doubling here, so a step never overflows. */
#define RMI_SEARCH_MAX_STEP		(UINT64_C(1) << 62)

/*
 * The first position in [lo, lo + len) for which before() is 0, or
 * lo + len.  Branch-free when before() is: the loop runs ceil(log2(len))
 * times whatever the elements are.
 */
static inline uint64_t
rmi_search_bisect(uint64_t lo, uint64_t len, RmiBeforeFn before,
				  const void *ctx)
{
	uint64_t	half;

	if (len == 0)
		return lo;
	while (len > 1)
	{
		half = len / 2;
		lo += before(ctx, lo + half) ? half : 0;
		len -= half;
	}
	return lo + (before(ctx, lo) ? 1 : 0);
}

/*
 * The first position in [0, n) for which before() is 0 (n if none), given
 * the window [lo, hi] a model predicted for it.  The window is clamped
 * into [0, n - 1] first, so any lo and hi are safe.  *mispredicted, if
 * given, is set to 1 when the answer lay outside [lo, hi + 1] and the
 * search had to gallop, else to 0.
 */
static inline uint64_t
rmi_search_window(uint64_t n, uint64_t lo, uint64_t hi, RmiBeforeFn before,
				  const void *ctx, int *mispredicted)
{
	uint64_t	found;
	uint64_t	known;
	uint64_t	step;
	uint64_t	edge;

	if (mispredicted)
		*mispredicted = 0;
	if (n == 0)
		return 0;
	if (hi > n - 1)
		hi = n - 1;
	if (lo > hi)
		lo = hi;

	found = rmi_search_bisect(lo, hi - lo + 1, before, ctx);

	if (found == lo && lo > 0 && !before(ctx, lo - 1))
	{
		/* The answer is left of the window: gallop left from known. */
		if (mispredicted)
			*mispredicted = 1;
		known = lo - 1;			/* not before the probe */
		step = 1;
		while (step <= known && !before(ctx, known - step))
		{
			known -= step;
			step = step < RMI_SEARCH_MAX_STEP ? step * 2 : step;
		}
		/* known - step (if it exists) is before the probe */
		edge = step > known ? 0 : known - step + 1;
		return rmi_search_bisect(edge, known - edge, before, ctx);
	}
	if (found == hi + 1 && found < n && before(ctx, found))
	{
		/* The answer is right of the window: gallop right from known. */
		if (mispredicted)
			*mispredicted = 1;
		known = found;			/* before the probe */
		step = 1;
		while (step < n - known && before(ctx, known + step))
		{
			known += step;
			step = step < RMI_SEARCH_MAX_STEP ? step * 2 : step;
		}
		/* known + step (if below n) is not before the probe */
		edge = step < n - known ? known + step : n;
		return rmi_search_bisect(known + 1, edge - known - 1, before, ctx);
	}
	return found;
}

#endif							/* KYRO_RMI_SEARCH_H */
