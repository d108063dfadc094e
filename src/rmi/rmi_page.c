/*
 * rmi_page.c
 *	  The page codec: packs sorted (key, block, offset) entries into one
 *	  page with per-page widths, and searches them through the page's own
 *	  linear model.  The format is described in rmi_page.h.
 *
 * Layout of an encoded page: the header (copied in and out with memcpy,
 * since the buffer may be unaligned), then the records, one per entry,
 * in a region of whole 8-byte words, then PAGE_SLACK_BYTES of zeroes.
 * Every record has the same width W: the three columns' widths plus the
 * dead bit.  Record i starts at bit i * W of the region (bits counted from
 * bit 0 of its first byte upward) and holds the key residual, then the
 * block residual, then the offset residual, then the dead bit; a column
 * of width 0 takes no bits.  Records rather than a region per column,
 * because a lookup reads a few whole entries: the keys the search
 * compares, and the blocks, offsets and dead bits of the entries the scan
 * then returns, lie in the same cache lines.
 *
 * Why a reader cannot run past the page: a field is read as the 8 bytes at
 * its first byte plus the byte after them.  A field's first bit, even a
 * zero-width field's, lies inside its record (the dead bit ends every
 * record), so its first byte lies inside the region, and the slack (8
 * bytes) after the region holds the rest of the 9 bytes.  rmi_page_check
 * makes sure the encoding the header describes fits in the buffer, so
 * after it every read stays inside buf[0..cap), whatever the rest of the
 * bytes hold.
 *
 * Why the search is exact: the page model only chooses the window that
 * rmi_search_window (rmi_search.h) bisects first; the answer is checked
 * against the slots next to the window and the search gallops outward
 * when the model was wrong.  The encoder measures the model's error bounds
 * with page_predict, the very function the search uses, over the first
 * slot of every distinct key, so a present key, and an absent key after a
 * key without duplicates, is found without galloping.
 */
#include <string.h>

#include "rmi_page.h"
#include "rmi_search.h"

#define PAGE_HEADER_BYTES	sizeof(RmiPageHeader)
#define RECORDS_AT			PAGE_HEADER_BYTES	/* the records follow the header */
#define PAGE_SLACK_BYTES	8		/* a field is read as 9 bytes from its first */
#define WORD_BITS			64		/* regions are whole 64-bit words */
#define WORD_BYTES			8

/* Column widths: a value is at most 64 bits; blocks and offsets fit their type. */
#define MAX_KEY_BITS		64
#define MAX_BLOCK_BITS		32
#define MAX_OFFSET_BITS		16
#define DEAD_BITS			1

/* A field this wide or narrower lies within the 8 bytes at its first byte. */
#define NARROW_BITS			(WORD_BITS - 7)

/* The line's fraction of a step per slot, in units of 2^-FRAC_BITS. */
#define FRAC_BITS			32

/*
 * A column is stored against a line only if its values span less than
 * this: the residuals then fit in an int64 with room for the line's own
 * error (at most the span again on either side).
 */
#define LINE_MAX_RANGE		(UINT64_C(1) << 62)

/* Search windows of records up to this many cache lines are prefetched. */
#define PREFETCH_LINES		16
#define CACHE_LINE_BYTES	64

/* The first count rmi_page_fit tries when it has no guess. */
#define FIT_FIRST_GUESS		256

/* After this many guided tries rmi_page_fit only bisects, to bound its work. */
#define FIT_GUIDED_TRIES	6

#define N_COLUMNS			3
#define COLUMN_KEY			0
#define COLUMN_BLOCK		1
#define COLUMN_OFFSET		2

/* One column ready for reading: where its fields are and how to rebuild values. */
typedef struct ColumnReader
{
	const unsigned char *data;	/* the records' region */
	uint64_t	base;
	uint64_t	step;
	uint64_t	mask;			/* low bits ones */
	uint32_t	frac;
	uint32_t	bits;
	uint32_t	stride;			/* bits per record */
	uint32_t	shift;			/* where in its record the field starts */
} ColumnReader;

/* An opened page: its header and readers for its columns and dead bits. */
typedef struct PageReader
{
	RmiPageHeader hdr;
	ColumnReader keys;
	ColumnReader blocks;
	ColumnReader offsets;
	const unsigned char *records;
	uint32_t	stride;			/* bits per record */
	uint32_t	dead_shift;		/* where in its record the dead bit is */
} PageReader;

