/*
 * rmi_lookup.c
 *	  Turning a model's prediction into an exact lower bound.
 *
 * Why a lookup cannot go wrong or run off the array: the window the model
 * names is clamped to [0, n - 1] before any key is read; the answer found in
 * it is checked against the keys on both sides of the window; if the check
 * fails (the model is stale, wrong or garbage) an exponential search from
 * the window's edge finds the answer in O(log distance) reads, each one
 * bounds-checked.  The model's numbers only decide where to start looking.
 */
#include "rmi_internal.h"

/* Windows up to this many cache lines are fetched whole before the search. */
#define PREFETCH_LINES		16
#define KEYS_PER_LINE		8

/*
 * Ask for every cache line of a small window at once, so the search's
 * dependent reads wait for one memory round trip instead of one per step.
 */
static inline void
prefetch_window(const uint64_t *keys, uint64_t lo, uint64_t hi)
{
#if defined(__GNUC__)
	if (hi - lo < PREFETCH_LINES * KEYS_PER_LINE)
		for (uint64_t i = lo; i <= hi + KEYS_PER_LINE - 1; i += KEYS_PER_LINE)
			__builtin_prefetch(&keys[i < hi ? i : hi]);
#else
	(void) keys;
	(void) lo;
	(void) hi;
#endif
}

/*
 * First index in [lo, lo + len) whose key is >= probe, or lo + len.
 * Branchless: the loop runs ceil(log2(len)) times whatever the keys are.
 */
static inline uint64_t
lower_bound_in(const uint64_t *keys, uint64_t lo, uint64_t len, uint64_t probe)
{
	const uint64_t *base = keys + lo;

	if (len == 0)
		return lo;
	while (len > 1)
	{
		uint64_t	half = len / 2;

		base += (base[half] < probe) * half;
		len -= half;
	}
	return (uint64_t) (base - keys) + (*base < probe);
}

/* Answer lies at or left of known, where keys[known] >= probe. */
static uint64_t
search_left(const uint64_t *keys, uint64_t known, uint64_t probe)
{
	uint64_t	step = 1;
	uint64_t	start;

	while (step <= known && keys[known - step] >= probe)
	{
		known -= step;
		step *= 2;
	}
	start = step > known ? 0 : known - step + 1;
	return lower_bound_in(keys, start, known - start, probe);
}

/* Answer lies right of known, where keys[known] < probe. */
static uint64_t
search_right(const uint64_t *keys, uint64_t n, uint64_t known, uint64_t probe)
{
	uint64_t	step = 1;
	uint64_t	end;

	while (step < n - known && keys[known + step] < probe)
	{
		known += step;
		step *= 2;
	}
	end = step < n - known ? known + step : n;
	return lower_bound_in(keys, known + 1, end - known - 1, probe);
}

/* The window of positions the model names for probe; see rmi.h. */
void
rmi_window(const RmiModel *model, uint64_t n, uint64_t probe,
		   uint64_t *lo, uint64_t *hi)
{
	const RmiLeaf *leaf;
	uint64_t	pred;

	if (n == 0 || model == NULL || model->n_leaves == 0 ||
		model->leaves == NULL)
	{
		*lo = 0;
		*hi = n > 0 ? n - 1 : 0;
		return;
	}
	leaf = &model->leaves[rmi_route(model, probe)];
	pred = rmi_leaf_predict(leaf, probe, n);
	*lo = pred > leaf->err_lo ? pred - leaf->err_lo : 0;
	*hi = n - 1 - pred > leaf->err_hi ? pred + leaf->err_hi : n - 1;
}

/* The first position whose key is >= probe, guided by the model. */
uint64_t
rmi_lookup(const RmiModel *model, const uint64_t *keys, uint64_t n,
		   uint64_t probe)
{
	uint64_t	lo;
	uint64_t	hi;
	uint64_t	found;

	if (n == 0)
		return 0;
	rmi_window(model, n, probe, &lo, &hi);
	prefetch_window(keys, lo, hi);
	found = lower_bound_in(keys, lo, hi - lo + 1, probe);
	if (found == lo && lo > 0 && keys[lo - 1] >= probe)
		return search_left(keys, lo - 1, probe);
	if (found > hi && found < n && keys[found] < probe)
		return search_right(keys, n, found, probe);
	return found;
}

/* Plain branchless binary search over the whole array. */
uint64_t
rmi_binary_search(const uint64_t *keys, uint64_t n, uint64_t probe)
{
	return lower_bound_in(keys, 0, n, probe);
}
