/*-------------------------------------------------------------------------
 *
 * kfold.c
 *	  Folds: merging the delta into a new snapshot, in steps, and training
 *	  the model.
 *
 * DESIGN.md, "Folds", has how a fold costs what changed, its steps, and
 * why it is safe while readers and writers go on; in short: one fold at a
 * time (the fold lock); freeze the active chain; write the new pages
 * where no view points; switch the view in one WAL record; only then mark
 * the replaced pages deleted.
 *
 * src/kfold.c
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

/*
 * Take the fold lock: a heavyweight lock on the metapage's block number,
 * which makes one fold at a time and keeps VACUUM and kyrodb.check from
 * running beside a fold (DESIGN.md, "Locks").  Without wait, returns false
 * at once if someone holds it.
 */
bool
KyroLockFold(Relation index, bool wait)
{
	if (wait)
	{
		LockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock);
		return true;
	}
	return ConditionalLockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock);
}

void
KyroUnlockFold(Relation index)
{
	UnlockPage(index, KYRO_METAPAGE_BLKNO, ExclusiveLock);
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
	KyroMetaChange change;
	KyroMetaPage meta;
	KyroMetaPage copy = palloc(KYRO_PAGE_CONTENT);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	KyroCheckMeta(index, KyroPageGetMeta(BufferGetPage(metabuf)));
	meta = KyroStartMetaChange(index, metabuf, &change);

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
	KyroFinishMetaChange(&change);
	UnlockReleaseBuffer(metabuf);
	return copy;
}

/* Take a delta chain number for a chain a fold writes. */
static uint32
reserve_chain_number(Relation index)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	KyroMetaChange change;
	KyroMetaPage meta;
	uint32		number;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = KyroStartMetaChange(index, metabuf, &change);
	number = meta->next_chain++;
	KyroFinishMetaChange(&change);
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
 * none) replaces the one folded.  The view is
 * of the current format from then on (a format 3 index's old pages have
 * no room for an area, and take none).  A fold (started nonzero) also
 * counts itself and its duration.
 */
void
KyroSwitchView(Relation index, KyroMetaPage built, TimestampTz started)
{
	Buffer		metabuf = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	KyroMetaChange change;
	KyroMetaPage meta;
	TimestampTz now = GetCurrentTimestamp();

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = KyroStartMetaChange(index, metabuf, &change);
	meta->version = KYRO_FORMAT_VERSION;
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
	KyroFinishMetaChange(&change);
	UnlockReleaseBuffer(metabuf);
}

/* Blocks a fold frees once it has switched the view. */
typedef struct KyroBlockList
{
	BlockNumber *blocks;
	int			n;
	int			max;
} KyroBlockList;

static void
block_list_add(KyroBlockList *list, BlockNumber blkno)
{
	if (list->n == list->max)
	{
		list->max = Max(64, list->max * 2);
		list->blocks = list->blocks == NULL ?
			palloc(sizeof(BlockNumber) * list->max) :
			repalloc(list->blocks, sizeof(BlockNumber) * list->max);
	}
	list->blocks[list->n++] = blkno;
}

/*
 * Copy the live entries of snapshot page p of view (items: its pages),
 * packed and in its insert area, and of the pages split off it since
 * (its siblings, DESIGN.md "Splits"), to out, in order; returns how many dead
 * packed entries it left out (the metapage counts those; dead area
 * entries are counted nowhere), and adds the pages to freed.  Each page
 * is flagged KYRO_PAGE_REPLACED under the exclusive lock it is read
 * under, so that no insert adds to it, or splits it, after the fold has
 * read it: inserts look at the flag under the page's lock, and go to the
 * delta, which the next fold takes.  Pages the fold keeps take inserts all
 * the while.
 */
