/*
 * rmi_build.c
 *	  Training a two-stage RMI on a sorted array of keys.
 *
 * The root sends a key to a leaf; every leaf is a least-squares line from
 * key to position, fitted on the distinct keys it receives (each at its
 * first position, since lookups return lower bounds), with the minimum and
 * maximum error of that line over those keys and over the gap just past its
 * last key.  One build pass is O(n); the leaf count is grown geometrically
 * until the mean error meets the target or the size budget stops it, which
 * keeps the whole build a small constant number of passes over the keys.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rmi_internal.h"

#define ROOT_SAMPLE_KEYS	65536
#define LEAF_GROWTH			8
#define MAX_BUILD_ROUNDS	6
#define MIN_KEYS_PER_LEAF	16
#define MAX_KNOTS			4096	/* 32 KiB of knots: stays in cache */
#define LEAVES_PER_KNOT		4
/* a spline root routes more slowly: it must balance clearly better */
#define SPLINE_ADVANTAGE	0.8

/* Fill opts with the defaults. */
void
rmi_default_options(RmiBuildOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->force_root = -1;
}

/* The model's serialised size for a given leaf count (without knots). */
static uint64_t
bytes_for_leaves(uint64_t n_leaves)
{
	return RMI_HEADER_BYTES + n_leaves * RMI_LEAF_BYTES + RMI_CHECKSUM_BYTES;
}

/* Spline segments for a model of n_leaves leaves. */
static uint32_t
knots_for_leaves(uint64_t n_leaves, const RmiBuildOptions *opts)
{
	uint64_t	k = n_leaves / LEAVES_PER_KNOT;

	if (opts->force_knots > 0)
		k = opts->force_knots;
	if (k > MAX_KNOTS)
		k = MAX_KNOTS;
	return (uint32_t) (k > 0 ? k : 1);
}

/*
 * The spline root's knots: knots[i] is the key at position i * n / k, so
 * every segment holds the same number of keys and interpolation inside a
 * segment follows the keys' distribution however skewed it is.
 */
static void
fit_knots(uint64_t *knots, uint32_t k, const uint64_t *keys, uint64_t n)
{
	for (uint32_t i = 0; i < k; i++)
		knots[i] = keys[(uint64_t) ((double) i * (double) n / (double) k)];
	knots[k] = keys[n - 1];
}

/* Set the root of model up as kind over keys, for model->n_leaves leaves. */
static void
fit_root(RmiModel *model, int kind, const uint64_t *keys, uint64_t n)
{
	uint64_t	range = keys[n - 1] - keys[0];
	uint64_t	step = n > ROOT_SAMPLE_KEYS ? n / ROOT_SAMPLE_KEYS : 1;
	double		sxy = 0.0;
	double		sxx = 0.0;
	uint32_t	shift = 0;

	model->root_kind = (uint32_t) kind;
	model->min_key = keys[0];
	model->root_slope = 0.0;
	model->radix_shift = 0;

	if (kind == RMI_ROOT_SPLINE)
	{
		model->root_slope = (double) model->n_leaves / (double) model->n_knots;
		return;
	}
	if (kind == RMI_ROOT_RADIX)
	{
		while (shift < 63 && (range >> shift) >= model->n_leaves)
			shift++;
		model->radix_shift = shift;
		return;
	}

	/* Least squares through the origin, from offset to fractional leaf. */
	for (uint64_t i = 0; i < n; i += step)
	{
		double		x = (double) (keys[i] - keys[0]);
		double		y = (double) i * model->n_leaves / (double) n;

		sxy += x * y;
		sxx += x * x;
	}
	if (sxx > 0.0 && sxy > 0.0 && isfinite(sxy / sxx))
		model->root_slope = sxy / sxx;
}

/*
 * How unevenly the root spreads a sample of keys over the leaves: the sum of
 * squared leaf occupancies.  Lower is better (fewer keys share a leaf).
 */
static double
root_imbalance(const RmiModel *model, const uint64_t *keys, uint64_t n,
			   uint32_t *counts)
{
	uint64_t	step = n > ROOT_SAMPLE_KEYS ? n / ROOT_SAMPLE_KEYS : 1;
	double		sum = 0.0;

	memset(counts, 0, sizeof(uint32_t) * model->n_leaves);
	for (uint64_t i = 0; i < n; i += step)
		counts[rmi_route(model, keys[i])]++;
	for (uint32_t j = 0; j < model->n_leaves; j++)
		sum += (double) counts[j] * counts[j];
	return sum;
}

/* The position after the run of keys equal to keys[i], at most end. */
static inline uint64_t
next_distinct(const uint64_t *keys, uint64_t i, uint64_t end)
{
	uint64_t	next = i + 1;

	while (next < end && keys[next] == keys[i])
		next++;
	return next;
}

