/*-------------------------------------------------------------------------
 *
 * kcache.c
 *	  What a backend keeps of each kyro_rmi index between scans: the
 *	  current snapshot's directory and model, and a sorted copy of the
 *	  delta that it refreshes by reading only what was appended since.
 *
 * A rescan reads the metapage once and reuses these when nothing changed,
 * so it allocates nothing.  Scans pin the caches they use; a cache that
 * changes while pinned (a nested scan of the same index refreshed it) is
 * replaced, not modified, and the old one is freed when its last pin goes.
 * At the end of a transaction no scan is left, so every pin is dropped.
 *
 * src/kcache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "kyrodb.h"

typedef struct KyroCacheEntry
{
	Oid			indexoid;		/* hash key */
	Oid			relfilenode;
	KyroSnapCache *snap;
	KyroDeltaCache *delta;
} KyroCacheEntry;

static HTAB *kyro_cache = NULL;
static MemoryContext kyro_cache_cxt = NULL;
static List *retired_caches = NIL;	/* KyroCacheHead: pinned, no longer current */

/* The metapage as a rescan reads it: a static copy, so rescans allocate nothing. */
static union
{
	KyroMetaPageData meta;
	char		bytes[KYRO_PAGE_CONTENT];
}			meta_copy;

/* Free a cache, or put it aside until its last pin goes. */
static void
retire(KyroCacheHead *cache)
{
	MemoryContext oldcxt;

	if (cache == NULL)
		return;
	if (cache->refcount == 0)
	{
		MemoryContextDelete(cache->cxt);
		return;
	}
	cache->retired = true;
	oldcxt = MemoryContextSwitchTo(kyro_cache_cxt);
	retired_caches = lappend(retired_caches, cache);
	MemoryContextSwitchTo(oldcxt);
}

/* Drop one pin of a cache; the last pin of a retired cache frees it. */
static void
release(KyroCacheHead *cache)
{
	if (cache != NULL && cache->refcount > 0 && --cache->refcount == 0 &&
		cache->retired)
	{
		retired_caches = list_delete_ptr(retired_caches, cache);
		MemoryContextDelete(cache->cxt);
	}
}

/* At transaction end no scan survives: drop every pin, free the retired. */
static void
kyro_cache_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	KyroCacheEntry *entry;
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	if (kyro_cache == NULL)
		return;
	hash_seq_init(&status, kyro_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->snap)
			entry->snap->head.refcount = 0;
		if (entry->delta)
			entry->delta->head.refcount = 0;
	}
	foreach(lc, retired_caches)
		MemoryContextDelete(((KyroCacheHead *) lfirst(lc))->cxt);
	list_free(retired_caches);
	retired_caches = NIL;
}

