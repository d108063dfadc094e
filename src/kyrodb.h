/*-------------------------------------------------------------------------
 *
 * kyrodb.h
 *	  Declarations shared by the PostgreSQL-facing files of KyroDB.
 *
 * The model code in src/rmi/ has its own header (rmi/rmi.h) and knows
 * nothing of PostgreSQL; this header is for the access method around it.
 *
 * On-disk structure (all of it in the index relation, WAL-logged):
 *	block 0			the metapage: the current view (epoch, directory, counts,
 *					delta chains)
 *	directory		an item per snapshot page (block, first entry, count),
 *					then the model's blocks
 *	snapshot		entries sorted by (key, TID), packed per page by the page
 *					codec (rmi/rmi_page.h), NULL entries on pages of their own
 *					at the end
 *	model			the serialised root RMI over the pages' first keys, byte
 *					after byte across pages
 *	delta			chains of pages that inserts append to
 * Every page carries a page id, its kind and a tag, and every path that
 * follows a view reads pages through KyroReadViewPage, which checks them
 * (VACUUM, which reads every block, checks them with the same
 * KyroPageProblem).  DESIGN.md explains
 * the format ("Storage"), the words used here ("Words") and the locks
 * ("Locks").
 *
 * src/kyrodb.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KYRODB_H
#define KYRODB_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/itup.h"
#include "access/transam.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "nodes/tidbitmap.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
#include "utils/relcache.h"

#include "kcompat.h"
#include "rmi/rmi.h"
#include "rmi/rmi_page.h"
#include "rmi/rmi_area.h"

/*
 * Version of the shared library.  It must equal default_version in
 * kyrodb.control; the regression tests compare the two.
 */
#define KYRODB_VERSION "0.3.0"

/* ---- On-disk format ---- */

#define KYRO_MAGIC				0x4B59524FU	/* "KYRO" */
#define KYRO_FORMAT_VERSION		4	/* 1: 0.1.0, fixed-width entries; 2: one
										 * epoch for every snapshot page; 3:
										 * 0.2, no insert areas */
#define KYRO_FORMAT_NO_AREAS	3	/* still read and written, without areas */
#define KYRO_METAPAGE_BLKNO		0
#define KYRO_PAGE_ID			0xFF87	/* tells pg_filedump our pages apart */

/* Page kinds, in KyroPageOpaque.flags */
#define KYRO_PAGE_META			0x0001
#define KYRO_PAGE_DIRECTORY		0x0002
#define KYRO_PAGE_SNAPSHOT		0x0004
#define KYRO_PAGE_MODEL			0x0008
#define KYRO_PAGE_DELTA			0x0010
#define KYRO_PAGE_KINDS			0x001F
#define KYRO_PAGE_DELETED		0x0100	/* freed; content intact until reused */
#define KYRO_PAGE_NULLS			0x0200	/* snapshot page of NULL entries */
#define KYRO_PAGE_REPLACED		0x0400	/* a fold has read the snapshot page
										 * to rewrite it: it takes no more
										 * inserts (DESIGN.md, "Inserts") */

typedef struct KyroPageOpaqueData
{
	FullTransactionId deleted_xid;	/* when a fold freed the page */
	uint32		tag;			/* epoch, or delta chain number */
	uint32		count;			/* entries, block numbers or model bytes */
	BlockNumber next;			/* delta: next page of the chain */
	uint16		flags;
	uint16		page_id;		/* KYRO_PAGE_ID, last, as in other AMs */
} KyroPageOpaqueData;

typedef KyroPageOpaqueData *KyroPageOpaque;

#define KyroPageGetOpaque(page) \
	((KyroPageOpaque) PageGetSpecialPointer(page))
#define KyroPageKind(page)	(KyroPageGetOpaque(page)->flags & KYRO_PAGE_KINDS)

/* Bytes of a page between its header and its special space. */
#define KYRO_PAGE_CONTENT \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(KyroPageOpaqueData)))

/*
 * A snapshot page: its entries encoded by the page codec (rmi/rmi_page.h),
 * which packs them at widths chosen for this page alone and keeps a model
 * of the page's own keys, then (format 4) its insert area (rmi/rmi_area.h)
 * in the bytes the packing leaves free: the page's hole, between pd_lower
 * and pd_upper, is the area's free space.  The snapshot's NULL entries
 * come last, on pages of their own flagged KYRO_PAGE_NULLS (their keys
 * encode as 0), which take inserts as pages of keys do.
 */
#define KyroSnapContent(page)	((void *) PageGetContents(page))

extern void KyroSetAreaHole(Page page);

/*
 * A directory item: where one snapshot page is and what it starts with, so
 * that the root model and the scan route a key to a page without reading
 * it.  Model pages follow the snapshot pages in the directory; their items
 * carry only the block, the tag and the bytes on the page.
 *
 * A snapshot page keeps the tag of the fold that wrote it: a fold that
 * leaves a page alone carries its item, tag and all, into the new
 * directory.  Tags are never reused, so a block recycled since a reader
 * took its view shows a tag other than its item's.
 */
