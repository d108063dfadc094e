/*-------------------------------------------------------------------------
 *
 * kread.c
 *	  Reading a view: delta chains, the directory, the model, and snapshot
 *	  pages checked against their directory items.
 *
 * Scans (through kcache.c), folds, VACUUM and the SQL functions read the
 * index through these.  Every page comes through KyroReadViewPage
 * (kpage.c), which tells a page recycled after a fold from a damaged one;
 * DESIGN.md, "Reading pages, and damage", has the rules.
 *
 * src/kread.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "kyrodb.h"

/* Append an entry, growing the array as needed. */
void
KyroEntryArrayAdd(KyroEntryArray *array, const KyroEntry *entry)
{
	if (array->n == array->cap)
	{
		array->cap = Max(array->cap * 2, 256);
		if (array->items == NULL)
			array->items = MemoryContextAllocHuge(CurrentMemoryContext,
												  sizeof(KyroEntry) * array->cap);
		else
			array->items = repalloc_huge(array->items,
										 sizeof(KyroEntry) * array->cap);
		if (array->want_places && array->places == NULL)
			array->places = MemoryContextAllocHuge(CurrentMemoryContext,
												   sizeof(KyroEntryPlace) * array->cap);
		else if (array->want_places)
			array->places = repalloc_huge(array->places,
										  sizeof(KyroEntryPlace) * array->cap);
	}
	array->items[array->n++] = *entry;
}

/*
 * Append the entries of chain `number` to `out`, reading from block `start`
 * on and passing over the first `skip` entries of that first page.
 * `*last_block` and `*last_count` say where the chain ended, so that a
 * later call reads only what came after.  With `pages`, the chain's
 * blocks are collected there too.  Returns false if a page was recycled
 * under the caller (who then takes a fresh view).
 */
bool
KyroReadChain(Relation index, uint32 number, BlockNumber start, uint32 skip,
			  KyroEntryArray *out, BlockNumber *last_block, uint32 *last_count,
			  BlockNumber **pages, int *npages)
{
	BlockNumber blkno = start;
	int			pages_cap = 0;
	BlockNumber visited = 0;
	BlockNumber nblocks = InvalidBlockNumber;

	*last_block = InvalidBlockNumber;
	*last_count = 0;
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buffer;
		Page		page;
		KyroPageOpaque opaque;
		KyroDeltaEntry *entries;

		CHECK_FOR_INTERRUPTS();
		/* a chain longer than the relation has a loop in it */
		if (++visited > KYRO_CHAIN_LOOP_CHECK)
		{
			if (nblocks == InvalidBlockNumber)
				nblocks = RelationGetNumberOfBlocks(index);
			if (visited > nblocks)
				KyroCorrupt(index, psprintf("Delta chain %u has a loop.", number));
		}
		buffer = KyroReadPage(index, blkno, KYRO_PAGE_DELTA, number,
							  BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buffer))
			return false;
		page = BufferGetPage(buffer);
		opaque = KyroPageGetOpaque(page);
		entries = KyroDeltaEntries(page);
		for (uint32 i = skip; i < opaque->count; i++)
		{
			KyroEntry	e;

			e.key = entries[i].key;
			e.tid = entries[i].tid;
			e.isnull = entries[i].isnull != 0;
			e.dead = entries[i].dead != 0;
			KyroEntryArrayAdd(out, &e);
			if (out->want_places)
			{
				out->places[out->n - 1].block = blkno;
				out->places[out->n - 1].slot = (uint16) i;
			}
		}
		if (pages != NULL)
		{
			if (*npages == pages_cap || *pages == NULL)
			{
				pages_cap = Max(pages_cap * 2, Max(*npages * 2, 16));
				*pages = *pages == NULL ? palloc(sizeof(BlockNumber) * pages_cap) :
					repalloc(*pages, sizeof(BlockNumber) * pages_cap);
			}
			(*pages)[(*npages)++] = blkno;
		}
		*last_block = blkno;
		*last_count = opaque->count;
		skip = 0;
		blkno = opaque->next;
		UnlockReleaseBuffer(buffer);
	}
	return true;
}

