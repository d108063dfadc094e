/*-------------------------------------------------------------------------
 *
 * kyrodb.c
 *	  Entry points of the KyroDB library: initialisation, settings, index
 *	  options, the access method handler and its cost estimate.
 *
 * src/kyrodb.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_statistic.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "kyrodb.h"

PG_MODULE_MAGIC_EXT(.name = "kyrodb", .version = KYRODB_VERSION);

PG_FUNCTION_INFO_V1(kyrodb_version);
PG_FUNCTION_INFO_V1(kyrodb_handler);

int			kyro_delta_limit_guc = KYRO_DEFAULT_DELTA_LIMIT;
double		kyro_delta_scale_factor_guc = KYRO_DEFAULT_DELTA_SCALE;
int			kyro_max_delta_limit = KYRO_DEFAULT_MAX_DELTA_LIMIT;
bool		kyro_worker_enabled = true;
int			kyro_worker_naptime = KYRO_DEFAULT_NAPTIME;
int			kyro_max_workers = KYRO_DEFAULT_MAX_WORKERS;
int			kyro_fold_ceiling = KYRO_DEFAULT_FOLD_CEILING;
int			kyro_fold_step_pages = 0;
double		kyro_retrain_mispredict_rate = 0.25;
double		kyro_retrain_probe_length = 48;
int			kyro_retrain_min_lookups = 1000;
bool		kyro_model_files = true;
bool		kyro_warm_on_start = false;
bool		kyro_wal_records = true;
bool		kyro_page_inserts = true;
int			kyro_max_indexes = 1000;

static relopt_kind kyro_relopt_kind;
static relopt_parse_elt kyro_relopt_tab[4];

/* Where build_reloptions puts option i of kyro_relopt_tab. */
static void
parse_option(int i, const char *name, relopt_type type, int offset)
{
	kyro_relopt_tab[i].optname = name;
	kyro_relopt_tab[i].opttype = type;
	kyro_relopt_tab[i].offset = offset;
}

