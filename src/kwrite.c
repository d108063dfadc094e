/*-------------------------------------------------------------------------
 *
 * kwrite.c
 *	  Writing a new snapshot: its pages, its model and its directory.
 *
 * Build and fold both hand entries to a writer in (key, TID) order, NULLs
 * last; a fold also hands it the directory items of the old pages it
 * keeps, in their place in that order.  The writer packs as many entries on each page as the page codec
 * fits there (rmi/rmi_page.h: widths chosen per page, so no decision is
 * ever taken for the whole snapshot and nothing is rewritten), writes each
 * page to a fresh block (recycled or new, never a page of the current
 * view), trains the root model on the pages' first keys, writes the model
 * and the directory, and fills in the metapage fields of the new view.
 * Nothing is visible until the caller switches the metapage, so a crash
 * before that leaves the old view whole.
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

/* Entries the writer holds before it must write a page: two pages' worth. */
#define PENDING_CAPACITY	(2 * RMI_PAGE_MAX_ENTRIES)

struct KyroWriter
{
	Relation	index;
	uint32		epoch;
	RmiPageEntry *pending;		/* entries not yet on a page: [head, npending) */
	int			head;
	int			npending;
	bool		pending_nulls;	/* the pending entries are NULL entries */
	uint32		last_count;		/* entries on the last page: the next guess */
	int64		nentries;
	int64		nnonnull;
	KyroDirItem *items;			/* snapshot pages, then model pages */
	uint32		nitems;
	uint32		items_cap;
	uint32		key_pages;
	uint32		pages_written;	/* snapshot pages written, not kept */
	size_t		fill_bytes;		/* what a page of keys is packed to */
	Page		page;			/* scratch for building a page */
};