/* A probe and the page it searches, for page_before. */
typedef struct PageProbe
{
	const PageReader *page;
	uint64_t	key;
	uint64_t	tid_limit;		/* entries with this key before the probe
								 * have block << 16 | offset below this */
} PageProbe;

/* ---- Bits ---- */

/* The 8 bytes at p as a little-endian word, whatever the machine. */
static inline uint64_t
load_le64(const unsigned char *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* Store w at p as a little-endian word. */
static inline void
store_le64(unsigned char *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	memcpy(p, &w, sizeof(w));
}

/* Bits needed to write v: 0 for 0, 64 for values with the top bit set. */
static inline uint32_t
bit_width(uint64_t v)
{
#if defined(__GNUC__)
	return v == 0 ? 0 : (uint32_t) (64 - __builtin_clzll(v));
#else
	uint32_t	w = 0;

	while (v != 0)
	{
		w++;
		v >>= 1;
	}
	return w;
#endif
}

/* A mask of the low bits ones, for any width 0 to 64. */
static inline uint64_t
low_mask(uint32_t bits)
{
	return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

/*
 * The field of mask's width at bit bitpos of region.  The ninth byte is
 * always loaded (and shifted out when the field does not reach it), which
 * keeps the reader free of branches; see the file's note on why it is
 * inside the page.
 */
static inline uint64_t
read_field(const unsigned char *region, uint64_t bitpos, uint64_t mask)
{
	const unsigned char *p = region + (bitpos >> 3);
	uint32_t	shift = (uint32_t) (bitpos & 7);
	uint64_t	w = load_le64(p) >> shift;

	/* two shifts, so that shift 0 shifts the ninth byte out entirely */
	w |= ((uint64_t) p[8] << 1) << (63 - shift);
	return w & mask;
}

/*
 * The field of mask's width, at most NARROW_BITS, at bit bitpos of region:
 * it lies within the 8 bytes at its first byte.
 */
static inline uint64_t
read_narrow_field(const unsigned char *region, uint64_t bitpos, uint64_t mask)
{
	return (load_le64(region + (bitpos >> 3)) >> (bitpos & 7)) & mask;
}

/*
 * A writer of consecutive fields into a region, a word at a time (one
 * store per word rather than a read and a write per field, which would
 * stall on the overlapping stores).
 */
typedef struct BitWriter
{
	unsigned char *at;			/* where the next whole word goes */
	uint64_t	acc;			/* bits not yet stored, from bit 0 */
	uint32_t	used;			/* how many of acc's bits are taken, 0 to 63 */
} BitWriter;

/* Append v, already within its width of bits (0 to 64). */
static inline void
put_bits(BitWriter *w, uint64_t v, uint32_t bits)
{
	w->acc |= v << w->used;
	if (w->used + bits < WORD_BITS)
	{
		w->used += bits;
		return;
	}
	store_le64(w->at, w->acc);
	w->at += WORD_BYTES;
	/* the bits of v that did not fit; two shifts, since 64 - used may be 64 */
	w->acc = (v >> 1) >> (WORD_BITS - 1 - w->used);
	w->used = w->used + bits - WORD_BITS;
}

/* Store the last, partly filled word (the region has room for it). */
static inline void
flush_bits(BitWriter *w)
{
	if (w->used > 0)
		store_le64(w->at, w->acc);
}

/* ---- Columns ---- */

/* The line's offset from base at slot i: i * (step + frac / 2^32). */
static inline uint64_t
line_at(uint64_t step, uint32_t frac, uint64_t i)
{
	return i * step + ((i * (uint64_t) frac) >> FRAC_BITS);
}

/* The value of column col in entry e. */
static inline uint64_t
entry_value(const RmiPageEntry *e, int col)
{
	if (col == COLUMN_KEY)
		return e->key;
	if (col == COLUMN_BLOCK)
		return e->block;
	return e->offset;
}

/* The value at slot i of a column. */
static inline uint64_t
column_value(const ColumnReader *c, uint64_t i)
{
	return c->base + line_at(c->step, c->frac, i) +
		read_field(c->data, i * c->stride + c->shift, c->mask);
}

/* Bits of a record whose columns have these widths: theirs and the dead bit. */
static inline uint32_t
record_bits(uint32_t key_bits, uint32_t block_bits, uint32_t offset_bits)
{
	return key_bits + block_bits + offset_bits + DEAD_BITS;
}

/* The bytes of a page of count records of stride bits each. */
static inline size_t
page_bytes(uint32_t count, uint32_t stride)
{
	size_t		words = ((size_t) count * stride + WORD_BITS - 1) / WORD_BITS;

	return RECORDS_AT + words * WORD_BYTES + PAGE_SLACK_BYTES;
}

/* The bytes of a page of count entries whose columns have these widths. */
static inline size_t
size_for_widths(uint32_t count, const uint32_t *bits)
{
	return page_bytes(count, record_bits(bits[COLUMN_KEY], bits[COLUMN_BLOCK],
										 bits[COLUMN_OFFSET]));
}

/* The bytes of the page a header describes (its widths already checked). */
static inline size_t
header_page_bytes(const RmiPageHeader *hdr)
{
	return page_bytes(hdr->count, record_bits(hdr->keys.bits, hdr->blocks.bits,
											  hdr->offsets.bits));
}

/*
 * Choose how each column of e[0..n) is stored: against its minimum, or
 * against the line through its first and last values when the residuals
 * are then narrower (ties keep the minimum, which decodes the same way
 * with a zero step).  Two passes over the entries, all columns at once.
 */
static void
plan_columns(const RmiPageEntry *e, uint32_t n, RmiPageColumn *cols)
{
	uint64_t	first[N_COLUMNS];
	uint64_t	lo[N_COLUMNS];
	uint64_t	hi[N_COLUMNS];
	int64_t		rlo[N_COLUMNS];
	int64_t		rhi[N_COLUMNS];
	int			line[N_COLUMNS];
	int			any_line = 0;
	int			c;
	uint32_t	i;

	for (c = 0; c < N_COLUMNS; c++)
	{
		memset(&cols[c], 0, sizeof(RmiPageColumn));
		first[c] = lo[c] = hi[c] = entry_value(&e[0], c);
	}
	for (i = 1; i < n; i++)
		for (c = 0; c < N_COLUMNS; c++)
		{
			uint64_t	v = entry_value(&e[i], c);

			lo[c] = v < lo[c] ? v : lo[c];
			hi[c] = v > hi[c] ? v : hi[c];
		}

	for (c = 0; c < N_COLUMNS; c++)
	{
		uint64_t	last = entry_value(&e[n - 1], c);

		cols[c].base = lo[c];
		cols[c].bits = (uint8_t) bit_width(hi[c] - lo[c]);

		/* A line can only help a column that is not constant and rises. */
		line[c] = n >= 2 && cols[c].bits > 0 && last >= first[c] &&
			hi[c] - lo[c] < LINE_MAX_RANGE;
		if (line[c])
		{
			uint64_t	span = last - first[c];

			cols[c].step = span / (n - 1);
			cols[c].frac = (uint32_t) (((span % (n - 1)) << FRAC_BITS) / (n - 1));
			any_line = 1;
		}
		rlo[c] = rhi[c] = 0;
	}
	if (!any_line)
		return;

	/*
	 * Residuals from the line through the first value.  They are computed
	 * modulo 2^64 and read as signed, which is exact for a column whose
	 * values span less than LINE_MAX_RANGE; other columns' numbers here
	 * are never used.
	 */
	for (i = 1; i < n; i++)
		for (c = 0; c < N_COLUMNS; c++)
		{
			uint64_t	v = entry_value(&e[i], c);
			int64_t		r = (int64_t) (v - first[c] -
									   line_at(cols[c].step, cols[c].frac, i));

			rlo[c] = r < rlo[c] ? r : rlo[c];
			rhi[c] = r > rhi[c] ? r : rhi[c];
		}

	for (c = 0; c < N_COLUMNS; c++)
	{
		uint32_t	line_bits;

		if (!line[c])
			continue;
		line_bits = bit_width((uint64_t) rhi[c] - (uint64_t) rlo[c]);
		if (line_bits < cols[c].bits)
		{
			cols[c].base = first[c] + (uint64_t) rlo[c];
			cols[c].bits = (uint8_t) line_bits;
		}
		else
		{
			cols[c].step = 0;
			cols[c].frac = 0;
		}
	}
}

/* The widths of the three planned columns, as an array. */
static inline void
column_widths(const RmiPageColumn *cols, uint32_t *bits)
{
	int			c;

	for (c = 0; c < N_COLUMNS; c++)
		bits[c] = cols[c].bits;
}

/* ---- The search model ---- */

/*
 * The slot the page model predicts for key, in [0, last].  The key is
 * clamped to [first_key, first_key + key_span] first; NaN or infinite
 * products (a damaged slope) land on 0 or last.
 */
static inline uint32_t
page_predict(const RmiPageHeader *hdr, uint32_t last, uint64_t key)
{
	uint64_t	x = key > hdr->first_key ? key - hdr->first_key : 0;
	double		p;

	if (x > hdr->key_span)
		x = hdr->key_span;
	p = (double) x * hdr->slope;
	if (!(p >= 0.0))
		return 0;
	if (p >= (double) last)
		return last;
	return (uint32_t) p;
}

/*
 * Fit the search model of e[0..n) into hdr: the line through the first
 * and last keys, and its error over the first slot of every distinct key.
 */
static void
fit_search_model(const RmiPageEntry *e, uint32_t n, RmiPageHeader *hdr)
{
	int64_t		worst_lo = 0;
	int64_t		worst_hi = 0;
	uint32_t	i;

	hdr->first_key = e[0].key;
	hdr->key_span = e[n - 1].key - e[0].key;
	hdr->slope = hdr->key_span > 0 ? (double) (n - 1) / (double) hdr->key_span : 0.0;
	for (i = 0; i < n; i++)
	{
		int64_t		err;

		if (i > 0 && e[i].key == e[i - 1].key)
			continue;
		err = (int64_t) page_predict(hdr, n - 1, e[i].key) - (int64_t) i;
		worst_lo = err > worst_lo ? err : worst_lo;
		worst_hi = -err > worst_hi ? -err : worst_hi;
	}
	hdr->err_lo = (uint32_t) worst_lo;
	hdr->err_hi = (uint32_t) worst_hi;
}

/* ---- Opening a page ---- */

/* A reader of column col, whose fields start shift bits into each record. */
static inline void
open_column(const RmiPageColumn *col, const unsigned char *records,
			uint32_t stride, uint32_t shift, ColumnReader *c)
{
	c->data = records;
	c->base = col->base;
	c->step = col->step;
	c->frac = col->frac;
	c->bits = col->bits;
	c->mask = low_mask(col->bits);
	c->stride = stride;
	c->shift = shift;
}

/* Copy the header of buf out and set up readers of its records. */
static void
open_page(const void *buf, PageReader *r)
{
	const unsigned char *records = (const unsigned char *) buf + RECORDS_AT;
	uint32_t	key_bits;
	uint32_t	block_bits;
	uint32_t	offset_bits;

	memcpy(&r->hdr, buf, sizeof(RmiPageHeader));
	key_bits = r->hdr.keys.bits;
	block_bits = r->hdr.blocks.bits;
	offset_bits = r->hdr.offsets.bits;
	r->records = records;
	r->stride = record_bits(key_bits, block_bits, offset_bits);
	r->dead_shift = r->stride - DEAD_BITS;
	open_column(&r->hdr.keys, records, r->stride, 0, &r->keys);
	open_column(&r->hdr.blocks, records, r->stride, key_bits, &r->blocks);
	open_column(&r->hdr.offsets, records, r->stride, key_bits + block_bits,
				&r->offsets);
}

/* The dead bit of slot of an opened page. */
static inline uint16_t
read_dead(const PageReader *r, uint32_t slot)
{
	uint64_t	pos = (uint64_t) slot * r->stride + r->dead_shift;

	return (uint16_t) ((r->records[pos >> 3] >> (pos & 7)) & 1);
}

/* Entry slot of an opened page. */
static inline void
read_entry(const PageReader *r, uint32_t slot, RmiPageEntry *out)
{
	out->key = column_value(&r->keys, slot);
	out->block = (uint32_t) column_value(&r->blocks, slot);
	out->offset = (uint16_t) column_value(&r->offsets, slot);
	out->dead = read_dead(r, slot);
}

/* ---- Encoding ---- */

/* The bytes the encoding of e[0..n) needs; SIZE_MAX if n cannot be encoded. */
size_t
rmi_page_size(const RmiPageEntry *e, uint32_t n)
{
	RmiPageColumn cols[N_COLUMNS];
	uint32_t	bits[N_COLUMNS];

	if (n == 0 || n > RMI_PAGE_MAX_ENTRIES)
		return SIZE_MAX;
	plan_columns(e, n, cols);
	column_widths(cols, bits);
	return size_for_widths(n, bits);
}

/*
 * The most entries that fit in cap bytes if every column kept these
 * widths (0 if not one does): a first estimate from the bits per entry,
 * then stepping down past the region's rounding to whole words.
 */
static uint32_t
fit_for_widths(const uint32_t *bits, size_t cap)
{
	size_t		fixed = PAGE_HEADER_BYTES + PAGE_SLACK_BYTES;
	uint64_t	per_entry = (uint64_t) bits[COLUMN_KEY] + bits[COLUMN_BLOCK] +
		bits[COLUMN_OFFSET] + DEAD_BITS;
	uint64_t	m;

	if (cap <= fixed)
		return 0;
	m = (uint64_t) (cap - fixed) * 8 / per_entry;
	if (m > RMI_PAGE_MAX_ENTRIES)
		m = RMI_PAGE_MAX_ENTRIES;
	while (m > 0 && size_for_widths((uint32_t) m, bits) > cap)
		m--;
	return (uint32_t) m;
}

/*
 * A largest m <= n whose encoding fits in cap: e[0..m) fits and, unless
 * m == n, e[0..m + 1) does not.  The size is not monotone in m (the
 * columns' lines move with the last entry), so this keeps a bracket of a
 * count known to fit and one known not to, and narrows it: first by
 * asking, at each count tried, how many entries its widths would hold
 * (usually exact after two or three tries), then by plain bisection.
 */
uint32_t
rmi_page_fit(const RmiPageEntry *e, uint32_t n, size_t cap, uint32_t guess)
{
	uint32_t	fits = 0;		/* e[0..fits) fits (0 trivially) */
	uint32_t	over;			/* e[0..over) does not fit, or n + 1 */
	uint32_t	m;
	int			tries = 0;

	if (n > RMI_PAGE_MAX_ENTRIES)
		n = RMI_PAGE_MAX_ENTRIES;
	if (n == 0)
		return 0;
	over = n + 1;
	m = guess != 0 ? guess : FIT_FIRST_GUESS;
	if (m > n)
		m = n;

	for (;;)
	{
		RmiPageColumn cols[N_COLUMNS];
		uint32_t	bits[N_COLUMNS];
		uint32_t	next;

		plan_columns(e, m, cols);
		column_widths(cols, bits);
		if (size_for_widths(m, bits) <= cap)
			fits = m;
		else
			over = m;
		if (over - fits <= 1)
			break;

		next = fits + (over - fits) / 2;
		if (++tries <= FIT_GUIDED_TRIES)
		{
			uint32_t	held = fit_for_widths(bits, cap);

			/* m fit and its widths hold no more: try one more to close */
			if (held <= fits)
				held = fits + 1;
			if (held < over)
				next = held;
			else if (fits == m)
				next = over - 1;
		}
		m = next;
	}
	return fits;
}

/* Encode e[0..n) into buf[0..cap); the bytes used, or 0 if they do not fit. */
size_t
rmi_page_encode(const RmiPageEntry *e, uint32_t n, void *buf, size_t cap)
{
	unsigned char *b = (unsigned char *) buf;
	RmiPageHeader hdr;
	RmiPageColumn cols[N_COLUMNS];
	uint32_t	bits[N_COLUMNS];
	uint64_t	mask[N_COLUMNS];
	uint32_t	rest_bits;
	size_t		size;
	BitWriter	w;
	int			c;
	uint32_t	i;

	if (n == 0 || n > RMI_PAGE_MAX_ENTRIES)
		return 0;
	plan_columns(e, n, cols);
	column_widths(cols, bits);
	size = size_for_widths(n, bits);
	if (size > cap)
		return 0;

	memset(&hdr, 0, sizeof(hdr));
	hdr.count = (uint16_t) n;
	hdr.version = RMI_PAGE_VERSION;
	hdr.keys = cols[COLUMN_KEY];
	hdr.blocks = cols[COLUMN_BLOCK];
	hdr.offsets = cols[COLUMN_OFFSET];
	fit_search_model(e, n, &hdr);

	/* Fields are ORed into zeroes, and the tail must be zero anyway. */
	memset(b, 0, cap);
	memcpy(b, &hdr, sizeof(hdr));
	for (c = 0; c < N_COLUMNS; c++)
		mask[c] = low_mask(bits[c]);

	/*
	 * Each record goes in as two fields: the key, up to 64 bits, and the
	 * rest (block, offset, dead bit), at most 49 bits, packed together.
	 */
	rest_bits = bits[COLUMN_BLOCK] + bits[COLUMN_OFFSET] + DEAD_BITS;
	w.at = b + RECORDS_AT;
	w.acc = 0;
	w.used = 0;
	for (i = 0; i < n; i++)
	{
		uint64_t	v[N_COLUMNS];

		for (c = 0; c < N_COLUMNS; c++)
			v[c] = (entry_value(&e[i], c) - cols[c].base -
					line_at(cols[c].step, cols[c].frac, i)) & mask[c];
		put_bits(&w, v[COLUMN_KEY], bits[COLUMN_KEY]);
		put_bits(&w, v[COLUMN_BLOCK] |
				 v[COLUMN_OFFSET] << bits[COLUMN_BLOCK] |
				 (uint64_t) (e[i].dead ? 1 : 0) <<
				 (bits[COLUMN_BLOCK] + bits[COLUMN_OFFSET]),
				 rest_bits);
	}
	flush_bits(&w);
	return size;
}

/* ---- Checking ---- */

/* Validate the header against cap in O(1); see rmi_page.h. */
RmiPageStatus
rmi_page_check(const void *buf, size_t cap)
{
	RmiPageHeader hdr;

	if (buf == NULL || cap < sizeof(RmiPageHeader))
		return RMI_PAGE_SHORT;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.version != RMI_PAGE_VERSION)
		return RMI_PAGE_VERSION_BAD;
	if (hdr.count == 0 || hdr.count > RMI_PAGE_MAX_ENTRIES)
		return RMI_PAGE_COUNT_BAD;
	if (hdr.keys.bits > MAX_KEY_BITS || hdr.blocks.bits > MAX_BLOCK_BITS ||
		hdr.offsets.bits > MAX_OFFSET_BITS)
		return RMI_PAGE_WIDTH_BAD;
	if (header_page_bytes(&hdr) > cap)
		return RMI_PAGE_SHORT;
	return RMI_PAGE_OK;
}

/*
 * Check everything in O(count): the header, strictly ascending entries
 * (an index holds each row once), the summary of the keys, and the search
 * model's bounds, measured exactly as the search predicts.
 */
RmiPageStatus
rmi_page_verify(const void *buf, size_t cap)
{
	RmiPageStatus status = rmi_page_check(buf, cap);
	PageReader	r;
	RmiPageEntry prev;
	RmiPageEntry cur;
	uint32_t	last;
	int			bounds_ok = 1;
	uint32_t	i;

	if (status != RMI_PAGE_OK)
		return status;
	open_page(buf, &r);
	last = r.hdr.count - 1;
	memset(&prev, 0, sizeof(prev));
	for (i = 0; i <= last; i++)
	{
		read_entry(&r, i, &cur);
		if (i > 0 && rmi_page_compare(&prev, &cur) >= 0)
			return RMI_PAGE_ORDER_BAD;
		if (i == 0 || cur.key != prev.key)
		{
			int64_t		err = (int64_t) page_predict(&r.hdr, last, cur.key) -
				(int64_t) i;

			if (err > (int64_t) r.hdr.err_lo || -err > (int64_t) r.hdr.err_hi)
				bounds_ok = 0;
		}
		prev = cur;
	}
	if (column_value(&r.keys, 0) != r.hdr.first_key ||
		prev.key - r.hdr.first_key != r.hdr.key_span)
		return RMI_PAGE_SUMMARY_BAD;
	return bounds_ok ? RMI_PAGE_OK : RMI_PAGE_BOUNDS_BAD;
}

/* A short English reason for a status. */
const char *
rmi_page_status_message(RmiPageStatus status)
{
	switch (status)
	{
		case RMI_PAGE_OK:
			return "page is valid";
		case RMI_PAGE_SHORT:
			return "page is shorter than its header says";
		case RMI_PAGE_VERSION_BAD:
			return "unknown page format version";
		case RMI_PAGE_COUNT_BAD:
			return "entry count is zero or above the maximum";
		case RMI_PAGE_WIDTH_BAD:
			return "a column is wider than its type";
		case RMI_PAGE_ORDER_BAD:
			return "entries are not in ascending order";
		case RMI_PAGE_BOUNDS_BAD:
			return "search model bounds miss a key";
		case RMI_PAGE_SUMMARY_BAD:
			return "first key or key span disagree with the keys";
	}
	return "unknown page status";
}

/* ---- Reading ---- */

/* The number of entries on a checked page. */
uint32_t
rmi_page_count(const void *buf)
{
	uint16_t	count;

	memcpy(&count, (const unsigned char *) buf + offsetof(RmiPageHeader, count),
		   sizeof(count));
	return count;
}

/* The bytes the encoding of a checked page takes. */
size_t
rmi_page_bytes(const void *buf)
{
	RmiPageHeader hdr;

	memcpy(&hdr, buf, sizeof(hdr));
	return header_page_bytes(&hdr);
}

/* The key at slot of a checked page. */
uint64_t
rmi_page_key(const void *buf, uint32_t slot)
{
	PageReader	r;

	open_page(buf, &r);
	return column_value(&r.keys, slot);
}

/* The entry at slot of a checked page. */
void
rmi_page_get(const void *buf, uint32_t slot, RmiPageEntry *out)
{
	PageReader	r;

	open_page(buf, &r);
	read_entry(&r, slot, out);
}

/*
 * How decode_records reads a record: in one load when the whole record
 * lies within the 8 bytes at its first byte, else the key and the rest
 * apart (the rest, at most 49 bits, is always narrow).
 */
#define RECORD_ONE_LOAD		0
#define RECORD_NARROW_KEY	1
#define RECORD_WIDE_KEY		2

/*
 * Entries from..from + n of an opened page into out[0..n), walking the
 * records with a running bit position.  The lines advance by addition,
 * which gives exactly line_at's products; inlined with a constant how,
 * each way of reading a record gets its own tight loop.
 */
static inline void
decode_records_loop(const PageReader *r, uint32_t from, uint32_t n,
					RmiPageEntry *out, int how)
{
	const ColumnReader *k = &r->keys;
	const ColumnReader *b = &r->blocks;
	const ColumnReader *o = &r->offsets;
	uint32_t	offset_shift = b->bits;
	uint32_t	dead_shift = b->bits + o->bits;
	uint64_t	rest_mask = low_mask(b->bits + o->bits + DEAD_BITS);
	uint64_t	bitpos = (uint64_t) from * r->stride;
	uint64_t	key_whole = (uint64_t) from * k->step;
	uint64_t	key_part = (uint64_t) from * k->frac;
	uint64_t	block_whole = (uint64_t) from * b->step;
	uint64_t	block_part = (uint64_t) from * b->frac;
	uint64_t	offset_whole = (uint64_t) from * o->step;
	uint64_t	offset_part = (uint64_t) from * o->frac;
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		uint64_t	key;
		uint64_t	rest;		/* block, offset and dead bit, from bit 0 */

		if (how == RECORD_ONE_LOAD)
		{
			uint64_t	record = read_narrow_field(r->records, bitpos,
												   UINT64_MAX);

			key = record & k->mask;
			rest = record >> k->bits;
		}
		else
		{
			key = how == RECORD_NARROW_KEY ?
				read_narrow_field(r->records, bitpos, k->mask) :
				read_field(r->records, bitpos, k->mask);
			rest = read_narrow_field(r->records, bitpos + k->bits, rest_mask);
		}
		out[i].key = k->base + key_whole + (key_part >> FRAC_BITS) + key;
		out[i].block = (uint32_t) (b->base + block_whole +
								   (block_part >> FRAC_BITS) +
								   (rest & b->mask));
		out[i].offset = (uint16_t) (o->base + offset_whole +
									(offset_part >> FRAC_BITS) +
									((rest >> offset_shift) & o->mask));
		out[i].dead = (uint16_t) ((rest >> dead_shift) & 1);
		bitpos += r->stride;
		key_whole += k->step;
		key_part += k->frac;
		block_whole += b->step;
		block_part += b->frac;
		offset_whole += o->step;
		offset_part += o->frac;
	}
}

