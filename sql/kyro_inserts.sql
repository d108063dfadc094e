--
-- Insert areas: a build packs snapshot pages to the index's fillfactor, and
-- inserts go into the area of the page their key belongs to; once a page's
-- area is full, the page repacks or splits.  Scans merge both parts of
-- every page with the delta, in both directions; VACUUM flags area
-- entries; a fold keeps the areas of pages it leaves alone and empties
-- those it rewrites.
-- kyrodb.check(index, true) after every phase.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

CREATE TABLE ka (k int8, v int) WITH (autovacuum_enabled = off);
-- random multiples of 10, and 1000 to 1100: inserts land between them
SELECT setseed(0.25);
INSERT INTO ka SELECT (random() * 1e9)::int8 * 10, i FROM generate_series(1, 20000) i;
INSERT INTO ka SELECT i, 0 FROM generate_series(1000, 1100, 10) i;
CREATE INDEX ka_k ON ka USING kyro_rmi (k) WITH (delta_limit = 1073741824);
SELECT reloptions FROM pg_class WHERE relname = 'ka_k';
SELECT area_items, delta_items, snapshot_items, area_fill FROM kyrodb.stats('ka_k');

-- the quals every phase compares with a sequential scan
CREATE FUNCTION pg_temp.ka_compare()
RETURNS TABLE (n int, scan text, nrows bigint, missing bigint, extra bigint)
LANGUAGE sql AS $$
	SELECT 1, c.* FROM kyro_test.compare('SELECT k, v FROM ka WHERE k = 1010') c
	UNION ALL
	SELECT 2, c.* FROM kyro_test.compare('SELECT k, v FROM ka WHERE k BETWEEN 5000000000 AND 5020000000') c
	UNION ALL
	SELECT 3, c.* FROM kyro_test.compare('SELECT k FROM ka WHERE k IN (3, 1000, 1005, 1100, 7777777770)') c
	UNION ALL
	SELECT 4, c.* FROM kyro_test.compare('SELECT k FROM ka WHERE k < 20000000') c
	UNION ALL
	SELECT 5, c.* FROM kyro_test.compare('SELECT k FROM ka WHERE k >= 9980000000') c
	UNION ALL
	SELECT 6, c.* FROM kyro_test.compare('SELECT k FROM ka ORDER BY k DESC LIMIT 300', '{index}') c
	UNION ALL
	SELECT 7, c.* FROM kyro_test.compare('SELECT k FROM ka WHERE k > 3000000000 ORDER BY k LIMIT 300', '{index}') c
	UNION ALL
	SELECT 8, c.* FROM kyro_test.compare('SELECT k FROM ka WHERE k IS NULL') c
	ORDER BY 1, 2
$$;

-- Whether an index scan returns the same rows in the same order as a
-- sequential scan and a sort, forward and backward.
CREATE FUNCTION pg_temp.ka_ordered(lo int8, hi int8)
RETURNS TABLE (direction text, same_order bool)
LANGUAGE plpgsql AS $$
DECLARE
	want int8[];
	got int8[];
BEGIN
	SET LOCAL enable_seqscan = on;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_indexonlyscan = off;
	SET LOCAL enable_bitmapscan = off;
	SELECT array_agg(k ORDER BY k, v) INTO want FROM ka WHERE k BETWEEN lo AND hi;
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_indexscan = on;
	SET LOCAL enable_indexonlyscan = on;
	SET LOCAL enable_sort = off;
	SELECT array_agg(k) INTO got FROM (SELECT k FROM ka WHERE k BETWEEN lo AND hi ORDER BY k) s;
	direction := 'forward';
	same_order := got IS NOT DISTINCT FROM want;
	RETURN NEXT;
	SELECT array_agg(k) INTO got FROM (SELECT k FROM ka WHERE k BETWEEN lo AND hi ORDER BY k DESC) s;
	SELECT array_agg(x ORDER BY o DESC) INTO want FROM unnest(want) WITH ORDINALITY u(x, o);
	direction := 'backward';
	same_order := got IS NOT DISTINCT FROM want;
	RETURN NEXT;
END
$$;

