/*-------------------------------------------------------------------------
 *
 * kwal.c
 *	  KyroDB's own WAL records, when the library is preloaded: a custom
 *	  resource manager whose records say what changed (an entry appended
 *	  to a delta page, or added to a snapshot page's insert area; a page
 *	  repacked or split, or a dead entry revived, as full page images;
 *	  the metapage's fields) instead of generic WAL's copy of the changed
 *	  bytes.
 *
 * Generic WAL compares the whole page outside its hole on every change,
 * and was the largest single cost of an insert after the index's own
 * work.  With shared_preload_libraries = 'kyrodb', _PG_init registers the
 * resource manager below and inserts write its records; without
 * preloading, every change goes through generic WAL as before (slower,
 * never wrong), and also with kyrodb.wal_records off, for standbys that
 * do not preload the library.  Replaying the records needs the library: a server that
 * recovers this WAL (a standby, a crashed primary, a restored backup)
 * without preloading it stops with PostgreSQL's "resource manager with ID
 * 171 not registered" (DESIGN.md, "KyroDB's own WAL records").
 *
 * src/kwal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/bufmask.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogutils.h"
#include "catalog/pg_control.h"
#include "miscadmin.h"

#include "kyrodb.h"

/* Record kinds, in the high bits of xl_info */
#define XLOG_KYRO_DELTA_APPEND	0x10	/* block 0: a delta page; its data:
										 * the entry appended */
#define XLOG_KYRO_AREA_INSERT	0x20	/* block 0: a snapshot page; its data:
										 * the entry added to its area */
#define XLOG_KYRO_REPACK		0x30	/* block 0: a snapshot page repacked,
										 * whole; main data: its entry count */
#define XLOG_KYRO_SPLIT			0x40	/* block 0: the new page, block 1:
										 * the page split, both whole; main
										 * data: their entry counts */
#define XLOG_KYRO_META			0x50	/* block 0: the metapage; its data:
										 * the metapage's fields through
										 * its last directory block */
#define XLOG_KYRO_REVIVE		0x60	/* block 0: a snapshot page whose
										 * dead entry an insert revived,
										 * whole; main data: its entry
										 * count */

/* The metapage's bytes a META record carries: the directory blocks in use */
#define META_RECORD_BYTES(meta) \
	(offsetof(KyroMetaPageData, dir_blocks) + \
	 sizeof(BlockNumber) * Min((meta)->dir_pages, KYRO_MAX_DIR_PAGES))

/* Whether this process registered the resource manager (preloaded). */
static bool kyro_rmgr_registered = false;

static void kyro_redo(XLogReaderState *record);
static void kyro_desc(StringInfo buf, XLogReaderState *record);
static const char *kyro_identify(uint8 info);
static void kyro_mask(char *pagedata, BlockNumber blkno);

static RmgrData kyro_rmgr = {
	.rm_name = KYRO_RMGR_NAME,
	.rm_redo = kyro_redo,
	.rm_desc = kyro_desc,
	.rm_identify = kyro_identify,
	.rm_mask = kyro_mask,
};

/* Register the resource manager; from _PG_init while preloading. */
void
KyroRegisterRmgr(void)
{
	RegisterCustomRmgr(KYRO_RMGR_ID, &kyro_rmgr);
	kyro_rmgr_registered = true;
}

/*
 * Whether changes are logged with KyroDB's own records: preloaded, and
 * kyrodb.wal_records on.  Either kind replays on a server with the
 * library, so the setting may change at any time.
 */
bool
KyroOwnWal(void)
{
	return kyro_rmgr_registered && kyro_wal_records;
}

/*
 * Log the change just made to the page in buf as a record of kind info
 * whose block data is the entry (len bytes), if the index is WAL-logged;
 * in the caller's critical section, with the buffer marked dirty.
 */
static void
log_entry(Relation index, Buffer buf, uint8 info, const void *entry, int len)
{
	XLogRecPtr	recptr;

	if (!RelationNeedsWAL(index))
		return;
	XLogBeginInsert();
	XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
	XLogRegisterBufData(0, (char *) entry, len);
	recptr = XLogInsert(KYRO_RMGR_ID, info);
	PageSetLSN(BufferGetPage(buf), recptr);
}

/*
 * Append entry to the delta page in buf (pinned, exclusively locked, with
 * room), logged with an append record if the index is WAL-logged.
 */
