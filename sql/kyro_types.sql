--
-- Every type with a default kyro_rmi operator class: int2, int4, int8, date,
-- timestamp, timestamptz.  Each table has duplicates, NULLs and the ends of
-- its type's range, half in the snapshot and half in the delta; every
-- operator is compared with a sequential scan.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

-- The quals tried on every type, with its constants: a and b (present,
-- a < b), absent (between two present keys), lo and hi (the ends of the
-- type's range), nearlo and nearhi (present keys next to the ends).  The
-- literals take the column's type, so every operator is the type's own.
CREATE FUNCTION pg_temp.type_quals(typ text, a text, b text, absent text,
	lo text, hi text, nearlo text, nearhi text)
RETURNS TABLE (n int, qual text)
LANGUAGE sql AS $fn$
SELECT v.n, format(v.tmpl, quote_literal(a), quote_literal(b),
	quote_literal(absent), quote_literal(lo), quote_literal(hi),
	quote_literal(nearlo), quote_literal(nearhi), typ)
FROM (VALUES
	(1, 'k < %1$s'),
	(2, 'k <= %1$s'),
	(3, 'k = %1$s'),
	(4, 'k >= %1$s'),
	(5, 'k > %1$s'),
	(6, 'k = %3$s'),
	(7, 'k < %3$s'),
	(8, 'k >= %3$s'),
	(9, 'k = %4$s'),
	(10, 'k < %4$s'),
	(11, 'k <= %4$s'),
	(12, 'k > %4$s'),
	(13, 'k = %5$s'),
	(14, 'k > %5$s'),
	(15, 'k >= %5$s'),
	(16, 'k < %5$s'),
	(17, 'k = %6$s'),
	(18, 'k <= %6$s'),
	(19, 'k = %7$s'),
	(20, 'k >= %7$s'),
	(21, 'k BETWEEN %1$s AND %2$s'),
	(22, 'k BETWEEN %2$s AND %1$s'),
	(23, 'k BETWEEN %4$s AND %5$s'),
	(24, 'k IN (%1$s, %2$s, %3$s, %1$s)'),
	(25, 'k IN (%4$s, %5$s, %6$s)'),
	(26, 'k = ANY (ARRAY[%1$s, NULL, %5$s]::%8$s[])'),
	(27, 'k = ANY (ARRAY[NULL, NULL]::%8$s[])'),
	(28, 'k = ANY (''{}''::%8$s[])'),
	(29, 'k IS NULL'),
	(30, 'k IS NOT NULL'),
	(31, 'k IS NOT NULL AND k < %1$s'),
	(32, 'k > %1$s AND k <= %2$s AND k IN (%1$s, %2$s, %3$s)'),
	(33, 'k = ANY (ARRAY[%1$s, %2$s]::%8$s[]) AND k = ANY (ARRAY[%2$s, %5$s]::%8$s[])'),
	(34, 'k >= %2$s AND k <= %1$s'),
	(35, 'k IS NULL AND k = %1$s'),
	(36, 'k < ANY (ARRAY[%1$s, %2$s]::%8$s[])'),
	(37, 'k >= ANY (ARRAY[%2$s, %5$s]::%8$s[])'),
	(38, 'k > ANY (ARRAY[NULL, %1$s]::%8$s[])'),
	(39, 'k <= ANY (ARRAY[%4$s, %1$s]::%8$s[]) AND k IS NOT NULL')
) v(n, tmpl)
$fn$;

-- The quals the index-only pass tries.
CREATE FUNCTION pg_temp.ios_quals()
RETURNS SETOF int LANGUAGE sql AS $fn$
SELECT unnest(ARRAY[1, 3, 5, 9, 13, 17, 19, 21, 24, 25, 29, 30, 36])
$fn$;

--
-- int2
--
CREATE TABLE kt_int2 (id int, k int2);
INSERT INTO kt_int2
SELECT i, CASE WHEN i % 50 <> 0 THEN ((i * 7919) % 1001 - 500) * 60 END
FROM generate_series(1, 2000) i;
INSERT INTO kt_int2 VALUES
	(2001, -32768), (2002, -32768), (2003, 32767), (2004, 32767),
	(2005, -32767), (2006, 32766);
CREATE INDEX kt_int2_k ON kt_int2 USING kyro_rmi (k);
-- after the build: the delta
INSERT INTO kt_int2
SELECT i, CASE WHEN i % 50 <> 0 THEN ((i * 7919) % 1001 - 500) * 60 END
FROM generate_series(2007, 3000) i;
INSERT INTO kt_int2 VALUES (3001, -32768), (3002, 32767), (3003, NULL);
SELECT kyrodb.check('kt_int2_k', true);

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id, k FROM kt_int2 WHERE k = ANY (ARRAY['-6000'::int2, NULL, '32767'::int2]);
RESET enable_seqscan;
RESET enable_bitmapscan;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int2', '-6000', '12000', '6001',
	'-32768', '32767', '-32767', '32766') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_int2 WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