/*
 * Initialise the library when it is loaded: settings, index options, and
 * the reserved kyrodb.* prefix; while preloading, also shared memory, the
 * workers and the resource manager of KyroDB's own WAL records.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("kyrodb.delta_limit",
							"Delta entries past which a kyro_rmi index may fold at the least, for indexes without a delta_limit option.",
							NULL,
							&kyro_delta_limit_guc,
							KYRO_DEFAULT_DELTA_LIMIT,
							KYRO_MIN_DELTA_LIMIT, KYRO_MAX_DELTA_LIMIT,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("kyrodb.delta_scale_factor",
							 "Share of its snapshot's entries a kyro_rmi index's delta reaches before a fold, for indexes without a delta_scale_factor option.",
							 NULL,
							 &kyro_delta_scale_factor_guc,
							 KYRO_DEFAULT_DELTA_SCALE,
							 KYRO_MIN_DELTA_SCALE, KYRO_MAX_DELTA_SCALE,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kyrodb.max_delta_limit",
							"Delta entries past which a kyro_rmi index folds, however large its snapshot, unless its delta_limit is larger.",
							NULL,
							&kyro_max_delta_limit,
							KYRO_DEFAULT_MAX_DELTA_LIMIT,
							KYRO_MIN_DELTA_LIMIT, KYRO_MAX_DELTA_LIMIT,
							PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("kyrodb.fold_ceiling",
							"Times the delta limit at which an inserting backend folds for itself although a worker runs.",
							NULL,
							&kyro_fold_ceiling,
							KYRO_DEFAULT_FOLD_CEILING, 2, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kyrodb.fold_step_pages",
							"Snapshot pages one step of a fold rewrites at the most; 0 means a sixteenth of the snapshot.",
							NULL,
							&kyro_fold_step_pages,
							0, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("kyrodb.model_files",
							 "Publish each model as a file that backends map and share.",
							 NULL,
							 &kyro_model_files,
							 true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("kyrodb.worker",
							 "Run KyroDB's background workers (needs shared_preload_libraries).",
							 NULL,
							 &kyro_worker_enabled,
							 true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kyrodb.worker_naptime",
							"Time between a worker's passes over its database's indexes.",
							NULL,
							&kyro_worker_naptime,
							KYRO_DEFAULT_NAPTIME, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("kyrodb.max_workers",
							"Databases that have a KyroDB worker at once.",
							NULL,
							&kyro_max_workers,
							KYRO_DEFAULT_MAX_WORKERS, 1, KYRO_MAX_DATABASES,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("kyrodb.retrain_mispredict_rate",
							 "Share of lookups outside the model's window past which the worker retrains.",
							 NULL,
							 &kyro_retrain_mispredict_rate,
							 0.25, 0.001, 1.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("kyrodb.retrain_probe_length",
							 "Mean keys examined per lookup past which the worker retrains.",
							 NULL,
							 &kyro_retrain_probe_length,
							 48, 2, 1000000,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kyrodb.retrain_min_lookups",
							"Lookups since the worker last looked, before it judges an index's model.",
							NULL,
							&kyro_retrain_min_lookups,
							1000, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("kyrodb.warm_on_start",
							 "Have the workers warm every index after the server starts.",
							 NULL,
							 &kyro_warm_on_start,
							 false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("kyrodb.wal_records",
							 "Log kyro_rmi changes with KyroDB's own WAL records (needs shared_preload_libraries); off: generic WAL, which a server without the library preloaded can replay.",
							 NULL,
							 &kyro_wal_records,
							 true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("kyrodb.page_inserts",
							 "Let kyro_rmi's pages take inserts; off sends every insert to the delta (a developer option, for tests of the delta).",
							 NULL,
							 &kyro_page_inserts,
							 true,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	/* shared memory, the workers and our WAL records come only with preloading */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("kyrodb.max_indexes",
								"kyro_rmi indexes whose counters shared memory holds.",
								NULL,
								&kyro_max_indexes,
								1000, 16, 1000000,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		KyroSharedRequest();
		KyroRegisterLauncher();
		KyroRegisterRmgr();
	}
	KyroInstallUtilityHook();

	kyro_relopt_kind = add_reloption_kind();
	add_int_reloption(kyro_relopt_kind, "delta_limit",
					  "Delta entries past which the index folds (0: kyrodb.delta_limit)",
					  0, 0, KYRO_MAX_DELTA_LIMIT, AccessExclusiveLock);
	parse_option(0, "delta_limit", RELOPT_TYPE_INT, offsetof(KyroOptions, delta_limit));
	add_int_reloption(kyro_relopt_kind, "target_error",
					  "Mean error, in positions, the model is trained to",
					  KYRO_DEFAULT_TARGET_ERROR, KYRO_MIN_TARGET_ERROR,
					  KYRO_MAX_TARGET_ERROR, AccessExclusiveLock);
	parse_option(1, "target_error", RELOPT_TYPE_INT, offsetof(KyroOptions, target_error));
	add_real_reloption(kyro_relopt_kind, "delta_scale_factor",
					   "Share of the snapshot's entries the delta reaches before a fold (-1: kyrodb.delta_scale_factor)",
					   -1, KYRO_MIN_DELTA_SCALE, KYRO_MAX_DELTA_SCALE,
					   AccessExclusiveLock);
	parse_option(2, "delta_scale_factor", RELOPT_TYPE_REAL,
				 offsetof(KyroOptions, delta_scale_factor));
	add_int_reloption(kyro_relopt_kind, "fillfactor",
					  "Percent of each snapshot page packed by a build or fold; the rest takes inserts",
					  KYRO_DEFAULT_FILLFACTOR, KYRO_MIN_FILLFACTOR,
					  KYRO_MAX_FILLFACTOR, ShareUpdateExclusiveLock);
	parse_option(3, "fillfactor", RELOPT_TYPE_INT, offsetof(KyroOptions, fillfactor));

	/*
	 * Reserving the prefix rejects misspelt kyrodb.* settings instead of
	 * keeping them as placeholders; it comes after our own settings.
	 */
	MarkGUCPrefixReserved("kyrodb");
}

