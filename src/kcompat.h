/*-------------------------------------------------------------------------
 *
 * kcompat.h
 *	  What differs between the PostgreSQL majors KyroDB builds against.
 *
 * The code is written against the newest server API; this header fills it
 * in for older majors, so that every other file reads the same on each.
 * The handler (kyrodb.c) keeps guards of its own, for the fields of
 * IndexAmRoutine that a major adds and the callbacks only 18 calls;
 * kshared.c still has guards for majors before 15, dead since this
 * header refuses them.
 * Each guard names the major that brought the change.  DESIGN.md
 * ("PostgreSQL versions") lists them and says which are tested.
 *
 * src/kcompat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KCOMPAT_H
#define KCOMPAT_H

#include "storage/bufmgr.h"
#include "utils/rel.h"

#if PG_VERSION_NUM < 150000
#error "KyroDB needs PostgreSQL 15 or later"
#endif

/* 18 replaced pg_attribute_noreturn() by a specifier that comes first. */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* 16 moved the varlena macros out of postgres.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* 16 renamed RelFileNode to RelFileLocator: the file the index is in now. */
#if PG_VERSION_NUM >= 160000
#define KyroRelFileNumber(rel)	((rel)->rd_locator.relNumber)
#else
#define KyroRelFileNumber(rel)	((rel)->rd_node.relNode)
#endif

/* 16 made the ownership checks generic; we only ever ask about relations. */
#if PG_VERSION_NUM < 160000
#define object_ownercheck(classid, objectid, roleid) \
	(AssertMacro((classid) == RelationRelationId), \
	 pg_class_ownercheck((objectid), (roleid)))
#endif

/*
 * Add a page to a fork and return it pinned and exclusively locked, the
 * caller holding the extension lock where others could extend too.  16
 * replaced ReadBuffer(P_NEW) by ExtendBufferedRel.
 */
static inline Buffer
KyroNewLockedBuffer(Relation rel, ForkNumber fork)
{
#if PG_VERSION_NUM >= 160000
	return ExtendBufferedRel(BMR_REL(rel), fork, NULL, EB_LOCK_FIRST);
#else
	Buffer		buffer = ReadBufferExtended(rel, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	return buffer;
#endif
}

/* 18 tells vacuum_delay_point whether ANALYZE or VACUUM is calling. */
#if PG_VERSION_NUM >= 180000
#define KyroVacuumDelayPoint()	vacuum_delay_point(false)
#else
#define KyroVacuumDelayPoint()	vacuum_delay_point()
#endif

/*
 * Count one search of the index: in the statistics (idx_scan) and, from 18
 * on, in EXPLAIN ANALYZE's "Index Searches", which reads the scan's
 * instrumentation when the executor asked for it.
 */
#if PG_VERSION_NUM >= 180000
#define KyroCountIndexSearch(scan) \
	do { \
		pgstat_count_index_scan((scan)->indexRelation); \
		if ((scan)->instrument) \
			(scan)->instrument->nsearches++; \
	} while (0)
#else
#define KyroCountIndexSearch(scan) \
	pgstat_count_index_scan((scan)->indexRelation)
#endif

/* 18 lets a library name itself and its version in its magic block. */
#ifndef PG_MODULE_MAGIC_EXT
#define PG_MODULE_MAGIC_EXT(...)	PG_MODULE_MAGIC
#endif

#endif							/* KCOMPAT_H */
