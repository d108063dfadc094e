/*-------------------------------------------------------------------------
 *
 * kbuild.c
 *	  CREATE INDEX for kyro_rmi: sort every (key, TID), write the first
 *	  snapshot with its model, then the metapage.
 *
 * The sort is PostgreSQL's tuplesort over (int8, int8) tuples, so it stays
 * within maintenance_work_mem and spills to disk beyond it.  Both columns
 * are int8 so both compare through int8's fast sort support: the mapped key
 * as the signed value it came from (the same order), the TID as block and
 * offset packed into one number (the same order as ItemPointerCompare).
 *
 * src/kbuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "commands/progress.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/smgr.h"
#include "utils/tuplesort.h"

#include "kyrodb.h"

typedef struct KyroBuildState
{
	Oid			keytype;
	TupleDesc	sortdesc;
	TupleTableSlot *slot;
	Tuplesortstate *sort;
	double		indtuples;
} KyroBuildState;

/* Feed one heap tuple's (key, TID) to the sort. */
static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	KyroBuildState *bs = (KyroBuildState *) state;
	TupleTableSlot *slot = bs->slot;

	ExecClearTuple(slot);
	slot->tts_isnull[0] = isnull[0];
	slot->tts_values[0] = isnull[0] ? (Datum) 0 :
		Int64GetDatum((int64) (KyroDatumToKey(values[0], bs->keytype) ^
							   UINT64CONST(0x8000000000000000)));
	slot->tts_isnull[1] = false;
	slot->tts_values[1] = Int64GetDatum(((int64) ItemPointerGetBlockNumber(tid) << 16) |
										ItemPointerGetOffsetNumber(tid));
	ExecStoreVirtualTuple(slot);
	tuplesort_puttupleslot(bs->sort, slot);
	bs->indtuples += 1;
}

/* Write the metapage of an empty index to block 0. */
static void
write_empty_metapage(Relation index)
{
	Buffer		buffer = KyroNewBuffer(index);
	GenericXLogState *state;
	Page		page;

	if (BufferGetBlockNumber(buffer) != KYRO_METAPAGE_BLKNO)
		elog(ERROR, "index \"%s\" is not empty", RelationGetRelationName(index));
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buffer, GENERIC_XLOG_FULL_IMAGE);
	KyroInitMetapage(page);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buffer);
}

/* ambuild: the first snapshot of every heap tuple. */
IndexBuildResult *
kyrobuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	KyroBuildState bs;
	AttrNumber	attnums[2] = {1, 2};
	Oid			sortops[2] = {Int8LessOperator, Int8LessOperator};
	Oid			collations[2] = {InvalidOid, InvalidOid};
	bool		nullsfirst[2] = {false, false};
	double		reltuples;
	KyroWriter *writer;
	KyroMetaPage view;
	TupleTableSlot *sorted;
	IndexBuildResult *result;
	int64		done = 0;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	write_empty_metapage(index);

	memset(&bs, 0, sizeof(bs));
	bs.keytype = index->rd_opcintype[0];
	KyroCheckIndexDefinition(index);
	bs.sortdesc = CreateTemplateTupleDesc(2);
	TupleDescInitEntry(bs.sortdesc, 1, "key", INT8OID, -1, 0);
	TupleDescInitEntry(bs.sortdesc, 2, "tid", INT8OID, -1, 0);
	bs.slot = MakeSingleTupleTableSlot(bs.sortdesc, &TTSOpsVirtual);
	bs.sort = tuplesort_begin_heap(bs.sortdesc, 2, attnums, sortops,
								   collations, nullsfirst,
								   maintenance_work_mem, NULL,
#if PG_VERSION_NUM >= 150000
								   TUPLESORT_NONE
#else
								   false
#endif
		);

	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, &bs, NULL);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_SORTING);
	tuplesort_performsort(bs.sort);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_WRITING);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) bs.indtuples);
	writer = KyroWriterBegin(index, 1, (int64) bs.indtuples);
	sorted = MakeSingleTupleTableSlot(bs.sortdesc, &TTSOpsMinimalTuple);
	while (tuplesort_gettupleslot(bs.sort, true, false, sorted, NULL))
	{
		KyroEntry	entry;
		bool		isnull;
		int64		tid;
		Datum		key = slot_getattr(sorted, 1, &isnull);

		entry.isnull = isnull;
		entry.key = isnull ? 0 :
			((uint64) DatumGetInt64(key)) ^ UINT64CONST(0x8000000000000000);
		tid = DatumGetInt64(slot_getattr(sorted, 2, &isnull));
		ItemPointerSet(&entry.tid, (BlockNumber) (tid >> 16),
					   (OffsetNumber) (tid & 0xFFFF));
		entry.dead = false;
		KyroWriterAdd(writer, &entry);
		if ((++done & 1023) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done);
		}
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done);
	tuplesort_end(bs.sort);
	ExecDropSingleTupleTableSlot(sorted);
	ExecDropSingleTupleTableSlot(bs.slot);

	view = palloc0(KYRO_PAGE_CONTENT);
	KyroWriterFinish(writer, view, NULL, 0);
	KyroSwitchView(index, view, 0);
	pfree(view);
	KyroNoteDatabase();			/* so the launcher keeps a worker here */

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/* ambuildempty: the init fork of an unlogged index, an empty metapage. */
void
kyrobuildempty(Relation index)
{
#if PG_VERSION_NUM >= 160000
	Buffer		buffer = ExtendBufferedRel(BMR_REL(index), INIT_FORKNUM, NULL,
										   EB_LOCK_FIRST | EB_SKIP_EXTENSION_LOCK);

	START_CRIT_SECTION();
	KyroInitMetapage(BufferGetPage(buffer));
	MarkBufferDirty(buffer);
	log_newpage_buffer(buffer, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(buffer);
#else
	Page		metapage = (Page) palloc(BLCKSZ);

	KyroInitMetapage(metapage);
	PageSetChecksumInplace(metapage, KYRO_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, KYRO_METAPAGE_BLKNO,
			  (char *) metapage, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				KYRO_METAPAGE_BLKNO, metapage, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
	pfree(metapage);
#endif
}
