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
 * with something to flag are cleanup-locked: that is VACUUM's half of the
 * interlock with scans that hold copies of a page's entries (DESIGN.md,
 * "Scans and VACUUM").  It holds the fold lock throughout (DESIGN.md,
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
	RmiPageEntry *decoded;		/* a snapshot page's entries */
	uint16	   *slots;			/* the slots to flag on the page in hand */
	int64		view_flagged;	/* on the view's snapshot pages */
	int64		delta_flagged;	/* on the view's delta chains */
	int64		other_flagged;	/* on pages no longer in the view */
} KyroVacuum;

/*
 * Flag slots[0..n) of a page we hold pinned and no longer locked, under a
 * cleanup lock: once we have it, no scan holds a copy of the page's
 * entries (scans that keep copies keep the page pinned).  The page cannot
 * change meanwhile but for appends: no fold runs while we hold the fold
 * lock, only VACUUM sets dead bits, and a pinned page is never recycled.
 */
static void
flag_slots(Relation index, Buffer buffer, const uint16 *slots, int n)
{
	GenericXLogState *state;
	Page		page;

	LockBufferForCleanup(buffer);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buffer, 0);
	if (KyroPageKind(page) == KYRO_PAGE_SNAPSHOT)
	{
		for (int i = 0; i < n; i++)
			rmi_page_set_dead(KyroSnapContent(page), slots[i]);
	}
	else
	{
		for (int i = 0; i < n; i++)
			KyroDeltaEntries(page)[slots[i]].dead = 1;
	}
	GenericXLogFinish(state);
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
}

/*
 * The slots of a share-locked snapshot page whose TIDs VACUUM removes;
 * counts the others in the view's entries if counted.
 */
static int
dead_snapshot_slots(KyroVacuum *vac, Page page, bool counted)
{
	uint32		count = KyroPageGetOpaque(page)->count;
	int			n = 0;

	rmi_page_decode(KyroSnapContent(page), 0, count, vac->decoded);
	for (uint32 i = 0; i < count; i++)
	{
		ItemPointerData tid;

		if (vac->decoded[i].dead)
			continue;
		ItemPointerSet(&tid, vac->decoded[i].block, vac->decoded[i].offset);
		if (vac->callback(&tid, vac->callback_state))
			vac->slots[n++] = (uint16) i;
		else if (counted)
			vac->stats->num_index_tuples += 1;
	}
	return n;
}

/* The same for a delta page. */
static int
dead_delta_slots(KyroVacuum *vac, Page page, bool counted)
{
	KyroDeltaEntry *entries = KyroDeltaEntries(page);
	uint32		count = KyroPageGetOpaque(page)->count;
	int			n = 0;

	for (uint32 i = 0; i < count; i++)
	{
		if (entries[i].dead)
			continue;
		if (vac->callback(&entries[i].tid, vac->callback_state))
			vac->slots[n++] = (uint16) i;
		else if (counted)
			vac->stats->num_index_tuples += 1;
	}
	return n;
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
 * Flag the dead TIDs of block blkno, whatever it holds: a page of the view
 * is checked as every reader checks it, a page outside the view is read
 * only if it is an intact page of entries (a deleted page still is, until
 * it is reused).
 */
static void
vacuum_block(Relation index, KyroVacuum *vac, KyroMetaPage meta,
			 const KyroDirItem *items, const uint32 *view, BlockNumber blkno)
{
	Buffer		buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno,
											RBM_NORMAL, vac->info->strategy);
	Page		page = BufferGetPage(buffer);
	int			n = 0;
	int64	   *flagged = &vac->other_flagged;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	if (view[blkno] != 0)
	{
		KyroCheckSnapshotPage(index, meta, items, view[blkno] - 1, buffer);
		n = dead_snapshot_slots(vac, page, true);
		flagged = &vac->view_flagged;
	}
	else if (!PageIsNew(page) && KyroPageGetOpaque(page)->page_id == KYRO_PAGE_ID)
	{
		uint32		tag = KyroPageGetOpaque(page)->tag;

		if (KyroPageKind(page) == KYRO_PAGE_SNAPSHOT &&
			KyroPageProblem(page, KYRO_PAGE_SNAPSHOT, tag) == NULL)
			n = dead_snapshot_slots(vac, page, false);
		else if (KyroPageKind(page) == KYRO_PAGE_DELTA &&
				 KyroPageProblem(page, KYRO_PAGE_DELTA, tag) == NULL)
		{
			bool		in_view = delta_in_view(page, meta);

			n = dead_delta_slots(vac, page, in_view);
			if (in_view)
				flagged = &vac->delta_flagged;
		}
	}
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	if (n > 0)
	{
		flag_slots(index, buffer, vac->slots, n);
		*flagged += n;
	}
	ReleaseBuffer(buffer);
}

/* Record in the metapage that dead flags were set. */
static void
bump_vacuum_generation(Relation index, int64 snap_flagged)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	GenericXLogState *state;
	KyroMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->vacuum_generation++;
	meta->snap_dead += snap_flagged;
	GenericXLogFinish(state);
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
	vac.slots = palloc(sizeof(uint16) * Max(RMI_PAGE_MAX_ENTRIES, KYRO_DELTA_PER_PAGE));

	KyroLockFold(index, true);
	meta = KyroReadMeta(index);
	items = KyroReadDirectory(index, meta);
	if (items == NULL)
		KyroCorrupt(index, "The directory was recycled while the fold lock was held.");

	/*
	 * Pages added after this are delta pages that inserts began since: their
	 * entries are of live tuples.
	 */
	nblocks = RelationGetNumberOfBlocks(index);
	view = view_pages(meta, items, nblocks);
	for (BlockNumber blkno = KYRO_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		KyroVacuumDelayPoint();
		vacuum_block(index, &vac, meta, items, view, blkno);
	}
	if (vac.view_flagged + vac.delta_flagged > 0)
		bump_vacuum_generation(index, vac.view_flagged);
	KyroUnlockFold(index);

	stats->tuples_removed += vac.view_flagged + vac.delta_flagged;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	pfree(view);
	pfree(items);
	pfree(vac.decoded);
	pfree(vac.slots);
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
		stats->num_index_tuples = meta->snap_entries - meta->snap_dead +
			KyroDeltaSize(index, meta);
		stats->estimated_count = true;
		pfree(meta);
	}
	stats->num_pages = RelationGetNumberOfBlocks(index);
	stats->pages_free = freed;
	return stats;
}