/*
 * Entries on a chain's tail page, read under a share lock; 0 if there is
 * no chain or its tail was recycled since the caller read the metapage
 * (the chain was folded: its entries are in a snapshot).
 */
uint32
KyroTailCount(Relation index, const KyroChain *chain)
{
	Buffer		buffer;
	uint32		count;

	if (chain->number == 0 || chain->tail == InvalidBlockNumber)
		return 0;
	buffer = KyroReadPage(index, chain->tail, KYRO_PAGE_DELTA, chain->number,
						  BUFFER_LOCK_SHARE);
	if (!BufferIsValid(buffer))
		return 0;
	count = KyroPageGetOpaque(BufferGetPage(buffer))->count;
	UnlockReleaseBuffer(buffer);
	return count;
}

/* Entries of a delta chain: the metapage's count and the tail page's. */
static uint64
chain_entries(Relation index, const KyroChain *chain)
{
	if (chain->number == 0)
		return 0;
	return chain->before_tail + KyroTailCount(index, chain);
}

/* Entries of the delta: the frozen chain's and the active chain's. */
uint64
KyroDeltaSize(Relation index, KyroMetaPage meta)
{
	return chain_entries(index, &meta->frozen) +
		chain_entries(index, &meta->active);
}

/*
 * Check the directory items of meta's view: counts that add up, NULL pages
 * after the pages with keys, first entries in order.  The directory pages
 * passed their tag check, so a failure here is damage.
 */
static void
check_directory(Relation index, KyroMetaPage meta, const KyroDirItem *items)
{
	uint64		entries = 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (uint32 i = 0; i < meta->snap_pages + meta->model_pages; i++)
		if (items[i].block == KYRO_METAPAGE_BLKNO || items[i].block >= nblocks)
			KyroCorrupt(index, psprintf("Directory item %u of epoch %u names block %u, past the index's %u blocks.",
										i, meta->epoch, items[i].block, nblocks));
	for (uint32 i = meta->snap_pages; i < meta->snap_pages + meta->model_pages; i++)
		if (items[i].tag != meta->epoch)
			KyroCorrupt(index, psprintf("Directory item %u of epoch %u names a model page of epoch %u.",
										i, meta->epoch, items[i].tag));

	for (uint32 p = 0; p < meta->snap_pages; p++)
	{
		bool		nulls = (items[p].flags & KYRO_PAGE_NULLS) != 0;

		if (items[p].count == 0 || items[p].count > RMI_PAGE_MAX_ENTRIES ||
			items[p].tag == 0 || items[p].tag > meta->epoch ||
			nulls != (p >= meta->key_pages) ||
			(p > 0 && p < meta->key_pages &&
			 items[p].first_key < items[p - 1].first_key))
			KyroCorrupt(index, psprintf("Directory item %u of epoch %u is inconsistent.",
										p, meta->epoch));
		entries += items[p].count;
		if (p + 1 == meta->key_pages && entries != meta->snap_nonnull)
			KyroCorrupt(index, psprintf("The directory of epoch %u counts " UINT64_FORMAT " keys, the metapage " UINT64_FORMAT ".",
										meta->epoch, entries, meta->snap_nonnull));
	}
	if (entries != meta->snap_entries)
		KyroCorrupt(index, psprintf("The directory of epoch %u counts " UINT64_FORMAT " entries, the metapage " UINT64_FORMAT ".",
									meta->epoch, entries, meta->snap_entries));
}

/*
 * The directory of the view in meta, snapshot pages then model pages, read
 * from its directory pages; NULL if a page was recycled under the caller.
 */
