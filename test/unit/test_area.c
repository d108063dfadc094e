/*
 * test_area.c
 *	  Unit tests of the insert area (rmi_area.h): rows of pages that take
 *	  inserts of every shape of key, fill their areas, repack and split
 *	  (area_sim.h), compared after every round with a plain sorted array:
 *	  every page's merged entries, searches and reads in both directions,
 *	  dead flags, the hole.  Also the plans, and the checks on damage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "area_sim.h"
#include "keygen.h"
#include "unit.h"

#define READ_RUN		80		/* entries read from each probe */
#define PROBES_A_ROUND	200
#define ROUNDS			40
#define KILL_EVERY		9		/* about one entry in this many is flagged dead */

/* How inserted keys are drawn. */
typedef enum InsertShape
{
	INSERT_RANDOM,				/* uniform 64-bit keys */
	INSERT_INCREASING,			/* ids: each key one past the last */
	INSERT_DUPLICATES,			/* a few hundred keys, random tids */
	INSERT_NARROW,				/* random keys within the packed range */
	INSERT_SHAPES
} InsertShape;

static const char *const insert_names[INSERT_SHAPES] = {
	"random", "increasing", "duplicates", "narrow"
};

/* The next entry of shape; *next_id counts increasing keys. */
static RmiPageEntry
draw_entry(InsertShape shape, uint64_t *state, uint64_t *next_id)
{
	RmiPageEntry e;
	uint64_t	r = keygen_random(state);

	memset(&e, 0, sizeof(e));
	switch (shape)
	{
		case INSERT_RANDOM:
			e.key = r;
			break;
		case INSERT_INCREASING:
			e.key = (*next_id)++;
			break;
		case INSERT_DUPLICATES:
			e.key = 1000 + r % 300;
			break;
		case INSERT_NARROW:
			e.key = r % 200000;
			break;
		default:
			break;
	}
	r = keygen_random(state);
	e.block = shape == INSERT_INCREASING ? (uint32_t) (e.key / 185) : (uint32_t) (r % 100000);
	e.offset = (uint16_t) (1 + (r >> 32) % 291);
	return e;
}

/*
 * Read READ_RUN entries from probe, forward or backward, chunk entries a
 * call, across pages as a scan does, and compare them with the
 * reference's from the same place.
 */
static void
check_read(const Sim *s, const RmiPageEntry *probe, int strict, int backward,
		   uint32_t chunk)
{
	RmiPageEntry got[READ_RUN];
	uint32_t	n_got = 0;
	uint32_t	at = page_reference_search(s->ref, s->n_ref, probe, strict);
	uint32_t	i = sim_route(s, probe);
	RmiAreaCursor c;
	uint32_t	want;
	uint32_t	j;

	rmi_area_seek(s->pages[i], s->cap, probe, strict, &c, NULL);
	/* read across pages as a scan does: next or previous page from its end */
	for (;;)
	{
		uint32_t	ask = chunk < READ_RUN - n_got ? chunk : READ_RUN - n_got;
		uint32_t	got_now = rmi_area_read(s->pages[i], s->cap, &c, backward,
											got + n_got, NULL, ask);

		n_got += got_now;
		if (n_got == READ_RUN)
			break;
		if (got_now == ask)
			continue;			/* the page may hold more */
		if (backward ? i == 0 : i + 1 == s->n_pages)
			break;
		i = backward ? i - 1 : i + 1;
		if (backward)
		{
			c.packed = rmi_page_count(s->pages[i]);
			c.area = rmi_area_count(s->pages[i]);
		}
		else
			c.packed = c.area = 0;
	}
	want = backward ? (at < READ_RUN ? at : READ_RUN) :
		(s->n_ref - at < READ_RUN ? s->n_ref - at : READ_RUN);
	CHECK(n_got == want, "read %u entries from the probe, reference has %u",
		  n_got, want);
	for (j = 0; j < n_got && j < want; j++)
	{
		const RmiPageEntry *w = &s->ref[backward ? at - 1 - j : at + j];

		CHECK(rmi_page_compare(&got[j], w) == 0 && got[j].dead == w->dead,
			  "entry %u of a %s read differs: key %llu, want %llu", j,
			  backward ? "backward" : "forward",
			  (unsigned long long) got[j].key, (unsigned long long) w->key);
	}
}