void
KyroWalDeltaAppend(Relation index, Buffer buf, const KyroDeltaEntry *entry)
{
	Assert(KyroOwnWal());
	START_CRIT_SECTION();
	KyroDeltaAppend(BufferGetPage(buf), entry);
	MarkBufferDirty(buf);
	log_entry(index, buf, XLOG_KYRO_DELTA_APPEND, entry, sizeof(*entry));
	END_CRIT_SECTION();
}

/*
 * Add entry to the insert area of the snapshot page in buf (pinned,
 * exclusively locked, with room), logged with an area insert record if
 * the index is WAL-logged.
 */
void
KyroWalAreaInsert(Relation index, Buffer buf, const RmiPageEntry *entry)
{
	Page		page = BufferGetPage(buf);

	Assert(KyroOwnWal());
	START_CRIT_SECTION();
	if (rmi_area_insert(KyroSnapContent(page), KYRO_PAGE_CONTENT, entry) < 0)
		elog(PANIC, "kyrodb: insert area of block %u has no room",
			 BufferGetBlockNumber(buf));
	KyroSetAreaHole(page);
	MarkBufferDirty(buf);
	log_entry(index, buf, XLOG_KYRO_AREA_INSERT, entry, sizeof(*entry));
	END_CRIT_SECTION();
}

/*
 * Log the pages in buffers[0..n) (n at most 2), changed whole in the
 * caller's critical section, exclusively locked and marked dirty, as full
 * page images in one record: KyroDB's own of kind info when preloaded
 * (its data their entry counts, for rm_desc), else PostgreSQL's
 * XLOG_FPI, which replays without the library.  Nothing for an unlogged
 * index.
 */
static void
log_whole_pages(Relation index, uint8 info, Buffer *buffers, int n)
{
	uint32		entries[2];
	bool		own = KyroOwnWal();
	XLogRecPtr	recptr;

	Assert(n <= (int) lengthof(entries));
	if (!RelationNeedsWAL(index))
		return;
	XLogBeginInsert();
	for (int i = 0; i < n; i++)
	{
		XLogRegisterBuffer(i, buffers[i], REGBUF_FORCE_IMAGE | REGBUF_STANDARD);
		entries[i] = KyroPageGetOpaque(BufferGetPage(buffers[i]))->count;
	}
	if (own)
		XLogRegisterData((char *) entries, sizeof(uint32) * n);
	recptr = XLogInsert(own ? KYRO_RMGR_ID : RM_XLOG_ID, own ? info : XLOG_FPI);
	for (int i = 0; i < n; i++)
		PageSetLSN(BufferGetPage(buffers[i]), recptr);
}

/* Log a snapshot page repacked in place (see log_whole_pages). */
void
KyroLogRepack(Relation index, Buffer buffer)
{
	log_whole_pages(index, XLOG_KYRO_REPACK, &buffer, 1);
}

/*
 * Log a split: the new page and the page left in its block (see
 * log_whole_pages).  The new page is block 0: replay restores (and
 * unlocks) the blocks in order, PostgreSQL's XLOG_FPI one at a time, so a
 * standby's scan that follows the split page's new right-link finds the
 * new page already there, as a B-link tree writes the right page first.
 */
void
KyroLogSplit(Relation index, Buffer left, Buffer right)
{
	Buffer		buffers[2] = {right, left};

	log_whole_pages(index, XLOG_KYRO_SPLIT, buffers, 2);
}

/*
 * Log a dead entry revived by an insert (kinsert.c): its snapshot page, in
 * one record (see log_whole_pages).  Rare (a heap TID VACUUM freed, taken
 * again by the same key), so a whole page costs little.
 */
void
KyroLogRevive(Relation index, Buffer buffer)
{
	log_whole_pages(index, XLOG_KYRO_REVIVE, &buffer, 1);
}

/*
 * Start a change to the metapage in metabuf (exclusively locked), and
 * return its fields to change: the page's own, in a critical section,
 * when preloaded (KyroFinishMetaChange logs a META record), else generic
 * WAL's copy.  Nothing between the two calls may fail.
 */