--
-- int4
--
CREATE TABLE kt_int4 (id int, k int4);
INSERT INTO kt_int4
SELECT i, CASE WHEN i % 50 <> 0 THEN ((i * 7919) % 1001 - 500) * 4000000 END
FROM generate_series(1, 2000) i;
INSERT INTO kt_int4 VALUES
	(2001, -2147483648), (2002, -2147483648), (2003, 2147483647),
	(2004, 2147483647), (2005, -2147483647), (2006, 2147483646);
CREATE INDEX kt_int4_k ON kt_int4 USING kyro_rmi (k);
INSERT INTO kt_int4
SELECT i, CASE WHEN i % 50 <> 0 THEN ((i * 7919) % 1001 - 500) * 4000000 END
FROM generate_series(2007, 3000) i;
INSERT INTO kt_int4 VALUES (3001, -2147483648), (3002, 2147483647), (3003, NULL);
SELECT kyrodb.check('kt_int4_k', true);

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int4', '-400000000', '800000000', '400000001',
	'-2147483648', '2147483647', '-2147483647', '2147483646') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_int4 WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

--
-- int8
--
CREATE TABLE kt_int8 (id int, k int8);
INSERT INTO kt_int8
SELECT i, CASE WHEN i % 50 <> 0 THEN ((i * 7919) % 1001 - 500) * 10000000000000000 END
FROM generate_series(1, 2000) i;
INSERT INTO kt_int8 VALUES
	(2001, -9223372036854775808), (2002, -9223372036854775808),
	(2003, 9223372036854775807), (2004, 9223372036854775807),
	(2005, -9223372036854775807), (2006, 9223372036854775806);
CREATE INDEX kt_int8_k ON kt_int8 USING kyro_rmi (k);
INSERT INTO kt_int8
SELECT i, CASE WHEN i % 50 <> 0 THEN ((i * 7919) % 1001 - 500) * 10000000000000000 END
FROM generate_series(2007, 3000) i;
INSERT INTO kt_int8 VALUES
	(3001, -9223372036854775808), (3002, 9223372036854775807), (3003, NULL);
SELECT kyrodb.check('kt_int8_k', true);

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int8', '-1000000000000000000', '2000000000000000000',
	'1000000000000000001', '-9223372036854775808', '9223372036854775807',
	'-9223372036854775807', '9223372036854775806') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_int8 WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

--
-- date: -infinity and infinity are the ends; the first and last finite
-- dates sit next to them.
--
CREATE TABLE kt_date (id int, k date);
INSERT INTO kt_date
SELECT i, CASE WHEN i % 50 <> 0 THEN date '2000-01-01' + ((i * 7919) % 1001 - 500) * 30 END
FROM generate_series(1, 2000) i;
INSERT INTO kt_date VALUES
	(2001, '-infinity'), (2002, '-infinity'), (2003, 'infinity'),
	(2004, 'infinity'), (2005, '4713-01-01 BC'), (2006, '5874897-12-31');
CREATE INDEX kt_date_k ON kt_date USING kyro_rmi (k);
INSERT INTO kt_date
SELECT i, CASE WHEN i % 50 <> 0 THEN date '2000-01-01' + ((i * 7919) % 1001 - 500) * 30 END
FROM generate_series(2007, 3000) i;
INSERT INTO kt_date VALUES
	(3001, '-infinity'), (3002, 'infinity'), (3003, NULL),
	(3004, '4713-01-01 BC'), (3005, '5874897-12-31');
SELECT kyrodb.check('kt_date_k', true);

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id, k FROM kt_date WHERE k BETWEEN '1991-10-15' AND 'infinity';
RESET enable_seqscan;
RESET enable_bitmapscan;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('date', '1991-10-15', '2016-06-05', '2016-06-06',
	'-infinity', 'infinity', '4713-01-01 BC', '5874897-12-31') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_date WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