/* Compare every page with the reference, and probe it. */
static void
sim_check(const Sim *s, uint64_t *state)
{
	RmiPageEntry *all = (RmiPageEntry *) malloc(sizeof(RmiPageEntry) *
												(RMI_PAGE_MAX_ENTRIES + RMI_AREA_MAX_ENTRIES));
	uint32_t	at = 0;
	uint32_t	i;
	int			bad = 0;

	for (i = 0; i < s->n_pages && !bad; i++)
	{
		const unsigned char *p = s->pages[i];
		RmiPageStatus packed;
		RmiAreaStatus status = rmi_area_verify(p, s->cap, &packed);
		size_t		lower;
		size_t		upper;
		uint32_t	n;
		uint32_t	j;

		CHECK(status == RMI_AREA_OK, "page %u: %s (%s)", i,
			  rmi_area_status_message(status), rmi_page_status_message(packed));
		rmi_area_hole(p, s->cap, &lower, &upper);
		CHECK(lower <= upper && upper - lower == rmi_area_free(p, s->cap),
			  "page %u: hole %zu..%zu, free %zu", i, lower, upper,
			  rmi_area_free(p, s->cap));
		n = rmi_area_decode_all(p, s->cap, all);
		CHECK(n == rmi_area_total(p), "page %u: decoded %u of %u", i, n,
			  rmi_area_total(p));
		{
			RmiPageEntry first;
			RmiPageEntry last;
			int			have_first = rmi_area_edge(p, s->cap, 0, &first);
			int			have_last = rmi_area_edge(p, s->cap, 1, &last);

			CHECK(have_first == (n > 0) && have_last == (n > 0),
				  "page %u: edges of %u entries", i, n);
			CHECK(n == 0 || (rmi_page_compare(&first, &all[0]) == 0 &&
							 rmi_page_compare(&last, &all[n - 1]) == 0),
				  "page %u: its first and last entries are not the merged ends", i);
		}
		for (j = 0; j < n; j++, at++)
		{
			if (at >= s->n_ref || rmi_page_compare(&all[j], &s->ref[at]) != 0 ||
				all[j].dead != s->ref[at].dead)
			{
				CHECK(0, "page %u entry %u differs from reference entry %u", i, j, at);
				bad = 1;
				break;
			}
		}
	}
	CHECK(bad || at == s->n_ref, "pages hold %u entries, reference %u", at, s->n_ref);
	free(all);

	for (i = 0; i < PROBES_A_ROUND && s->n_ref > 0; i++)
	{
		RmiPageEntry probe = s->ref[keygen_random(state) % s->n_ref];
		uint64_t	r = keygen_random(state);

		if (r & 1)				/* absent: between two entries, or past */
			probe.offset = (uint16_t) (probe.offset + 1 + r % 3);
		check_read(s, &probe, (int) (r >> 8) & 1, (int) (r >> 9) & 1,
				   1 + (uint32_t) (r >> 10) % READ_RUN);
	}
}

/* Rounds of inserts of shape into a row of pages built from base keys. */
static void
run_rounds(InsertShape shape, KeyDist base, uint32_t base_n, size_t reserve,
		   uint32_t per_round, uint64_t seed)
{
	uint64_t	state = seed;
	uint64_t	next_id;
	uint64_t   *keys = (uint64_t *) malloc(sizeof(uint64_t) * base_n);
	RmiPageEntry *e = (RmiPageEntry *) calloc(base_n, sizeof(RmiPageEntry));
	uint32_t	ref_size = base_n + ROUNDS * per_round;
	Sim		   *s = (Sim *) malloc(sizeof(Sim));
	uint32_t	round;
	uint32_t	i;
	int			failures_before = unit_failures;

	if (keys == NULL || e == NULL || s == NULL ||
		keygen_fill(base, keys, base_n, seed) != 0)
	{
		CHECK(0, "setup failed");
		goto done;
	}
	for (i = 0; i < base_n; i++)
	{
		e[i].key = keys[i];
		e[i].block = i / 185;
		e[i].offset = (uint16_t) (1 + i % 185);
	}
	next_id = keys[base_n - 1] + 1;
	if (!sim_init(s, SIM_CAP, reserve, e, base_n, ref_size))
	{
		CHECK(0, "the build's plan failed");
		sim_free(s);
		goto done;
	}
	for (round = 0; round < ROUNDS && unit_failures == failures_before; round++)
	{
		for (i = 0; i < per_round; i++)
		{
			RmiPageEntry x = draw_entry(shape, &state, &next_id);

			if (sim_present(s, &x))
				continue;
			if (!sim_insert(s, &x))
			{
				CHECK(0, "insert %u of round %u failed", i, round);
				break;
			}
			if (keygen_random(&state) % KILL_EVERY == 0)
			{
				uint32_t	at = (uint32_t) (keygen_random(&state) % s->n_ref);
				int			was_live = !s->ref[at].dead;

				sim_set_dead(s, at, 1);
				/* a heap TID VACUUM freed, back with the same key */
				if (was_live && keygen_random(&state) % 4 == 0)
					sim_set_dead(s, at, 0);
			}
		}
		sim_check(s, &state);
	}
	if (getenv("AREA_DEBUG"))
		fprintf(stderr, "%s: pages %u repacks %u splits %u appends %u entries %u, "
				"%.1f entries encoded an insert\n",
				insert_names[shape], s->n_pages, s->repacks, s->splits, s->appends,
				s->n_ref, (double) s->encoded / (s->inserted ? s->inserted : 1));
	if (shape == INSERT_INCREASING)
	{
		/*
		 * Appended pages end about full: no more of them than packing the
		 * appended entries afresh makes, and a tenth.
		 */
		uint32_t	starts[SIM_MAX_PAGES];
		uint32_t	from = page_reference_search(s->ref, s->n_ref, &e[base_n - 1], 1);
		uint32_t	fresh = rmi_area_plan(s->ref + from, s->n_ref - from, s->cap,
										  SIM_APPEND_RESERVE, 1, starts,
										  SIM_MAX_PAGES);

		CHECK(s->appends > 0 && s->repacks > 0 && fresh > 0 &&
			  (s->n_pages - s->built_pages) * 10 <= fresh * 11 + 10,
			  "increasing keys: %u areas moved, %u repacks, %u pages added, "
			  "%u when packed afresh",
			  s->appends, s->repacks, s->n_pages - s->built_pages, fresh);
	}
	else
		CHECK(s->splits > 0, "%s inserts never split a page", insert_names[shape]);
	sim_free(s);
done:
	free(s);
	free(keys);
	free(e);
}