KyroDirItem *
KyroReadDirectory(Relation index, KyroMetaPage meta)
{
	uint32		total = meta->snap_pages + meta->model_pages;
	KyroDirItem *items = palloc(sizeof(KyroDirItem) * Max(total, 1));
	uint32		got = 0;

	for (uint32 d = 0; d < meta->dir_pages; d++)
	{
		Buffer		buffer;
		uint32		count;

		CHECK_FOR_INTERRUPTS();
		buffer = KyroReadPage(index, meta->dir_blocks[d], KYRO_PAGE_DIRECTORY,
							  meta->epoch, BUFFER_LOCK_SHARE);
		if (!BufferIsValid(buffer))
		{
			pfree(items);
			return NULL;
		}
		count = KyroPageGetOpaque(BufferGetPage(buffer))->count;
		if (got + count > total)
		{
			UnlockReleaseBuffer(buffer);
			KyroCorrupt(index, psprintf("Directory page %u of epoch %u holds more items than the metapage counts.",
										meta->dir_blocks[d], meta->epoch));
		}
		memcpy(items + got, KyroDirItems(BufferGetPage(buffer)),
			   sizeof(KyroDirItem) * count);
		got += count;
		UnlockReleaseBuffer(buffer);
	}
	if (got != total)
		KyroCorrupt(index, psprintf("The directory of epoch %u holds %u items, the metapage counts %u.",
									meta->epoch, got, total));
	check_directory(index, meta, items);
	return items;
}

/*
 * Pin and share-lock model page i of meta's view (items: its directory)
 * into *buffer.  False, with nothing held, if it was recycled under the
 * caller.
 */
static bool
lock_model_page(Relation index, KyroMetaPage meta, const KyroDirItem *items,
				uint32 i, Buffer *buffer)
{
	*buffer = KyroReadPage(index, items[meta->snap_pages + i].block,
						   KYRO_PAGE_MODEL, meta->epoch, BUFFER_LOCK_SHARE);
	return BufferIsValid(*buffer);
}

/*
 * Read the model pages of meta's view (items: its directory) into one
 * buffer allocated in cxt and validate it.  Returns RMI_OK with *model a
 * view of *buf, or why the model is unusable; sets *recycled if a page was
 * recycled under the caller.
 */
RmiStatus
KyroLoadModel(Relation index, KyroMetaPage meta, const KyroDirItem *items,
			  MemoryContext cxt, RmiModel *model, char **buf, bool *recycled)
{
	uint64		off = 0;

	*recycled = false;
	*buf = MemoryContextAllocHuge(cxt, Max(meta->model_bytes, 1));
	for (uint32 i = 0; i < meta->model_pages; i++)
	{
		Buffer		buffer;
		Page		page;
		KyroPageOpaque opaque;

		CHECK_FOR_INTERRUPTS();
		if (!lock_model_page(index, meta, items, i, &buffer))
		{
			*recycled = true;
			return RMI_ERR_SIZE;
		}
		page = BufferGetPage(buffer);
		opaque = KyroPageGetOpaque(page);
		if (off + opaque->count > meta->model_bytes)
		{
			UnlockReleaseBuffer(buffer);
			return RMI_ERR_SIZE;
		}
		memcpy(*buf + off, PageGetContents(page), opaque->count);
		off += opaque->count;
		UnlockReleaseBuffer(buffer);
	}
	if (off != meta->model_bytes)
		return RMI_ERR_SIZE;
	return rmi_load(*buf, off, model);
}

/*
 * The checksum that meta's serialised model ends with, read from its last
 * model page (or two): what its model file must end with too.
 */
RmiStatus
KyroModelTail(Relation index, KyroMetaPage meta, const KyroDirItem *items,
			  uint64 *checksum, bool *recycled)
{
	char		tail[sizeof(uint64)];
	int			need = sizeof(uint64);

	*recycled = false;
	for (int i = (int) meta->model_pages - 1; i >= 0 && need > 0; i--)
	{
		Buffer		buffer;
		Page		page;
		KyroPageOpaque opaque;
		int			take;

		if (!lock_model_page(index, meta, items, i, &buffer))
		{
			*recycled = true;
			return RMI_ERR_SIZE;
		}
		page = BufferGetPage(buffer);
		opaque = KyroPageGetOpaque(page);
		take = Min(need, (int) opaque->count);
		memcpy(tail + need - take, PageGetContents(page) + opaque->count - take, take);
		need -= take;
		UnlockReleaseBuffer(buffer);
	}
	if (need > 0)
		return RMI_ERR_TRUNCATED;
	memcpy(checksum, tail, sizeof(uint64));
	return RMI_OK;
}

