/*
 * rmi_area.c
 *	  The insert area of an encoded page, and reading a page's packed and
 *	  area entries merged; repack and split planning.  The layout is in
 *	  rmi_area.h.
 *
 * Records and the order are copied in and out with memcpy, since the
 * buffer may be unaligned.  The area's count lives in the packed header,
 * so a page describes itself: rmi_page_encode writes it as 0.
 */
#include <string.h>

#include "rmi_area.h"

/* A record as stored: the codec's entry, whose layout has no padding. */
typedef RmiPageEntry AreaRecord;

/* Pages a plan tries in one pass before giving up (see rmi_area_plan). */
#define PLAN_MAX_TRIES		64

/* ---- The layout ---- */

static inline uint32_t
area_count(const void *buf)
{
	uint32_t	n;

	memcpy(&n, (const unsigned char *) buf + offsetof(RmiPageHeader, area),
		   sizeof(n));
	return n;
}

static inline void
set_area_count(void *buf, uint32_t n)
{
	memcpy((unsigned char *) buf + offsetof(RmiPageHeader, area), &n,
		   sizeof(n));
}

/* Where the order starts: just after the packed encoding. */
static inline size_t
order_at(const void *buf)
{
	return rmi_page_bytes(buf);
}

/* Where record r is. */
static inline size_t
record_at(size_t cap, uint32_t r)
{
	return cap - (size_t) (r + 1) * RMI_AREA_RECORD_BYTES;
}

/*
 * The record number at position pos of the order; one at or past n (a
 * damaged order) reads as the last record, so reads stay in the page.
 */
static inline uint32_t
order_get(const void *buf, uint32_t n, uint32_t pos)
{
	uint16_t	r;

	memcpy(&r, (const unsigned char *) buf + order_at(buf) +
		   (size_t) pos * RMI_AREA_ORDER_BYTES, sizeof(r));
	return r < n ? r : n - 1;
}

static inline void
read_record(const void *buf, size_t cap, uint32_t r, RmiPageEntry *out)
{
	memcpy(out, (const unsigned char *) buf + record_at(cap, r), sizeof(*out));
	out->dead = out->dead ? 1 : 0;
}

/* ---- Checking ---- */

RmiAreaStatus
rmi_area_check(const void *buf, size_t cap, RmiPageStatus *packed_status)
{
	RmiPageStatus status = rmi_page_check(buf, cap);
	uint32_t	n;

	if (packed_status)
		*packed_status = status;
	if (status != RMI_PAGE_OK)
		return RMI_AREA_PACKED_BAD;
	n = area_count(buf);
	if (n > RMI_AREA_MAX_ENTRIES ||
		order_at(buf) + (size_t) n * RMI_AREA_ENTRY_BYTES > cap)
		return RMI_AREA_SHORT;
	return RMI_AREA_OK;
}

RmiAreaStatus
rmi_area_verify(const void *buf, size_t cap, RmiPageStatus *packed_status)
{
	RmiAreaStatus status = rmi_area_check(buf, cap, packed_status);
	RmiPageStatus packed;
	uint8_t		seen[RMI_AREA_MAX_ENTRIES];
	RmiPageEntry prev;
	uint32_t	n;
	uint32_t	i;

	if (status != RMI_AREA_OK)
		return status;
	packed = rmi_page_verify(buf, cap);
	if (packed_status)
		*packed_status = packed;
	if (packed != RMI_PAGE_OK)
		return RMI_AREA_PACKED_BAD;

	n = area_count(buf);
	memset(seen, 0, n);
	memset(&prev, 0, sizeof(prev));
	for (i = 0; i < n; i++)
	{
		uint16_t	r;
		RmiPageEntry cur;
		uint32_t	slot;

		memcpy(&r, (const unsigned char *) buf + order_at(buf) +
			   (size_t) i * RMI_AREA_ORDER_BYTES, sizeof(r));
		if (r >= n || seen[r])
			return RMI_AREA_ORDER_BAD;
		seen[r] = 1;
		read_record(buf, cap, r, &cur);
		/* equal entries are allowed while one is dead (a reused TID) */
		if (i > 0 && (rmi_page_compare(&prev, &cur) > 0 ||
					  (rmi_page_compare(&prev, &cur) == 0 &&
					   !prev.dead && !cur.dead)))
			return RMI_AREA_ORDER_BAD;
		slot = rmi_page_search(buf, &cur, 0, NULL);
		if (slot < rmi_page_count(buf))
		{
			RmiPageEntry packed_entry;

			rmi_page_get(buf, slot, &packed_entry);
			if (rmi_page_compare(&packed_entry, &cur) == 0 &&
				!packed_entry.dead && !cur.dead)
				return RMI_AREA_DUPLICATE;
		}
		prev = cur;
	}
	return RMI_AREA_OK;
}

