/*-------------------------------------------------------------------------
 *
 * kfuncs.c
 *	  SQL functions of KyroDB: snapshot, rebuild, warmup, stats, stats_reset
 *	  and check.
 *
 * src/kfuncs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "kyrodb.h"

PG_FUNCTION_INFO_V1(kyrodb_snapshot);
PG_FUNCTION_INFO_V1(kyrodb_check);
PG_FUNCTION_INFO_V1(kyrodb_rebuild);
PG_FUNCTION_INFO_V1(kyrodb_warmup);
PG_FUNCTION_INFO_V1(kyrodb_stats);
PG_FUNCTION_INFO_V1(kyrodb_stats_reset);

/* The smallest memory page size a mapping is read in by. */
#define OS_PAGE_BYTES	4096

/* What a function needs of its caller (open_index_for_function). */
typedef enum KyroPrivilege
{
	KYRO_NEED_NOTHING,			/* counters and sizes, as pg_stat_* */
	KYRO_NEED_SELECT,			/* reads the table's data */
	KYRO_NEED_OWNER				/* changes the index */
} KyroPrivilege;

/*
 * Open a kyro_rmi index for one of our functions, with heaplock on its
 * table (taken first, as REINDEX does).  Refuses, with a clear error,
 * anything that is not a kyro_rmi index, and a caller without the
 * privilege the function needs.
 */
