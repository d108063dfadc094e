--
-- Errors: what kyro_rmi cannot index, what kyrodb.snapshot() and
-- kyrodb.check() refuse and to whom, and the operator classes' own check
-- (amvalidate).
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

CREATE TABLE ke (id int, k int, t text, f float8);
INSERT INTO ke SELECT i, i % 100, i::text, i / 3.0 FROM generate_series(1, 1000) i;
CREATE INDEX ke_k ON ke USING kyro_rmi (k);
CREATE INDEX ke_btree ON ke USING btree (k);
CREATE INDEX ke_hash ON ke USING hash (k);

--
-- What CREATE INDEX refuses.
--
-- types without a kyro_rmi operator class
CREATE INDEX ke_bad ON ke USING kyro_rmi (t);
CREATE INDEX ke_bad ON ke USING kyro_rmi (f);
-- a class of another type, another access method's class, no such class
CREATE INDEX ke_bad ON ke USING kyro_rmi (t kyrodb.int4_ops);
CREATE INDEX ke_bad ON ke USING kyro_rmi (k int4_ops);
CREATE INDEX ke_bad ON ke USING kyro_rmi (k kyrodb.no_such_ops);
-- more than one column, unique, included columns
CREATE INDEX ke_bad ON ke USING kyro_rmi (k, id);
CREATE INDEX ke_bad ON ke USING kyro_rmi ((k + 1), (k - 1));
CREATE UNIQUE INDEX ke_bad ON ke USING kyro_rmi (k);
ALTER TABLE ke ADD CONSTRAINT ke_bad UNIQUE USING INDEX ke_k;
CREATE INDEX ke_bad ON ke USING kyro_rmi (k) INCLUDE (id);
-- a column type change that leaves the index without a class
ALTER TABLE ke ALTER COLUMN k TYPE text;
SELECT count(*) AS indexes_left FROM pg_index WHERE indrelid = 'ke'::regclass;

--
-- An exclusion constraint with = works as a unique constraint: a
-- conflict is found in the snapshot and in the delta; NULLs never
-- conflict.
--
CREATE TABLE kx (id int, k int, EXCLUDE USING kyro_rmi (k WITH =));
INSERT INTO kx SELECT i, i FROM generate_series(1, 100) i;
INSERT INTO kx VALUES (101, 50);
INSERT INTO kx VALUES (102, 1000);
INSERT INTO kx VALUES (103, 1000);
INSERT INTO kx VALUES (104, NULL), (105, NULL);
SELECT count(*) AS rows, count(k) AS keys FROM kx;
CREATE TABLE kx2 (id int, k int);
INSERT INTO kx2 SELECT i, i % 500 FROM generate_series(1, 501) i;
ALTER TABLE kx2 ADD EXCLUDE USING kyro_rmi (k WITH =);
DROP TABLE kx, kx2;

--
-- kyrodb.snapshot() and kyrodb.check() take a kyro_rmi index, and
-- nothing else.
--
SELECT kyrodb.snapshot('ke_btree');
SELECT kyrodb.check('ke_btree');
SELECT kyrodb.snapshot('ke_hash');
SELECT kyrodb.check('ke_hash', true);
SELECT kyrodb.snapshot('ke');
SELECT kyrodb.check('ke');
CREATE SEQUENCE ke_seq;
SELECT kyrodb.snapshot('ke_seq');
CREATE VIEW ke_view AS SELECT * FROM ke;
SELECT kyrodb.check('ke_view');
-- the index of a partitioned table has no storage; its partitions' do
CREATE TABLE kep (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE kep_1 PARTITION OF kep FOR VALUES FROM (1) TO (1000);
CREATE INDEX kep_k ON kep USING kyro_rmi (k);
SELECT kyrodb.snapshot('kep_k');
SELECT kyrodb.check('kep');
SELECT kyrodb.check('kep_1_k_idx', true);
DROP TABLE kep;
DROP SEQUENCE ke_seq;
DROP VIEW ke_view;
-- an OID that names nothing, and a name that names nothing
SELECT kyrodb.snapshot(9999999::oid::regclass);
SELECT kyrodb.check(9999999::oid::regclass, true);
SELECT kyrodb.snapshot(0::oid::regclass);
SELECT kyrodb.snapshot('no_such_index');
SELECT kyrodb.check('no_such_index');
-- NULL arguments: the functions are strict, the answer is NULL
SELECT kyrodb.snapshot(NULL) IS NULL AS snapshot_null;
SELECT kyrodb.check(NULL) IS NULL AS check_null;
SELECT kyrodb.check('ke_k', NULL) IS NULL AS check_null_flag;
-- and on a kyro_rmi index they work
SELECT kyrodb.snapshot('ke_k') > 1 AS folded;
SELECT kyrodb.check('ke_k'), kyrodb.check('ke_k', true),
	kyrodb.check(index => 'ke_k', heapallindexed => true);

--
-- Privileges: kyrodb.snapshot() needs the index's owner (as REINDEX),
-- kyrodb.check() needs SELECT on the table.  The owner need not be a
-- superuser.
--
CREATE ROLE regress_kyro_owner;
CREATE ROLE regress_kyro_nobody;
CREATE SCHEMA regress_kyro_priv AUTHORIZATION regress_kyro_owner;
GRANT USAGE ON SCHEMA regress_kyro_priv TO regress_kyro_nobody;
SET ROLE regress_kyro_owner;
CREATE TABLE regress_kyro_priv.ko (id int, k int);
INSERT INTO regress_kyro_priv.ko SELECT i, i % 50 FROM generate_series(1, 500) i;
CREATE INDEX ko_k ON regress_kyro_priv.ko USING kyro_rmi (k);
INSERT INTO regress_kyro_priv.ko SELECT i, i % 50 FROM generate_series(501, 600) i;
SELECT kyrodb.snapshot('regress_kyro_priv.ko_k') > 1 AS folded;
SELECT kyrodb.check('regress_kyro_priv.ko_k', true);
RESET ROLE;
SET ROLE regress_kyro_nobody;
SELECT kyrodb.snapshot('regress_kyro_priv.ko_k');
SELECT kyrodb.check('regress_kyro_priv.ko_k');
SELECT kyrodb.check('regress_kyro_priv.ko_k', true);
RESET ROLE;
GRANT SELECT ON regress_kyro_priv.ko TO regress_kyro_nobody;
SET ROLE regress_kyro_nobody;
SELECT kyrodb.check('regress_kyro_priv.ko_k', true);
SELECT kyrodb.snapshot('regress_kyro_priv.ko_k');
RESET ROLE;
-- a superuser may do both
SELECT kyrodb.snapshot('regress_kyro_priv.ko_k') > 1 AS folded;
SELECT kyrodb.check('regress_kyro_priv.ko_k', true);
DROP SCHEMA regress_kyro_priv CASCADE;
DROP ROLE regress_kyro_owner;
DROP ROLE regress_kyro_nobody;

--
-- amvalidate: every operator class of the extension is valid.
--
SELECT opcname, opcintype::regtype, amvalidate(oid)
FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'kyro_rmi')
ORDER BY opcname;
SELECT opfname, amvalidate(c.oid)
FROM pg_opfamily f JOIN pg_opclass c ON c.opcfamily = f.oid
WHERE f.opfmethod = (SELECT oid FROM pg_am WHERE amname = 'kyro_rmi')
ORDER BY opfname, opcname;

