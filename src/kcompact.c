/*-------------------------------------------------------------------------
 *
 * kcompact.c
 *	  Folds: merging the delta into a new snapshot and retraining the model.
 *
 * Why a fold is safe while readers and writers go on:
 *	- One fold per index at a time: a heavyweight lock on the metapage's
 *	  block number (GIN's pending-list pattern); VACUUM takes it too, so a
 *	  fold never copies an entry that VACUUM is flagging dead.
 *	- Freeze: in one WAL record the active chain becomes the frozen chain
 *	  and a new, empty active chain starts.  Inserts go on into the new one;
 *	  scans read the snapshot and both chains.
 *	- Build: old snapshot (minus dead entries) merged with the frozen chain
 *	  into pages that no view points to; the model trained; all WAL-logged.
 *	  A crash here leaves the old view whole and the new pages unreachable
 *	  (the next sweep frees them).
 *	- Switch: one WAL record points the metapage at the new snapshot and
 *	  drops the frozen chain.  Only then are the old pages marked deleted,
 *	  and they are reused only once no snapshot can still be reading them.
 *
 * src/kcompact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/progress.h"
#include "pgstat.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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
	}
	array->items[array->n++] = *entry;
}

/*
 * Read a delta chain from block start on (skipping the first skip entries
 * of that page) into out.  *last_block and *last_count tell where it ended,
 * so a later call reads only what came after.  If pages is given, the
 * chain's blocks are collected there.  Returns false if a page was
 * recycled under the caller (it takes a fresh view).
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
uint64
KyroChainEntries(Relation index, const KyroChain *chain)
{
	if (chain->number == 0)
		return 0;
	return chain->before_tail + KyroTailCount(index, chain);
}

/* Entries of the delta: the frozen chain's and the active chain's. */
uint64
KyroDeltaSize(Relation index, KyroMetaPage meta)
{
	return KyroChainEntries(index, &meta->frozen) +
		KyroChainEntries(index, &meta->active);
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
 * Snapshot page p of the view of epoch (item: its directory item), locked
 * in mode and checked against the item's count and kind; InvalidBuffer if
 * it was recycled under the caller (see KyroReadPage).  A page of the
 * right epoch that disagrees with its item is damage: pages of an epoch
 * never change but for their dead bits.
 */
Buffer
KyroReadSnapshotPage(Relation index, uint32 epoch, const KyroDirItem *item,
					 uint32 p, int mode)
{
	Buffer		buffer = KyroReadViewPage(index, item->block,
										  KYRO_PAGE_SNAPSHOT, item->tag, epoch,
										  mode);
	Page		page;

	if (!BufferIsValid(buffer))
		return buffer;
	page = BufferGetPage(buffer);
	if (KyroPageGetOpaque(page)->count != item->count ||
		(KyroPageGetOpaque(page)->flags & KYRO_PAGE_NULLS) !=
		(item->flags & KYRO_PAGE_NULLS))
	{
		UnlockReleaseBuffer(buffer);
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) of epoch %u disagrees with its directory item.",
									p, item->block, epoch));
	}
	return buffer;
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
	Buffer		buffer = KyroReadSnapshotPage(index, meta->epoch, &items[p], p,
											  mode);
	RmiPageEntry first;

	if (!BufferIsValid(buffer))
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) of epoch %u is not there.",
									p, items[p].block, meta->epoch));
	rmi_page_get(KyroSnapContent(BufferGetPage(buffer)), 0, &first);
	if (first.key != items[p].first_key || first.block != items[p].first_block ||
		first.offset != items[p].first_offset)
	{
		UnlockReleaseBuffer(buffer);
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) of epoch %u does not start with its directory item's entry.",
									p, items[p].block, meta->epoch));
	}
	return buffer;
}

/*
 * Freeze the active chain, unless a chain is frozen already: one left by
 * a fold's earlier step (*resumed is set then) or by a fold that crashed.
 * Returns a copy of the metapage as it was left.
 */
