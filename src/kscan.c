/*-------------------------------------------------------------------------
 *
 * kscan.c
 *	  Scans of a kyro_rmi index: every qual, both directions, index-only
 *	  and bitmap scans, mark and restore.
 *
 * The quals become a list of key ranges (one per = ANY element), NULLs as
 * a range of their own after every key.  For each range a cursor walks
 * the snapshot's pages (each page's packed entries and insert area merged)
 * and another the backend's sorted copy of the delta; the scan returns
 * whichever entry comes first in (key, TID) order, skipping entries
 * flagged dead.
 *
 * A range starts where the models say, checked against the entries: the
 * root model picks the snapshot page from the directory in memory
 * (kroute.c), the page's own model the slot; each window's answer is
 * checked against its neighbours, and if the check fails the search
 * gallops outward from the window (rmi_search_window, the model library's
 * one search).  A wrong model costs reads, never a wrong position.  The
 * snapshot's cursor is a value (the last entry decoded), not a slot:
 * pages take inserts, repacks and splits between the scan's calls.  A page
 * split since the view was written is read with its siblings, along the
 * right-links: forward past its end, backward by walking them from the
 * page's own block (DESIGN.md, "Splits").
 *
 * A scan remembers the last entry it returned.  If it reads a page that
 * was recycled after a fold, it takes a fresh view and resumes strictly
 * after that entry; mark and restore and changes of direction resume the
 * same way (DESIGN.md, "Reading pages, and damage", says how a recycled
 * page is told from a damaged one, and why a scan never restarts in a
 * loop).
 *
 * src/kscan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "kyrodb.h"

#define KEY_MAX		PG_UINT64_MAX

/* ---- Scan keys to ranges ---- */

/* Room for n ranges. */
static void
reserve_ranges(KyroScanOpaque so, MemoryContext cxt, int n)
{
	if (n <= so->maxranges)
		return;
	so->maxranges = Max(n, 8);
	so->ranges = so->ranges == NULL ?
		MemoryContextAlloc(cxt, sizeof(KyroRange) * so->maxranges) :
		repalloc(so->ranges, sizeof(KyroRange) * so->maxranges);
}

/* qsort comparator of uint64. */
static int
cmp_uint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The sorted, distinct keys of an = ANY array (NULL elements dropped). */
static uint64 *
array_keys(Datum arraydatum, int *nkeys)
{
	ArrayType  *array = DatumGetArrayTypeP(arraydatum);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	uint64	   *keys;
	int			n = 0;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &nelems);
	keys = palloc(sizeof(uint64) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
		if (!nulls[i])
			keys[n++] = KyroDatumToKey(elems[i], elemtype);
	if (n > 1)
	{
		int			distinct = 1;

		qsort(keys, n, sizeof(uint64), cmp_uint64);
		for (int i = 1; i < n; i++)
			if (keys[i] != keys[distinct - 1])
				keys[distinct++] = keys[i];
		n = distinct;
	}
	*nkeys = n;
	return keys;
}

/* Keep only the keys of set[0..*n) that are also in other[0..m). */
static void
intersect_keys(uint64 *set, int *n, const uint64 *other, int m)
{
	int			i = 0,
				j = 0,
				k = 0;

	while (i < *n && j < m)
	{
		if (set[i] < other[j])
			i++;
		else if (set[i] > other[j])
			j++;
		else
		{
			set[k++] = set[i];
			i++;
			j++;
		}
	}
	*n = k;
}

