/*
 * rmi_page.h
 *	  The page codec: a snapshot page's entries, packed at widths chosen for
 *	  that page alone, with a linear model of its own keys for the search.
 *
 * An entry is (key, block, offset) and a dead bit; entries are sorted by
 * (key, block, offset).  Each of the three values is a column, stored as
 * unsigned residuals from a line through the column (value at slot i =
 * base + i * step + residual, modulo 2^64), or from the column's minimum
 * when that is narrower.  Ids and timestamps in insertion order have keys
 * and blocks on a line: an entry then costs little more than its offset.
 *
 * The search model maps a key to a slot: slot = (key - first_key) * slope,
 * the key clamped to [first_key, first_key + key_span], with error bounds
 * the encoder measured with this very function.  Like the RMI it is only a
 * hint: every search checks its answer and gallops outward when the
 * bounds were wrong, so a damaged model costs reads, never a wrong slot.
 *
 * Bytes are in the machine's order (a page never leaves the machine except
 * through WAL and base backups, to a server of the same architecture).
 *
 * Pure C99 with no PostgreSQL headers; the access method calls it.
 */
#ifndef KYRO_RMI_PAGE_H
#define KYRO_RMI_PAGE_H

#include <stddef.h>
#include <stdint.h>

#define RMI_PAGE_VERSION		1
#define RMI_PAGE_MAX_ENTRIES	8192	/* slots must stay below 2^13 */

/* One entry as the codec sees it. */
typedef struct RmiPageEntry
{
	uint64_t	key;
	uint32_t	block;
	uint16_t	offset;
	uint16_t	dead;			/* 0 or 1 */
} RmiPageEntry;

/*
 * One packed column: value at slot i = base + i * step + (i * frac >> 32)
 * + residual, modulo 2^64 (step and frac are 0 for a column stored
 * against its minimum).
 */
typedef struct RmiPageColumn
{
	uint64_t	base;
	uint64_t	step;
	uint32_t	frac;
	uint8_t		bits;			/* width of each residual, 0 to 64 */
	uint8_t		pad[3];
} RmiPageColumn;

/* The header at the start of an encoded page. */
typedef struct RmiPageHeader
{
	uint16_t	count;			/* entries, 1 to RMI_PAGE_MAX_ENTRIES */
	uint8_t		version;		/* RMI_PAGE_VERSION */
	uint8_t		pad;
	uint32_t	err_lo;			/* max (predicted slot - true slot) */
	uint32_t	err_hi;			/* max (true slot - predicted slot) */
	uint32_t	area;			/* entries in the insert area (rmi_area.h);
								 * 0 when encoded */
	uint64_t	first_key;
	uint64_t	key_span;		/* last key - first key */
	double		slope;			/* slots per key unit */
	RmiPageColumn keys;
	RmiPageColumn blocks;
	RmiPageColumn offsets;
} RmiPageHeader;

/* Why a page fails rmi_page_check or rmi_page_verify. */
typedef enum RmiPageStatus
{
	RMI_PAGE_OK = 0,
	RMI_PAGE_SHORT,				/* buffer shorter than the header says */
	RMI_PAGE_VERSION_BAD,		/* unknown version */
	RMI_PAGE_COUNT_BAD,			/* count 0 or above the maximum */
	RMI_PAGE_WIDTH_BAD,			/* a column wider than 64 bits, or the
								 * block or offset column wider than its
								 * type */
	RMI_PAGE_ORDER_BAD,			/* entries out of (key, block, offset) order */
	RMI_PAGE_BOUNDS_BAD,		/* the search model's bounds miss a key */
	RMI_PAGE_SUMMARY_BAD		/* first_key or key_span disagree with keys */
} RmiPageStatus;

/*
 * Encoding.  Entries e[0..n) must be sorted; their dead flags are kept.
 * rmi_page_size: the bytes the encoding of e[0..n) needs (SIZE_MAX if n is
 * 0 or above RMI_PAGE_MAX_ENTRIES).
 * rmi_page_fit: the largest m <= n whose encoding of e[0..m) fits in cap
 * bytes (0 only if not even one entry fits); guess, if nonzero, is where to
 * start looking (the previous page's count), so a page costs a few passes.
 * "Largest" in the sense that e[0..m) fits and e[0..m + 1) does not (or m
 * is n or RMI_PAGE_MAX_ENTRIES): the size is not monotone in m, since the
 * columns' lines move with the last entry, so a count beyond one that
 * does not fit might fit again; the search does not look past it.
 * rmi_page_encode: encode e[0..n) into buf[0..cap); returns the bytes
 * used, or 0 if they do not fit (buf is then undefined).  buf need not be
 * aligned.  Bytes past the encoding up to cap are zeroed.
 */
extern size_t rmi_page_size(const RmiPageEntry *e, uint32_t n);
extern uint32_t rmi_page_fit(const RmiPageEntry *e, uint32_t n, size_t cap,
							 uint32_t guess);
extern size_t rmi_page_encode(const RmiPageEntry *e, uint32_t n, void *buf,
							  size_t cap);

/*
 * Reading.  rmi_page_check validates the header against cap in O(1): after
 * RMI_PAGE_OK every other reader below stays inside buf[0..cap) whatever
 * the rest of the bytes hold.  rmi_page_verify checks everything (order,
 * summary, the search model's bounds) in O(count).  Readers take slots
 * below the header's count.
 */
extern RmiPageStatus rmi_page_check(const void *buf, size_t cap);
extern RmiPageStatus rmi_page_verify(const void *buf, size_t cap);
extern const char *rmi_page_status_message(RmiPageStatus status);
extern uint32_t rmi_page_count(const void *buf);
extern size_t rmi_page_bytes(const void *buf);
extern uint64_t rmi_page_key(const void *buf, uint32_t slot);
extern void rmi_page_get(const void *buf, uint32_t slot, RmiPageEntry *out);
extern void rmi_page_decode(const void *buf, uint32_t from, uint32_t n,
							RmiPageEntry *out);
/* Set or clear the dead flag of the entry at slot (dead: 0 or 1). */
extern void rmi_page_set_dead(void *buf, uint32_t slot, int dead);
/* The entries whose dead flag is set. */
extern uint32_t rmi_page_dead_count(const void *buf);

/*
 * Compare two entries by (key, block, offset): <0, 0, >0.  The dead flag
 * does not take part.
 */
static inline int
rmi_page_compare(const RmiPageEntry *a, const RmiPageEntry *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->block != b->block)
		return a->block < b->block ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

/*
 * The first slot whose entry is >= probe (> probe if strict), in
 * [0, count]: the page model's window, checked against its neighbours,
 * galloping outward if the model was wrong (*mispredicted set then, if
 * given).  Exact for any page that passed rmi_page_check, even one whose
 * model or order is damaged (then "first" is only some slot in range).
 */
extern uint32_t rmi_page_search(const void *buf, const RmiPageEntry *probe,
								int strict, int *mispredicted);

#endif							/* KYRO_RMI_PAGE_H */