-- A class of a type kyro_rmi cannot map: amvalidate says so, and
-- CREATE INDEX refuses it.
CREATE OPERATOR CLASS kyro_text_ops FOR TYPE text USING kyro_rmi AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
	FUNCTION 1 bttextcmp(text, text);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'kyro_text_ops';
CREATE INDEX ke_bad ON ke USING kyro_rmi (t kyro_text_ops);
DROP OPERATOR FAMILY kyro_text_ops USING kyro_rmi;

-- A family missing operators and its support function.
CREATE OPERATOR FAMILY kyro_partial_ops USING kyro_rmi;
CREATE OPERATOR CLASS kyro_partial_int4_ops FOR TYPE int4 USING kyro_rmi
	FAMILY kyro_partial_ops AS OPERATOR 1 <, OPERATOR 3 =;
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'kyro_partial_int4_ops';
DROP OPERATOR FAMILY kyro_partial_ops USING kyro_rmi;

-- A class whose operators order int4 backwards, as a btree class may:
-- kyro_rmi must either refuse it (amvalidate, CREATE INDEX) or answer
-- right through it.  Whichever, the answers below equal a sequential
-- scan's (the plans are not shown, since they differ between the two).
CREATE FUNCTION pg_temp.kyro_rev_cmp(int4, int4) RETURNS int4
LANGUAGE sql IMMUTABLE STRICT AS 'SELECT btint4cmp($2, $1)';
CREATE OPERATOR CLASS kyro_rev_int4_ops FOR TYPE int4 USING kyro_rmi AS
	OPERATOR 1 >, OPERATOR 2 >=, OPERATOR 3 =, OPERATOR 4 <=, OPERATOR 5 <,
	FUNCTION 1 pg_temp.kyro_rev_cmp(int4, int4);
CREATE TABLE krev (k int);
INSERT INTO krev SELECT generate_series(1, 100);
-- refused: the family's operators are not btree's
CREATE INDEX krev_k ON krev USING kyro_rmi (k kyro_rev_int4_ops);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'kyro_rev_int4_ops';
CREATE FUNCTION pg_temp.rows_differ(query text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
	expected text[];
	got text[];
	wrapped text := format('SELECT array_agg(r::text) FROM (SELECT row_number() OVER () AS pos, s.* FROM (%s) s) r', query);
BEGIN
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_indexonlyscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE wrapped INTO expected;
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_indexonlyscan', 'on', true);
	EXECUTE wrapped INTO got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	RETURN (SELECT count(*) FROM (SELECT unnest(expected) EXCEPT ALL SELECT unnest(got)) a)
		+ (SELECT count(*) FROM (SELECT unnest(got) EXCEPT ALL SELECT unnest(expected)) b);
END
$fn$;
SELECT q.query, pg_temp.rows_differ(q.query) AS rows_differ
FROM (VALUES
	('SELECT k FROM krev WHERE k > 95'),
	('SELECT k FROM krev WHERE k <= 3'),
	('SELECT k FROM krev WHERE k = 42'),
	('SELECT k FROM krev ORDER BY k LIMIT 3'),
	('SELECT k FROM krev ORDER BY k DESC LIMIT 3')
) q(query);
DROP TABLE krev;
DROP OPERATOR FAMILY kyro_rev_int4_ops USING kyro_rmi;

-- Only the order the index stores: ascending, NULLs last.
CREATE TABLE kord (k int8);
CREATE INDEX kord_desc ON kord USING kyro_rmi (k DESC);
CREATE INDEX kord_nf ON kord USING kyro_rmi (k NULLS FIRST);
CREATE INDEX kord_ok ON kord USING kyro_rmi (k ASC NULLS LAST);
DROP TABLE kord;

DROP TABLE ke;
DROP EXTENSION kyrodb;
