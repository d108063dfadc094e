/*
 * test_page.c
 *	  Unit tests of the page codec (rmi_page.h): encode and decode give the
 *	  entries back exactly for every shape of data, the search gives a
 *	  plain binary search's answer for every kind of probe (even with the
 *	  page model overwritten), the fit is maximal, and the checks reject
 *	  what they should.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygen.h"
#include "page_ref.h"
#include "rmi_page.h"
#include "unit.h"

#define PAGE_CAP			8152	/* a PostgreSQL page less its header and special space */
#define SEARCH_ALL_BELOW	2000	/* pages this small are probed at every slot */
#define SAMPLE_STRIDE		7		/* else every 7th slot */
#define FILL_ENTRIES		1000000 /* entries cut into pages by the size test */
#define FIT_BRUTE_MAX		600		/* fit is compared with a full scan up to here */

/* Dense ids: rows per heap block, as a table of narrow rows has. */
#define DENSE_ROWS_PER_BLOCK 185

/* Shapes of page contents. */
typedef enum PageShape
{
	SHAPE_DENSE,				/* ids 1..n, blocks and offsets in insertion order */
	SHAPE_RANDOM,				/* uniform 64-bit keys, random tids */
	SHAPE_EQUAL_KEYS,			/* one key, ascending tids */
	SHAPE_EXTREMES,				/* keys and tids at both ends of their types */
	SHAPE_DUPLICATES,			/* runs of 1 to 50 copies of each key */
	SHAPE_TIMESTAMPS,			/* a line with jitter, near the top of the range */
	SHAPE_CLUSTERED,			/* dense runs with wide gaps; blocks falling */
	SHAPE_WIDE,					/* two far clusters: keys of 58 to 64 bits */
	SHAPE_COUNT
} PageShape;

static const char *const shape_names[SHAPE_COUNT] = {
	"dense", "random", "equal keys", "extremes", "duplicates", "timestamps",
	"clustered", "wide"
};

static const uint32_t page_sizes[] = {1, 2, 3, 7, 64, 100, 1000, 5000,
RMI_PAGE_MAX_ENTRIES};

/* An encoded page in a buffer of exactly its size (ASan sees any overread). */
typedef struct TestPage
{
	unsigned char *alloc;
	unsigned char *buf;			/* alloc + 1 on odd seeds: unaligned */
	size_t		size;
} TestPage;

/* The next tid after (*block, *offset) in ascending order, a random step. */
static void
next_tid(uint64_t *state, uint32_t *block, uint16_t *offset)
{
	uint64_t	r = keygen_random(state);

	if (r % 3 == 0 || *offset > UINT16_MAX - 8)
	{
		*block += 1 + (uint32_t) (r >> 8) % 4;
		*offset = (uint16_t) (1 + (r >> 16) % 10);
	}
	else
		*offset += (uint16_t) (1 + (r >> 24) % 3);
}

/*
 * Fill e[0..n) with entries of shape, in strictly ascending order; dead
 * flags on about one entry in seven.  Returns 0 if a random draw collided
 * (the caller tries another seed).
 */