-- area_fill against the pages themselves: the area entries' bytes (18
-- each) over those and the holes of the snapshot pages (the areas' free
-- space, between pd_lower and pd_upper; flags in the special space:
-- snapshot, neither deleted nor replaced)
CREATE EXTENSION IF NOT EXISTS pageinspect;
CREATE FUNCTION pg_temp.ka_fill_matches()
RETURNS bool LANGUAGE sql AS $$
	SELECT abs(s.area_fill - 18.0 * s.area_items / (18.0 * s.area_items + h.free)) < 1e-9
	FROM kyrodb.stats('ka_k') s,
		 (SELECT sum(ph.upper - ph.lower) AS free
		  FROM generate_series(1, pg_relation_size('ka_k') / 8192 - 1) b,
			   LATERAL (SELECT get_raw_page('ka_k', b::int) AS p) r,
			   LATERAL page_header(r.p) ph
		  WHERE (get_byte(r.p, 8188) + 256 * get_byte(r.p, 8189)) & 4 <> 0
			AND (get_byte(r.p, 8188) + 256 * get_byte(r.p, 8189)) & (256 + 1024) = 0) h
$$;
SELECT pg_temp.ka_fill_matches() AS fill_matches;

-- Phase 1: a few inserts between the keys of every page go to the pages'
-- areas.
INSERT INTO ka SELECT (random() * 1e9)::int8 * 10 + 5, -i FROM generate_series(1, 50) i;
INSERT INTO ka VALUES (1005, 1), (1005, 2), (1095, 1);
SELECT area_items, delta_items, live_items, area_fill > 0 AS filling,
	   pg_temp.ka_fill_matches() AS fill_matches
FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT * FROM pg_temp.ka_ordered(0, 1e10::int8);
SELECT kyrodb.check('ka_k', true);

-- Phase 2: more than the areas hold: pages repack in place (their packed
-- entries grow), and once full they split in two, the right half on a new
-- page that the left one links to; scans follow the links, and merge
-- packed and area entries.
INSERT INTO ka SELECT (random() * 1e9)::int8 * 10 + 3, i FROM generate_series(1, 3000) i;
SELECT snapshot_items > 20011 AS repacked, area_items > 0 AS in_areas,
	   split_pages > 0 AS split, delta_items,
	   live_items = (SELECT count(*) FROM ka) AS counted,
	   pg_temp.ka_fill_matches() AS fill_matches
FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT * FROM pg_temp.ka_ordered(0, 1e10::int8);
SELECT * FROM pg_temp.ka_ordered(1000, 1100);
SELECT kyrodb.check('ka_k', true);

-- A NULL key finds no NULL page (the table had none when the index was
-- built): it goes to the delta and asks for a fold (here, with no worker,
-- the insert folds), which writes a NULL page; the next NULLs go there.
SELECT snapshot_pages AS pages_before, folds AS folds_before
FROM kyrodb.stats('ka_k') \gset
INSERT INTO ka VALUES (NULL, 0);
SELECT delta_items, snapshot_pages - :pages_before AS new_pages,
	   folds - :folds_before AS new_folds
FROM kyrodb.stats('ka_k');
INSERT INTO ka SELECT NULL, i FROM generate_series(1, 40) i;
SELECT delta_items, folds - :folds_before AS new_folds FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare() WHERE n = 8;

-- Phase 3: VACUUM flags dead area entries (and packed and delta ones).
DELETE FROM ka WHERE v % 3 = 0;
VACUUM ka;
SELECT live_items = (SELECT count(*) FROM ka) AS counted FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT * FROM pg_temp.ka_ordered(0, 1e10::int8);
SELECT kyrodb.check('ka_k', true);

-- Phase 4: a fold rewrites every page that has entries in the delta (a
-- full one, splitting it), with its area.
SELECT kyrodb.snapshot('ka_k') > 1 AS folded;
SELECT delta_items, live_items = (SELECT count(*) FROM ka) AS counted
FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT kyrodb.check('ka_k', true);
-- the split pages have room: inserts go to their areas again
INSERT INTO ka SELECT (random() * 1e9)::int8 * 10 + 7, i FROM generate_series(1, 500) i;
SELECT delta_items, area_items > 0 AS in_areas FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT * FROM pg_temp.ka_ordered(0, 1e10::int8);

-- Phase 5: kyrodb.rebuild rewrites every page: no area keeps an entry.
SELECT epoch > 0 AS rebuilt FROM kyrodb.rebuild('ka_k');
SELECT area_items, delta_items, live_items = (SELECT count(*) FROM ka) AS counted
FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT kyrodb.check('ka_k', true);