typedef struct KyroDirItem
{
	uint64		first_key;		/* key of the page's first entry */
	BlockNumber block;
	uint32		tag;			/* epoch of the fold that wrote the page */
	BlockNumber first_block;	/* TID of the page's first entry */
	uint16		first_offset;
	uint16		flags;			/* the page's KYRO_PAGE_NULLS */
	uint32		count;			/* entries packed on the page when the view
								 * was written (model: bytes) */
	BlockNumber siblings_end;	/* the page's right-link when the view was
								 * written: the pages split off it since lie
								 * before it (DESIGN.md, "Splits"); 0 if it
								 * had none */
} KyroDirItem;

/* A chain read checks for a loop once it has read this many pages. */
#define KYRO_CHAIN_LOOP_CHECK	1024

/* A delta page: an array of entries, appended to. */
typedef struct KyroDeltaEntry
{
	uint64		key;
	ItemPointerData tid;
	uint8		isnull;
	uint8		dead;
} KyroDeltaEntry;

#define KYRO_DELTA_PER_PAGE	(KYRO_PAGE_CONTENT / sizeof(KyroDeltaEntry))
#define KyroDeltaEntries(page)	((KyroDeltaEntry *) PageGetContents(page))

/* Append entry to a delta page with room; the page's hole shrinks by it. */
static inline void
KyroDeltaAppend(Page page, const KyroDeltaEntry *entry)
{
	KyroPageOpaque opaque = KyroPageGetOpaque(page);

	KyroDeltaEntries(page)[opaque->count++] = *entry;
	((PageHeader) page)->pd_lower =
		(char *) &KyroDeltaEntries(page)[opaque->count] - (char *) page;
}

/* A directory page: items. */
#define KYRO_DIR_PER_PAGE	((uint32) (KYRO_PAGE_CONTENT / sizeof(KyroDirItem)))
#define KyroDirItems(page)	((KyroDirItem *) PageGetContents(page))

/* Model pages: the serialised model, KYRO_PAGE_CONTENT bytes a page. */
#define KYRO_MODEL_PER_PAGE	KYRO_PAGE_CONTENT

/*
 * A delta chain as the metapage records it.  Inserts append to the tail
 * page under the metapage's share lock, so the metapage counts only the
 * entries on the pages before the tail; the tail page counts its own
 * (KyroDeltaSize adds them up).
 */
typedef struct KyroChain
{
	uint32		number;			/* tag of its pages; 0: no chain */
	BlockNumber head;
	BlockNumber tail;
	uint32		pad;
	uint64		before_tail;	/* entries on the pages before the tail */
} KyroChain;

typedef struct KyroMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		epoch;			/* number of the current snapshot */
	uint32		next_epoch;		/* next number a fold may take */
	uint32		next_chain;		/* next delta chain number */
	uint32		vacuum_generation;	/* bumped whenever dead flags are set */
	uint64		snap_entries;	/* all snapshot entries, NULLs included */
	uint64		snap_nonnull;	/* entries with a key: positions [0, this) */
	uint64		snap_dead;		/* packed entries flagged dead: an
								 * estimate, counted by each fold */
	uint32		snap_pages;
	uint32		model_pages;
	uint32		model_bytes;
	uint32		dir_pages;
	uint32		key_pages;		/* snapshot pages with keys; NULL pages follow */
	uint32		pad;
	KyroChain	active;			/* inserts append here */
	KyroChain	frozen;			/* being folded: while a fold runs, and
								 * between the steps of one */
	uint64		folds;
	TimestampTz last_fold_time;
	int64		last_fold_usecs;
	BlockNumber dir_blocks[FLEXIBLE_ARRAY_MEMBER];
} KyroMetaPageData;

typedef KyroMetaPageData *KyroMetaPage;

#define KyroPageGetMeta(page)	((KyroMetaPage) PageGetContents(page))
#define KYRO_MAX_DIR_PAGES \
	((KYRO_PAGE_CONTENT - offsetof(KyroMetaPageData, dir_blocks)) / sizeof(BlockNumber))

/* ---- KyroDB's own WAL records (kwal.c) ---- */

/*
 * The resource manager's id, in the range PostgreSQL keeps for extensions
 * (128 to 255, see the wiki page "CustomWALResourceManagers"), and its
 * name, which wal_consistency_checking takes.  Records carry the id, so
 * it never changes.
 */
#define KYRO_RMGR_ID			171
#define KYRO_RMGR_NAME			"kyrodb"

extern void KyroRegisterRmgr(void);
extern bool KyroOwnWal(void);
extern void KyroWalDeltaAppend(Relation index, Buffer buf,
							   const KyroDeltaEntry *entry);
extern void KyroWalAreaInsert(Relation index, Buffer buf,
							  const RmiPageEntry *entry);
extern void KyroLogRepack(Relation index, Buffer buffer);
extern void KyroLogSplit(Relation index, Buffer left, Buffer right);
extern void KyroLogRevive(Relation index, Buffer buffer);

/* A change to the metapage, logged as KyroDB's record or generic WAL. */
typedef struct KyroMetaChange
{
	Relation	index;
	Buffer		buffer;
	GenericXLogState *state;	/* NULL: KyroDB's own record */
} KyroMetaChange;

extern KyroMetaPage KyroStartMetaChange(Relation index, Buffer metabuf,
										KyroMetaChange *change);
extern void KyroFinishMetaChange(KyroMetaChange *change);