/*
 * Fit one leaf on keys[start, end), all routed to it.  Returns the sum of
 * |error| over its distinct keys and adds their number to *distinct.
 */
static double
fit_leaf(RmiLeaf *leaf, const uint64_t *keys, uint64_t n,
		 uint64_t start, uint64_t end, uint64_t *distinct)
{
	double		mean_x = 0.0;
	double		mean_y = 0.0;
	double		co = 0.0;
	double		var = 0.0;
	double		count = 0.0;
	double		abs_sum = 0.0;
	int64_t		worst_lo = 0;
	int64_t		worst_hi = 0;

	memset(leaf, 0, sizeof(*leaf));
	if (start == end)
	{
		/* Every key routed here lies in a gap: its answer is start. */
		leaf->intercept = (double) start;
		return 0.0;
	}
	leaf->first_key = keys[start];
	leaf->key_span = keys[end - 1] - keys[start];

	/* Welford's running covariance: stable for keys near 2^64. */
	for (uint64_t i = start; i < end; i = next_distinct(keys, i, end))
	{
		double		x = (double) (keys[i] - keys[start]);
		double		dx;

		count += 1.0;
		dx = x - mean_x;
		mean_x += dx / count;
		mean_y += ((double) i - mean_y) / count;
		co += dx * ((double) i - mean_y);
		var += dx * (x - mean_x);
	}
	if (var > 0.0 && co > 0.0 && isfinite(co / var))
		leaf->slope = co / var;
	leaf->intercept = mean_y - leaf->slope * mean_x;

	/*
	 * The bounds cover the first position of every key routed here, so a
	 * present key is always found inside the window.  An absent key may
	 * land just past the window (by at most the run of duplicates before
	 * it): the lookup's check sends it one short gallop to the right, so
	 * runs of duplicates do not widen every window.
	 */
	for (uint64_t i = start, next; i < end; i = next)
	{
		int64_t		pred;
		int64_t		err;

		next = next_distinct(keys, i, end);
		pred = (int64_t) rmi_leaf_predict(leaf, keys[i], n);
		err = (int64_t) i - pred;
		if (-err > worst_lo)
			worst_lo = -err;
		if (err > worst_hi)
			worst_hi = err;
		abs_sum += (double) (err < 0 ? -err : err);
		(*distinct)++;
	}

	leaf->err_lo = worst_lo > (int64_t) UINT32_MAX ? UINT32_MAX : (uint32_t) worst_lo;
	leaf->err_hi = worst_hi > (int64_t) UINT32_MAX ? UINT32_MAX : (uint32_t) worst_hi;
	return abs_sum;
}

/* Route every key, then fit every leaf; the root must already be set. */
static void
fit_leaves(RmiModel *model, RmiLeaf *leaves, const uint64_t *keys, uint64_t n)
{
	uint64_t	start = 0;
	uint64_t	distinct = 0;
	double		abs_sum = 0.0;
	uint32_t	max_error = 0;

	model->leaves = leaves;
	for (uint32_t j = 0; j < model->n_leaves; j++)
	{
		uint64_t	end = start;

		/* Routing is monotone in the key, so leaf j's keys are one run. */
		if (j == model->n_leaves - 1)
			end = n;
		else
			while (end < n && rmi_route(model, keys[end]) == j)
				end++;
		abs_sum += fit_leaf(&leaves[j], keys, n, start, end, &distinct);
		if (leaves[j].err_lo > max_error)
			max_error = leaves[j].err_lo;
		if (leaves[j].err_hi > max_error)
			max_error = leaves[j].err_hi;
		start = end;
	}
	model->max_error = max_error;
	model->mean_error = distinct > 0 ? abs_sum / (double) distinct : 0.0;
}