/* Turn the scan keys into so->ranges (or so->empty). */
static void
prepare_ranges(IndexScanDesc scan)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;
	MemoryContext oldcxt = MemoryContextSwitchTo(so->tmpcxt);
	uint64		lo = 0;
	uint64		hi = KEY_MAX;
	bool		want_keys = true;
	bool		want_nulls = true;
	uint64	   *eq = NULL;		/* = ANY keys, if any */
	int			neq = 0;

	so->empty = false;
	so->nranges = 0;
	for (int i = 0; i < scan->numberOfKeys && !so->empty; i++)
	{
		ScanKey		key = &scan->keyData[i];
		uint64		v;

		if (key->sk_flags & SK_ISNULL)
		{
			if (key->sk_flags & SK_SEARCHNULL)
				want_keys = false;
			else if (key->sk_flags & SK_SEARCHNOTNULL)
				want_nulls = false;
			else
				so->empty = true;	/* a strict operator with a NULL */
			continue;
		}
		want_nulls = false;
		if (key->sk_flags & SK_SEARCHARRAY)
		{
			int			n;
			uint64	   *keys = array_keys(key->sk_argument, &n);

			if (n == 0)
			{
				so->empty = true;
				continue;
			}
			if (key->sk_strategy == BTEqualStrategyNumber)
			{
				if (eq == NULL)
				{
					eq = keys;
					neq = n;
				}
				else
					intersect_keys(eq, &neq, keys, n);
				if (neq == 0)
					so->empty = true;
				continue;
			}
			/* k < ANY (a) is k < max(a); k > ANY (a) is k > min(a) */
			v = (key->sk_strategy == BTLessStrategyNumber ||
				 key->sk_strategy == BTLessEqualStrategyNumber) ? keys[n - 1] : keys[0];
		}
		else
			v = KyroDatumToKey(key->sk_argument,
							   OidIsValid(key->sk_subtype) ? key->sk_subtype : so->keytype);
		switch (key->sk_strategy)
		{
			case BTLessStrategyNumber:
				if (v == 0)
					so->empty = true;
				else
					hi = Min(hi, v - 1);
				break;
			case BTLessEqualStrategyNumber:
				hi = Min(hi, v);
				break;
			case BTEqualStrategyNumber:
				lo = Max(lo, v);
				hi = Min(hi, v);
				break;
			case BTGreaterEqualStrategyNumber:
				lo = Max(lo, v);
				break;
			case BTGreaterStrategyNumber:
				if (v == KEY_MAX)
					so->empty = true;
				else
					lo = Max(lo, v + 1);
				break;
			default:
				elog(ERROR, "unrecognized strategy number %d", key->sk_strategy);
		}
	}
	if (lo > hi)
		want_keys = false;
	if (!want_keys && !want_nulls)
		so->empty = true;

	MemoryContextSwitchTo(oldcxt);
	if (!so->empty)
	{
		reserve_ranges(so, GetMemoryChunkContext(so), (eq ? neq : 1) + 1);
		if (want_keys && eq != NULL)
		{
			for (int i = 0; i < neq; i++)
				if (eq[i] >= lo && eq[i] <= hi)
				{
					so->ranges[so->nranges].lo = so->ranges[so->nranges].hi = eq[i];
					so->ranges[so->nranges++].nulls = false;
				}
		}
		else if (want_keys)
		{
			so->ranges[so->nranges].lo = lo;
			so->ranges[so->nranges].hi = hi;
			so->ranges[so->nranges++].nulls = false;
		}
		if (want_nulls)
		{
			so->ranges[so->nranges].lo = so->ranges[so->nranges].hi = 0;
			so->ranges[so->nranges++].nulls = true;
		}
		so->empty = so->nranges == 0;
	}
	MemoryContextReset(so->tmpcxt);
	so->keys_ready = true;
}

/* ---- Reading the snapshot ---- */

/* Let go of the pin *buffer holds, if any. */
static void
release_pin(Buffer *buffer)
{
	if (BufferIsValid(*buffer))
		ReleaseBuffer(*buffer);
	*buffer = InvalidBuffer;
}

/* Forget the cached entries; a recycled page also sets so->recycled. */
static void
drop_cache(KyroScanOpaque so, bool recycled)
{
	so->recycled |= recycled;
	so->page_no = -1;
	so->page_block = InvalidBlockNumber;
	so->page_next = InvalidBlockNumber;
	so->cache_n = 0;
	so->cache_i = 0;
	so->cache_more = false;
	release_pin(&so->cache_buf);
}

/*
 * Done reading a locked snapshot page whose entries are now in the
 * scan's cache: unlock it, and under the interlock keep it pinned (in
 * place of the page cached before) for as long as the cache holds them.
 */
static void
done_with_page(KyroScanOpaque so, Buffer buffer)
{
	if (!so->interlock)
	{
		UnlockReleaseBuffer(buffer);
		return;
	}
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	release_pin(&so->cache_buf);
	so->cache_buf = buffer;
}

/* The first entry of snapshot page p, as its directory item says. */
static KyroEntry
page_first_entry(const KyroSnapCache *snap, int64 p)
{
	KyroEntry	e;

	memset(&e, 0, sizeof(e));
	e.isnull = p >= snap->key_pages;
	e.key = e.isnull ? 0 : snap->items[p].first_key;
	ItemPointerSet(&e.tid, snap->items[p].first_block, snap->items[p].first_offset);
	return e;
}