/* ---- Options ---- */

typedef struct KyroOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			delta_limit;	/* the delta limit's floor; 0: the setting */
	int			target_error;	/* model's wanted mean error, positions */
	double		delta_scale_factor; /* share of the snapshot; -1: the setting */
	int			fillfactor;		/* percent of a snapshot page packed */
} KyroOptions;

/*
 * The delta limit: a fold is due once the delta holds
 * delta_scale_factor x the snapshot's entries, but never fewer than
 * delta_limit nor (unless delta_limit says so) more than max_delta_limit.
 */
#define KYRO_DEFAULT_DELTA_LIMIT	65536
#define KYRO_MIN_DELTA_LIMIT		16
#define KYRO_MAX_DELTA_LIMIT		(1 << 30)
#define KYRO_DEFAULT_DELTA_SCALE	0.02
#define KYRO_MIN_DELTA_SCALE		0.0
#define KYRO_MAX_DELTA_SCALE		1.0
#define KYRO_DEFAULT_MAX_DELTA_LIMIT	(1 << 20)
#define KYRO_DEFAULT_TARGET_ERROR	RMI_DEFAULT_TARGET_ERROR
#define KYRO_MIN_TARGET_ERROR		1
#define KYRO_MAX_TARGET_ERROR		65536

/*
 * A build or fold packs snapshot pages to fillfactor percent of their
 * content and leaves the rest to the insert area, as btree leaves its
 * leaves 10% free (its BTREE_DEFAULT_FILLFACTOR).
 */
#define KYRO_DEFAULT_FILLFACTOR		90

/*
 * An insert that finds its page's area full repacks the page in place
 * while the page then keeps room for an area of this many entries; past
 * that the page is full, and splits.  Each repack re-encodes the page, so
 * a smaller area would make the last repacks of a filling page cost more
 * per insert.
 */
#define KYRO_REPACK_MIN_AREA		16

/*
 * Split pages are published in a new directory (a fold, which need have
 * nothing to fold) once a lookup's walk along one chain could pass
 * KYRO_REPUBLISH_HOPS pages, or once the splits since the last fold reach
 * a share of the pages with keys (1 / KYRO_REPUBLISH_SHARE, at least
 * KYRO_REPUBLISH_MIN_SPLITS): each republish reads every page and every
 * backend then reads the new directory, so random splits are gathered.
 */
#define KYRO_REPUBLISH_HOPS			16
#define KYRO_REPUBLISH_SHARE		64
#define KYRO_REPUBLISH_MIN_SPLITS	64
#define KYRO_MIN_FILLFACTOR			10
#define KYRO_MAX_FILLFACTOR			100

extern int	kyro_delta_limit_guc;
extern double kyro_delta_scale_factor_guc;
extern int	kyro_max_delta_limit;

/* ---- Keys ---- */

/*
 * Keys are uint64 in the order of the indexed values: a signed value has
 * its sign bit flipped (kkeys.c).
 */
#define KYRO_KEY_SIGN_BIT	UINT64CONST(0x8000000000000000)

/* The one support function: btree's comparison (BTORDER_PROC). */
#define KYRO_ORDER_PROC		1

/* An index entry in memory: NULLs sort after every key, then by TID. */
typedef struct KyroEntry
{
	uint64		key;
	ItemPointerData tid;
	bool		isnull;
	bool		dead;
} KyroEntry;

/*
 * Whether snapshot page p is the first of its kind (pages of keys are
 * 0 to key_pages, NULL pages after them), whose range starts at minus
 * infinity: entries before its directory item's first may be on it.
 */
static inline bool
KyroRangeIsOpen(uint32 p, uint32 key_pages)
{
	return p == 0 || p == key_pages;
}

/* An entry as the page codec stores it, and back. */
static inline void
KyroEntryToPage(RmiPageEntry *out, const KyroEntry *e)
{
	out->key = e->isnull ? 0 : e->key;
	out->block = ItemPointerGetBlockNumberNoCheck(&e->tid);
	out->offset = ItemPointerGetOffsetNumberNoCheck(&e->tid);
	out->dead = e->dead;
}

static inline void
KyroEntryFromPage(KyroEntry *out, const RmiPageEntry *e, bool isnull)
{
	out->key = isnull ? 0 : e->key;
	ItemPointerSet(&out->tid, e->block, e->offset);
	out->isnull = isnull;
	out->dead = e->dead != 0;
}

/* ---- A backend's caches of an index (kcache.c) ---- */

/* What every cache starts with: its memory and its pins. */
typedef struct KyroCacheHead
{
	MemoryContext cxt;			/* holds the cache and all it points to */
	int			refcount;		/* scans that use it */
	bool		retired;		/* no longer current: free at refcount 0 */
} KyroCacheHead;

/*
 * What a backend keeps of one epoch of an index: the snapshot's directory
 * and the root model over its pages' first keys.  Immutable once built;
 * scans pin it.
 */