static int
make_entries(PageShape shape, uint32_t n, uint64_t seed, RmiPageEntry *e)
{
	uint64_t	state = seed * 0x9E3779B97F4A7C15ULL + shape;
	uint64_t	key = keygen_random(&state) % 1000000;
	uint32_t	block = (uint32_t) (keygen_random(&state) % 1000);
	uint16_t	offset = 1;
	uint32_t	run = 0;

	for (uint32_t i = 0; i < n; i++)
	{
		uint64_t	r = keygen_random(&state);

		switch (shape)
		{
			case SHAPE_DENSE:
				e[i].key = (uint64_t) i + 1;
				e[i].block = i / DENSE_ROWS_PER_BLOCK;
				e[i].offset = (uint16_t) (i % DENSE_ROWS_PER_BLOCK + 1);
				break;
			case SHAPE_RANDOM:
				e[i].key = r;
				e[i].block = (uint32_t) (keygen_random(&state) % 60000);
				e[i].offset = (uint16_t) (1 + keygen_random(&state) % 200);
				break;
			case SHAPE_EQUAL_KEYS:
				next_tid(&state, &block, &offset);
				e[i].key = 0x123456789ULL;
				e[i].block = block;
				e[i].offset = offset;
				break;
			case SHAPE_EXTREMES:
				e[i].key = i == 0 ? 0 : i == n - 1 ? UINT64_MAX : r;
				e[i].block = r % 5 == 0 ? UINT32_MAX : r % 5 == 1 ? 0 :
					(uint32_t) (r >> 32);
				e[i].offset = r % 7 == 0 ? UINT16_MAX : r % 7 == 1 ? 0 :
					(uint16_t) (r >> 20);
				break;
			case SHAPE_DUPLICATES:
				if (run == 0)
				{
					key += 1 + r % 1000;
					run = 1 + (uint32_t) ((r >> 16) % 50);
				}
				run--;
				next_tid(&state, &block, &offset);
				e[i].key = key;
				e[i].block = block;
				e[i].offset = offset;
				break;
			case SHAPE_TIMESTAMPS:
				e[i].key = UINT64_MAX - 1000 * (uint64_t) (n - i) - r % 700;
				e[i].block = 4000000000U + i / 120;
				e[i].offset = (uint16_t) (i % 120 + 1);
				break;
			case SHAPE_CLUSTERED:
				key += r % 64 == 0 ? (r >> 8) % (UINT64_C(1) << 40) : 1;
				e[i].key = key;
				e[i].block = 5000000 - i / 3;
				e[i].offset = (uint16_t) (1 + (r >> 40) % 300);
				break;
			case SHAPE_WIDE:
				{
					/* no line fits: the fields straddle nine bytes */
					uint64_t	top = UINT64_C(1) << (57 + seed % 7);

					e[i].key = (i < n / 2 ? 0 : top) + r % (top / 4);
					e[i].block = (uint32_t) (r >> 7);
					e[i].offset = (uint16_t) (r >> 3);
				}
				break;
			default:
				break;
		}
		e[i].dead = keygen_random(&state) % 7 == 0;
	}
	qsort(e, n, sizeof(RmiPageEntry), page_entry_cmp);
	for (uint32_t i = 1; i < n; i++)
		if (rmi_page_compare(&e[i - 1], &e[i]) >= 0)
			return 0;
	return 1;
}

/* Entries of shape for some seed at or after seed; NULL if out of memory. */
static RmiPageEntry *
new_entries(PageShape shape, uint32_t n, uint64_t seed)
{
	RmiPageEntry *e = malloc((n > 0 ? n : 1) * sizeof(RmiPageEntry));

	if (e == NULL)
		return NULL;
	while (!make_entries(shape, n, seed, e))
		seed += 1000;
	return e;
}

/* Encode e[0..n) into a buffer of exactly its size; 0 on failure. */
static int
encode_exact(const RmiPageEntry *e, uint32_t n, int unaligned, TestPage *p)
{
	p->size = rmi_page_size(e, n);
	p->alloc = malloc(p->size + (unaligned ? 1 : 0));
	if (p->alloc == NULL)
		return 0;
	p->buf = p->alloc + (unaligned ? 1 : 0);
	if (rmi_page_encode(e, n, p->buf, p->size) != p->size)
	{
		free(p->alloc);
		p->alloc = NULL;
		return 0;
	}
	return 1;
}

/*
 * Entries of shape encoded into a page of exactly their size; NULL (and
 * a failed check) if that could not be done.
 */
static RmiPageEntry *
new_page(PageShape shape, uint32_t n, uint64_t seed, int unaligned,
		 TestPage *p)
{
	RmiPageEntry *e = new_entries(shape, n, seed);

	if (e == NULL || !encode_exact(e, n, unaligned, p))
	{
		CHECK(0, "setup of a %s page failed", shape_names[shape]);
		free(e);
		return NULL;
	}
	return e;
}

/*
 * Whether the model's window must hold the answer of a non-strict probe
 * with the lowest tid: a present key, or an absent key whose preceding
 * key has a single entry (see rmi_page.c).
 */
static int
window_must_hold(const RmiPageEntry *e, uint32_t n, const RmiPageEntry *probe)
{
	uint32_t	at = page_reference_search(e, n, probe, 0);

	if (probe->block != 0 || probe->offset != 0)
		return 0;
	if (at < n && e[at].key == probe->key)
		return 1;
	return at < 2 || e[at - 2].key != e[at - 1].key;
}

