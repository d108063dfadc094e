/*-------------------------------------------------------------------------
 *
 * kinsert.c
 *	  aminsert for kyro_rmi: (key, TID) into the insert area of the
 *	  snapshot page the key belongs to, or else onto the delta.
 *
 * An insert routes its key as a lookup does (kroute.c) and adds its entry
 * to that page's insert area under the page's exclusive lock, so inserts
 * of random keys lock different pages.  It goes to the active delta
 * chain's tail page instead when the page is full, when a fold has read
 * the page to rewrite it (KYRO_PAGE_REPLACED), for a NULL key, for an
 * index with fillfactor 100 (packed full, it keeps 0.2's write path), and
 * for an index of format 3 (built by 0.2: its pages have no room kept for an
 * area until a fold rewrites them).  Past the delta limit an insert wakes
 * the worker or, without one, takes a step of a fold itself.  Either way
 * it holds the metapage's lock in share mode while it changes a page: see
 * DESIGN.md, "Locks" and "Inserts".  With the library preloaded, the
 * change is logged by KyroDB's own record (kwal.c), else by generic WAL.
 *
 * src/kinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "miscadmin.h"

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
 * Repack the exclusively locked snapshot page in buffer with entry added:
 * its packed entries (dead ones too: the metapage counts them) and its
 * area's live entries, encoded afresh, so that the area is empty again.
 * Only if the page keeps at least reserve bytes free after it; false,
 * with the page untouched, if not, or if two entries would be equal (a
 * reused TID beside its dead entry: the packed part is strictly ordered).
 * The page changes whole, so it is logged as a full page image, which
 * replays without the library.
 */
static bool
repack_page(Relation index, Buffer buffer, const RmiPageEntry *entry,
			size_t reserve)
{
	Page		page = BufferGetPage(buffer);
	void	   *content = KyroSnapContent(page);
	uint32		total = rmi_area_total(content);
	RmiPageEntry *merged = palloc(sizeof(RmiPageEntry) * (total + 1));
	uint8	   *from_area = palloc(Max(total, 1));
	RmiPageEntry *kept = palloc(sizeof(RmiPageEntry) * (total + 1));
	RmiAreaCursor cursor = {0, 0};
	uint32		n = 0;
	bool		placed = false;
	bool		ok = true;
	size_t		size;
	char	   *encoded;

	total = rmi_area_read(content, KYRO_PAGE_CONTENT, &cursor, 0, merged,
						  from_area, total);
	for (uint32 i = 0; i <= total; i++)
	{
		if (!placed && (i == total || rmi_page_compare(entry, &merged[i]) < 0))
		{
			kept[n++] = *entry;
			placed = true;
		}
		if (i < total && !(from_area[i] && merged[i].dead))
			kept[n++] = merged[i];
	}
	for (uint32 i = 1; i < n && ok; i++)
		ok = rmi_page_compare(&kept[i - 1], &kept[i]) < 0;
	size = ok ? rmi_page_size(kept, n) : SIZE_MAX;
	if (size == SIZE_MAX || size + reserve > KYRO_PAGE_CONTENT)
	{
		pfree(merged);
		pfree(from_area);
		pfree(kept);
		return false;
	}
	encoded = palloc(KYRO_PAGE_CONTENT);
	if (rmi_page_encode(kept, n, encoded, KYRO_PAGE_CONTENT) == 0)
		elog(ERROR, "kyro_rmi: a repacked page does not encode in the size measured");

	START_CRIT_SECTION();
	memcpy(content, encoded, KYRO_PAGE_CONTENT);
	KyroPageGetOpaque(page)->count = n;
	KyroSetAreaHole(page);
	MarkBufferDirty(buffer);
	if (RelationNeedsWAL(index))
		log_newpage_buffer(buffer, true);
	END_CRIT_SECTION();

	pfree(encoded);
	pfree(merged);
	pfree(from_area);
	pfree(kept);
	return true;
}

/*
 * Whether the page in content holds an entry equal to e (packed or in its
 * area): a dead one whose heap TID VACUUM let a new tuple of the same key
 * take.  Such an insert goes to the delta: two equal entries on one page
 * would let a scan that resumes after the first (by value, kscan.c) skip
 * the second.
 */
static bool
page_holds_equal(void *content, const RmiPageEntry *e)
{
	RmiAreaCursor cursor;
	RmiPageEntry at;

	rmi_area_seek(content, KYRO_PAGE_CONTENT, e, 0, &cursor, NULL);
	if (cursor.packed < rmi_page_count(content))
	{
		rmi_page_get(content, cursor.packed, &at);
		if (rmi_page_compare(&at, e) == 0)
			return true;
	}
	if (cursor.area < rmi_area_count(content))
	{
		rmi_area_get(content, KYRO_PAGE_CONTENT, cursor.area, &at);
		if (rmi_page_compare(&at, e) == 0)
			return true;
	}
	return false;
}

