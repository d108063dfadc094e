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
 * The search itself is rmi_search_window (rmi_search.h), shared with the
 * page codec and the access method; here it gets a plain array's order.
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

/* A probe into a plain array of keys, for the array's before(). */
typedef struct ArrayProbe
{
	const uint64_t *keys;
	uint64_t	probe;
} ArrayProbe;

/* 1 if the key at pos is below the probe: the lower bound's order. */
static int
array_before(const void *ctx, uint64_t pos)
{
	const ArrayProbe *a = (const ArrayProbe *) ctx;

	return a->keys[pos] < a->probe;
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
	/*
	 * A model speaks of the positions it was trained on: a model carried
	 * over to a longer array still names the same windows for its keys,
	 * and a key past them is found by the search's gallop.
	 */
	if (model->n_keys > 0 && model->n_keys < n)
		n = model->n_keys;
	leaf = &model->leaves[rmi_route(model, probe)];
	pred = rmi_leaf_predict(leaf, probe, n);
	*lo = pred > leaf->err_lo ? pred - leaf->err_lo : 0;
	*hi = n - 1 - pred > leaf->err_hi ? pred + leaf->err_hi : n - 1;
}

/* The first position for which before() is 0, guided by the model. */
uint64_t
rmi_search(const RmiModel *model, uint64_t n, uint64_t probe_key,
		   RmiBeforeFn before, const void *ctx, int *mispredicted)
{
	uint64_t	lo;
	uint64_t	hi;

	rmi_window(model, n, probe_key, &lo, &hi);
	return rmi_search_window(n, lo, hi, before, ctx, mispredicted);
}

/* The first position whose key is >= probe, guided by the model. */
uint64_t
rmi_lookup(const RmiModel *model, const uint64_t *keys, uint64_t n,
		   uint64_t probe)
{
	ArrayProbe	a;
	uint64_t	lo;
	uint64_t	hi;

	if (n == 0)
		return 0;
	a.keys = keys;
	a.probe = probe;
	rmi_window(model, n, probe, &lo, &hi);
	prefetch_window(keys, lo, hi);
	return rmi_search_window(n, lo, hi, array_before, &a, NULL);
}

/* Plain branchless binary search over the whole array. */
uint64_t
rmi_binary_search(const uint64_t *keys, uint64_t n, uint64_t probe)
{
	ArrayProbe	a;

	a.keys = keys;
	a.probe = probe;
	return rmi_search_bisect(0, n, array_before, &a);
}
