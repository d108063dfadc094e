/*-------------------------------------------------------------------------
 *
 * kinsert.c
 *	  aminsert for kyro_rmi: (key, TID) into the snapshot page the key
 *	  belongs to, or else onto the delta.
 *
 * An insert routes its key as a lookup does (kroute.c), moves right along
 * the page's siblings (pages split off it since the directory was
 * written) to the one its entry belongs to, and adds its entry to that
 * page's insert area under the page's exclusive lock, so inserts of random
 * keys lock different pages.  A full area makes it repack the page, and a
 * page that no longer fits splits in two (DESIGN.md, "Splits").  An entry
 * equal to a dead one on its page revives it, under the page's lock.
 * NULL keys go to the NULL pages alike.  It goes to the active delta
 * chain's tail page instead while the view has no page of its entry's
 * kind (an index built with no key, or no NULL; the fold it makes due
 * writes one), when a fold has read the page to rewrite it
 * (KYRO_PAGE_REPLACED), and for an index of format 3 (built by 0.2: its
 * pages have no room kept for an area until a fold rewrites them).  With
 * a fold due, past the delta limit, or with split pages to publish, it
 * wakes the worker or, without one, folds itself.  It holds the
 * metapage's lock in share mode while it changes a page: see DESIGN.md,
 * "Locks" and "Inserts".  With the library preloaded, an insert into an
 * area is logged by KyroDB's own record (kwal.c), else by generic WAL;
 * repacks, splits and revivals log whole pages.
 *
 * src/kinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/indexfsm.h"

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
 * The entries the locked snapshot page in content keeps through a repack
 * or a split, with entry added, in order, into kept (room for the page's
 * entries and one more): its packed entries (dead ones too: the metapage
 * counts them) and its area's live ones.  Returns how many, or 0 if two
 * would be equal (a reused TID beside its dead entry: the packed part is
 * strictly ordered).
 */
static uint32
entries_kept(void *content, const RmiPageEntry *entry, RmiPageEntry *kept)
{
	uint32		total = rmi_area_total(content);
	RmiPageEntry *merged = palloc(sizeof(RmiPageEntry) * Max(total, 1));
	uint8	   *from_area = palloc(Max(total, 1));
	RmiAreaCursor cursor = {0, 0};
	uint32		n = 0;
	bool		placed = false;

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
	pfree(merged);
	pfree(from_area);
	for (uint32 i = 1; i < n; i++)
		if (rmi_page_compare(&kept[i - 1], &kept[i]) >= 0)
			return 0;
	return n;
}

/* e[0..n) encoded as a snapshot page's content, with an empty area. */
static char *
encode_entries(const RmiPageEntry *e, uint32 n)
{
	char	   *encoded = palloc(KYRO_PAGE_CONTENT);

	if (rmi_page_encode(e, n, encoded, KYRO_PAGE_CONTENT) == 0)
		elog(ERROR, "kyro_rmi: a page of %u entries does not encode in the size measured", n);
	return encoded;
}

/* Make encoded (of n entries) the content of page, its hole set. */
static void
set_page_content(Page page, const char *encoded, uint32 n)
{
	memcpy(KyroSnapContent(page), encoded, KYRO_PAGE_CONTENT);
	KyroPageGetOpaque(page)->count = n;
	KyroSetAreaHole(page);
}

/*
 * Repack the exclusively locked snapshot page in buffer as kept[0..n), in
 * place, so that its area is empty again; only if the page keeps at least
 * reserve bytes free after it (false, the page untouched, if not).  The
 * page changes whole, so it is logged as a full page image (kwal.c).
 */
static bool
repack_page(Relation index, Buffer buffer, const RmiPageEntry *kept, uint32 n,
			size_t reserve)
{
	size_t		size = rmi_page_size(kept, n);
	char	   *encoded;

	if (size == SIZE_MAX || size + reserve > KYRO_PAGE_CONTENT)
		return false;
	/* no allocation, and nothing that can fail, in the critical section */
	encoded = encode_entries(kept, n);
	START_CRIT_SECTION();
	set_page_content(BufferGetPage(buffer), encoded, n);
	MarkBufferDirty(buffer);
	KyroLogRepack(index, buffer);
	END_CRIT_SECTION();
	pfree(encoded);
	return true;
}

