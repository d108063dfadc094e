/*-------------------------------------------------------------------------
 *
 * kinsert.c
 *	  aminsert for kyro_rmi: append (key, TID) to the active delta chain.
 *
 * An insert never touches the snapshot: it takes the metapage lock,
 * appends one entry to the tail page of the active chain (a new page when
 * the tail is full) and WAL-logs the pages it changed in one generic
 * record.  Past the delta limit it wakes the database's worker and goes
 * on; it folds the delta into a new snapshot itself only when there is no
 * worker, or when the delta has reached kyrodb.fold_ceiling times the
 * limit (the worker is not keeping up), and never waits for a running
 * fold (as GIN cleans its pending list).
 *
 * src/kinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kyrodb.h"

/*
 * Append entry to the active chain; returns the chain's entry count, and
 * the snapshot's in *snap_entries.
 */
static uint64
append_to_delta(Relation index, const KyroDeltaEntry *entry,
				uint64 *snap_entries)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	Buffer		tailbuf = InvalidBuffer;
	Buffer		newbuf = InvalidBuffer;
	GenericXLogState *state;
	KyroMetaPage meta;
	Page		target;
	uint64		entries;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	meta = KyroPageGetMeta(BufferGetPage(metabuf));

	if (meta->active.tail != InvalidBlockNumber)
	{
		tailbuf = ReadBuffer(index, meta->active.tail);
		LockBuffer(tailbuf, BUFFER_LOCK_EXCLUSIVE);
		if (KyroPageKind(BufferGetPage(tailbuf)) != KYRO_PAGE_DELTA ||
			KyroPageGetOpaque(BufferGetPage(tailbuf))->tag != meta->active.number)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("delta tail page %u of index \"%s\" does not belong to chain %u",
							meta->active.tail, RelationGetRelationName(index),
							meta->active.number),
					 errhint("Rebuild the index with REINDEX.")));
	}
	if (tailbuf == InvalidBuffer ||
		KyroPageGetOpaque(BufferGetPage(tailbuf))->count >= KYRO_DELTA_PER_PAGE)
		newbuf = KyroNewBuffer(index);

	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	if (newbuf != InvalidBuffer)
	{
		BlockNumber newblk = BufferGetBlockNumber(newbuf);

		if (meta->active.number == 0)
			meta->active.number = meta->next_chain++;
		target = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
		KyroInitPage(target, KYRO_PAGE_DELTA, meta->active.number);
		if (tailbuf != InvalidBuffer)
			KyroPageGetOpaque(GenericXLogRegisterBuffer(state, tailbuf, 0))->next = newblk;
		else
			meta->active.head = newblk;
		meta->active.tail = newblk;
	}
	else
		target = GenericXLogRegisterBuffer(state, tailbuf, 0);

	KyroDeltaEntries(target)[KyroPageGetOpaque(target)->count++] = *entry;
	entries = ++meta->active.entries;
	*snap_entries = meta->snap_entries;
	GenericXLogFinish(state);

	if (newbuf != InvalidBuffer)
		UnlockReleaseBuffer(newbuf);
	if (tailbuf != InvalidBuffer)
		UnlockReleaseBuffer(tailbuf);
	UnlockReleaseBuffer(metabuf);
	return entries;
}

/* aminsert: one heap tuple's entry into the delta. */
bool
kyroinsert(Relation index, Datum *values, bool *isnull,
		   ItemPointer ht_ctid, Relation heapRel,
		   IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
		   bool indexUnchanged,
#endif
		   IndexInfo *indexInfo)
{
	KyroDeltaEntry entry;
	uint64		entries;
	uint64		snap_entries;
	uint64		limit;

	memset(&entry, 0, sizeof(entry));
	entry.isnull = isnull[0];
	if (!isnull[0])
		entry.key = KyroDatumToKey(values[0], index->rd_opcintype[0]);
	entry.tid = *ht_ctid;

	entries = append_to_delta(index, &entry, &snap_entries);
	limit = KyroDeltaLimit(index, snap_entries);
	if (entries >= limit)
	{
		if (entries < limit * kyro_fold_ceiling && KyroRequestFold(index))
			return false;
		if (KyroFold(index, 0, NULL))
			KyroCountEvent(RelationGetRelid(index), KYRO_EVENT_INLINE_FOLD);
	}
	return false;
}
