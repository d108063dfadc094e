/*-------------------------------------------------------------------------
 *
 * kpage.c
 *	  Pages of a kyro_rmi index: initialising, allocating, reading the
 *	  metapage, and freeing pages once no scan can need them.
 *
 * Freeing is two-step, as in nbtree: a fold marks the pages it replaced
 * deleted with the next transaction id, leaving their content alone (a
 * scan that still holds the old view can read them); a sweep later hands
 * them to the free space map once that id is older than every snapshot.
 * Scans do not depend on that timing for correctness: a page that is
 * reused gets a new tag, and a scan that meets a tag it does not expect
 * starts again from the metapage.
 *
 * src/kpage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "kyrodb.h"

/* Give page the special space of kind and tag, and nothing else. */
void
KyroInitPage(Page page, uint16 kind, uint32 tag)
{
	KyroPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(KyroPageOpaqueData));

	/*
	 * The content fills the page: no hole for WAL to leave out.  A delta
	 * page fills as entries are appended, and its hole is what is still
	 * free (KyroDeltaAppend), so that the generic WAL of an append
	 * compares the entries so far, not the whole page.
	 */
	if (kind != KYRO_PAGE_DELTA)
		((PageHeader) page)->pd_lower = ((PageHeader) page)->pd_upper;
	opaque = KyroPageGetOpaque(page);
	opaque->flags = kind;
	opaque->tag = tag;
	opaque->next = InvalidBlockNumber;
	opaque->page_id = KYRO_PAGE_ID;
}

/*
 * Make a snapshot page's hole its insert area's free space (rmi_area_hole),
 * so that a full page image leaves it out and generic WAL compares only
 * the bytes around it.
 */
void
KyroSetAreaHole(Page page)
{
	size_t		lower;
	size_t		upper;
	size_t		start = (char *) KyroSnapContent(page) - (char *) page;

	rmi_area_hole(KyroSnapContent(page), KYRO_PAGE_CONTENT, &lower, &upper);
	((PageHeader) page)->pd_lower = (LocationIndex) (start + lower);
	((PageHeader) page)->pd_upper = (LocationIndex) (start + upper);
}

/* An empty index's metapage: no snapshot, no delta. */
void
KyroInitMetapage(Page page)
{
	KyroMetaPage meta;

	KyroInitPage(page, KYRO_PAGE_META, 0);
	meta = KyroPageGetMeta(page);
	memset(meta, 0, sizeof(KyroMetaPageData));
	meta->magic = KYRO_MAGIC;
	meta->version = KYRO_FORMAT_VERSION;
	meta->epoch = 0;
	meta->next_epoch = 1;
	meta->next_chain = 1;
	meta->active.head = meta->active.tail = InvalidBlockNumber;
	meta->frozen.head = meta->frozen.tail = InvalidBlockNumber;
}

/* Whether a page may be taken for reuse. */
static bool
page_recyclable(Page page)
{
	KyroPageOpaque opaque;

	if (PageIsNew(page))
		return true;
	opaque = KyroPageGetOpaque(page);
	return opaque->page_id == KYRO_PAGE_ID &&
		(opaque->flags & KYRO_PAGE_DELETED) != 0 &&
		GlobalVisCheckRemovableFullXid(NULL, opaque->deleted_xid);
}

/*
 * A buffer for a new page, exclusively locked: a recycled page from the
 * free space map if one is safe to reuse, else a new block.  A free page
 * is reused only under a cleanup lock: a scan that keeps a page pinned
 * for the VACUUM interlock holds entries copied from it, and VACUUM must
 * still find them there (DESIGN.md, "Scans and VACUUM").
 */