static int64
read_snapshot_page(Relation index, KyroMetaPage view, const KyroDirItem *items,
				   uint32 p, KyroEntryArray *out, RmiPageEntry *decoded,
				   KyroBlockList *freed)
{
	Buffer		buffer = KyroReadSnapshotPageLocked(index, view, items, p,
													BUFFER_LOCK_EXCLUSIVE);
	bool		isnull = (items[p].flags & KYRO_PAGE_NULLS) != 0;
	int64		dead = 0;

	bool		recycled;

	out->n = 0;
	while (BufferIsValid(buffer))
	{
		Page		page = BufferGetPage(buffer);
		void	   *content = KyroSnapContent(page);
		uint32		total;

		if ((KyroPageGetOpaque(page)->flags & KYRO_PAGE_REPLACED) == 0)
		{
			GenericXLogState *state = GenericXLogStart(index);

			KyroPageGetOpaque(GenericXLogRegisterBuffer(state, buffer, 0))->flags |=
				KYRO_PAGE_REPLACED;
			GenericXLogFinish(state);
		}
		total = rmi_area_decode_all(content, KYRO_PAGE_CONTENT, decoded);
		for (uint32 i = 0; i < rmi_area_count(content); i++)
		{
			RmiPageEntry e;

			rmi_area_get(content, KYRO_PAGE_CONTENT, i, &e);
			dead -= e.dead;
		}
		for (uint32 i = 0; i < total; i++)
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
		block_list_add(freed, BufferGetBlockNumber(buffer));
		buffer = KyroStepSibling(index, view->epoch, items, view->key_pages,
								 view->snap_pages, p, buffer,
								 BUFFER_LOCK_EXCLUSIVE, &recycled);
	}
	if (recycled)
		KyroCorrupt(index, "A split page was recycled while the fold lock was held.");
	return dead;
}

/*
 * The view a fold works on: old's, with an item of its own for every page
 * split off a snapshot page since old was written (read along each
 * page's siblings, under share locks), in *items: pages with keys, NULL pages,
 * then old's model items.  The fold keeps or rewrites each of them as a
 * page of its own, so keeping them publishes them: the new directory
 * routes to them, and no lookup walks to them any more.  Pages split after
 * this are reached by their right-links still (read_snapshot_page, scans).
 * The view's count of dead packed entries is the pages' own, read here
 * (VACUUM, which adds to the count, waits for the fold lock; revivals only
 * take from the pages after this, so the count is at most one high for
 * each).
 */