/*
 * Why snapshot page p disagrees with its directory item, or NULL: its kind
 * (a NULL page or not), and with first_entry its first entry too.  The
 * item's count is what the page held when the view was written: an
 * insert that repacks the page in place changes the page's own count and
 * not the item's.  The first entry of a page after the first stays (a
 * repack keeps the packed entries, dead ones too, and the page takes only
 * entries of its range, which starts there); the first page of each kind
 * has an open range (KyroRangeIsOpen), from minus infinity, so a repack
 * may give it an earlier one.
 */
static const char *
item_problem(Page page, const KyroDirItem *item, bool open, bool first_entry)
{
	RmiPageEntry first;
	RmiPageEntry want;
	int			cmp;

	if ((KyroPageGetOpaque(page)->flags & KYRO_PAGE_NULLS) !=
		(item->flags & KYRO_PAGE_NULLS))
		return "disagrees with its directory item";
	if (!first_entry)
		return NULL;
	rmi_page_get(KyroSnapContent(page), 0, &first);
	want.key = item->first_key;
	want.block = item->first_block;
	want.offset = item->first_offset;
	cmp = rmi_page_compare(&first, &want);
	if (cmp > 0 || (cmp < 0 && !open))
		return "does not start with its directory item's entry";
	return NULL;
}

/*
 * Snapshot page p of the view of epoch (item: its directory item), locked
 * in mode and checked against the item's kind, and with first_entry its
 * first entry too; InvalidBuffer if it was recycled under the caller (see
 * KyroReadPage).  A page of the right tag that disagrees with its item is
 * damage, unless first_entry finds it recycled: a split page keeps the
 * tag of the page it was split from, so a block freed by a fold may come
 * back with its old tag and other entries.  Readers whose MVCC snapshot
 * holds back the reuse of what their view names need not look.
 */
Buffer
KyroReadSnapshotPage(Relation index, uint32 epoch, const KyroDirItem *item,
					 uint32 p, uint32 key_pages, bool first_entry, int mode)
{
	Buffer		buffer = KyroReadViewPage(index, item->block,
										  KYRO_PAGE_SNAPSHOT, item->tag, epoch,
										  mode);
	const char *problem;

	if (!BufferIsValid(buffer))
		return buffer;
	problem = item_problem(BufferGetPage(buffer), item,
						   KyroRangeIsOpen(p, key_pages), first_entry);
	if (problem != NULL)
	{
		UnlockReleaseBuffer(buffer);
		/* a page of the same tag may have been split into the block */
		if (first_entry && !KyroViewIsCurrent(index, KYRO_PAGE_SNAPSHOT, epoch))
			return InvalidBuffer;
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) of epoch %u %s.",
									p, item->block, epoch, problem));
	}
	return buffer;
}

/*
 * Check a locked snapshot page of meta's view, read whole by a caller that
 * holds the fold lock or the metapage's lock (so the view cannot move on):
 * an intact snapshot page of its item's tag and kind, that starts with its
 * item's entry (item_problem).
 * Anything else is damage: the ERROR unlocks and releases the buffer.
 */
void
KyroCheckSnapshotPage(Relation index, KyroMetaPage meta,
					  const KyroDirItem *items, uint32 p, Buffer buffer)
{
	Page		page = BufferGetPage(buffer);
	const char *problem = KyroPageProblem(page, KYRO_PAGE_SNAPSHOT, items[p].tag);

	if (problem != NULL)
	{
		UnlockReleaseBuffer(buffer);
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) of epoch %u is not there: %s.",
									p, items[p].block, meta->epoch, problem));
	}
	problem = item_problem(page, &items[p],
						   KyroRangeIsOpen(p, meta->key_pages), true);
	if (problem != NULL)
	{
		UnlockReleaseBuffer(buffer);
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) of epoch %u %s.",
									p, items[p].block, meta->epoch, problem));
	}
}

