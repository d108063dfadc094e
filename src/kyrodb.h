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
 *	directory		block numbers of the snapshot's pages, then the model's
 *	snapshot		entries sorted by (key, TID), a fixed number a page,
 *					NULL entries last
 *	model			the serialised RMI, byte after byte across pages
 *	delta			chains of pages that inserts append to
 * Every page carries a page id, its kind and a tag (the epoch of a
 * snapshot, model or directory page; the chain number of a delta page), so
 * a scan that reads a page recycled since it took its view notices.
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
#include "utils/relcache.h"

#include "rmi/rmi.h"

/*
 * Version of the shared library.  It must equal default_version in
 * kyrodb.control; the regression tests compare the two.
 */
#define KYRODB_VERSION "0.1.0"

/* ---- On-disk format ---- */

#define KYRO_MAGIC				0x4B59524FU	/* "KYRO" */
#define KYRO_FORMAT_VERSION		1
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
#define KYRO_PAGE_KEY32			0x0200	/* snapshot keys as 32-bit offsets */

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
 * A snapshot page: the keys, then TIDs, then one dead bit per entry; keys
 * sit together so the search touches few lines.  Keys are 8 bytes, or,
 * when every page of the snapshot allows it (decided per epoch), a 64-bit
 * base key followed by 32-bit offsets from it: more entries a page, a
 * smaller index.  The page's KYRO_PAGE_KEY32 flag says which.
 */
#define KYRO_SNAP_PER_PAGE_8	((int) ((KYRO_PAGE_CONTENT * 8) / (8 * 8 + 6 * 8 + 1)))
#define KYRO_SNAP_PER_PAGE_4	((int) (((KYRO_PAGE_CONTENT - 8) * 8) / (4 * 8 + 6 * 8 + 1)))
#define KYRO_SNAP_PER_PAGE_MAX	KYRO_SNAP_PER_PAGE_4

/* Entries a snapshot page holds with keys of width bytes. */
static inline int
KyroSnapPerPage(int width)
{
	return width == 4 ? KYRO_SNAP_PER_PAGE_4 : KYRO_SNAP_PER_PAGE_8;
}

/* Byte offset, within a page's content, of its TIDs. */
static inline int
KyroSnapTidsOffset(int width)
{
	return width == 4 ? 8 + 4 * KYRO_SNAP_PER_PAGE_4 : 8 * KYRO_SNAP_PER_PAGE_8;
}

/* The key in slot of a snapshot page with keys of width bytes. */
static inline uint64
KyroSnapKey(Page page, int width, int slot)
{
	char	   *content = PageGetContents(page);

	if (width == 4)
	{
		uint64		base;

		memcpy(&base, content, sizeof(uint64));
		return base + ((uint32 *) (content + 8))[slot];
	}
	return ((uint64 *) content)[slot];
}

/* The TIDs of a snapshot page. */
static inline ItemPointerData *
KyroSnapTids(Page page, int width)
{
	return (ItemPointerData *) (PageGetContents(page) + KyroSnapTidsOffset(width));
}

/* The dead bits of a snapshot page. */
static inline uint8 *
KyroSnapDead(Page page, int width)
{
	return (uint8 *) (PageGetContents(page) + KyroSnapTidsOffset(width) +
					  6 * KyroSnapPerPage(width));
}

/* The entry in slot of a snapshot page; isnull comes from its position. */
#define KyroSnapEntry(page, width, slot, isnull_) \
	((KyroEntry) { \
		.key = (isnull_) ? 0 : KyroSnapKey((page), (width), (slot)), \
		.tid = KyroSnapTids((page), (width))[slot], \
		.isnull = (isnull_), \
		.dead = (KyroSnapDead((page), (width))[(slot) / 8] >> ((slot) % 8)) & 1 \
	})

/* Key width of a snapshot page, from its flags. */
#define KyroSnapWidth(page) \
	((KyroPageGetOpaque(page)->flags & KYRO_PAGE_KEY32) ? 4 : 8)

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

/* A directory page: block numbers. */
#define KYRO_DIR_PER_PAGE	(KYRO_PAGE_CONTENT / sizeof(BlockNumber))
#define KyroDirBlocks(page)	((BlockNumber *) PageGetContents(page))

/* Model pages: the serialised model, KYRO_PAGE_CONTENT bytes a page. */
#define KYRO_MODEL_PER_PAGE	KYRO_PAGE_CONTENT