/*
 * Split the exclusively locked snapshot page in buffer, whose entries
 * kept[0..n) no longer fit with room for an area, in two: the left part
 * stays in its block, the right part goes to a new block with the page's
 * tag, and the page's right-link now leads there and from there where it
 * led before (DESIGN.md, "Splits").  The halves are even by count, unless
 * rightmost (the last page of keys or of NULLs, its new entry after all
 * the others: ids, timestamps, new rows' TIDs), which keeps every old
 * entry on the left, packed full, and starts the new page with the new
 * one, as a B-tree splits its rightmost leaf.  Both pages are logged whole
 * in one WAL record (kwal.c).  False, nothing changed, if no split fits.
 * The new page is never block siblings_end, where the page's siblings end
 * (a block a fold freed that a kept page still links to): there it would
 * be no sibling at all.
 */
static bool
split_page(Relation index, Buffer buffer, const RmiPageEntry *kept, uint32 n,
		   bool rightmost, BlockNumber siblings_end)
{
	uint32		starts[2];
	uint32		at;
	size_t		size;
	Buffer		newbuf;
	Buffer		refused = InvalidBuffer;
	Page		left;
	Page		right;
	char	   *left_content;
	char	   *right_content;

	size = rightmost && n > 1 ? rmi_page_size(kept, n - 1) : SIZE_MAX;
	if (size != SIZE_MAX && size <= KYRO_PAGE_CONTENT)
		at = n - 1;
	else if (rmi_area_plan(kept, n, KYRO_PAGE_CONTENT,
						   KYRO_REPACK_MIN_AREA * RMI_AREA_ENTRY_BYTES, 0,
						   starts, 2) == 2)
		at = starts[1];
	else
		return false;

	left_content = encode_entries(kept, at);
	right_content = encode_entries(kept + at, n - at);
	newbuf = KyroNewBuffer(index);
	if (BufferGetBlockNumber(newbuf) == siblings_end)
	{
		/* keep it while taking another, then give it back */
		refused = newbuf;
		newbuf = KyroNewBuffer(index);
	}
	left = BufferGetPage(buffer);
	right = BufferGetPage(newbuf);
	START_CRIT_SECTION();
	KyroInitPage(right, KYRO_PAGE_SNAPSHOT, KyroPageGetOpaque(left)->tag);
	KyroPageGetOpaque(right)->flags |=
		KyroPageGetOpaque(left)->flags & KYRO_PAGE_NULLS;
	set_page_content(right, right_content, n - at);
	KyroPageGetOpaque(right)->next = KyroPageGetOpaque(left)->next;
	set_page_content(left, left_content, at);
	KyroPageGetOpaque(left)->next = BufferGetBlockNumber(newbuf);
	MarkBufferDirty(buffer);
	MarkBufferDirty(newbuf);
	KyroLogSplit(index, buffer, newbuf);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(newbuf);
	if (BufferIsValid(refused))
	{
		UnlockReleaseBuffer(refused);
		RecordFreeIndexPage(index, siblings_end);
	}
	pfree(left_content);
	pfree(right_content);
	return true;
}

/*
 * Whether meta's pages take inserts: format 4 (a format 3 index's pages
 * kept no room for an area), unless the developer option
 * kyrodb.page_inserts sends every insert to the delta.
 */
static bool
pages_take_inserts(KyroMetaPage meta)
{
	return meta->version >= KYRO_FORMAT_VERSION && kyro_page_inserts;
}

/* An insert's entry, as the index orders it (a NULL's key is 0). */
static KyroEntry
entry_of(const KyroDeltaEntry *entry)
{
	KyroEntry	e;

	memset(&e, 0, sizeof(e));
	e.isnull = entry->isnull;
	e.key = entry->isnull ? 0 : entry->key;
	e.tid = entry->tid;
	return e;
}

/* An entry on a page equal to the one an insert adds (find_equal). */
typedef enum KyroEqual
{
	KYRO_EQUAL_NONE,
	KYRO_EQUAL_LIVE,			/* the entry is there already */
	KYRO_EQUAL_DEAD_AREA,		/* dead, in the area */
	KYRO_EQUAL_DEAD_PACKED		/* dead, packed (the metapage counts it) */
} KyroEqual;

/*
 * Whether the page in content holds an entry equal to e, and where (its
 * area position or packed slot in *at).  A dead one is a heap TID that
 * VACUUM freed, taken again by a new tuple of the same key: the insert
 * clears its dead flag (revive_entry) rather than add a second entry
 * beside it, which a scan that resumes after the first (by value,
 * kscan.c) would skip.  A dead area entry is preferred (a repack drops
 * the other).
 */
