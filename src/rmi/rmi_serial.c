/*
 * rmi_serial.c
 *	  The model's serialised form, its checksum, and its validation.
 *
 * Layout (native byte order; the magic number tells a foreign one apart):
 *	 0	u32 magic		 4	u16 version		 6	u16 flags (root kind)
 *	 8	u64 n_keys		16	u32 n_leaves	20	u32 radix_shift
 *	24	u64 min_key		32	f64 root_slope	40	u32 max_error
 *	44	u32 n_knots		48	f64 mean_error	56	u64 zero
 *	64	spline root only: n_knots + 1 knots (u64)
 *	then n_leaves leaves of 40 bytes (RmiLeaf)
 *	end	u64 XXH3-64 of every byte before it
 *
 * A loaded model is a view of the caller's bytes, so every number in them
 * is checked before the model is handed out: the checksum catches damage,
 * and the bounds catch a checksum that was recomputed over nonsense.
 */
#include <math.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "rmi_internal.h"

/* Byte offsets of the header's fields (the layout above). */
#define OFF_MAGIC		0
#define OFF_VERSION		4
#define OFF_FLAGS		6
#define OFF_N_KEYS		8
#define OFF_N_LEAVES	16
#define OFF_RADIX_SHIFT	20
#define OFF_MIN_KEY		24
#define OFF_ROOT_SLOPE	32
#define OFF_MAX_ERROR	40
#define OFF_N_KNOTS		44
#define OFF_MEAN_ERROR	48
#define OFF_ZERO		56
#define KNOT_BYTES		8

_Static_assert(sizeof(RmiLeaf) == RMI_LEAF_BYTES, "RmiLeaf must be 40 bytes");