typedef struct KyroSnapCache
{
	KyroCacheHead head;
	uint32		epoch;
	uint64		snap_entries;
	uint64		snap_nonnull;
	uint32		snap_pages;
	uint32		key_pages;		/* pages [0, key_pages) hold keys */
	KyroDirItem *items;			/* the directory: snapshot pages, then model */
	uint64	   *first_keys;		/* of pages [0, key_pages), for the root */
	uint64	   *null_keys;		/* of the NULL pages: zeroes */
	bool		has_model;		/* false: model missing or rejected */

	/*
	 * The page of a chain that an insert of this backend last moved right
	 * to (DESIGN.md, "Splits"): snapshot page hint_page's chain, block
	 * hint_block, which starts with hint_first, hint_hops right-links from
	 * the page's own block.  The one part that changes, and only a hint:
	 * an insert whose entry is at or after hint_first may start there, as
	 * a split page keeps its first entry while the view lasts.
	 */
	uint32		hint_page;
	BlockNumber hint_block;		/* InvalidBlockNumber: none */
	RmiPageEntry hint_first;
	uint32		hint_hops;
	RmiModel	model;			/* the root: key -> page */
	void	   *model_buf;		/* the model's bytes: a copy, or the mapping */
	bool		model_mapped;	/* model_buf maps the model file */
	uint32		model_bytes;
	MemoryContextCallback unmap;	/* unmaps it when the cache is freed */
} KyroSnapCache;

/*
 * Where a delta entry lies: its delta page and its slot there.  Entries
 * never move on a delta page, so this names the entry until the page is
 * recycled (which changes its tag).
 */
typedef struct KyroEntryPlace
{
	BlockNumber block;
	uint16		slot;
	uint16		active;			/* on the active chain, not the frozen */
} KyroEntryPlace;

/*
 * A delta entry as a delta cache keeps it: the entry and its place, so
 * that a scan that needs the VACUUM interlock can look at the entry's
 * page before it returns the entry (DESIGN.md, "Scans and VACUUM").
 */
typedef struct KyroDeltaItem
{
	KyroEntry	entry;
	KyroEntryPlace place;
} KyroDeltaItem;

/* A sorted run of delta entries, by (isnull, key, tid). */
typedef struct KyroDeltaRun
{
	KyroDeltaItem *items;
	int64		n;
} KyroDeltaRun;

/*
 * Sorted runs a delta cache holds at most: each is at least twice the size
 * of the next, so 2^32 entries need fewer.
 */
#define KYRO_DELTA_MAX_RUNS		32

/*
 * The backend-local sorted index of the delta chains (frozen and active),
 * refreshed by reading only what was appended since it last looked.  What
 * a refresh reads is sorted into a run of its own, and runs are merged
 * only while one is less than twice the size of the one after it (the
 * logarithmic method): a refresh costs about the log of the delta per new
 * entry, not a copy of the whole delta, and a lookup searches a few runs.
 */
typedef struct KyroDeltaCache
{
	KyroCacheHead head;
	uint32		vacuum_generation;
	KyroChain	frozen;			/* chains as read */
	KyroChain	active;
	BlockNumber read_block;		/* last active page read, and entries on it */
	uint32		read_count;
	int			nruns;
	KyroDeltaRun runs[KYRO_DELTA_MAX_RUNS];	/* largest first */
} KyroDeltaCache;

extern void KyroGetCaches(Relation index, KyroSnapCache **snap,
						 KyroDeltaCache **delta);
extern void KyroReleaseCaches(KyroSnapCache *snap, KyroDeltaCache *delta);

/* ---- Scan state (kscan.c) ---- */

/* What a scan adds to its index's counters when it ends. */
typedef struct KyroScanCounts
{
	uint64		lookups;
	uint64		probes;
	uint64		mispredicts;
	uint64		delta_hits;
	uint64		pages;			/* snapshot pages read by lookups */
	uint64		right_moves;	/* siblings read past a split, for a key
								 * not on the page first read */
} KyroScanCounts;

/*
 * Entries a scan decodes from a page: around a search's answer, then, on
 * the same page, twice as many each time up to a walk's (a key's few
 * equal entries cost a small read, a range soon reads whole runs), and a
 * walk's on every page after.
 */
#define KYRO_SCAN_SEARCH_CHUNK	8
#define KYRO_SCAN_WALK_CHUNK	128

/* A scan adds to the shared counters at its end, or after this many lookups. */
#define KYRO_COUNTS_FLUSH	1024


/* One range of keys a scan returns: [lo, hi], or the NULL entries. */
typedef struct KyroRange
{
	uint64		lo;
	uint64		hi;
	bool		nulls;
} KyroRange;