/* amoptions: parse WITH (...) and check delta_limit's gap. */
static bytea *
kyrooptions(Datum reloptions, bool validate)
{
	KyroOptions *opts = (KyroOptions *) build_reloptions(reloptions, validate,
														 kyro_relopt_kind,
														 sizeof(KyroOptions),
														 kyro_relopt_tab,
														 lengthof(kyro_relopt_tab));

	if (validate && opts != NULL && opts->delta_limit != 0 &&
		opts->delta_limit < KYRO_MIN_DELTA_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %d out of bounds for option \"delta_limit\"",
						opts->delta_limit),
				 errdetail("Valid values are 0 (follow kyrodb.delta_limit) and %d to %d.",
						   KYRO_MIN_DELTA_LIMIT, KYRO_MAX_DELTA_LIMIT)));
	return (bytea *) opts;
}

/* The options of index, defaults where it has none. */
KyroOptions *
KyroGetOptions(Relation index)
{
	static KyroOptions defaults = {0, 0, KYRO_DEFAULT_TARGET_ERROR, -1,
	KYRO_DEFAULT_FILLFACTOR};

	if (index->rd_options != NULL)
		return (KyroOptions *) index->rd_options;
	return &defaults;
}

/*
 * Delta entries past which index folds, its snapshot holding snap_entries:
 * a share of the snapshot, so that the cost of folds per insert stays flat
 * as the index grows (as autovacuum's scale factors), between the floor
 * delta_limit and the ceiling kyrodb.max_delta_limit, which bounds what a
 * delta costs every lookup and every backend's memory.
 */
uint64
KyroDeltaLimit(Relation index, uint64 snap_entries)
{
	KyroOptions *opts = KyroGetOptions(index);
	uint64		floor = opts->delta_limit > 0 ? opts->delta_limit : kyro_delta_limit_guc;
	double		scale = opts->delta_scale_factor >= 0 ?
		opts->delta_scale_factor : kyro_delta_scale_factor_guc;
	double		scaled = Min(scale * (double) snap_entries,
							 (double) kyro_max_delta_limit);

	return Max(floor, (uint64) scaled);
}

/*
 * amcostestimate: the generic estimate (pages and tuples in proportion to
 * selectivity) plus the model's constant cost of finding where a range
 * starts, and the column's correlation from the statistics, as btree uses
 * it, since the index returns TIDs in key order.
 */
static void
kyrocostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	VariableStatData vardata;

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);

	/* route, predict, and search a window within a page or two */
	costs.indexStartupCost += 10 * cpu_operator_cost;
	costs.indexTotalCost += 10 * cpu_operator_cost;

	MemSet(&vardata, 0, sizeof(vardata));
	if (index->indexkeys[0] != 0)
	{
		RangeTblEntry *rte = planner_rt_fetch(index->rel->relid, root);

		if (get_relation_stats_hook &&
			(*get_relation_stats_hook) (root, rte, index->indexkeys[0], &vardata))
		{
			if (HeapTupleIsValid(vardata.statsTuple) && !vardata.freefunc)
				elog(ERROR, "no function provided to release variable stats with");
		}
		else
		{
			vardata.statsTuple = SearchSysCache3(STATRELATTINH,
												 ObjectIdGetDatum(rte->relid),
												 Int16GetDatum(index->indexkeys[0]),
												 BoolGetDatum(rte->inh));
			vardata.freefunc = ReleaseSysCache;
		}
	}
	if (HeapTupleIsValid(vardata.statsTuple))
	{
		AttStatsSlot sslot;

		if (get_attstatsslot(&sslot, vardata.statsTuple,
							 STATISTIC_KIND_CORRELATION, InvalidOid,
							 ATTSTATSSLOT_NUMBERS))
		{
			costs.indexCorrelation = sslot.numbers[0];
			free_attstatsslot(&sslot);
		}
	}
	ReleaseVariableStats(vardata);

	*indexStartupCost = costs.indexStartupCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = costs.indexCorrelation;
	*indexPages = costs.numIndexPages;
}

/* ambuildphasename: the phases CREATE INDEX reports. */
static char *
kyrobuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case KYRO_PHASE_SORTING:
			return "sorting";
		case KYRO_PHASE_WRITING:
			return "writing snapshot";
		case KYRO_PHASE_TRAINING:
			return "training model";
		case KYRO_PHASE_READING_DELTA:
			return "reading delta";
		case KYRO_PHASE_MERGING:
			return "merging delta into snapshot";
		default:
			return NULL;
	}
}