const char *
rmi_area_status_message(RmiAreaStatus status)
{
	switch (status)
	{
		case RMI_AREA_OK:
			return "insert area is valid";
		case RMI_AREA_PACKED_BAD:
			return "packed entries are damaged";
		case RMI_AREA_SHORT:
			return "insert area does not fit on the page";
		case RMI_AREA_ORDER_BAD:
			return "insert area entries are not in ascending order";
		case RMI_AREA_DUPLICATE:
			return "insert area repeats a packed entry";
	}
	return "unknown insert area status";
}

/* ---- The area ---- */

uint32_t
rmi_area_count(const void *buf)
{
	return area_count(buf);
}

size_t
rmi_area_free(const void *buf, size_t cap)
{
	size_t		used = order_at(buf) +
		(size_t) area_count(buf) * RMI_AREA_ENTRY_BYTES;

	return used < cap ? cap - used : 0;
}

void
rmi_area_hole(const void *buf, size_t cap, size_t *lower, size_t *upper)
{
	uint32_t	n = area_count(buf);

	*lower = order_at(buf) + (size_t) n * RMI_AREA_ORDER_BYTES;
	*upper = cap - (size_t) n * RMI_AREA_RECORD_BYTES;
}

void
rmi_area_get(const void *buf, size_t cap, uint32_t pos, RmiPageEntry *out)
{
	read_record(buf, cap, order_get(buf, area_count(buf), pos), out);
}