/* decode_records_loop, reading records as their widths allow. */
static void
decode_records(const PageReader *r, uint32_t from, uint32_t n,
			   RmiPageEntry *out)
{
	if (r->stride <= NARROW_BITS)
		decode_records_loop(r, from, n, out, RECORD_ONE_LOAD);
	else if (r->keys.bits <= NARROW_BITS)
		decode_records_loop(r, from, n, out, RECORD_NARROW_KEY);
	else
		decode_records_loop(r, from, n, out, RECORD_WIDE_KEY);
}

/* Entries from..from + n of a checked page into out[0..n). */
void
rmi_page_decode(const void *buf, uint32_t from, uint32_t n, RmiPageEntry *out)
{
	PageReader	r;

	open_page(buf, &r);
	decode_records(&r, from, n, out);
}

/* The bits of one record of a checked page, and its entry count. */
static uint32_t
record_stride(const void *buf, uint32_t *count)
{
	RmiPageHeader hdr;

	memcpy(&hdr, buf, sizeof(hdr));
	*count = hdr.count;
	return record_bits(hdr.keys.bits, hdr.blocks.bits, hdr.offsets.bits);
}

/* Set or clear the dead flag of slot of a checked page. */
void
rmi_page_set_dead(void *buf, uint32_t slot, int dead)
{
	unsigned char *b = (unsigned char *) buf;
	uint32_t	count;
	uint32_t	stride = record_stride(buf, &count);
	uint64_t	pos = (uint64_t) slot * stride + stride - DEAD_BITS;

	if (dead)
		b[RECORDS_AT + (pos >> 3)] |= (unsigned char) (1u << (pos & 7));
	else
		b[RECORDS_AT + (pos >> 3)] &= (unsigned char) ~(1u << (pos & 7));
}