/* Search for probe both ways and compare with the reference. */
static void
check_search(const void *buf, const RmiPageEntry *e, uint32_t n,
			 const RmiPageEntry *probe, int check_window, const char *what)
{
	for (int strict = 0; strict <= 1; strict++)
	{
		int			mis = -1;
		uint32_t	want = page_reference_search(e, n, probe, strict);
		uint32_t	got = rmi_page_search(buf, probe, strict, &mis);

		CHECK(got == want, "%s n=%u probe (%llu, %u, %u) strict %d: got %u, "
			  "want %u", what, n, (unsigned long long) probe->key,
			  probe->block, probe->offset, strict, got, want);
		CHECK(mis == 0 || mis == 1, "mispredicted not set");
		if (check_window && !strict && window_must_hold(e, n, probe))
			CHECK(mis == 0, "%s n=%u probe (%llu, 0, 0): answer %u outside "
				  "the window", what, n, (unsigned long long) probe->key, want);
	}
}

/* Probes around slot i: itself, its key with other tids, its neighbours. */
static void
probe_slot(const void *buf, const RmiPageEntry *e, uint32_t n, uint32_t i,
		   uint64_t *state, int check_window, const char *what)
{
	RmiPageEntry p = e[i];
	uint64_t	r = keygen_random(state);

	check_search(buf, e, n, &p, check_window, what);
	p.block = 0;
	p.offset = 0;
	check_search(buf, e, n, &p, check_window, what);
	p.block = UINT32_MAX;
	p.offset = UINT16_MAX;
	check_search(buf, e, n, &p, check_window, what);
	p = e[i];
	if (p.offset > 0)
	{
		p.offset--;
		check_search(buf, e, n, &p, check_window, what);
	}
	p = e[i];
	if (p.offset < UINT16_MAX)
	{
		p.offset++;
		check_search(buf, e, n, &p, check_window, what);
	}
	p = e[i];
	p.block = (uint32_t) r;
	p.offset = (uint16_t) (r >> 32);
	check_search(buf, e, n, &p, check_window, what);
	for (int d = -1; d <= 1; d += 2)
	{
		p.key = e[i].key + (uint64_t) (int64_t) d;
		p.block = 0;
		p.offset = 0;
		check_search(buf, e, n, &p, check_window, what);
		p.block = (uint32_t) (r >> 16);
		check_search(buf, e, n, &p, check_window, what);
	}
}

/* Probes of every kind over a page of e[0..n). */
static void
probe_page(const void *buf, const RmiPageEntry *e, uint32_t n,
		   int check_window, const char *what)
{
	uint64_t	state = n;
	uint32_t	stride = n < SEARCH_ALL_BELOW ? 1 : SAMPLE_STRIDE;
	RmiPageEntry p;

	memset(&p, 0, sizeof(p));
	check_search(buf, e, n, &p, check_window, what);
	p.key = UINT64_MAX;
	p.block = UINT32_MAX;
	p.offset = UINT16_MAX;
	check_search(buf, e, n, &p, check_window, what);
	for (uint32_t i = 0; i < n; i += stride)
		probe_slot(buf, e, n, i, &state, check_window, what);
	probe_slot(buf, e, n, n - 1, &state, check_window, what);
	for (int i = 0; i < 200; i++)
	{
		p.key = keygen_random(&state);
		p.block = (uint32_t) keygen_random(&state);
		p.offset = (uint16_t) keygen_random(&state);
		check_search(buf, e, n, &p, check_window, what);
	}
}

/* The entries of e[0..n) flagged dead. */
static uint32_t
count_dead(const RmiPageEntry *e, uint32_t n)
{
	uint32_t	dead = 0;

	for (uint32_t i = 0; i < n; i++)
		dead += e[i].dead != 0;
	return dead;
}

/* Every slot decodes to its entry, by every reader. */
static void
check_decode(const void *buf, const RmiPageEntry *e, uint32_t n,
			 const char *what)
{
	RmiPageEntry *out = malloc(n * sizeof(RmiPageEntry));
	uint32_t	from = n / 3;

	if (out == NULL)
	{
		CHECK(0, "out of memory");
		return;
	}
	CHECK(rmi_page_count(buf) == n, "%s: count %u, want %u", what,
		  rmi_page_count(buf), n);
	rmi_page_decode(buf, 0, n, out);
	for (uint32_t i = 0; i < n; i++)
		CHECK(out[i].key == e[i].key && out[i].block == e[i].block &&
			  out[i].offset == e[i].offset && out[i].dead == (e[i].dead != 0),
			  "%s n=%u slot %u: (%llu, %u, %u, %u), want (%llu, %u, %u, %u)",
			  what, n, i, (unsigned long long) out[i].key, out[i].block,
			  out[i].offset, out[i].dead, (unsigned long long) e[i].key,
			  e[i].block, e[i].offset, e[i].dead);
	rmi_page_decode(buf, from, n - from, out);
	for (uint32_t i = from; i < n; i++)
		CHECK(out[i - from].key == e[i].key &&
			  out[i - from].block == e[i].block &&
			  out[i - from].offset == e[i].offset, "%s: decode from %u",
			  what, from);
	for (uint32_t i = 0; i < n; i += n < SEARCH_ALL_BELOW ? 1 : SAMPLE_STRIDE)
	{
		RmiPageEntry one;

		rmi_page_get(buf, i, &one);
		CHECK(rmi_page_compare(&one, &e[i]) == 0 &&
			  one.dead == (e[i].dead != 0), "%s: get slot %u", what, i);
		CHECK(rmi_page_key(buf, i) == e[i].key, "%s: key of slot %u", what, i);
	}
	free(out);
}