static void
test_area_rounds(void)
{
	int			shape;

	for (shape = 0; shape < INSERT_SHAPES; shape++)
	{
		run_rounds((InsertShape) shape, DIST_DENSE, 20000, SIM_CAP / 4, 500, 11 + shape);
		run_rounds((InsertShape) shape, DIST_SPARSE, 20000, SIM_CAP / 8, 500, 21 + shape);
		run_rounds((InsertShape) shape, DIST_DUPLICATES, 5000, SIM_CAP / 2, 300, 31 + shape);
	}
}

/* An area of inserts on one page gives back what went in, in order. */
static void
test_area_basics(void)
{
	unsigned char *page = (unsigned char *) calloc(1, SIM_CAP);
	RmiPageEntry packed[100];
	RmiPageEntry out[RMI_AREA_MAX_ENTRIES + 100];
	uint32_t	i;
	int			took = 0;

	for (i = 0; i < 100; i++)
	{
		memset(&packed[i], 0, sizeof(packed[i]));
		packed[i].key = 10 * i;
		packed[i].block = 1;
		packed[i].offset = (uint16_t) (i + 1);
	}
	CHECK(rmi_page_encode(packed, 100, page, SIM_CAP) > 0, "encode");
	CHECK(rmi_area_count(page) == 0, "a new page has an empty area");
	CHECK(rmi_area_appends_only(page, SIM_CAP), "an empty area is only appends");
	/* keys 5, 15, ... descending, until the area is full */
	for (i = 0;; i++)
	{
		RmiPageEntry e;

		memset(&e, 0, sizeof(e));
		e.key = 10 * (i * 37 % 100) + 5;
		e.block = 2 + i / 100;
		if (rmi_area_insert(page, SIM_CAP, &e) < 0)
			break;
		took++;
	}
	CHECK(took > 100 && rmi_area_free(page, SIM_CAP) < RMI_AREA_ENTRY_BYTES,
		  "the area took %d entries and has %zu bytes left", took,
		  rmi_area_free(page, SIM_CAP));
	CHECK(rmi_area_verify(page, SIM_CAP, NULL) == RMI_AREA_OK, "verify");
	CHECK(rmi_area_decode_all(page, SIM_CAP, out) == 100 + (uint32_t) took, "total");
	for (i = 1; i < 100 + (uint32_t) took; i++)
		CHECK(rmi_page_compare(&out[i - 1], &out[i]) < 0, "merged order at %u", i);
	CHECK(!rmi_area_appends_only(page, SIM_CAP), "keys inside the packed range");
	rmi_area_clear(page, SIM_CAP);
	CHECK(rmi_area_count(page) == 0 && rmi_area_verify(page, SIM_CAP, NULL) == RMI_AREA_OK,
		  "clear");
	free(page);
}