/* XXH3-64 of len bytes at data. */
uint64_t
rmi_checksum(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/* Bytes of the knots of a model with root kind and n_knots segments. */
static uint64_t
knot_bytes(uint32_t kind, uint32_t n_knots)
{
	return kind == RMI_ROOT_SPLINE ? ((uint64_t) n_knots + 1) * KNOT_BYTES : 0;
}

/* Bytes rmi_serialize writes for model. */
uint64_t
rmi_serialized_size(const RmiModel *model)
{
	return RMI_HEADER_BYTES + knot_bytes(model->root_kind, model->n_knots) +
		(uint64_t) model->n_leaves * RMI_LEAF_BYTES + RMI_CHECKSUM_BYTES;
}

/* Store a value of size bytes at offset off of buf. */
static void
put(unsigned char *buf, size_t off, const void *value, size_t size)
{
	memcpy(buf + off, value, size);
}

/* Read a value of size bytes at offset off of buf. */
static void
get(const unsigned char *buf, size_t off, void *value, size_t size)
{
	memcpy(value, buf + off, size);
}

/* Write model to buf[0..len); len must be rmi_serialized_size(model). */
RmiStatus
rmi_serialize(const RmiModel *model, void *buf, uint64_t len)
{
	unsigned char *out = buf;
	uint32_t	magic = RMI_MAGIC;
	uint16_t	version = RMI_FORMAT_VERSION;
	uint16_t	flags;
	uint32_t	n_knots;
	uint64_t	knots;
	uint64_t	body;
	uint64_t	sum;

	if (model == NULL || buf == NULL || model->n_leaves == 0 ||
		model->leaves == NULL || model->root_kind > RMI_ROOT_SPLINE ||
		(model->root_kind == RMI_ROOT_SPLINE &&
		 (model->n_knots == 0 || model->knots == NULL)))
		return RMI_ERR_ARGUMENT;
	if (len != rmi_serialized_size(model))
		return RMI_ERR_SIZE;

	flags = (uint16_t) model->root_kind;
	memset(out, 0, RMI_HEADER_BYTES);
	put(out, OFF_MAGIC, &magic, sizeof(magic));
	put(out, OFF_VERSION, &version, sizeof(version));
	put(out, OFF_FLAGS, &flags, sizeof(flags));
	put(out, OFF_N_KEYS, &model->n_keys, sizeof(model->n_keys));
	put(out, OFF_N_LEAVES, &model->n_leaves, sizeof(model->n_leaves));
	put(out, OFF_RADIX_SHIFT, &model->radix_shift, sizeof(model->radix_shift));
	put(out, OFF_MIN_KEY, &model->min_key, sizeof(model->min_key));
	put(out, OFF_ROOT_SLOPE, &model->root_slope, sizeof(model->root_slope));
	put(out, OFF_MAX_ERROR, &model->max_error, sizeof(model->max_error));
	n_knots = model->root_kind == RMI_ROOT_SPLINE ? model->n_knots : 0;
	put(out, OFF_N_KNOTS, &n_knots, sizeof(n_knots));
	put(out, OFF_MEAN_ERROR, &model->mean_error, sizeof(model->mean_error));

	knots = knot_bytes(model->root_kind, n_knots);
	if (knots > 0)
		memcpy(out + RMI_HEADER_BYTES, model->knots, knots);
	body = RMI_HEADER_BYTES + knots + (uint64_t) model->n_leaves * RMI_LEAF_BYTES;
	memcpy(out + RMI_HEADER_BYTES + knots, model->leaves,
		   body - RMI_HEADER_BYTES - knots);
	sum = rmi_checksum(out, body);
	put(out, body, &sum, sizeof(sum));
	return RMI_OK;
}

/* Whether a parameter is a finite number >= 0. */
static int
finite_nonnegative(double v)
{
	return isfinite(v) && v >= 0.0;
}

/* Validate buf and make model a view of it; see rmi.h. */
RmiStatus
rmi_load(const void *buf, uint64_t len, RmiModel *model)
{
	const unsigned char *in = buf;
	RmiModel	m;
	uint32_t	magic;
	uint16_t	version;
	uint16_t	flags;
	uint64_t	zero64;
	uint64_t	knots;
	uint64_t	body;
	uint64_t	sum;
	const RmiLeaf *leaves;

	if (buf == NULL || model == NULL)
		return RMI_ERR_ARGUMENT;
	if (len < RMI_HEADER_BYTES + RMI_CHECKSUM_BYTES)
		return RMI_ERR_TRUNCATED;
	if (((uintptr_t) buf & 7) != 0)
		return RMI_ERR_ALIGNMENT;

	memset(&m, 0, sizeof(m));
	get(in, OFF_MAGIC, &magic, sizeof(magic));
	get(in, OFF_VERSION, &version, sizeof(version));
	get(in, OFF_FLAGS, &flags, sizeof(flags));
	if (magic != RMI_MAGIC)
		return RMI_ERR_MAGIC;
	if (version != RMI_FORMAT_VERSION)
		return RMI_ERR_VERSION;
	if ((flags & ~RMI_ROOT_KIND_MASK) != 0 || flags > RMI_ROOT_SPLINE)
		return RMI_ERR_FLAGS;

	get(in, OFF_N_KNOTS, &m.n_knots, sizeof(m.n_knots));
	if ((flags == RMI_ROOT_SPLINE) != (m.n_knots > 0))
		return RMI_ERR_BOUNDS;
	knots = knot_bytes(flags, m.n_knots);
	get(in, OFF_N_LEAVES, &m.n_leaves, sizeof(m.n_leaves));
	if (knots > len - RMI_HEADER_BYTES - RMI_CHECKSUM_BYTES || m.n_leaves == 0 ||
		m.n_leaves > (len - RMI_HEADER_BYTES - RMI_CHECKSUM_BYTES - knots) / RMI_LEAF_BYTES)
		return RMI_ERR_TRUNCATED;
	body = RMI_HEADER_BYTES + knots + (uint64_t) m.n_leaves * RMI_LEAF_BYTES;
	if (len != body + RMI_CHECKSUM_BYTES)
		return RMI_ERR_SIZE;

	get(in, body, &sum, sizeof(sum));
	if (sum != rmi_checksum(in, body))
		return RMI_ERR_CHECKSUM;

	m.root_kind = flags;
	get(in, OFF_N_KEYS, &m.n_keys, sizeof(m.n_keys));
	get(in, OFF_RADIX_SHIFT, &m.radix_shift, sizeof(m.radix_shift));
	get(in, OFF_MIN_KEY, &m.min_key, sizeof(m.min_key));
	get(in, OFF_ROOT_SLOPE, &m.root_slope, sizeof(m.root_slope));
	get(in, OFF_MAX_ERROR, &m.max_error, sizeof(m.max_error));
	get(in, OFF_MEAN_ERROR, &m.mean_error, sizeof(m.mean_error));
	get(in, OFF_ZERO, &zero64, 8);
	if (zero64 != 0 || m.radix_shift > 63 ||
		!finite_nonnegative(m.root_slope) ||
		!finite_nonnegative(m.mean_error))
		return RMI_ERR_BOUNDS;

	if (knots > 0)
	{
		m.knots = (const uint64_t *) (in + RMI_HEADER_BYTES);
		for (uint32_t i = 0; i < m.n_knots; i++)
			if (m.knots[i] > m.knots[i + 1])
				return RMI_ERR_BOUNDS;
	}
	leaves = (const RmiLeaf *) (in + RMI_HEADER_BYTES + knots);
	for (uint32_t j = 0; j < m.n_leaves; j++)
	{
		const RmiLeaf *leaf = &leaves[j];

		if (!finite_nonnegative(leaf->slope) || !isfinite(leaf->intercept) ||
			leaf->err_lo > m.max_error || leaf->err_hi > m.max_error)
			return RMI_ERR_BOUNDS;
	}

	m.leaves = leaves;
	m.owns_leaves = 0;
	*model = m;
	return RMI_OK;
}

/* A sentence for each status, for error messages. */
const char *
rmi_status_message(RmiStatus status)
{
	switch (status)
	{
		case RMI_OK:
			return "ok";
		case RMI_ERR_NOMEM:
			return "out of memory";
		case RMI_ERR_ARGUMENT:
			return "invalid argument";
		case RMI_ERR_UNSORTED:
			return "keys are not in ascending order";
		case RMI_ERR_TRUNCATED:
			return "model is truncated";
		case RMI_ERR_SIZE:
			return "model size does not match its leaf count";
		case RMI_ERR_MAGIC:
			return "not a KyroDB model (bad magic number)";
		case RMI_ERR_VERSION:
			return "unsupported model format version";
		case RMI_ERR_FLAGS:
			return "unknown model flags";
		case RMI_ERR_BOUNDS:
			return "model parameter out of range";
		case RMI_ERR_CHECKSUM:
			return "model checksum mismatch";
		case RMI_ERR_ALIGNMENT:
			return "model buffer is not 8-byte aligned";
	}
	return "unknown error";
}