Buffer
KyroNewBuffer(Relation index)
{
	Buffer		buffer;
	bool		needLock;

	for (;;)
	{
		BlockNumber blkno;

		CHECK_FOR_INTERRUPTS();
		blkno = GetFreeIndexPage(index);
		if (blkno == InvalidBlockNumber)
			break;
		buffer = ReadBuffer(index, blkno);
		if (ConditionalLockBufferForCleanup(buffer))
		{
			if (page_recyclable(BufferGetPage(buffer)))
				return buffer;
			LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buffer);
	}

	/*
	 * Lock the new page before letting go of the extension lock, so that a
	 * sweep that takes the extension lock never sees it new and unlocked.
	 */
	needLock = !RELATION_IS_LOCAL(index);
	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buffer = KyroNewLockedBuffer(index, MAIN_FORKNUM);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buffer;
}

/*
 * Report damage to index: an ERROR with ERRCODE_INDEX_CORRUPTED, the
 * detail given, and the one hint every such error carries.
 */
void
KyroCorrupt(Relation index, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted", RelationGetRelationName(index)),
			 errdetail_internal("%s", detail),
			 errhint(KYRO_DAMAGE_HINT)));
}

/* Refuse a metapage that is not ours, of another format, or inconsistent. */
void
KyroCheckMeta(Relation index, KyroMetaPage meta)
{
	if (meta->magic != KYRO_MAGIC)
		KyroCorrupt(index, "The metapage is not a kyro_rmi metapage.");
	if (meta->version != KYRO_FORMAT_VERSION &&
		meta->version != KYRO_FORMAT_NO_AREAS)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has format version %u, this library reads versions %u and %u",
						RelationGetRelationName(index), meta->version,
						KYRO_FORMAT_NO_AREAS, KYRO_FORMAT_VERSION),
				 errdetail("Indexes built before KyroDB 0.2.0 use an older page format."),
				 errhint(KYRO_DAMAGE_HINT)));
	if (meta->dir_pages > KYRO_MAX_DIR_PAGES ||
		meta->key_pages > meta->snap_pages ||
		meta->snap_nonnull > meta->snap_entries ||
		(uint64) meta->snap_pages > meta->snap_entries ||
		(uint64) meta->snap_pages + meta->model_pages >
		(uint64) meta->dir_pages * KYRO_DIR_PER_PAGE ||
		meta->model_bytes > (uint64) meta->model_pages * KYRO_MODEL_PER_PAGE)
		KyroCorrupt(index, "The metapage's counts disagree with each other.");
}

/* Kind of page, in words, for error details. */
static const char *
kind_name(uint16 kind)
{
	switch (kind)
	{
		case KYRO_PAGE_DIRECTORY:
			return "directory";
		case KYRO_PAGE_SNAPSHOT:
			return "snapshot";
		case KYRO_PAGE_MODEL:
			return "model";
		case KYRO_PAGE_DELTA:
			return "delta";
		default:
			return "metapage";
	}
}

/*
 * Why page is not a page of kind with tag, intact; NULL if it is.  A
 * page marked deleted still counts: a scan holding an older view may read
 * it until it is recycled, which changes its tag.
 */
const char *
KyroPageProblem(Page page, uint16 kind, uint32 tag)
{
	KyroPageOpaque opaque = KyroPageGetOpaque(page);
	uint32		max_count;
	RmiPageStatus status;
	RmiAreaStatus area_status;

	if (PageIsNew(page))
		return "it is new";
	if (opaque->page_id != KYRO_PAGE_ID || KyroPageKind(page) != kind)
		return "it is of another kind";
	if (opaque->tag != tag)
		return "it has another tag";
	switch (kind)
	{
		case KYRO_PAGE_SNAPSHOT:
			area_status = rmi_area_check(KyroSnapContent(page),
										 KYRO_PAGE_CONTENT, &status);
			if (area_status == RMI_AREA_PACKED_BAD)
				return rmi_page_status_message(status);
			if (area_status != RMI_AREA_OK)
				return rmi_area_status_message(area_status);
			if (rmi_page_count(KyroSnapContent(page)) != opaque->count)
				return "its entry counts disagree";
			return NULL;
		case KYRO_PAGE_DIRECTORY:
			max_count = KYRO_DIR_PER_PAGE;
			break;
		case KYRO_PAGE_MODEL:
			max_count = KYRO_MODEL_PER_PAGE;
			break;
		default:
			max_count = KYRO_DELTA_PER_PAGE;
			break;
	}
	return opaque->count > max_count ? "its count is too large" : NULL;
}

