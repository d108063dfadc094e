/*-------------------------------------------------------------------------
 *
 * kvacuum.c
 *	  VACUUM for kyro_rmi: flag dead TIDs, then fold when it pays.
 *
 * ambulkdelete sets the dead bit of every entry whose heap tuple VACUUM is
 * removing.  It reads every block of the index in physical order, as
 * btree's VACUUM does, and flags entries wherever they lie: on the view's
 * snapshot pages and delta chains, and on the pages that folds replaced
 * but that are not yet reused, which scans of an older view may still be
 * reading.  A page is flagged only under a cleanup lock, and only pages
 * with something to flag, or that have been split, are cleanup-locked:
 * that is VACUUM's half of the interlock with scans that hold copies of a
 * page's entries (DESIGN.md, "Scans and VACUUM").  It holds the fold lock throughout (DESIGN.md,
 * "Locks"): a fold must not copy an entry into a new snapshot while
 * VACUUM is flagging it in the old one.
 *
 * src/kvacuum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/lmgr.h"

#include "kyrodb.h"

/* What a bulk delete carries from page to page. */
typedef struct KyroVacuum
{
	IndexVacuumInfo *info;
	IndexBulkDeleteCallback callback;
	void	   *callback_state;
	IndexBulkDeleteResult *stats;
	RmiPageEntry *decoded;		/* a snapshot page's packed entries */
	int64		view_flagged;	/* packed, on the view's snapshot pages */
	int64		delta_flagged;	/* on the view's delta chains */
	int64		area_flagged;	/* in the view's insert areas */
	int64		other_flagged;	/* on pages no longer in the view */
} KyroVacuum;

/* Whether VACUUM removes the tuple an entry points to. */
static bool
removed(KyroVacuum *vac, uint32 block, uint16 offset)
{
	ItemPointerData tid;

	ItemPointerSet(&tid, block, offset);
	return vac->callback(&tid, vac->callback_state);
}

/*
 * One pass over the live entries of a page of entries (snapshot or delta):
 * count those whose tuples VACUUM removes (*packed: a snapshot page's
 * packed part, or a delta page; *area: a snapshot page's insert area), and
 * with flag set, flag them dead.  With counted, the others are counted in
 * the index's tuples.
 */
static void
entries_pass(KyroVacuum *vac, Page page, bool flag, bool counted,
			 int64 *packed, int64 *area)
{
	*packed = *area = 0;
	if (KyroPageKind(page) == KYRO_PAGE_SNAPSHOT)
	{
		void	   *content = KyroSnapContent(page);
		uint32		count = rmi_page_count(content);
		uint32		in_area = rmi_area_count(content);

		rmi_page_decode(content, 0, count, vac->decoded);
		for (uint32 i = 0; i < count; i++)
		{
			if (vac->decoded[i].dead)
				continue;
			if (removed(vac, vac->decoded[i].block, vac->decoded[i].offset))
			{
				(*packed)++;
				if (flag)
					rmi_page_set_dead(content, i, 1);
			}
			else if (counted)
				vac->stats->num_index_tuples += 1;
		}
		for (uint32 i = 0; i < in_area; i++)
		{
			RmiPageEntry e;

			rmi_area_get(content, KYRO_PAGE_CONTENT, i, &e);
			if (e.dead)
				continue;
			if (removed(vac, e.block, e.offset))
			{
				(*area)++;
				if (flag)
					rmi_area_set_dead(content, KYRO_PAGE_CONTENT, i, 1);
			}
			else if (counted)
				vac->stats->num_index_tuples += 1;
		}
	}
	else
	{
		KyroDeltaEntry *entries = KyroDeltaEntries(page);
		uint32		count = KyroPageGetOpaque(page)->count;

		for (uint32 i = 0; i < count; i++)
		{
			if (entries[i].dead)
				continue;
			if (vac->callback(&entries[i].tid, vac->callback_state))
			{
				(*packed)++;
				if (flag)
					entries[i].dead = 1;
			}
			else if (counted)
				vac->stats->num_index_tuples += 1;
		}
	}
}

/*
 * Flag the entries VACUUM removes on a page we hold pinned and no longer
 * locked, under a cleanup lock: once we have it, no scan holds a copy of
 * the page's entries (scans that keep copies keep the page pinned).  The
 * page may have changed since VACUUM read it under its share lock: an
 * insert may have added to its area, or repacked it (which moves every
 * slot), and delta pages take appends.  So the entries are looked at again
 * here, not flagged by the slots seen then.  No fold runs while we hold
 * the fold lock, and a pinned page is never recycled.
 */