typedef struct KyroScanOpaqueData
{
	/* from the scan keys, at rescan */
	Oid			keytype;		/* type of the indexed column */
	bool		keys_ready;
	bool		empty;			/* quals can never match */
	KyroRange  *ranges;			/* ascending, disjoint; NULLs last */
	int			nranges;
	int			maxranges;

	/* caches pinned for the scan (from the first tuple on) */
	KyroSnapCache *snap;
	KyroDeltaCache *delta;

	/*
	 * The VACUUM interlock (DESIGN.md, "Scans and VACUUM"), kept by
	 * index-only scans and scans under non-MVCC snapshots: cache_buf pins
	 * the snapshot page whose entries are in cache, and delta_buf the
	 * delta page of the last delta entry returned, so that VACUUM, which
	 * needs a cleanup lock to flag an entry, cannot flag one that the scan
	 * holds or has just returned.  InvalidBuffer when not held.
	 */
	bool		interlock;
	bool		check_first;	/* a non-MVCC snapshot: check each page's
								 * first entry against its item */
	Buffer		cache_buf;
	Buffer		delta_buf;

	/* position: the range in hand and a cursor into each source */
	bool		started;
	bool		positioned;		/* cursors valid for range_no and dir */
	bool		recycled;		/* met a page of another view: restart */
	ScanDirection dir;
	int			range_no;
	KyroEntry	range_first;	/* the range's bounds, as entries */
	KyroEntry	range_last;
	bool		snap_done;		/* the snapshot has no more of the range */
	int64		delta_pos[KYRO_DELTA_MAX_RUNS];	/* next position in each delta run */
	int64		delta_begin[KYRO_DELTA_MAX_RUNS];	/* the range there: [begin, end) */
	int64		delta_end[KYRO_DELTA_MAX_RUNS];
	bool		at_end;			/* the last call ran off an end */
	bool		have_last;		/* the last entry returned */
	KyroEntry	last;

	/*
	 * Entries of snapshot page page_no, packed and from its insert area
	 * merged, decoded in the scan's direction so that no lock is held
	 * between calls: a few around a search's answer, a longer run for a
	 * walk.  cache[cache_i..cache_n) are still to return; cache_more says
	 * the page has entries past them, read by searching again after the
	 * last one decoded (inserts may have added some meanwhile).
	 */
	int64		page_no;		/* -1: none */
	bool		page_nulls;		/* it is a page of NULL entries */

	/*
	 * The page those entries came from: page_no's own block, or a page
	 * split off it since the view was written and reached by right-links
	 * (DESIGN.md, "Splits"); as read under that one share lock, its first
	 * entry (only if it is a split page) and last (only if a page follows),
	 * the next page of its chain (InvalidBlockNumber if none), and whether
	 * the search that positioned the cache found every entry of the page on
	 * the near side of its probe (page_past).
	 */
	BlockNumber page_block;
	BlockNumber page_next;
	RmiPageEntry page_first;
	RmiPageEntry page_last;
	RmiPageEntry page_after;	/* last entry of the page linking to a split
								 * page, which it must start after */
	bool		page_past;

	/*
	 * Where the walk stands: the last entry decoded (or, before any, the
	 * entry the scan was positioned at, strict as then).  A page may split
	 * between two reads and move entries right, so the walk reads on from
	 * here, never from a page's edge, along a chain.
	 */
	KyroEntry	walk_from;
	bool		walk_strict;
	int			cache_i;
	int			cache_n;
	bool		cache_more;
	uint32		more_chunk;		/* entries the next read of this page takes */
	RmiPageEntry cache[KYRO_SCAN_WALK_CHUNK];

	/* mark and restore */
	bool		mark_have_last;
	KyroEntry	mark_last;
	int			mark_range_no;
	ScanDirection mark_dir;

	/* what the scan adds to the index's shared counters */
	KyroScanCounts counts;

	MemoryContext tmpcxt;		/* per-tuple and per-rescan scratch */
} KyroScanOpaqueData;

typedef KyroScanOpaqueData *KyroScanOpaque;

/* ---- Progress of CREATE INDEX, folds and rebuilds (subphases) ---- */

#define KYRO_PHASE_SORTING			2
#define KYRO_PHASE_WRITING			3
#define KYRO_PHASE_TRAINING			4
#define KYRO_PHASE_READING_DELTA	5
#define KYRO_PHASE_MERGING			6

/* ---- Folds ---- */

/*
 * A dead fraction of the snapshot past which VACUUM's cleanup folds and the
 * fold rewrites every page, dropping the dead entries.
 */
#define KYRO_DEAD_FRACTION	0.1

/* Whether dead entries are KYRO_DEAD_FRACTION of meta's snapshot or more. */
static inline bool
KyroDeadPastFraction(KyroMetaPage meta)
{
	return meta->snap_dead > 0 &&
		meta->snap_dead >= KYRO_DEAD_FRACTION * meta->snap_entries;
}

/* Flags of KyroFold */
#define KYRO_FOLD_WAIT		0x01	/* wait for a running fold, not give up */
#define KYRO_FOLD_RETRAIN	0x02	/* train a new model even if one would do */

/*
 * Kinds of fold, by what they rewrote: the last page of keys and the pages
 * after it (keys past the snapshot's last one), some pages, or all.
 */
typedef enum KyroFoldKind
{
	KYRO_FOLD_APPEND,
	KYRO_FOLD_PARTIAL,
	KYRO_FOLD_FULL
} KyroFoldKind;

/* What a fold did, for its caller's log line and result. */
typedef struct KyroFoldResult
{
	KyroFoldKind kind;
	uint32		epoch;			/* of the new snapshot */
	int64		delta_entries;	/* frozen delta entries folded in */
	int64		snap_entries;	/* entries of the new snapshot */
	bool		retrained;		/* a new model, not the old one carried over */
	uint32		pages_written;	/* snapshot pages written */
	uint32		pages_kept;		/* snapshot pages kept as they were */
	int64		carried;		/* delta entries left for the next step */
	bool		resumed;		/* took up a chain a step had left */
	int64		usecs;
} KyroFoldResult;