/*
 * Whether the metapage still names the reader's view: the chain number of
 * a delta page, the epoch of any other page.
 */
bool
KyroViewIsCurrent(Relation index, uint16 kind, uint32 view)
{
	KyroMetaPage meta = KyroReadMeta(index);
	bool		current;

	if (kind == KYRO_PAGE_DELTA)
		current = (meta->active.number != 0 && meta->active.number == view) ||
			(meta->frozen.number != 0 && meta->frozen.number == view);
	else
		current = meta->epoch == view;
	pfree(meta);
	return current;
}

/* Lines of a page read first: its headers and its special space. */
#define PAGE_HEAD_LINES		3

/*
 * Ask for the lines every read of a page starts with (the page header, the
 * content's header, the special space) at once, while the buffer lock is
 * taken, so the checks wait for one memory round trip rather than several.
 */
static inline void
prefetch_page_ends(Page page)
{
#if defined(__GNUC__)
	for (int i = 0; i < PAGE_HEAD_LINES; i++)
		__builtin_prefetch((char *) page + i * PG_CACHE_LINE_SIZE);
	__builtin_prefetch((char *) page + BLCKSZ - sizeof(KyroPageOpaqueData));
#endif
}

/*
 * The one way every path reads an index page other than the metapage:
 * block blkno, pinned and locked in mode (BUFFER_LOCK_SHARE or _EXCLUSIVE),
 * checked to be an intact page of kind with tag, read for the view
 * numbered view: the epoch of the reader's snapshot (a snapshot page's tag
 * is the epoch of the fold that wrote it, its directory item says which),
 * or a delta page's chain number (then tag and view are one).
 *
 * A page that fails is either recycled since the caller read the metapage
 * (the metapage has moved on: returns InvalidBuffer, and the caller takes
 * a fresh view), or damaged (the metapage still names the view: ERROR).
 * So a caller that starts over on InvalidBuffer makes progress every time.
 */
Buffer
KyroReadViewPage(Relation index, BlockNumber blkno, uint16 kind, uint32 tag,
				 uint32 view, int mode)
{
	Buffer		buffer;
	const char *problem;

	if (blkno == InvalidBlockNumber || blkno == KYRO_METAPAGE_BLKNO)
		problem = "the block number is invalid";
	else
	{
		buffer = ReadBuffer(index, blkno);
		prefetch_page_ends(BufferGetPage(buffer));
		LockBuffer(buffer, mode);
		problem = KyroPageProblem(BufferGetPage(buffer), kind, tag);
		if (problem == NULL)
			return buffer;
		UnlockReleaseBuffer(buffer);
	}
	if (KyroViewIsCurrent(index, kind, view))
		KyroCorrupt(index, psprintf("Block %u is not an intact %s page of %s %u: %s.",
									blkno, kind_name(kind),
									kind == KYRO_PAGE_DELTA ? "chain" : "epoch",
									tag, problem));
	return InvalidBuffer;
}

/* KyroReadViewPage of a page whose tag is its view's number: a delta,
 * directory or model page. */
Buffer
KyroReadPage(Relation index, BlockNumber blkno, uint16 kind, uint32 tag,
			 int mode)
{
	return KyroReadViewPage(index, blkno, kind, tag, tag, mode);
}

/*
 * Copy the metapage's content into copy (room for KYRO_PAGE_CONTENT bytes),
 * checked: the fixed part and the directory blocks in use.
 */