static Relation
open_index_for_function(Oid indexoid, LOCKMODE heaplock, KyroPrivilege need,
						 Relation *heap)
{
	bool		need_owner = need == KYRO_NEED_OWNER;
	LOCKMODE	indexlock = need == KYRO_NEED_NOTHING ? AccessShareLock : RowExclusiveLock;

	Oid			heapoid;
	char	   *name = get_rel_name(indexoid);
	Relation	index;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("index with OID %u does not exist", indexoid)));
	if (get_rel_relkind(indexoid) != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", name),
				 errhint("Pass an index created with USING kyro_rmi.")));
	if (need_owner &&
		!object_ownercheck(RelationRelationId, indexoid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_INDEX, name);

	heapoid = IndexGetRelation(indexoid, false);
	if (need == KYRO_NEED_SELECT &&
		pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(heapoid));
	LockRelationOid(heapoid, heaplock);
	index = try_relation_open(indexoid, indexlock);
	if (index == NULL || IndexGetRelation(indexoid, true) != heapoid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("index \"%s\" was dropped concurrently", name)));
	if (index->rd_rel->relam != get_index_am_oid("kyro_rmi", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a kyro_rmi index", name),
				 errdetail("It uses access method \"%s\".",
						   get_am_name(index->rd_rel->relam))));
	if (RELATION_IS_OTHER_TEMP(index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary indexes of other sessions")));
	*heap = table_open(heapoid, NoLock);
	return index;
}

/*
 * Report a fold or rebuild started from SQL in pg_stat_progress_create_index,
 * as a REINDEX of the index whose subphases are the fold's.
 */
static void
progress_begin(Relation heap, Relation index)
{
	const int	params[] = {
		PROGRESS_CREATEIDX_COMMAND,
		PROGRESS_CREATEIDX_INDEX_OID,
		PROGRESS_CREATEIDX_ACCESS_METHOD_OID,
		PROGRESS_CREATEIDX_PHASE
	};
	const int64 values[] = {
		PROGRESS_CREATEIDX_COMMAND_REINDEX,
		RelationGetRelid(index),
		index->rd_rel->relam,
		PROGRESS_CREATEIDX_PHASE_BUILD
	};

	pgstat_progress_start_command(PROGRESS_COMMAND_CREATE_INDEX,
								  RelationGetRelid(heap));
	pgstat_progress_update_multi_param(lengthof(params), params, values);
}

/* kyrodb.snapshot(index): fold the delta now; returns the new epoch. */
Datum
kyrodb_snapshot(PG_FUNCTION_ARGS)
{
	Relation	heap;
	Relation	index = open_index_for_function(PG_GETARG_OID(0),
												 ShareUpdateExclusiveLock,
												 KYRO_NEED_OWNER, &heap);
	KyroFoldResult r;

	progress_begin(heap, index);
	KyroFoldAll(index, 0, &r);
	pgstat_progress_end_command();
	relation_close(index, NoLock);
	table_close(heap, NoLock);
	PG_RETURN_INT64(r.epoch);
}

/* ---- kyrodb.check ---- */

/* An index entry as a hash key (padding zeroed). */
typedef struct CheckKey
{
	uint64		key;
	ItemPointerData tid;
	bool		isnull;
	bool		pad;
} CheckKey;

typedef struct CheckState
{
	Relation	index;
	HTAB	   *entries;		/* live entries of the index */
	Oid			keytype;
	int64		checked;
} CheckState;

/* Add a live entry to the set of entries. */
static void
remember(CheckState *cs, const KyroEntry *e)
{
	CheckKey	k;

	if (cs->entries == NULL || e->dead)
		return;
	memset(&k, 0, sizeof(k));
	k.key = e->isnull ? 0 : e->key;
	k.tid = e->tid;
	k.isnull = e->isnull;
	hash_search(cs->entries, &k, HASH_ENTER, NULL);
}

/* Each heap tuple visible to the check's MVCC snapshot must be indexed. */
static void
check_heap_callback(Relation index, ItemPointer tid, Datum *values,
					bool *isnull, bool tupleIsAlive, void *state)
{
	CheckState *cs = (CheckState *) state;
	CheckKey	k;

	memset(&k, 0, sizeof(k));
	k.isnull = isnull[0];
	k.key = isnull[0] ? 0 : KyroDatumToKey(values[0], cs->keytype);
	k.tid = *tid;
	if (hash_search(cs->entries, &k, HASH_FIND, NULL) == NULL)
		KyroCorrupt(index, psprintf("Heap tuple (%u,%u) is not in the index.",
									ItemPointerGetBlockNumber(tid),
									ItemPointerGetOffsetNumber(tid)));
	cs->checked++;
}

/* Where check_snapshot is: the last entry checked, and the counts. */
typedef struct CheckWalk
{
	RmiPageEntry *decoded;
	KyroEntry	prev;
	uint64		pos;
} CheckWalk;

/*
 * Check snapshot page p or one of its siblings (a page split
 * off it), locked in buffer: its packing, its own model's bounds and its
 * insert area, the order of its entries after every entry before, and
 * that it holds only entries of p's range.  The buffer stays locked.
 */
static void
check_page(CheckState *cs, KyroMetaPage meta, const KyroDirItem *items,
		   uint32 p, Buffer buffer, CheckWalk *walk)
{
	Relation	index = cs->index;
	BlockNumber blkno = BufferGetBlockNumber(buffer);
	void	   *content = KyroSnapContent(BufferGetPage(buffer));
	RmiPageStatus status;
	RmiAreaStatus area_status = rmi_area_verify(content, KYRO_PAGE_CONTENT,
												&status);
	bool		isnull = (items[p].flags & KYRO_PAGE_NULLS) != 0;
	uint32		total = 0;
	RmiPageEntry *decoded = walk->decoded;

	if (area_status == RMI_AREA_OK)
		total = rmi_area_decode_all(content, KYRO_PAGE_CONTENT, decoded);
	if (area_status == RMI_AREA_PACKED_BAD)
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) fails its check: %s.",
									p, blkno, rmi_page_status_message(status)));
	if (area_status != RMI_AREA_OK)
		KyroCorrupt(index, psprintf("Snapshot page %u (block %u) fails its check: %s.",
									p, blkno, rmi_area_status_message(area_status)));
	/* an entry before the page's first is outside its range, if closed */
	if (!KyroRangeIsOpen(p, meta->key_pages) && total > 0)
	{
		KyroEntry	e;
		KyroEntry	first;

		KyroEntryFromPage(&e, &decoded[0], isnull);
		first.isnull = isnull;
		first.key = isnull ? 0 : items[p].first_key;
		ItemPointerSet(&first.tid, items[p].first_block, items[p].first_offset);
		if (KyroEntryCompare(&e, &first) < 0)
			KyroCorrupt(index, psprintf("Snapshot page %u (block %u) holds an entry of the previous page's range.",
										p, blkno));
	}
	for (uint32 i = 0; i < total; i++, walk->pos++)
	{
		KyroEntry	e;
		int			cmp;

		KyroEntryFromPage(&e, &decoded[i], isnull);
		cmp = walk->pos > 0 ? KyroEntryCompare(&walk->prev, &e) : -1;
		if (cmp > 0 || (cmp == 0 && !walk->prev.dead && !e.dead))
			KyroCorrupt(index, psprintf("Entries " UINT64_FORMAT " and " UINT64_FORMAT " of the snapshot's pages are out of (key, TID) order.",
										walk->pos - 1, walk->pos));
		remember(cs, &e);
		walk->prev = e;
	}
	/* and the next page starts after every entry of this one */
	if (total > 0 && p + 1 < meta->snap_pages)
	{
		KyroEntry	next_first;

		next_first.isnull = p + 1 >= meta->key_pages;
		next_first.key = next_first.isnull ? 0 : items[p + 1].first_key;
		ItemPointerSet(&next_first.tid, items[p + 1].first_block,
					   items[p + 1].first_offset);
		if (KyroEntryCompare(&walk->prev, &next_first) >= 0)
			KyroCorrupt(index, psprintf("Snapshot page %u (block %u) holds an entry of the next page's range.",
										p, blkno));
	}
}

