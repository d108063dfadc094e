/*
 * rmi_area.h
 *	  The insert area: entries added to an encoded page (rmi_page.h) since
 *	  it was encoded, kept unpacked in the page's free space, and read
 *	  merged with the packed entries in (key, block, offset) order.
 *
 * Layout of a page buffer buf[0..cap) with an area of n entries:
 *
 *	[0, P)					the packed encoding (rmi_page_bytes)
 *	[P, P + 2n)				the order: n 16-bit record numbers, in entry order
 *	[P + 2n, cap - 16n)		free (the hole a PostgreSQL page keeps between
 *							pd_lower and pd_upper)
 *	[cap - 16n, cap)		the records, record r at cap - 16 (r + 1), in
 *							the order they were added
 *
 * n is the packed header's area field; encoding a page (rmi_page_encode)
 * empties its area.  An insert writes one record and shifts the order past
 * its place by two bytes, as a heap page's line pointers do, so the bytes
 * an insert changes are its record and a part of the order, never the
 * packed entries or the other records.
 *
 * Reading is safe whatever the bytes hold once rmi_area_check has passed
 * (O(1)): a record number at or past n is read as the last record, so
 * every read stays inside buf[0..cap); a damaged order gives some entry of
 * the page, which rmi_area_verify (O(count + n)) reports.
 *
 * Positions.  An area position is an index into the order, 0 to n.  A
 * cursor over the whole page is a boundary between entries: the packed
 * slots and the area positions before it.  Reading forward takes the
 * smaller of the two next entries, backward the larger of the two before.
 *
 * Pure C99 with no PostgreSQL headers.
 */
#ifndef KYRO_RMI_AREA_H
#define KYRO_RMI_AREA_H

#include <stddef.h>
#include <stdint.h>

#include "rmi_page.h"

#define RMI_AREA_RECORD_BYTES	16	/* one entry, unpacked */
#define RMI_AREA_ORDER_BYTES	2	/* its record number in the order */
#define RMI_AREA_ENTRY_BYTES	(RMI_AREA_RECORD_BYTES + RMI_AREA_ORDER_BYTES)
#define RMI_AREA_MAX_ENTRIES	4096	/* record numbers fit in 16 bits */

/* Why a page's area fails rmi_area_check or rmi_area_verify. */
typedef enum RmiAreaStatus
{
	RMI_AREA_OK = 0,
	RMI_AREA_PACKED_BAD,		/* the packed part fails; see rmi_page_check */
	RMI_AREA_SHORT,				/* the area does not fit after the packed part */
	RMI_AREA_ORDER_BAD,			/* the order is not a permutation of the
								 * records, or not ascending */
	RMI_AREA_DUPLICATE			/* an area entry equals a packed one */
} RmiAreaStatus;

/* A place in a page: packed slots and area positions before it. */
typedef struct RmiAreaCursor
{
	uint32_t	packed;
	uint32_t	area;
} RmiAreaCursor;

/* ---- Checking ---- */

/*
 * rmi_area_check: the packed part passes rmi_page_check (its status in
 * *packed_status if given) and the area fits in the rest of cap, in O(1).
 * rmi_area_verify: also rmi_page_verify, and an order that is a
 * permutation of the records in ascending entry order, with no entry
 * also in the packed part, in O(count + n).  Two equal entries (in the
 * area, or one packed) are allowed when one of them is dead: a heap TID
 * VACUUM freed may come back with the same key.
 */
extern RmiAreaStatus rmi_area_check(const void *buf, size_t cap,
									RmiPageStatus *packed_status);
extern RmiAreaStatus rmi_area_verify(const void *buf, size_t cap,
									 RmiPageStatus *packed_status);
extern const char *rmi_area_status_message(RmiAreaStatus status);

/* ---- The area of a checked page ---- */

/* Entries in the area. */
extern uint32_t rmi_area_count(const void *buf);

/* Bytes free between the order and the records. */
extern size_t rmi_area_free(const void *buf, size_t cap);

/*
 * The hole: offsets in buf of the end of the order and the start of the
 * records (what a PostgreSQL page's pd_lower and pd_upper mark).
 */
extern void rmi_area_hole(const void *buf, size_t cap, size_t *lower,
						  size_t *upper);

/* The area entry at position pos (below the count), dead flag and all. */
extern void rmi_area_get(const void *buf, size_t cap, uint32_t pos,
						 RmiPageEntry *out);

/* The first area position whose entry is >= probe (> probe if strict). */
extern uint32_t rmi_area_search(const void *buf, size_t cap,
								const RmiPageEntry *probe, int strict);

/*
 * Add entry to the area in its place; returns its position, or -1 if the
 * area has no room (rmi_area_free below RMI_AREA_ENTRY_BYTES, or the
 * count at its maximum).  Its dead flag is kept.
 */
extern int	rmi_area_insert(void *buf, size_t cap, const RmiPageEntry *entry);

/* Set or clear the dead flag of the area entry at pos (dead: 0 or 1). */
extern void rmi_area_set_dead(void *buf, size_t cap, uint32_t pos, int dead);

/*
 * Empty the area, keeping the packed part (the records' bytes are
 * zeroed, so a page's free space is zero as after encoding).
 */
extern void rmi_area_clear(void *buf, size_t cap);

/*
 * 1 if every area entry sorts after the last packed entry: the page took
 * only appends since it was encoded.
 */
extern int	rmi_area_appends_only(const void *buf, size_t cap);

/* ---- The whole page: packed and area entries merged ---- */

/* Entries on the page: packed and area. */
extern uint32_t rmi_area_total(const void *buf);

/*
 * The cursor before the first entry >= probe (> probe if strict): the
 * packed search (through the page model; *mispredicted as there) and the
 * area's.
 */
extern void rmi_area_seek(const void *buf, size_t cap,
						  const RmiPageEntry *probe, int strict,
						  RmiAreaCursor *cursor, int *mispredicted);

/*
 * Up to max entries from the cursor, forward (in ascending order) or
 * backward (in descending order), moving the cursor past them; returns how
 * many.  If from_area is given, from_area[i] says whether out[i] came
 * from the area (1) or the packed part (0), and its position or slot is
 * the cursor's before the entry was taken.
 */
extern uint32_t rmi_area_read(const void *buf, size_t cap,
							  RmiAreaCursor *cursor, int backward,
							  RmiPageEntry *out, uint8_t *from_area,
							  uint32_t max);

/*
 * The page's first entry (last: its last), packed or in its area, into
 * *out; 0 if the page holds none.
 */
extern int	rmi_area_edge(const void *buf, size_t cap, int last,
						  RmiPageEntry *out);

/* Every entry of the page, merged, into out[0..rmi_area_total(buf)). */
extern uint32_t rmi_area_decode_all(const void *buf, size_t cap,
									RmiPageEntry *out);

/* ---- Repacking and splitting ---- */

/*
 * How to write sorted entries e[0..n) as pages of cap bytes that each
 * keep at least reserve bytes free for an area: the number of pages k
 * and the first entry of each, starts[0..k) (starts[0] is 0).  With
 * rightmost, pages are packed as full as reserve allows from the left, as
 * a B-tree splits its rightmost page (keys after the last go on after
 * it); else the entries are shared evenly by count among the fewest pages
 * that hold them.  Returns 0 if more than max_pages are needed (or n is 0).
 */
extern uint32_t rmi_area_plan(const RmiPageEntry *e, uint32_t n, size_t cap,
							  size_t reserve, int rightmost,
							  uint32_t *starts, uint32_t max_pages);

#endif							/* KYRO_RMI_AREA_H */