KyroMetaPage
KyroStartMetaChange(Relation index, Buffer metabuf, KyroMetaChange *change)
{
	change->index = index;
	change->buffer = metabuf;
	if (!KyroOwnWal())
	{
		change->state = GenericXLogStart(index);
		return KyroPageGetMeta(GenericXLogRegisterBuffer(change->state, metabuf, 0));
	}
	change->state = NULL;
	START_CRIT_SECTION();
	return KyroPageGetMeta(BufferGetPage(metabuf));
}

/* Log the change KyroStartMetaChange started, and end it. */
void
KyroFinishMetaChange(KyroMetaChange *change)
{
	Page		page = BufferGetPage(change->buffer);
	KyroMetaPage meta = KyroPageGetMeta(page);

	if (change->state != NULL)
	{
		GenericXLogFinish(change->state);
		return;
	}
	MarkBufferDirty(change->buffer);
	if (RelationNeedsWAL(change->index))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		XLogRegisterBuffer(0, change->buffer, REGBUF_STANDARD);
		XLogRegisterBufData(0, (char *) meta, META_RECORD_BYTES(meta));
		recptr = XLogInsert(KYRO_RMGR_ID, XLOG_KYRO_META);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}

/* ---- Replay ---- */

/* Apply a record's block data (data, len bytes) to its page. */
typedef void (*KyroRedoApply) (Page page, const char *data, Size len);

/* The length of a record's entry, as its kind has it. */
static void
check_entry_bytes(Size len, Size want)
{
	if (len != want)
		elog(PANIC, "kyrodb: WAL record of %zu bytes, %zu expected", len, want);
}

static void
apply_delta_append(Page page, const char *data, Size len)
{
	KyroDeltaEntry entry;

	check_entry_bytes(len, sizeof(entry));
	if (KyroPageKind(page) != KYRO_PAGE_DELTA ||
		KyroPageGetOpaque(page)->count >= KYRO_DELTA_PER_PAGE)
		elog(PANIC, "kyrodb: delta append record does not fit its page");
	memcpy(&entry, data, sizeof(entry));
	KyroDeltaAppend(page, &entry);
}

static void
apply_area_insert(Page page, const char *data, Size len)
{
	RmiPageEntry entry;

	check_entry_bytes(len, sizeof(entry));
	if (KyroPageKind(page) != KYRO_PAGE_SNAPSHOT ||
		rmi_area_check(KyroSnapContent(page), KYRO_PAGE_CONTENT, NULL) != RMI_AREA_OK)
		elog(PANIC, "kyrodb: area insert record does not fit its page");
	memcpy(&entry, data, sizeof(entry));
	if (rmi_area_insert(KyroSnapContent(page), KYRO_PAGE_CONTENT, &entry) < 0)
		elog(PANIC, "kyrodb: area insert record finds its page full");
	KyroSetAreaHole(page);
}

/*
 * The metapage's fields from a META record: the fixed part and the
 * directory blocks in use, as the primary wrote them.
 */
static void
apply_meta(Page page, const char *data, Size len)
{
	KyroMetaPageData fixed;

	if (KyroPageKind(page) != KYRO_PAGE_META ||
		len < offsetof(KyroMetaPageData, dir_blocks))
		elog(PANIC, "kyrodb: metapage record does not fit its page");
	memcpy(&fixed, data, offsetof(KyroMetaPageData, dir_blocks));
	check_entry_bytes(len, META_RECORD_BYTES(&fixed));
	memcpy(KyroPageGetMeta(page), data, len);
}

/*
 * Replay a record whose block 0 carries what changed, unless the block's
 * full page image was restored or it is newer than the record.
 */
static void
redo_block(XLogReaderState *record, KyroRedoApply apply)
{
	Buffer		buf;

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		len;
		char	   *data = XLogRecGetBlockData(record, 0, &len);

		apply(page, data, len);
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * Replay pages logged whole: every block restores from its image, and all
 * are unlocked together, so that a standby's scan sees the split whole.
 */
static void
redo_whole_pages(XLogReaderState *record)
{
	Buffer		buffers[XLR_MAX_BLOCK_ID + 1];
	int			last = XLogRecMaxBlockId(record);

	for (int block_id = 0; block_id <= last; block_id++)
	{
		if (XLogReadBufferForRedo(record, block_id, &buffers[block_id]) != BLK_RESTORED)
			elog(PANIC, "kyrodb: block %d of a record of whole pages carries no page image",
				 block_id);
	}
	for (int block_id = 0; block_id <= last; block_id++)
		UnlockReleaseBuffer(buffers[block_id]);
}

static void
kyro_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	switch (info)
	{
		case XLOG_KYRO_DELTA_APPEND:
			redo_block(record, apply_delta_append);
			break;
		case XLOG_KYRO_AREA_INSERT:
			redo_block(record, apply_area_insert);
			break;
		case XLOG_KYRO_REPACK:
		case XLOG_KYRO_SPLIT:
		case XLOG_KYRO_REVIVE:
			redo_whole_pages(record);
			break;
		case XLOG_KYRO_META:
			redo_block(record, apply_meta);
			break;
		default:
			elog(PANIC, "kyrodb: unknown WAL record kind %u", info);
	}
}