/*
 * Check the snapshot's pages: each one intact and as its directory item
 * says (KyroReadSnapshotPageLocked), then its siblings, the pages split
 * off it, along its right-links (KyroReadSiblingPage: of its tag and range,
 * each after the one before, so that a cycle is caught, not followed), each
 * checked by check_page.  Neither the directory's counts (the pages' when
 * the view was written: inserts that repack a page change its own) nor
 * the metapage's count of dead packed entries (an estimate, which a VACUUM
 * cancelled between its pages leaves low and revivals leave high, until
 * the next fold counts them on the pages) are compared.  Equal entries are in order when one of them is dead: VACUUM may
 * have let the heap reuse a dead entry's TID for a tuple of the same key.
 */
static void
check_snapshot(CheckState *cs, KyroMetaPage meta, const KyroDirItem *items)
{
	Relation	index = cs->index;
	CheckWalk	walk;

	memset(&walk, 0, sizeof(walk));
	walk.decoded = palloc(sizeof(RmiPageEntry) *
						  (RMI_PAGE_MAX_ENTRIES + RMI_AREA_MAX_ENTRIES));
	for (uint32 p = 0; p < meta->snap_pages; p++)
	{
		Buffer		buffer = KyroReadSnapshotPageLocked(index, meta, items, p,
														BUFFER_LOCK_SHARE);
		bool		recycled = false;

		while (BufferIsValid(buffer))
		{
			check_page(cs, meta, items, p, buffer, &walk);
			buffer = KyroStepSibling(index, meta->epoch, items,
									 meta->key_pages, meta->snap_pages, p,
									 buffer, BUFFER_LOCK_SHARE, &recycled);
		}
		if (recycled)
			KyroCorrupt(index, "A split page was recycled while the fold lock was held.");
	}
	pfree(walk.decoded);
}

/*
 * Check the root model: pages, checksum, and that its bounds hold for the
 * first key of every page it was trained on.
 */
static void
check_model(CheckState *cs, KyroMetaPage meta, const KyroDirItem *items)
{
	Relation	index = cs->index;
	char	   *buf;
	bool		recycled;
	RmiModel	model;
	RmiStatus	status;

	if (meta->model_pages == 0)
		return;					/* no model: searches go without one */
	status = KyroLoadModel(index, meta, items, CurrentMemoryContext, &model,
						   &buf, &recycled);
	if (recycled)
		KyroCorrupt(index, "A model page has a wrong tag or size.");
	if (status != RMI_OK)
		KyroCorrupt(index, psprintf("The model fails its check: %s.",
									rmi_status_message(status)));

	/*
	 * The model was trained on the first keys of the snapshot's first
	 * n_keys pages, at their page numbers, and its bounds cover the first
	 * page of each distinct key among them exactly (rmi_build), with no
	 * slack.  A fold carries a model over only while each of those pages
	 * keeps its number and first key (kwrite.c), so a carried model must
	 * place them as exactly as a model just trained.
	 */
	if (model.n_keys > meta->key_pages)
		KyroCorrupt(index, "The model was trained on more pages than the snapshot has.");
	for (uint64 i = 0; i < model.n_keys; i++)
	{
		uint64		lo;
		uint64		hi;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && items[i].first_key == items[i - 1].first_key)
			continue;
		rmi_window(&model, meta->key_pages, items[i].first_key, &lo, &hi);
		if (i < lo || i > hi)
			KyroCorrupt(index, psprintf("The model's error bounds miss page " UINT64_FORMAT " (window " UINT64_FORMAT " to " UINT64_FORMAT ").",
										i, lo, hi));
	}
	pfree(buf);
}

