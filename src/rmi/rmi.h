/*
 * rmi.h
 *	  A two-stage recursive model index over a sorted array of uint64 keys.
 *
 * The model predicts where a key sits in a sorted array; the lookup turns
 * that prediction into an exact lower bound.  A model is only ever a hint:
 * every lookup checks its answer against the keys themselves and widens by
 * exponential search when the model was wrong, so a stale, garbage or
 * corrupt model costs time, never a wrong position or a read outside the
 * array.
 *
 * Pure C99 with no PostgreSQL headers: the access method calls this code,
 * never the other way round.
 */
#ifndef KYRO_RMI_H
#define KYRO_RMI_H

#include <stddef.h>
#include <stdint.h>

#include "rmi_search.h"

#define RMI_MAGIC			0x494D524BU	/* "KRMI" in little-endian bytes */
#define RMI_FORMAT_VERSION	1

/* Root kinds, stored in the low bits of the header flags. */
#define RMI_ROOT_LINEAR		0
#define RMI_ROOT_RADIX		1
#define RMI_ROOT_SPLINE		2	/* interpolation between quantile knots */

/* Defaults of the build options. */
#define RMI_DEFAULT_TARGET_ERROR	8
#define RMI_DEFAULT_BUDGET_DIVISOR	16	/* model bytes <= key bytes / 16 */
#define RMI_MIN_BUDGET_BYTES		4096

/* Error codes of rmi_build and rmi_load. */
typedef enum RmiStatus
{
	RMI_OK = 0,
	RMI_ERR_NOMEM,				/* allocation failed */
	RMI_ERR_ARGUMENT,			/* a NULL pointer or impossible option */
	RMI_ERR_UNSORTED,			/* build input not in ascending order */
	RMI_ERR_TRUNCATED,			/* buffer shorter than its header says */
	RMI_ERR_SIZE,				/* buffer length disagrees with its counts */
	RMI_ERR_MAGIC,				/* not a serialised model */
	RMI_ERR_VERSION,			/* a format this code does not read */
	RMI_ERR_FLAGS,				/* unknown flags or root kind */
	RMI_ERR_BOUNDS,				/* a count or parameter out of range */
	RMI_ERR_CHECKSUM,			/* bytes do not match their checksum */
	RMI_ERR_ALIGNMENT			/* buffer not 8-byte aligned */
} RmiStatus;

/*
 * A leaf: a linear model over the keys the root routes to it.  The key is
 * clamped to [first_key, first_key + key_span] before the prediction, so
 * keys outside the leaf's own keys predict no further than its end points;
 * err_lo and err_hi bound the prediction's error over every key routed here,
 * including the absent keys just past the leaf's last key.
 */
typedef struct RmiLeaf
{
	uint64_t	first_key;
	uint64_t	key_span;		/* last key - first key */
	double		slope;
	double		intercept;		/* predicted position at first_key */
	uint32_t	err_lo;			/* max (prediction - true position) */
	uint32_t	err_hi;			/* max (true position - prediction) */
} RmiLeaf;

/*
 * A model.  The leaves either belong to the model (after rmi_build) or point
 * into a caller's buffer (after rmi_load), in which case the buffer must
 * outlive the model.
 */
typedef struct RmiModel
{
	uint64_t	n_keys;			/* keys the model was trained on */
	uint32_t	n_leaves;
	uint32_t	root_kind;		/* RMI_ROOT_LINEAR, _RADIX or _SPLINE */
	uint64_t	min_key;		/* root works on key - min_key */
	double		root_slope;		/* linear: leaf = slope * (key - min);
								 * spline: leaves per segment */
	uint32_t	radix_shift;	/* radix root: leaf = (key - min) >> shift */
	uint32_t	owns_leaves;
	uint32_t	n_knots;		/* spline root: segments; knots[0..n_knots] */
	const uint64_t *knots;		/* spline root: keys at equal-count quantiles */
	const RmiLeaf *leaves;
	/* Statistics of the training data; not serialised except max_error. */
	double		mean_error;		/* mean |error| over distinct keys */
	uint32_t	max_error;		/* max of any leaf's err_lo, err_hi */
} RmiModel;

/* Options of a build; zero fields take the defaults above. */
typedef struct RmiBuildOptions
{
	uint32_t	target_error;	/* wanted mean |error|, in positions */
	uint64_t	max_bytes;		/* size budget of the serialised model */
	uint32_t	force_leaves;	/* nonzero: use exactly this many leaves */
	int			force_root;		/* -1: choose; else an RMI_ROOT_* kind */
	uint32_t	force_knots;	/* spline root: nonzero forces the segments */
} RmiBuildOptions;

extern void rmi_default_options(RmiBuildOptions *opts);

/* Train a model on keys[0..n), ascending, duplicates allowed. */
extern RmiStatus rmi_build(const uint64_t *keys, uint64_t n,
						   const RmiBuildOptions *opts, RmiModel *model);
extern void rmi_free(RmiModel *model);

/*
 * The first position in keys[0..n) whose key is >= probe (n if none).
 * Exact for any model and any n, even if the model was trained on other
 * keys or holds garbage.
 */
extern uint64_t rmi_lookup(const RmiModel *model, const uint64_t *keys,
						   uint64_t n, uint64_t probe);

/*
 * The window [*lo, *hi] of positions (within [0, n - 1], and within the
 * n_keys positions the model was trained on) that the model
 * names for probe: for a model trained on these n keys, the answer lies in
 * [*lo, *hi + 1].  For callers whose keys are not one array (the access
 * method's pages); they must check the answer as rmi_lookup does.
 */
extern void rmi_window(const RmiModel *model, uint64_t n, uint64_t probe,
					   uint64_t *lo, uint64_t *hi);

/*
 * The first position in [0, n) for which before() is 0 (n if none): the
 * model's window for probe_key, searched and checked by rmi_search_window
 * (see rmi_search.h).  For callers whose elements are not one array of
 * keys (the access method's pages); the elements must be ordered by key
 * first, as the model was trained.  *mispredicted, if given, is set to 1
 * when the window missed the answer.
 */
extern uint64_t rmi_search(const RmiModel *model, uint64_t n,
						   uint64_t probe_key, RmiBeforeFn before,
						   const void *ctx, int *mispredicted);

/* The same answer as rmi_lookup by plain branchless binary search. */
extern uint64_t rmi_binary_search(const uint64_t *keys, uint64_t n,
								  uint64_t probe);

/*
 * Serialisation: header, spline knots (if any), leaves, XXH3-64 of all
 * bytes before it.
 * rmi_serialized_size() gives the bytes rmi_serialize() writes.
 */
extern uint64_t rmi_serialized_size(const RmiModel *model);
extern RmiStatus rmi_serialize(const RmiModel *model, void *buf, uint64_t len);

/*
 * Validate buf[0..len) and make model a view of it (no copy; buf must be
 * 8-byte aligned and outlive the model).  Anything that fails a check is
 * rejected with an error code and model is left untouched.
 */
extern RmiStatus rmi_load(const void *buf, uint64_t len, RmiModel *model);

/* XXH3-64 of a byte range, as used for the model's checksum. */
extern uint64_t rmi_checksum(const void *data, size_t len);

extern const char *rmi_status_message(RmiStatus status);

#endif							/* KYRO_RMI_H */
