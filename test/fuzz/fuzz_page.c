/*
 * fuzz_page.c
 *	  libFuzzer target over the page codec.  Arbitrary bytes are read as a
 *	  page, at their own length and in a page-sized buffer: whatever
 *	  rmi_page_check accepts must be read, searched and marked dead
 *	  without a bad read, and searched exactly whenever its entries are in
 *	  order.  The bytes also make a set of entries that must encode,
 *	  decode, fit and search exactly, and survive damage to their page.
 *	  Any wrong answer aborts, as does any bad read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "page_ref.h"
#include "rmi_page.h"

#define PAGE_CAP		8152	/* a PostgreSQL page less header and special */
#define MAX_DERIVED		600		/* entries made from one input */
#define MAX_PROBES		64
#define PROBE_BYTES		14		/* key, block, offset */
#define DAMAGE_BYTES	4		/* bytes of the encoded page flipped */

static RmiPageEntry decoded[RMI_PAGE_MAX_ENTRIES];
static RmiPageEntry derived[MAX_DERIVED];

/* Search both ways; abort on a slot out of range or, if exact, a wrong one. */
static void
search_both(const void *buf, const RmiPageEntry *e, uint32_t n,
			const RmiPageEntry *probe, int exact)
{
	for (int strict = 0; strict <= 1; strict++)
	{
		int			mis = -1;
		uint32_t	got = rmi_page_search(buf, probe, strict, &mis);

		if (got > n || (mis != 0 && mis != 1))
			abort();
		if (exact && got != page_reference_search(e, n, probe, strict))
			abort();
	}
}

/* Probes from the input's bytes, and around entries the bytes pick. */
static void
probe_page(const void *buf, const RmiPageEntry *e, uint32_t n, int exact,
		   const uint8_t *data, size_t size)
{
	RmiPageEntry p;
	int			probes = 0;

	memset(&p, 0, sizeof(p));
	for (size_t i = 0; i + PROBE_BYTES <= size && probes < MAX_PROBES;
		 i += PROBE_BYTES, probes++)
	{
		memcpy(&p.key, data + i, 8);
		memcpy(&p.block, data + i + 8, 4);
		memcpy(&p.offset, data + i + 12, 2);
		search_both(buf, e, n, &p, exact);

		/* an entry of the page, with its tid moved a little */
		p = e[p.key % n];
		search_both(buf, e, n, &p, exact);
		p.offset += (uint16_t) (data[i] % 3) - 1;
		search_both(buf, e, n, &p, exact);
		p.key += (uint64_t) (data[i + 1] % 3) - 1;
		p.block = 0;
		p.offset = 0;
		search_both(buf, e, n, &p, exact);
	}
}

/* Whether e[0..n) is strictly ascending. */
static int
in_order(const RmiPageEntry *e, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++)
		if (rmi_page_compare(&e[i - 1], &e[i]) >= 0)
			return 0;
	return 1;
}

/*
 * Everything a reader may do to a page that passed rmi_page_check.  The
 * search must be exact whenever the entries are in order, whatever the
 * model holds.
 */
static void
exercise_page(const unsigned char *buf, size_t cap, const uint8_t *data,
			  size_t size)
{
	unsigned char *copy;
	RmiPageEntry one;
	RmiPageStatus status;
	uint32_t	n;
	uint32_t	slot;

	if (rmi_page_check(buf, cap) != RMI_PAGE_OK)
		return;
	status = rmi_page_verify(buf, cap);
	if (rmi_page_status_message(status) == NULL)
		abort();
	n = rmi_page_count(buf);
	if (n == 0 || n > RMI_PAGE_MAX_ENTRIES)
		abort();
	rmi_page_decode(buf, 0, n, decoded);
	if (status == RMI_PAGE_OK && !in_order(decoded, n))
		abort();

	/* The single-slot readers agree with the run decoder. */
	slot = size > 0 ? (uint32_t) (data[size - 1] * 131u) % n : 0;
	rmi_page_get(buf, slot, &one);
	if (rmi_page_compare(&one, &decoded[slot]) != 0 ||
		one.dead != decoded[slot].dead ||
		rmi_page_key(buf, slot) != decoded[slot].key)
		abort();

	probe_page(buf, decoded, n, in_order(decoded, n), data, size);

	/* Marking a slot dead changes that bit and nothing else. */
	copy = malloc(cap);
	if (copy == NULL)
		return;
	memcpy(copy, buf, cap);
	rmi_page_set_dead(copy, slot, 1);
	rmi_page_get(copy, slot, &one);
	if (one.dead != 1 || rmi_page_compare(&one, &decoded[slot]) != 0 ||
		rmi_page_check(copy, cap) != RMI_PAGE_OK)
		abort();
	free(copy);
}