/* ---- Description (pg_waldump, wal_debug, errors during replay) ---- */

/* Describe a record of one entry (data, len bytes) of kind info. */
static void
desc_entry(StringInfo buf, uint8 info, const char *data, Size len)
{
	Size		want = info == XLOG_KYRO_DELTA_APPEND ? sizeof(KyroDeltaEntry) :
		sizeof(RmiPageEntry);

	/* with a full page image, the record carries the page, not the entry */
	if (data == NULL || len != want)
		appendStringInfoString(buf, "entry in the page image");
	else if (info == XLOG_KYRO_DELTA_APPEND)
	{
		KyroDeltaEntry entry;

		memcpy(&entry, data, sizeof(entry));
		if (entry.isnull)
			appendStringInfoString(buf, "key NULL");
		else
			appendStringInfo(buf, "key " UINT64_FORMAT, entry.key);
		appendStringInfo(buf, " tid (%u,%u)",
						 ItemPointerGetBlockNumberNoCheck(&entry.tid),
						 ItemPointerGetOffsetNumberNoCheck(&entry.tid));
	}
	else
	{
		RmiPageEntry entry;

		memcpy(&entry, data, sizeof(entry));
		appendStringInfo(buf, "key " UINT64_FORMAT " tid (%u,%u)",
						 entry.key, entry.block, entry.offset);
	}
}

static void
kyro_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	Size		len = 0;
	char	   *data;

	switch (info)
	{
		case XLOG_KYRO_DELTA_APPEND:
		case XLOG_KYRO_AREA_INSERT:
			data = XLogRecGetBlockData(record, 0, &len);
			desc_entry(buf, info, data, len);
			break;
		case XLOG_KYRO_REPACK:
		case XLOG_KYRO_SPLIT:
		case XLOG_KYRO_REVIVE:
			{
				uint32		entries[2] = {0, 0};

				memcpy(entries, XLogRecGetData(record),
					   Min(XLogRecGetDataLen(record), sizeof(entries)));
				if (info != XLOG_KYRO_SPLIT)
					appendStringInfo(buf, "entries %u", entries[0]);
				else
					appendStringInfo(buf, "left %u entries, right %u", entries[1], entries[0]);
				break;
			}
		case XLOG_KYRO_META:
			data = XLogRecGetBlockData(record, 0, &len);
			if (data == NULL || len < offsetof(KyroMetaPageData, dir_blocks))
				appendStringInfoString(buf, "fields in the page image");
			else
			{
				KyroMetaPageData fixed;

				memcpy(&fixed, data, offsetof(KyroMetaPageData, dir_blocks));
				appendStringInfo(buf, "epoch %u, directory %u pages, key pages %u, vacuum generation %u",
								 fixed.epoch, fixed.dir_pages, fixed.key_pages,
								 fixed.vacuum_generation);
			}
			break;
	}
}

static const char *
kyro_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_KYRO_DELTA_APPEND:
			return "DELTA_APPEND";
		case XLOG_KYRO_AREA_INSERT:
			return "AREA_INSERT";
		case XLOG_KYRO_REPACK:
			return "REPACK";
		case XLOG_KYRO_SPLIT:
			return "SPLIT";
		case XLOG_KYRO_META:
			return "META";
		case XLOG_KYRO_REVIVE:
			return "REVIVE";
	}
	return NULL;
}

/*
 * What wal_consistency_checking ignores on our pages: the LSN and
 * checksum, and the hole between pd_lower and pd_upper (free space, which
 * a full page image does not carry).
 */
static void
kyro_mask(char *pagedata, BlockNumber blkno)
{
	mask_page_lsn_and_checksum(pagedata);
	mask_unused_space(pagedata);
}