--
-- timestamp
--
CREATE TABLE kt_ts (id int, k timestamp);
INSERT INTO kt_ts
SELECT i, CASE WHEN i % 50 <> 0 THEN timestamp '2000-01-01 00:00'
	+ ((i * 7919) % 1001 - 500) * interval '1 day 01:02:03.456789' END
FROM generate_series(1, 2000) i;
INSERT INTO kt_ts VALUES
	(2001, '-infinity'), (2002, '-infinity'), (2003, 'infinity'),
	(2004, 'infinity'), (2005, '4714-11-24 00:00:00 BC'),
	(2006, '294276-12-31 23:59:59.999999');
CREATE INDEX kt_ts_k ON kt_ts USING kyro_rmi (k);
INSERT INTO kt_ts
SELECT i, CASE WHEN i % 50 <> 0 THEN timestamp '2000-01-01 00:00'
	+ ((i * 7919) % 1001 - 500) * interval '1 day 01:02:03.456789' END
FROM generate_series(2007, 3000) i;
INSERT INTO kt_ts VALUES
	(3001, '-infinity'), (3002, 'infinity'), (3003, NULL),
	(3004, '4714-11-24 00:00:00 BC'), (3005, '294276-12-31 23:59:59.999999');
SELECT kyrodb.check('kt_ts_k', true);

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('timestamp', '1999-09-18 16:34:14.3211',
	'2000-07-27 14:51:31.3578', '2000-07-27 14:51:31.3579',
	'-infinity', 'infinity', '4714-11-24 00:00:00 BC',
	'294276-12-31 23:59:59.999999') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_ts WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

--
-- timestamptz
--
CREATE TABLE kt_tstz (id int, k timestamptz);
INSERT INTO kt_tstz
SELECT i, CASE WHEN i % 50 <> 0 THEN timestamptz '2000-01-01 00:00+00'
	+ ((i * 7919) % 1001 - 500) * interval '1 day 01:02:03.456789' END
FROM generate_series(1, 2000) i;
INSERT INTO kt_tstz VALUES
	(2001, '-infinity'), (2002, '-infinity'), (2003, 'infinity'),
	(2004, 'infinity'), (2005, '4714-11-24 00:00:00+00 BC'),
	(2006, '294276-12-31 23:59:59.999999+00');
CREATE INDEX kt_tstz_k ON kt_tstz USING kyro_rmi (k);
INSERT INTO kt_tstz
SELECT i, CASE WHEN i % 50 <> 0 THEN timestamptz '2000-01-01 00:00+00'
	+ ((i * 7919) % 1001 - 500) * interval '1 day 01:02:03.456789' END
FROM generate_series(2007, 3000) i;
INSERT INTO kt_tstz VALUES
	(3001, '-infinity'), (3002, 'infinity'), (3003, NULL),
	(3004, '4714-11-24 00:00:00+00 BC'), (3005, '294276-12-31 23:59:59.999999+00');
SELECT kyrodb.check('kt_tstz_k', true);

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('timestamptz', '1999-09-18 15:34:14.3211+00',
	'2000-07-27 13:51:31.3578+00', '2000-07-27 13:51:31.3579+00',
	'-infinity', 'infinity', '4714-11-24 00:00:00+00 BC',
	'294276-12-31 23:59:59.999999+00') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_tstz WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

--
-- Index-only scans return the keys themselves: fold every delta into the
-- snapshot, VACUUM so that the heap is all-visible, and compare again.
--
SELECT kyrodb.snapshot('kt_int2_k') > 1 AS int2_folded,
	kyrodb.snapshot('kt_int4_k') > 1 AS int4_folded,
	kyrodb.snapshot('kt_int8_k') > 1 AS int8_folded,
	kyrodb.snapshot('kt_date_k') > 1 AS date_folded,
	kyrodb.snapshot('kt_ts_k') > 1 AS ts_folded,
	kyrodb.snapshot('kt_tstz_k') > 1 AS tstz_folded;