static KyroMetaPage
freeze_delta(Relation index, bool *resumed)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	GenericXLogState *state;
	KyroMetaPage meta;
	KyroMetaPage copy = palloc(KYRO_PAGE_CONTENT);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));

	*resumed = meta->frozen.number != 0;
	if (!*resumed)
	{
		meta->frozen = meta->active;
		memset(&meta->active, 0, sizeof(KyroChain));
		meta->active.head = meta->active.tail = InvalidBlockNumber;
	}
	/* the new snapshot's number is never reused, even if this fold fails */
	meta->next_epoch++;
	memcpy(copy, meta, KYRO_PAGE_CONTENT);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
	return copy;
}

/* Take a delta chain number for a chain a fold writes. */
static uint32
reserve_chain_number(Relation index)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	GenericXLogState *state;
	KyroMetaPage meta;
	uint32		number;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	number = meta->next_chain++;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
	return number;
}

/*
 * Write the live entries of delta from position from on as a new delta
 * chain, for the next step of the fold, into chain (number 0 if none is
 * live); returns how many it wrote.  The pages belong to no view until
 * the switch; a crash before it leaves them to the sweep.
 */
static int64
write_carried_chain(Relation index, const KyroEntryArray *delta, int64 from,
					KyroChain *chain)
{
	Buffer		prev = InvalidBuffer;
	uint32		on_prev = 0;
	int64		i = from;

	memset(chain, 0, sizeof(KyroChain));
	chain->head = chain->tail = InvalidBlockNumber;
	for (;;)
	{
		Buffer		buffer;
		GenericXLogState *state;
		Page		page;

		while (i < delta->n && delta->items[i].dead)
			i++;
		if (i >= delta->n)
			break;
		if (chain->number == 0)
			chain->number = reserve_chain_number(index);
		buffer = KyroNewBuffer(index);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buffer, GENERIC_XLOG_FULL_IMAGE);
		KyroInitPage(page, KYRO_PAGE_DELTA, chain->number);
		for (; i < delta->n && KyroPageGetOpaque(page)->count < KYRO_DELTA_PER_PAGE; i++)
		{
			KyroDeltaEntry entry = {0};

			if (delta->items[i].dead)
				continue;
			entry.key = delta->items[i].key;
			entry.tid = delta->items[i].tid;
			entry.isnull = delta->items[i].isnull;
			KyroDeltaAppend(page, &entry);
		}
		if (BufferIsValid(prev))
		{
			KyroPageGetOpaque(GenericXLogRegisterBuffer(state, prev, 0))->next =
				BufferGetBlockNumber(buffer);
			chain->before_tail += on_prev;
		}
		else
			chain->head = BufferGetBlockNumber(buffer);
		chain->tail = BufferGetBlockNumber(buffer);
		on_prev = KyroPageGetOpaque(page)->count;
		GenericXLogFinish(state);
		if (BufferIsValid(prev))
			UnlockReleaseBuffer(prev);
		prev = buffer;
		CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(prev))
		UnlockReleaseBuffer(prev);
	return chain->number == 0 ? 0 : chain->before_tail + on_prev;
}

/*
 * Point the metapage at the view in built (its view fields) in one WAL
 * record; its frozen chain (what a fold's step left for the next step, or
 * none) replaces the one folded.  A fold (started nonzero) also counts
 * itself and its duration.
 */
void
KyroSwitchView(Relation index, KyroMetaPage built, TimestampTz started)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	GenericXLogState *state;
	KyroMetaPage meta;
	TimestampTz now = GetCurrentTimestamp();

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->epoch = built->epoch;
	meta->next_epoch = Max(meta->next_epoch, built->epoch + 1);
	meta->snap_entries = built->snap_entries;
	meta->snap_nonnull = built->snap_nonnull;
	meta->snap_dead = built->snap_dead;
	meta->snap_pages = built->snap_pages;
	meta->model_pages = built->model_pages;
	meta->model_bytes = built->model_bytes;
	meta->dir_pages = built->dir_pages;
	meta->key_pages = built->key_pages;
	memcpy(meta->dir_blocks, built->dir_blocks,
		   sizeof(BlockNumber) * built->dir_pages);
	if (built->frozen.number != 0)
		meta->frozen = built->frozen;
	else
	{
		memset(&meta->frozen, 0, sizeof(KyroChain));
		meta->frozen.head = meta->frozen.tail = InvalidBlockNumber;
	}
	if (started != 0)
	{
		meta->folds++;
		meta->last_fold_time = now;
		meta->last_fold_usecs = now - started;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
}

