/*-------------------------------------------------------------------------
 *
 * kvacuum.c
 *	  VACUUM for kyro_rmi: flag dead TIDs, then fold when it pays.
 *
 * ambulkdelete sets the dead bit of every entry whose heap tuple VACUUM is
 * removing, in snapshot and delta pages alike, and bumps the metapage's
 * vacuum generation so that backends drop their copies of the delta.  It
 * holds the fold lock throughout (DESIGN.md, "Locks"): a fold must not
 * copy an entry into a new snapshot while VACUUM is flagging it in the old
 * one.
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

/* Flag the dead TIDs of snapshot page p; returns how many. */
static int64
vacuum_snapshot_page(Relation index, KyroMetaPage meta, const KyroDirItem *items,
					 uint32 p, RmiPageEntry *decoded,
					 IndexBulkDeleteCallback callback, void *callback_state,
					 IndexBulkDeleteResult *stats)
{
	Buffer		buffer = KyroReadSnapshotPageLocked(index, meta, items, p,
													BUFFER_LOCK_EXCLUSIVE);
	Page		page = BufferGetPage(buffer);
	GenericXLogState *state = NULL;
	int64		flagged = 0;
	uint32		count = items[p].count;

	rmi_page_decode(KyroSnapContent(page), 0, count, decoded);
	for (uint32 i = 0; i < count; i++)
	{
		ItemPointerData tid;

		if (decoded[i].dead)
			continue;
		ItemPointerSet(&tid, decoded[i].block, decoded[i].offset);
		if (callback(&tid, callback_state))
		{
			if (state == NULL)
			{
				state = GenericXLogStart(index);
				page = GenericXLogRegisterBuffer(state, buffer, 0);
			}
			rmi_page_set_dead(KyroSnapContent(page), i);
			flagged++;
		}
		else
			stats->num_index_tuples += 1;
	}
	if (state)
		GenericXLogFinish(state);
	UnlockReleaseBuffer(buffer);
	return flagged;
}

/* Flag the dead TIDs of one delta chain; returns how many. */
static int64
vacuum_chain(Relation index, const KyroChain *chain,
			 IndexBulkDeleteCallback callback, void *callback_state,
			 IndexBulkDeleteResult *stats)
{
	BlockNumber blkno = chain->number != 0 ? chain->head : InvalidBlockNumber;
	int64		flagged = 0;
	BlockNumber visited = 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	while (blkno != InvalidBlockNumber)
	{
		Buffer		buffer;
		Page		page;
		GenericXLogState *state = NULL;
		KyroDeltaEntry *entries;

		CHECK_FOR_INTERRUPTS();
		if (++visited > KYRO_CHAIN_LOOP_CHECK && visited > nblocks)
			KyroCorrupt(index, psprintf("Delta chain %u has a loop.", chain->number));
		buffer = KyroReadPage(index, blkno, KYRO_PAGE_DELTA, chain->number,
							  BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(buffer))
			KyroCorrupt(index, psprintf("Delta chain %u was recycled while the fold lock was held.",
										chain->number));
		page = BufferGetPage(buffer);
		entries = KyroDeltaEntries(page);
		for (uint32 i = 0; i < KyroPageGetOpaque(page)->count; i++)
		{
			if (entries[i].dead)
				continue;
			if (callback(&entries[i].tid, callback_state))
			{
				if (state == NULL)
				{
					state = GenericXLogStart(index);
					page = GenericXLogRegisterBuffer(state, buffer, 0);
					entries = KyroDeltaEntries(page);
				}
				entries[i].dead = 1;
				flagged++;
			}
			else
				stats->num_index_tuples += 1;
		}
		blkno = KyroPageGetOpaque(page)->next;
		if (state)
			GenericXLogFinish(state);
		UnlockReleaseBuffer(buffer);
	}
	return flagged;
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
	KyroMetaPage meta;
	KyroDirItem *items;
	RmiPageEntry *decoded = palloc(sizeof(RmiPageEntry) * RMI_PAGE_MAX_ENTRIES);
	int64		snap_flagged = 0;
	int64		delta_flagged = 0;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;

	KyroLockFold(index, true);
	meta = KyroReadMeta(index);
	items = KyroReadDirectory(index, meta);
	if (items == NULL)
		KyroCorrupt(index, "The directory was recycled while the fold lock was held.");
	for (uint32 p = 0; p < meta->snap_pages; p++)
	{
		snap_flagged += vacuum_snapshot_page(index, meta, items, p, decoded,
											 callback, callback_state, stats);
		KyroVacuumDelayPoint();
	}
	delta_flagged += vacuum_chain(index, &meta->frozen, callback,
								  callback_state, stats);
	/* the active chain as it is now: pages appended since are live */
	pfree(meta);
	meta = KyroReadMeta(index);
	delta_flagged += vacuum_chain(index, &meta->active, callback,
								  callback_state, stats);
	if (snap_flagged + delta_flagged > 0)
		bump_vacuum_generation(index, snap_flagged);
	KyroUnlockFold(index);

	stats->tuples_removed += snap_flagged + delta_flagged;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	pfree(items);
	pfree(decoded);
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