/*
 * The same for a caller that holds the fold lock and reads the whole page:
 * the view cannot move on, so a page that is not there is damage too, and
 * the page's first entry must be its item's.
 */
Buffer
KyroReadSnapshotPageLocked(Relation index, KyroMetaPage meta,
						   const KyroDirItem *items, uint32 p, int mode)
{
	Buffer		buffer;

	if (items[p].block == InvalidBlockNumber ||
		items[p].block == KYRO_METAPAGE_BLKNO)
		KyroCorrupt(index, psprintf("Snapshot page %u of epoch %u names block %u.",
									p, meta->epoch, items[p].block));
	buffer = ReadBuffer(index, items[p].block);
	LockBuffer(buffer, mode);
	KyroCheckSnapshotPage(index, meta, items, p, buffer);
	return buffer;
}

/*
 * The next of snapshot page p's siblings after the page on page (p's own,
 * or one split off it since the view was written): its right-link, unless
 * there is none or it is where p's right-link led when the view was
 * written (siblings_end: the next directory item's block, if the fold
 * published p's siblings, or a page the fold replaced since).  Pages of
 * keys and NULL pages alike.
 */
BlockNumber
KyroSiblingNext(const KyroDirItem *items, uint32 p, Page page)
{
	BlockNumber next = KyroPageGetOpaque(page)->next;

	if (next == InvalidBlockNumber || next == items[p].siblings_end)
		return InvalidBlockNumber;
	return next;
}

/*
 * Why a page reached by a right-link from a page whose last entry was
 * after is not the next of snapshot page p's siblings, or NULL: it must
 * hold entries of p's kind (keys, or NULLs: pages 0 to key_pages, then to
 * snap_pages), start after that entry, and start before the next page's
 * range.  Entries only grow along the siblings, so a damaged link that
 * points back among them (a cycle) fails here rather than loops.
 */
static const char *
sibling_problem(Page page, const KyroDirItem *items, uint32 key_pages,
				uint32 snap_pages, uint32 p, const RmiPageEntry *after)
{
	void	   *content = KyroSnapContent(page);
	bool		nulls = p >= key_pages;
	RmiPageEntry first;

	if (((KyroPageGetOpaque(page)->flags & KYRO_PAGE_NULLS) != 0) != nulls)
		return nulls ? "holds keys, not NULL entries" : "holds NULL entries";
	if (!rmi_area_edge(content, KYRO_PAGE_CONTENT, 0, &first))
		return "is empty";
	if (after != NULL && rmi_page_compare(&first, after) <= 0)
		return "does not start after the page that links to it";
	if (p + 1 < (nulls ? snap_pages : key_pages))
	{
		RmiPageEntry next_first;

		next_first.key = nulls ? 0 : items[p + 1].first_key;
		next_first.block = items[p + 1].first_block;
		next_first.offset = items[p + 1].first_offset;
		if (rmi_page_compare(&first, &next_first) >= 0)
			return "starts in the next page's range";
	}
	return NULL;
}

/*
 * Block blkno, reached by the right-link of snapshot page p or one of its
 * siblings, whose last entry was *after, locked in mode and checked: a page of
 * p's tag (a split page keeps the tag of the page it was split from) that
 * lies after it (after NULL: whose first entry the caller checks itself)
 * and in p's range.  InvalidBuffer if it was recycled since
 * the view of epoch was taken; damage if the view is still current.
 */