/* A delta chain as the metapage records it. */
typedef struct KyroChain
{
	uint32		number;			/* tag of its pages; 0: no chain */
	BlockNumber head;
	BlockNumber tail;
	uint32		pad;
	uint64		entries;
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
	uint64		snap_dead;		/* snapshot entries flagged dead */
	uint32		snap_pages;
	uint32		model_pages;
	uint32		model_bytes;
	uint32		dir_pages;
	uint32		key_width;		/* 8, or 4 (offsets): see snapshot pages */
	uint32		pad;
	KyroChain	active;			/* inserts append here */
	KyroChain	frozen;			/* being folded, while a fold runs */
	uint64		folds;
	TimestampTz last_fold_time;
	int64		last_fold_usecs;
	BlockNumber dir_blocks[FLEXIBLE_ARRAY_MEMBER];
} KyroMetaPageData;

typedef KyroMetaPageData *KyroMetaPage;

#define KyroPageGetMeta(page)	((KyroMetaPage) PageGetContents(page))
#define KYRO_MAX_DIR_PAGES \
	((KYRO_PAGE_CONTENT - offsetof(KyroMetaPageData, dir_blocks)) / sizeof(BlockNumber))

/* ---- Options ---- */

typedef struct KyroOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			delta_limit;	/* delta entries that trigger a fold */
	int			target_error;	/* model's wanted mean error, positions */
} KyroOptions;

#define KYRO_DEFAULT_DELTA_LIMIT	65536
#define KYRO_MIN_DELTA_LIMIT		16
#define KYRO_MAX_DELTA_LIMIT		(1 << 30)
#define KYRO_DEFAULT_TARGET_ERROR	RMI_DEFAULT_TARGET_ERROR
#define KYRO_MIN_TARGET_ERROR		1
#define KYRO_MAX_TARGET_ERROR		65536

extern int	kyro_delta_limit_guc;

/* ---- Keys ---- */

/* An index entry in memory: NULLs sort after every key, then by TID. */
typedef struct KyroEntry
{
	uint64		key;
	ItemPointerData tid;
	bool		isnull;
	bool		dead;
} KyroEntry;

/* ---- The cached view of an index (kcache.c) ---- */

/* What every cached view starts with: its memory and its pins. */
typedef struct KyroViewHead
{
	MemoryContext cxt;			/* holds the view and all it points to */
	int			refcount;		/* scans that use it */
	bool		retired;		/* no longer current: free at refcount 0 */
} KyroViewHead;

/*
 * What a backend keeps of one epoch of an index: the snapshot's page
 * directory and the model.  Immutable once built; scans pin it.
 */
typedef struct KyroSnapView
{
	KyroViewHead head;
	uint32		epoch;
	uint64		snap_entries;
	uint64		snap_nonnull;
	uint32		snap_pages;
	int			key_width;
	int			per_page;
	BlockNumber *snap_blocks;	/* snapshot page -> block */
	bool		has_model;		/* false: model missing or rejected */
	RmiModel	model;
	void	   *model_buf;
} KyroSnapView;

/*
 * The backend-local sorted index of the delta chains (frozen and active),
 * refreshed by reading only what was appended since it last looked.
 */
typedef struct KyroDeltaView
{
	KyroViewHead head;
	uint32		vacuum_generation;
	KyroChain	frozen;			/* chains as read */
	KyroChain	active;
	BlockNumber read_block;		/* last active page read, and entries on it */
	uint32		read_count;
	int64		nentries;
	int64		capacity;
	KyroEntry  *entries;		/* sorted by (isnull, key, tid) */
} KyroDeltaView;

extern void KyroGetViews(Relation index, KyroSnapView **snap,
						 KyroDeltaView **delta);
extern void KyroReleaseViews(KyroSnapView *snap, KyroDeltaView *delta);

/* ---- Scan state (kscan.c) ---- */

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

	/* views pinned for the scan (from the first tuple on) */
	KyroSnapView *snap;
	KyroDeltaView *delta;

	/* position: the range in hand and a cursor into each source */
	bool		started;
	bool		positioned;		/* cursors valid for range_no and dir */
	bool		recycled;		/* met a page of another view: restart */
	ScanDirection dir;
	int			range_no;
	int64		snap_pos;		/* next snapshot position to look at */
	int64		snap_begin;		/* the range's positions: [begin, end) */
	int64		snap_end;
	int64		delta_pos;
	int64		delta_begin;
	int64		delta_end;
	bool		at_end;			/* the last call ran off an end */
	bool		have_last;		/* the last entry returned */
	KyroEntry	last;

	/*
	 * Slots [cache_lo, cache_lo + cache_n) of snapshot page page_no, copied
	 * so that no lock is held between calls; only the slots a search or a
	 * walk needs are copied, not the whole page.
	 */
	int64		page_no;		/* -1: none */
	int			page_count;		/* entries on that page */
	int			cache_lo;
	int			cache_n;
	uint64		page_keys[KYRO_SNAP_PER_PAGE_MAX];
	ItemPointerData page_tids[KYRO_SNAP_PER_PAGE_MAX];
	bool		page_dead[KYRO_SNAP_PER_PAGE_MAX];

	/* mark and restore */
	bool		mark_have_last;
	KyroEntry	mark_last;
	int			mark_range_no;
	ScanDirection mark_dir;

	MemoryContext tmpcxt;		/* per-tuple and per-rescan scratch */
} KyroScanOpaqueData;