/* Set the cache up on first use. */
static void
init_cache(void)
{
	HASHCTL		ctl;

	kyro_cache_cxt = AllocSetContextCreate(TopMemoryContext, "kyro_rmi cache",
										   ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(KyroCacheEntry);
	ctl.hcxt = kyro_cache_cxt;
	kyro_cache = hash_create("kyro_rmi cache", 16, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	RegisterXactCallback(kyro_cache_xact_callback, NULL);
}

/* Unmap a cache's model file when its memory goes. */
static void
unmap_model(void *arg)
{
	KyroSnapCache *cache = (KyroSnapCache *) arg;

	if (cache->model_mapped)
		munmap(cache->model_buf, cache->model_bytes);
	cache->model_mapped = false;
}

/*
 * Map the model file of meta's view into cache.  False if it cannot be used;
 * if it was there but bad, or is missing on a primary whose metapage still
 * names this view, that is worth a WARNING (once: the cache lives for the
 * epoch, and the caller writes the file again).
 */
static bool
map_model_file(Relation index, KyroMetaPage meta, KyroSnapCache *cache,
			   uint64 checksum)
{
	const char *why;
	void	   *addr;

	addr = KyroModelFileMap(index, meta->epoch, meta->model_bytes, checksum,
							&cache->model, &why);
	if (addr == NULL)
	{
		bool		expected = false;

		/* a standby writes its own files; a fold may just have moved on */
		if (strcmp(why, "missing") == 0)
		{
			KyroMetaPage now = KyroReadMeta(index);

			expected = RecoveryInProgress() || now->epoch != meta->epoch;
			pfree(now);
		}
		if (!expected)
			ereport(WARNING,
					(errmsg("model file of index \"%s\" (epoch %u) is %s",
							RelationGetRelationName(index), meta->epoch, why),
					 errdetail("Lookups use the model pages; the file is written again.")));
		return false;
	}
	cache->model_buf = addr;
	cache->model_bytes = meta->model_bytes;
	cache->model_mapped = true;
	cache->unmap.func = unmap_model;
	cache->unmap.arg = cache;
	MemoryContextRegisterResetCallback(cache->head.cxt, &cache->unmap);
	return true;
}

/*
 * Load the model of meta's view: from its file when there is a good one,
 * else from the model pages (then writing the file).  Returns false if a
 * page was recycled under us (the caller starts over); a model that fails
 * its checks leaves has_model false.
 */
static bool
load_model(Relation index, KyroMetaPage meta, KyroSnapCache *cache)
{
	char	   *buf;
	bool		recycled;
	RmiStatus	status;
	uint64		checksum = 0;
	bool		use_file = KyroModelFileApplies(index);

	cache->has_model = false;
	if (meta->model_pages == 0 || meta->model_bytes == 0)
		return true;
	if (use_file)
	{
		status = KyroModelTail(index, meta, cache->items, &checksum, &recycled);
		if (recycled)
			return false;
		if (status == RMI_OK && map_model_file(index, meta, cache, checksum))
		{
			cache->has_model = true;
			return true;
		}
	}
	status = KyroLoadModel(index, meta, cache->items, cache->head.cxt,
						   &cache->model, &buf, &recycled);
	if (recycled)
		return false;
	if (status != RMI_OK)
	{
		ereport(WARNING,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("model of index \"%s\" is unusable: %s",
						RelationGetRelationName(index), rmi_status_message(status)),
				 errdetail("Lookups search the snapshot without the model until it is rebuilt."),
				 errhint(KYRO_DAMAGE_HINT)));
		return true;
	}
	cache->model_buf = buf;
	cache->model_bytes = meta->model_bytes;
	cache->has_model = true;
	if (KyroModelFileWrite(index, meta->epoch, buf, meta->model_bytes))
		KyroModelFileRemoveOlder(index, meta->epoch);
	return true;
}

/* A new cache of meta's snapshot, or NULL if its pages were recycled. */
static KyroSnapCache *
load_snap_cache(Relation index, KyroMetaPage meta)
{
	MemoryContext cxt = AllocSetContextCreate(kyro_cache_cxt,
											  "kyro_rmi snapshot cache",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	KyroSnapCache *cache = palloc0(sizeof(KyroSnapCache));

	cache->head.cxt = cxt;
	cache->epoch = meta->epoch;
	cache->snap_entries = meta->snap_entries;
	cache->snap_nonnull = meta->snap_nonnull;
	cache->snap_pages = meta->snap_pages;
	cache->key_pages = meta->key_pages;
	cache->items = KyroReadDirectory(index, meta);
	if (cache->items != NULL)
	{
		cache->first_keys = palloc(sizeof(uint64) * Max(cache->key_pages, 1));
		cache->null_keys = palloc0(sizeof(uint64) *
								  Max(cache->snap_pages - cache->key_pages, 1));
		for (uint32 p = 0; p < cache->key_pages; p++)
			cache->first_keys[p] = cache->items[p].first_key;
		cache->hint_block = InvalidBlockNumber;
	}
	MemoryContextSwitchTo(oldcxt);
	if (cache->items == NULL || !load_model(index, meta, cache))
	{
		MemoryContextDelete(cxt);
		return NULL;
	}
	return cache;
}

/* Whether delta cache v was read from the chains meta names. */
static bool
delta_matches(KyroDeltaCache *v, KyroMetaPage meta)
{
	return v->vacuum_generation == meta->vacuum_generation &&
		v->frozen.number == meta->frozen.number &&
		v->active.number == meta->active.number;
}

/*
 * Whether the active chain has entries that cache has not read: a page
 * added since, or more entries on the tail page it read last (inserts
 * append there without touching the metapage).  Asked of a pinned cache
 * only, which must be copied before it takes them; an unpinned one just
 * reads on from where it stopped, which looks at the tail page once.
 */
static bool
delta_grew(Relation index, KyroMetaPage meta, KyroDeltaCache *cache)
{
	if (meta->active.tail != cache->read_block ||
		meta->active.before_tail != cache->active.before_tail)
		return true;
	return KyroTailCount(index, &meta->active) != cache->read_count;
}

/* A run of the n entries at a and b, merged, in cache's memory. */
static KyroDeltaRun
merge_runs(KyroDeltaCache *cache, const KyroDeltaRun *a, const KyroDeltaRun *b)
{
	KyroDeltaRun out;
	int64		i = 0;
	int64		j = 0;

	out.n = a->n + b->n;
	out.items = MemoryContextAllocHuge(cache->head.cxt, sizeof(KyroDeltaItem) * out.n);
	for (int64 k = 0; k < out.n; k++)
	{
		if (j >= b->n ||
			(i < a->n &&
			 KyroEntryCompare(&a->items[i].entry, &b->items[j].entry) <= 0))
			out.items[k] = a->items[i++];
		else
			out.items[k] = b->items[j++];
	}
	return out;
}

/*
 * Add the sorted items[0..n), allocated in cache's memory, to cache as a
 * run of their own, then merge the last two runs while the last is at
 * least half the size of the one before it, or while there are too many.
 */
static void
add_run(KyroDeltaCache *cache, KyroDeltaItem *items, int64 n)
{
	KyroDeltaRun *last;

	last = &cache->runs[cache->nruns++];
	last->n = n;
	last->items = items;
	while (cache->nruns >= 2 &&
		   (cache->runs[cache->nruns - 2].n <= 2 * cache->runs[cache->nruns - 1].n ||
			cache->nruns == KYRO_DELTA_MAX_RUNS))
	{
		KyroDeltaRun *a = &cache->runs[cache->nruns - 2];
		KyroDeltaRun *b = &cache->runs[cache->nruns - 1];
		KyroDeltaRun merged = merge_runs(cache, a, b);

		pfree(a->items);
		pfree(b->items);
		*a = merged;
		cache->nruns--;
	}
}

/*
 * Add the entries read from one chain (active or not), with their places,
 * to cache as a run, sorted unless they are in order already.
 */
static void
sort_into_run(KyroDeltaCache *cache, KyroEntryArray *add, bool active)
{
	KyroDeltaItem *items = MemoryContextAllocHuge(cache->head.cxt,
												  sizeof(KyroDeltaItem) * add->n);

	for (int64 i = 0; i < add->n; i++)
	{
		items[i].entry = add->items[i];
		items[i].place = add->places[i];
		items[i].place.active = active;
	}
	for (int64 i = 1; i < add->n; i++)
	{
		if (KyroEntryCompare(&items[i - 1].entry, &items[i].entry) > 0)
		{
			/* the entry leads each item, so the entries' comparator serves */
			qsort(items, add->n, sizeof(KyroDeltaItem), KyroEntryCmpQsort);
			break;
		}
	}
	add_run(cache, items, add->n);
}

/*
 * Read the part of the chains that cache has not seen into it.  Returns
 * false if a page was recycled meanwhile (the caller starts over).
 */
static bool
read_new_entries(Relation index, KyroMetaPage meta, KyroDeltaCache *cache,
				 bool from_scratch)
{
	KyroEntryArray add = {.want_places = true};
	BlockNumber last_block;
	uint32		last_count;
	bool		ok = true;

	/* the frozen chain is a run of its own: a fold's step wrote it sorted */
	if (from_scratch && meta->frozen.number != 0)
	{
		ok = KyroReadChain(index, meta->frozen.number, meta->frozen.head, 0,
						   &add, &last_block, &last_count, NULL, NULL);
		if (ok && add.n > 0)
		{
			sort_into_run(cache, &add, false);
			add.n = 0;
		}
	}
	if (ok && meta->active.number != 0 && meta->active.head != InvalidBlockNumber)
	{
		BlockNumber start = cache->read_block != InvalidBlockNumber ?
		cache->read_block : meta->active.head;

		ok = KyroReadChain(index, meta->active.number, start, cache->read_count,
						   &add, &last_block, &last_count, NULL, NULL);
		if (ok && last_block != InvalidBlockNumber)
		{
			cache->read_block = last_block;
			cache->read_count = last_count;
		}
	}
	if (ok && add.n > 0)
		sort_into_run(cache, &add, true);
	if (add.items)
		pfree(add.items);
	if (add.places)
		pfree(add.places);
	return ok;
}

/* A new, empty delta cache for meta's chains. */
static KyroDeltaCache *
new_delta_cache(KyroMetaPage meta)
{
	MemoryContext cxt = AllocSetContextCreate(kyro_cache_cxt,
											  "kyro_rmi delta cache",
											  ALLOCSET_SMALL_SIZES);
	KyroDeltaCache *cache = MemoryContextAllocZero(cxt, sizeof(KyroDeltaCache));

	cache->head.cxt = cxt;
	cache->vacuum_generation = meta->vacuum_generation;
	cache->frozen = meta->frozen;
	cache->active = meta->active;
	cache->read_block = InvalidBlockNumber;
	return cache;
}

/* A copy of cache that can be extended while cache stays pinned. */
static KyroDeltaCache *
copy_delta_cache(KyroDeltaCache *cache, KyroMetaPage meta)
{
	KyroDeltaCache *copy = new_delta_cache(meta);

	copy->read_block = cache->read_block;
	copy->read_count = cache->read_count;
	for (int r = 0; r < cache->nruns; r++)
	{
		KyroDeltaRun *run = &copy->runs[r];

		run->n = cache->runs[r].n;
		run->items = MemoryContextAllocHuge(copy->head.cxt,
											sizeof(KyroDeltaItem) * run->n);
		memcpy(run->items, cache->runs[r].items, sizeof(KyroDeltaItem) * run->n);
	}
	copy->nruns = cache->nruns;
	return copy;
}

/*
 * Pin the current caches of index: its snapshot and model, and (if delta
 * is not NULL) its delta up to date with the metapage, all as of one
 * reading of the metapage.  An insert takes the snapshot alone, to route
 * its key to a page.
 */
void
KyroGetCaches(Relation index, KyroSnapCache **snap, KyroDeltaCache **delta)
{
	Oid			indexoid = RelationGetRelid(index);
	KyroCacheEntry *entry;
	bool		found;
	uint32		failed_epoch = 0;
	uint32		failed_chain = 0;

	if (kyro_cache == NULL)
		init_cache();
	entry = hash_search(kyro_cache, &indexoid, HASH_ENTER, &found);
	if (!found)
	{
		entry->snap = NULL;
		entry->delta = NULL;
		entry->relfilenode = InvalidOid;
	}
	/* REINDEX and TRUNCATE give the index new storage */
	if (entry->relfilenode != index->rd_rel->relfilenode)
	{
		retire((KyroCacheHead *) entry->snap);
		retire((KyroCacheHead *) entry->delta);
		entry->snap = NULL;
		entry->delta = NULL;
		entry->relfilenode = index->rd_rel->relfilenode;
	}

	for (int attempt = 0;; attempt++)
	{
		KyroMetaPage meta = &meta_copy.meta;
		KyroDeltaCache *cache = entry->delta;
		bool		ok = true;

		KyroReadMetaInto(index, meta);

		/*
		 * A page that is not what the metapage says is a page recycled since
		 * we read it: the metapage has moved on.  If it has not, the index is
		 * damaged.
		 */
		if (attempt > 0 && meta->epoch == failed_epoch &&
			meta->active.number == failed_chain)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has pages that do not match its metapage",
							RelationGetRelationName(index)),
					 errhint(KYRO_DAMAGE_HINT)));
		failed_epoch = meta->epoch;
		failed_chain = meta->active.number;

		if (entry->snap == NULL || entry->snap->epoch != meta->epoch)
		{
			KyroSnapCache *fresh = load_snap_cache(index, meta);

			if (fresh == NULL)
				continue;		/* recycled under us: read the metapage again */
			retire((KyroCacheHead *) entry->snap);
			entry->snap = fresh;
		}

		if (delta == NULL)
			break;
		if (cache == NULL || !delta_matches(cache, meta))
		{
			retire((KyroCacheHead *) cache);
			entry->delta = cache = new_delta_cache(meta);
			ok = read_new_entries(index, meta, cache, true);
		}
		else if (meta->active.number != 0 &&
				 (cache->head.refcount == 0 || delta_grew(index, meta, cache)))
		{
			if (cache->head.refcount > 0)
			{
				KyroDeltaCache *copy = copy_delta_cache(cache, meta);

				retire((KyroCacheHead *) cache);
				entry->delta = cache = copy;
			}
			ok = read_new_entries(index, meta, cache, false);
			cache->active = meta->active;
		}
		if (!ok)
		{
			/* a chain was folded and recycled meanwhile: start afresh */
			retire((KyroCacheHead *) entry->delta);
			entry->delta = NULL;
			continue;
		}
		break;
	}
	entry->snap->head.refcount++;
	*snap = entry->snap;
	if (delta != NULL)
	{
		entry->delta->head.refcount++;
		*delta = entry->delta;
	}
}

/* Unpin caches taken by KyroGetCaches. */
void
KyroReleaseCaches(KyroSnapCache *snap, KyroDeltaCache *delta)
{
	release((KyroCacheHead *) snap);
	release((KyroCacheHead *) delta);
}
