/*-------------------------------------------------------------------------
 *
 * kworker.c
 *	  KyroDB's background workers: a launcher, and one worker for each
 *	  database that has the extension.
 *
 * The launcher (registered when the library is preloaded, started once
 * recovery has finished, so never on a hot standby) connects to no
 * database.  At start it gives every database that accepts connections a
 * worker, which looks for the extension and exits at once if it is not
 * there.  After that a database gets a worker when a backend there first
 * uses a kyro_rmi index (KyroNoteDatabase: a build, an insert past the
 * limit, one of our functions), so databases and extensions created later
 * are picked up.  A worker that stops for any reason other than a missing
 * extension or kyrodb.worker = off is started again; at most
 * kyrodb.max_workers run at once.
 *
 * A worker waits on its latch.  An insert that passes an index's delta
 * limit sets the index's fold_requested flag and the latch; the worker then
 * folds that index.  Every kyrodb.worker_naptime it also makes a full pass
 * over its database's kyro_rmi indexes: folds what is past its limit,
 * retrains a model whose mispredict rate or mean probe length since the
 * last pass is past its threshold, makes sure each index's model file is
 * there, removes files no index needs, and forgets the counters of dropped
 * indexes.  Each index is worked on in a transaction of its own, so an
 * error in one is logged and the others go on.  Locks are taken only if
 * free (a fold holds only what an insert holds), so DDL never waits on a
 * worker for long.
 *
 * DROP DATABASE, CREATE DATABASE from a template, ALTER DATABASE RENAME TO
 * and SET TABLESPACE must find no one else connected: the utility hook asks
 * the database's worker to leave first, and lets the launcher start it
 * again after the command.
 *
 * src/kworker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "kyrodb.h"

/*
 * How long a command that needs the database to itself waits for its
 * worker to go (CountOtherDBBackends then waits as long again), and how
 * often it looks.
 */
#define KYRO_STOP_WAIT_MS	5000
#define KYRO_STOP_POLL_MS	10

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* ---- The launcher ---- */

void
KyroRegisterLauncher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "kyrodb");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "KyroLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "kyrodb launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "kyrodb launcher");
	RegisterBackgroundWorker(&worker);
}

