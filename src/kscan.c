/*-------------------------------------------------------------------------
 *
 * kscan.c
 *	  Scans of a kyro_rmi index: every qual, both directions, index-only
 *	  and bitmap scans, mark and restore.
 *
 * The quals become a list of key ranges (one per = ANY element), NULLs as
 * a range of their own after every key.  For each range a cursor walks
 * the snapshot and another the backend's sorted copy of the delta; the
 * scan returns whichever entry comes first in (key, TID) order, skipping
 * entries flagged dead.
 *
 * A range starts where the model says, checked against the keys: the
 * model's window is searched, the answer is checked against the entries on
 * either side of it, and if the check fails the search gallops outward
 * from the window.  A wrong model costs reads, never a wrong position.
 *
 * A scan remembers the last entry it returned.  If it reads a snapshot
 * page whose tag is not its view's epoch (the page was recycled after a
 * fold), it takes a fresh view and resumes strictly after that entry; mark
 * and restore and changes of direction resume the same way.
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

/* Slots copied when a single entry is missing from the cache. */
#define CACHE_CHUNK		64

/*
 * Copy slots [lo, hi] (clipped to the page) of snapshot page page_no into
 * so's cache; false if the page was recycled.
 */
static bool
cache_slots(Relation index, KyroScanOpaque so, int64 page_no, int lo, int hi)
{
	Buffer		buffer;
	Page		page;
	KyroPageOpaque opaque;
	bool		ok;

	buffer = ReadBuffer(index, so->snap->snap_blocks[page_no]);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	opaque = KyroPageGetOpaque(page);
	ok = !PageIsNew(page) && opaque->page_id == KYRO_PAGE_ID &&
		KyroPageKind(page) == KYRO_PAGE_SNAPSHOT &&
		opaque->tag == so->snap->epoch &&
		KyroSnapWidth(page) == so->snap->key_width &&
		opaque->count <= (uint32) so->snap->per_page;
	if (ok)
	{
		int			width = so->snap->key_width;
		const uint8 *dead = KyroSnapDead(page, width);

		lo = Max(lo, 0);
		hi = Min(hi, (int) opaque->count - 1);
		so->page_no = page_no;
		so->page_count = opaque->count;
		so->cache_lo = lo;
		so->cache_n = Max(hi - lo + 1, 0);
		for (int i = 0; i < so->cache_n; i++)
		{
			so->page_keys[i] = KyroSnapKey(page, width, lo + i);
			so->page_dead[i] = (dead[(lo + i) / 8] >> ((lo + i) % 8)) & 1;
		}
		memcpy(so->page_tids, KyroSnapTids(page, width) + lo,
			   sizeof(ItemPointerData) * so->cache_n);
	}
	UnlockReleaseBuffer(buffer);
	if (!ok)
	{
		so->recycled = true;
		so->page_no = -1;
		so->cache_n = 0;
	}
	return ok;
}

/*
 * Make sure snapshot positions [lo, hi] are cached if they share a page
 * (a search's window, read in one visit to the page).
 */
static void
cache_positions(Relation index, KyroScanOpaque so, int64 lo, int64 hi)
{
	int			per_page = so->snap->per_page;
	int64		page_no = lo / per_page;

	if (so->recycled || lo > hi || page_no != hi / per_page)
		return;
	if (so->page_no == page_no && lo % per_page >= so->cache_lo &&
		hi % per_page < so->cache_lo + so->cache_n)
		return;
	cache_slots(index, so, page_no, lo % per_page, hi % per_page);
}

/*
 * The snapshot entry at pos.  On a recycled page, sets so->recycled and
 * returns a NULL entry; callers check so->recycled after their search.
 */
