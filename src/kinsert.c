/*-------------------------------------------------------------------------
 *
 * kinsert.c
 *	  aminsert for kyro_rmi: append (key, TID) to the active delta chain.
 *
 * An insert never touches the snapshot: it appends one entry to the tail
 * page of the active chain, and past the delta limit wakes the worker or,
 * without one, takes a step of a fold itself.  The locks, and why an
 * insert holds the metapage's lock in share mode while it appends: see
 * DESIGN.md, "Locks" and "Inserts".  With the library preloaded, the
 * append is logged by KyroDB's own record (kwal.c), else by generic WAL.
 *
 * src/kinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kyrodb.h"

/* Pin and exclusively lock the active chain's tail page, checked. */
static Buffer
lock_tail(Relation index, KyroMetaPage meta)
{
	Buffer		tailbuf = ReadBuffer(index, meta->active.tail);

	LockBuffer(tailbuf, BUFFER_LOCK_EXCLUSIVE);
	if (KyroPageKind(BufferGetPage(tailbuf)) != KYRO_PAGE_DELTA ||
		KyroPageGetOpaque(BufferGetPage(tailbuf))->tag != meta->active.number ||
		KyroPageGetOpaque(BufferGetPage(tailbuf))->count > KYRO_DELTA_PER_PAGE)
	{
		UnlockReleaseBuffer(tailbuf);
		KyroCorrupt(index, psprintf("Delta tail page %u does not belong to chain %u.",
									meta->active.tail, meta->active.number));
	}
	return tailbuf;
}

/*
 * Append entry to the tail page if it has room, under the metapage's
 * share lock; returns the chain's entries then, or 0 if the tail is full
 * or there is none.
 */
static uint64
append_to_tail(Relation index, Buffer metabuf, const KyroDeltaEntry *entry,
			   uint64 *snap_entries)
{
	KyroMetaPage meta = KyroPageGetMeta(BufferGetPage(metabuf));
	Buffer		tailbuf;
	GenericXLogState *state = NULL;
	uint64		entries = 0;

	if (meta->active.tail == InvalidBlockNumber)
		return 0;
	/* its allocation need not happen while others wait for the tail */
	if (!KyroOwnWal())
		state = GenericXLogStart(index);
	tailbuf = lock_tail(index, meta);
	if (KyroPageGetOpaque(BufferGetPage(tailbuf))->count < KYRO_DELTA_PER_PAGE)
	{
		if (state == NULL)
			KyroWalDeltaAppend(index, tailbuf, entry);
		else
		{
			KyroDeltaAppend(GenericXLogRegisterBuffer(state, tailbuf, 0), entry);
			GenericXLogFinish(state);
		}
		entries = meta->active.before_tail +
			KyroPageGetOpaque(BufferGetPage(tailbuf))->count;
		*snap_entries = meta->snap_entries;
	}
	else if (state != NULL)
		GenericXLogAbort(state);
	UnlockReleaseBuffer(tailbuf);
	return entries;
}

/*
 * Append entry on a new tail page, under the metapage's exclusive lock
 * (some other backend may have added one meanwhile: then append there);
 * returns the chain's entries.
 */
static uint64
append_on_new_page(Relation index, Buffer metabuf, const KyroDeltaEntry *entry,
				   uint64 *snap_entries)
{
	KyroMetaPage meta = KyroPageGetMeta(BufferGetPage(metabuf));
	Buffer		tailbuf = InvalidBuffer;
	Buffer		newbuf;
	GenericXLogState *state;
	Page		target;
	uint32		full = 0;
	uint64		entries;

	if (meta->active.tail != InvalidBlockNumber)
	{
		tailbuf = lock_tail(index, meta);
		full = KyroPageGetOpaque(BufferGetPage(tailbuf))->count;
		if (full < KYRO_DELTA_PER_PAGE)
		{
			UnlockReleaseBuffer(tailbuf);
			return append_to_tail(index, metabuf, entry, snap_entries);
		}
	}
	newbuf = KyroNewBuffer(index);

	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	if (meta->active.number == 0)
		meta->active.number = meta->next_chain++;
	target = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
	KyroInitPage(target, KYRO_PAGE_DELTA, meta->active.number);
	if (tailbuf != InvalidBuffer)
		KyroPageGetOpaque(GenericXLogRegisterBuffer(state, tailbuf, 0))->next =
			BufferGetBlockNumber(newbuf);
	else
		meta->active.head = BufferGetBlockNumber(newbuf);
	meta->active.tail = BufferGetBlockNumber(newbuf);
	meta->active.before_tail += full;
	KyroDeltaAppend(target, entry);
	entries = meta->active.before_tail + 1;
	*snap_entries = meta->snap_entries;
	GenericXLogFinish(state);

	UnlockReleaseBuffer(newbuf);
	if (tailbuf != InvalidBuffer)
		UnlockReleaseBuffer(tailbuf);
	return entries;
}

/*
 * Append entry to the active chain; returns the chain's entry count, and
 * the snapshot's in *snap_entries.
 */
static uint64
append_to_delta(Relation index, const KyroDeltaEntry *entry,
				uint64 *snap_entries)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	uint64		entries;

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	entries = append_to_tail(index, metabuf, entry, snap_entries);
	if (entries == 0)
	{
		LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
		entries = append_on_new_page(index, metabuf, entry, snap_entries);
	}
	UnlockReleaseBuffer(metabuf);
	return entries;
}

/* aminsert: one heap tuple's entry into the delta. */
bool
kyroinsert(Relation index, Datum *values, bool *isnull,
		   ItemPointer ht_ctid, Relation heapRel,
		   IndexUniqueCheck checkUnique,
		   bool indexUnchanged,
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
