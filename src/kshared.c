/*-------------------------------------------------------------------------
 *
 * kshared.c
 *	  KyroDB's shared memory: the counters of every kyro_rmi index, and the
 *	  registry through which backends, the launcher and the database
 *	  workers find one another.
 *
 * It exists only with shared_preload_libraries = 'kyrodb'.  Without it the
 * counters are not kept (kyrodb.stats() shows them as NULL) and inserting
 * backends fold for themselves.
 *
 * Counters: one slot per index, found once under the lock and then
 * remembered by each backend, so the lookup path adds to it with atomics
 * and no lock.  A slot records whose it is, in one atomic word; a backend
 * that finds the slot given to another index since (the worker frees the
 * slots of dropped indexes) looks again.  What the worker and backends both
 * write that is not a counter (the reset time, the detector's baseline) is
 * read and written under the lock only.
 *
 * Registry: one slot per database that has the extension, naming its
 * worker's latch, so that an insert past the delta limit can wake it, and
 * a command that needs the database to itself can ask it to leave.  All of
 * it under the lock.
 *
 * src/kshared.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "kyrodb.h"

typedef struct KyroShared
{
	LWLock	   *lock;			/* slots' owners and the registry */
	Latch	   *launcher_latch;
	KyroDatabaseSlot databases[KYRO_MAX_DATABASES];
	int			nslots;
	KyroStatSlot slots[FLEXIBLE_ARRAY_MEMBER];
} KyroShared;

static KyroShared *kyro_shared = NULL;

/* A slot's owner as one word, so that it is read whole without the lock. */
static inline uint64
slot_owner(Oid dbid, Oid indexoid)
{
	return ((uint64) dbid << 32) | indexoid;
}

/* This backend's memory of which slot is whose: indexoid -> slot number. */
typedef struct SlotMemo
{
	Oid			indexoid;
	int			slot;
} SlotMemo;

static HTAB *slot_memo = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
shared_size(void)
{
	return add_size(offsetof(KyroShared, slots),
					mul_size(kyro_max_indexes, sizeof(KyroStatSlot)));
}

static void
request_shared(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("kyrodb", 1);
}