static void
flag_entries(Relation index, KyroVacuum *vac, Buffer buffer, int64 *packed,
			 int64 *area, BlockNumber *next)
{
	GenericXLogState *state;
	Page		page;

	LockBufferForCleanup(buffer);
	/* a split since the share lock moved entries there, unflagged */
	if (KyroPageKind(BufferGetPage(buffer)) == KYRO_PAGE_SNAPSHOT)
		*next = KyroPageGetOpaque(BufferGetPage(buffer))->next;
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buffer, 0);
	entries_pass(vac, page, true, false, packed, area);
	if (*packed + *area > 0)
		GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
}

/*
 * Which page of the view each block is: view[blkno] is the snapshot page's
 * number plus one, or 0 for a block the view's directory does not name.
 */
static uint32 *
view_pages(KyroMetaPage meta, const KyroDirItem *items, BlockNumber nblocks)
{
	uint32	   *view = palloc0(sizeof(uint32) * Max(nblocks, 1));

	for (uint32 p = 0; p < meta->snap_pages; p++)
		if (items[p].block < nblocks)
			view[items[p].block] = p + 1;
	return view;
}

/* Whether a delta page belongs to one of meta's chains. */
static bool
delta_in_view(Page page, KyroMetaPage meta)
{
	KyroPageOpaque opaque = KyroPageGetOpaque(page);

	if (opaque->flags & KYRO_PAGE_DELETED)
		return false;
	return (meta->active.number != 0 && opaque->tag == meta->active.number) ||
		(meta->frozen.number != 0 && opaque->tag == meta->frozen.number);
}

/*
 * Whether a snapshot page the view's directory does not name is one split
 * off a page of the view, for the counts: not deleted, and of a tag no
 * newer than the view's (a fold that crashed left pages of a newer one).
 * A page a fold replaced and had not yet marked deleted when it crashed
 * counts too, until the next sweep marks it.
 */
static bool
split_page_of_view(Page page, KyroMetaPage meta)
{
	KyroPageOpaque opaque = KyroPageGetOpaque(page);

	return (opaque->flags & KYRO_PAGE_DELETED) == 0 &&
		opaque->tag <= meta->epoch;
}

/*
 * Flag the dead TIDs of block blkno, whatever it holds: a page of the view
 * is checked as every reader checks it, a page outside the view is read
 * only if it is an intact page of entries (a deleted page still is, until
 * it is reused).  Returns the snapshot page's right-link, if it has one.
 *
 * A page with a right-link has been split, and a split moves entries
 * right without a cleanup lock: a scan may hold copies of entries that now
 * lie on the page's right, where VACUUM flags them without waiting for
 * that scan.  So such a page is cleanup-locked even with nothing to flag,
 * as btree's VACUUM cleanup-locks every leaf: once VACUUM has it, no scan
 * holds a copy taken from it before the split.  A block looked at again
 * (revisit: a right-link led back to it) counts none of its entries in
 * the index's tuples.
 */
static BlockNumber
vacuum_block(Relation index, KyroVacuum *vac, KyroMetaPage meta,
			 const KyroDirItem *items, const uint32 *view, BlockNumber nblocks,
			 BlockNumber blkno, bool revisit)
{
	Buffer		buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno,
											RBM_NORMAL, vac->info->strategy);
	Page		page = BufferGetPage(buffer);
	int64		packed = 0;
	int64		area = 0;
	int64	   *flagged = &vac->other_flagged;
	BlockNumber next = InvalidBlockNumber;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	if (blkno < nblocks && view[blkno] != 0)
	{
		KyroCheckSnapshotPage(index, meta, items, view[blkno] - 1, buffer);
		entries_pass(vac, page, false, !revisit, &packed, &area);
		flagged = &vac->view_flagged;
		next = KyroPageGetOpaque(page)->next;
	}
	else if (!PageIsNew(page) && KyroPageGetOpaque(page)->page_id == KYRO_PAGE_ID)
	{
		uint32		tag = KyroPageGetOpaque(page)->tag;

		if (KyroPageKind(page) == KYRO_PAGE_SNAPSHOT &&
			KyroPageProblem(page, KYRO_PAGE_SNAPSHOT, tag) == NULL)
		{
			bool		in_view = split_page_of_view(page, meta);

			entries_pass(vac, page, false, in_view && !revisit, &packed, &area);
			if (in_view)
				flagged = &vac->view_flagged;
			/* a page a fold replaced may have split before, under a scan */
			next = KyroPageGetOpaque(page)->next;
		}
		else if (KyroPageKind(page) == KYRO_PAGE_DELTA &&
				 KyroPageProblem(page, KYRO_PAGE_DELTA, tag) == NULL)
		{
			bool		in_view = delta_in_view(page, meta);

			entries_pass(vac, page, false, in_view, &packed, &area);
			if (in_view)
				flagged = &vac->delta_flagged;
		}
	}
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	if (packed + area > 0)
	{
		flag_entries(index, vac, buffer, &packed, &area, &next);
		*flagged += packed;
		if (flagged == &vac->view_flagged)
			vac->area_flagged += area;
	}
	else if (next != InvalidBlockNumber)
	{
		LockBufferForCleanup(buffer);
		next = KyroPageGetOpaque(page)->next;
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(buffer);
	return next;
}