/* Check a delta chain's pages and count; remember its live entries. */
static void
check_chain(CheckState *cs, const KyroChain *chain, bool exact)
{
	KyroEntryArray entries = {0};
	BlockNumber last_block;
	uint32		last_count;
	char		detail[256];

	if (chain->number == 0 || chain->head == InvalidBlockNumber)
		return;
	if (!KyroReadChain(cs->index, chain->number, chain->head, 0, &entries,
					   &last_block, &last_count, NULL, NULL))
	{
		snprintf(detail, sizeof(detail),
				 "Delta chain %u has a page of another chain.", chain->number);
		KyroCorrupt(cs->index, detail);
	}
	/* the metapage counts the entries before the tail page */
	if (exact ? (last_block != chain->tail ||
				 (uint64) (entries.n - last_count) != chain->before_tail) :
		(uint64) entries.n < chain->before_tail)
	{
		snprintf(detail, sizeof(detail),
				 "Delta chain %u holds %lld entries before its tail page %u, the metapage says %llu before page %u.",
				 chain->number, (long long) (entries.n - last_count), last_block,
				 (unsigned long long) chain->before_tail, chain->tail);
		KyroCorrupt(cs->index, detail);
	}
	for (int64 i = 0; i < entries.n; i++)
	{
		remember(cs, &entries.items[i]);
		CHECK_FOR_INTERRUPTS();
	}
	if (entries.items)
		pfree(entries.items);
}

/*
 * kyrodb.check(index, heapallindexed): verify page tags, order, counts,
 * the model's checksum and bounds; with heapallindexed, also that every
 * heap tuple visible now is in the index.  Returns true or raises an error
 * that says what is wrong.
 */