/* The dead flags of a checked page that are set, read in place. */
uint32_t
rmi_page_dead_count(const void *buf)
{
	const unsigned char *b = (const unsigned char *) buf;
	uint32_t	count;
	uint32_t	stride = record_stride(buf, &count);
	uint32_t	dead = 0;

	for (uint64_t pos = stride - DEAD_BITS;
		 pos < (uint64_t) count * stride; pos += stride)
		dead += (b[RECORDS_AT + (pos >> 3)] >> (pos & 7)) & 1;
	return dead;
}

/* ---- Searching ---- */

/*
 * 1 if the entry at pos sorts before the probe.  Only the key is decoded
 * unless it equals the probe's; then block and offset are compared as one
 * number against the probe's, plus one for a strict search.
 */
static inline int
page_before(const void *ctx, uint64_t pos)
{
	const PageProbe *p = (const PageProbe *) ctx;
	uint64_t	key = column_value(&p->page->keys, pos);
	uint64_t	tid;

	if (key != p->key)
		return key < p->key;
	tid = (column_value(&p->page->blocks, pos) & UINT32_MAX) << 16 |
		(column_value(&p->page->offsets, pos) & UINT16_MAX);
	return tid < p->tid_limit;
}

/*
 * Ask for the cache lines of records lo..hi at once, if there are only a
 * few, so the search's dependent reads wait for one memory round trip
 * rather than one per step.
 */