/* Start a worker for database dbid; NULL if no slot is free. */
static BackgroundWorkerHandle *
start_worker(Oid dbid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher does */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "kyrodb");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "KyroWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "kyrodb worker for database %u", dbid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "kyrodb worker");
	worker.bgw_main_arg = ObjectIdGetDatum(dbid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * Put every database that accepts connections in the registry, to be
 * probed by a worker (at the launcher's start); drop from it the databases
 * that are gone, and their files.
 */
static void
scan_databases(bool probe)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *all = NIL;
	List	   *live = NIL;
	KyroDatabaseSlot *dbs = KyroDatabaseSlots();
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		/* in the caller's memory, which outlives the transaction */
		all = lappend_oid(all, db->oid);
		if (db->datallowconn && !db->datistemplate)
			live = lappend_oid(live, db->oid);
		MemoryContextSwitchTo(oldcxt);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	KyroModelFilesSweepDatabases(all);

	LWLockAcquire(KyroSharedLock(), LW_EXCLUSIVE);
	for (int i = 0; i < KYRO_MAX_DATABASES; i++)
		if (OidIsValid(dbs[i].dbid) && !list_member_oid(live, dbs[i].dbid) &&
			dbs[i].pid == 0)
			memset(&dbs[i], 0, sizeof(KyroDatabaseSlot));
	if (probe)
	{
		ListCell   *lc;

		foreach(lc, live)
		{
			Oid			dbid = lfirst_oid(lc);
			int			free_slot = -1;
			bool		known = false;

			for (int i = 0; i < KYRO_MAX_DATABASES && !known; i++)
			{
				known = dbs[i].dbid == dbid;
				if (free_slot < 0 && !OidIsValid(dbs[i].dbid))
					free_slot = i;
			}
			if (!known && free_slot >= 0)
			{
				dbs[free_slot].dbid = dbid;
				dbs[free_slot].wanted = true;
			}
		}
	}
	LWLockRelease(KyroSharedLock());
	list_free(live);
	list_free(all);
}

void
KyroLauncherMain(Datum arg)
{
	BackgroundWorkerHandle *handles[KYRO_MAX_DATABASES] = {0};
	Oid			handle_db[KYRO_MAX_DATABASES] = {0};
	KyroDatabaseSlot *dbs;
	bool		first = true;
	bool		warned_full = false;
	MemoryContext launchcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	KyroSetLauncherLatch(MyLatch);
	dbs = KyroDatabaseSlots();
	launchcxt = AllocSetContextCreate(TopMemoryContext, "kyrodb launcher",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		int			running = 0;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(launchcxt);
		MemoryContextReset(launchcxt);
		scan_databases(first);
		first = false;

		/*
		 * Which of our workers still run; stop those not wanted.  Through
		 * the handle, which names the worker we started and no process that
		 * may have taken its pid since.
		 */
		for (int i = 0; i < KYRO_MAX_DATABASES; i++)
		{
			pid_t		pid;
			Oid			slot_db;
			bool		stop;

			if (handles[i] == NULL)
				continue;
			LWLockAcquire(KyroSharedLock(), LW_SHARED);
			slot_db = dbs[i].dbid;
			stop = !dbs[i].wanted || dbs[i].paused;
			LWLockRelease(KyroSharedLock());
			if (GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED ||
				handle_db[i] != slot_db)
			{
				pfree(handles[i]);
				handles[i] = NULL;
				continue;
			}
			if (!kyro_worker_enabled || stop)
				TerminateBackgroundWorker(handles[i]);
			running++;
		}

		/* start the missing ones */
		for (int i = 0; i < KYRO_MAX_DATABASES && kyro_worker_enabled; i++)
		{
			Oid			dbid;

			LWLockAcquire(KyroSharedLock(), LW_SHARED);
			dbid = dbs[i].wanted && !dbs[i].paused && dbs[i].pid == 0 ?
				dbs[i].dbid : InvalidOid;
			LWLockRelease(KyroSharedLock());
			if (!OidIsValid(dbid) || handles[i] != NULL)
				continue;
			if (running >= kyro_max_workers)
				break;
			MemoryContextSwitchTo(TopMemoryContext);	/* handles outlive the pass */
			handles[i] = start_worker(dbid);
			MemoryContextSwitchTo(launchcxt);
			handle_db[i] = dbid;
			if (handles[i] == NULL)
			{
				if (!warned_full)
					ereport(LOG,
							(errmsg("kyrodb launcher could not start a worker for database %u", dbid),
							 errhint("Raise max_worker_processes.")));
				warned_full = true;
				break;
			}
			warned_full = false;
			running++;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 kyro_worker_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- A database's worker ---- */

static KyroDatabaseSlot *my_slot = NULL;

/* The registry slot of database dbid, or NULL; the caller holds the lock. */
static KyroDatabaseSlot *
find_slot(Oid dbid)
{
	KyroDatabaseSlot *dbs = KyroDatabaseSlots();

	for (int i = 0; i < KYRO_MAX_DATABASES; i++)
		if (dbs[i].dbid == dbid)
			return &dbs[i];
	return NULL;
}

static void
unregister_worker(int code, Datum arg)
{
	LWLockAcquire(KyroSharedLock(), LW_EXCLUSIVE);
	if (my_slot != NULL && my_slot->pid == MyProcPid)
	{
		my_slot->pid = 0;
		my_slot->latch = NULL;
	}
	LWLockRelease(KyroSharedLock());
}

/* Leave the database for good: the extension is gone or we are turned off. */
static void
leave(bool unwanted)
{
	if (unwanted)
	{
		LWLockAcquire(KyroSharedLock(), LW_EXCLUSIVE);
		if (my_slot != NULL)
			my_slot->wanted = false;
		LWLockRelease(KyroSharedLock());
	}
	proc_exit(0);
}

/*
 * Leave if a command needs the database to itself (pause_database set the
 * flag and our latch); the launcher starts a worker again after it.
 */
static void
leave_if_paused(void)
{
	bool		paused;

	LWLockAcquire(KyroSharedLock(), LW_SHARED);
	paused = my_slot->paused;
	LWLockRelease(KyroSharedLock());
	if (paused)
		leave(false);
}

/* What a pass learnt of one index, for the file sweep. */
typedef struct IndexFile
{
	Oid			indexoid;
	bool		seen;			/* file is the name of its current model */
	KyroModelFileName file;
} IndexFile;

/*
 * The kyro_rmi indexes of this database (in the caller's memory context),
 * read from pg_class with a system-table scan: not with SQL, which other
 * extensions may rewrite (Citus hides its shards' relations from queries
 * on pg_class with a planner hook), and whose answer would make the sweep
 * take their files for orphans.  pg_class has no index on relam, so it is
 * a heap scan with keys, as the launcher reads pg_database.  Not inlined
 * into pass(), whose PG_TRY would leave its locals open to clobbering.
 */
static pg_noinline IndexFile *
list_indexes(int *n)
{
	MemoryContext cxt = CurrentMemoryContext;
	IndexFile  *files = NULL;
	int			allocated = 16;
	bool		have_extension;
	Oid			amoid = InvalidOid;

	*n = 0;
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	have_extension = OidIsValid(get_extension_oid("kyrodb", true));
	if (have_extension)
		amoid = get_index_am_oid("kyro_rmi", true);
	if (OidIsValid(amoid))
	{
		Relation	rel;
		TableScanDesc scan;
		HeapTuple	tup;
		ScanKeyData key[2];

		files = MemoryContextAllocZero(cxt, sizeof(IndexFile) * allocated);
		ScanKeyInit(&key[0], Anum_pg_class_relam, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(amoid));
		ScanKeyInit(&key[1], Anum_pg_class_relkind, BTEqualStrategyNumber,
					F_CHAREQ, CharGetDatum(RELKIND_INDEX));
		rel = table_open(RelationRelationId, AccessShareLock);
		scan = table_beginscan_catalog(rel, 2, key);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);

			/* other sessions' temporary indexes are not ours to open */
			if (form->relpersistence == RELPERSISTENCE_TEMP)
				continue;
			if (*n == allocated)
			{
				allocated *= 2;
				files = repalloc(files, sizeof(IndexFile) * allocated);
			}
			memset(&files[*n], 0, sizeof(IndexFile));
			files[(*n)++].indexoid = form->oid;
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	if (!have_extension)
	{
		/* no extension, no kyro_rmi index: none of the files is needed */
		KyroModelFilesDropDatabase(MyDatabaseId);
		leave(true);
	}
	if (files == NULL)
		files = MemoryContextAllocZero(cxt, sizeof(IndexFile));
	return files;
}

/*
 * Whether the index's lookups since the worker last looked call for a new
 * model; the rate and mean probe length are returned for the log.
 */
static bool
needs_retrain(KyroStatSlot *slot, double *rate, double *probe_length,
			  uint64 *lookups)
{
	KyroLookupCounts since;

	if (!KyroLookupsSinceLastLook(slot, (uint64) kyro_retrain_min_lookups, &since) ||
		since.lookups == 0)
		return false;
	*lookups = since.lookups;
	*rate = (double) since.mispredicts / since.lookups;
	*probe_length = (double) since.probes / since.lookups;
	return *rate > kyro_retrain_mispredict_rate ||
		*probe_length > kyro_retrain_probe_length;
}

/*
 * Fold index, or retrain its model, and say so in the log; returns false
 * if another fold (or VACUUM) was under way.
 */
static bool
fold_and_log(Relation index, int flags, const char *why, KyroFoldResult *result)
{
	KyroFoldResult r;

	/* an id for this transaction dates the pages the fold frees */
	(void) GetTopTransactionId();
	if (!KyroFold(index, flags, &r))
		return false;
	*result = r;
	if (flags & KYRO_FOLD_RETRAIN)
	{
		KyroCountEvent(RelationGetRelid(index), KYRO_EVENT_RETRAIN);
		ereport(LOG,
				(errmsg("kyrodb: retrained index \"%s\" (%s): epoch %u, %lld entries, in %.1f ms",
						RelationGetRelationName(index), why, r.epoch,
						(long long) r.snap_entries, r.usecs / 1000.0)));
	}
	else
		ereport(LOG,
				(errmsg("kyrodb: folded %lld delta entries of index \"%s\" into epoch %u in %.1f ms: %s fold, %u snapshot pages written, %u kept%s%s",
						(long long) r.delta_entries, RelationGetRelationName(index),
						r.epoch, r.usecs / 1000.0, KyroFoldKindName(r.kind),
						r.pages_written, r.pages_kept,
						r.retrained ? "" : " (model carried over)",
						r.carried > 0 ?
						psprintf(", %lld entries left for its next step",
								 (long long) r.carried) : "")));
	return true;
}

/*
 * One index's share of a pass: fold it (one step) if past its limit; on
 * a full pass also judge its model and see to its file; warm it if asked.
 * Returns whether the fold left steps to take.
 */
static bool
work_on_index(IndexFile *file, bool full, bool warm)
{
	bool		steps_left = false;
	KyroFoldResult r;
	Oid			heapoid;
	Relation	index;
	KyroMetaPage meta;
	uint64		delta;
	KyroStatSlot *slot;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	heapoid = IndexGetRelation(file->indexoid, true);
	if (!OidIsValid(heapoid) ||
		!ConditionalLockRelationOid(heapoid, RowExclusiveLock))
		goto done;
	if (!ConditionalLockRelationOid(file->indexoid, RowExclusiveLock))
	{
		UnlockRelationOid(heapoid, RowExclusiveLock);
		goto done;
	}
	index = try_relation_open(file->indexoid, NoLock);
	if (index == NULL)
		goto done;
	if (index->rd_rel->relam != get_index_am_oid("kyro_rmi", true))
	{
		relation_close(index, NoLock);
		goto done;
	}
	pgstat_report_activity(STATE_RUNNING, RelationGetRelationName(index));

	meta = KyroReadMeta(index);
	delta = KyroDeltaSize(index, meta);
	/*
	 * A request only wakes us: the limit decides, read now.  A frozen chain
	 * is a fold under way (its steps left), whatever the delta's size; and
	 * a fold publishes the pages inserts have split, or writes the first
	 * page of a kind an insert found missing (KyroFoldDue).
	 */
	if ((delta >= KyroDeltaLimit(index, meta->snap_entries) ||
		 meta->frozen.number != 0 ||
		 KyroFoldDue(file->indexoid, meta->key_pages)) &&
		fold_and_log(index, 0, "", &r))
		steps_left = r.carried > 0;

	slot = KyroGetStatSlot(file->indexoid, true);
	if (full && slot != NULL)
	{
		double		rate = 0;
		double		probe_length = 0;
		uint64		lookups = 0;

		if (needs_retrain(slot, &rate, &probe_length, &lookups))
		{
			char		why[128];

			snprintf(why, sizeof(why),
					 "%.1f%% of %llu lookups mispredicted, %.1f keys examined per lookup",
					 rate * 100, (unsigned long long) lookups, probe_length);
			fold_and_log(index, KYRO_FOLD_RETRAIN, why, &r);
		}
	}

	if (full || warm)
	{
		/* loading the views writes a missing model file */
		KyroSnapCache *snap;
		KyroDeltaCache *dview;

		KyroGetCaches(index, &snap, &dview);
		file->file = KyroModelFileNameOf(index, snap->epoch);
		file->seen = true;

		/*
		 * This process keeps its view (and mapping) for the epoch, so it
		 * would not notice the file gone: look, and write it from the model
		 * in hand.
		 */
		if (snap->has_model &&
			KyroModelFileSize(index, file->file.epoch) != (int64) snap->model_bytes &&
			KyroModelFileWrite(index, file->file.epoch, snap->model_buf,
							   snap->model_bytes))
			ereport(LOG,
					(errmsg("kyrodb: wrote the model file of index \"%s\" (epoch %u) again: it was missing or of the wrong size",
							RelationGetRelationName(index), file->file.epoch)));
		KyroReleaseCaches(snap, dview);
	}
	if (warm)
	{
		int64		blocks;
		int64		model_bytes;
		bool		from_file;

		KyroWarmup(index, &blocks, &model_bytes, &from_file);
		ereport(LOG,
				(errmsg("kyrodb: warmed index \"%s\": %lld blocks into shared buffers, %lld model bytes%s",
						RelationGetRelationName(index), (long long) blocks,
						(long long) model_bytes, from_file ? " from its file" : "")));
	}
	relation_close(index, NoLock);
done:
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return steps_left;
}

/*
 * One pass over the database's indexes; full passes also sweep.  Returns
 * whether an index was asked to be folded again meanwhile.
 */
static bool
pass(MemoryContext passcxt, bool full, bool warm)
{
	IndexFile  *files;
	int			n = 0;
	MemoryContext oldcxt;
	bool		again = false;

	MemoryContextReset(passcxt);
	oldcxt = MemoryContextSwitchTo(passcxt);
	files = list_indexes(&n);
	for (int i = 0; i < n; i++)
	{
		KyroStatSlot *slot = KyroGetStatSlot(files[i].indexoid, false);
		volatile bool requested = slot != NULL &&
			pg_atomic_exchange_u32(&slot->fold_requested, 0) != 0;

		if (!full && !requested && !warm)
			continue;
		PG_TRY();
		{
			/*
			 * Each step of a fold in a transaction of its own, so that the
			 * next can reuse the pages it freed (no MVCC snapshot of ours holds
			 * them back).
			 */
			if (work_on_index(&files[i], full, warm))
				while (work_on_index(&files[i], false, false))
					CHECK_FOR_INTERRUPTS();
		}
		PG_CATCH();
		{
			/* log it and go on with the next index */
			HOLD_INTERRUPTS();
			MemoryContextSwitchTo(passcxt);
			EmitErrorReport();
			AbortOutOfAnyTransaction();
			FlushErrorState();
			RESUME_INTERRUPTS();
			files[i].seen = false;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(passcxt);
		CHECK_FOR_INTERRUPTS();
		leave_if_paused();
	}
	if (full)
	{
		Oid		   *oids = palloc(sizeof(Oid) * Max(n, 1));
		KyroModelFileName *live = palloc(sizeof(KyroModelFileName) * Max(n, 1));
		int			nfiles = 0;
		bool		complete = true;

		for (int i = 0; i < n; i++)
		{
			oids[i] = files[i].indexoid;
			if (files[i].seen)
				live[nfiles++] = files[i].file;
			else
				complete = false;
		}
		KyroForgetIndexes(MyDatabaseId, oids, n);
		/* an index skipped (locked, failed) keeps its files until next time */
		if (complete)
			KyroModelFileSweep(MyDatabaseId, live, nfiles);
	}

	/*
	 * A request made while we worked may have set the latch only for a wait
	 * on the way (a lock, say) to reset it: look at the flags themselves.
	 */
	for (int i = 0; i < n && !again; i++)
	{
		KyroStatSlot *slot = KyroGetStatSlot(files[i].indexoid, false);

		again = slot != NULL && pg_atomic_read_u32(&slot->fold_requested) != 0;
	}
	MemoryContextSwitchTo(oldcxt);
	return again;
}

void
KyroWorkerMain(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	MemoryContext passcxt;
	TimestampTz last_full = 0;
	bool		warm;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);

	LWLockAcquire(KyroSharedLock(), LW_EXCLUSIVE);
	my_slot = find_slot(MyDatabaseId);
	if (my_slot != NULL && my_slot->pid == 0 && !my_slot->paused)
	{
		my_slot->pid = MyProcPid;
		my_slot->latch = MyLatch;
	}
	else
		my_slot = NULL;
	warm = my_slot != NULL && kyro_warm_on_start && !my_slot->warmed;
	if (warm)
		my_slot->warmed = true;
	LWLockRelease(KyroSharedLock());
	if (my_slot == NULL)
		proc_exit(0);			/* another worker has the database */
	before_shmem_exit(unregister_worker, 0);

	passcxt = AllocSetContextCreate(TopMemoryContext, "kyrodb worker pass",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz now;
		long		wait_ms;
		bool		full;
		bool		again;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!kyro_worker_enabled)
			leave(false);
		leave_if_paused();

		now = GetCurrentTimestamp();
		full = TimestampDifferenceExceeds(last_full, now, kyro_worker_naptime * 1000);
		again = pass(passcxt, full, warm);
		warm = false;
		if (full)
			last_full = now;
		if (again)
			continue;

		wait_ms = kyro_worker_naptime * 1000L -
			(GetCurrentTimestamp() - last_full) / 1000;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- Stopping a database's worker for commands that need it alone ---- */

/* Whether database dbid's worker is still registered. */
static bool
worker_registered(Oid dbid)
{
	KyroDatabaseSlot *db;
	bool		registered;

	LWLockAcquire(KyroSharedLock(), LW_SHARED);
	db = find_slot(dbid);
	registered = db != NULL && db->pid != 0;
	LWLockRelease(KyroSharedLock());
	return registered;
}

/*
 * Ask dbname's worker to leave, wait (a while) until it has, and keep the
 * launcher from starting another until resume_database(); returns the
 * database's oid, or InvalidOid.  No signal by pid: the worker's latch is
 * set under the lock that the worker clears it under as it exits, so it is
 * still that worker's; it leaves at its next look at the flag.  The
 * launcher, woken, also terminates it through its handle, which stops it
 * in the middle of a long fold.
 */
static Oid
pause_database(const char *dbname)
{
	Oid			dbid = get_database_oid(dbname, true);
	KyroDatabaseSlot *db;
	TimestampTz start;

	if (!OidIsValid(dbid) || !KyroSharedAvailable())
		return dbid;
	LWLockAcquire(KyroSharedLock(), LW_EXCLUSIVE);
	db = find_slot(dbid);
	if (db != NULL)
	{
		db->paused = true;
		if (db->latch != NULL)
			SetLatch(db->latch);
	}
	LWLockRelease(KyroSharedLock());
	if (db == NULL)
		return dbid;
	KyroWakeLauncher();

	start = GetCurrentTimestamp();
	while (worker_registered(dbid) &&
		   !TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   KYRO_STOP_WAIT_MS))
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 KYRO_STOP_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return dbid;
}

/* Let dbid have a worker again; forget it entirely if it was dropped. */
static void
resume_database(Oid dbid, bool dropped)
{
	KyroDatabaseSlot *db;

	if (!OidIsValid(dbid))
		return;
	if (dropped)
	{
		KyroModelFilesDropDatabase(dbid);
		KyroForgetIndexes(dbid, NULL, 0);
	}
	if (!KyroSharedAvailable())
		return;
	LWLockAcquire(KyroSharedLock(), LW_EXCLUSIVE);
	db = find_slot(dbid);
	if (db != NULL)
	{
		if (dropped)
			memset(db, 0, sizeof(KyroDatabaseSlot));
		else
			db->paused = false;
	}
	LWLockRelease(KyroSharedLock());
	KyroWakeLauncher();
}

/* The template a CREATE DATABASE copies, or NULL for the default. */
static const char *
template_of(CreatedbStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst(lc);

		if (strcmp(opt->defname, "template") == 0)
			return defGetString(opt);
	}
	return "template1";
}

/*
 * The database that the command must find no one else connected to (the
 * commands of dbcommands.c that call CountOtherDBBackends: CREATE DATABASE
 * of its template, DROP DATABASE, ALTER DATABASE RENAME TO and SET
 * TABLESPACE), or NULL; *dropped says whether the command drops it.
 */
static const char *
database_needed_alone(Node *parsetree, bool *dropped)
{
	*dropped = false;
	if (IsA(parsetree, DropdbStmt))
	{
		*dropped = true;
		return ((DropdbStmt *) parsetree)->dbname;
	}
	if (IsA(parsetree, CreatedbStmt))
		return template_of((CreatedbStmt *) parsetree);
	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		return ((RenameStmt *) parsetree)->subname;
	if (IsA(parsetree, AlterDatabaseStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
				return ((AlterDatabaseStmt *) parsetree)->dbname;
	}
	return NULL;
}

static void
kyro_utility_hook(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		drops;
	const char *alone = database_needed_alone(parsetree, &drops);
	volatile bool dropped = drops;
	volatile Oid paused = InvalidOid;

	if (alone != NULL)
		paused = pause_database(alone);

	PG_TRY();
	{
		if (prev_utility_hook)
			prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
							  queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		resume_database(paused, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	resume_database(paused, dropped);
}

void
KyroInstallUtilityHook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = kyro_utility_hook;
}