/*
 * Decode up to max entries of block blkno, packed and in its insert area
 * merged, into the scan's cache, in the scan's direction: from the page's
 * edge if from is NULL, else from the first entry after from (strict) or
 * at it.  blkno is snapshot page page_no's own block, or (after non-NULL)
 * one of its siblings, reached by a right-link from a page whose last
 * entry was *after.  One share lock; nothing is held between calls but,
 * under the interlock, the pin.  False (and so->recycled) if a fold
 * recycled the page since the scan took its view.  Sets *mispredicted, if
 * given, when the page's own model missed.
 */
static bool
read_page(Relation index, KyroScanOpaque so, int64 page_no, BlockNumber blkno,
		  const RmiPageEntry *after, const KyroEntry *from, bool strict,
		  uint32 max, bool *mispredicted)
{
	KyroSnapCache *snap = so->snap;
	bool		backward = ScanDirectionIsBackward(so->dir);
	Buffer		buffer;
	Page		page;
	void	   *content;
	RmiAreaCursor cursor;
	RmiPageEntry linked_after;
	int			missed = 0;

	if (after != NULL)
	{
		linked_after = *after;	/* it may be so->page_after itself */
		buffer = KyroReadSiblingPage(index, snap->epoch, snap->items,
									 snap->key_pages, snap->snap_pages,
									 (uint32) page_no, blkno, &linked_after,
									 BUFFER_LOCK_SHARE);
	}
	else
		buffer = KyroReadSnapshotPage(index, snap->epoch,
									  &snap->items[page_no], (uint32) page_no,
									  snap->key_pages, so->check_first,
									  BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buffer))
	{
		drop_cache(so, true);
		return false;
	}
	if (blkno != so->page_block)
		so->counts.pages++;		/* a walk that reads on counts a page once */
	page = BufferGetPage(buffer);
	content = KyroSnapContent(page);
	so->page_past = false;
	if (from != NULL)
	{
		RmiPageEntry probe;

		KyroEntryToPage(&probe, from);
		/* backward, the cursor goes after the entries to return */
		rmi_area_seek(content, KYRO_PAGE_CONTENT, &probe,
					  backward ? !strict : strict, &cursor, &missed);
		so->page_past = cursor.packed >= rmi_page_count(content) &&
			cursor.area >= rmi_area_count(content);
	}
	else if (backward)
	{
		cursor.packed = rmi_page_count(content);
		cursor.area = rmi_area_count(content);
	}
	else
		cursor.packed = cursor.area = 0;
	so->cache_n = (int) rmi_area_read(content, KYRO_PAGE_CONTENT, &cursor,
									  backward, so->cache, NULL, max);
	so->cache_i = 0;
	so->more_chunk = Min(2 * max, KYRO_SCAN_WALK_CHUNK);
	if (so->cache_n > 0)
	{
		KyroEntryFromPage(&so->walk_from, &so->cache[so->cache_n - 1],
						  (snap->items[page_no].flags & KYRO_PAGE_NULLS) != 0);
		so->walk_strict = true;
	}
	so->cache_more = backward ? (cursor.packed > 0 || cursor.area > 0) :
		(cursor.packed < rmi_page_count(content) ||
		 cursor.area < rmi_area_count(content));
	so->page_no = page_no;
	so->page_nulls = (snap->items[page_no].flags & KYRO_PAGE_NULLS) != 0;
	so->page_block = blkno;
	so->page_next = KyroSiblingNext(snap->items, (uint32) page_no, page);
	/* the edges only a page with siblings needs (sibling_step, read_sibling_before) */
	if (so->page_next != InvalidBlockNumber)
		rmi_area_edge(content, KYRO_PAGE_CONTENT, 1, &so->page_last);
	if (blkno != snap->items[page_no].block)
		rmi_area_edge(content, KYRO_PAGE_CONTENT, 0, &so->page_first);
	if (after != NULL)
		so->page_after = linked_after;
	done_with_page(so, buffer);
	if (mispredicted)
		*mispredicted |= missed != 0;
	return true;
}

/*
 * The right-link to follow from the page in the cache, with the entry
 * the page it leads to must start after (*after); false at the end of
 * siblings.
 */
static bool
sibling_step(KyroScanOpaque so, BlockNumber *blkno, RmiPageEntry *after)
{
	if (so->page_next == InvalidBlockNumber)
		return false;
	*blkno = so->page_next;
	*after = so->page_last;
	return true;
}

