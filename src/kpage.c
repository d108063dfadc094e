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
	/* the content fills the page: no hole for WAL to leave out */
	((PageHeader) page)->pd_lower = ((PageHeader) page)->pd_upper;
	opaque = KyroPageGetOpaque(page);
	opaque->flags = kind;
	opaque->tag = tag;
	opaque->next = InvalidBlockNumber;
	opaque->page_id = KYRO_PAGE_ID;
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
	meta->key_width = 8;
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
 * free space map if one is safe to reuse, else a new block.
 */
Buffer
KyroNewBuffer(Relation index)
{
	Buffer		buffer;
	bool		needLock;

	for (;;)
	{
		BlockNumber blkno = GetFreeIndexPage(index);

		if (blkno == InvalidBlockNumber)
			break;
		buffer = ReadBuffer(index, blkno);
		if (ConditionalLockBuffer(buffer))
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
#if PG_VERSION_NUM >= 160000
	buffer = ExtendBufferedRel(BMR_REL(index), MAIN_FORKNUM, NULL, EB_LOCK_FIRST);
#else
	buffer = ReadBuffer(index, P_NEW);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
#endif
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buffer;
}

/* Refuse a metapage that is not ours or of another format version. */
void
KyroCheckMeta(Relation index, KyroMetaPage meta)
{
	if (meta->magic != KYRO_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a kyro_rmi index",
						RelationGetRelationName(index)),
				 errhint("Rebuild it with REINDEX.")));
	if (meta->version != KYRO_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has format version %u, this library reads version %u",
						RelationGetRelationName(index), meta->version,
						KYRO_FORMAT_VERSION),
				 errhint("Rebuild it with REINDEX.")));
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
	if (copy->dir_pages > KYRO_MAX_DIR_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("metapage of index \"%s\" names %u directory pages",
						RelationGetRelationName(index), copy->dir_pages),
				 errhint("Rebuild the index with REINDEX.")));
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
 * Mark blocks deleted as of the next transaction id, MAX_GENERIC_XLOG_PAGES
 * to a WAL record.  Their content stays for scans that still read them.
 */
void
KyroMarkDeleted(Relation index, BlockNumber *blocks, int nblocks)
{
	FullTransactionId xid = ReadNextFullTransactionId();

	for (int i = 0; i < nblocks; i += MAX_GENERIC_XLOG_PAGES)
	{
		GenericXLogState *state = GenericXLogStart(index);
		Buffer		buffers[MAX_GENERIC_XLOG_PAGES];
		int			n = Min(MAX_GENERIC_XLOG_PAGES, nblocks - i);

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

/* Whether a live page belongs to the index's current view. */
static bool
page_in_view(Page page, KyroMetaPage meta)
{
	KyroPageOpaque opaque = KyroPageGetOpaque(page);

	switch (opaque->flags & KYRO_PAGE_KINDS)
	{
		case KYRO_PAGE_DIRECTORY:
		case KYRO_PAGE_SNAPSHOT:
		case KYRO_PAGE_MODEL:
			return opaque->tag == meta->epoch;
		case KYRO_PAGE_DELTA:
			return opaque->tag == meta->active.number ||
				(meta->frozen.number != 0 && opaque->tag == meta->frozen.number);
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
		else if (!page_in_view(page, meta))
			orphans[norphans++] = blkno;
		UnlockReleaseBuffer(buffer);
	}
	if (norphans > 0)
		KyroMarkDeleted(index, orphans, norphans);
	if (freed)
		IndexFreeSpaceMapVacuum(index);
	pfree(orphans);
	pfree(meta);
	return freed;
}
