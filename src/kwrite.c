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
 * Keys are first packed as 32-bit offsets from each page's first key.  The
 * first page whose keys span 2^32 or more switches the whole snapshot to
 * 8-byte keys: the pages written so far are read back and rewritten, and
 * the discarded ones freed.  So a snapshot that allows offsets is smaller,
 * and one that does not costs one early rewrite.
 *
 * src/kwrite.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

#include "kyrodb.h"

struct KyroWriter
{
	Relation	index;
	uint32		epoch;
	int			width;			/* 4 while every page allows offsets, else 8 */
	int			per_page;
	KyroEntry  *pending;		/* the next page's entries */
	int			npending;
	int64		nentries;
	int64		nnonnull;
	uint64	   *keys;			/* every non-NULL key, for training */
	int64		keys_cap;
	BlockNumber *blocks;		/* snapshot pages, then model pages */
	int			nblocks;
	int			blocks_cap;
	Page		page;			/* scratch for building a page */
};

/* A writer for the snapshot numbered epoch, of about expected entries. */
KyroWriter *
KyroWriterBegin(Relation index, uint32 epoch, int64 expected)
{
	KyroWriter *w = palloc0(sizeof(KyroWriter));

	w->index = index;
	w->epoch = epoch;
	w->width = 4;
	w->per_page = KyroSnapPerPage(4);
	w->pending = palloc(sizeof(KyroEntry) * KYRO_SNAP_PER_PAGE_MAX);
	w->page = palloc(BLCKSZ);
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

/* Whether the pending entries' keys fit as offsets from the first. */
static bool
pending_fits_offsets(KyroWriter *w)
{
	uint64		last = 0;

	if (w->npending == 0 || w->pending[0].isnull)
		return true;
	for (int i = 0; i < w->npending && !w->pending[i].isnull; i++)
		last = w->pending[i].key;	/* sorted: the last key is the largest */
	return last - w->pending[0].key <= PG_UINT32_MAX;
}

/* Write the pending entries as one snapshot page of the current width. */
static void
write_pending_page(KyroWriter *w)
{
	Page		page = w->page;
	char	   *content;
	uint64		base;

	KyroInitPage(page, KYRO_PAGE_SNAPSHOT | (w->width == 4 ? KYRO_PAGE_KEY32 : 0),
				 w->epoch);
	content = PageGetContents(page);
	base = w->pending[0].isnull ? 0 : w->pending[0].key;
	if (w->width == 4)
		memcpy(content, &base, sizeof(uint64));
	for (int i = 0; i < w->npending; i++)
	{
		uint64		key = w->pending[i].isnull ? base : w->pending[i].key;

		if (w->width == 4)
			((uint32 *) (content + 8))[i] = (uint32) (key - base);
		else
			((uint64 *) content)[i] = key;
		KyroSnapTids(page, w->width)[i] = w->pending[i].tid;
	}
	/* the dead bits start clear: KyroInitPage zeroed the page */
	KyroPageGetOpaque(page)->count = w->npending;
	add_block(w, write_page(w->index, page));
	w->npending = 0;
}

static void add_to_pages(KyroWriter *w, const KyroEntry *entry);

/*
 * Switch the snapshot to 8-byte keys: read back the pages written with
 * offsets, write their entries again, and free the discarded pages (no
 * view ever pointed to them).
 */
static void
widen(KyroWriter *w)
{
	BlockNumber *old = w->blocks;
	int			nold = w->nblocks;
	KyroEntry  *saved = palloc(sizeof(KyroEntry) * KYRO_SNAP_PER_PAGE_MAX);
	int			nsaved = w->npending;
	int64		pos = 0;

	memcpy(saved, w->pending, sizeof(KyroEntry) * nsaved);
	w->width = 8;
	w->per_page = KyroSnapPerPage(8);
	w->npending = 0;
	w->blocks_cap = Max(64, nold * 2);
	w->blocks = palloc(sizeof(BlockNumber) * w->blocks_cap);
	w->nblocks = 0;

	for (int b = 0; b < nold; b++)
	{
		Buffer		buffer = ReadBuffer(w->index, old[b]);
		Page		page;
		uint32		count;
		KyroEntry	entries[KYRO_SNAP_PER_PAGE_MAX];

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		count = KyroPageGetOpaque(page)->count;
		for (uint32 i = 0; i < count; i++, pos++)
			entries[i] = KyroSnapEntry(page, 4, i, pos >= w->nnonnull);
		UnlockReleaseBuffer(buffer);
		for (uint32 i = 0; i < count; i++)
			add_to_pages(w, &entries[i]);
		CHECK_FOR_INTERRUPTS();
	}
	for (int i = 0; i < nsaved; i++)
		add_to_pages(w, &saved[i]);
	if (nold > 0)
		KyroMarkDeleted(w->index, old, nold);
	pfree(old);
	pfree(saved);
}

/* Write the pending page, widening first if its keys need 8 bytes. */
static void
flush_pending(KyroWriter *w)
{
	if (w->npending == 0)
		return;
	if (w->width == 4 && !pending_fits_offsets(w))
	{
		widen(w);
		return;
	}
	write_pending_page(w);
}

/* Put an entry on the pages, writing each page as it fills. */
static void
add_to_pages(KyroWriter *w, const KyroEntry *entry)
{
	w->pending[w->npending++] = *entry;
	if (w->npending == w->per_page)
		flush_pending(w);
}

/* Append one entry; entries come in (key, TID) order, NULLs last. */
void
KyroWriterAdd(KyroWriter *w, const KyroEntry *entry)
{
	Assert(!entry->dead);
	Assert(entry->isnull || w->nnonnull == w->nentries);
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
	add_to_pages(w, entry);
}

/*
 * Train the model on the keys (or take keep_model, keep_bytes long), write
 * it after the snapshot pages and publish it as the model file; returns its
 * size in bytes, 0 if there is no model (the index then searches without
 * one: slower, never wrong).
 */
static uint32
write_model(KyroWriter *w, const char *keep_model, uint32 keep_bytes)
{
	KyroOptions *opts = KyroGetOptions(w->index);
	RmiBuildOptions build;
	RmiModel	model;
	uint64		size;
	char	   *bytes;
	Page		page;

	if (keep_model != NULL)
	{
		size = keep_bytes;
		bytes = (char *) keep_model;
	}
	else
	{
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_TRAINING);
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
	}

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
	/* before the metapage names this epoch, so readers find the file */
	KyroModelFileWrite(w->index, w->epoch, bytes, (uint32) size);
	if (bytes != keep_model)
		pfree(bytes);
	return (uint32) size;
}

/*
 * Finish: the last snapshot page, the model, the directory; then fill the
 * view's fields of meta (the caller WAL-logs the metapage switch).
 */
void
KyroWriterFinish(KyroWriter *w, KyroMetaPage meta, const char *keep_model,
				 uint32 keep_bytes)
{
	int			snap_pages;
	int			model_pages;
	int			dir_pages;
	uint32		model_bytes;
	Page		page;

	/* widening re-fills the pending page, so flush until it stays empty */
	while (w->npending > 0)
		flush_pending(w);
	snap_pages = w->nblocks;
	model_bytes = write_model(w, keep_model, keep_bytes);
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
	meta->key_width = w->width;

	pfree(w->keys);
	pfree(w->blocks);
	pfree(w->pending);
	pfree(w->page);
	pfree(w);
}