-- Phase 6: keys past the last one split the last page as a B-tree splits
-- its rightmost leaf (the old entries stay, packed full; the new ones go
-- on a new page), and a fold with nothing in the delta publishes the split
-- pages in its directory, keeping every page, areas and all.
INSERT INTO ka SELECT (random() * 1e9)::int8 * 10 + 1, i FROM generate_series(1, 10) i;
INSERT INTO ka SELECT 1e10::int8 + i, i FROM generate_series(1, 3000) i;
SELECT area_items AS areas_before, snapshot_pages AS pages_before,
	   epoch AS epoch_before
FROM kyrodb.stats('ka_k') \gset
SELECT delta_items, split_pages > 0 AS split FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_ordered(0, 1e11::int8);
-- point lookups of the newest keys, one index scan each: the directory
-- names the page they were split off, and each moves right to its key
CREATE FUNCTION pg_temp.ka_probe_newest() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	found bigint := 0;
BEGIN
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_bitmapscan = off;
	FOR i IN 2901..3000 LOOP
		found := found + (SELECT count(*) FROM ka WHERE k = 1e10::int8 + i);
	END LOOP;
	RETURN found;
END
$$;
SELECT kyrodb.stats_reset('ka_k');
SELECT pg_temp.ka_probe_newest() AS found;
SELECT lookups >= 100 AS looked_up, mean_right_moves >= 1 AS moved_right
FROM kyrodb.stats('ka_k');
SELECT kyrodb.snapshot('ka_k') > :epoch_before AS new_epoch;
SELECT delta_items, split_pages, epoch > :epoch_before AS published,
	   area_items = :areas_before AS areas_kept,
	   snapshot_pages = :pages_before AS pages_kept,
	   live_items = (SELECT count(*) FROM ka) AS counted
FROM kyrodb.stats('ka_k');
-- published, the directory names the split pages: no lookup moves right
SELECT kyrodb.stats_reset('ka_k');
SELECT pg_temp.ka_probe_newest() AS found;
SELECT lookups >= 100 AS looked_up, mean_right_moves AS right_moves
FROM kyrodb.stats('ka_k');
SELECT * FROM pg_temp.ka_compare();
SELECT * FROM pg_temp.ka_ordered(0, 1e11::int8);
SELECT kyrodb.check('ka_k', true);

-- A scrollable cursor walks back and forth over a page while its area
-- takes inserts: each FETCH sees the rows as of the cursor's snapshot.
INSERT INTO ka SELECT i, 1 FROM generate_series(1000, 1100, 10) i;
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM ka WHERE k BETWEEN 1000 AND 1100 ORDER BY k;
FETCH 3 FROM c;
INSERT INTO ka VALUES (1001, 0), (1002, 0), (1099, 0);
FETCH 3 FROM c;
FETCH BACKWARD 4 FROM c;
FETCH LAST FROM c;
FETCH BACKWARD 2 FROM c;
COMMIT;
SELECT * FROM pg_temp.ka_ordered(1000, 1100);

-- A heap TID that VACUUM freed comes back with the same key: the new
-- entry equals the dead one on the page, and the insert clears its dead
-- flag rather than add a second entry beside it (a scan that resumes
-- after the dead one would skip it).  The metapage's count of dead packed
-- entries (snap_dead: 8 bytes at byte 64 of block 0, after the page
-- header; KyroMetaPageData in src/kyrodb.h) is an estimate the revival
-- leaves high, until the next fold counts the pages' own.  The dead entry is the
-- eighth of its key, where a lookup's first read of a page ends.
CREATE FUNCTION pg_temp.metapage_dead(index regclass) RETURNS bigint
LANGUAGE sql AS $fn$
SELECT get_byte(p, 64) + 256 * get_byte(p, 65) + 65536 * get_byte(p, 66)
	   + 16777216::int8 * get_byte(p, 67)