/* Train model on keys[0, n); see rmi.h. */
RmiStatus
rmi_build(const uint64_t *keys, uint64_t n, const RmiBuildOptions *opts,
		  RmiModel *model)
{
	RmiBuildOptions defaults;
	uint64_t	budget;
	uint64_t	max_leaves;
	uint64_t	n_leaves;
	uint32_t   *counts = NULL;
	RmiLeaf    *leaves = NULL;
	uint64_t   *knots = NULL;

	if (model == NULL || (keys == NULL && n > 0))
		return RMI_ERR_ARGUMENT;
	if (opts == NULL)
	{
		rmi_default_options(&defaults);
		opts = &defaults;
	}
	if (opts->force_root < -1 || opts->force_root > RMI_ROOT_SPLINE)
		return RMI_ERR_ARGUMENT;
	for (uint64_t i = 1; i < n; i++)
		if (keys[i] < keys[i - 1])
			return RMI_ERR_UNSORTED;

	memset(model, 0, sizeof(*model));
	model->n_keys = n;
	model->owns_leaves = 1;

	budget = opts->max_bytes;
	if (budget == 0)
		budget = n * sizeof(uint64_t) / RMI_DEFAULT_BUDGET_DIVISOR;
	if (budget < RMI_MIN_BUDGET_BYTES)
		budget = RMI_MIN_BUDGET_BYTES;
	/* a spline root may add a knot (8 bytes) per LEAVES_PER_KNOT leaves */
	max_leaves = budget > bytes_for_leaves(1) + 16 ?
		(budget - bytes_for_leaves(0) - 16) /
		(RMI_LEAF_BYTES + 8 / LEAVES_PER_KNOT) : 1;
	if (max_leaves > n / MIN_KEYS_PER_LEAF)
		max_leaves = n / MIN_KEYS_PER_LEAF;
	if (max_leaves > UINT32_MAX)
		max_leaves = UINT32_MAX;
	if (max_leaves < 1)
		max_leaves = 1;

	if (opts->force_leaves > 0)
		n_leaves = opts->force_leaves;
	else
	{
		/* Start coarse: a model that is accurate when small stays small. */
		n_leaves = n / 65536;
		if (n_leaves < 1)
			n_leaves = 1;
		if (n_leaves > max_leaves)
			n_leaves = max_leaves;
	}

	leaves = malloc(sizeof(RmiLeaf) * (n_leaves > 0 ? n_leaves : 1));
	if (leaves == NULL)
		return RMI_ERR_NOMEM;
	if (n == 0)
	{
		/* One leaf that answers 0 for every key. */
		memset(leaves, 0, sizeof(RmiLeaf));
		model->n_leaves = 1;
		model->leaves = leaves;
		return RMI_OK;
	}

	for (int round = 0;; round++)
	{
		uint32_t	target = opts->target_error ? opts->target_error :
			RMI_DEFAULT_TARGET_ERROR;
		int			kind = opts->force_root;

		model->n_leaves = (uint32_t) n_leaves;
		model->n_knots = knots_for_leaves(n_leaves, opts);
		free(knots);
		knots = malloc(sizeof(uint64_t) * (model->n_knots + 1));
		if (knots == NULL)
		{
			free(leaves);
			return RMI_ERR_NOMEM;
		}
		fit_knots(knots, model->n_knots, keys, n);
		model->knots = knots;
		if (kind < 0)
		{
			double		linear;
			double		radix;
			double		spline;

			counts = malloc(sizeof(uint32_t) * n_leaves);
			if (counts == NULL)
			{
				free(leaves);
				free(knots);
				return RMI_ERR_NOMEM;
			}
			fit_root(model, RMI_ROOT_LINEAR, keys, n);
			linear = root_imbalance(model, keys, n, counts);
			fit_root(model, RMI_ROOT_RADIX, keys, n);
			radix = root_imbalance(model, keys, n, counts);
			fit_root(model, RMI_ROOT_SPLINE, keys, n);
			spline = root_imbalance(model, keys, n, counts);
			kind = linear <= radix ? RMI_ROOT_LINEAR : RMI_ROOT_RADIX;
			if (spline < SPLINE_ADVANTAGE * (linear <= radix ? linear : radix))
				kind = RMI_ROOT_SPLINE;
			free(counts);
		}
		fit_root(model, kind, keys, n);
		fit_leaves(model, leaves, keys, n);

		if (opts->force_leaves > 0 || model->mean_error <= (double) target ||
			n_leaves >= max_leaves || round + 1 >= MAX_BUILD_ROUNDS)
			break;

		n_leaves = n_leaves * LEAF_GROWTH < max_leaves ?
			n_leaves * LEAF_GROWTH : max_leaves;
		free(leaves);
		leaves = malloc(sizeof(RmiLeaf) * n_leaves);
		if (leaves == NULL)
		{
			free(knots);
			model->leaves = NULL;
			model->knots = NULL;
			return RMI_ERR_NOMEM;
		}
	}
	if (model->root_kind != RMI_ROOT_SPLINE)
	{
		free(knots);
		model->knots = NULL;
		model->n_knots = 0;
	}
	return RMI_OK;
}

/* Release what rmi_build allocated; a loaded view owns nothing. */
void
rmi_free(RmiModel *model)
{
	if (model == NULL)
		return;
	if (model->owns_leaves)
	{
		free((void *) model->leaves);
		free((void *) model->knots);
	}
	model->leaves = NULL;
	model->knots = NULL;
	model->n_leaves = 0;
	model->n_knots = 0;
}