Buffer
KyroReadSiblingPage(Relation index, uint32 epoch, const KyroDirItem *items,
					uint32 key_pages, uint32 snap_pages, uint32 p,
					BlockNumber blkno, const RmiPageEntry *after, int mode)
{
	Buffer		buffer;
	const char *problem;

	/* a damaged right-link may lead past the end (blocks are never cut off) */
	if (blkno >= RelationGetNumberOfBlocks(index))
		KyroCorrupt(index, psprintf("A right-link of snapshot page %u of epoch %u leads to block %u, past the index's end.",
									p, epoch, blkno));
	buffer = KyroReadViewPage(index, blkno, KYRO_PAGE_SNAPSHOT, items[p].tag,
							  epoch, mode);
	if (!BufferIsValid(buffer))
		return buffer;
	problem = sibling_problem(BufferGetPage(buffer), items, key_pages,
							  snap_pages, p, after);
	if (problem == NULL)
		return buffer;
	UnlockReleaseBuffer(buffer);
	if (KyroViewIsCurrent(index, KYRO_PAGE_SNAPSHOT, epoch))
		KyroCorrupt(index, psprintf("Block %u, right of snapshot page %u of epoch %u, %s.",
									blkno, p, epoch, problem));
	return InvalidBuffer;
}

/*
 * Done with the locked page in buffer, snapshot page p of the view of
 * epoch or one of its siblings: release it, and return its next sibling
 * locked in mode (KyroReadSiblingPage), or InvalidBuffer at the end of the
 * siblings or (*recycled set) if a fold recycled the page since.  How
 * every walk over a page's siblings steps.
 */
Buffer
KyroStepSibling(Relation index, uint32 epoch, const KyroDirItem *items,
				uint32 key_pages, uint32 snap_pages, uint32 p, Buffer buffer,
				int mode, bool *recycled)
{
	BlockNumber next = KyroSiblingNext(items, p, BufferGetPage(buffer));
	RmiPageEntry last;

	*recycled = false;
	/* an empty page has no siblings: nothing was ever split off it */
	if (!rmi_area_edge(KyroSnapContent(BufferGetPage(buffer)),
					   KYRO_PAGE_CONTENT, 1, &last))
		next = InvalidBlockNumber;
	UnlockReleaseBuffer(buffer);
	if (next == InvalidBlockNumber)
		return InvalidBuffer;
	CHECK_FOR_INTERRUPTS();
	buffer = KyroReadSiblingPage(index, epoch, items, key_pages, snap_pages,
								 p, next, &last, mode);
	*recycled = !BufferIsValid(buffer);
	return buffer;
}

/*
 * The entries on snap's pages: packed (all, and the dead ones), and in the
 * insert areas (all, and the live ones), the bytes the areas may still
 * take, and the pages split off them since the view was written, read page
 * by page under share locks (a snapshot of moving counts, as pgstattuple's).  A page recycled
 * meanwhile (a fold switched the view) ends the count there.
 */
void
KyroCountPageEntries(Relation index, const KyroSnapCache *snap,
					 KyroPageCounts *counts)
{
	memset(counts, 0, sizeof(*counts));
	for (uint32 p = 0; p < snap->snap_pages; p++)
	{
		Buffer		buffer;
		bool		recycled;

		CHECK_FOR_INTERRUPTS();
		buffer = KyroReadSnapshotPage(index, snap->epoch, &snap->items[p], p,
									  snap->key_pages, false,
									  BUFFER_LOCK_SHARE);
		recycled = !BufferIsValid(buffer);
		for (int sibling = 0; BufferIsValid(buffer); sibling++)
		{
			void	   *content = KyroSnapContent(BufferGetPage(buffer));
			uint32		n = rmi_area_count(content);

			counts->split_pages += sibling > 0;
			counts->packed += rmi_page_count(content);
			counts->packed_dead += rmi_page_dead_count(content);
			counts->area_all += n;
			counts->area_free += rmi_area_free(content, KYRO_PAGE_CONTENT);
			for (uint32 i = 0; i < n; i++)
			{
				RmiPageEntry e;

				rmi_area_get(content, KYRO_PAGE_CONTENT, i, &e);
				counts->area_live += !e.dead;
			}
			buffer = KyroStepSibling(index, snap->epoch, snap->items,
									 snap->key_pages, snap->snap_pages, p,
									 buffer, BUFFER_LOCK_SHARE, &recycled);
		}
		if (recycled)
			return;
	}
}