/*
 * Whether block blkno, a sibling of the scan's page (reached as read_page's
 * after says) starts before from (or at it, unless strict); false, with
 * so->recycled, if it was recycled.
 */
static bool
sibling_starts_before(Relation index, KyroScanOpaque so, BlockNumber blkno,
						 const RmiPageEntry *after, const KyroEntry *from,
						 bool strict, bool *starts_before)
{
	Buffer		buffer = KyroReadSiblingPage(index, so->snap->epoch,
											 so->snap->items,
											 so->snap->key_pages,
											 so->snap->snap_pages,
											 (uint32) so->page_no, blkno,
											 after, BUFFER_LOCK_SHARE);
	RmiPageEntry first;
	RmiPageEntry probe;
	int			cmp;

	if (!BufferIsValid(buffer))
	{
		drop_cache(so, true);
		return false;
	}
	rmi_area_edge(KyroSnapContent(BufferGetPage(buffer)), KYRO_PAGE_CONTENT, 0,
				  &first);
	UnlockReleaseBuffer(buffer);
	KyroEntryToPage(&probe, from);
	cmp = rmi_page_compare(&first, &probe);
	*starts_before = strict ? cmp < 0 : cmp <= 0;
	return true;
}

/*
 * read_page, then right along the siblings while the entries sought may lie
 * there: every entry read was before from (page_past) and the next page
 * holds some at or after it (forward: any; backward: if it starts before
 * from).  A split since the scan last read a page may have moved the
 * entries after its place, or (backward) between the page's new last
 * entry and its place, to the right.
 */
static bool
read_page_at(Relation index, KyroScanOpaque so, int64 page_no,
			 BlockNumber blkno, const RmiPageEntry *after,
			 const KyroEntry *from, bool strict, uint32 max,
			 bool *mispredicted)
{
	KyroEntry	probe = *from;	/* it may be so->walk_from itself */

	if (!read_page(index, so, page_no, blkno, after, &probe, strict, max,
				   mispredicted))
		return false;
	for (;;)
	{
		RmiPageEntry link_after;

		CHECK_FOR_INTERRUPTS();
		if (!so->page_past || !sibling_step(so, &blkno, &link_after))
			return true;
		if (ScanDirectionIsBackward(so->dir))
		{
			bool		starts_before;

			if (!sibling_starts_before(index, so, blkno, &link_after,
										  &probe, strict, &starts_before))
				return false;
			if (!starts_before)
				return true;
		}
		if (!read_page(index, so, page_no, blkno, &link_after, &probe, strict,
					   max, NULL))
			return false;
		so->counts.right_moves++;
	}
}

/*
 * Backward, from a page split off snapshot page page_no: read the page
 * before it among the siblings, walking from page_no's own block (there are
 * no left-links), its entries before the page's first.  Siblings that no
 * longer reaches the page is damage, or a view recycled under the scan.
 */
static bool
read_sibling_before(Relation index, KyroScanOpaque so)
{
	int64		page_no = so->page_no;
	BlockNumber target = so->page_block;
	BlockNumber blkno = so->snap->items[page_no].block;
	RmiPageEntry after;
	bool		linked = false;
	KyroEntry	before;

	KyroEntryFromPage(&before, &so->page_first, false);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!read_page(index, so, page_no, blkno, linked ? &after : NULL,
					   &before, true, KYRO_SCAN_WALK_CHUNK, NULL))
			return false;
		if (so->page_next == target)
			return true;
		if (!sibling_step(so, &blkno, &after))
			break;
		linked = true;
	}
	if (KyroViewIsCurrent(index, KYRO_PAGE_SNAPSHOT, so->snap->epoch))
		KyroCorrupt(index, psprintf("The siblings of snapshot page %lld of epoch %u no longer reach block %u.",
									(long long) page_no, so->snap->epoch, target));
	drop_cache(so, true);
	return false;
}

/* Backward: read the last sibling of snapshot page page_no, from its end. */
static bool
read_last_sibling(Relation index, KyroScanOpaque so, int64 page_no)
{
	BlockNumber blkno = so->snap->items[page_no].block;
	RmiPageEntry after;
	bool		linked = false;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!read_page(index, so, page_no, blkno, linked ? &after : NULL,
					   NULL, false, KYRO_SCAN_WALK_CHUNK, NULL))
			return false;
		if (!sibling_step(so, &blkno, &after))
			return true;
		linked = true;
	}
}

