/*
 * area_sim.h
 *	  A row of pages that take their own inserts, built from the page codec
 *	  and its insert area (rmi_area.h) the way the access method uses them,
 *	  beside a plain sorted array of the same entries: the reference.  Shared
 *	  by the unit tests (test_area.c) and the fuzz target
 *	  (test/fuzz/fuzz_area.c).
 *
 * An insert goes to the page whose range holds its entry (the last page
 * whose first entry is at or before it), into the area.  A full area
 * repacks the page: its entries, dead ones dropped, are planned as one or
 * more pages (rmi_area_plan) that keep the reserve free each; the last
 * page plans as a rightmost one.  A last page that took only appends
 * repacks in place, keeping only SIM_APPEND_RESERVE free, while its
 * entries fit; once they do not, it keeps its packed part and moves its
 * area to a new page, as a B-tree's rightmost split starts a new page, so
 * that appends never re-encode a full page.
 * sim_check compares every page and every search with the reference.
 */
#ifndef KYRO_AREA_SIM_H
#define KYRO_AREA_SIM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "page_ref.h"
#include "rmi_area.h"

#define SIM_CAP			8152	/* a PostgreSQL page less header and special */
#define SIM_MAX_PAGES	4096
#define SIM_MAX_SPLIT	16		/* pages one repack may write */
#define SIM_APPEND_RESERVE (16 * RMI_AREA_ENTRY_BYTES)	/* the last page's,
														 * under appends */

typedef struct Sim
{
	unsigned char *pages[SIM_MAX_PAGES];	/* each exactly cap bytes */
	uint32_t	n_pages;
	uint32_t	built_pages;	/* pages sim_init wrote */
	size_t		cap;
	size_t		reserve;		/* bytes a repacked page keeps free */
	RmiPageEntry *ref;			/* every entry, sorted */
	uint32_t	n_ref;
	uint32_t	ref_size;
	RmiPageEntry *scratch;		/* a page's entries while repacking */
	uint32_t	repacks;
	uint32_t	splits;
	uint32_t	appends;		/* areas moved to a new page */
	uint64_t	inserted;
	uint64_t	encoded;		/* entries encoded by repacks and moves */
	int			failed;			/* a step the codec refused */
} Sim;

static inline unsigned char *
sim_new_page(Sim *s)
{
	unsigned char *p = (unsigned char *) calloc(1, s->cap);

	if (s->n_pages == SIM_MAX_PAGES || p == NULL)
	{
		free(p);
		s->failed = 1;
		return NULL;
	}
	return p;
}

/* Start with e[0..n) (sorted, n > 0) packed as a build would. */
static inline int
sim_init(Sim *s, size_t cap, size_t reserve, const RmiPageEntry *e, uint32_t n,
		 uint32_t ref_size)
{
	uint32_t	starts[SIM_MAX_PAGES];
	uint32_t	k;
	uint32_t	i;

	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->reserve = reserve;
	s->ref_size = ref_size;
	s->ref = (RmiPageEntry *) malloc(sizeof(RmiPageEntry) * ref_size);
	s->scratch = (RmiPageEntry *) malloc(sizeof(RmiPageEntry) *
										 (RMI_PAGE_MAX_ENTRIES + RMI_AREA_MAX_ENTRIES + 1));
	if (s->ref == NULL || s->scratch == NULL || n == 0 || n > ref_size)
		return 0;
	memcpy(s->ref, e, sizeof(*e) * n);
	s->n_ref = n;
	k = rmi_area_plan(e, n, cap, reserve, 0, starts, SIM_MAX_PAGES);
	if (k == 0)
		return 0;
	for (i = 0; i < k; i++)
	{
		uint32_t	to = i + 1 < k ? starts[i + 1] : n;
		unsigned char *p = sim_new_page(s);

		if (p == NULL || rmi_page_encode(e + starts[i], to - starts[i], p, cap) == 0)
		{
			free(p);
			return 0;
		}
		s->pages[s->n_pages++] = p;
	}
	s->built_pages = s->n_pages;
	return 1;
}

static inline void
sim_free(Sim *s)
{
	uint32_t	i;

	for (i = 0; i < s->n_pages; i++)
		free(s->pages[i]);
	free(s->ref);
	free(s->scratch);
}