VACUUM kt_int2, kt_int4, kt_int8, kt_date, kt_ts, kt_tstz;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT k FROM kt_tstz WHERE k >= '294276-12-31 23:59:59.999999+00';
RESET enable_seqscan;
RESET enable_bitmapscan;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int2', '-6000', '12000', '6001',
	'-32768', '32767', '-32767', '32766') q,
	LATERAL kyro_test.compare('SELECT k FROM kt_int2 WHERE ' || q.qual) c
WHERE q.n IN (SELECT pg_temp.ios_quals())
ORDER BY q.n, c.scan DESC;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int4', '-400000000', '800000000', '400000001',
	'-2147483648', '2147483647', '-2147483647', '2147483646') q,
	LATERAL kyro_test.compare('SELECT k FROM kt_int4 WHERE ' || q.qual) c
WHERE q.n IN (SELECT pg_temp.ios_quals())
ORDER BY q.n, c.scan DESC;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int8', '-1000000000000000000', '2000000000000000000',
	'1000000000000000001', '-9223372036854775808', '9223372036854775807',
	'-9223372036854775807', '9223372036854775806') q,
	LATERAL kyro_test.compare('SELECT k FROM kt_int8 WHERE ' || q.qual) c
WHERE q.n IN (SELECT pg_temp.ios_quals())
ORDER BY q.n, c.scan DESC;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('date', '1991-10-15', '2016-06-05', '2016-06-06',
	'-infinity', 'infinity', '4713-01-01 BC', '5874897-12-31') q,
	LATERAL kyro_test.compare('SELECT k FROM kt_date WHERE ' || q.qual) c
WHERE q.n IN (SELECT pg_temp.ios_quals())
ORDER BY q.n, c.scan DESC;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('timestamp', '1999-09-18 16:34:14.3211',
	'2000-07-27 14:51:31.3578', '2000-07-27 14:51:31.3579',
	'-infinity', 'infinity', '4714-11-24 00:00:00 BC',
	'294276-12-31 23:59:59.999999') q,
	LATERAL kyro_test.compare('SELECT k FROM kt_ts WHERE ' || q.qual) c
WHERE q.n IN (SELECT pg_temp.ios_quals())
ORDER BY q.n, c.scan DESC;

SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('timestamptz', '1999-09-18 15:34:14.3211+00',
	'2000-07-27 13:51:31.3578+00', '2000-07-27 13:51:31.3579+00',
	'-infinity', 'infinity', '4714-11-24 00:00:00+00 BC',
	'294276-12-31 23:59:59.999999+00') q,
	LATERAL kyro_test.compare('SELECT k FROM kt_tstz WHERE ' || q.qual) c
WHERE q.n IN (SELECT pg_temp.ios_quals())
ORDER BY q.n, c.scan DESC;

SELECT kyrodb.check('kt_int2_k', true) AS int2_ok,
	kyrodb.check('kt_int4_k', true) AS int4_ok,
	kyrodb.check('kt_int8_k', true) AS int8_ok,
	kyrodb.check('kt_date_k', true) AS date_ok,
	kyrodb.check('kt_ts_k', true) AS ts_ok,
	kyrodb.check('kt_tstz_k', true) AS tstz_ok;

--
-- A domain over a supported type takes its base type's operator class:
-- indexed and searched as that type.
--
CREATE DOMAIN kt_odd AS int4 CHECK (VALUE % 2 = 1);
CREATE TABLE kt_dom (id int, k kt_odd);
INSERT INTO kt_dom SELECT i, (i * 7919) % 1000 * 2 + 1 FROM generate_series(1, 2000) i;
CREATE INDEX kt_dom_k ON kt_dom USING kyro_rmi (k);
INSERT INTO kt_dom SELECT i, (i * 7919) % 1000 * 2 + 1 FROM generate_series(2001, 3000) i;
INSERT INTO kt_dom VALUES (3001, NULL);
SELECT kyrodb.check('kt_dom_k', true);
SELECT q.n, q.qual, c.*
FROM pg_temp.type_quals('int4', '101', '1501', '100', '1', '1999', '3', '1997') q,
	LATERAL kyro_test.compare('SELECT id, k FROM kt_dom WHERE ' || q.qual) c
WHERE q.n IN (1, 3, 5, 6, 9, 13, 21, 24, 26, 29, 30)
ORDER BY q.n, c.scan DESC;

DROP TABLE kt_int2, kt_int4, kt_int8, kt_date, kt_ts, kt_tstz, kt_dom;
DROP DOMAIN kt_odd;
DROP EXTENSION kyrodb;
