/*
 * rmi_internal.h
 *	  Pieces shared by the model's build and lookup.
 *
 * The build computes each leaf's error bounds with the very function the
 * lookup uses to predict, so the bounds hold for the lookup bit for bit.
 * Compile with -ffp-contract=off so that no compiler fuses the multiply-add
 * differently in the two places (and if one did, the lookup still corrects
 * itself: it only costs a wider search).
 */
#ifndef KYRO_RMI_INTERNAL_H
#define KYRO_RMI_INTERNAL_H

#include "rmi.h"

/* Serialised layout: a 64-byte header, the leaves, an 8-byte checksum. */
#define RMI_HEADER_BYTES	64
#define RMI_LEAF_BYTES		40
#define RMI_CHECKSUM_BYTES	8
#define RMI_ROOT_KIND_MASK	0x3

/* p as an index in [0, last], written so that NaN lands on 0. */
static inline uint64_t
rmi_clamp_index(double p, uint64_t last)
{
	if (!(p >= 0.0))
		return 0;
	if (p >= (double) last)
		return last;
	return (uint64_t) p;
}

/* The leaf the root sends a key to; always a valid leaf index. */
static inline uint32_t
rmi_route(const RmiModel *model, uint64_t key)
{
	uint64_t	offset = key > model->min_key ? key - model->min_key : 0;
	uint64_t	last = model->n_leaves - 1;
	uint64_t	leaf;

	if (model->root_kind == RMI_ROOT_RADIX)
		leaf = offset >> (model->radix_shift & 63);
	else if (model->root_kind == RMI_ROOT_SPLINE && model->n_knots > 0 &&
			 model->knots != NULL)
	{
		/* the segment: the last knot <= key, by branchless search */
		const uint64_t *base = model->knots;
		uint64_t	len = model->n_knots;
		uint64_t	seg;
		uint64_t	width;
		double		frac = 0.0;

		while (len > 1)
		{
			uint64_t	half = len / 2;

			base += (base[half] <= key) * half;
			len -= half;
		}
		seg = (uint64_t) (base - model->knots);
		width = model->knots[seg + 1] - model->knots[seg];
		if (key > model->knots[seg] && width > 0)
		{
			frac = (double) (key - model->knots[seg]) / (double) width;
			if (frac > 1.0)
				frac = 1.0;
		}
		leaf = rmi_clamp_index(((double) seg + frac) * model->root_slope, last);
	}
	else
		leaf = rmi_clamp_index(model->root_slope * (double) offset, last);
	return (uint32_t) (leaf < last ? leaf : last);
}

/*
 * A leaf's predicted position for key, clamped to [0, n - 1].  The key is
 * first clamped to the leaf's own key range, so a key beyond the leaf's
 * last key predicts exactly what that last key predicts.
 */
static inline uint64_t
rmi_leaf_predict(const RmiLeaf *leaf, uint64_t key, uint64_t n)
{
	uint64_t	x = key > leaf->first_key ? key - leaf->first_key : 0;

	if (x > leaf->key_span)
		x = leaf->key_span;
	return rmi_clamp_index(leaf->intercept + leaf->slope * (double) x, n - 1);
}

#endif							/* KYRO_RMI_INTERNAL_H */
