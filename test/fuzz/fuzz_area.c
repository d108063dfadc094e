/*
 * fuzz_area.c
 *	  libFuzzer target over the insert area.  Arbitrary bytes are read as a
 *	  page: whatever rmi_area_check accepts must be verified, searched, read
 *	  both ways and marked dead without a bad read, and read in order when
 *	  rmi_area_verify accepts it.  The bytes also drive a row of pages
 *	  (test/unit/area_sim.h) through inserts, dead flags, repacks and splits
 *	  against a sorted array, and any difference aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "area_sim.h"

#define OP_BYTES		6		/* an operation: kind, key, tid */
#define MAX_OPS			1500
#define SMALL_CAP		1024	/* small pages, so areas fill and split soon */
#define READ_MAX		64

static unsigned char page[SIM_CAP];
static RmiPageEntry out[RMI_PAGE_MAX_ENTRIES + RMI_AREA_MAX_ENTRIES];

/* The bytes as a page: every reader stays inside it. */
static void
read_raw(const uint8_t *data, size_t size)
{
	RmiAreaCursor c;
	RmiPageEntry probe;
	uint32_t	n;
	int			backward;

	memset(page, 0, sizeof(page));
	memcpy(page, data, size < sizeof(page) ? size : sizeof(page));
	if (rmi_area_check(page, sizeof(page), NULL) != RMI_AREA_OK)
		return;
	memset(&probe, 0, sizeof(probe));
	if (size >= 8)
		memcpy(&probe.key, data + size - 8, 8);
	for (backward = 0; backward <= 1; backward++)
	{
		rmi_area_seek(page, sizeof(page), &probe, backward, &c, NULL);
		n = rmi_area_read(page, sizeof(page), &c, backward, out, NULL, READ_MAX);
		if (n > READ_MAX || c.packed > rmi_page_count(page) ||
			c.area > rmi_area_count(page))
			abort();
	}
	n = rmi_area_decode_all(page, sizeof(page), out);
	if (n != rmi_area_total(page))
		abort();
	/* in order; two equal entries only if one is dead (a reused heap TID) */
	if (rmi_area_verify(page, sizeof(page), NULL) == RMI_AREA_OK)
		for (uint32_t i = 1; i < n; i++)
		{
			int			cmp = rmi_page_compare(&out[i - 1], &out[i]);

			if (cmp > 0 || (cmp == 0 && !out[i - 1].dead && !out[i].dead))
				abort();
		}
	if (rmi_area_count(page) > 0)
		rmi_area_set_dead(page, sizeof(page), (uint32_t) (probe.key % rmi_area_count(page)), 1);
	(void) rmi_area_insert(page, sizeof(page), &probe);
}

/* The bytes as operations on a row of small pages. */
static void
run_ops(const uint8_t *data, size_t size)
{
	static Sim	sim;
	RmiPageEntry first;
	uint32_t	ops = (uint32_t) (size / OP_BYTES);

	if (ops > MAX_OPS)
		ops = MAX_OPS;
	memset(&first, 0, sizeof(first));
	first.key = 1000;
	if (!sim_init(&sim, SMALL_CAP, SMALL_CAP / 4, &first, 1, ops + 1))
		abort();
	for (uint32_t i = 0; i < ops; i++)
	{
		const uint8_t *op = data + (size_t) i * OP_BYTES;
		RmiPageEntry e;
		uint16_t	key;

		memset(&e, 0, sizeof(e));
		memcpy(&key, op + 1, 2);
		e.key = op[0] & 0x80 ? (uint64_t) key << 40 : key;	/* narrow and wide */
		e.block = op[3];
		e.offset = (uint16_t) (op[4] | op[5] << 8);
		if ((op[0] & 7) == 7 && sim.n_ref > 0)
			sim_set_dead(&sim, (uint32_t) (e.key % sim.n_ref), 1);
		else if (!sim_present(&sim, &e) && !sim_insert(&sim, &e))
			abort();
	}
	/* every page verifies, and the pages hold the reference's entries */
	{
		uint32_t	at = 0;

		for (uint32_t p = 0; p < sim.n_pages; p++)
		{
			uint32_t	n;

			if (rmi_area_verify(sim.pages[p], sim.cap, NULL) != RMI_AREA_OK)
				abort();
			n = rmi_area_decode_all(sim.pages[p], sim.cap, out);
			for (uint32_t j = 0; j < n; j++, at++)
				if (at >= sim.n_ref || rmi_page_compare(&out[j], &sim.ref[at]) != 0 ||
					out[j].dead != sim.ref[at].dead)
					abort();
		}
		if (at != sim.n_ref)
			abort();
	}
	sim_free(&sim);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_raw(data, size);
	run_ops(data, size);
	return 0;
}