Datum
kyrodb_check(PG_FUNCTION_ARGS)
{
	bool		heapallindexed = PG_GETARG_BOOL(1);
	Relation	heap;
	Relation	index = open_index_for_function(PG_GETARG_OID(0),
												 heapallindexed ? ShareLock : AccessShareLock,
												 KYRO_NEED_SELECT, &heap);
	CheckState	cs;
	KyroMetaPage meta;
	KyroDirItem *items;

	memset(&cs, 0, sizeof(cs));
	cs.index = index;
	cs.keytype = index->rd_opcintype[0];
	if (heapallindexed)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(CheckKey);
		ctl.entrysize = sizeof(CheckKey);
		ctl.hcxt = CurrentMemoryContext;
		cs.entries = hash_create("kyrodb check", 1024, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	/* a fold must not replace the view while we read it */
	KyroLockFold(index, true);
	meta = KyroReadMeta(index);
	items = KyroReadDirectory(index, meta);
	if (items == NULL)
		KyroCorrupt(index, "The directory was recycled while the fold lock was held.");
	check_snapshot(&cs, meta, items);
	check_model(&cs, meta, items);
	check_chain(&cs, &meta->frozen, true);
	check_chain(&cs, &meta->active, heapallindexed);
	KyroUnlockFold(index);

	if (heapallindexed)
	{
		IndexInfo  *indexInfo = BuildIndexInfo(index);
		Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
		TableScanDesc scan = table_beginscan_strat(heap, snapshot, 0, NULL,
												   true, false);

		table_index_build_scan(heap, index, indexInfo, true, false,
							   check_heap_callback, &cs, scan);
		UnregisterSnapshot(snapshot);
		hash_destroy(cs.entries);
	}

	pfree(items);
	pfree(meta);
	relation_close(index, RowExclusiveLock);
	table_close(heap, NoLock);
	PG_RETURN_BOOL(true);
}

/* ---- rebuild, warmup, stats ---- */

/* A tuple of the function's result type from values (NULL where nulls). */
static Datum
result_tuple(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * kyrodb.rebuild(index): train a new model over the snapshot (folding in
 * the delta too) with the index's current options; returns what it built.
 */
Datum
kyrodb_rebuild(PG_FUNCTION_ARGS)
{
	Relation	heap;
	Relation	index = open_index_for_function(PG_GETARG_OID(0),
												 ShareUpdateExclusiveLock,
												 KYRO_NEED_OWNER, &heap);
	KyroFoldResult r;
	KyroSnapCache *snap;
	KyroDeltaCache *delta;
	Datum		values[7];
	bool		nulls[7] = {0};

	progress_begin(heap, index);
	KyroFoldAll(index, KYRO_FOLD_RETRAIN, &r);
	pgstat_progress_end_command();
	KyroCountEvent(RelationGetRelid(index), KYRO_EVENT_RETRAIN);

	KyroGetCaches(index, &snap, &delta);
	values[0] = Int64GetDatum(snap->epoch);
	values[1] = Int64GetDatum(snap->snap_entries);
	values[2] = Int32GetDatum(snap->has_model ? snap->model.n_leaves : 0);
	values[3] = Float8GetDatum(snap->has_model ? snap->model.mean_error : 0);
	values[4] = Int32GetDatum(snap->has_model ? snap->model.max_error : 0);
	values[5] = Int64GetDatum(snap->has_model ? snap->model_bytes : 0);
	values[6] = Float8GetDatum(r.usecs / 1000.0);
	nulls[2] = nulls[3] = nulls[4] = !snap->has_model;
	KyroReleaseCaches(snap, delta);
	relation_close(index, NoLock);
	table_close(heap, NoLock);
	PG_RETURN_DATUM(result_tuple(fcinfo, values, nulls));
}

/*
 * Load index into memory: its model (mapping the file and touching every
 * page of it) and every block into shared buffers.
 */
void
KyroWarmup(Relation index, int64 *blocks, int64 *model_bytes, bool *from_file)
{
	KyroSnapCache *snap;
	KyroDeltaCache *delta;
	BlockNumber nblocks;

	KyroGetCaches(index, &snap, &delta);
	*model_bytes = snap->has_model ? snap->model_bytes : 0;
	*from_file = snap->has_model && snap->model_mapped;
	if (*from_file)
	{
		volatile const char *bytes = snap->model_buf;
		char		sum = 0;

		(void) madvise(snap->model_buf, snap->model_bytes, MADV_WILLNEED);
		/* one byte of each memory page faults the mapping in */
		for (uint32 off = 0; off < snap->model_bytes; off += OS_PAGE_BYTES)
		{
			sum += bytes[off];
			CHECK_FOR_INTERRUPTS();
		}
		(void) sum;
	}
	KyroReleaseCaches(snap, delta);

	nblocks = RelationGetNumberOfBlocks(index);
	for (BlockNumber b = 0; b < nblocks; b++)
	{
		CHECK_FOR_INTERRUPTS();
		ReleaseBuffer(ReadBufferExtended(index, MAIN_FORKNUM, b, RBM_NORMAL, NULL));
	}
	*blocks = nblocks;
}

/* kyrodb.warmup(index): load it into memory; returns what was loaded. */
Datum
kyrodb_warmup(PG_FUNCTION_ARGS)
{
	Relation	heap;
	Relation	index = open_index_for_function(PG_GETARG_OID(0), AccessShareLock,
												 KYRO_NEED_SELECT, &heap);
	int64		blocks;
	int64		model_bytes;
	bool		from_file;
	Datum		values[3];
	bool		nulls[3] = {0};

	KyroWarmup(index, &blocks, &model_bytes, &from_file);
	values[0] = Int64GetDatum(blocks);
	values[1] = Int64GetDatum(model_bytes);
	values[2] = BoolGetDatum(from_file);
	relation_close(index, NoLock);
	table_close(heap, NoLock);
	PG_RETURN_DATUM(result_tuple(fcinfo, values, nulls));
}

/* Columns of kyrodb.stats(), in order. */
enum
{
	STAT_EPOCH,
	STAT_LIVE_ITEMS,
	STAT_DEAD_ITEMS,
	STAT_SNAPSHOT_ITEMS,
	STAT_SNAPSHOT_PAGES,
	STAT_DELTA_ITEMS,
	STAT_DELTA_LIMIT,
	STAT_LEAVES,
	STAT_MEAN_ERROR,
	STAT_MAX_ERROR,
	STAT_INDEX_BYTES,
	STAT_MODEL_BYTES,
	STAT_FILE_BYTES,
	STAT_LOOKUPS,
	STAT_MEAN_PROBE_LENGTH,
	STAT_MEAN_PAGES_READ,
	STAT_MISPREDICTS,
	STAT_DELTA_HITS,
	STAT_FOLDS,
	STAT_INLINE_FOLDS,
	STAT_RETRAINS,
	STAT_LAST_FOLD,
	STAT_LAST_FOLD_MS,
	STAT_STATS_RESET,
	STAT_AREA_ITEMS,
	STAT_REPACKS,
	STAT_SPLITS,
	STAT_SPLIT_PAGES,
	STAT_MEAN_RIGHT_MOVES,
	STAT_AREA_FILL,
	STAT_COLUMNS
};

/*
 * kyrodb.stats(index): what the index holds (from its pages) and what it
 * has done (from shared memory; NULL without shared_preload_libraries).
 */
Datum
kyrodb_stats(PG_FUNCTION_ARGS)
{
	Relation	heap;
	Relation	index = open_index_for_function(PG_GETARG_OID(0), AccessShareLock,
												 KYRO_NEED_NOTHING, &heap);
	KyroMetaPage meta = KyroReadMeta(index);
	KyroSnapCache *snap;
	KyroDeltaCache *delta;
	KyroStatSlot *slot;
	Datum		values[STAT_COLUMNS];
	bool		nulls[STAT_COLUMNS];
	int64		delta_items = KyroDeltaSize(index, meta);
	int64		file_bytes;
	KyroPageCounts counts;
	double		area_bytes;

	memset(nulls, 0, sizeof(nulls));
	KyroGetCaches(index, &snap, &delta);
	values[STAT_EPOCH] = Int64GetDatum(snap->epoch);
	values[STAT_DELTA_ITEMS] = Int64GetDatum(delta_items);
	KyroCountPageEntries(index, snap, &counts);
	values[STAT_DEAD_ITEMS] = Int64GetDatum(counts.packed_dead);
	/* the pages split off since the view was written are its pages too */
	values[STAT_SNAPSHOT_PAGES] = Int64GetDatum(snap->snap_pages +
												counts.split_pages);
	values[STAT_SPLIT_PAGES] = Int64GetDatum(counts.split_pages);
	values[STAT_SNAPSHOT_ITEMS] = Int64GetDatum(counts.packed);
	values[STAT_AREA_ITEMS] = Int64GetDatum(counts.area_all);
	values[STAT_LIVE_ITEMS] = Int64GetDatum(counts.packed - counts.packed_dead +
											delta_items + counts.area_live);
	/* of the room the pages have for areas, the share their entries take */
	area_bytes = (double) counts.area_all * RMI_AREA_ENTRY_BYTES;
	values[STAT_AREA_FILL] = Float8GetDatum(area_bytes + counts.area_free > 0 ?
											area_bytes / (area_bytes + counts.area_free) : 0);
	nulls[STAT_AREA_FILL] = area_bytes + counts.area_free == 0;
	values[STAT_DELTA_LIMIT] = Int64GetDatum(KyroDeltaLimit(index, meta->snap_entries));
	values[STAT_LEAVES] = Int32GetDatum(snap->has_model ? snap->model.n_leaves : 0);
	values[STAT_MEAN_ERROR] = Float8GetDatum(snap->has_model ? snap->model.mean_error : 0);
	values[STAT_MAX_ERROR] = Int32GetDatum(snap->has_model ? snap->model.max_error : 0);
	nulls[STAT_LEAVES] = nulls[STAT_MEAN_ERROR] = nulls[STAT_MAX_ERROR] = !snap->has_model;
	values[STAT_INDEX_BYTES] = Int64GetDatum((int64) RelationGetNumberOfBlocks(index) * BLCKSZ);
	values[STAT_MODEL_BYTES] = Int64GetDatum(meta->model_bytes);
	file_bytes = KyroModelFileSize(index, snap->epoch);
	values[STAT_FILE_BYTES] = Int64GetDatum(file_bytes);
	nulls[STAT_FILE_BYTES] = file_bytes < 0;
	values[STAT_FOLDS] = Int64GetDatum(meta->folds);
	values[STAT_LAST_FOLD] = TimestampTzGetDatum(meta->last_fold_time);
	values[STAT_LAST_FOLD_MS] = Float8GetDatum(meta->last_fold_usecs / 1000.0);
	nulls[STAT_LAST_FOLD] = nulls[STAT_LAST_FOLD_MS] = meta->folds == 0;
	KyroReleaseCaches(snap, delta);

	slot = KyroGetStatSlot(RelationGetRelid(index), true);
	if (slot != NULL)
	{
		uint64		lookups = pg_atomic_read_u64(&slot->lookups);

		values[STAT_LOOKUPS] = Int64GetDatum(lookups);
		values[STAT_MEAN_PROBE_LENGTH] =
			Float8GetDatum(lookups ? (double) pg_atomic_read_u64(&slot->probes) / lookups : 0);
		values[STAT_MEAN_PAGES_READ] =
			Float8GetDatum(lookups ? (double) pg_atomic_read_u64(&slot->pages) / lookups : 0);
		values[STAT_MEAN_RIGHT_MOVES] =
			Float8GetDatum(lookups ? (double) pg_atomic_read_u64(&slot->right_moves) / lookups : 0);
		nulls[STAT_MEAN_PROBE_LENGTH] = nulls[STAT_MEAN_PAGES_READ] =
			nulls[STAT_MEAN_RIGHT_MOVES] = lookups == 0;
		values[STAT_MISPREDICTS] = Int64GetDatum(pg_atomic_read_u64(&slot->mispredicts));
		values[STAT_DELTA_HITS] = Int64GetDatum(pg_atomic_read_u64(&slot->delta_hits));
		values[STAT_INLINE_FOLDS] = Int64GetDatum(pg_atomic_read_u64(&slot->inline_folds));
		values[STAT_RETRAINS] = Int64GetDatum(pg_atomic_read_u64(&slot->retrains));
		values[STAT_REPACKS] = Int64GetDatum(pg_atomic_read_u64(&slot->repacks));
		values[STAT_SPLITS] = Int64GetDatum(pg_atomic_read_u64(&slot->splits));
		values[STAT_STATS_RESET] = TimestampTzGetDatum(KyroStatResetTime(slot));
	}
	else
		nulls[STAT_LOOKUPS] = nulls[STAT_MEAN_PROBE_LENGTH] =
			nulls[STAT_MEAN_PAGES_READ] = nulls[STAT_MISPREDICTS] =
			nulls[STAT_DELTA_HITS] = nulls[STAT_INLINE_FOLDS] = nulls[STAT_RETRAINS] =
			nulls[STAT_REPACKS] = nulls[STAT_SPLITS] = nulls[STAT_MEAN_RIGHT_MOVES] =
			nulls[STAT_STATS_RESET] = true;

	pfree(meta);
	relation_close(index, NoLock);
	table_close(heap, NoLock);
	PG_RETURN_DATUM(result_tuple(fcinfo, values, nulls));
}

/*
 * kyrodb.stats_reset(index default NULL): zero the shared counters of one
 * index, or of every kyro_rmi index of the database.  Executable by
 * superusers only unless granted, as pg_stat_reset().
 */
Datum
kyrodb_stats_reset(PG_FUNCTION_ARGS)
{
	Oid			indexoid = InvalidOid;

	if (!PG_ARGISNULL(0))
	{
		Relation	heap;
		Relation	index = open_index_for_function(PG_GETARG_OID(0), AccessShareLock,
													 KYRO_NEED_NOTHING, &heap);

		indexoid = RelationGetRelid(index);
		relation_close(index, NoLock);
		table_close(heap, NoLock);
	}
	KyroResetStats(MyDatabaseId, indexoid);
	PG_RETURN_VOID();
}