static inline void
prefetch_records(const PageReader *r, uint64_t lo, uint64_t hi)
{
#if defined(__GNUC__)
	uint64_t	first = (lo * r->stride) >> 3;
	uint64_t	last = ((hi + 1) * r->stride + 7) >> 3;
	uint64_t	at;

	if (last - first > PREFETCH_LINES * CACHE_LINE_BYTES)
		return;
	for (at = first; at < last; at += CACHE_LINE_BYTES)
		__builtin_prefetch(r->records + at);
	__builtin_prefetch(r->records + last);
#else
	(void) r;
	(void) lo;
	(void) hi;
#endif
}

/* The first slot whose entry is >= probe (> probe if strict); see rmi_page.h. */
uint32_t
rmi_page_search(const void *buf, const RmiPageEntry *probe, int strict,
				int *mispredicted)
{
	PageReader	r;
	PageProbe	p;
	uint32_t	last;
	uint64_t	pred;
	uint64_t	lo;
	uint64_t	hi;

	open_page(buf, &r);
	if (r.hdr.count == 0)
	{
		if (mispredicted)
			*mispredicted = 0;
		return 0;
	}
	last = r.hdr.count - 1;
	p.page = &r;
	p.key = probe->key;
	p.tid_limit = ((uint64_t) probe->block << 16 | probe->offset) +
		(strict ? 1 : 0);

	pred = page_predict(&r.hdr, last, probe->key);
	lo = pred > r.hdr.err_lo ? pred - r.hdr.err_lo : 0;
	hi = pred + r.hdr.err_hi < last ? pred + r.hdr.err_hi : last;

	/*
	 * The search reads keys in the window and next to it, and the tids
	 * of entries whose key equals the probe's, likely in the window; a
	 * scan then decodes the entries from its answer on, dead bits and
	 * all.  Every one of them is in the window's records.
	 */
	prefetch_records(&r, lo > 0 ? lo - 1 : 0, hi);
	return (uint32_t) rmi_search_window(r.hdr.count, lo, hi, page_before, &p,
										mispredicted);
}