/*
 * Copy snapshot page p's live entries to out, in order; returns how many
 * dead entries it left out.
 */
static int64
read_snapshot_page(Relation index, KyroMetaPage meta, const KyroDirItem *items,
				   uint32 p, KyroEntryArray *out, RmiPageEntry *decoded)
{
	Buffer		buffer = KyroReadSnapshotPageLocked(index, meta, items, p,
													BUFFER_LOCK_SHARE);
	uint32		count = items[p].count;
	bool		isnull = (items[p].flags & KYRO_PAGE_NULLS) != 0;
	int64		dead = 0;

	rmi_page_decode(KyroSnapContent(BufferGetPage(buffer)), 0, count, decoded);
	UnlockReleaseBuffer(buffer);
	out->n = 0;
	for (uint32 i = 0; i < count; i++)
	{
		KyroEntry	e;

		if (decoded[i].dead)
		{
			dead++;
			continue;
		}
		KyroEntryFromPage(&e, &decoded[i], isnull);
		KyroEntryArrayAdd(out, &e);
	}
	return dead;
}

/* The first entry of snapshot page p, as its directory item says. */
static KyroEntry
item_first_entry(KyroMetaPage meta, const KyroDirItem *items, uint32 p)
{
	KyroEntry	e;

	e.isnull = p >= meta->key_pages;
	e.key = e.isnull ? 0 : items[p].first_key;
	ItemPointerSet(&e.tid, items[p].first_block, items[p].first_offset);
	e.dead = false;
	return e;
}

/*
 * The old view's model bytes, to carry over into the new snapshot, or NULL
 * if they cannot be read.
 */
static char *
old_model(Relation index, KyroMetaPage old, const KyroDirItem *old_items)
{
	RmiModel	model;
	char	   *buf;
	bool		recycled;

	if (old->model_bytes == 0 ||
		KyroLoadModel(index, old, old_items, CurrentMemoryContext, &model,
					  &buf, &recycled) != RMI_OK)
		return NULL;
	return buf;
}

/* A kind of fold, in words, for log lines. */
const char *
KyroFoldKindName(KyroFoldKind kind)
{
	switch (kind)
	{
		case KYRO_FOLD_APPEND:
			return "append";
		case KYRO_FOLD_PARTIAL:
			return "partial";
		default:
			return "full";
	}
}

/*
 * Whether a fold must rewrite every page: a rebuild asks for it, or enough
 * of the snapshot is dead that dropping it is worth a full pass.
 */
static bool
fold_rewrites_all(KyroMetaPage old, int flags)
{
	return (flags & KYRO_FOLD_RETRAIN) != 0 ||
		(old->snap_dead > 0 &&
		 old->snap_dead >= KYRO_DEAD_FRACTION * old->snap_entries);
}

/*
 * Snapshot pages one step of a fold may rewrite: kyrodb.fold_step_pages,
 * or by default a sixteenth of the snapshot (at least KYRO_MIN_FOLD_STEP).
 */
static uint32
fold_step_pages(KyroMetaPage old)
{
	if (kyro_fold_step_pages > 0)
		return kyro_fold_step_pages;
	return Max(KYRO_MIN_FOLD_STEP, old->snap_pages / KYRO_FOLD_STEP_SHARE);
}

/*
 * Fold the delta into a new snapshot, or one step of the way.  Without
 * KYRO_FOLD_WAIT, returns false at once if another fold (or VACUUM) holds
 * the fold lock.
 *
 * The fold costs what changed.  Each delta entry belongs to the snapshot
 * page whose range (from its first entry to the next page's) holds it; a
 * page that receives no entry is kept as it is (its block, its tag, its
 * dead bits), and the pages that do are rewritten, merged with their
 * entries and split where they overflow.  Keys past the snapshot's last
 * one (ids, timestamps) therefore rewrite the last page and append new
 * ones.  Every page is rewritten when fold_rewrites_all says so.
 *
 * A fold rewrites at most fold_step_pages pages in one step.  Once it has,
 * the rest of the delta (the entries of the pages after) is written as a
 * new chain that the switch makes the frozen one, and the next fold takes
 * it up before the active chain.  The pages a step frees are reused by
 * the next, so the index grows by a step's pages rather than by a copy of
 * every page that received an entry; readers see the delta's entries in
 * the snapshot or in a chain, always once.
 *
 * The new snapshot gets a new root model, except when the delta only
 * appended keys after the old snapshot's last one and no entry was
 * dropped: then every old page keeps its position and first key, so the
 * old model (with its error bounds) still places every old page, and it
 * is carried over unless KYRO_FOLD_RETRAIN asks otherwise.  New pages it
 * places badly show up as mispredicts, and the worker retrains
 * (kworker.c).
 */
