/*
 * test_rmi.c
 *	  Unit tests of the model: every answer is compared with a plain binary
 *	  search over the same keys, for trained, garbage and corrupted models.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygen.h"
#include "rmi_internal.h"
#include "unit.h"

/* The case a dataset test runs on. */
static KeyDist cur_dist;
static uint64_t cur_n;

/* The reference answer: first index whose key is >= probe. */
static uint64_t
reference_lower_bound(const uint64_t *keys, uint64_t n, uint64_t probe)
{
	uint64_t	lo = 0;
	uint64_t	hi = n;

	while (lo < hi)
	{
		uint64_t	mid = lo + (hi - lo) / 2;

		if (keys[mid] < probe)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Compare model and binary search with the reference for one probe. */
static void
check_probe(const RmiModel *model, const uint64_t *keys, uint64_t n,
			uint64_t probe)
{
	uint64_t	want = reference_lower_bound(keys, n, probe);
	uint64_t	got = rmi_lookup(model, keys, n, probe);

	CHECK(got == want, "%s n=%llu probe=%llu: model %llu, want %llu",
		  keygen_name(cur_dist), (unsigned long long) n,
		  (unsigned long long) probe, (unsigned long long) got,
		  (unsigned long long) want);
	CHECK(rmi_binary_search(keys, n, probe) == want,
		  "binary search wrong for probe %llu", (unsigned long long) probe);
}

/*
 * The build's error bounds must hold: the window the model names (before
 * any fallback) contains the position of every present key; absent keys
 * may need the lookup's gallop.
 */
static void
check_window(const RmiModel *model, const uint64_t *keys, uint64_t n,
			 uint64_t probe)
{
	uint64_t	lo;
	uint64_t	hi;
	uint64_t	want;

	if (n == 0)
		return;
	rmi_window(model, n, probe, &lo, &hi);
	want = reference_lower_bound(keys, n, probe);
	if (want == n || keys[want] != probe)
		return;
	CHECK(want >= lo && want <= hi,
		  "%s n=%llu probe=%llu: answer %llu outside window [%llu, %llu]",
		  keygen_name(cur_dist), (unsigned long long) n,
		  (unsigned long long) probe, (unsigned long long) want,
		  (unsigned long long) lo, (unsigned long long) hi);
}

/* Probes: every (or a sample of) present key, its neighbours, the ends. */
static void
probe_all(const RmiModel *model, const uint64_t *keys, uint64_t n,
		  uint64_t max_probes, int check_windows)
{
	uint64_t	state = 12345;
	uint64_t	step = n > max_probes ? n / max_probes : 1;
	const uint64_t ends[] = {0, 1, UINT64_MAX - 1, UINT64_MAX};

	for (int e = 0; e < 4; e++)
	{
		check_probe(model, keys, n, ends[e]);
		if (check_windows)
			check_window(model, keys, n, ends[e]);
	}
	for (uint64_t i = 0; i < n; i += step)
	{
		uint64_t	probes[4];

		probes[0] = keys[i];
		probes[1] = keys[i] - 1;
		probes[2] = keys[i] + 1;
		probes[3] = keygen_random(&state);
		for (int p = 0; p < 4; p++)
		{
			check_probe(model, keys, n, probes[p]);
			if (check_windows)
				check_window(model, keys, n, probes[p]);
		}
		/* a random present key too, so large arrays are probed all over */
		if (step > 1)
			check_probe(model, keys, n, keys[keygen_random(&state) % n]);
	}
}

/* Build on cur_dist/cur_n with opts and compare every answer. */
static void
run_dataset(const RmiBuildOptions *opts, uint64_t max_probes)
{
	uint64_t   *keys = malloc((cur_n ? cur_n : 1) * sizeof(uint64_t));
	RmiModel	model;
	RmiStatus	status;

	CHECK(keys != NULL, "out of memory");
	if (keys == NULL)
		return;
	CHECK(keygen_fill(cur_dist, keys, cur_n, 42 + cur_n) == 0, "keygen failed");
	status = rmi_build(keys, cur_n, opts, &model);
	CHECK(status == RMI_OK, "build failed: %s", rmi_status_message(status));
	if (status == RMI_OK)
	{
		CHECK(model.n_leaves >= 1, "no leaves");
		CHECK(opts != NULL || rmi_serialized_size(&model) <= 4096 ||
			  rmi_serialized_size(&model) <= cur_n * sizeof(uint64_t) / 16,
			  "model of %llu bytes for %llu keys is over budget",
			  (unsigned long long) rmi_serialized_size(&model),
			  (unsigned long long) cur_n);
		probe_all(&model, keys, cur_n, max_probes, 1);
		rmi_free(&model);
	}
	free(keys);
}

/* Default build, every probe checked. */
static void
test_dataset(void)
{
	run_dataset(NULL, 200000);
}

/* Each root kind and a range of leaf counts, forced. */
static void
test_forced_shapes(void)
{
	const uint32_t leaf_counts[] = {1, 2, 7, 64, 1000, 5000};

	for (int root = RMI_ROOT_LINEAR; root <= RMI_ROOT_SPLINE; root++)
		for (size_t l = 0; l < sizeof(leaf_counts) / sizeof(leaf_counts[0]); l++)
		{
			RmiBuildOptions opts;

			rmi_default_options(&opts);
			opts.force_root = root;
			opts.force_leaves = leaf_counts[l];
			run_dataset(&opts, 20000);
		}
}

/* A sorted dataset for the tests that need one. */
static uint64_t *
make_keys(KeyDist dist, uint64_t n)
{
	uint64_t   *keys = malloc(n * sizeof(uint64_t));

	if (keys != NULL && keygen_fill(dist, keys, n, 7) != 0)
	{
		free(keys);
		keys = NULL;
	}
	cur_dist = dist;
	cur_n = n;
	return keys;
}

/* Models whose numbers are garbage still answer exactly. */
static void
test_garbage_parameters(void)
{
	const double bad_doubles[] = {NAN, INFINITY, -INFINITY, -1e300, 1e300,
	0.0, -1.0, 1e-300, 3.5};
	uint64_t	n = 50000;
	uint64_t   *keys = make_keys(DIST_SPARSE, n);
	uint64_t	state = 99;
	RmiModel	model;
	RmiLeaf    *leaves;

	CHECK(keys != NULL, "out of memory");
	if (keys == NULL || rmi_build(keys, n, NULL, &model) != RMI_OK)
	{
		free(keys);
		CHECK(0, "build failed");
		return;
	}
	leaves = (RmiLeaf *) model.leaves;

	/* each parameter of every leaf set to each bad value in turn */
	for (size_t b = 0; b < sizeof(bad_doubles) / sizeof(bad_doubles[0]); b++)
	{
		RmiModel	bad = model;

		for (uint32_t j = 0; j < model.n_leaves; j++)
			leaves[j].slope = bad_doubles[b];
		probe_all(&bad, keys, n, 2000, 0);
		bad.root_slope = bad_doubles[b];
		probe_all(&bad, keys, n, 2000, 0);
		for (uint32_t j = 0; j < model.n_leaves; j++)
		{
			leaves[j].intercept = bad_doubles[b];
			leaves[j].err_lo = (b & 1) ? UINT32_MAX : 0;
			leaves[j].err_hi = (b & 2) ? UINT32_MAX : 0;
			leaves[j].key_span = (b & 4) ? UINT64_MAX : 0;
		}
		probe_all(&bad, keys, n, 2000, 0);
	}

	/* whole leaves of random bytes, a radix root with a wild shift */
	for (int round = 0; round < 20; round++)
	{
		RmiModel	bad = model;

		for (uint32_t j = 0; j < model.n_leaves; j++)
			for (size_t w = 0; w < sizeof(RmiLeaf) / 8; w++)
				((uint64_t *) &leaves[j])[w] = keygen_random(&state);
		bad.root_kind = round & 1;
		bad.radix_shift = (uint32_t) keygen_random(&state);
		bad.min_key = keygen_random(&state);
		probe_all(&bad, keys, n, 500, 0);
	}

	/* a model trained on other keys */
	{
		uint64_t   *other = make_keys(DIST_LOGNORMAL, n);

		if (other != NULL)
		{
			RmiModel	foreign;

			if (rmi_build(other, n, NULL, &foreign) == RMI_OK)
			{
				cur_dist = DIST_SPARSE;
				probe_all(&foreign, keys, n / 2, 5000, 0);
				rmi_free(&foreign);
			}
			free(other);
		}
	}
	rmi_free(&model);
	free(keys);
}

/* Serialise and load: the loaded view answers as the built model. */
static void
test_round_trip(void)
{
	for (KeyDist d = 0; d < DIST_COUNT; d++)
	{
		uint64_t	n = 30000;
		uint64_t   *keys = make_keys(d, n);
		RmiModel	model;
		RmiModel	loaded;
		uint64_t	size;
		uint64_t   *buf;

		if (keys == NULL || rmi_build(keys, n, NULL, &model) != RMI_OK)
		{
			CHECK(0, "setup failed");
			free(keys);
			continue;
		}
		size = rmi_serialized_size(&model);
		buf = malloc(size);
		CHECK(rmi_serialize(&model, buf, size) == RMI_OK, "serialise failed");
		CHECK(rmi_serialize(&model, buf, size - 1) == RMI_ERR_SIZE,
			  "short buffer accepted");
		CHECK(rmi_load(buf, size, &loaded) == RMI_OK, "load failed");
		CHECK(loaded.n_leaves == model.n_leaves &&
			  loaded.root_kind == model.root_kind &&
			  loaded.n_keys == model.n_keys &&
			  loaded.max_error == model.max_error &&
			  memcmp(loaded.leaves, model.leaves,
					 model.n_leaves * sizeof(RmiLeaf)) == 0,
			  "loaded model differs");
		for (uint64_t i = 0; i < n; i += 7)
			CHECK(rmi_lookup(&loaded, keys, n, keys[i]) ==
				  rmi_lookup(&model, keys, n, keys[i]), "answers differ");
		free(buf);
		rmi_free(&model);
		rmi_free(&loaded);
		free(keys);
	}
}

/* A serialised model of a few leaves, its keys and size. */
static uint64_t *
serialised_fixture(uint64_t **keys_out, uint64_t n, uint64_t *size, int root)
{
	uint64_t   *keys = make_keys(DIST_CLUSTERED, n);
	RmiModel	model;
	RmiBuildOptions opts;
	uint64_t   *buf;

	rmi_default_options(&opts);
	opts.force_leaves = 6;
	opts.force_root = root;
	if (keys == NULL || rmi_build(keys, n, &opts, &model) != RMI_OK)
		return NULL;
	*size = rmi_serialized_size(&model);
	buf = malloc(*size);
	rmi_serialize(&model, buf, *size);
	rmi_free(&model);
	*keys_out = keys;
	return buf;
}

/* Every single-byte corruption is rejected, or answered right. */
static void
test_single_byte_corruption(void)
{
	const unsigned char flips[] = {0x01, 0x02, 0x10, 0x80, 0xFF, 0x55};
	uint64_t	n = 4000;
	uint64_t   *keys = NULL;
	uint64_t	size = 0;
	uint64_t   *buf = serialised_fixture(&keys, n, &size, RMI_ROOT_SPLINE);
	uint64_t   *copy;
	int			accepted = 0;

	CHECK(buf != NULL, "setup failed");
	if (buf == NULL)
		return;
	copy = malloc(size);
	for (uint64_t pos = 0; pos < size; pos++)
		for (size_t f = 0; f < sizeof(flips); f++)
		{
			RmiModel	loaded;

			memcpy(copy, buf, size);
			((unsigned char *) copy)[pos] ^= flips[f];
			if (rmi_load(copy, size, &loaded) != RMI_OK)
				continue;
			accepted++;
			probe_all(&loaded, keys, n, 200, 0);
		}
	CHECK(accepted == 0, "%d corrupted models passed the checksum", accepted);

	/* every truncation, and a byte too many */
	for (uint64_t len = 0; len < size; len++)
	{
		RmiModel	loaded;

		CHECK(rmi_load(buf, len, &loaded) != RMI_OK, "truncated to %llu accepted",
			  (unsigned long long) len);
	}
	{
		uint64_t   *longer = calloc(1, size + 8);
		RmiModel	loaded;

		memcpy(longer, buf, size);
		CHECK(rmi_load(longer, size + 1, &loaded) == RMI_ERR_SIZE,
			  "extended buffer accepted");
		free(longer);
	}
	free(copy);
	free(buf);
	free(keys);
}

/* Re-checksum buf after tampering, so a later check has to catch it. */
static void
reseal(uint64_t *buf, uint64_t size)
{
	uint64_t	sum = rmi_checksum(buf, size - 8);

	memcpy((unsigned char *) buf + size - 8, &sum, 8);
}

/* Each rejection reason is reported with its own code. */
static void
test_load_errors(void)
{
	uint64_t	n = 4000;
	uint64_t   *keys = NULL;
	uint64_t	size = 0;
	uint64_t   *buf = serialised_fixture(&keys, n, &size, RMI_ROOT_LINEAR);
	uint64_t   *copy;
	unsigned char *bytes;
	RmiModel	loaded;
	double		nan_value = NAN;
	uint32_t	u32;

	CHECK(buf != NULL, "setup failed");
	if (buf == NULL)
		return;
	copy = malloc(size + 16);
	bytes = (unsigned char *) copy;

#define TAMPER(action, expected) \
	do { \
		memcpy(copy, buf, size); \
		action; \
		CHECK(rmi_load(copy, size, &loaded) == (expected), "%s gave %s", \
			  #action, rmi_status_message(rmi_load(copy, size, &loaded))); \
	} while (0)

	TAMPER((void) 0, RMI_OK);
	TAMPER(bytes[0] ^= 1, RMI_ERR_MAGIC);
	TAMPER(bytes[4] = 9, RMI_ERR_VERSION);
	TAMPER(bytes[6] = 3, RMI_ERR_FLAGS);
	TAMPER(bytes[7] = 0x80, RMI_ERR_FLAGS);
	TAMPER(bytes[size - 1] ^= 1, RMI_ERR_CHECKSUM);
	TAMPER(bytes[100] ^= 1, RMI_ERR_CHECKSUM);
	TAMPER((u32 = 0, memcpy(bytes + 16, &u32, 4)), RMI_ERR_TRUNCATED);
	TAMPER((u32 = 5, memcpy(bytes + 16, &u32, 4)), RMI_ERR_SIZE);
	TAMPER((u32 = 0xFFFFFFFF, memcpy(bytes + 16, &u32, 4)), RMI_ERR_TRUNCATED);
	TAMPER((u32 = 64, memcpy(bytes + 20, &u32, 4), reseal(copy, size)),
		   RMI_ERR_BOUNDS);
	TAMPER((memcpy(bytes + 32, &nan_value, 8), reseal(copy, size)),
		   RMI_ERR_BOUNDS);
	TAMPER((bytes[56] = 1, reseal(copy, size)), RMI_ERR_BOUNDS);
	TAMPER((bytes[44] = 1, reseal(copy, size)), RMI_ERR_BOUNDS);
	TAMPER((memcpy(bytes + 64 + 16, &nan_value, 8), reseal(copy, size)),
		   RMI_ERR_BOUNDS);
	TAMPER((u32 = 0xFFFFFFFF, memcpy(bytes + 64 + 32, &u32, 4), reseal(copy, size)),
		   RMI_ERR_BOUNDS);

	memcpy(bytes + 1, buf, size);
	CHECK(rmi_load(bytes + 1, size, &loaded) == RMI_ERR_ALIGNMENT,
		  "unaligned buffer accepted");

	/* a spline root's knots: out of order, or a count that disagrees */
	free(buf);
	free(keys);
	buf = serialised_fixture(&keys, n, &size, RMI_ROOT_SPLINE);
	CHECK(buf != NULL, "setup failed");
	if (buf == NULL)
		return;
	free(copy);
	copy = malloc(size + 16);
	bytes = (unsigned char *) copy;
	TAMPER((void) 0, RMI_OK);
	TAMPER((memset(bytes + 64, 0xFF, 8), reseal(copy, size)), RMI_ERR_BOUNDS);
	TAMPER((u32 = 0, memcpy(bytes + 44, &u32, 4), reseal(copy, size)),
		   RMI_ERR_BOUNDS);
	TAMPER((u32 = 5000, memcpy(bytes + 44, &u32, 4), reseal(copy, size)),
		   RMI_ERR_TRUNCATED);
#undef TAMPER
	CHECK(rmi_load(NULL, size, &loaded) == RMI_ERR_ARGUMENT, "NULL accepted");
	free(copy);
	free(buf);
	free(keys);
}

/* Bad build input is refused. */
static void
test_build_errors(void)
{
	uint64_t	unsorted[] = {5, 3, 9};
	uint64_t	sorted[] = {1, 2, 3};
	RmiModel	model;
	RmiBuildOptions opts;

	CHECK(rmi_build(unsorted, 3, NULL, &model) == RMI_ERR_UNSORTED,
		  "unsorted keys accepted");
	CHECK(rmi_build(NULL, 3, NULL, &model) == RMI_ERR_ARGUMENT,
		  "NULL keys accepted");
	CHECK(rmi_build(sorted, 3, NULL, NULL) == RMI_ERR_ARGUMENT,
		  "NULL model accepted");
	rmi_default_options(&opts);
	opts.force_root = 7;
	CHECK(rmi_build(sorted, 3, &opts, &model) == RMI_ERR_ARGUMENT,
		  "unknown root kind accepted");
	CHECK(rmi_lookup(NULL, sorted, 3, 2) == 1, "NULL model lookup");
}

/* Small models stay small; accurate data gets few leaves. */
static void
test_budget(void)
{
	uint64_t	n = 1000000;
	uint64_t   *keys = make_keys(DIST_DENSE, n);
	RmiModel	model;
	RmiBuildOptions opts;

	if (keys == NULL)
		return;
	CHECK(rmi_build(keys, n, NULL, &model) == RMI_OK, "build failed");
	CHECK(model.max_error <= 1, "dense keys predicted with error %u",
		  model.max_error);
	CHECK(model.n_leaves <= 16, "dense keys took %u leaves", model.n_leaves);
	rmi_free(&model);
	free(keys);

	keys = make_keys(DIST_SPARSE, n);
	rmi_default_options(&opts);
	opts.max_bytes = 10000;
	CHECK(rmi_build(keys, n, &opts, &model) == RMI_OK, "build failed");
	CHECK(rmi_serialized_size(&model) <= 10000, "budget exceeded: %llu",
		  (unsigned long long) rmi_serialized_size(&model));
	probe_all(&model, keys, n, 20000, 1);
	rmi_free(&model);
	free(keys);
}

/*
 * A model carried over to a longer array (keys appended after the ones it
 * was trained on) names the same windows for its own keys as it did over
 * its own array, and every key of the longer array is still found.
 */
static void
test_carried_over(void)
{
	for (KeyDist d = 0; d < DIST_COUNT; d++)
	{
		uint64_t	n = 5000;
		uint64_t	extra = 3000;
		uint64_t   *keys = make_keys(d, n + extra);
		RmiModel	model;

		if (keys == NULL)
			return;
		CHECK(rmi_build(keys, n, NULL, &model) == RMI_OK, "build failed");
		for (uint64_t i = 0; i < n; i++)
		{
			uint64_t	lo1, hi1, lo2, hi2;

			rmi_window(&model, n, keys[i], &lo1, &hi1);
			rmi_window(&model, n + extra, keys[i], &lo2, &hi2);
			CHECK(lo1 == lo2 && hi1 == hi2,
				  "%s key %llu: window [%llu, %llu] over its keys, [%llu, %llu] over more",
				  keygen_name(d), (unsigned long long) i,
				  (unsigned long long) lo1, (unsigned long long) hi1,
				  (unsigned long long) lo2, (unsigned long long) hi2);
		}
		for (uint64_t i = 0; i < n + extra; i += 7)
			check_probe(&model, keys, n + extra, keys[i]);
		rmi_free(&model);
		free(keys);
	}
}

/* The model's tests; the 10M-key datasets only if big. */
void
rmi_tests(int big)
{
	const uint64_t sizes[] = {0, 1, 2, 3, 10, 1000, 100000};
	char		name[128];

	for (KeyDist d = 0; d < DIST_COUNT; d++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		{
			cur_dist = d;
			cur_n = sizes[s];
			snprintf(name, sizeof(name), "lookup %s n=%llu", keygen_name(d),
					 (unsigned long long) cur_n);
			unit_run(name, test_dataset);
		}
	for (KeyDist d = 0; d < DIST_COUNT; d++)
	{
		cur_dist = d;
		cur_n = 20000;
		snprintf(name, sizeof(name), "forced roots and leaf counts %s",
				 keygen_name(d));
		unit_run(name, test_forced_shapes);
	}
	if (big)
		for (KeyDist d = 0; d < DIST_COUNT; d++)
		{
			cur_dist = d;
			cur_n = 10000000;
			snprintf(name, sizeof(name), "lookup %s n=10M", keygen_name(d));
			unit_run(name, test_dataset);
		}
	unit_run("garbage model parameters answer exactly", test_garbage_parameters);
	unit_run("serialise and load round trip", test_round_trip);
	unit_run("single-byte corruption rejected", test_single_byte_corruption);
	unit_run("load rejects with the right code", test_load_errors);
	unit_run("build rejects bad input", test_build_errors);
	unit_run("size budget and leaf count", test_budget);
	unit_run("a model carried over to appended keys", test_carried_over);
}