/* The page whose range holds e: the last whose first entry is <= e. */
static inline uint32_t
sim_route(const Sim *s, const RmiPageEntry *e)
{
	uint32_t	lo = 1;
	uint32_t	hi = s->n_pages;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		RmiPageEntry first;

		rmi_page_get(s->pages[mid], 0, &first);
		if (rmi_page_compare(&first, e) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* Put pages new[0..k) in place of page i. */
static inline void
sim_replace(Sim *s, uint32_t i, unsigned char **new_pages, uint32_t k)
{
	free(s->pages[i]);
	memmove(&s->pages[i + k], &s->pages[i + 1],
			sizeof(s->pages[0]) * (s->n_pages - i - 1));
	memcpy(&s->pages[i], new_pages, sizeof(new_pages[0]) * k);
	s->n_pages += k - 1;
}

/*
 * Drop the dead entries of e[0..n) but keep one entry, so that a page is
 * never empty; returns the count kept.  The reference drops the same.
 */
static inline uint32_t
sim_drop_dead(RmiPageEntry *e, uint32_t n)
{
	uint32_t	kept = 0;
	uint32_t	i;

	for (i = 0; i < n; i++)
		if (!e[i].dead)
			e[kept++] = e[i];
	if (kept == 0 && n > 0)
		kept = 1;				/* e[0] is still the first entry */
	return kept;
}

/* Repack page i; 0 if the codec could not. */
static inline int
sim_repack(Sim *s, uint32_t i)
{
	unsigned char *page = s->pages[i];
	unsigned char *new_pages[SIM_MAX_SPLIT];
	uint32_t	starts[SIM_MAX_SPLIT];
	uint32_t	n;
	uint32_t	k;
	uint32_t	j;
	int			last = i + 1 == s->n_pages;
	size_t		reserve = s->reserve;

	if (last && rmi_area_appends_only(page, s->cap) && rmi_area_count(page) > 0)
		reserve = SIM_APPEND_RESERVE;
	n = rmi_area_decode_all(page, s->cap, s->scratch);
	if (reserve == SIM_APPEND_RESERVE &&
		(n > RMI_PAGE_MAX_ENTRIES ||
		 rmi_page_size(s->scratch, n) + reserve > s->cap))
	{
		unsigned char *p = sim_new_page(s);
		RmiAreaCursor c = {rmi_page_count(page), 0};

		if (p == NULL)
			return 0;
		n = rmi_area_read(page, s->cap, &c, 0, s->scratch, NULL,
						  rmi_area_count(page));
		if (rmi_page_encode(s->scratch, n, p, s->cap) == 0)
		{
			free(p);
			return 0;
		}
		rmi_area_clear(page, s->cap);
		s->encoded += n;
		s->pages[s->n_pages++] = p;
		s->appends++;
		return 1;
	}

	{
		/* the reference drops the same dead entries */
		RmiPageEntry first = s->scratch[0];
		uint32_t	from = page_reference_search(s->ref, s->n_ref, &first, 0);
		uint32_t	kept = sim_drop_dead(s->ref + from, n);

		memmove(s->ref + from + kept, s->ref + from + n,
				sizeof(RmiPageEntry) * (s->n_ref - from - n));
		s->n_ref -= n - kept;
		n = sim_drop_dead(s->scratch, n);
	}
	k = rmi_area_plan(s->scratch, n, s->cap, reserve, last, starts,
					  SIM_MAX_SPLIT);
	if (k == 0)
		return 0;
	for (j = 0; j < k; j++)
	{
		uint32_t	to = j + 1 < k ? starts[j + 1] : n;

		new_pages[j] = sim_new_page(s);
		if (new_pages[j] == NULL ||
			rmi_page_encode(s->scratch + starts[j], to - starts[j],
							new_pages[j], s->cap) == 0)
		{
			for (uint32_t f = 0; f <= j; f++)
				free(new_pages[f]);
			return 0;
		}
	}
	sim_replace(s, i, new_pages, k);
	s->encoded += n;
	s->repacks++;
	if (k > 1)
		s->splits++;
	return 1;
}

/* Insert e (not yet present); 0 if the codec failed a step. */
static inline int
sim_insert(Sim *s, const RmiPageEntry *e)
{
	uint32_t	at;
	int			tries;

	if (s->n_ref == s->ref_size)
		return 0;
	for (tries = 0; tries < 2; tries++)
	{
		uint32_t	i = sim_route(s, e);

		if (rmi_area_insert(s->pages[i], s->cap, e) >= 0)
		{
			at = page_reference_search(s->ref, s->n_ref, e, 0);
			memmove(s->ref + at + 1, s->ref + at,
					sizeof(RmiPageEntry) * (s->n_ref - at));
			s->ref[at] = *e;
			s->n_ref++;
			s->inserted++;
			return 1;
		}
		if (!sim_repack(s, i))
			return 0;
	}
	return 0;					/* a repacked page must take one entry */
}

/* 1 if e is in the reference. */
static inline int
sim_present(const Sim *s, const RmiPageEntry *e)
{
	uint32_t	at = page_reference_search(s->ref, s->n_ref, e, 0);

	return at < s->n_ref && rmi_page_compare(&s->ref[at], e) == 0;
}

/*
 * Set or clear the dead flag of the entry the reference holds at position
 * at, in both (a repack drops dead area entries: revive only an entry
 * that was live when it was flagged).
 */
static inline void
sim_set_dead(Sim *s, uint32_t at, int dead)
{
	const RmiPageEntry *e = &s->ref[at];
	unsigned char *page = s->pages[sim_route(s, e)];
	uint32_t	slot = rmi_page_search(page, e, 0, NULL);
	uint32_t	pos = rmi_area_search(page, s->cap, e, 0);
	RmiPageEntry got;

	s->ref[at].dead = (uint16_t) dead;
	if (slot < rmi_page_count(page))
	{
		rmi_page_get(page, slot, &got);
		if (rmi_page_compare(&got, e) == 0)
		{
			rmi_page_set_dead(page, slot, dead);
			return;
		}
	}
	if (pos < rmi_area_count(page))
		rmi_area_set_dead(page, s->cap, pos, dead);
}

#endif							/* KYRO_AREA_SIM_H */
