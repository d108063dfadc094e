/*-------------------------------------------------------------------------
 *
 * kbuild.c
 *	  CREATE INDEX for kyro_rmi: sort every (key, TID), write the first
 *	  snapshot with its model, then the metapage.
 *
 * While the pairs fit in maintenance_work_mem (twice over: the radix sort
 * needs a scratch copy) they are kept as packed (key, TID) pairs and
 * radix-sorted (rmi/rmi_sort.h), which costs a few passes over memory.
 * Past that, everything goes to PostgreSQL's tuplesort, which spills to
 * disk: (int8, int8) tuples, both columns compared through int8's fast
 * sort support, the key as the signed value it came from (the same order)
 * and the TID packed into one number (the same order as
 * ItemPointerCompare).
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
#include "utils/memutils.h"
#include "utils/tuplesort.h"

#include "kyrodb.h"
#include "rmi/rmi_sort.h"

/* A TID as one number in ItemPointerCompare's order, and back. */
#define TID_OFFSET_BITS		16
#define PackTid(tid) \
	(((uint64) ItemPointerGetBlockNumber(tid) << TID_OFFSET_BITS) | \
	 ItemPointerGetOffsetNumber(tid))

/* First capacity of the in-memory pair arrays. */
#define FIRST_PAIRS			4096

typedef struct KyroBuildState
{
	Oid			keytype;
	/* in memory while they fit: (key, TID) pairs, and the NULLs' TIDs */
	RmiPair    *pairs;
	int64		npairs;
	int64		pairs_cap;
	RmiPair    *nulls;
	int64		nnulls;
	int64		nulls_cap;
	int64		max_pairs;		/* keys and NULLs together, with scratch */
	/* else the sort */
	TupleDesc	sortdesc;
	TupleTableSlot *slot;
	Tuplesortstate *sort;
	double		indtuples;
} KyroBuildState;

/* Start the tuplesort (the pairs did not fit in memory). */
static void
begin_tuplesort(KyroBuildState *bs)
{
	AttrNumber	attnums[2] = {1, 2};
	Oid			sortops[2] = {Int8LessOperator, Int8LessOperator};
	Oid			collations[2] = {InvalidOid, InvalidOid};
	bool		nullsfirst[2] = {false, false};

	bs->sortdesc = CreateTemplateTupleDesc(2);
	TupleDescInitEntry(bs->sortdesc, 1, "key", INT8OID, -1, 0);
	TupleDescInitEntry(bs->sortdesc, 2, "tid", INT8OID, -1, 0);
	bs->slot = MakeSingleTupleTableSlot(bs->sortdesc, &TTSOpsVirtual);
	bs->sort = tuplesort_begin_heap(bs->sortdesc, 2, attnums, sortops,
									collations, nullsfirst,
									maintenance_work_mem, NULL,
									TUPLESORT_NONE);
}

/* Feed one (key, packed TID) to the tuplesort. */
static void
sort_put(KyroBuildState *bs, uint64 key, bool isnull, uint64 tid)
{
	TupleTableSlot *slot = bs->slot;

	ExecClearTuple(slot);
	slot->tts_isnull[0] = isnull;
	slot->tts_values[0] = isnull ? (Datum) 0 : Int64GetDatum((int64) (key ^ KYRO_KEY_SIGN_BIT));
	slot->tts_isnull[1] = false;
	slot->tts_values[1] = Int64GetDatum((int64) tid);
	ExecStoreVirtualTuple(slot);
	tuplesort_puttupleslot(bs->sort, slot);
}

/* The pairs outgrew memory: hand them all to a tuplesort. */
static void
spill(KyroBuildState *bs)
{
	begin_tuplesort(bs);
	for (int64 i = 0; i < bs->npairs; i++)
		sort_put(bs, bs->pairs[i].key, false, bs->pairs[i].tid);
	for (int64 i = 0; i < bs->nnulls; i++)
		sort_put(bs, 0, true, bs->nulls[i].tid);
	if (bs->pairs)
		pfree(bs->pairs);
	if (bs->nulls)
		pfree(bs->nulls);
	bs->pairs = bs->nulls = NULL;
	bs->npairs = bs->nnulls = 0;
}

/* Append a pair to an in-memory array, growing it; false if over budget. */
static bool
add_pair(KyroBuildState *bs, RmiPair **array, int64 *n, int64 *cap,
		 uint64 key, uint64 tid)
{
	if (*n == *cap)
	{
		int64		grown = Max(*cap * 2, FIRST_PAIRS);

		if (bs->npairs + bs->nnulls + grown - *cap > bs->max_pairs)
			return false;
		*array = *array == NULL ?
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RmiPair) * grown) :
			repalloc_huge(*array, sizeof(RmiPair) * grown);
		*cap = grown;
	}
	(*array)[*n].key = key;
	(*array)[(*n)++].tid = tid;
	return true;
}