/* ---- Settings (kyrodb.c) ---- */

extern bool kyro_worker_enabled;
extern int	kyro_worker_naptime;
extern int	kyro_max_workers;
extern int	kyro_fold_ceiling;
extern int	kyro_fold_step_pages;
extern double kyro_retrain_mispredict_rate;
extern double kyro_retrain_probe_length;
extern int	kyro_retrain_min_lookups;
extern bool kyro_model_files;
extern bool kyro_warm_on_start;
extern bool kyro_wal_records;
extern bool kyro_page_inserts;
extern int	kyro_max_indexes;

#define KYRO_DEFAULT_NAPTIME		10	/* seconds */
#define KYRO_DEFAULT_MAX_WORKERS	2
#define KYRO_MAX_DATABASES			64	/* databases the launcher tracks */
#define KYRO_DEFAULT_FOLD_CEILING	4	/* times the delta limit */

/*
 * One step of a fold rewrites at most kyrodb.fold_step_pages snapshot
 * pages; at 0 (the default), a sixteenth of the snapshot's pages, and no
 * fewer than KYRO_MIN_FOLD_STEP.
 */
#define KYRO_FOLD_STEP_SHARE		16
#define KYRO_MIN_FOLD_STEP			16

/* ---- Shared memory (kshared.c) ---- */

/*
 * Counters of one index, shared by every backend.  What protects each field
 * (DESIGN.md, "Shared memory"):
 *  - owner: set and cleared under KyroShared's lock, read as an atomic (the
 *    lookup path checks it without the lock, and must see dbid and indexoid
 *    of one owner, not half of two);
 *  - fold_requested and the counters: atomics, added to without the lock;
 *    zeroed by a reset under the lock (an add racing a reset may survive it);
 *  - reset_time and the seen_* baseline: only under the lock, read and
 *    written (KyroStatResetTime, KyroLookupsSinceLastLook).
 */
typedef struct KyroStatSlot
{
	pg_atomic_uint64 owner;		/* KyroSlotOwner(dbid, indexoid); 0: free */
	pg_atomic_uint32 fold_requested;	/* an insert passed the delta limit */
	pg_atomic_uint64 lookups;	/* positionings in the snapshot */
	pg_atomic_uint64 probes;	/* keys examined by those */
	pg_atomic_uint64 mispredicts;	/* key outside the model's window */
	pg_atomic_uint64 delta_hits;	/* lookups that found entries in the delta */
	pg_atomic_uint64 pages;		/* snapshot pages read by those */
	pg_atomic_uint64 right_moves;	/* siblings those moved right to */
	pg_atomic_uint64 inline_folds;	/* folds run by an inserting backend */
	pg_atomic_uint64 retrains;	/* models retrained (detector, rebuild) */
	pg_atomic_uint64 repacks;	/* pages repacked in place by inserts */
	pg_atomic_uint64 splits;	/* pages split by inserts */
	pg_atomic_uint32 unpublished;	/* splits since the last fold began */
	pg_atomic_uint32 fold_due;	/* an insert found no page of its kind */
	TimestampTz reset_time;
	/* the worker's last look at the counters: the detector's baseline */
	uint64		seen_lookups;
	uint64		seen_probes;
	uint64		seen_mispredicts;
} KyroStatSlot;

/* What the lookups of an index did between two looks of the worker. */
typedef struct KyroLookupCounts
{
	uint64		lookups;
	uint64		probes;
	uint64		mispredicts;
} KyroLookupCounts;

extern bool KyroSharedAvailable(void);
extern void KyroSharedRequest(void);
extern KyroStatSlot *KyroGetStatSlot(Oid indexoid, bool create);
extern void KyroAddScanCounts(Relation index, KyroScanCounts *counts);
extern void KyroCountEvent(Oid indexoid, int event);
extern void KyroResetStats(Oid dbid, Oid indexoid);
extern TimestampTz KyroStatResetTime(KyroStatSlot *slot);
extern bool KyroLookupsSinceLastLook(KyroStatSlot *slot, uint64 min_lookups,
									 KyroLookupCounts *since);
extern void KyroForgetIndexes(Oid dbid, const Oid *keep, int nkeep);
extern bool KyroRequestFold(Relation index);
extern void KyroNoteDatabase(void);

#define KYRO_EVENT_INLINE_FOLD	1
#define KYRO_EVENT_RETRAIN		2
#define KYRO_EVENT_REPACK		3
#define KYRO_EVENT_SPLIT		4

extern bool KyroNoteSplit(Oid indexoid, uint32 key_pages, uint32 hops);
extern void KyroNoteFoldDue(Oid indexoid);
extern bool KyroFoldDue(Oid indexoid, uint32 key_pages);
extern void KyroSplitsPublished(Oid indexoid);

/* ---- Background worker (kworker.c) ---- */

extern void KyroRegisterLauncher(void);
extern PGDLLEXPORT void KyroLauncherMain(Datum arg);
extern PGDLLEXPORT void KyroWorkerMain(Datum arg);
extern void KyroInstallUtilityHook(void);

/*
 * Shared state of the launcher and its workers (kshared.c owns it); every
 * field is read and written under KyroShared's lock.
 */