/* Damaged areas fail the checks, and reads stay inside the page. */
static void
test_area_damage(void)
{
	unsigned char *page = (unsigned char *) calloc(1, SIM_CAP);
	RmiPageEntry e[10];
	RmiPageEntry out[20];
	RmiPageEntry probe;
	size_t		order;
	uint32_t	n;
	uint16_t	r;
	uint32_t	i;
	RmiAreaCursor c;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 10; i++)
		e[i].key = 2 * i;
	rmi_page_encode(e, 10, page, SIM_CAP);
	for (i = 0; i < 5; i++)
	{
		RmiPageEntry x = e[i];

		x.key = 2 * i + 1;
		rmi_area_insert(page, SIM_CAP, &x);
	}
	order = rmi_page_bytes(page);

	/* a record number past the count */
	r = 4000;
	memcpy(page + order + 2, &r, sizeof(r));
	CHECK(rmi_area_check(page, SIM_CAP, NULL) == RMI_AREA_OK, "check is O(1)");
	CHECK(rmi_area_verify(page, SIM_CAP, NULL) == RMI_AREA_ORDER_BAD,
		  "verify sees a bad record number");
	memset(&probe, 0, sizeof(probe));
	probe.key = 3;
	rmi_area_seek(page, SIM_CAP, &probe, 0, &c, NULL);
	n = rmi_area_read(page, SIM_CAP, &c, 0, out, NULL, 20);
	CHECK(n <= 15 && c.packed <= 10 && c.area <= 5,
		  "a damaged order reads %u entries, cursor %u/%u", n, c.packed, c.area);

	/* a record number twice */
	r = 0;
	memcpy(page + order + 2, &r, sizeof(r));
	CHECK(rmi_area_verify(page, SIM_CAP, NULL) == RMI_AREA_ORDER_BAD,
		  "verify sees a repeated record number");

	/* an area entry equal to a packed one */
	rmi_area_clear(page, SIM_CAP);
	rmi_area_insert(page, SIM_CAP, &e[3]);
	CHECK(rmi_area_verify(page, SIM_CAP, NULL) == RMI_AREA_DUPLICATE,
		  "verify sees an entry in both parts");

	/* a count the page cannot hold */
	n = SIM_CAP / RMI_AREA_ENTRY_BYTES;
	memcpy(page + offsetof(RmiPageHeader, area), &n, sizeof(n));
	CHECK(rmi_area_check(page, SIM_CAP, NULL) == RMI_AREA_SHORT, "a count too big");
	n = RMI_AREA_MAX_ENTRIES + 1;
	memcpy(page + offsetof(RmiPageHeader, area), &n, sizeof(n));
	CHECK(rmi_area_check(page, SIM_CAP * 64, NULL) == RMI_AREA_SHORT,
		  "a count above the maximum");
	free(page);
}

/* Plans: every page fits with its reserve, rightmost ones are full. */
static void
test_area_plan(void)
{
	uint32_t	n = 50000;
	uint64_t   *keys = (uint64_t *) malloc(sizeof(uint64_t) * n);
	RmiPageEntry *e = (RmiPageEntry *) calloc(n, sizeof(RmiPageEntry));
	uint32_t	starts[64];
	int			rightmost;
	uint32_t	i;

	keygen_fill(DIST_SPARSE, keys, n, 5);
	for (i = 0; i < n; i++)
	{
		e[i].key = keys[i];
		e[i].block = i;
		e[i].offset = 1;
	}
	for (rightmost = 0; rightmost < 2; rightmost++)
	{
		size_t		reserve = rightmost ? 64 : SIM_CAP / 4;
		uint32_t	k = rmi_area_plan(e, n, SIM_CAP, reserve, rightmost, starts, 64);
		uint32_t	j;

		CHECK(k > 1, "a plan of %u pages", k);
		for (j = 0; j < k; j++)
		{
			uint32_t	to = j + 1 < k ? starts[j + 1] : n;
			size_t		size = rmi_page_size(e + starts[j], to - starts[j]);

			CHECK(size + reserve <= SIM_CAP, "page %u of the plan: %zu bytes", j, size);
			if (rightmost && j + 1 < k)
				CHECK(rmi_page_size(e + starts[j], to - starts[j] + 1) + reserve > SIM_CAP,
					  "rightmost page %u is not full", j);
			if (!rightmost && j > 0)
				CHECK(to - starts[j] + 1 >= starts[j] - starts[j - 1] &&
					  to - starts[j] <= starts[j] - starts[j - 1] + 1,
					  "even plan: pages of %u and %u", starts[j] - starts[j - 1],
					  to - starts[j]);
		}
	}
	CHECK(rmi_area_plan(e, n, SIM_CAP, SIM_CAP / 4, 0, starts, 2) == 0,
		  "a plan that needs more pages than allowed fails");
	free(keys);
	free(e);
}

void
area_tests(int big)
{
	(void) big;
	unit_run("area: inserts on one page", test_area_basics);
	unit_run("area: damage", test_area_damage);
	unit_run("area: plans", test_area_plan);
	unit_run("area: rows of pages against a sorted array", test_area_rounds);
}