static KyroEntry
snap_entry(Relation index, KyroScanOpaque so, int64 pos)
{
	KyroEntry	e;
	int			slot = pos % so->snap->per_page;

	int64		page_no = pos / so->snap->per_page;

	memset(&e, 0, sizeof(e));
	e.isnull = true;
	if (so->recycled)
		return e;
	if (so->page_no != page_no || slot < so->cache_lo ||
		slot >= so->cache_lo + so->cache_n)
	{
		/* a chunk in the scan's direction, so a walk copies each slot once */
		int			lo = ScanDirectionIsBackward(so->dir) ?
			slot - CACHE_CHUNK + 1 : slot;

		if (!cache_slots(index, so, page_no, lo, lo + CACHE_CHUNK - 1))
			return e;
	}
	if (slot >= so->page_count)
	{
		so->recycled = true;
		return e;
	}
	slot -= so->cache_lo;
	e.isnull = pos >= (int64) so->snap->snap_nonnull;
	e.key = so->page_keys[slot];
	e.tid = so->page_tids[slot];
	e.dead = so->page_dead[slot];
	return e;
}

/* Whether the entry at pos sorts before probe (before or equal if strict). */
static bool
snap_before(Relation index, KyroScanOpaque so, int64 pos,
			const KyroEntry *probe, bool strict)
{
	KyroEntry	e = snap_entry(index, so, pos);
	int			cmp = KyroEntryCompare(&e, probe);

	so->counts.probes++;

	return strict ? cmp <= 0 : cmp < 0;
}

/* First position in [lo, hi) not before probe, or hi. */
static int64
snap_bsearch(Relation index, KyroScanOpaque so, int64 lo, int64 hi,
			 const KyroEntry *probe, bool strict)
{
	while (lo < hi && !so->recycled)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (snap_before(index, so, mid, probe, strict))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * First snapshot position whose entry is >= probe (> probe if strict),
 * guided by the model for keys.  The window's answer is checked against
 * its neighbours; if the model was wrong the search gallops outward from
 * the window, O(log distance) reads, and sets *mispredicted if given.
 */
static int64
snap_search(Relation index, KyroScanOpaque so, const KyroEntry *probe,
			bool strict, bool *mispredicted)
{
	KyroSnapView *snap = so->snap;
	int64		begin = probe->isnull ? (int64) snap->snap_nonnull : 0;
	int64		end = probe->isnull ? (int64) snap->snap_entries :
		(int64) snap->snap_nonnull;
	uint64		wlo;
	uint64		whi;
	int64		found;
	int64		step;

	if (mispredicted)
		*mispredicted = false;
	if (probe->isnull || !snap->has_model || end == 0)
		return snap_bsearch(index, so, begin, end, probe, strict);

	rmi_window(&snap->model, end, probe->key, &wlo, &whi);
	cache_positions(index, so, wlo > 0 ? wlo - 1 : 0, Min((int64) whi + 1, end - 1));
	found = snap_bsearch(index, so, wlo, whi + 1, probe, strict);
	if (found == (int64) wlo && found > 0 &&
		!snap_before(index, so, found - 1, probe, strict))
	{
		/* the answer is left of the window: gallop left */
		int64		known = found - 1;	/* not before probe */

		if (mispredicted)
			*mispredicted = true;
		for (step = 1; step <= known &&
			 !snap_before(index, so, known - step, probe, strict); step *= 2)
			known -= step;
		return snap_bsearch(index, so, step > known ? 0 : known - step + 1,
							known, probe, strict);
	}
	if (found == (int64) whi + 1 && found < end &&
		snap_before(index, so, found, probe, strict))
	{
		/* the answer is right of the window: gallop right */
		int64		known = found;	/* before probe */

		if (mispredicted)
			*mispredicted = true;
		for (step = 1; step < end - known &&
			 snap_before(index, so, known + step, probe, strict); step *= 2)
			known += step;
		return snap_bsearch(index, so, known + 1,
							step < end - known ? known + step : end, probe, strict);
	}
	return found;
}

/* First delta position whose entry is >= probe (> probe if strict). */
static int64
delta_search(KyroDeltaView *delta, const KyroEntry *probe, bool strict)
{
	int64		lo = 0;
	int64		hi = delta->nentries;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		int			cmp = KyroEntryCompare(&delta->entries[mid], probe);

		if (strict ? cmp <= 0 : cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
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

	if (so->range_no < 0 || so->range_no >= so->nranges)
		return false;
	range_bounds(&so->ranges[so->range_no], &first, &last);

	so->snap_begin = snap_search(index, so, &first, false, &mispredicted);
	so->counts.lookups++;
	so->counts.mispredicts += mispredicted;
	so->snap_end = snap_search(index, so, &last, true, NULL);
	so->delta_begin = delta_search(so->delta, &first, false);
	so->delta_end = delta_search(so->delta, &last, true);
	so->counts.delta_hits += so->delta_end > so->delta_begin;
	if (so->counts.lookups >= KYRO_COUNTS_FLUSH)
		KyroAddScanCounts(index, &so->counts);
	if (so->have_last)
	{
		if (ScanDirectionIsForward(so->dir))
		{
			so->snap_begin = Max(so->snap_begin, snap_search(index, so, &so->last, true, NULL));
			so->delta_begin = Max(so->delta_begin, delta_search(so->delta, &so->last, true));
		}
		else
		{
			so->snap_end = Min(so->snap_end, snap_search(index, so, &so->last, false, NULL));
			so->delta_end = Min(so->delta_end, delta_search(so->delta, &so->last, false));
		}
	}
	if (ScanDirectionIsForward(so->dir))
	{
		so->snap_pos = so->snap_begin;
		so->delta_pos = so->delta_begin;
	}
	else
	{
		so->snap_pos = so->snap_end - 1;
		so->delta_pos = so->delta_end - 1;
	}
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
		bool		have_s = false;
		bool		have_d = false;

		if (!so->positioned && !position_range(index, so))
			return false;
		if (so->recycled)
			return false;

		while (so->snap_pos >= so->snap_begin && so->snap_pos < so->snap_end)
		{
			s = snap_entry(index, so, so->snap_pos);
			if (so->recycled)
				return false;
			if (!s.dead)
			{
				have_s = true;
				break;
			}
			so->snap_pos += step;
		}
		while (so->delta_pos >= so->delta_begin && so->delta_pos < so->delta_end)
		{
			d = so->delta->entries[so->delta_pos];
			if (!d.dead)
			{
				have_d = true;
				break;
			}
			so->delta_pos += step;
		}

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
			so->snap_pos += step;
		}
		else
		{
			*out = d;
			so->delta_pos += step;
		}
		so->last = *out;
		so->have_last = true;
		return true;
	}
}