void
KyroReadMetaInto(Relation index, KyroMetaPage copy)
{
	Buffer		buffer = ReadBuffer(index, KYRO_METAPAGE_BLKNO);
	KyroMetaPage meta;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	meta = KyroPageGetMeta(BufferGetPage(buffer));
	memcpy(copy, meta, offsetof(KyroMetaPageData, dir_blocks));
	memcpy(copy->dir_blocks, meta->dir_blocks,
		   sizeof(BlockNumber) * Min(copy->dir_pages, KYRO_MAX_DIR_PAGES));
	UnlockReleaseBuffer(buffer);
	KyroCheckMeta(index, copy);
}

/* A palloc'd copy of the metapage's content, checked. */
KyroMetaPage
KyroReadMeta(Relation index)
{
	KyroMetaPage copy = palloc(KYRO_PAGE_CONTENT);

	KyroReadMetaInto(index, copy);
	return copy;
}

/*
 * Mark blocks deleted, MAX_GENERIC_XLOG_PAGES to a WAL record.  Their
 * content stays for scans that still read them, and they are reused once
 * every snapshot older than the deletion is gone: the deleting
 * transaction's id says when, if it has one (the worker gives each step
 * of a fold one, so that its pages come free although no other
 * transaction takes an id); else the next transaction id.
 */
void
KyroMarkDeleted(Relation index, BlockNumber *blocks, int nblocks)
{
	FullTransactionId xid = GetTopFullTransactionIdIfAny();

	if (!FullTransactionIdIsValid(xid))
		xid = ReadNextFullTransactionId();

	for (int i = 0; i < nblocks; i += MAX_GENERIC_XLOG_PAGES)
	{
		GenericXLogState *state;
		Buffer		buffers[MAX_GENERIC_XLOG_PAGES];
		int			n = Min(MAX_GENERIC_XLOG_PAGES, nblocks - i);

		/*
		 * A cancel here leaves the rest unmarked, as a crash would: the
		 * next sweep marks every page no view names.
		 */
		CHECK_FOR_INTERRUPTS();
		state = GenericXLogStart(index);

		for (int j = 0; j < n; j++)
		{
			Page		page;
			KyroPageOpaque opaque;

			buffers[j] = ReadBuffer(index, blocks[i + j]);
			LockBuffer(buffers[j], BUFFER_LOCK_EXCLUSIVE);
			page = GenericXLogRegisterBuffer(state, buffers[j], 0);
			opaque = KyroPageGetOpaque(page);
			opaque->flags |= KYRO_PAGE_DELETED;
			opaque->deleted_xid = xid;
		}
		GenericXLogFinish(state);
		for (int j = 0; j < n; j++)
			UnlockReleaseBuffer(buffers[j]);
	}
}

/*
 * The blocks of meta's view other than delta pages (directory, snapshot and
 * model pages, and the pages split off snapshot pages, along their
 * right-links), as a bitmap over nblocks; NULL if the directory cannot be
 * read.  Snapshot pages carry the tags of the folds that wrote them, so
 * membership, not the tag, says whether a page is in the view.
 */
static uint8 *
view_blocks(Relation index, KyroMetaPage meta, BlockNumber nblocks)
{
	uint8	   *bits = palloc0(nblocks / 8 + 1);
	KyroDirItem *items = KyroReadDirectory(index, meta);

	if (items == NULL)
	{
		pfree(bits);
		return NULL;
	}
	for (uint32 i = 0; i < meta->snap_pages + meta->model_pages; i++)
		bits[items[i].block / 8] |= 1 << (items[i].block % 8);
	for (uint32 d = 0; d < meta->dir_pages; d++)
		bits[meta->dir_blocks[d] / 8] |= 1 << (meta->dir_blocks[d] % 8);
	for (uint32 p = 0; p < meta->snap_pages; p++)
	{
		Buffer		buffer = KyroReadSnapshotPageLocked(index, meta, items, p,
														BUFFER_LOCK_SHARE);
		bool		recycled;

		for (;;)
		{
			BlockNumber blkno;

			buffer = KyroStepSibling(index, meta->epoch, items,
									 meta->key_pages, meta->snap_pages, p,
									 buffer, BUFFER_LOCK_SHARE, &recycled);
			if (!BufferIsValid(buffer))
				break;
			blkno = BufferGetBlockNumber(buffer);
			if (blkno < nblocks)
				bits[blkno / 8] |= 1 << (blkno % 8);
		}
		if (recycled)
			KyroCorrupt(index, "A split page was recycled while the fold lock was held.");
	}
	pfree(items);
	return bits;
}