typedef KyroScanOpaqueData *KyroScanOpaque;

/* ---- Functions, by file ---- */

/* kyrodb.c */
extern PGDLLEXPORT void _PG_init(void);
extern KyroOptions *KyroGetOptions(Relation index);
extern int	KyroDeltaLimit(Relation index);

/* kkeys.c */
extern uint64 KyroDatumToKey(Datum value, Oid type);
extern Datum KyroKeyToDatum(uint64 key, Oid type);
extern bool KyroTypeSupported(Oid type);
extern int	KyroEntryCompare(const KyroEntry *a, const KyroEntry *b);
extern int	KyroEntryCmpQsort(const void *a, const void *b);

/* kpage.c */
extern void KyroInitPage(Page page, uint16 kind, uint32 tag);
extern void KyroInitMetapage(Page page);
extern Buffer KyroNewBuffer(Relation index);
extern KyroMetaPage KyroReadMeta(Relation index);
extern void KyroReadMetaInto(Relation index, KyroMetaPage copy);
extern void KyroCheckMeta(Relation index, KyroMetaPage meta);
extern void KyroMarkDeleted(Relation index, BlockNumber *blocks, int nblocks);
extern BlockNumber KyroSweepFreePages(Relation index);

/* kbuild.c */
extern IndexBuildResult *kyrobuild(Relation heap, Relation index,
								   IndexInfo *indexInfo);
extern void kyrobuildempty(Relation index);

/* kwrite.c: writing a new snapshot (build and fold) */
typedef struct KyroWriter KyroWriter;
extern KyroWriter *KyroWriterBegin(Relation index, uint32 epoch, int64 expected);
extern void KyroWriterAdd(KyroWriter *w, const KyroEntry *entry);
extern void KyroWriterFinish(KyroWriter *w, KyroMetaPage meta);

/* kinsert.c */
extern bool kyroinsert(Relation index, Datum *values, bool *isnull,
					   ItemPointer ht_ctid, Relation heapRel,
					   IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
					   bool indexUnchanged,
#endif
					   IndexInfo *indexInfo);

/* kscan.c */
extern IndexScanDesc kyrobeginscan(Relation r, int nkeys, int norderbys);
extern void kyrorescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
					   ScanKey orderbys, int norderbys);
extern bool kyrogettuple(IndexScanDesc scan, ScanDirection dir);
extern int64 kyrogetbitmap(IndexScanDesc scan, TIDBitmap *tbm);
extern void kyroendscan(IndexScanDesc scan);
extern void kyromarkpos(IndexScanDesc scan);
extern void kyrorestrpos(IndexScanDesc scan);
extern bool kyrocanreturn(Relation index, int attno);

/* kvacuum.c */
extern IndexBulkDeleteResult *kyrobulkdelete(IndexVacuumInfo *info,
											 IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *kyrovacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);

/* kcompact.c */

/* A growing array of entries. */
typedef struct KyroEntryArray
{
	KyroEntry  *items;
	int64		n;
	int64		cap;
} KyroEntryArray;

extern void KyroEntryArrayAdd(KyroEntryArray *array, const KyroEntry *entry);
extern bool KyroReadChain(Relation index, uint32 number, BlockNumber start,
						  uint32 skip, KyroEntryArray *out,
						  BlockNumber *last_block, uint32 *last_count,
						  BlockNumber **pages, int *npages);
extern BlockNumber *KyroReadDirectory(Relation index, KyroMetaPage meta);
extern RmiStatus KyroLoadModel(Relation index, KyroMetaPage meta,
							   const BlockNumber *blocks, MemoryContext cxt,
							   RmiModel *model, char **buf, bool *recycled);
extern bool KyroFold(Relation index, bool wait);
extern void KyroSwitchView(Relation index, KyroMetaPage built,
						   TimestampTz started);

/* kvalidate.c */
extern bool kyrovalidate(Oid opclassoid);
extern void KyroCheckIndexDefinition(Relation index);

/* kyrodb.c */
extern void kyrocostestimate(PlannerInfo *root, IndexPath *path,
							 double loop_count, Cost *indexStartupCost,
							 Cost *indexTotalCost,
							 Selectivity *indexSelectivity,
							 double *indexCorrelation, double *indexPages);
extern bytea *kyrooptions(Datum reloptions, bool validate);

/* kfuncs.c */
extern Relation KyroOpenIndexForFunction(Oid indexoid, LOCKMODE heaplock,
										 bool need_owner, Relation *heap);

#endif							/* KYRODB_H */