static KyroEqual
find_equal(void *content, const RmiPageEntry *e, uint32 *at)
{
	RmiAreaCursor cursor;
	RmiPageEntry found;
	KyroEqual equal = KYRO_EQUAL_NONE;

	rmi_area_seek(content, KYRO_PAGE_CONTENT, e, 0, &cursor, NULL);
	if (cursor.packed < rmi_page_count(content))
	{
		rmi_page_get(content, cursor.packed, &found);
		if (rmi_page_compare(&found, e) == 0)
		{
			if (!found.dead)
				return KYRO_EQUAL_LIVE;
			equal = KYRO_EQUAL_DEAD_PACKED;
			*at = cursor.packed;
		}
	}
	if (cursor.area < rmi_area_count(content))
	{
		rmi_area_get(content, KYRO_PAGE_CONTENT, cursor.area, &found);
		if (rmi_page_compare(&found, e) == 0)
		{
			if (!found.dead)
				return KYRO_EQUAL_LIVE;
			equal = KYRO_EQUAL_DEAD_AREA;
			*at = cursor.area;
		}
	}
	return equal;
}

/*
 * Clear the dead flag of the entry find_equal found at (equal says where)
 * on the exclusively locked page in buffer, in one WAL record.  The
 * metapage's count of dead packed entries stays as it was: an estimate,
 * which a packed revival leaves one too high until the next fold counts
 * the pages' own (DESIGN.md, "Inserts"), so the insert needs no lock but
 * the page's.
 */
static void
revive_entry(Relation index, Buffer buffer, KyroEqual equal, uint32 at)
{
	void	   *content = KyroSnapContent(BufferGetPage(buffer));

	START_CRIT_SECTION();
	if (equal == KYRO_EQUAL_DEAD_AREA)
		rmi_area_set_dead(content, KYRO_PAGE_CONTENT, at, 0);
	else
		rmi_page_set_dead(content, at, 0);
	MarkBufferDirty(buffer);
	KyroLogRevive(index, buffer);
	END_CRIT_SECTION();
}

/*
 * The page among snapshot page p's siblings that entry pe belongs to,
 * exclusively locked: from p's own block, or from the sibling
 * this backend's last insert into p moved to (snap's hint) when pe is at
 * or after its first entry, then right while the next sibling
 * starts at or before pe, holding each page until the next one is locked
 * (left to right, as nbtree moves right).  *hops: the pages from p's own
 * block to the one returned.  The caller holds the metapage's lock on
 * snap's view, so a page that is not right is damage.
 */
static Buffer
lock_entry_page(Relation index, KyroMetaPage meta, KyroSnapCache *snap,
				uint32 p, const RmiPageEntry *pe, bool *last_sibling, uint32 *hops)
{
	Buffer		buffer = InvalidBuffer;

	*hops = 0;
	if (snap->hint_block != InvalidBlockNumber && snap->hint_page == p &&
		rmi_page_compare(pe, &snap->hint_first) >= 0)
	{
		RmiPageEntry first;

		buffer = KyroReadSiblingPage(index, snap->epoch, snap->items,
									 snap->key_pages, snap->snap_pages, p,
									 snap->hint_block, NULL,
									 BUFFER_LOCK_EXCLUSIVE);
		if (BufferIsValid(buffer) &&
			rmi_area_edge(KyroSnapContent(BufferGetPage(buffer)),
						  KYRO_PAGE_CONTENT, 0, &first) &&
			rmi_page_compare(&first, &snap->hint_first) == 0)
			*hops = snap->hint_hops;
		else if (BufferIsValid(buffer))
		{
			/* a split page keeps its first entry while its view lasts */
			UnlockReleaseBuffer(buffer);
			KyroCorrupt(index, psprintf("Block %u, a sibling of snapshot page %u of epoch %u, no longer starts where it did.",
										snap->hint_block, p, snap->epoch));
		}
	}
	if (!BufferIsValid(buffer))
	{
		buffer = ReadBuffer(index, snap->items[p].block);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		KyroCheckSnapshotPage(index, meta, snap->items, p, buffer);
	}
	for (;;)
	{
		void	   *content = KyroSnapContent(BufferGetPage(buffer));
		BlockNumber next = KyroSiblingNext(snap->items, p,
										 BufferGetPage(buffer));
		RmiPageEntry last;
		RmiPageEntry first;
		Buffer		nextbuf;

		*last_sibling = next == InvalidBlockNumber;
		if (*last_sibling || !rmi_area_edge(content, KYRO_PAGE_CONTENT, 1, &last) ||
			rmi_page_compare(pe, &last) <= 0)
			break;
		CHECK_FOR_INTERRUPTS();
		/* we hold this page, and locking it again would wait for ever */
		if (next == BufferGetBlockNumber(buffer) || next == snap->items[p].block)
		{
			UnlockReleaseBuffer(buffer);
			KyroCorrupt(index, psprintf("A right-link of snapshot page %u of epoch %u leads back to block %u.",
										p, snap->epoch, next));
		}
		nextbuf = KyroReadSiblingPage(index, snap->epoch, snap->items,
									  snap->key_pages, snap->snap_pages, p,
									  next, &last, BUFFER_LOCK_EXCLUSIVE);
		if (!BufferIsValid(nextbuf))
			elog(ERROR, "kyro_rmi: the view changed under its metapage lock");
		rmi_area_edge(KyroSnapContent(BufferGetPage(nextbuf)), KYRO_PAGE_CONTENT,
					  0, &first);
		if (rmi_page_compare(pe, &first) < 0)
		{
			UnlockReleaseBuffer(nextbuf);
			break;
		}
		UnlockReleaseBuffer(buffer);
		buffer = nextbuf;
		(*hops)++;
		snap->hint_page = p;
		snap->hint_block = next;
		snap->hint_first = first;
		snap->hint_hops = *hops;
	}
	return buffer;
}