typedef struct KyroDatabaseSlot
{
	Oid			dbid;			/* InvalidOid: free */
	bool		wanted;			/* has the extension: keep a worker there */
	bool		paused;			/* a command needs the database to itself */
	bool		warmed;			/* warm_on_start done since the server started */
	int			pid;			/* its worker, 0 if none (never signalled) */
	Latch	   *latch;			/* its worker's latch, NULL once it exits */
} KyroDatabaseSlot;

extern KyroDatabaseSlot *KyroDatabaseSlots(void);
extern LWLock *KyroSharedLock(void);
extern void KyroSetLauncherLatch(Latch *latch);
extern void KyroWakeLauncher(void);

/* ---- The model file (kmodelfile.c) ---- */

/*
 * What a model file's name says: whose model it is (pg_class.reltablespace,
 * 0 for the database's default, and the relfilenode) and of which epoch.
 */
typedef struct KyroModelFileName
{
	Oid			tablespace;
	Oid			relfilenode;
	uint32		epoch;
} KyroModelFileName;

extern KyroModelFileName KyroModelFileNameOf(Relation index, uint32 epoch);
extern bool KyroModelFileApplies(Relation index);
extern bool KyroModelFileWrite(Relation index, uint32 epoch,
							   const char *bytes, uint32 len);
extern void *KyroModelFileMap(Relation index, uint32 epoch, uint32 len,
							  uint64 checksum, RmiModel *model,
							  const char **why);
extern void KyroModelFileRemoveOlder(Relation index, uint32 keep);
extern int64 KyroModelFileSize(Relation index, uint32 epoch);
extern void KyroModelFileSweep(Oid dbid, const KyroModelFileName *live,
							   int n);
extern void KyroModelFilesDropDatabase(Oid dbid);
extern void KyroModelFilesSweepDatabases(List *live);

/* ---- Functions, by file ---- */

/* kyrodb.c: settings, options, the handler */
extern PGDLLEXPORT void _PG_init(void);
extern KyroOptions *KyroGetOptions(Relation index);
extern uint64 KyroDeltaLimit(Relation index, uint64 snap_entries);

/* kkeys.c: keys as unsigned 64-bit integers, and their order */
extern uint64 KyroDatumToKey(Datum value, Oid type);
extern Datum KyroKeyToDatum(uint64 key, Oid type);
extern bool KyroTypeSupported(Oid type);
extern int	KyroEntryCompare(const KyroEntry *a, const KyroEntry *b);
extern int	KyroEntryCmpQsort(const void *a, const void *b);

/* kpage.c: pages, the metapage, damage, deleting and recycling pages */

/* The hint of every error and warning about a damaged index. */
#define KYRO_DAMAGE_HINT	"Rebuild the index with REINDEX."

extern void KyroInitPage(Page page, uint16 kind, uint32 tag);
extern void KyroInitMetapage(Page page);
extern Buffer KyroNewBuffer(Relation index);
extern KyroMetaPage KyroReadMeta(Relation index);
extern void KyroReadMetaInto(Relation index, KyroMetaPage copy);
extern void KyroCheckMeta(Relation index, KyroMetaPage meta);
pg_noreturn extern void KyroCorrupt(Relation index, const char *detail);
extern const char *KyroPageProblem(Page page, uint16 kind, uint32 tag);
extern bool KyroViewIsCurrent(Relation index, uint16 kind, uint32 view);
extern Buffer KyroReadViewPage(Relation index, BlockNumber blkno,
							   uint16 kind, uint32 tag, uint32 view, int mode);
extern Buffer KyroReadPage(Relation index, BlockNumber blkno, uint16 kind,
						   uint32 tag, int mode);
extern void KyroMarkDeleted(Relation index, BlockNumber *blocks, int nblocks);
extern BlockNumber KyroSweepFreePages(Relation index);

/* kread.c: reading a view's chains, directory, model and pages */

/*
 * A growing array of entries; with want_places set before the first add,
 * KyroReadChain also records where each entry lies, in places.
 */
typedef struct KyroEntryArray
{
	KyroEntry  *items;
	int64		n;
	int64		cap;
	bool		want_places;
	KyroEntryPlace *places;
} KyroEntryArray;

extern void KyroEntryArrayAdd(KyroEntryArray *array, const KyroEntry *entry);
extern bool KyroReadChain(Relation index, uint32 number, BlockNumber start,
						  uint32 skip, KyroEntryArray *out,
						  BlockNumber *last_block, uint32 *last_count,
						  BlockNumber **pages, int *npages);
extern uint32 KyroTailCount(Relation index, const KyroChain *chain);
extern uint64 KyroDeltaSize(Relation index, KyroMetaPage meta);
extern KyroDirItem *KyroReadDirectory(Relation index, KyroMetaPage meta);
extern Buffer KyroReadSnapshotPage(Relation index, uint32 epoch,
								   const KyroDirItem *item, uint32 p,
								   uint32 key_pages, bool first_entry,
								   int mode);
extern void KyroCheckSnapshotPage(Relation index, KyroMetaPage meta,
								  const KyroDirItem *items, uint32 p,
								  Buffer buffer);
extern Buffer KyroReadSnapshotPageLocked(Relation index, KyroMetaPage meta,
										 const KyroDirItem *items, uint32 p,
										 int mode);
