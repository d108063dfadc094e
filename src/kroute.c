/*-------------------------------------------------------------------------
 *
 * kroute.c
 *	  Routing an entry to its snapshot page: the root model over the
 *	  directory a backend keeps in memory.
 *
 * Scans and inserts both route this way.  Snapshot page p holds the
 * entries from its directory item's first entry up to the next page's
 * (the first page from minus infinity, the last to plus infinity); a
 * page's insert area only ever takes entries of its own range, so the
 * directory's first entries still partition the snapshot however many
 * inserts the pages took.  The search is the model library's checked
 * window search (rmi_search), galloping when the model was wrong: a stale
 * or damaged model costs comparisons, never a wrong page.
 *
 * src/kroute.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kyrodb.h"

/* What the root's search compares with. */
typedef struct KyroRouteSearch
{
	const uint64 *first_keys;	/* of the pages searched, from the first */
	const KyroDirItem *items;
	RmiPageEntry probe;
	bool		strict;
	uint64		compared;		/* directory entries compared */
} KyroRouteSearch;

/*
 * The root's callback: whether page pos starts before the probe (or at
 * it, if strict).  The dense array of first keys decides unless the key
 * equals the probe's.
 */
static int
page_starts_before(const void *arg, uint64 pos)
{
	KyroRouteSearch *search = (KyroRouteSearch *) arg;
	const KyroDirItem *item;
	RmiPageEntry first;
	int			cmp;

	search->compared++;
	if (search->first_keys[pos] != search->probe.key)
		return search->first_keys[pos] < search->probe.key;
	item = &search->items[pos];
	first.key = item->first_key;
	first.block = item->first_block;
	first.offset = item->first_offset;
	cmp = rmi_page_compare(&first, &search->probe);
	return search->strict ? cmp <= 0 : cmp < 0;
}

/*
 * The snapshot page whose range holds probe: the last page (among the
 * pages with keys, or the NULL pages for a NULL probe) that starts before
 * probe, or at it if strict; the first of them if none does.  Adds the
 * directory entries compared to *compared and sets *mispredicted (if
 * given) when the model's window missed.  The snapshot must have a page
 * of probe's kind.
 */
uint32
KyroRoutePage(const KyroSnapCache *snap, const KyroEntry *probe, bool strict,
			  uint64 *compared, bool *mispredicted)
{
	uint32		first_page = probe->isnull ? snap->key_pages : 0;
	uint32		npages = probe->isnull ? snap->snap_pages - snap->key_pages :
		snap->key_pages;
	KyroRouteSearch search;
	int			missed = 0;
	uint64		starts;

	Assert(npages > 0);
	KyroEntryToPage(&search.probe, probe);
	search.first_keys = probe->isnull ? snap->null_keys : snap->first_keys;
	search.items = &snap->items[first_page];
	search.strict = strict;
	search.compared = 0;

	/* the first page that starts after the probe */
	if (!probe->isnull && snap->has_model)
		starts = rmi_search(&snap->model, npages, search.probe.key,
							page_starts_before, &search, &missed);
	else
		starts = rmi_search_window(npages, 0, npages - 1, page_starts_before,
								   &search, NULL);
	*compared += search.compared;
	if (mispredicted)
		*mispredicted = missed != 0;
	return first_page + (starts == 0 ? 0 : (uint32) starts - 1);
}