/*
 * The whole round trip of one page: encode (exactly at its size, one
 * byte short, and into a larger dirty buffer), check, verify, decode,
 * search.
 */
static void
check_round_trip(const RmiPageEntry *e, uint32_t n, int unaligned,
				 const char *what)
{
	TestPage	p;
	unsigned char *big;
	size_t		size = rmi_page_size(e, n);

	if (!encode_exact(e, n, unaligned, &p))
	{
		CHECK(0, "%s n=%u: encode failed (size %zu)", what, n, size);
		return;
	}
	CHECK(rmi_page_check(p.buf, p.size) == RMI_PAGE_OK, "%s: check", what);
	CHECK(rmi_page_verify(p.buf, p.size) == RMI_PAGE_OK, "%s n=%u: verify %s",
		  what, n, rmi_page_status_message(rmi_page_verify(p.buf, p.size)));
	check_decode(p.buf, e, n, what);
	CHECK(rmi_page_dead_count(p.buf) == count_dead(e, n), "%s n=%u: dead count", what, n);
	probe_page(p.buf, e, n, 1, what);

	/* One byte short does not fit; a dirty larger buffer is zeroed past it. */
	big = malloc(size + 100);
	if (big != NULL)
	{
		memset(big, 0xAB, size + 100);
		CHECK(rmi_page_encode(e, n, big, size - 1) == 0,
			  "%s: encoded into a buffer one byte short", what);
		memset(big, 0xAB, size + 100);
		CHECK(rmi_page_encode(e, n, big, size + 100) == size,
			  "%s: encode into a larger buffer", what);
		CHECK(memcmp(big, p.buf, size) == 0, "%s: encodings differ", what);
		for (size_t i = size; i < size + 100; i++)
			CHECK(big[i] == 0, "%s: byte %zu past the page not zeroed", what, i);
		free(big);
	}
	free(p.alloc);
}

/* Round trips over every shape and page size. */
static void
test_round_trips(void)
{
	for (PageShape s = 0; s < SHAPE_COUNT; s++)
		for (size_t z = 0; z < sizeof(page_sizes) / sizeof(page_sizes[0]); z++)
		{
			uint32_t	n = page_sizes[z];
			RmiPageEntry *e = new_entries(s, n, 1 + z);
			char		what[64];

			if (e == NULL)
			{
				CHECK(0, "out of memory");
				return;
			}
			snprintf(what, sizeof(what), "%s", shape_names[s]);
			check_round_trip(e, n, (int) (z & 1), what);
			free(e);
		}
}

/* Check that m is a maximal fit of e[0..n) in cap. */
static void
check_fit(const RmiPageEntry *e, uint32_t n, size_t cap, uint32_t m,
		  const char *what)
{
	uint32_t	limit = n < RMI_PAGE_MAX_ENTRIES ? n : RMI_PAGE_MAX_ENTRIES;

	if (m > 0)
		CHECK(rmi_page_size(e, m) <= cap, "%s: fit %u does not fit in %zu "
			  "(%zu bytes)", what, m, cap, rmi_page_size(e, m));
	if (m < limit)
		CHECK(rmi_page_size(e, m + 1) > cap, "%s: fit %u in %zu, but %u fits "
			  "too", what, m, cap, m + 1);
}