/*
 * The next live snapshot entry of the range in the scan's direction,
 * without taking it (take_snap_entry does); false when the range has
 * none left, or with so->recycled set.  Pages are read in runs of entries
 * as a walk needs them, along each page's siblings (split off it); a page
 * the range does not reach (its directory item says where it starts) is
 * not read.
 */
static bool
peek_snap_entry(Relation index, KyroScanOpaque so, KyroEntry *out)
{
	bool		forward = ScanDirectionIsForward(so->dir);
	KyroSnapCache *snap = so->snap;

	for (;;)
	{
		BlockNumber blkno;
		RmiPageEntry after;

		CHECK_FOR_INTERRUPTS();
		if (so->snap_done)
			return false;
		if (so->cache_i < so->cache_n)
		{
			KyroEntryFromPage(out, &so->cache[so->cache_i], so->page_nulls);
			if (forward ? KyroEntryCompare(out, &so->range_last) > 0 :
				KyroEntryCompare(out, &so->range_first) < 0)
			{
				so->snap_done = true;
				return false;
			}
			if (!out->dead)
				return true;
			so->cache_i++;		/* up to a tenth of the snapshot may be dead */
			continue;
		}
		if (so->cache_more)
		{
			/* more of this page: after the last entry decoded */
			KyroEntry	from;
			bool		own = so->page_block == snap->items[so->page_no].block;

			KyroEntryFromPage(&from, &so->cache[so->cache_n - 1], so->page_nulls);
			if (!read_page_at(index, so, so->page_no, so->page_block,
							  own ? NULL : &so->page_after, &from, true,
							  so->more_chunk, NULL))
				return false;
			continue;
		}
		if (forward)
		{
			KyroEntry	next_first;

			/*
			 * This page's siblings, then the next page.  Along the
			 * siblings, from where the walk stands: a split since this page
			 * was read may have moved entries already returned right.
			 */
			if (sibling_step(so, &blkno, &after))
			{
				if (!read_page_at(index, so, so->page_no, blkno, &after,
								  &so->walk_from, so->walk_strict,
								  KYRO_SCAN_WALK_CHUNK, NULL))
					return false;
				continue;
			}
			if (so->page_no + 1 >= snap->snap_pages)
			{
				so->snap_done = true;
				return false;
			}
			next_first = page_first_entry(snap, so->page_no + 1);
			if (KyroEntryCompare(&next_first, &so->range_last) > 0)
			{
				so->snap_done = true;
				return false;
			}
			if (!read_page(index, so, so->page_no + 1,
						   snap->items[so->page_no + 1].block, NULL, NULL,
						   false, KYRO_SCAN_WALK_CHUNK, NULL))
				return false;
		}
		else
		{
			KyroEntry	first;

			if (so->page_block != snap->items[so->page_no].block)
			{
				if (!read_sibling_before(index, so))
					return false;
				continue;
			}
			/* the pages before hold only entries before this one's first */
			first = page_first_entry(snap, so->page_no);
			if (so->page_no == 0 ||
				KyroEntryCompare(&so->range_first, &first) >= 0)
			{
				so->snap_done = true;
				return false;
			}
			if (!read_last_sibling(index, so, so->page_no - 1))
				return false;
		}
	}
}

/* Take the entry peek_snap_entry returned. */
static void
take_snap_entry(KyroScanOpaque so)
{
	so->cache_i++;
}

/*
 * Start the snapshot's cursor at the first entry of the range (forward)
 * or its last (backward) not before, or strictly after, from: route from
 * to its page (the root model over the directory) and search that page
 * (its own model, and its insert area), decoding a few entries there.
 * Sets *mispredicted when either model missed.
 */
static void
snap_position(Relation index, KyroScanOpaque so, const KyroEntry *from,
			  bool strict, bool *mispredicted)
{
	KyroSnapCache *snap = so->snap;
	bool		backward = ScanDirectionIsBackward(so->dir);
	uint32		npages = from->isnull ? snap->snap_pages - snap->key_pages :
		snap->key_pages;
	uint32		page_no;

	drop_cache(so, false);
	so->snap_done = npages == 0;
	if (so->snap_done)
		return;

	/*
	 * The page whose range holds from: the last page starting at or before
	 * it; backward and strict, the last starting before it.
	 */
	page_no = KyroRoutePage(snap, from, !(backward && strict),
							&so->counts.probes, mispredicted);
	so->walk_from = *from;
	so->walk_strict = strict;
	read_page_at(index, so, page_no, snap->items[page_no].block, NULL, from,
				 strict, KYRO_SCAN_SEARCH_CHUNK, mispredicted);
}