#if PG_VERSION_NUM >= 180000
/*
 * amtranslatestrategy: what a strategy number of our operator families
 * means.  They number their operators as btree does.
 */
static CompareType
kyrotranslatestrategy(StrategyNumber strategy, Oid opfamily)
{
	switch (strategy)
	{
		case BTLessStrategyNumber:
			return COMPARE_LT;
		case BTLessEqualStrategyNumber:
			return COMPARE_LE;
		case BTEqualStrategyNumber:
			return COMPARE_EQ;
		case BTGreaterEqualStrategyNumber:
			return COMPARE_GE;
		case BTGreaterStrategyNumber:
			return COMPARE_GT;
		default:
			return COMPARE_INVALID;
	}
}

/*
 * amtranslatecmptype: the strategy number of a comparison.  The planner
 * asks for COMPARE_LT to find the sort order an index returns; without an
 * answer it takes the index for unordered, and ORDER BY, min(), max() and
 * merge joins stop using it.
 */
static StrategyNumber
kyrotranslatecmptype(CompareType cmptype, Oid opfamily)
{
	switch (cmptype)
	{
		case COMPARE_LT:
			return BTLessStrategyNumber;
		case COMPARE_LE:
			return BTLessEqualStrategyNumber;
		case COMPARE_EQ:
			return BTEqualStrategyNumber;
		case COMPARE_GE:
			return BTGreaterEqualStrategyNumber;
		case COMPARE_GT:
			return BTGreaterStrategyNumber;
		default:
			return InvalidStrategy;
	}
}
#endif

/*
 * The access method handler: what kyro_rmi can do, and its callbacks.
 * Fields a later major added are guarded by the major that added them.
 */
Datum
kyrodb_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = BTMaxStrategyNumber;
	amroutine->amsupport = KYRO_ORDER_PROC;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = true;
	amroutine->amcanorderbyop = false;
#if PG_VERSION_NUM >= 180000
	amroutine->amcanhash = false;
	/* our families hold btree's operators only (kyrovalidate checks) */
	amroutine->amconsistentequality = true;
	amroutine->amconsistentordering = true;
#endif
	amroutine->amcanbackward = true;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = true;
	amroutine->amsearchnulls = true;
	amroutine->amstorage = false;
	amroutine->amclusterable = true;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
#if PG_VERSION_NUM >= 170000
	amroutine->amcanbuildparallel = false;
#endif
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
#if PG_VERSION_NUM >= 160000
	amroutine->amsummarizing = false;
#endif
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_NO_PARALLEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = kyrobuild;
	amroutine->ambuildempty = kyrobuildempty;
	amroutine->aminsert = kyroinsert;
#if PG_VERSION_NUM >= 170000
	amroutine->aminsertcleanup = NULL;
#endif
	amroutine->ambulkdelete = kyrobulkdelete;
	amroutine->amvacuumcleanup = kyrovacuumcleanup;
	amroutine->amcanreturn = kyrocanreturn;
	amroutine->amcostestimate = kyrocostestimate;
#if PG_VERSION_NUM >= 180000
	amroutine->amgettreeheight = NULL;
#endif
	amroutine->amoptions = kyrooptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = kyrobuildphasename;
	amroutine->amvalidate = kyrovalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = kyrobeginscan;
	amroutine->amrescan = kyrorescan;
	amroutine->amgettuple = kyrogettuple;
	amroutine->amgetbitmap = kyrogetbitmap;
	amroutine->amendscan = kyroendscan;
	amroutine->ammarkpos = kyromarkpos;
	amroutine->amrestrpos = kyrorestrpos;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;
#if PG_VERSION_NUM >= 180000
	amroutine->amtranslatestrategy = kyrotranslatestrategy;
	amroutine->amtranslatecmptype = kyrotranslatecmptype;
#endif

	PG_RETURN_POINTER(amroutine);
}

/*
 * kyrodb.version(): the version string of the loaded library.
 */
Datum
kyrodb_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(KYRODB_VERSION));
}
