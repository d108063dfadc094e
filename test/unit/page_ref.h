/*
 * page_ref.h
 *	  The plain reference the page codec's answers are compared with,
 *	  shared by the unit tests (test_page.c) and the fuzz target
 *	  (test/fuzz/fuzz_page.c).
 */
#ifndef KYRO_PAGE_REF_H
#define KYRO_PAGE_REF_H

#include <stdint.h>

#include "rmi_page.h"

/* qsort order of entries: (key, block, offset). */
static inline int
page_entry_cmp(const void *a, const void *b)
{
	return rmi_page_compare((const RmiPageEntry *) a, (const RmiPageEntry *) b);
}

/* First slot of e[0..n) whose entry is >= probe (> probe if strict). */
static inline uint32_t
page_reference_search(const RmiPageEntry *e, uint32_t n,
					  const RmiPageEntry *probe, int strict)
{
	uint32_t	lo = 0;
	uint32_t	hi = n;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		int			cmp = rmi_page_compare(&e[mid], probe);

		if (strict ? cmp <= 0 : cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif							/* KYRO_PAGE_REF_H */