/* Take (fresh) views of the index and forget cursors into the old ones. */
static void
take_views(IndexScanDesc scan)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	KyroReleaseViews(so->snap, so->delta);
	so->snap = NULL;
	so->delta = NULL;
	KyroGetViews(scan->indexRelation, &so->snap, &so->delta);
	so->page_no = -1;
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
		pgstat_count_index_scan(scan->indexRelation);
		so->started = true;
		so->dir = dir;
		so->range_no = ScanDirectionIsForward(dir) ? 0 : so->nranges - 1;
		take_views(scan);
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
		take_views(scan);
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
	so->tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "kyro_rmi scan",
									   ALLOCSET_SMALL_SIZES);
	scan->opaque = so;
	scan->xs_itupdesc = RelationGetDescr(r);
	return scan;
}

/* amrescan: new keys; views are taken at the first tuple. */
void
kyrorescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
		   ScanKey orderbys, int norderbys)
{
	KyroScanOpaque so = (KyroScanOpaque) scan->opaque;

	if (scankey && scan->numberOfKeys > 0)
		memmove(scan->keyData, scankey, scan->numberOfKeys * sizeof(ScanKeyData));
	KyroReleaseViews(so->snap, so->delta);
	so->snap = NULL;
	so->delta = NULL;
	so->keys_ready = false;
	so->started = false;
	so->positioned = false;
	so->recycled = false;
	so->have_last = false;
	so->at_end = false;
	so->mark_have_last = false;
	so->page_no = -1;
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
	KyroReleaseViews(so->snap, so->delta);
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
