/*
 * rmi_sort.h
 *	  Sorting (key, tid) pairs for an index build, by LSD radix sort.
 *
 * Pure C99 with no PostgreSQL headers; the access method calls it.
 */
#ifndef KYRO_RMI_SORT_H
#define KYRO_RMI_SORT_H

#include <stdint.h>

/* A key and the row it points to: tid = block << 16 | offset. */
typedef struct RmiPair
{
	uint64_t	key;
	uint64_t	tid;
} RmiPair;

/*
 * Sort a[0..n) by (key, tid) ascending, using tmp[0..n) as scratch; the
 * result ends in a.  Stable, O(n) per byte that differs between pairs;
 * an input already in order costs one read.
 */
extern void rmi_sort_pairs(RmiPair *a, uint64_t n, RmiPair *tmp);

#endif							/* KYRO_RMI_SORT_H */
