/*
 * fuzz_rmi.c
 *	  libFuzzer target: arbitrary bytes go to the loader, and (raw, with no
 *	  validation at all) into the lookup as model parameters.  Any answer
 *	  that differs from a binary search aborts, as does any bad read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rmi_internal.h"

#define FIXTURE_KEYS 3000

static uint64_t keys[FIXTURE_KEYS];
static uint64_t aligned[1 << 14];

/* The keys every model is asked about: runs, gaps and duplicates. */
static void
init_keys(void)
{
	uint64_t	k = 5;

	for (int i = 0; i < FIXTURE_KEYS; i++)
	{
		keys[i] = k;
		k += (i % 17 == 0) ? 0 : (i % 101 == 0) ? 1000003 : (uint64_t) (i % 5);
	}
}

/* Every probe must get the binary search's answer. */
static void
check_lookups(const RmiModel *model, const uint8_t *data, size_t size,
			  uint64_t n)
{
	uint64_t	probe = 0;

	for (size_t i = 0; i + 8 <= size && i < 512; i += 8)
	{
		memcpy(&probe, data + i, 8);
		if (rmi_lookup(model, keys, n, probe) !=
			rmi_binary_search(keys, n, probe))
			abort();
		probe = keys[probe % FIXTURE_KEYS];
		if (rmi_lookup(model, keys, n, probe) !=
			rmi_binary_search(keys, n, probe))
			abort();
	}
}

/* One input: the first byte picks how the rest is used. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RmiModel	model;
	size_t		len;

	if (keys[FIXTURE_KEYS - 1] == 0)
		init_keys();
	if (size < 1 || size - 1 > sizeof(aligned))
		return 0;
	len = size - 1;
	memcpy(aligned, data + 1, len);

	switch (data[0] % 3)
	{
		case 0:
			/* The loader as it is: nearly everything fails the checksum. */
			if (rmi_load(aligned, len, &model) == RMI_OK)
				check_lookups(&model, data, size, FIXTURE_KEYS);
			break;
		case 1:
			/* A valid checksum over fuzzed bytes: the bounds checks. */
			if (len >= RMI_HEADER_BYTES + RMI_CHECKSUM_BYTES)
			{
				uint64_t	sum = rmi_checksum(aligned, len - RMI_CHECKSUM_BYTES);

				memcpy((unsigned char *) aligned + len - RMI_CHECKSUM_BYTES,
					   &sum, RMI_CHECKSUM_BYTES);
				if (rmi_load(aligned, len, &model) == RMI_OK)
					check_lookups(&model, data, size, FIXTURE_KEYS);
			}
			break;
		default:
			/* No validation at all: raw parameters into the lookup. */
			if (len >= RMI_HEADER_BYTES + 9 * 8 + RMI_LEAF_BYTES)
			{
				const unsigned char *raw = (const unsigned char *) aligned;
				uint64_t	knots = 1 + raw[22] % 8;
				uint64_t	leaves_at = RMI_HEADER_BYTES + (knots + 1) * 8;

				memset(&model, 0, sizeof(model));
				memcpy(&model.min_key, raw, 8);
				memcpy(&model.root_slope, raw + 8, 8);
				memcpy(&model.radix_shift, raw + 16, 4);
				model.root_kind = raw[20] % 3;
				model.n_knots = (uint32_t) knots;
				model.knots = (const uint64_t *) (raw + RMI_HEADER_BYTES);
				model.n_leaves = (uint32_t) ((len - leaves_at) / RMI_LEAF_BYTES);
				model.leaves = (const RmiLeaf *) (raw + leaves_at);
				check_lookups(&model, data, size, 1 + raw[21] * 11);
			}
			break;
	}
	return 0;
}
