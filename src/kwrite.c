/*-------------------------------------------------------------------------
 *
 * kwrite.c
 *	  Writing a new snapshot: its pages, its model and its directory.
 *
 * Build and fold both hand entries to a writer in (key, TID) order, NULLs
 * last.  The writer packs them into fresh pages (recycled or new blocks,
 * never a page of the current view), trains the model on the keys, writes
 * the model and the directory, and fills in the metapage fields of the new
 * view.  Nothing is visible until the caller switches the metapage, so a
 * crash before that leaves the old view whole.
 *
 * src/kwrite.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "kyrodb.h"

struct KyroWriter
{
	Relation	index;
	uint32		epoch;
	Page		page;			/* the snapshot page being filled */
	int			in_page;
	int64		nentries;
	int64		nnonnull;
	uint64	   *keys;			/* every non-NULL key, for training */
	int64		keys_cap;
	BlockNumber *blocks;		/* snapshot pages, then model pages */
	int			nblocks;
	int			blocks_cap;
};

/* A writer for the snapshot numbered epoch, of about expected entries. */
KyroWriter *
KyroWriterBegin(Relation index, uint32 epoch, int64 expected)
{
	KyroWriter *w = palloc0(sizeof(KyroWriter));

	w->index = index;
	w->epoch = epoch;
	w->page = palloc(BLCKSZ);
	KyroInitPage(w->page, KYRO_PAGE_SNAPSHOT, epoch);
	w->keys_cap = Max(expected, 1024);
	w->keys = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(uint64) * w->keys_cap);
	w->blocks_cap = 64;
	w->blocks = palloc(sizeof(BlockNumber) * w->blocks_cap);
	return w;
}

/* Write page as a fresh block, WAL-logged whole; returns the block. */
static BlockNumber
write_page(Relation index, Page page)
{
	Buffer		buffer = KyroNewBuffer(index);
	GenericXLogState *state = GenericXLogStart(index);
	Page		target = GenericXLogRegisterBuffer(state, buffer,
												   GENERIC_XLOG_FULL_IMAGE);
	BlockNumber blkno = BufferGetBlockNumber(buffer);

	memcpy(target, page, BLCKSZ);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buffer);
	return blkno;
}

/* Remember a block of the new view. */
static void
add_block(KyroWriter *w, BlockNumber blkno)
{
	if (w->nblocks == w->blocks_cap)
	{
		w->blocks_cap *= 2;
		w->blocks = repalloc(w->blocks, sizeof(BlockNumber) * w->blocks_cap);
	}
	w->blocks[w->nblocks++] = blkno;
}

/* Write the snapshot page in hand, if it holds anything. */
static void
flush_snapshot_page(KyroWriter *w)
{
	if (w->in_page == 0)
		return;
	KyroPageGetOpaque(w->page)->count = w->in_page;
	add_block(w, write_page(w->index, w->page));
	KyroInitPage(w->page, KYRO_PAGE_SNAPSHOT, w->epoch);
	w->in_page = 0;
}

/* Append one entry; entries come in (key, TID) order, NULLs last. */
void
KyroWriterAdd(KyroWriter *w, const KyroEntry *entry)
{
	int			slot = w->in_page;

	Assert(!entry->dead);
	Assert(entry->isnull || w->nnonnull == w->nentries);
	KyroSnapKeys(w->page)[slot] = entry->isnull ? 0 : entry->key;
	KyroSnapTids(w->page)[slot] = entry->tid;
	KyroSnapDead(w->page)[slot / 8] &= ~(1 << (slot % 8));
	if (!entry->isnull)
	{
		if (w->nnonnull == w->keys_cap)
		{
			w->keys_cap *= 2;
			w->keys = repalloc_huge(w->keys, sizeof(uint64) * w->keys_cap);
		}
		w->keys[w->nnonnull++] = entry->key;
	}
	w->nentries++;
	if (++w->in_page == KYRO_SNAP_PER_PAGE)
		flush_snapshot_page(w);
}

/*
 * Train the model on the keys and write it after the snapshot pages;
 * returns its size in bytes, 0 if there is no model (the index then
 * searches without one: slower, never wrong).
 */
static uint32
write_model(KyroWriter *w)
{
	KyroOptions *opts = KyroGetOptions(w->index);
	RmiBuildOptions build;
	RmiModel	model;
	uint64		size;
	char	   *bytes;
	Page		page;

	rmi_default_options(&build);
	build.target_error = opts->target_error;
	if (rmi_build(w->keys, w->nnonnull, &build, &model) != RMI_OK)
		return 0;
	size = rmi_serialized_size(&model);
	if (size > PG_UINT32_MAX)
	{
		rmi_free(&model);
		return 0;
	}
	bytes = palloc_extended(size, MCXT_ALLOC_HUGE);
	if (rmi_serialize(&model, bytes, size) != RMI_OK)
		size = 0;
	rmi_free(&model);

	page = palloc(BLCKSZ);
	for (uint64 off = 0; off < size; off += KYRO_MODEL_PER_PAGE)
	{
		uint32		chunk = Min(size - off, KYRO_MODEL_PER_PAGE);

		KyroInitPage(page, KYRO_PAGE_MODEL, w->epoch);
		memcpy(PageGetContents(page), bytes + off, chunk);
		KyroPageGetOpaque(page)->count = chunk;
		add_block(w, write_page(w->index, page));
	}
	pfree(page);
	pfree(bytes);
	return (uint32) size;
}

/*
 * Finish: the last snapshot page, the model, the directory; then fill the
 * view's fields of meta (the caller WAL-logs the metapage switch).
 */
void
KyroWriterFinish(KyroWriter *w, KyroMetaPage meta)
{
	int			snap_pages;
	int			model_pages;
	int			dir_pages;
	uint32		model_bytes;
	Page		page;

	flush_snapshot_page(w);
	snap_pages = w->nblocks;
	model_bytes = write_model(w);
	model_pages = w->nblocks - snap_pages;

	dir_pages = (w->nblocks + KYRO_DIR_PER_PAGE - 1) / KYRO_DIR_PER_PAGE;
	if (dir_pages > (int) KYRO_MAX_DIR_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("index \"%s\" would need %d directory pages, more than the %d a kyro_rmi index can have",
						RelationGetRelationName(w->index), dir_pages,
						(int) KYRO_MAX_DIR_PAGES)));

	page = palloc(BLCKSZ);
	for (int d = 0; d < dir_pages; d++)
	{
		int			first = d * KYRO_DIR_PER_PAGE;
		int			count = Min(w->nblocks - first, (int) KYRO_DIR_PER_PAGE);

		KyroInitPage(page, KYRO_PAGE_DIRECTORY, w->epoch);
		memcpy(KyroDirBlocks(page), w->blocks + first, sizeof(BlockNumber) * count);
		KyroPageGetOpaque(page)->count = count;
		meta->dir_blocks[d] = write_page(w->index, page);
	}
	pfree(page);

	meta->epoch = w->epoch;
	meta->snap_entries = w->nentries;
	meta->snap_nonnull = w->nnonnull;
	meta->snap_dead = 0;
	meta->snap_pages = snap_pages;
	meta->model_pages = model_pages;
	meta->model_bytes = model_bytes;
	meta->dir_pages = dir_pages;

	pfree(w->keys);
	pfree(w->blocks);
	pfree(w->page);
	pfree(w);
}