/* First position in a delta run whose entry is >= probe (> probe if strict). */
static int64
delta_search(const KyroDeltaRun *run, const KyroEntry *probe, bool strict)
{
	int64		lo = 0;
	int64		hi = run->n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		int			cmp = KyroEntryCompare(&run->items[mid].entry, probe);

		if (strict ? cmp <= 0 : cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Whether a delta item the scan is about to return is still live on its
 * delta page, for a scan under the interlock.  The page stays pinned
 * until the scan returns an entry from another page, so VACUUM, which
 * flags entries only under a cleanup lock, cannot flag this one before
 * the executor has looked at the visibility map for it.  An item found
 * dead is flagged in the cache too.  Sets so->recycled if the page was
 * recycled since the delta was read (the scan then starts over).
 */
static bool
delta_item_live(Relation index, KyroScanOpaque so, KyroDeltaItem *item)
{
	const KyroEntryPlace *place = &item->place;
	uint32		number = place->active ? so->delta->active.number :
		so->delta->frozen.number;
	Buffer		buffer = so->delta_buf;
	Page		page;
	KyroDeltaEntry *entry;
	bool		live;

	/* a pinned page cannot be recycled (KyroNewBuffer), so it is still ours */
	if (BufferIsValid(buffer) && BufferGetBlockNumber(buffer) == place->block)
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
	else
	{
		release_pin(&so->delta_buf);
		buffer = KyroReadPage(index, place->block, KYRO_PAGE_DELTA, number,
							  BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buffer))
		{
			so->recycled = true;
			return false;
		}
		so->delta_buf = buffer;
	}
	page = BufferGetPage(buffer);
	entry = &KyroDeltaEntries(page)[place->slot];
	if (place->slot >= KyroPageGetOpaque(page)->count ||
		!ItemPointerEquals(&entry->tid, &item->entry.tid) ||
		(entry->isnull != 0) != item->entry.isnull ||
		(!item->entry.isnull && entry->key != item->entry.key))
	{
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		KyroCorrupt(index, psprintf("Delta page %u of chain %u no longer holds the entry read at slot %u.",
									place->block, number, place->slot));
	}
	live = !entry->dead;
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	if (!live)
		item->entry.dead = true;
	return live;
}

/* ---- Walking the ranges ---- */

/* The entries that bound range r: its first and (strictly) its last. */
static void
range_bounds(const KyroRange *r, KyroEntry *first, KyroEntry *last)
{
	memset(first, 0, sizeof(KyroEntry));
	memset(last, 0, sizeof(KyroEntry));
	first->isnull = last->isnull = r->nulls;
	first->key = r->lo;
	last->key = r->hi;
	ItemPointerSet(&first->tid, 0, 0);
	ItemPointerSet(&last->tid, InvalidBlockNumber, PG_UINT16_MAX);
}

/*
 * Set the cursors for range so->range_no in direction so->dir, past the
 * last entry returned if there is one.  False when no range is left.
 */
static bool
position_range(Relation index, KyroScanOpaque so)
{
	KyroEntry	first;
	KyroEntry	last;
	bool		mispredicted;
	bool		delta_hit = false;

	if (so->range_no < 0 || so->range_no >= so->nranges)
		return false;
	range_bounds(&so->ranges[so->range_no], &first, &last);

	so->range_first = first;
	so->range_last = last;
	mispredicted = false;
	if (!so->have_last)
		snap_position(index, so, ScanDirectionIsForward(so->dir) ? &first : &last,
					  false, &mispredicted);
	else if (ScanDirectionIsForward(so->dir))
		snap_position(index, so, KyroEntryCompare(&so->last, &first) >= 0 ?
					  &so->last : &first,
					  KyroEntryCompare(&so->last, &first) >= 0, &mispredicted);
	else
		snap_position(index, so, KyroEntryCompare(&so->last, &last) <= 0 ?
					  &so->last : &last,
					  KyroEntryCompare(&so->last, &last) <= 0, &mispredicted);
	so->counts.lookups++;
	so->counts.mispredicts += mispredicted;
	for (int r = 0; r < so->delta->nruns; r++)
	{
		const KyroDeltaRun *run = &so->delta->runs[r];

		so->delta_begin[r] = delta_search(run, &first, false);
		so->delta_end[r] = delta_search(run, &last, true);
		delta_hit |= so->delta_end[r] > so->delta_begin[r];
		if (so->have_last && ScanDirectionIsForward(so->dir))
			so->delta_begin[r] = Max(so->delta_begin[r],
									 delta_search(run, &so->last, true));
		else if (so->have_last)
			so->delta_end[r] = Min(so->delta_end[r],
								   delta_search(run, &so->last, false));
		so->delta_pos[r] = ScanDirectionIsForward(so->dir) ?
			so->delta_begin[r] : so->delta_end[r] - 1;
	}
	so->counts.delta_hits += delta_hit;
	if (so->counts.lookups >= KYRO_COUNTS_FLUSH)
		KyroAddScanCounts(index, &so->counts);
	so->positioned = true;
	return true;
}

/*
 * The next live entry in so->dir across snapshot and delta, in (key, TID)
 * order.  False at the end of the scan, or with so->recycled set.
 */
static bool
next_entry(Relation index, KyroScanOpaque so, KyroEntry *out)
{
	bool		forward = ScanDirectionIsForward(so->dir);
	int			step = forward ? 1 : -1;

	for (;;)
	{
		KyroEntry	s;
		KyroEntry	d;
		bool		have_s;
		bool		have_d;
		int			d_run = -1;

		if (!so->positioned && !position_range(index, so))
			return false;
		if (so->recycled)
			return false;

		have_s = peek_snap_entry(index, so, &s);
		if (so->recycled)
			return false;
		/* the delta run whose next live entry comes first in so->dir */
		for (int r = 0; r < so->delta->nruns; r++)
		{
			const KyroDeltaRun *run = &so->delta->runs[r];

			while (so->delta_pos[r] >= so->delta_begin[r] &&
				   so->delta_pos[r] < so->delta_end[r] &&
				   run->items[so->delta_pos[r]].entry.dead)
			{
				CHECK_FOR_INTERRUPTS();
				so->delta_pos[r] += step;
			}
			if (so->delta_pos[r] < so->delta_begin[r] ||
				so->delta_pos[r] >= so->delta_end[r])
				continue;
			if (d_run < 0 ||
				(KyroEntryCompare(&run->items[so->delta_pos[r]].entry, &d) < 0) == forward)
			{
				d = run->items[so->delta_pos[r]].entry;
				d_run = r;
			}
		}
		have_d = d_run >= 0;

		if (!have_s && !have_d)
		{
			so->range_no += step;
			so->positioned = false;
			continue;
		}
		if (have_s && (!have_d ||
					   (KyroEntryCompare(&s, &d) < 0) == forward))
		{
			*out = s;
			take_snap_entry(so);
			release_pin(&so->delta_buf);
		}
		else
		{
			KyroDeltaItem *item = &so->delta->runs[d_run].items[so->delta_pos[d_run]];

			if (so->interlock && !delta_item_live(index, so, item))
			{
				if (so->recycled)
					return false;
				continue;		/* VACUUM flagged it since the delta was read */
			}
			*out = d;
			so->delta_pos[d_run] += step;
		}
		so->last = *out;
		so->have_last = true;
		return true;
	}
}

/* Take (fresh) caches of the index and forget cursors into the old ones. */
static void
take_caches(IndexScanDesc scan)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	drop_cache(so, false);
	release_pin(&so->delta_buf);
	KyroReleaseCaches(so->snap, so->delta);
	so->snap = NULL;
	so->delta = NULL;
	KyroGetCaches(scan->indexRelation, &so->snap, &so->delta);
	so->positioned = false;
	so->recycled = false;
}