/*
 * Add entry to the insert area of its snapshot page (snap: the backend's
 * snapshot cache, routes it), under the metapage's share lock; false if
 * it must go to the delta: the view is not snap's, it has no areas
 * (format 3, fillfactor 100), a fold is rewriting the page, the page holds
 * an equal entry (page_holds_equal), or the page is full.
 */
static bool
insert_into_area(Relation index, Buffer metabuf, KyroSnapCache *snap,
				 const KyroDeltaEntry *entry, bool *repacked)
{
	KyroMetaPage meta = KyroPageGetMeta(BufferGetPage(metabuf));
	KyroEntry	e;
	RmiPageEntry pe;
	uint64		compared = 0;
	uint32		p;
	Buffer		buffer;
	Page		page;
	GenericXLogState *state = NULL;
	bool		refused;
	bool		done = false;

	if (meta->version < KYRO_FORMAT_VERSION ||
		KyroGetOptions(index)->fillfactor >= KYRO_MAX_FILLFACTOR ||
		meta->epoch != snap->epoch || snap->key_pages == 0)
		return false;
	memset(&e, 0, sizeof(e));
	e.key = entry->key;
	e.tid = entry->tid;
	p = KyroRoutePage(snap, &e, true, &compared, NULL);
	KyroEntryToPage(&pe, &e);

	/* its allocation need not happen while others wait for the page */
	if (!KyroOwnWal())
		state = GenericXLogStart(index);
	buffer = ReadBuffer(index, snap->items[p].block);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	/* the metapage names this view, so a page that is not right is damage */
	KyroCheckSnapshotPage(index, meta, snap->items, p, buffer);
	page = BufferGetPage(buffer);
	/* a page a fold has read takes no more: the fold would not see them */
	refused = (KyroPageGetOpaque(page)->flags & KYRO_PAGE_REPLACED) != 0 ||
		page_holds_equal(KyroSnapContent(page), &pe);
	if (!refused &&
		rmi_area_free(KyroSnapContent(page), KYRO_PAGE_CONTENT) >= RMI_AREA_ENTRY_BYTES &&
		rmi_area_count(KyroSnapContent(page)) < RMI_AREA_MAX_ENTRIES)
	{
		if (state == NULL)
			KyroWalAreaInsert(index, buffer, &pe);
		else
		{
			Page		target = GenericXLogRegisterBuffer(state, buffer, 0);

			rmi_area_insert(KyroSnapContent(target), KYRO_PAGE_CONTENT, &pe);
			KyroSetAreaHole(target);
			GenericXLogFinish(state);
			state = NULL;
		}
		done = true;
	}
	else if (!refused && (snap->full_pages[p / 8] & (1 << (p % 8))) == 0 &&
			 (p + 1 < snap->key_pages ||
			  !rmi_area_appends_only(KyroSnapContent(page), KYRO_PAGE_CONTENT)))
	{
		/* a full area: repack in place while the page keeps room for one */
		done = *repacked = repack_page(index, buffer, &pe,
									   KYRO_REPACK_MIN_AREA * RMI_AREA_ENTRY_BYTES);
		/* decoding the page again for each insert would find it full again */
		if (!done)
			snap->full_pages[p / 8] |= 1 << (p % 8);
	}

	/*
	 * Appends (keys past the last page's entries: ids, timestamps) go to
	 * the delta once the last page's area is full: repacking the last page
	 * for each areaful of them would re-encode it over and over, where an
	 * append fold writes only the new entries' pages.
	 */
	if (state != NULL)
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buffer);
	return done;
}

/*
 * Add entry to the index: to its page's insert area if it can, else to the
 * active chain.  Returns the chain's entry count after an append (0 after
 * an insert into an area), and the snapshot's in *snap_entries.
 */
static uint64
insert_entry(Relation index, const KyroDeltaEntry *entry, uint64 *snap_entries)
{
	Buffer		metabuf;
	KyroSnapCache *snap = NULL;
	uint64		entries;

	/* the cache reads the metapage itself: before we lock it */
	if (!entry->isnull)
		KyroGetCaches(index, &snap, NULL);
	metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	if (snap != NULL)
	{
		bool		repacked = false;
		bool		done = insert_into_area(index, metabuf, snap, entry, &repacked);

		KyroReleaseCaches(snap, NULL);
		if (done)
		{
			UnlockReleaseBuffer(metabuf);
			/* the counters' lock is never taken under a buffer lock */
			if (repacked)
				KyroCountEvent(RelationGetRelid(index), KYRO_EVENT_REPACK);
			return 0;
		}
	}
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

/* aminsert: one heap tuple's entry into an insert area or the delta. */
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

	entries = insert_entry(index, &entry, &snap_entries);
	if (entries == 0)
		return false;
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
