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
 * Read chain number from block start on, skipping the first skip entries
 * of that page, into out.  Stops at the end of the chain; *last_block and
 * *last_count tell where, so a later call reads only what came after.  If
 * pages is given, the chain's blocks are collected there.  Returns false if
 * a page does not belong to the chain (it was recycled under the caller).
 */
bool
KyroReadChain(Relation index, uint32 number, BlockNumber start, uint32 skip,
			  KyroEntryArray *out, BlockNumber *last_block, uint32 *last_count,
			  BlockNumber **pages, int *npages)
{
	BlockNumber blkno = start;
	int			pages_cap = 0;

	*last_block = InvalidBlockNumber;
	*last_count = 0;
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buffer = ReadBuffer(index, blkno);
		Page		page;
		KyroPageOpaque opaque;
		KyroDeltaEntry *entries;

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		opaque = KyroPageGetOpaque(page);
		if (PageIsNew(page) || opaque->page_id != KYRO_PAGE_ID ||
			KyroPageKind(page) != KYRO_PAGE_DELTA || opaque->tag != number)
		{
			UnlockReleaseBuffer(buffer);
			return false;
		}
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
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * The blocks of the view in meta, snapshot pages then model pages, read
 * from its directory pages.
 */
BlockNumber *
KyroReadDirectory(Relation index, KyroMetaPage meta)
{
	uint32		total = meta->snap_pages + meta->model_pages;
	BlockNumber *blocks = palloc(sizeof(BlockNumber) * Max(total, 1));
	uint32		got = 0;

	for (uint32 d = 0; d < meta->dir_pages; d++)
	{
		Buffer		buffer = ReadBuffer(index, meta->dir_blocks[d]);
		Page		page;
		KyroPageOpaque opaque;

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		opaque = KyroPageGetOpaque(page);
		if (KyroPageKind(page) != KYRO_PAGE_DIRECTORY ||
			opaque->tag != meta->epoch || got + opaque->count > total)
		{
			UnlockReleaseBuffer(buffer);
			pfree(blocks);
			return NULL;
		}
		memcpy(blocks + got, KyroDirBlocks(page), sizeof(BlockNumber) * opaque->count);
		got += opaque->count;
		UnlockReleaseBuffer(buffer);
	}
	if (got != total)
	{
		pfree(blocks);
		return NULL;
	}
	return blocks;
}

/*
 * Pin and share-lock model page i of meta's view (blocks: its directory)
 * into *buffer.  False, with nothing held, if the block is not one of this
 * view's model pages: it was recycled under the caller.
 */
static bool
lock_model_page(Relation index, KyroMetaPage meta, const BlockNumber *blocks,
				uint32 i, Buffer *buffer)
{
	Page		page;

	*buffer = ReadBuffer(index, blocks[meta->snap_pages + i]);
	LockBuffer(*buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buffer);
	if (KyroPageKind(page) != KYRO_PAGE_MODEL ||
		KyroPageGetOpaque(page)->tag != meta->epoch)
	{
		UnlockReleaseBuffer(*buffer);
		return false;
	}
	return true;
}

/*
 * Read the model pages of meta's view (blocks: its directory) into one
 * buffer allocated in cxt and validate it.  Returns RMI_OK with *model a
 * view of *buf, or why the model is unusable; sets *recycled if a page is
 * not one of this view's model pages (it was reused under the caller).
 */
RmiStatus
KyroLoadModel(Relation index, KyroMetaPage meta, const BlockNumber *blocks,
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

		if (!lock_model_page(index, meta, blocks, i, &buffer))
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
KyroModelTail(Relation index, KyroMetaPage meta, const BlockNumber *blocks,
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

		if (!lock_model_page(index, meta, blocks, i, &buffer))
		{
			*recycled = true;
			return RMI_ERR_SIZE;
		}
		page = BufferGetPage(buffer);
		opaque = KyroPageGetOpaque(page);
		if (opaque->count > KYRO_MODEL_PER_PAGE)
		{
			UnlockReleaseBuffer(buffer);
			return RMI_ERR_SIZE;
		}
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

/* Freeze the active chain; returns a copy of the metapage as it was left. */
static KyroMetaPage
freeze_delta(Relation index)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	GenericXLogState *state;
	KyroMetaPage meta;
	KyroMetaPage copy = palloc(KYRO_PAGE_CONTENT);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	state = GenericXLogStart(index);
	meta = KyroPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));

	/* a frozen chain left by a fold that crashed is folded now */
	if (meta->frozen.number == 0)
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

/*
 * Point the metapage at the view in built (its view fields) in one WAL
 * record, dropping the frozen chain; a fold (started nonzero) also counts
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
	meta->snap_dead = 0;
	meta->snap_pages = built->snap_pages;
	meta->model_pages = built->model_pages;
	meta->model_bytes = built->model_bytes;
	meta->dir_pages = built->dir_pages;
	meta->key_width = built->key_width;
	memcpy(meta->dir_blocks, built->dir_blocks,
		   sizeof(BlockNumber) * built->dir_pages);
	memset(&meta->frozen, 0, sizeof(KyroChain));
	meta->frozen.head = meta->frozen.tail = InvalidBlockNumber;
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
 * Copy snapshot page blkno's live entries to out, in order; *nonnull_read
 * counts the live entries with a key.
 */
static void
read_snapshot_page(Relation index, BlockNumber blkno, uint32 epoch, int width,
				   int64 first_pos, int64 nonnull, KyroEntryArray *out,
				   int64 *nonnull_read)
{
	Buffer		buffer = ReadBuffer(index, blkno);
	Page		page;
	KyroPageOpaque opaque;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	opaque = KyroPageGetOpaque(page);
	if (KyroPageKind(page) != KYRO_PAGE_SNAPSHOT || opaque->tag != epoch ||
		KyroSnapWidth(page) != width)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("snapshot page %u of index \"%s\" is not of epoch %u",
						blkno, RelationGetRelationName(index), epoch),
				 errhint("Rebuild the index with REINDEX.")));
	out->n = 0;
	for (uint32 i = 0; i < opaque->count; i++)
	{
		KyroEntry	e = KyroSnapEntry(page, width, i, first_pos + i >= nonnull);

		if (!e.dead)
		{
			KyroEntryArrayAdd(out, &e);
			if (!e.isnull)
				(*nonnull_read)++;
		}
	}
	UnlockReleaseBuffer(buffer);
}