/* Sizes past the limit are refused. */
static void
test_limits(void)
{
	uint32_t	n = RMI_PAGE_MAX_ENTRIES + 1;
	RmiPageEntry *e = new_entries(SHAPE_DENSE, n, 1);
	unsigned char *buf = malloc(2 * PAGE_CAP);
	uint32_t	m;

	if (e == NULL || buf == NULL)
	{
		CHECK(0, "out of memory");
		free(e);
		free(buf);
		return;
	}
	CHECK(rmi_page_size(e, n) == SIZE_MAX, "size of too many entries");
	CHECK(rmi_page_size(e, 0) == SIZE_MAX, "size of no entries");
	CHECK(rmi_page_encode(e, n, buf, 2 * PAGE_CAP) == 0, "encoded too many");
	CHECK(rmi_page_encode(e, 0, buf, 2 * PAGE_CAP) == 0, "encoded none");
	CHECK(rmi_page_fit(e, n, 2 * PAGE_CAP, 0) == RMI_PAGE_MAX_ENTRIES,
		  "fit past the maximum count: %u",
		  rmi_page_fit(e, n, 2 * PAGE_CAP, 0));
	CHECK(rmi_page_fit(e, 0, PAGE_CAP, 0) == 0, "fit of none");
	CHECK(rmi_page_fit(e, n, 100, 0) == 0, "fit in a buffer below the header");
	free(e);

	/* Random entries: the least room that holds one (two lie on a line). */
	e = new_entries(SHAPE_RANDOM, 100, 1);
	if (e == NULL)
	{
		CHECK(0, "out of memory");
		free(buf);
		return;
	}
	m = rmi_page_fit(e, 100, rmi_page_size(e, 1), 50);
	CHECK(m >= 1, "one entry does not fit in its own size");
	check_fit(e, 100, rmi_page_size(e, 1), m, "random");
	CHECK(rmi_page_fit(e, 100, rmi_page_size(e, 1) - 1, 50) == 0,
		  "fit one byte short of one entry");
	free(e);
	free(buf);
}

/* rmi_page_fit finds a fit that fits and cannot take one more, any guess. */
static void
test_fit(void)
{
	const size_t caps[] = {150, 200, 333, 512, 1000, 4096, PAGE_CAP};
	uint32_t	n = 20000;
	uint64_t	state = 5;
	int			differ = 0;
	int			brute_cases = 0;

	for (PageShape s = 0; s < SHAPE_COUNT; s++)
	{
		RmiPageEntry *e = new_entries(s, n, 77);

		if (e == NULL)
		{
			CHECK(0, "out of memory");
			return;
		}
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
		{
			const uint32_t guesses[] = {0, 1, 2, 17, 300, 1000, 8192, 20000,
			(uint32_t) (keygen_random(&state) % 9000)};
			uint32_t	first = rmi_page_fit(e, n, caps[c], 0);

			for (size_t g = 0; g < sizeof(guesses) / sizeof(guesses[0]); g++)
			{
				uint32_t	m = rmi_page_fit(e, n, caps[c], guesses[g]);

				check_fit(e, n, caps[c], m, shape_names[s]);
				check_fit(e, 37, caps[c], rmi_page_fit(e, 37, caps[c],
													   guesses[g]),
						  shape_names[s]);
			}

			/* Against a full scan of every count, where that is cheap. */
			if (first < FIT_BRUTE_MAX)
			{
				uint32_t	best = 0;

				for (uint32_t m = 1; m <= FIT_BRUTE_MAX; m++)
					if (rmi_page_size(e, m) <= caps[c])
						best = m;
				brute_cases++;
				differ += best != first;
				CHECK(first <= best, "fit %u beyond the largest %u", first, best);
			}
		}
		free(e);
	}
	printf("# fit: %d of %d small cases stop below a larger count that "
		   "also fits\n", differ, brute_cases);
}

/* Cut n entries into pages of cap bytes the way a build does. */
static void
fill_pages(const RmiPageEntry *e, uint32_t n, const char *what, double limit)
{
	unsigned char *buf = malloc(PAGE_CAP);
	uint32_t	done = 0;
	uint32_t	guess = 0;
	uint64_t	bytes = 0;
	uint64_t	pages = 0;

	if (buf == NULL)
	{
		CHECK(0, "out of memory");
		return;
	}
	while (done < n)
	{
		uint32_t	m = rmi_page_fit(e + done, n - done, PAGE_CAP, guess);
		size_t		size;

		check_fit(e + done, n - done, PAGE_CAP, m, what);
		if (m == 0)
			break;
		size = rmi_page_encode(e + done, m, buf, PAGE_CAP);
		CHECK(size > 0 && size <= PAGE_CAP, "%s: page of %u did not encode",
			  what, m);
		CHECK(rmi_page_verify(buf, PAGE_CAP) == RMI_PAGE_OK, "%s: verify",
			  what);
		bytes += size;
		pages++;
		done += m;
		guess = m;
	}
	printf("# %s: %.2f bytes per entry encoded (%.2f with page slack), "
		   "%.0f entries per page\n", what, (double) bytes / n,
		   (double) pages * PAGE_CAP / n, (double) n / pages);
	CHECK((double) pages * PAGE_CAP / n <= limit, "%s: %.2f bytes per entry",
		  what, (double) pages * PAGE_CAP / n);
	free(buf);
}