/* Take one heap tuple's (key, TID). */
static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	KyroBuildState *bs = (KyroBuildState *) state;
	uint64		key = isnull[0] ? 0 : KyroDatumToKey(values[0], bs->keytype);
	uint64		packed = PackTid(tid);

	bs->indtuples += 1;
	if (bs->sort == NULL)
	{
		if (isnull[0] ?
			add_pair(bs, &bs->nulls, &bs->nnulls, &bs->nulls_cap, 0, packed) :
			add_pair(bs, &bs->pairs, &bs->npairs, &bs->pairs_cap, key, packed))
			return;
		spill(bs);
	}
	sort_put(bs, key, isnull[0], packed);
}

/* An entry from a key and a packed TID. */
static void
make_entry(KyroEntry *entry, uint64 key, bool isnull, uint64 tid)
{
	entry->isnull = isnull;
	entry->key = isnull ? 0 : key;
	ItemPointerSet(&entry->tid, (BlockNumber) (tid >> TID_OFFSET_BITS),
				   (OffsetNumber) (tid & ((1 << TID_OFFSET_BITS) - 1)));
	entry->dead = false;
}

/* Entries between two progress reports (a power of two). */
#define PROGRESS_EVERY	1024

/* Count an entry written, now and then reporting progress. */
static void
count_written(int64 *done)
{
	if ((++*done & (PROGRESS_EVERY - 1)) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, *done);
	}
}

/* Sort the in-memory pairs and give them to the writer, NULLs last. */
static void
write_from_memory(KyroBuildState *bs, KyroWriter *writer, int64 *done)
{
	RmiPair    *scratch;
	KyroEntry	entry;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_SORTING);
	scratch = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(RmiPair) * Max(Max(bs->npairs, bs->nnulls), 1));
	rmi_sort_pairs(bs->pairs, bs->npairs, scratch);
	rmi_sort_pairs(bs->nulls, bs->nnulls, scratch);
	pfree(scratch);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_WRITING);
	for (int64 i = 0; i < bs->npairs; i++)
	{
		make_entry(&entry, bs->pairs[i].key, false, bs->pairs[i].tid);
		KyroWriterAdd(writer, &entry);
		count_written(done);
	}
	for (int64 i = 0; i < bs->nnulls; i++)
	{
		make_entry(&entry, 0, true, bs->nulls[i].tid);
		KyroWriterAdd(writer, &entry);
		count_written(done);
	}
}

/* Finish the tuplesort and give its output to the writer. */
static void
write_from_tuplesort(KyroBuildState *bs, KyroWriter *writer, int64 *done)
{
	TupleTableSlot *sorted;
	KyroEntry	entry;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_SORTING);
	tuplesort_performsort(bs->sort);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, KYRO_PHASE_WRITING);
	sorted = MakeSingleTupleTableSlot(bs->sortdesc, &TTSOpsMinimalTuple);
	while (tuplesort_gettupleslot(bs->sort, true, false, sorted, NULL))
	{
		bool		isnull;
		Datum		key = slot_getattr(sorted, 1, &isnull);
		bool		tid_isnull;
		uint64		tid = (uint64) DatumGetInt64(slot_getattr(sorted, 2, &tid_isnull));

		make_entry(&entry, isnull ? 0 : ((uint64) DatumGetInt64(key)) ^ KYRO_KEY_SIGN_BIT,
				   isnull, tid);
		KyroWriterAdd(writer, &entry);
		count_written(done);
	}
	tuplesort_end(bs->sort);
	ExecDropSingleTupleTableSlot(sorted);
	ExecDropSingleTupleTableSlot(bs->slot);
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
	double		reltuples;
	KyroWriter *writer;
	KyroMetaPage view;
	IndexBuildResult *result;
	int64		done = 0;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	write_empty_metapage(index);

	memset(&bs, 0, sizeof(bs));
	bs.keytype = index->rd_opcintype[0];
	KyroCheckIndexDefinition(index);
	bs.max_pairs = (int64) maintenance_work_mem * 1024 / (2 * sizeof(RmiPair));

	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, &bs, NULL);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) bs.indtuples);
	writer = KyroWriterBegin(index, 1);
	if (bs.sort == NULL)
		write_from_memory(&bs, writer, &done);
	else
		write_from_tuplesort(&bs, writer, &done);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done);

	view = palloc0(KYRO_PAGE_CONTENT);
	KyroWriterFinish(writer, view, NULL, NULL);
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
	Buffer		buffer = KyroNewLockedBuffer(index, INIT_FORKNUM);

	Assert(BufferGetBlockNumber(buffer) == KYRO_METAPAGE_BLKNO);
	START_CRIT_SECTION();
	KyroInitMetapage(BufferGetPage(buffer));
	MarkBufferDirty(buffer);
	log_newpage_buffer(buffer, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(buffer);
}