/*
 * Entries made from the bytes: the first bytes choose how keys, blocks
 * and offsets are drawn, the rest supply them.  Sorted, without repeats.
 */
static uint32_t
derive_entries(const uint8_t *data, size_t size)
{
	uint32_t	want = 1 + (uint32_t) (data[0] | data[1] << 8) % MAX_DERIVED;
	uint32_t	key_shift = data[2] % 64;
	int			key_mode = data[3] % 4;
	int			tid_mode = data[4] % 3;
	uint64_t	key = 0;
	uint32_t	n = 1;
	size_t		at = 5;

	for (uint32_t i = 0; i < want; i++)
	{
		uint64_t	raw = 0;

		for (int b = 0; b < 8; b++)
			raw = raw << 8 | data[(at + b) % size];
		at += 3;
		switch (key_mode)
		{
			case 0:				/* ascending by byte-sized steps */
				key += (uint64_t) (raw & 0xFF) << key_shift;
				break;
			case 1:				/* any 64-bit values */
				key = raw;
				break;
			case 2:				/* a few keys, many entries each */
				key = raw % 5;
				break;
			default:			/* a line with noise */
				key = (uint64_t) i * (1 + data[2]) + (raw & 0xF);
				break;
		}
		derived[i].key = key;
		derived[i].block = tid_mode == 0 ? i / 7 :
			tid_mode == 1 ? (uint32_t) (raw >> 8) : (uint32_t) (raw >> 40) % 3;
		derived[i].offset = tid_mode == 0 ? (uint16_t) (i % 7 + 1) :
			(uint16_t) (raw >> 24);
		derived[i].dead = (uint16_t) ((raw >> 5) & 1);
	}
	qsort(derived, want, sizeof(RmiPageEntry), page_entry_cmp);
	for (uint32_t i = 1; i < want; i++)
		if (rmi_page_compare(&derived[n - 1], &derived[i]) != 0)
			derived[n++] = derived[i];
	return n;
}

/* Encode derived entries; everything about the page must be exact. */
static void
round_trip(const uint8_t *data, size_t size)
{
	uint32_t	n = derive_entries(data, size);
	size_t		bytes = rmi_page_size(derived, n);
	unsigned char *buf = malloc(bytes);
	size_t		cap;
	uint32_t	m;

	if (buf == NULL)
		return;
	if (rmi_page_encode(derived, n, buf, bytes) != bytes ||
		rmi_page_verify(buf, bytes) != RMI_PAGE_OK)
		abort();
	rmi_page_decode(buf, 0, n, decoded);
	for (uint32_t i = 0; i < n; i++)
		if (rmi_page_compare(&decoded[i], &derived[i]) != 0 ||
			decoded[i].dead != (derived[i].dead != 0))
			abort();
	probe_page(buf, derived, n, 1, data, size);

	/* The fit fits, and one more entry would not. */
	cap = (size_t) (data[5] | data[6] << 8) % (bytes + 64);
	m = rmi_page_fit(derived, n, cap, data[7]);
	if (m > n || (m > 0 && rmi_page_size(derived, m) > cap) ||
		(m < n && rmi_page_size(derived, m + 1) <= cap))
		abort();

	/* Damage a few bytes; the readers must cope. */
	for (int d = 0; d < DAMAGE_BYTES && 8 + 2 * d + 1 < size; d++)
		buf[(data[8 + 2 * d] * 37u + d) % bytes] ^= data[8 + 2 * d + 1];
	exercise_page(buf, bytes, data, size);
	free(buf);
}

/* One input: a raw page at two capacities, then a round trip. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *page;

	/* At the input's own length: any read past it is caught. */
	exercise_page(data, size, data, size);

	/* In a page-sized buffer, zero past the input. */
	page = calloc(1, PAGE_CAP);
	if (page == NULL)
		return 0;
	memcpy(page, data, size < PAGE_CAP ? size : PAGE_CAP);
	exercise_page(page, PAGE_CAP, data, size);
	free(page);

	if (size >= 16)
		round_trip(data, size);
	return 0;
}