/*
 * Whether a live page belongs to the index's current view (blocks: its
 * pages other than the delta's).  A snapshot page that no right-link led
 * to may have been split off a page since: one that is not a fold's work
 * (replaced by one, or of a newer tag, left by one that crashed) is kept.
 */
static bool
page_in_view(Page page, BlockNumber blkno, KyroMetaPage meta,
			 const uint8 *blocks)
{
	KyroPageOpaque opaque = KyroPageGetOpaque(page);

	switch (opaque->flags & KYRO_PAGE_KINDS)
	{
		case KYRO_PAGE_SNAPSHOT:
			if ((opaque->flags & KYRO_PAGE_REPLACED) == 0 &&
				opaque->tag <= meta->epoch)
				return true;
			/* FALLTHROUGH */
		case KYRO_PAGE_DIRECTORY:
		case KYRO_PAGE_MODEL:
			return (blocks[blkno / 8] & (1 << (blkno % 8))) != 0;
		case KYRO_PAGE_DELTA:
			/* a chain begun by an insert since meta was read is live too */
			return opaque->tag == meta->active.number ||
				(meta->frozen.number != 0 && opaque->tag == meta->frozen.number) ||
				opaque->tag >= meta->next_chain;
		default:
			return false;
	}
}

/*
 * Hand every reusable page to the free space map, and mark deleted the
 * pages no view can reach (left by a fold that crashed); returns the
 * number of pages handed over.  The caller holds
 * the fold lock, so no fold is building pages meanwhile.
 */
BlockNumber
KyroSweepFreePages(Relation index)
{
	KyroMetaPage meta = KyroReadMeta(index);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber *orphans = palloc(sizeof(BlockNumber) * Max(nblocks, 1));
	int			norphans = 0;
	BlockNumber freed = 0;
	uint8	   *blocks = view_blocks(index, meta, nblocks);

	for (BlockNumber blkno = KYRO_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buffer = ReadBuffer(index, blkno);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		if (PageIsNew(page) && !RELATION_IS_LOCAL(index))
		{
			/*
			 * An extender locks its new page before it lets go of the
			 * extension lock: with that lock taken, a page still new is one
			 * whose extender is gone.
			 */
			LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
			LockRelationForExtension(index, ExclusiveLock);
			LockBuffer(buffer, BUFFER_LOCK_SHARE);
			UnlockRelationForExtension(index, ExclusiveLock);
		}
		if (PageIsNew(page))
		{
			RecordFreeIndexPage(index, blkno);
			freed++;
		}
		else if (KyroPageGetOpaque(page)->flags & KYRO_PAGE_DELETED)
		{
			if (page_recyclable(page))
			{
				RecordFreeIndexPage(index, blkno);
				freed++;
			}
		}
		else if (blocks != NULL && !page_in_view(page, blkno, meta, blocks))
			orphans[norphans++] = blkno;
		UnlockReleaseBuffer(buffer);
	}
	if (norphans > 0)
		KyroMarkDeleted(index, orphans, norphans);
	if (freed)
		IndexFreeSpaceMapVacuum(index);
	pfree(orphans);
	if (blocks != NULL)
		pfree(blocks);
	pfree(meta);
	return freed;
}