FROM get_raw_page(index::text, 0) p
$fn$;
CREATE TABLE kr (k int8) WITH (autovacuum_enabled = off);
INSERT INTO kr SELECT 5 FROM generate_series(1, 20);
INSERT INTO kr SELECT 100 + i FROM generate_series(1, 100) i;
CREATE INDEX kr_k ON kr USING kyro_rmi (k);
DELETE FROM kr WHERE ctid = '(0,8)';
VACUUM kr;
SELECT area_items, delta_items, dead_items FROM kyrodb.stats('kr_k');
INSERT INTO kr VALUES (5) RETURNING ctid = '(0,8)' AS reused;
SELECT area_items, delta_items, dead_items FROM kyrodb.stats('kr_k');
SELECT pg_temp.metapage_dead('kr_k') AS estimate_before_fold;
SELECT FROM kyrodb.snapshot('kr_k');
SELECT pg_temp.metapage_dead('kr_k') AS estimate_after_fold;
SELECT * FROM kyro_test.compare('SELECT k, ctid FROM kr WHERE k = 5');
SELECT * FROM kyro_test.compare('SELECT k FROM kr WHERE k <= 5 ORDER BY k DESC', '{index}');
SELECT kyrodb.check('kr_k', true);
-- and a dead entry in the area likewise: revived where it is
INSERT INTO kr VALUES (7) RETURNING ctid AS area_ctid \gset
DELETE FROM kr WHERE k = 7;
VACUUM kr;
INSERT INTO kr VALUES (7) RETURNING ctid = :'area_ctid' AS reused;
SELECT area_items, delta_items, dead_items FROM kyrodb.stats('kr_k');
SELECT * FROM kyro_test.compare('SELECT k, ctid FROM kr WHERE k BETWEEN 5 AND 7');
SELECT kyrodb.check('kr_k', true);
-- a dead entry whose TID comes back with another key stays dead beside it
DELETE FROM kr WHERE k = 7;
VACUUM kr;
INSERT INTO kr VALUES (8) RETURNING ctid = :'area_ctid' AS reused;
SELECT area_items, delta_items, dead_items FROM kyrodb.stats('kr_k');
SELECT * FROM kyro_test.compare('SELECT k, ctid FROM kr WHERE k BETWEEN 5 AND 8');
SELECT kyrodb.check('kr_k', true);
DROP TABLE kr;

-- NULL pages take inserts as pages of keys do: into their areas, and a
-- full one splits (the last NULL page as a rightmost page: new rows' TIDs
-- come after its last); scans and kyrodb.check follow their right-links,
-- VACUUM flags their dead entries, a freed TID taken by a NULL again
-- revives its entry, and a fold publishes the split pages.
CREATE TABLE kn (k int8, v int) WITH (autovacuum_enabled = off);
INSERT INTO kn SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE i END, i
FROM generate_series(1, 6000) i;
CREATE INDEX kn_k ON kn USING kyro_rmi (k);
CREATE FUNCTION pg_temp.kn_compare()
RETURNS TABLE (n int, scan text, nrows bigint, missing bigint, extra bigint)
LANGUAGE sql AS $$
	SELECT 1, c.* FROM kyro_test.compare('SELECT k, v FROM kn WHERE k IS NULL') c
	UNION ALL
	SELECT 2, c.* FROM kyro_test.compare('SELECT k FROM kn WHERE k IS NULL') c
	UNION ALL
	SELECT 3, c.* FROM kyro_test.compare('SELECT k, v FROM kn WHERE k IS NULL OR k < 100') c
	UNION ALL
	SELECT 4, c.* FROM kyro_test.compare('SELECT k, v FROM kn WHERE k IS NOT NULL AND k > 5900') c
	ORDER BY 1, 2
$$;
SELECT snapshot_pages, split_pages, delta_items FROM kyrodb.stats('kn_k');
-- a NULL whose TID (one VACUUM freed) comes before the first NULL page's
-- first entry goes to that page, whose range starts at minus infinity, and
-- is its first entry once the inserts below repack it
DELETE FROM kn WHERE v = 1;
VACUUM kn;
INSERT INTO kn VALUES (NULL, 0) RETURNING ctid = '(0,1)' AS before_first;
-- and one the delta takes (kyrodb.page_inserts = off sends it there),
-- before that page's first entry too: a fold gives it to the first NULL
-- page, never to the last page of keys, whose NULLs would start a NULL
-- page of their own before one that holds an earlier entry
SET kyrodb.page_inserts = off;
DELETE FROM kn WHERE v = 2;
VACUUM kn;
INSERT INTO kn VALUES (NULL, 0) RETURNING ctid = '(0,2)' AS before_first;
SELECT delta_items FROM kyrodb.stats('kn_k');
SELECT FROM kyrodb.snapshot('kn_k');
SELECT delta_items, snapshot_pages FROM kyrodb.stats('kn_k');
SELECT * FROM pg_temp.kn_compare();
SELECT kyrodb.check('kn_k', true);
RESET kyrodb.page_inserts;
INSERT INTO kn SELECT NULL, i FROM generate_series(1, 3000) i;
SELECT area_items > 0 AS in_areas, splits > 0 AS split,
	   split_pages > 0 AS unpublished, delta_items