/*
 * The old view's model bytes, to carry over into the new snapshot, or NULL
 * if they cannot be read.
 */
static char *
old_model(Relation index, KyroMetaPage old, const BlockNumber *old_blocks)
{
	RmiModel	model;
	char	   *buf;
	bool		recycled;

	if (old->model_bytes == 0 ||
		KyroLoadModel(index, old, old_blocks, CurrentMemoryContext, &model,
					  &buf, &recycled) != RMI_OK)
		return NULL;
	return buf;
}

/*
 * Fold the delta into a new snapshot.  Without KYRO_FOLD_WAIT, returns
 * false at once if another fold (or VACUUM) holds the fold lock.
 *
 * The new snapshot gets a new model, except when the delta only appended
 * keys after the old snapshot's last one and no entry was dropped: then
 * every old position is unchanged and the old model (with its error
 * bounds) still places every old key, so it is carried over unless
 * KYRO_FOLD_RETRAIN asks otherwise.  New keys it places badly show up as
 * mispredicts, and the worker retrains (kworker.c).
 */
bool
KyroFold(Relation index, int flags, KyroFoldResult *result)
{
	TimestampTz started = GetCurrentTimestamp();
	KyroMetaPage old;
	KyroMetaPage built;
	BlockNumber *old_blocks;
	BlockNumber *frozen_pages = NULL;
	int			nfrozen_pages = 0;
	KyroEntryArray delta = {0};
	KyroEntryArray page_entries = {0};
	BlockNumber last_block;
	uint32		last_count;
	KyroWriter *writer;
	int64		d = 0;
	int64		done = 0;
	int64		nonnull_read = 0;
	bool		appended_only = true;
	char	   *keep_model = NULL;
	uint32		new_epoch;
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
	old = freeze_delta(index);
	new_epoch = old->next_epoch - 1;

	old_blocks = KyroReadDirectory(index, old);
	if (old_blocks == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("directory of index \"%s\" is damaged",
						RelationGetRelationName(index)),
				 errhint("Rebuild the index with REINDEX.")));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_READING_DELTA);
	if (old->frozen.number != 0 &&
		!KyroReadChain(index, old->frozen.number, old->frozen.head, 0, &delta,
					   &last_block, &last_count, &frozen_pages, &nfrozen_pages))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("delta chain %u of index \"%s\" is damaged",
						old->frozen.number, RelationGetRelationName(index)),
				 errhint("Rebuild the index with REINDEX.")));
	if (delta.n > 1)
		qsort(delta.items, delta.n, sizeof(KyroEntry), KyroEntryCmpQsort);

	/* merge the old snapshot's live entries with the frozen delta's */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_MERGING);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) old->snap_entries + delta.n);
	writer = KyroWriterBegin(index, new_epoch, old->snap_entries + delta.n);
	for (uint32 p = 0; p < old->snap_pages; p++)
	{
		int			width = old->key_width == 4 ? 4 : 8;

		read_snapshot_page(index, old_blocks[p], old->epoch, width,
						   (int64) p * KyroSnapPerPage(width), old->snap_nonnull,
						   &page_entries, &nonnull_read);
		for (int64 i = 0; i < page_entries.n; i++)
		{
			while (d < delta.n &&
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
		done += page_entries.n;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done + d);
		CHECK_FOR_INTERRUPTS();
	}
	for (; d < delta.n; d++)
		if (!delta.items[d].dead)
			KyroWriterAdd(writer, &delta.items[d]);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done + d);

	if (!(flags & KYRO_FOLD_RETRAIN) && appended_only &&
		nonnull_read == (int64) old->snap_nonnull)
		keep_model = old_model(index, old, old_blocks);

	built = palloc0(KYRO_PAGE_CONTENT);
	KyroWriterFinish(writer, built, keep_model, keep_model ? old->model_bytes : 0);
	KyroSwitchView(index, built, started);
	KyroModelFileRemoveOlder(index, new_epoch);

	/* the old view's pages and the frozen chain are free from now on */
	freed = palloc(sizeof(BlockNumber) *
				   (old->dir_pages + old->snap_pages + old->model_pages +
					nfrozen_pages + 1));
	for (uint32 i = 0; i < old->dir_pages; i++)
		freed[nfreed++] = old->dir_blocks[i];
	for (uint32 i = 0; i < old->snap_pages + old->model_pages; i++)
		freed[nfreed++] = old_blocks[i];
	for (int i = 0; i < nfrozen_pages; i++)
		freed[nfreed++] = frozen_pages[i];
	KyroMarkDeleted(index, freed, nfreed);

	UnlockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock);
	if (result != NULL)
	{
		result->epoch = new_epoch;
		result->delta_entries = delta.n;
		result->snap_entries = built->snap_entries;
		result->retrained = keep_model == NULL;
		result->usecs = GetCurrentTimestamp() - started;
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(foldcxt);
	return true;
}