/* Sizes of dense ids and of uniform random keys. */
static void
test_sizes(void)
{
	uint32_t	n = FILL_ENTRIES;
	RmiPageEntry *e = malloc(n * sizeof(RmiPageEntry));
	uint64_t   *keys = malloc(n * sizeof(uint64_t));
	uint64_t	state = 3;

	if (e == NULL || keys == NULL)
	{
		CHECK(0, "out of memory");
		free(e);
		free(keys);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
	{
		e[i].key = (uint64_t) i + 1;
		e[i].block = i / DENSE_ROWS_PER_BLOCK;
		e[i].offset = (uint16_t) (i % DENSE_ROWS_PER_BLOCK + 1);
		e[i].dead = 0;
	}
	fill_pages(e, n, "dense ids", 1.6);

	if (keygen_fill(DIST_SPARSE, keys, n, 11) == 0)
	{
		for (uint32_t i = 0; i < n; i++)
		{
			e[i].key = keys[i];
			e[i].block = (uint32_t) (keygen_random(&state) % 60000);
			e[i].offset = (uint16_t) (1 + keygen_random(&state) % 200);
		}
		qsort(e, n, sizeof(RmiPageEntry), page_entry_cmp);
		fill_pages(e, n, "uniform random keys, n=1M", 11.0);
	}
	free(keys);
	free(e);
}

/* A page whose model holds garbage still answers every probe exactly. */
static void
test_garbage_model(void)
{
	const double slopes[] = {0.0, -1.0, 1e300, -1e300, 1e-300, 3.5, INFINITY,
	-INFINITY, NAN};
	const uint32_t errs[] = {0, 1, 3, UINT32_MAX};
	const uint64_t summaries[] = {0, 1, 12345, UINT64_MAX / 2, UINT64_MAX};

	for (PageShape s = 0; s < SHAPE_COUNT; s++)
	{
		uint32_t	n = s % 2 ? 1000 : 333;
		TestPage	p;
		RmiPageEntry *e = new_page(s, n, 9, 0, &p);
		uint64_t	state = s;

		if (e == NULL)
			return;
		for (int t = 0; t < 24; t++)
		{
			RmiPageHeader hdr;
			char		what[64];

			memcpy(&hdr, p.buf, sizeof(hdr));
			hdr.slope = slopes[t % 9];
			hdr.err_lo = errs[t % 4];
			hdr.err_hi = errs[(t / 4) % 4];
			hdr.first_key = t % 3 == 0 ? keygen_random(&state) : summaries[t % 5];
			hdr.key_span = t % 5 == 0 ? keygen_random(&state) :
				summaries[(t + 2) % 5];
			memcpy(p.buf, &hdr, sizeof(hdr));
			CHECK(rmi_page_check(p.buf, p.size) == RMI_PAGE_OK,
				  "check looks at the model");
			snprintf(what, sizeof(what), "%s garbage model %d", shape_names[s], t);
			probe_page(p.buf, e, n, 0, what);
			check_decode(p.buf, e, n, what);
		}
		free(p.alloc);
		free(e);
	}
}

/* Dead bits: kept by the encoder, set one at a time, nothing else moves. */
static void
test_dead_bits(void)
{
	uint32_t	n = 777;
	TestPage	p;
	RmiPageEntry *e = new_page(SHAPE_DUPLICATES, n, 4, 1, &p);
	uint64_t	state = 8;

	if (e == NULL)
		return;
	for (int t = 0; t < 300; t++)
	{
		uint32_t	slot = t == 0 ? 0 : t == 1 ? n - 1 :
			(uint32_t) (keygen_random(&state) % n);

		rmi_page_set_dead(p.buf, slot, 1);
		e[slot].dead = 1;
	}
	check_decode(p.buf, e, n, "dead bits");
	CHECK(rmi_page_dead_count(p.buf) == count_dead(e, n), "dead count after set_dead");
	probe_page(p.buf, e, n, 1, "dead bits");
	CHECK(rmi_page_verify(p.buf, p.size) == RMI_PAGE_OK, "verify after set_dead");
	/* clearing a flag (a revived entry) leaves its neighbours' alone */
	for (int t = 0; t < 100; t++)
	{
		uint32_t	slot = (uint32_t) (keygen_random(&state) % n);

		rmi_page_set_dead(p.buf, slot, 0);
		e[slot].dead = 0;
	}
	check_decode(p.buf, e, n, "dead bits cleared");
	CHECK(rmi_page_dead_count(p.buf) == count_dead(e, n), "dead count after clearing");
	probe_page(p.buf, e, n, 1, "dead bits cleared");
	free(p.alloc);
	free(e);
}

/* Ways to damage a header, each with the status it must get. */
typedef enum Damage
{
	DAMAGE_VERSION_ZERO,
	DAMAGE_VERSION_NEXT,
	DAMAGE_COUNT_ZERO,
	DAMAGE_COUNT_OVER,
	DAMAGE_COUNT_UP,
	DAMAGE_KEY_WIDTH_65,
	DAMAGE_BLOCK_WIDTH_33,
	DAMAGE_OFFSET_WIDTH_17,
	DAMAGE_KEY_WIDTH_UP,
	DAMAGE_FIRST_KEY_UP,
	DAMAGE_KEY_SPAN_UP,
	DAMAGE_BOUNDS_ZERO,
	DAMAGE_KEY_BASE_DOWN
} Damage;

typedef struct DamageCase
{
	Damage		damage;
	RmiPageStatus want;
	const char *what;
} DamageCase;

static const DamageCase damage_cases[] = {
	{DAMAGE_VERSION_ZERO, RMI_PAGE_VERSION_BAD, "version 0"},
	{DAMAGE_VERSION_NEXT, RMI_PAGE_VERSION_BAD, "the next version"},
	{DAMAGE_COUNT_ZERO, RMI_PAGE_COUNT_BAD, "count 0"},
	{DAMAGE_COUNT_OVER, RMI_PAGE_COUNT_BAD, "count over the maximum"},
	{DAMAGE_COUNT_UP, RMI_PAGE_SHORT, "one more entry than the buffer holds"},
	{DAMAGE_KEY_WIDTH_65, RMI_PAGE_WIDTH_BAD, "key width 65"},
	{DAMAGE_BLOCK_WIDTH_33, RMI_PAGE_WIDTH_BAD, "block width 33"},
	{DAMAGE_OFFSET_WIDTH_17, RMI_PAGE_WIDTH_BAD, "offset width 17"},
	{DAMAGE_KEY_WIDTH_UP, RMI_PAGE_SHORT, "wider keys than the buffer holds"},
	{DAMAGE_FIRST_KEY_UP, RMI_PAGE_SUMMARY_BAD, "first key off by one"},
	{DAMAGE_KEY_SPAN_UP, RMI_PAGE_SUMMARY_BAD, "key span off by one"},
	{DAMAGE_BOUNDS_ZERO, RMI_PAGE_BOUNDS_BAD, "bounds of zero"},
	{DAMAGE_KEY_BASE_DOWN, RMI_PAGE_SUMMARY_BAD, "keys moved down"}
};

/* Apply one damage to a header. */
static void
damage_header(RmiPageHeader *h, Damage damage)
{
	switch (damage)
	{
		case DAMAGE_VERSION_ZERO:
			h->version = 0;
			break;
		case DAMAGE_VERSION_NEXT:
			h->version = RMI_PAGE_VERSION + 1;
			break;
		case DAMAGE_COUNT_ZERO:
			h->count = 0;
			break;
		case DAMAGE_COUNT_OVER:
			h->count = RMI_PAGE_MAX_ENTRIES + 1;
			break;
		case DAMAGE_COUNT_UP:
			/* 64 more records: at least 8 bytes more than the page has */
			h->count += 64;
			break;
		case DAMAGE_KEY_WIDTH_65:
			h->keys.bits = 65;
			break;
		case DAMAGE_BLOCK_WIDTH_33:
			h->blocks.bits = 33;
			break;
		case DAMAGE_OFFSET_WIDTH_17:
			h->offsets.bits = 17;
			break;
		case DAMAGE_KEY_WIDTH_UP:
			h->keys.bits += 8;
			break;
		case DAMAGE_FIRST_KEY_UP:
			h->first_key++;
			break;
		case DAMAGE_KEY_SPAN_UP:
			h->key_span++;
			break;
		case DAMAGE_BOUNDS_ZERO:
			h->err_lo = 0;
			h->err_hi = 0;
			break;
		case DAMAGE_KEY_BASE_DOWN:
			h->keys.base -= 100;
			break;
	}
}

/* rmi_page_check and rmi_page_verify give each damage its own status. */
static void
test_damage(void)
{
	uint32_t	n = 500;
	TestPage	p;
	RmiPageEntry *e = new_page(SHAPE_CLUSTERED, n, 2, 0, &p);
	RmiPageHeader hdr;

	if (e == NULL)
		return;
	memcpy(&hdr, p.buf, sizeof(hdr));
	CHECK(hdr.err_lo + hdr.err_hi > 0, "clustered keys fit a line exactly");
	CHECK(rmi_page_check(NULL, 1000) == RMI_PAGE_SHORT, "NULL page");
	CHECK(rmi_page_check(p.buf, sizeof(RmiPageHeader) - 1) == RMI_PAGE_SHORT,
		  "shorter than a header");
	CHECK(rmi_page_check(p.buf, p.size - 1) == RMI_PAGE_SHORT,
		  "one byte short");
	CHECK(rmi_page_check(p.buf, p.size) == RMI_PAGE_OK, "the page itself");

	for (size_t c = 0; c < sizeof(damage_cases) / sizeof(damage_cases[0]); c++)
	{
		const DamageCase *dc = &damage_cases[c];
		unsigned char *copy = malloc(p.size);
		RmiPageStatus got;

		if (copy == NULL)
			break;
		memcpy(copy, p.buf, p.size);
		memcpy(&hdr, copy, sizeof(hdr));
		damage_header(&hdr, dc->damage);
		memcpy(copy, &hdr, sizeof(hdr));
		got = rmi_page_verify(copy, p.size);
		CHECK(got == dc->want, "%s: %s, want %s", dc->what,
			  rmi_page_status_message(got), rmi_page_status_message(dc->want));
		free(copy);
	}

	/* The widest columns are accepted when the buffer holds them. */
	memcpy(&hdr, p.buf, sizeof(hdr));
	hdr.keys.bits = 64;
	hdr.blocks.bits = 32;
	hdr.offsets.bits = 16;
	{
		size_t		cap = sizeof(hdr) + (size_t) n * (64 + 32 + 16 + 1) / 8 + 64;
		unsigned char *wide = calloc(1, cap);

		if (wide != NULL)
		{
			memcpy(wide, &hdr, sizeof(hdr));
			CHECK(rmi_page_check(wide, cap) == RMI_PAGE_OK,
				  "the widest columns rejected");
			free(wide);
		}
	}
	for (int s = RMI_PAGE_OK; s <= RMI_PAGE_SUMMARY_BAD; s++)
		for (int t = s + 1; t <= RMI_PAGE_SUMMARY_BAD; t++)
			CHECK(strcmp(rmi_page_status_message((RmiPageStatus) s),
						 rmi_page_status_message((RmiPageStatus) t)) != 0,
				  "statuses %d and %d share a message", s, t);
	free(p.alloc);
	free(e);
}

/* rmi_page_verify finds entries out of order, or one entry twice. */
static void
test_disorder(void)
{
	uint32_t	n = 500;
	RmiPageEntry *e = new_entries(SHAPE_CLUSTERED, n, 2);
	RmiPageEntry swap;
	TestPage	p;

	if (e == NULL)
		return;

	/* Two entries swapped: the encoder takes them, verify does not. */
	swap = e[100];
	e[100] = e[101];
	e[101] = swap;
	if (encode_exact(e, n, 1, &p))
	{
		CHECK(rmi_page_verify(p.buf, p.size) == RMI_PAGE_ORDER_BAD,
			  "swapped entries: %s",
			  rmi_page_status_message(rmi_page_verify(p.buf, p.size)));
		free(p.alloc);
	}
	e[101] = e[100];
	if (encode_exact(e, n, 0, &p))
	{
		CHECK(rmi_page_verify(p.buf, p.size) == RMI_PAGE_ORDER_BAD,
			  "an entry twice");
		free(p.alloc);
	}
	free(e);
}

/* The page codec's tests. */
void
page_tests(int big)
{
	(void) big;
	unit_run("page: round trips of every shape and size", test_round_trips);
	unit_run("page: limits of the count", test_limits);
	unit_run("page: fit is maximal and fits, for any guess", test_fit);
	unit_run("page: sizes of dense ids and random keys", test_sizes);
	unit_run("page: garbage search model still answers exactly",
			 test_garbage_model);
	unit_run("page: dead bits", test_dead_bits);
	unit_run("page: check and verify name each damage", test_damage);
	unit_run("page: verify finds disorder", test_disorder);
}
