/*-------------------------------------------------------------------------
 *
 * kwal.c
 *	  KyroDB's own WAL records, when the library is preloaded: a custom
 *	  resource manager whose records say what changed (an entry appended
 *	  to a delta page, or added to a snapshot page's insert area) instead
 *	  of generic WAL's copy of the changed bytes.
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
#include "miscadmin.h"

#include "kyrodb.h"

/* Record kinds, in the high bits of xl_info */
#define XLOG_KYRO_DELTA_APPEND	0x10	/* block 0: a delta page; its data:
										 * the entry appended */
#define XLOG_KYRO_AREA_INSERT	0x20	/* block 0: a snapshot page; its data:
										 * the entry added to its area */

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

/* ---- Replay ---- */

/* Apply a record's entry (data, its length checked) to its page. */
typedef void (*KyroRedoApply) (Page page, const char *data);

static void
apply_delta_append(Page page, const char *data)
{
	KyroDeltaEntry entry;

	if (KyroPageKind(page) != KYRO_PAGE_DELTA ||
		KyroPageGetOpaque(page)->count >= KYRO_DELTA_PER_PAGE)
		elog(PANIC, "kyrodb: delta append record does not fit its page");
	memcpy(&entry, data, sizeof(entry));
	KyroDeltaAppend(page, &entry);
}

static void
apply_area_insert(Page page, const char *data)
{
	RmiPageEntry entry;

	if (KyroPageKind(page) != KYRO_PAGE_SNAPSHOT ||
		rmi_area_check(KyroSnapContent(page), KYRO_PAGE_CONTENT, NULL) != RMI_AREA_OK)
		elog(PANIC, "kyrodb: area insert record does not fit its page");
	memcpy(&entry, data, sizeof(entry));
	if (rmi_area_insert(KyroSnapContent(page), KYRO_PAGE_CONTENT, &entry) < 0)
		elog(PANIC, "kyrodb: area insert record finds its page full");
	KyroSetAreaHole(page);
}

/*
 * Replay a record of one entry of entry_bytes on block 0, unless the
 * block's full page image was restored or it is newer than the record.
 */
static void
redo_entry(XLogReaderState *record, Size entry_bytes, KyroRedoApply apply)
{
	Buffer		buf;

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		len;
		char	   *data = XLogRecGetBlockData(record, 0, &len);

		if (len != entry_bytes)
			elog(PANIC, "kyrodb: WAL record of %zu bytes, %zu expected", len, entry_bytes);
		apply(page, data);
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

static void
kyro_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	switch (info)
	{
		case XLOG_KYRO_DELTA_APPEND:
			redo_entry(record, sizeof(KyroDeltaEntry), apply_delta_append);
			break;
		case XLOG_KYRO_AREA_INSERT:
			redo_entry(record, sizeof(RmiPageEntry), apply_area_insert);
			break;
		default:
			elog(PANIC, "kyrodb: unknown WAL record kind %u", info);
	}
}

/* ---- Description (pg_waldump, wal_debug, errors during replay) ---- */

static void
kyro_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	Size		len = 0;
	char	   *data = XLogRecGetBlockData(record, 0, &len);
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

static const char *
kyro_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_KYRO_DELTA_APPEND:
			return "DELTA_APPEND";
		case XLOG_KYRO_AREA_INSERT:
			return "AREA_INSERT";
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