/* The next entry in dir, restarting on recycled pages. */
static bool
scan_next(IndexScanDesc scan, ScanDirection dir, KyroEntry *out)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	if (!so->keys_ready)
		prepare_ranges(scan);
	if (so->empty)
		return false;
	if (!so->started)
	{
		/*
		 * One index scan in PostgreSQL's statistics per scan started, as
		 * btree counts one per descent (idx_scan in pg_stat_user_indexes);
		 * the generic index layer counts the tuples returned.
		 */
		KyroCountIndexSearch(scan);
		so->started = true;
		so->interlock = scan->xs_want_itup || scan->xs_snapshot == NULL ||
			!IsMVCCSnapshot(scan->xs_snapshot);
		/* nothing holds back the reuse of its view's pages (kread.c) */
		so->check_first = scan->xs_snapshot == NULL ||
			!IsMVCCSnapshot(scan->xs_snapshot);
		so->dir = dir;
		so->range_no = ScanDirectionIsForward(dir) ? 0 : so->nranges - 1;
		take_caches(scan);
	}
	else if (dir != so->dir)
	{
		/*
		 * Turn around: from the last entry returned, or, if the scan ran off
		 * an end, from that end (as a cursor past its last row moves back
		 * onto it).
		 */
		so->dir = dir;
		if (so->at_end)
		{
			so->have_last = false;
			so->range_no = ScanDirectionIsForward(dir) ? 0 : so->nranges - 1;
		}
		else
			so->range_no = Max(0, Min(so->range_no, so->nranges - 1));
		so->positioned = false;
	}

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		so->at_end = false;
		if (next_entry(scan->indexRelation, so, out))
			return true;
		if (!so->recycled)
		{
			so->at_end = true;
			return false;
		}
		take_caches(scan);
	}
}