/* What an insert into a page did, for the counters. */
typedef enum KyroPageChange
{
	KYRO_CHANGE_NONE,			/* goes to the delta */
	KYRO_CHANGE_NO_PAGE,		/* goes to the delta: no page of its kind */
	KYRO_CHANGE_PRESENT,		/* the entry is there already */
	KYRO_CHANGE_REVIVE,			/* a dead entry revived */
	KYRO_CHANGE_AREA,
	KYRO_CHANGE_REPACK,
	KYRO_CHANGE_SPLIT
} KyroPageChange;

/*
 * Add entry to its snapshot page (snap: the backend's snapshot cache,
 * routes it), under the metapage's share lock: into the page's insert
 * area, or else repack the page, or else split it.  KYRO_CHANGE_PRESENT if
 * the page holds the entry already; KYRO_CHANGE_REVIVE if it held it dead
 * (find_equal), now live; KYRO_CHANGE_NO_PAGE if the view has no page of the
 * entry's kind (keys, or NULLs); KYRO_CHANGE_NONE if it must go to the
 * delta otherwise: the view is not snap's (a fold switched it since the
 * cache was read), it has no areas (format 3, or kyrodb.page_inserts
 * off), or a fold is rewriting the page.  *hops: the right-links it followed.
 */
static KyroPageChange
insert_into_page(Relation index, Buffer metabuf, KyroSnapCache *snap,
				 const KyroDeltaEntry *entry, uint32 *hops)
{
	KyroMetaPage meta = KyroPageGetMeta(BufferGetPage(metabuf));
	KyroEntry	e;
	RmiPageEntry pe;
	uint64		compared = 0;
	uint32		p;
	Buffer		buffer;
	Page		page;
	void	   *content;

	GenericXLogState *state = NULL;
	bool		last_sibling;
	KyroEqual	equal;
	uint32		equal_at = 0;
	uint32		kind_end;
	KyroPageChange change = KYRO_CHANGE_NONE;

	/* the pages of the entry's kind: keys, or NULLs after them */
	kind_end = entry->isnull ? snap->snap_pages : snap->key_pages;
	if (!pages_take_inserts(meta) || meta->epoch != snap->epoch)
		return KYRO_CHANGE_NONE;
	if (kind_end == (entry->isnull ? snap->key_pages : 0))
		return KYRO_CHANGE_NO_PAGE;
	e = entry_of(entry);
	p = KyroRoutePage(snap, &e, true, &compared, NULL);
	KyroEntryToPage(&pe, &e);

	/* its allocation need not happen while others wait for the page */
	if (!KyroOwnWal())
		state = GenericXLogStart(index);
	buffer = lock_entry_page(index, meta, snap, p, &pe, &last_sibling, hops);
	page = BufferGetPage(buffer);
	content = KyroSnapContent(page);
	/* a page a fold has read takes no more: the fold would not see them */
	if ((KyroPageGetOpaque(page)->flags & KYRO_PAGE_REPLACED) != 0)
		change = KYRO_CHANGE_NONE;
	else if ((equal = find_equal(content, &pe, &equal_at)) == KYRO_EQUAL_LIVE)
		change = KYRO_CHANGE_PRESENT;
	else if (equal != KYRO_EQUAL_NONE)
	{
		revive_entry(index, buffer, equal, equal_at);
		change = KYRO_CHANGE_REVIVE;
	}
	else if (rmi_area_free(content, KYRO_PAGE_CONTENT) >= RMI_AREA_ENTRY_BYTES &&
			 rmi_area_count(content) < RMI_AREA_MAX_ENTRIES)
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
		change = KYRO_CHANGE_AREA;
	}
	else
	{
		RmiPageEntry *kept = palloc(sizeof(RmiPageEntry) *
									(rmi_area_total(content) + 1));
		uint32		n = entries_kept(content, &pe, kept);

		/* a full area: repack in place while the page keeps room for one */
		if (n > 0 && repack_page(index, buffer, kept, n,
								 KYRO_REPACK_MIN_AREA * RMI_AREA_ENTRY_BYTES))
			change = KYRO_CHANGE_REPACK;
		else if (n > 0 &&
				 split_page(index, buffer, kept, n,
							p + 1 == kind_end && last_sibling &&
							rmi_page_compare(&kept[n - 1], &pe) == 0,
							snap->items[p].siblings_end))
			change = KYRO_CHANGE_SPLIT;
		pfree(kept);
	}
	if (state != NULL)
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buffer);
	return change;
}