extern RmiStatus KyroLoadModel(Relation index, KyroMetaPage meta,
							   const KyroDirItem *items, MemoryContext cxt,
							   RmiModel *model, char **buf, bool *recycled);
extern BlockNumber KyroSiblingNext(const KyroDirItem *items, uint32 p,
								   Page page);
extern Buffer KyroReadSiblingPage(Relation index, uint32 epoch,
								  const KyroDirItem *items, uint32 key_pages,
								  uint32 snap_pages, uint32 p, BlockNumber blkno,
								  const RmiPageEntry *after, int mode);
extern Buffer KyroStepSibling(Relation index, uint32 epoch,
							  const KyroDirItem *items, uint32 key_pages,
							  uint32 snap_pages, uint32 p, Buffer buffer,
							  int mode, bool *recycled);

/* What a view's pages hold, counted on them (KyroCountPageEntries). */
typedef struct KyroPageCounts
{
	int64		packed;			/* packed entries, dead ones too */
	int64		packed_dead;	/* packed entries flagged dead */
	int64		area_live;		/* live entries in the insert areas */
	int64		area_all;		/* every entry in the insert areas */
	int64		area_free;		/* bytes the areas may still take */
	int64		split_pages;	/* pages split off since the view was written */
} KyroPageCounts;

extern void KyroCountPageEntries(Relation index, const KyroSnapCache *snap,
								 KyroPageCounts *counts);
extern RmiStatus KyroModelTail(Relation index, KyroMetaPage meta,
							   const KyroDirItem *items, uint64 *checksum,
							   bool *recycled);

/* kroute.c: an entry to its snapshot page */
extern uint32 KyroRoutePage(const KyroSnapCache *snap, const KyroEntry *probe,
							bool strict, uint64 *compared, bool *mispredicted);

/* kbuild.c: CREATE INDEX */
extern IndexBuildResult *kyrobuild(Relation heap, Relation index,
								   IndexInfo *indexInfo);
extern void kyrobuildempty(Relation index);

/* kwrite.c: writing a new snapshot (build and fold) */
typedef struct KyroWriter KyroWriter;
extern KyroWriter *KyroWriterBegin(Relation index, uint32 epoch);
extern void KyroWriterAdd(KyroWriter *w, const KyroEntry *entry);
extern void KyroWriterKeep(KyroWriter *w, const KyroDirItem *old);
extern void KyroWriterEndPage(KyroWriter *w);
extern void KyroWriterSetFill(KyroWriter *w, size_t bytes);
extern size_t KyroWriterFullPage(void);

/*
 * The old view's root model, offered to a fold's writer to carry over.
 * bytes and items are the fold's own copies of the old view's model and
 * directory; the fold lock, held until the switch, keeps any other fold
 * from replacing that view meanwhile.
 */
typedef struct KyroCarriedModel
{
	const char *bytes;			/* the serialised model */
	uint32		nbytes;
	const KyroDirItem *items;	/* the old view's directory */
	uint64		n_keys;			/* pages the model was trained on: the
								 * first n_keys of items */
} KyroCarriedModel;

extern uint32 KyroWriterFinish(KyroWriter *w, KyroMetaPage meta,
							   const KyroCarriedModel *carry, bool *carried);

/* kfold.c: the fold lock, folds and their steps, the switch */
extern bool KyroLockFold(Relation index, bool wait);
extern void KyroUnlockFold(Relation index);
extern bool KyroFold(Relation index, int flags, KyroFoldResult *result);
extern void KyroFoldAll(Relation index, int flags, KyroFoldResult *result);
extern const char *KyroFoldKindName(KyroFoldKind kind);
extern void KyroSwitchView(Relation index, KyroMetaPage built,
						   TimestampTz started);

/* kinsert.c: aminsert */
extern bool kyroinsert(Relation index, Datum *values, bool *isnull,
					   ItemPointer ht_ctid, Relation heapRel,
					   IndexUniqueCheck checkUnique,
					   bool indexUnchanged,
					   IndexInfo *indexInfo);

/* kscan.c: scans */
extern IndexScanDesc kyrobeginscan(Relation r, int nkeys, int norderbys);
extern void kyrorescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
					   ScanKey orderbys, int norderbys);
extern bool kyrogettuple(IndexScanDesc scan, ScanDirection dir);
extern int64 kyrogetbitmap(IndexScanDesc scan, TIDBitmap *tbm);
extern void kyroendscan(IndexScanDesc scan);
extern void kyromarkpos(IndexScanDesc scan);
extern void kyrorestrpos(IndexScanDesc scan);
extern bool kyrocanreturn(Relation index, int attno);

/* kvacuum.c: VACUUM */
extern IndexBulkDeleteResult *kyrobulkdelete(IndexVacuumInfo *info,
											 IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *kyrovacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);

/* kvalidate.c: amvalidate, and the index's definition */
extern bool kyrovalidate(Oid opclassoid);
extern void KyroCheckIndexDefinition(Relation index);

/* kfuncs.c: the SQL functions */
extern void KyroWarmup(Relation index, int64 *blocks, int64 *model_bytes,
					   bool *from_file);

#endif							/* KYRODB_H */