static void
startup_shared(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	kyro_shared = ShmemInitStruct("kyrodb", shared_size(), &found);
	if (!found)
	{
		memset(kyro_shared, 0, shared_size());
		kyro_shared->lock = &(GetNamedLWLockTranche("kyrodb"))->lock;
		kyro_shared->nslots = kyro_max_indexes;
		for (int i = 0; i < kyro_shared->nslots; i++)
		{
			KyroStatSlot *slot = &kyro_shared->slots[i];

			pg_atomic_init_u64(&slot->owner, 0);
			pg_atomic_init_u32(&slot->fold_requested, 0);
			pg_atomic_init_u64(&slot->lookups, 0);
			pg_atomic_init_u64(&slot->probes, 0);
			pg_atomic_init_u64(&slot->mispredicts, 0);
			pg_atomic_init_u64(&slot->delta_hits, 0);
			pg_atomic_init_u64(&slot->pages, 0);
			pg_atomic_init_u64(&slot->right_moves, 0);
			pg_atomic_init_u64(&slot->inline_folds, 0);
			pg_atomic_init_u64(&slot->retrains, 0);
			pg_atomic_init_u64(&slot->repacks, 0);
			pg_atomic_init_u64(&slot->splits, 0);
			pg_atomic_init_u32(&slot->unpublished, 0);
			pg_atomic_init_u32(&slot->fold_due, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Ask for the shared memory; called from _PG_init while preloading. */
void
KyroSharedRequest(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shared;
#else
	request_shared();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = startup_shared;
}

/* Whether this server keeps KyroDB's shared memory (it was preloaded). */
bool
KyroSharedAvailable(void)
{
	return kyro_shared != NULL;
}

LWLock *
KyroSharedLock(void)
{
	return kyro_shared->lock;
}

KyroDatabaseSlot *
KyroDatabaseSlots(void)
{
	return kyro_shared->databases;
}

void
KyroSetLauncherLatch(Latch *latch)
{
	LWLockAcquire(kyro_shared->lock, LW_EXCLUSIVE);
	kyro_shared->launcher_latch = latch;
	LWLockRelease(kyro_shared->lock);
}

void
KyroWakeLauncher(void)
{
	Latch	   *latch;

	LWLockAcquire(kyro_shared->lock, LW_SHARED);
	latch = kyro_shared->launcher_latch;
	LWLockRelease(kyro_shared->lock);
	if (latch)
		SetLatch(latch);
}

/* Zero a slot's counters (its owner stays); the caller holds the lock. */
static void
zero_slot(KyroStatSlot *slot)
{
	pg_atomic_write_u32(&slot->fold_requested, 0);
	pg_atomic_write_u64(&slot->lookups, 0);
	pg_atomic_write_u64(&slot->probes, 0);
	pg_atomic_write_u64(&slot->mispredicts, 0);
	pg_atomic_write_u64(&slot->delta_hits, 0);
	pg_atomic_write_u64(&slot->pages, 0);
	pg_atomic_write_u64(&slot->right_moves, 0);
	pg_atomic_write_u64(&slot->inline_folds, 0);
	pg_atomic_write_u64(&slot->retrains, 0);
	pg_atomic_write_u64(&slot->repacks, 0);
	pg_atomic_write_u64(&slot->splits, 0);
	slot->seen_lookups = slot->seen_probes = slot->seen_mispredicts = 0;
	slot->reset_time = GetCurrentTimestamp();
}

/*
 * The counters of index indexoid of this database; with create, a free
 * slot is taken for it.  NULL without shared memory, or when every slot is
 * taken (kyrodb.max_indexes).
 */
KyroStatSlot *
KyroGetStatSlot(Oid indexoid, bool create)
{
	SlotMemo   *memo;
	bool		found;
	int			free_slot = -1;
	KyroStatSlot *result = NULL;
	uint64		owner = slot_owner(MyDatabaseId, indexoid);

	if (kyro_shared == NULL)
		return NULL;
	if (slot_memo == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(SlotMemo);
		ctl.hcxt = TopMemoryContext;
		slot_memo = hash_create("kyrodb counter slots", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memo = hash_search(slot_memo, &indexoid, HASH_FIND, NULL);
	if (memo != NULL)
	{
		KyroStatSlot *slot = &kyro_shared->slots[memo->slot];

		if (pg_atomic_read_u64(&slot->owner) == owner)
			return slot;
	}

	LWLockAcquire(kyro_shared->lock, create ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < kyro_shared->nslots; i++)
	{
		KyroStatSlot *slot = &kyro_shared->slots[i];
		uint64		slot_is = pg_atomic_read_u64(&slot->owner);

		if (slot_is == owner)
		{
			result = slot;
			break;
		}
		if (free_slot < 0 && slot_is == 0)
			free_slot = i;
	}
	if (result == NULL && create && free_slot >= 0)
	{
		result = &kyro_shared->slots[free_slot];
		zero_slot(result);
		pg_atomic_write_u64(&result->owner, owner);
	}
	LWLockRelease(kyro_shared->lock);

	if (result != NULL)
	{
		memo = hash_search(slot_memo, &indexoid, HASH_ENTER, &found);
		memo->slot = result - kyro_shared->slots;
	}
	return result;
}

/* Add a scan's counts to its index's counters and zero them. */
void
KyroAddScanCounts(Relation index, KyroScanCounts *counts)
{
	KyroStatSlot *slot;

	if (counts->lookups == 0 && counts->delta_hits == 0 && counts->pages == 0)
		return;
	slot = KyroGetStatSlot(RelationGetRelid(index), true);
	if (slot != NULL)
	{
		pg_atomic_fetch_add_u64(&slot->lookups, counts->lookups);
		pg_atomic_fetch_add_u64(&slot->probes, counts->probes);
		pg_atomic_fetch_add_u64(&slot->mispredicts, counts->mispredicts);
		pg_atomic_fetch_add_u64(&slot->delta_hits, counts->delta_hits);
		pg_atomic_fetch_add_u64(&slot->pages, counts->pages);
		pg_atomic_fetch_add_u64(&slot->right_moves, counts->right_moves);
	}
	memset(counts, 0, sizeof(KyroScanCounts));
}

/* Count one event (KYRO_EVENT_*) of an index. */
void
KyroCountEvent(Oid indexoid, int event)
{
	KyroStatSlot *slot = KyroGetStatSlot(indexoid, true);

	if (slot == NULL)
		return;
	if (event == KYRO_EVENT_INLINE_FOLD)
		pg_atomic_fetch_add_u64(&slot->inline_folds, 1);
	else if (event == KYRO_EVENT_RETRAIN)
		pg_atomic_fetch_add_u64(&slot->retrains, 1);
	else if (event == KYRO_EVENT_REPACK)
		pg_atomic_fetch_add_u64(&slot->repacks, 1);
	else if (event == KYRO_EVENT_SPLIT)
		pg_atomic_fetch_add_u64(&slot->splits, 1);
}

/* Splits an index may gather before they are published (kyrodb.h). */
static uint32
republish_splits(uint32 key_pages)
{
	return Max(KYRO_REPUBLISH_MIN_SPLITS, key_pages / KYRO_REPUBLISH_SHARE);
}

/*
 * An insert split a page (split) or walked hops right-links: count it;
 * true if the index's split pages are due to be published.  Without
 * shared memory only the walk's length can tell.
 */
bool
KyroNoteSplit(Oid indexoid, uint32 key_pages, uint32 hops)
{
	KyroStatSlot *slot = KyroGetStatSlot(indexoid, true);
	uint32		unpublished;

	if (slot == NULL)
		return hops >= KYRO_REPUBLISH_HOPS;
	pg_atomic_fetch_add_u64(&slot->splits, 1);
	unpublished = pg_atomic_add_fetch_u32(&slot->unpublished, 1);
	/* a long walk makes the republish due whatever the count */
	if (hops >= KYRO_REPUBLISH_HOPS && unpublished < republish_splits(key_pages))
	{
		pg_atomic_write_u32(&slot->unpublished, republish_splits(key_pages));
		unpublished = republish_splits(key_pages);
	}
	return unpublished >= republish_splits(key_pages);
}

/*
 * An insert found no page of its entry's kind (an index built with no
 * key, or no NULL): the next fold writes one, so make it due now (a flag
 * of its own: the split count's next increment would undo a count set
 * high).
 */
void
KyroNoteFoldDue(Oid indexoid)
{
	KyroStatSlot *slot = KyroGetStatSlot(indexoid, true);

	if (slot != NULL)
		pg_atomic_write_u32(&slot->fold_due, 1);
}

/* Whether a fold is due: split pages to publish, or a page of a kind to write. */
bool
KyroFoldDue(Oid indexoid, uint32 key_pages)
{
	KyroStatSlot *slot = KyroGetStatSlot(indexoid, false);

	return slot != NULL &&
		(pg_atomic_read_u32(&slot->unpublished) >= republish_splits(key_pages) ||
		 pg_atomic_read_u32(&slot->fold_due) != 0);
}

/* A fold has begun: it publishes every split made before it reads the pages. */
void
KyroSplitsPublished(Oid indexoid)
{
	KyroStatSlot *slot = KyroGetStatSlot(indexoid, false);

	if (slot != NULL)
	{
		pg_atomic_write_u32(&slot->unpublished, 0);
		pg_atomic_write_u32(&slot->fold_due, 0);
	}
}

/* Zero the counters of one index of dbid, or of all of dbid's indexes. */
void
KyroResetStats(Oid dbid, Oid indexoid)
{
	if (kyro_shared == NULL)
		return;
	LWLockAcquire(kyro_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < kyro_shared->nslots; i++)
	{
		KyroStatSlot *slot = &kyro_shared->slots[i];
		uint64		slot_is = pg_atomic_read_u64(&slot->owner);

		if (slot_is != 0 && (Oid) (slot_is >> 32) == dbid &&
			(indexoid == InvalidOid || (Oid) slot_is == indexoid))
			zero_slot(slot);
	}
	LWLockRelease(kyro_shared->lock);
}

/* When a slot's counters were last zeroed. */
TimestampTz
KyroStatResetTime(KyroStatSlot *slot)
{
	TimestampTz t;

	LWLockAcquire(kyro_shared->lock, LW_SHARED);
	t = slot->reset_time;
	LWLockRelease(kyro_shared->lock);
	return t;
}

/*
 * What the index's lookups did since the worker's last look, if they were
 * at least min_lookups: then that is returned and becomes the baseline of
 * the next look; else false, and the baseline stays (the counts add up over
 * passes).  Under the lock, so that a reset never falls between the reads
 * and the writes.
 */
bool
KyroLookupsSinceLastLook(KyroStatSlot *slot, uint64 min_lookups,
						 KyroLookupCounts *since)
{
	uint64		l;
	uint64		p;
	uint64		m;
	bool		enough = false;

	LWLockAcquire(kyro_shared->lock, LW_EXCLUSIVE);
	l = pg_atomic_read_u64(&slot->lookups);
	p = pg_atomic_read_u64(&slot->probes);
	m = pg_atomic_read_u64(&slot->mispredicts);
	if (l < slot->seen_lookups || p < slot->seen_probes ||
		m < slot->seen_mispredicts)
	{
		/* zeroed without its baseline: a guard, resets zero both */
		slot->seen_lookups = slot->seen_probes = slot->seen_mispredicts = 0;
	}
	else if (l - slot->seen_lookups >= min_lookups)
	{
		since->lookups = l - slot->seen_lookups;
		since->probes = p - slot->seen_probes;
		since->mispredicts = m - slot->seen_mispredicts;
		slot->seen_lookups = l;
		slot->seen_probes = p;
		slot->seen_mispredicts = m;
		enough = true;
	}
	LWLockRelease(kyro_shared->lock);
	return enough;
}

/*
 * Free the slots of dbid's indexes that are not in keep[0..nkeep) (the
 * worker passes the indexes that exist; DROP DATABASE passes none).
 */
void
KyroForgetIndexes(Oid dbid, const Oid *keep, int nkeep)
{
	if (kyro_shared == NULL)
		return;
	LWLockAcquire(kyro_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < kyro_shared->nslots; i++)
	{
		KyroStatSlot *slot = &kyro_shared->slots[i];
		uint64		slot_is = pg_atomic_read_u64(&slot->owner);
		bool		kept = false;

		if (slot_is == 0 || (Oid) (slot_is >> 32) != dbid)
			continue;
		for (int k = 0; k < nkeep && !kept; k++)
			kept = keep[k] == (Oid) slot_is;
		if (!kept)
			pg_atomic_write_u64(&slot->owner, 0);
	}
	LWLockRelease(kyro_shared->lock);
}

/* This database's registry slot, or NULL; the caller holds the lock. */
static KyroDatabaseSlot *
find_database(Oid dbid)
{
	for (int i = 0; i < KYRO_MAX_DATABASES; i++)
		if (kyro_shared->databases[i].dbid == dbid)
			return &kyro_shared->databases[i];
	return NULL;
}

/*
 * Tell the launcher that this database has kyro_rmi indexes, so that it
 * keeps a worker here (once per backend is enough: the launcher remembers).
 */
void
KyroNoteDatabase(void)
{
	static bool noted = false;
	KyroDatabaseSlot *db;
	bool		wake = false;

	if (kyro_shared == NULL || noted || !OidIsValid(MyDatabaseId))
		return;
	LWLockAcquire(kyro_shared->lock, LW_EXCLUSIVE);
	db = find_database(MyDatabaseId);
	if (db == NULL)
		db = find_database(InvalidOid);
	if (db != NULL)
	{
		wake = !db->wanted || db->dbid != MyDatabaseId;
		db->dbid = MyDatabaseId;
		db->wanted = true;
		noted = true;
	}
	LWLockRelease(kyro_shared->lock);
	if (wake)
		KyroWakeLauncher();
}

/*
 * An insert passed the delta limit: ask this database's worker to fold the
 * index.  False if there is no worker to ask (the caller folds itself).
 */
bool
KyroRequestFold(Relation index)
{
	KyroDatabaseSlot *db;
	KyroStatSlot *slot;
	Latch	   *latch = NULL;

	/* the worker cannot open other sessions' temporary indexes */
	if (kyro_shared == NULL || !kyro_worker_enabled ||
		index->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	slot = KyroGetStatSlot(RelationGetRelid(index), true);
	if (slot == NULL)
		return false;

	/*
	 * Asked already: every insert until the worker freezes the delta comes
	 * here, and needs neither the lock nor the latch (if that worker died,
	 * its successor's first pass, or the ceiling, takes over).
	 */
	if (pg_atomic_read_u32(&slot->fold_requested) != 0)
		return true;
	KyroNoteDatabase();
	LWLockAcquire(kyro_shared->lock, LW_SHARED);
	db = find_database(MyDatabaseId);
	if (db != NULL && db->pid != 0 && !db->paused)
		latch = db->latch;
	LWLockRelease(kyro_shared->lock);
	if (latch == NULL)
		return false;
	/* wake the worker once per request, not at every insert past the limit */
	if (pg_atomic_exchange_u32(&slot->fold_requested, 1) == 0)
		SetLatch(latch);
	return true;
}