/*
 * Add entry to the index: to its page's insert area if it can, else to the
 * active chain.  Returns the chain's entry count after an append (0 after
 * an insert into an area), and the snapshot's in *snap_entries.
 * *page_due: the entry went to the delta only because the view has no page
 * of its kind (the index was built with no key, or no NULL), which a fold
 * would write.
 */
static uint64
insert_entry(Relation index, const KyroDeltaEntry *entry, uint64 *snap_entries,
			 bool *republish, bool *page_due)
{
	Buffer		metabuf;
	uint64		entries;
	KyroSnapCache *snap;
	uint32		hops = 0;
	uint32		key_pages;
	KyroPageChange change;

	*republish = false;
	*page_due = false;
	/* the cache reads the metapage itself: before we lock it */
	KyroGetCaches(index, &snap, NULL);
	metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	key_pages = snap->key_pages;
	change = insert_into_page(index, metabuf, snap, entry, &hops);
	KyroReleaseCaches(snap, NULL);
	if (change != KYRO_CHANGE_NONE && change != KYRO_CHANGE_NO_PAGE)
	{
		UnlockReleaseBuffer(metabuf);
		/* the counters' lock is never taken under a buffer lock */
		if (change == KYRO_CHANGE_REPACK)
			KyroCountEvent(RelationGetRelid(index), KYRO_EVENT_REPACK);
		else if (change == KYRO_CHANGE_SPLIT)
			*republish = KyroNoteSplit(RelationGetRelid(index), key_pages,
									   hops);
		return 0;
	}
	*page_due = change == KYRO_CHANGE_NO_PAGE;
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

/* aminsert: one heap tuple's entry into its page or the delta. */
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
	bool		republish;
	bool		page_due;

	memset(&entry, 0, sizeof(entry));
	entry.isnull = isnull[0];
	if (!isnull[0])
		entry.key = KyroDatumToKey(values[0], index->rd_opcintype[0]);
	entry.tid = *ht_ctid;

	entries = insert_entry(index, &entry, &snap_entries, &republish,
						   &page_due);

	/*
	 * Split pages to publish, or the first page of the entry's kind to
	 * write so that the entries after it go to pages (a fold due whatever
	 * the delta's size): the worker's job, or ours without one.
	 */
	if (page_due)
		KyroNoteFoldDue(RelationGetRelid(index));
	if ((republish || page_due) && !KyroRequestFold(index))
	{
		if (KyroFold(index, 0, NULL))
			KyroCountEvent(RelationGetRelid(index), KYRO_EVENT_INLINE_FOLD);
		return false;
	}
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