/* A writer for the snapshot numbered epoch. */
KyroWriter *
KyroWriterBegin(Relation index, uint32 epoch)
{
	KyroWriter *w = palloc0(sizeof(KyroWriter));

	w->index = index;
	w->epoch = epoch;
	w->pending = palloc(sizeof(RmiPageEntry) * PENDING_CAPACITY);
	w->page = palloc(BLCKSZ);
	w->items_cap = 64;
	w->items = palloc(sizeof(KyroDirItem) * w->items_cap);
	w->fill_bytes = (size_t) KYRO_PAGE_CONTENT * KyroGetOptions(index)->fillfactor / 100;
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

/* Room for one more directory item. */
static KyroDirItem *
new_item(KyroWriter *w)
{
	KyroDirItem *item;

	if (w->nitems == w->items_cap)
	{
		w->items_cap *= 2;
		w->items = repalloc_huge(w->items, sizeof(KyroDirItem) * w->items_cap);
	}
	item = &w->items[w->nitems++];
	memset(item, 0, sizeof(KyroDirItem));
	return item;
}

/*
 * Write as many pending entries as fit as one snapshot page: a page of
 * keys packed to the index's fillfactor, the rest of it left to its insert
 * area (NULL pages are packed full: new rows' TIDs, after the last, go to
 * a new page as the last NULL page splits as a rightmost page).  At the end
 * of a run of entries that a kept page follows (balance), when what would
 * be left for a next page is less than half a page, the two pages share
 * the rest evenly instead, as a B-tree splits a page: a fold that adds a
 * few entries to a full page leaves two pages with room, not a full page
 * that the next entry in its range splits again and a sliver beside it.
 * The last run of keys is packed full, as a B-tree splits its rightmost
 * page: keys past the last one (ids, timestamps) go on after it.
 */
static void
write_one_page(KyroWriter *w, bool balance)
{
	RmiPageEntry *first = &w->pending[w->head];
	uint32		n = Min(w->npending - w->head, RMI_PAGE_MAX_ENTRIES);
	size_t		cap = w->pending_nulls ? KYRO_PAGE_CONTENT : w->fill_bytes;
	uint32		fit = rmi_page_fit(first, n, cap, w->last_count);
	uint16		flags = w->pending_nulls ? KYRO_PAGE_NULLS : 0;
	KyroDirItem *item;

	/* an entry too wide for the fill still goes on a page of its own */
	if (fit == 0)
		fit = rmi_page_fit(first, n, KYRO_PAGE_CONTENT, 1);
	if (balance && fit > 0 && fit < n &&
		(int64) n == w->npending - w->head && n - fit < fit / 2)
	{
		uint32		half = rmi_page_fit(first, (n + 1) / 2, cap, (n + 1) / 2);

		if (half > 0)
			fit = half;
	}

	KyroInitPage(w->page, KYRO_PAGE_SNAPSHOT | flags, w->epoch);
	if (fit == 0 ||
		rmi_page_encode(first, fit, KyroSnapContent(w->page), KYRO_PAGE_CONTENT) == 0)
		elog(ERROR, "kyro_rmi: an entry does not fit on a snapshot page");
	KyroPageGetOpaque(w->page)->count = fit;
	KyroSetAreaHole(w->page);

	item = new_item(w);
	item->first_key = first->key;
	item->first_block = first->block;
	item->first_offset = first->offset;
	item->count = fit;
	item->flags = flags;
	item->tag = w->epoch;
	item->block = write_page(w->index, w->page);
	if (!w->pending_nulls)
		w->key_pages++;
	w->pages_written++;

	w->last_count = fit;
	w->head += fit;
	if (w->head >= RMI_PAGE_MAX_ENTRIES)
	{
		memmove(w->pending, w->pending + w->head,
				sizeof(RmiPageEntry) * (w->npending - w->head));
		w->npending -= w->head;
		w->head = 0;
	}
	CHECK_FOR_INTERRUPTS();
}

/* Write every pending entry to pages (balance: see write_one_page). */
static void
write_pending(KyroWriter *w, bool balance)
{
	while (w->npending > w->head)
		write_one_page(w, balance);
}

/* Append one entry; entries come in (key, TID) order, NULLs last. */
void
KyroWriterAdd(KyroWriter *w, const KyroEntry *entry)
{
	Assert(!entry->dead);
	Assert(entry->isnull || w->nnonnull == w->nentries);
	if (entry->isnull && !w->pending_nulls)
	{
		/* NULL entries go on pages of their own */
		write_pending(w, false);
		w->pending_nulls = true;
	}
	KyroEntryToPage(&w->pending[w->npending++], entry);
	w->nentries++;
	if (!entry->isnull)
		w->nnonnull++;
	if (w->npending - w->head >= RMI_PAGE_MAX_ENTRIES)
		write_one_page(w, false);
}

/*
 * End the entries of one old page that a fold rewrote: they go to pages
 * of their own, the last two sharing evenly when the last would be less
 * than half full (write_one_page), as a B-tree splits a full page in two.
 * A page reaches a fold with entries of its own when it was full, so
 * packing its entries together with the next page's would leave pages as
 * full as before, and the next inserts would overflow them again.
 */
void
KyroWriterEndPage(KyroWriter *w)
{
	Assert(!w->pending_nulls);
	write_pending(w, true);
}

/*
 * Pack the pages of keys written from now on to bytes of their content
 * (KyroWriterBegin starts with the index's fillfactor).  A fold packs an
 * old page it rewrites as full as a repack would (KyroWriterFullPage), so
 * that only a page that overflows splits, as in a B-tree, and packs the
 * last page to the fillfactor.
 */
void
KyroWriterSetFill(KyroWriter *w, size_t bytes)
{
	w->fill_bytes = Min(bytes, (size_t) KYRO_PAGE_CONTENT);
}

/* What a repack fills a page to: all of it but room for the least area. */
size_t
KyroWriterFullPage(void)
{
	return KYRO_PAGE_CONTENT - KYRO_REPACK_MIN_AREA * RMI_AREA_ENTRY_BYTES;
}

/*
 * Keep an old snapshot page, as its directory item says, in its place in
 * the order: the entries pending before it go to pages first.  The page
 * keeps its block and its tag.
 */
void
KyroWriterKeep(KyroWriter *w, const KyroDirItem *old)
{
	bool		nulls = (old->flags & KYRO_PAGE_NULLS) != 0;

	Assert(nulls || !w->pending_nulls);
	write_pending(w, !nulls);
	*new_item(w) = *old;
	w->nentries += old->count;
	if (nulls)
		w->pending_nulls = true;
	else
	{
		w->nnonnull += old->count;
		w->key_pages++;
	}
	w->last_count = old->count;
}

/*
 * Train the root model on the first keys of the pages with keys (or take
 * keep_model, keep_bytes long), write it after the snapshot pages and
 * publish it as the model file; returns its size in bytes, 0 if there is
 * no model (the index then routes keys by binary search over the
 * directory: slower, never wrong).
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
		uint64	   *first_keys = palloc(sizeof(uint64) * Max(w->key_pages, 1));

		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_TRAINING);
		for (uint32 p = 0; p < w->key_pages; p++)
			first_keys[p] = w->items[p].first_key;
		rmi_default_options(&build);
		build.target_error = opts->target_error;
		if (rmi_build(first_keys, w->key_pages, &build, &model) != RMI_OK)
			return 0;
		pfree(first_keys);
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
		KyroDirItem *item;

		KyroInitPage(page, KYRO_PAGE_MODEL, w->epoch);
		memcpy(PageGetContents(page), bytes + off, chunk);
		KyroPageGetOpaque(page)->count = chunk;
		item = new_item(w);
		item->count = chunk;
		item->tag = w->epoch;
		item->block = write_page(w->index, page);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(page);
	/* before the metapage names this epoch, so readers find the file */
	KyroModelFileWrite(w->index, w->epoch, bytes, (uint32) size);
	if (bytes != keep_model)
		pfree(bytes);
	return (uint32) size;
}