FROM kyrodb.stats('kn_k');
SELECT * FROM pg_temp.kn_compare();
SELECT kyrodb.check('kn_k', true);
-- (few enough dead entries that VACUUM does not fold)
DELETE FROM kn WHERE k IS NULL AND v % 50 = 0;
VACUUM kn;
SELECT dead_items AS dead_before, split_pages > 0 AS unpublished
FROM kyrodb.stats('kn_k') \gset
SELECT :dead_before > 0 AS flagged, :'unpublished' AS unpublished;
INSERT INTO kn SELECT NULL, -i FROM generate_series(1, 500) i;
SELECT delta_items, dead_items < :dead_before AS revived,
	   live_items = (SELECT count(*) FROM kn) AS counted
FROM kyrodb.stats('kn_k');
SELECT * FROM pg_temp.kn_compare();
SELECT kyrodb.check('kn_k', true);
SELECT FROM kyrodb.snapshot('kn_k');
SELECT split_pages, delta_items FROM kyrodb.stats('kn_k');
SELECT * FROM pg_temp.kn_compare();
SELECT kyrodb.check('kn_k', true);
DROP TABLE kn;

-- fillfactor 100: pages packed full, which split at their first insert as
-- btree's leaves do; the inserts go to pages, none to the delta
CREATE TABLE kf100 (k int8);
INSERT INTO kf100 SELECT i * 2 FROM generate_series(1, 20000) i;
CREATE INDEX kf100_k ON kf100 USING kyro_rmi (k) WITH (fillfactor = 100);
INSERT INTO kf100 SELECT i * 2 + 1 FROM generate_series(1, 500) i;
SELECT splits > 0 AS split, area_items > 0 AS in_areas, delta_items
FROM kyrodb.stats('kf100_k');
SELECT kyrodb.check('kf100_k', true);
SELECT * FROM kyro_test.compare('SELECT k FROM kf100 WHERE k BETWEEN 0 AND 1100');
-- and a smaller fillfactor leaves more room: more pages; both take the
-- inserts after it
CREATE INDEX kf50_k ON kf100 USING kyro_rmi (k) WITH (fillfactor = 50);
SELECT s50.snapshot_pages > s100.snapshot_pages AS more_pages
FROM kyrodb.stats('kf50_k') s50, kyrodb.stats('kf100_k') s100;
INSERT INTO kf100 SELECT i * 2 + 1 FROM generate_series(501, 1500) i;
SELECT indexrelname, area_items, delta_items FROM kyrodb.stat_indexes
WHERE relname = 'kf100' ORDER BY 1;
SELECT kyrodb.check('kf50_k', true);
SELECT kyrodb.check('kf100_k', true);
DROP TABLE kf100;

-- An index built on an empty table has no page: its first key goes to the
-- delta and the insert folds, which writes the first page; the keys after
-- it go to that page, none to the delta, as they do for an index built on
-- rows
CREATE TABLE ke (k int8, v int);
CREATE INDEX ke_k ON ke USING kyro_rmi (k);
SELECT snapshot_pages, delta_items, folds FROM kyrodb.stats('ke_k');
INSERT INTO ke VALUES (500, 0);
SELECT snapshot_pages, delta_items, folds FROM kyrodb.stats('ke_k');
INSERT INTO ke SELECT (hashint4(i) & 1023), i FROM generate_series(1, 2000) i;
INSERT INTO ke SELECT NULL, i FROM generate_series(1, 10) i;
SELECT delta_items, folds, area_items + splits > 0 AS in_pages
FROM kyrodb.stats('ke_k');
SELECT * FROM kyro_test.compare('SELECT k, v FROM ke WHERE k BETWEEN 100 AND 300');
SELECT * FROM kyro_test.compare('SELECT k, v FROM ke WHERE k IS NULL');
SELECT kyrodb.check('ke_k', true);
DROP TABLE ke;

DROP TABLE ka;
-- the suites after this one install the extension themselves
DROP EXTENSION kyrodb;