/* ---- The access method's callbacks ---- */

/* ambeginscan */
IndexScanDesc
kyrobeginscan(Relation r, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(r, nkeys, norderbys);
	KyroScanOpaque so = palloc0(sizeof(KyroScanOpaqueData));

	so->keytype = r->rd_opcintype[0];
	so->page_no = -1;
	so->page_block = InvalidBlockNumber;
	so->page_next = InvalidBlockNumber;
	so->cache_buf = InvalidBuffer;
	so->delta_buf = InvalidBuffer;
	so->tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "kyro_rmi scan",
									   ALLOCSET_SMALL_SIZES);
	scan->opaque = so;
	scan->xs_itupdesc = RelationGetDescr(r);
	return scan;
}

/* amrescan: new keys; caches are taken at the first tuple. */
void
kyrorescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
		   ScanKey orderbys, int norderbys)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	if (scankey && scan->numberOfKeys > 0)
		memmove(scan->keyData, scankey, scan->numberOfKeys * sizeof(ScanKeyData));
	drop_cache(so, false);
	release_pin(&so->delta_buf);
	KyroReleaseCaches(so->snap, so->delta);
	so->snap = NULL;
	so->delta = NULL;
	so->keys_ready = false;
	so->started = false;
	so->positioned = false;
	so->recycled = false;
	so->have_last = false;
	so->at_end = false;
	so->mark_have_last = false;
}

/* amgettuple */
bool
kyrogettuple(IndexScanDesc scan, ScanDirection dir)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;
	KyroEntry	e;

	if (!scan_next(scan, dir, &e))
		return false;
	scan->xs_heaptid = e.tid;
	scan->xs_recheck = false;
	if (scan->xs_want_itup)
	{
		Datum		value = e.isnull ? (Datum) 0 : KyroKeyToDatum(e.key, so->keytype);
		bool		isnull = e.isnull;
		MemoryContext oldcxt = MemoryContextSwitchTo(so->tmpcxt);

		MemoryContextReset(so->tmpcxt);
		scan->xs_itup = index_form_tuple(RelationGetDescr(scan->indexRelation),
										 &value, &isnull);
		MemoryContextSwitchTo(oldcxt);
	}
	return true;
}

/* amgetbitmap */
int64
kyrogetbitmap(IndexScanDesc scan, TIDBitmap *tbm)
{
	KyroEntry	e;
	int64		ntids = 0;

	while (scan_next(scan, ForwardScanDirection, &e))
	{
		tbm_add_tuples(tbm, &e.tid, 1, false);
		ntids++;
	}
	return ntids;
}

/* amendscan */
void
kyroendscan(IndexScanDesc scan)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	KyroAddScanCounts(scan->indexRelation, &so->counts);
	drop_cache(so, false);
	release_pin(&so->delta_buf);
	KyroReleaseCaches(so->snap, so->delta);
	MemoryContextDelete(so->tmpcxt);
	if (so->ranges)
		pfree(so->ranges);
	pfree(so);
	scan->opaque = NULL;
}

/* ammarkpos: remember the last entry returned. */
void
kyromarkpos(IndexScanDesc scan)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	so->mark_have_last = so->have_last;
	so->mark_last = so->last;
	so->mark_range_no = so->range_no;
	so->mark_dir = so->dir;
}

/* amrestrpos: go back to the marked entry; the next one follows it. */
void
kyrorestrpos(IndexScanDesc scan)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	so->have_last = so->mark_have_last;
	so->last = so->mark_last;
	so->range_no = so->mark_range_no;
	so->dir = so->mark_dir;
	so->at_end = false;
	so->positioned = false;
}

/* amcanreturn: the key is stored, so index-only scans work. */
bool
kyrocanreturn(Relation index, int attno)
{
	return attno == 1;
}