static KyroMetaPage
publish_splits(Relation index, KyroMetaPage old, const KyroDirItem *old_items,
			   KyroDirItem **items)
{
	KyroMetaPage view = palloc(KYRO_PAGE_CONTENT);
	uint32		max = old->snap_pages + old->model_pages + 16;
	uint32		n = 0;
	KyroDirItem *out = palloc(sizeof(KyroDirItem) * max);
	uint32		key_siblings = 0;
	uint64		dead = 0;

	memcpy(view, old, KYRO_PAGE_CONTENT);
	for (uint32 p = 0; p < old->snap_pages + old->model_pages; p++)
	{
		Buffer		buffer;

		CHECK_FOR_INTERRUPTS();
		if (n == max)
		{
			max *= 2;
			out = repalloc(out, sizeof(KyroDirItem) * max);
		}
		out[n++] = old_items[p];
		if (p >= old->snap_pages)
			continue;
		buffer = KyroReadSnapshotPageLocked(index, old, old_items, p,
											BUFFER_LOCK_SHARE);
		if (KyroRangeIsOpen(p, old->key_pages))
		{
			RmiPageEntry first;

			/*
			 * The first page's range (of keys, or of NULLs) starts at minus
			 * infinity, so it may have packed entries before its item's,
			 * and its siblings start after those: the new item starts
			 * where the packed part does (its area's entries lie in the
			 * range all the same).
			 */
			rmi_page_get(KyroSnapContent(BufferGetPage(buffer)), 0, &first);
			out[n - 1].first_key = first.key;
			out[n - 1].first_block = first.block;
			out[n - 1].first_offset = first.offset;
		}
		for (;;)
		{
			bool		recycled;
			KyroDirItem *item;
			Page		page;
			RmiPageEntry first;

			dead += rmi_page_dead_count(KyroSnapContent(BufferGetPage(buffer)));
			/* each page's siblings end where its right-link leads now */
			out[n - 1].siblings_end = KyroPageGetOpaque(BufferGetPage(buffer))->next;
			buffer = KyroStepSibling(index, old->epoch, old_items,
									 old->key_pages, old->snap_pages, p,
									 buffer, BUFFER_LOCK_SHARE, &recycled);
			if (recycled)
				KyroCorrupt(index, "A split page was recycled while the fold lock was held.");
			if (!BufferIsValid(buffer))
				break;
			if (n == max)
			{
				max *= 2;
				out = repalloc(out, sizeof(KyroDirItem) * max);
			}
			page = BufferGetPage(buffer);
			rmi_area_edge(KyroSnapContent(page), KYRO_PAGE_CONTENT, 0, &first);
			item = &out[n++];
			memset(item, 0, sizeof(*item));
			item->block = BufferGetBlockNumber(buffer);
			item->tag = old_items[p].tag;
			item->flags = old_items[p].flags & KYRO_PAGE_NULLS;
			key_siblings += p < old->key_pages;
			item->first_key = first.key;
			item->first_block = first.block;
			item->first_offset = first.offset;
			item->count = KyroPageGetOpaque(page)->count;
		}
	}
	view->snap_pages = n - old->model_pages;
	view->key_pages = old->key_pages + key_siblings;
	view->snap_dead = dead;
	*items = out;
	return view;
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
 * The old view's model, as the writer may carry it over into the new
 * snapshot (carry); false if the view has none or it cannot be read.
 */
static bool
old_model(Relation index, KyroMetaPage old, const KyroDirItem *old_items,
		  KyroCarriedModel *carry)
{
	RmiModel	model;
	char	   *buf;
	bool		recycled;

	if (old->model_bytes == 0 ||
		KyroLoadModel(index, old, old_items, CurrentMemoryContext, &model,
					  &buf, &recycled) != RMI_OK)
		return false;
	carry->bytes = buf;
	carry->nbytes = old->model_bytes;
	carry->items = old_items;
	carry->n_keys = model.n_keys;
	return true;
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
	return (flags & KYRO_FOLD_RETRAIN) != 0 || KyroDeadPastFraction(old);
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
 * The new snapshot gets a new root model, except when every page the old
 * model was trained on keeps its number and its first key in the new
 * directory (the writer compares them: keeps_model_places in kwrite.c):
 * then the old model's windows, and the error bounds measured on them,
 * are still right, and it is carried over unless KYRO_FOLD_RETRAIN asks
 * otherwise.  That is the case of keys appended after the snapshot's last
 * one, which rewrite the last page of keys in place and add pages after
 * it; a page split anywhere before it moves the pages after it, and the
 * model is trained again.  The model places the pages added after its own
 * badly, which shows up as mispredicts, and the worker retrains
 * (kworker.c).
 */
bool
KyroFold(Relation index, int flags, KyroFoldResult *result)
{
	TimestampTz started = GetCurrentTimestamp();
	KyroMetaPage old;
	KyroMetaPage built;
	KyroDirItem *old_items;
	KyroMetaPage view;			/* old's, with the split pages as its own */
	KyroDirItem *items;
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
	bool		all;
	size_t		fill_bytes;		/* the fillfactor's share of a page */
	KyroFoldKind kind;
	int64		first_rewritten = -1;	/* first page with keys rewritten */
	uint32		step;
	uint32		rewritten = 0;	/* old pages rewritten */
	int64		carry_from = -1;	/* first delta entry left for the next step */
	int64		ncarried = 0;
	bool		resumed;
	KyroCarriedModel carry;
	bool		offered;
	bool		carried;
	uint32		new_epoch;
	uint32		written;
	KyroBlockList freed = {0};
	MemoryContext foldcxt;
	MemoryContext oldcxt;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot fold index \"%s\" during recovery",
						RelationGetRelationName(index))));
	if (!KyroLockFold(index, (flags & KYRO_FOLD_WAIT) != 0))
		return false;

	foldcxt = AllocSetContextCreate(CurrentMemoryContext, "kyro_rmi fold",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(foldcxt);

	KyroSweepFreePages(index);
	old = freeze_delta(index, &resumed);
	new_epoch = old->next_epoch - 1;
	fill_bytes = (size_t) KYRO_PAGE_CONTENT * KyroGetOptions(index)->fillfactor / 100;
	step = fold_step_pages(old);

	old_items = KyroReadDirectory(index, old);
	if (old_items == NULL)
		KyroCorrupt(index, "The directory was recycled while the fold lock was held.");
	/* splits from here on are the next fold's to publish */
	KyroSplitsPublished(RelationGetRelid(index));
	view = publish_splits(index, old, old_items, &items);
	/* by the dead entries on the pages, not the metapage's estimate */
	all = fold_rewrites_all(view, flags);
	decoded = palloc(sizeof(RmiPageEntry) *
					 (RMI_PAGE_MAX_ENTRIES + RMI_AREA_MAX_ENTRIES));

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
	for (uint32 p = 0; p < view->snap_pages; p++)
	{
		int64		end = delta.n;
		bool		receives = false;

		/*
		 * Every page, kept or not; and every delta entry below, since one
		 * page's share of the delta is bounded by the delta, not a page.
		 */
		CHECK_FOR_INTERRUPTS();

		/*
		 * The delta entries before the next page's first entry are p's;
		 * the first NULL page's range starts at minus infinity, so every
		 * NULL is past the last page of keys.
		 */
		if (p + 1 < view->snap_pages)
		{
			KyroEntry	next = item_first_entry(view, items, p + 1);

			if (KyroRangeIsOpen(p + 1, view->key_pages))
				ItemPointerSet(&next.tid, 0, FirstOffsetNumber);
			end = d;
			while (end < delta.n && KyroEntryCompare(&delta.items[end], &next) < 0)
			{
				end++;
				CHECK_FOR_INTERRUPTS();
			}
		}
		for (int64 i = d; i < end && !receives; i++)
			receives = !delta.items[i].dead;

		/* a step that has rewritten its share leaves the rest for the next */
		if (!all && receives && carry_from < 0 && rewritten >= step)
			carry_from = d;
		if (!all && (!receives || carry_from >= 0))
		{
			KyroWriterKeep(writer, &items[p]);
			done += items[p].count;
			d = end;
			continue;
		}

		dropped += read_snapshot_page(index, view, items, p, &page_entries,
									  decoded, &freed);
		rewritten++;
		/* an old page that still fits stays one page, as full as a repack */
		if (!all)
			KyroWriterSetFill(writer, p + 1 < view->key_pages ?
							  KyroWriterFullPage() : fill_bytes);
		if (first_rewritten < 0 && p < view->key_pages)
			first_rewritten = p;
		for (int64 i = 0; i < page_entries.n; i++)
		{
			while (d < end &&
				   KyroEntryCompare(&delta.items[d], &page_entries.items[i]) < 0)
			{
				if (!delta.items[d].dead)
					KyroWriterAdd(writer, &delta.items[d]);
				d++;
				CHECK_FOR_INTERRUPTS();
			}
			KyroWriterAdd(writer, &page_entries.items[i]);
		}
		for (; d < end; d++)
		{
			if (!delta.items[d].dead)
				KyroWriterAdd(writer, &delta.items[d]);
			CHECK_FOR_INTERRUPTS();
		}
		/*
		 * Split it as a B-tree would, but for the rightmost page (packed
		 * to the fillfactor, with the keys appended after it) and a
		 * rebuild.
		 */
		if (!all && p + 1 < view->key_pages)
			KyroWriterEndPage(writer);
		done += items[p].count;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done + d);
	}
	for (; d < delta.n; d++)
	{
		if (!delta.items[d].dead)
			KyroWriterAdd(writer, &delta.items[d]);
		CHECK_FOR_INTERRUPTS();
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done + d);

	offered = !(flags & KYRO_FOLD_RETRAIN) &&
		old_model(index, old, old_items, &carry);
	built = palloc0(KYRO_PAGE_CONTENT);
	written = KyroWriterFinish(writer, built, offered ? &carry : NULL,
							   &carried);
	/* the pages' dead entries, less those the rewritten pages dropped */
	built->snap_dead = !all && view->snap_dead > (uint64) dropped ?
		view->snap_dead - dropped : 0;
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
		block_list_add(&freed, old->dir_blocks[i]);
	for (uint32 i = old->snap_pages; i < old->snap_pages + old->model_pages; i++)
		block_list_add(&freed, old_items[i].block);
	for (int i = 0; i < nfrozen_pages; i++)
		block_list_add(&freed, frozen_pages[i]);
	KyroMarkDeleted(index, freed.blocks, freed.n);

	KyroUnlockFold(index);
	if (all)
		kind = KYRO_FOLD_FULL;
	else if (first_rewritten < 0 || first_rewritten + 1 >= view->key_pages)
		kind = KYRO_FOLD_APPEND;
	else
		kind = KYRO_FOLD_PARTIAL;
	ereport(DEBUG1,
			(errmsg_internal("kyrodb: %s fold of index \"%s\" into epoch %u kept %u of %u snapshot pages and wrote %u%s",
							 KyroFoldKindName(kind),
							 RelationGetRelationName(index), new_epoch,
							 built->snap_pages - written, view->snap_pages,
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
		result->retrained = !carried;
		result->pages_written = written;
		result->pages_kept = built->snap_pages - written;
		result->carried = ncarried;
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