/*
 * Whether the old root model still places every page it was trained on:
 * each of the first n_keys pages of the new snapshot starts with the key
 * that the page of the same number started with in the old view.  The
 * model was trained on exactly those (first key, page number) pairs, and
 * its error bounds were measured on them, so then every window it names
 * for them is the one it was measured on: its bounds hold for the new
 * snapshot as they did for the old, and kyrodb.check verifies them with
 * no slack.  A page split, merged or repacked before the last of those
 * pages shifts the numbers of the pages after it (or changes a first
 * key), and the model must be trained again.  Pages past the first n_keys
 * are not the model's: rmi_window clamps its predictions to the positions
 * it was trained on, and the search's gallop finds those pages.
 */
static bool
keeps_model_places(const KyroWriter *w, const KyroCarriedModel *carry)
{
	/* a model trained on no page places none */
	if (carry->n_keys == 0 || carry->n_keys > w->key_pages)
		return false;
	for (uint64 p = 0; p < carry->n_keys; p++)
		if (w->items[p].first_key != carry->items[p].first_key)
			return false;
	return true;
}

/*
 * Finish: the last snapshot pages, the model, the directory; then fill the
 * view's fields of meta (the caller WAL-logs the metapage switch and sets
 * snap_dead, which kept pages may carry).  carry, if not NULL, is the old
 * view's model, written instead of a new one if it still places every
 * page it was trained on (keeps_model_places); *carried, if given, says
 * whether it was.  Returns the snapshot pages written, as opposed to kept.
 */
uint32
KyroWriterFinish(KyroWriter *w, KyroMetaPage meta,
				 const KyroCarriedModel *carry, bool *carried)
{
	uint32		snap_pages;
	uint32		dir_pages;
	uint32		model_bytes;
	uint32		written;
	bool		keep;
	Page		page;

	write_pending(w, false);
	snap_pages = w->nitems;
	keep = carry != NULL && keeps_model_places(w, carry);
	model_bytes = write_model(w, keep ? carry->bytes : NULL,
							  keep ? carry->nbytes : 0);
	if (carried != NULL)
		*carried = keep;

	dir_pages = (w->nitems + KYRO_DIR_PER_PAGE - 1) / KYRO_DIR_PER_PAGE;
	if (dir_pages > KYRO_MAX_DIR_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("index \"%s\" would need %u directory pages, more than the %d a kyro_rmi index can have",
						RelationGetRelationName(w->index), dir_pages,
						(int) KYRO_MAX_DIR_PAGES)));

	page = palloc(BLCKSZ);
	for (uint32 d = 0; d < dir_pages; d++)
	{
		uint32		first = d * KYRO_DIR_PER_PAGE;
		uint32		count = Min(w->nitems - first, KYRO_DIR_PER_PAGE);

		KyroInitPage(page, KYRO_PAGE_DIRECTORY, w->epoch);
		memcpy(KyroDirItems(page), w->items + first, sizeof(KyroDirItem) * count);
		KyroPageGetOpaque(page)->count = count;
		meta->dir_blocks[d] = write_page(w->index, page);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(page);

	meta->epoch = w->epoch;
	meta->snap_entries = w->nentries;
	meta->snap_nonnull = w->nnonnull;
	meta->snap_dead = 0;
	meta->snap_pages = snap_pages;
	meta->key_pages = w->key_pages;
	meta->model_pages = w->nitems - snap_pages;
	meta->model_bytes = model_bytes;
	meta->dir_pages = dir_pages;

	written = w->pages_written;
	pfree(w->items);
	pfree(w->pending);
	pfree(w->page);
	pfree(w);
	return written;
}