/* Record in the metapage that dead flags were set. */
static void
bump_vacuum_generation(Relation index, int64 snap_flagged)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	KyroMetaChange change;
	KyroMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = KyroStartMetaChange(index, metabuf, &change);
	meta->vacuum_generation++;
	meta->snap_dead += snap_flagged;
	KyroFinishMetaChange(&change);
	UnlockReleaseBuffer(metabuf);
}

/* ambulkdelete */
IndexBulkDeleteResult *
kyrobulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	KyroVacuum	vac = {0};
	KyroMetaPage meta;
	KyroDirItem *items;
	uint32	   *view;
	BlockNumber nblocks;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;
	vac.info = info;
	vac.callback = callback;
	vac.callback_state = callback_state;
	vac.stats = stats;
	vac.decoded = palloc(sizeof(RmiPageEntry) * RMI_PAGE_MAX_ENTRIES);


	KyroLockFold(index, true);
	meta = KyroReadMeta(index);
	items = KyroReadDirectory(index, meta);
	if (items == NULL)
		KyroCorrupt(index, "The directory was recycled while the fold lock was held.");

	/*
	 * Pages added after this are delta pages that inserts began since, whose
	 * entries are of live tuples, or pages split off a page, which the loop
	 * reaches by the page's right-link.
	 */
	nblocks = RelationGetNumberOfBlocks(index);
	view = view_pages(meta, items, nblocks);
	for (BlockNumber blkno = KYRO_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		BlockNumber next;
		BlockNumber hops = 0;

		KyroVacuumDelayPoint();
		next = vacuum_block(index, &vac, meta, items, view, nblocks, blkno,
							false);

		/*
		 * A split since the pass began may have moved entries of this page
		 * to a block the pass has gone by, or past its end: follow the
		 * page's right-links there (flagging twice flags nothing more).
		 * Entries only grow along a chain, so it ends; the count is for a
		 * damaged one.
		 */
		while (next != InvalidBlockNumber && next != KYRO_METAPAGE_BLKNO &&
			   (next < blkno || next >= nblocks) &&
			   next < RelationGetNumberOfBlocks(index) && hops++ < nblocks)
		{
			KyroVacuumDelayPoint();
			next = vacuum_block(index, &vac, meta, items, view, nblocks, next,
								next < blkno);
		}
	}
	if (vac.view_flagged + vac.delta_flagged + vac.area_flagged > 0)
		bump_vacuum_generation(index, vac.view_flagged);
	KyroUnlockFold(index);

	stats->tuples_removed += vac.view_flagged + vac.delta_flagged +
		vac.area_flagged;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	pfree(view);
	pfree(items);
	pfree(vac.decoded);

	pfree(meta);
	return stats;
}

/*
 * amvacuumcleanup: fold when the delta is past its limit or too much of
 * the snapshot is dead, hand freed pages to the free space map, report.
 */
IndexBulkDeleteResult *
kyrovacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	KyroMetaPage meta;
	BlockNumber freed = 0;

	if (info->analyze_only)
		return stats;

	meta = KyroReadMeta(index);
	if (KyroDeltaSize(index, meta) >= KyroDeltaLimit(index, meta->snap_entries) ||
		KyroDeadPastFraction(meta))
		KyroFold(index, 0, NULL);
	if (KyroLockFold(index, false))
	{
		freed = KyroSweepFreePages(index);
		KyroUnlockFold(index);
	}
	pfree(meta);

	if (stats == NULL)
	{
		/* no bulkdelete pass: count from the metapage */
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		meta = KyroReadMeta(index);
		/*
		 * snap_entries is the view's count when it was written, and
		 * snap_dead an estimate that counts entries repacks have packed
		 * since (and revived ones), so the difference may fall below zero
		 */
		stats->num_index_tuples = Max((double) meta->snap_entries -
									  (double) meta->snap_dead, 0) +
			KyroDeltaSize(index, meta);
		stats->estimated_count = true;
		pfree(meta);
	}
	stats->num_pages = RelationGetNumberOfBlocks(index);
	stats->pages_free = freed;
	return stats;
}