bool
KyroFold(Relation index, int flags, KyroFoldResult *result)
{
	TimestampTz started = GetCurrentTimestamp();
	KyroMetaPage old;
	KyroMetaPage built;
	KyroDirItem *old_items;
	RmiPageEntry *decoded;
	BlockNumber *frozen_pages = NULL;
	int			nfrozen_pages = 0;
	KyroEntryArray delta = {0};
	KyroEntryArray page_entries = {0};
	BlockNumber last_block;
	uint32		last_count;
	KyroWriter *writer;
	int64		d = 0;
	int64		done = 0;
	int64		dropped = 0;
	bool		appended_only = true;
	bool		all;
	KyroFoldKind kind;
	int64		first_rewritten = -1;	/* first page with keys rewritten */
	uint32		step;
	uint32		rewritten = 0;	/* old pages rewritten */
	int64		carry_from = -1;	/* first delta entry left for the next step */
	int64		ncarried = 0;
	bool		resumed;
	BlockNumber nblocks;
	char	   *keep_model = NULL;
	uint32		new_epoch;
	uint32		written;
	BlockNumber *freed;
	int			nfreed = 0;
	MemoryContext foldcxt;
	MemoryContext oldcxt;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot fold index \"%s\" during recovery",
						RelationGetRelationName(index))));
	if (flags & KYRO_FOLD_WAIT)
		LockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock);
	else if (!ConditionalLockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock))
		return false;

	foldcxt = AllocSetContextCreate(CurrentMemoryContext, "kyro_rmi fold",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(foldcxt);

	KyroSweepFreePages(index);
	nblocks = RelationGetNumberOfBlocks(index);
	old = freeze_delta(index, &resumed);
	new_epoch = old->next_epoch - 1;
	all = fold_rewrites_all(old, flags);
	step = fold_step_pages(old);

	old_items = KyroReadDirectory(index, old);
	if (old_items == NULL)
		KyroCorrupt(index, "The directory was recycled while the fold lock was held.");
	decoded = palloc(sizeof(RmiPageEntry) * RMI_PAGE_MAX_ENTRIES);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_READING_DELTA);
	if (old->frozen.number != 0 &&
		!KyroReadChain(index, old->frozen.number, old->frozen.head, 0, &delta,
					   &last_block, &last_count, &frozen_pages, &nfrozen_pages))
		KyroCorrupt(index, psprintf("Delta chain %u was recycled while the fold lock was held.",
									old->frozen.number));
	if (delta.n > 1)
		qsort(delta.items, delta.n, sizeof(KyroEntry), KyroEntryCmpQsort);

	/*
	 * Walk the old pages with the sorted delta beside them: keep a page
	 * that receives nothing, rewrite one that does.
	 */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_MERGING);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) old->snap_entries + delta.n);
	writer = KyroWriterBegin(index, new_epoch);
	freed = palloc(sizeof(BlockNumber) *
				   (old->dir_pages + old->snap_pages + old->model_pages +
					nfrozen_pages + 1));
	for (uint32 p = 0; p < old->snap_pages; p++)
	{
		int64		end = delta.n;
		bool		receives = false;

		/* the delta entries before the next page's first entry are p's */
		if (p + 1 < old->snap_pages)
		{
			KyroEntry	next = item_first_entry(old, old_items, p + 1);

			end = d;
			while (end < delta.n && KyroEntryCompare(&delta.items[end], &next) < 0)
				end++;
		}
		for (int64 i = d; i < end && !receives; i++)
			receives = !delta.items[i].dead;

		/* a step that has rewritten its share leaves the rest for the next */
		if (!all && receives && carry_from < 0 && rewritten >= step)
			carry_from = d;
		if (!all && (!receives || carry_from >= 0))
		{
			KyroWriterKeep(writer, &old_items[p]);
			done += old_items[p].count;
			d = end;
			continue;
		}

		dropped += read_snapshot_page(index, old, old_items, p, &page_entries,
									  decoded);
		freed[nfreed++] = old_items[p].block;
		rewritten++;
		if (first_rewritten < 0 && p < old->key_pages)
			first_rewritten = p;
		for (int64 i = 0; i < page_entries.n; i++)
		{
			while (d < end &&
				   KyroEntryCompare(&delta.items[d], &page_entries.items[i]) < 0)
			{
				if (!delta.items[d].dead)
				{
					KyroWriterAdd(writer, &delta.items[d]);
					if (!page_entries.items[i].isnull)
						appended_only = false;
				}
				d++;
			}
			KyroWriterAdd(writer, &page_entries.items[i]);
		}
		for (; d < end; d++)
			if (!delta.items[d].dead)
				KyroWriterAdd(writer, &delta.items[d]);
		done += old_items[p].count;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done + d);
		CHECK_FOR_INTERRUPTS();
	}
	for (; d < delta.n; d++)
		if (!delta.items[d].dead)
			KyroWriterAdd(writer, &delta.items[d]);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done + d);

	if (!(flags & KYRO_FOLD_RETRAIN) && appended_only && dropped == 0)
		keep_model = old_model(index, old, old_items);

	built = palloc0(KYRO_PAGE_CONTENT);
	written = KyroWriterFinish(writer, built, keep_model,
							   keep_model ? old->model_bytes : 0);
	built->snap_dead = old->snap_dead - dropped;
	memset(&built->frozen, 0, sizeof(KyroChain));
	if (carry_from >= 0)
		ncarried = write_carried_chain(index, &delta, carry_from, &built->frozen);
	KyroSwitchView(index, built, started);
	KyroModelFileRemoveOlder(index, new_epoch);

	/*
	 * The pages rewritten, the old directory and model, and the frozen
	 * chain are free from now on.
	 */
	for (uint32 i = 0; i < old->dir_pages; i++)
		freed[nfreed++] = old->dir_blocks[i];
	for (uint32 i = old->snap_pages; i < old->snap_pages + old->model_pages; i++)
		freed[nfreed++] = old_items[i].block;
	for (int i = 0; i < nfrozen_pages; i++)
		freed[nfreed++] = frozen_pages[i];
	KyroMarkDeleted(index, freed, nfreed);

	UnlockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock);
	if (all)
		kind = KYRO_FOLD_FULL;
	else if (first_rewritten < 0 || first_rewritten + 1 >= old->key_pages)
		kind = KYRO_FOLD_APPEND;
	else
		kind = KYRO_FOLD_PARTIAL;
	ereport(DEBUG1,
			(errmsg_internal("kyrodb: %s fold of index \"%s\" into epoch %u kept %u of %u snapshot pages and wrote %u%s",
							 KyroFoldKindName(kind),
							 RelationGetRelationName(index), new_epoch,
							 built->snap_pages - written, old->snap_pages,
							 written,
							 ncarried > 0 ?
							 psprintf(", carrying %lld delta entries to its next step",
									  (long long) ncarried) : "")));
	if (result != NULL)
	{
		result->kind = kind;
		result->epoch = new_epoch;
		result->delta_entries = carry_from >= 0 ? carry_from : delta.n;
		result->snap_entries = built->snap_entries;
		result->retrained = keep_model == NULL;
		result->pages_written = written;
		result->pages_kept = built->snap_pages - written;
		result->carried = ncarried;
		result->grew = RelationGetNumberOfBlocks(index) - nblocks;
		result->resumed = resumed;
		result->usecs = GetCurrentTimestamp() - started;
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(foldcxt);
	return true;
}

/*
 * Fold the whole delta, waiting for a running fold: every step of a fold
 * under way, then the active chain in as many steps as it takes.  result
 * describes the last step.
 */
void
KyroFoldAll(Relation index, int flags, KyroFoldResult *result)
{
	bool		took_active = false;

	/* every step rewrites a page at least, so the steps come to an end */
	do
	{
		KyroFold(index, flags | KYRO_FOLD_WAIT, result);
		took_active |= !result->resumed;
		CHECK_FOR_INTERRUPTS();
	} while (result->carried > 0 || !took_active);
}