uint32_t
rmi_area_search(const void *buf, size_t cap, const RmiPageEntry *probe,
				int strict)
{
	uint32_t	n = area_count(buf);
	uint32_t	lo = 0;
	uint32_t	hi = n;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		RmiPageEntry e;
		int			cmp;

		read_record(buf, cap, order_get(buf, n, mid), &e);
		cmp = rmi_page_compare(&e, probe);
		if (strict ? cmp <= 0 : cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
rmi_area_insert(void *buf, size_t cap, const RmiPageEntry *entry)
{
	unsigned char *b = (unsigned char *) buf;
	uint32_t	n = area_count(buf);
	uint32_t	pos;
	uint16_t	r = (uint16_t) n;
	size_t		order = order_at(buf);
	AreaRecord	rec;

	if (n >= RMI_AREA_MAX_ENTRIES || rmi_area_free(buf, cap) < RMI_AREA_ENTRY_BYTES)
		return -1;
	pos = rmi_area_search(buf, cap, entry, 1);
	rec = *entry;
	rec.dead = entry->dead ? 1 : 0;
	memcpy(b + record_at(cap, n), &rec, sizeof(rec));
	memmove(b + order + (size_t) (pos + 1) * RMI_AREA_ORDER_BYTES,
			b + order + (size_t) pos * RMI_AREA_ORDER_BYTES,
			(size_t) (n - pos) * RMI_AREA_ORDER_BYTES);
	memcpy(b + order + (size_t) pos * RMI_AREA_ORDER_BYTES, &r, sizeof(r));
	set_area_count(buf, n + 1);
	return (int) pos;
}

void
rmi_area_set_dead(void *buf, size_t cap, uint32_t pos, int dead)
{
	uint32_t	r = order_get(buf, area_count(buf), pos);
	uint16_t	flag = dead ? 1 : 0;

	memcpy((unsigned char *) buf + record_at(cap, r) +
		   offsetof(AreaRecord, dead), &flag, sizeof(flag));
}

void
rmi_area_clear(void *buf, size_t cap)
{
	memset((unsigned char *) buf + order_at(buf), 0, cap - order_at(buf));
	set_area_count(buf, 0);
}

int
rmi_area_appends_only(const void *buf, size_t cap)
{
	uint32_t	n = area_count(buf);
	RmiPageEntry last;
	RmiPageEntry first;

	if (n == 0)
		return 1;
	rmi_page_get(buf, rmi_page_count(buf) - 1, &last);
	rmi_area_get(buf, cap, 0, &first);
	return rmi_page_compare(&first, &last) > 0;
}

/* ---- Merged reading ---- */

uint32_t
rmi_area_total(const void *buf)
{
	return rmi_page_count(buf) + area_count(buf);
}

void
rmi_area_seek(const void *buf, size_t cap, const RmiPageEntry *probe,
			  int strict, RmiAreaCursor *cursor, int *mispredicted)
{
	cursor->packed = rmi_page_search(buf, probe, strict, mispredicted);
	cursor->area = rmi_area_search(buf, cap, probe, strict);
}

/*
 * Packed entries a read has decoded, a run at a time: one opening of the
 * page per run, not per entry (slots lo..lo + n).
 */
#define PACKED_RUN_ENTRIES	32

typedef struct PackedRun
{
	RmiPageEntry e[PACKED_RUN_ENTRIES];
	uint32_t	lo;
	uint32_t	n;
} PackedRun;

/*
 * Packed entry slot, decoding a run of up to want entries from it in the
 * read's direction if the run does not hold it (want: how many entries on
 * that side the read may still take, slot's own included).
 */
static const RmiPageEntry *
packed_at(const void *buf, PackedRun *run, uint32_t slot, int backward,
		  uint32_t want)
{
	if (run->n == 0 || slot < run->lo || slot >= run->lo + run->n)
	{
		run->n = want < PACKED_RUN_ENTRIES ? want : PACKED_RUN_ENTRIES;
		run->lo = backward ? slot + 1 - run->n : slot;
		rmi_page_decode(buf, run->lo, run->n, run->e);
	}
	return &run->e[slot - run->lo];
}

uint32_t
rmi_area_read(const void *buf, size_t cap, RmiAreaCursor *cursor,
			  int backward, RmiPageEntry *out, uint8_t *from_area,
			  uint32_t max)
{
	uint32_t	packed_n = rmi_page_count(buf);
	uint32_t	area_n = area_count(buf);
	uint32_t	p = cursor->packed < packed_n ? cursor->packed : packed_n;
	uint32_t	a = cursor->area < area_n ? cursor->area : area_n;
	uint32_t	got = 0;
	RmiPageEntry pe;
	RmiPageEntry ae;
	int			need_p = 1;		/* pe is to be read (again) */
	int			need_a = 1;
	PackedRun	run;

	run.n = 0;

	/*
	 * Each step compares the next entry of each side and takes one; only
	 * the side taken is read again.
	 */
	while (got < max)
	{
		int			have_p = backward ? p > 0 : p < packed_n;
		int			have_a = backward ? a > 0 : a < area_n;
		int			take_area;

		if (!have_p && !have_a)
			break;
		if (have_p && need_p)
		{
			uint32_t	left = backward ? p : packed_n - p;

			pe = *packed_at(buf, &run, backward ? p - 1 : p, backward,
							left < max - got ? left : max - got);
		}
		if (have_a && need_a)
			rmi_area_get(buf, cap, backward ? a - 1 : a, &ae);
		need_p = need_a = 0;
		if (have_p && have_a)
		{
			int			cmp = rmi_page_compare(&ae, &pe);

			take_area = backward ? cmp > 0 : cmp < 0;
		}
		else
			take_area = have_a;

		out[got] = take_area ? ae : pe;
		if (from_area)
			from_area[got] = (uint8_t) take_area;
		got++;
		if (take_area)
		{
			a = backward ? a - 1 : a + 1;
			need_a = 1;
		}
		else
		{
			p = backward ? p - 1 : p + 1;
			need_p = 1;
		}
	}
	cursor->packed = p;
	cursor->area = a;
	return got;
}

int
rmi_area_edge(const void *buf, size_t cap, int last, RmiPageEntry *out)
{
	RmiAreaCursor cursor = {0, 0};

	if (last)
	{
		cursor.packed = rmi_page_count(buf);
		cursor.area = area_count(buf);
	}
	return rmi_area_read(buf, cap, &cursor, last, out, NULL, 1) == 1;
}

uint32_t
rmi_area_decode_all(const void *buf, size_t cap, RmiPageEntry *out)
{
	RmiAreaCursor cursor = {0, 0};

	return rmi_area_read(buf, cap, &cursor, 0, out, NULL, rmi_area_total(buf));
}

/* ---- Planning pages ---- */

/* 1 if e[0..n) encodes in cap - reserve bytes. */
static inline int
fits(const RmiPageEntry *e, uint32_t n, size_t cap, size_t reserve)
{
	size_t		size = rmi_page_size(e, n);

	return size != SIZE_MAX && size + reserve <= cap;
}

uint32_t
rmi_area_plan(const RmiPageEntry *e, uint32_t n, size_t cap, size_t reserve,
			  int rightmost, uint32_t *starts, uint32_t max_pages)
{
	uint32_t	k;

	if (n == 0 || max_pages == 0 || reserve >= cap)
		return 0;

	if (rightmost)
	{
		uint32_t	at = 0;
		uint32_t	guess = 0;

		for (k = 0; at < n; k++)
		{
			uint32_t	m;

			if (k == max_pages)
				return 0;
			m = rmi_page_fit(e + at, n - at, cap - reserve, guess);
			if (m == 0)
				return 0;		/* not even one entry fits: reserve too big */
			starts[k] = at;
			at += m;
			guess = m;
		}
		return k;
	}

	/*
	 * The fewest pages that hold e[0..n) shared evenly: from the estimate
	 * of the whole run's size, one more page at a time until every share
	 * fits (a share of one entry always does).
	 */
	{
		size_t		whole = rmi_page_size(e, n < RMI_PAGE_MAX_ENTRIES ? n :
										   RMI_PAGE_MAX_ENTRIES);
		uint64_t	guess_k = 1;
		int			tries = 0;

		if (whole != SIZE_MAX && n > RMI_PAGE_MAX_ENTRIES)
			whole = whole / RMI_PAGE_MAX_ENTRIES * n;
		if (whole != SIZE_MAX)
			guess_k = (whole + (cap - reserve) - 1) / (cap - reserve);
		if (guess_k < (n + RMI_PAGE_MAX_ENTRIES - 1) / RMI_PAGE_MAX_ENTRIES)
			guess_k = (n + RMI_PAGE_MAX_ENTRIES - 1) / RMI_PAGE_MAX_ENTRIES;
		if (guess_k == 0)
			guess_k = 1;

		for (k = (uint32_t) guess_k; k <= n; k++)
		{
			uint32_t	i;
			int			all_fit = 1;

			if (k > max_pages || ++tries > PLAN_MAX_TRIES)
				return 0;
			for (i = 0; i < k && all_fit; i++)
			{
				uint32_t	from = (uint32_t) ((uint64_t) n * i / k);
				uint32_t	to = (uint32_t) ((uint64_t) n * (i + 1) / k);

				starts[i] = from;
				all_fit = fits(e + from, to - from, cap, reserve);
			}
			if (all_fit)
				return k;
		}
	}
	return 0;
}
