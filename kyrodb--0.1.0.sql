/* kyrodb--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION kyrodb" to load this file. \quit

-- The schema is created here, not named in the control file, so that it is
-- a member of the extension and DROP EXTENSION removes it.
CREATE SCHEMA kyrodb;

COMMENT ON SCHEMA kyrodb IS 'KyroDB learned index functions';

-- The functions check their own privileges (owner, SELECT), as REINDEX does.
GRANT USAGE ON SCHEMA kyrodb TO PUBLIC;

-- Version of the loaded shared library; equals the extension's version
-- when the installed library and scripts belong together.
CREATE FUNCTION kyrodb.version()
RETURNS text
AS 'MODULE_PATHNAME', 'kyrodb_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION kyrodb.version() IS 'version of the KyroDB shared library';

-- The access method.
CREATE FUNCTION kyrodb.kyro_rmi_handler(internal)
RETURNS index_am_handler
AS 'MODULE_PATHNAME', 'kyrodb_handler'
LANGUAGE C;

CREATE ACCESS METHOD kyro_rmi TYPE INDEX HANDLER kyrodb.kyro_rmi_handler;
COMMENT ON ACCESS METHOD kyro_rmi IS 'KyroDB learned index (recursive model index)';

-- Operator classes: btree's operators and comparison functions, so the
-- planner sees the index as ordered.  One family for the integer types,
-- with every cross-type operator, as btree has.
CREATE OPERATOR FAMILY kyrodb.integer_ops USING kyro_rmi;

CREATE OPERATOR CLASS kyrodb.int2_ops
DEFAULT FOR TYPE int2 USING kyro_rmi FAMILY kyrodb.integer_ops AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 btint2cmp(int2, int2);

CREATE OPERATOR CLASS kyrodb.int4_ops
DEFAULT FOR TYPE int4 USING kyro_rmi FAMILY kyrodb.integer_ops AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 btint4cmp(int4, int4);

CREATE OPERATOR CLASS kyrodb.int8_ops
DEFAULT FOR TYPE int8 USING kyro_rmi FAMILY kyrodb.integer_ops AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 btint8cmp(int8, int8);

ALTER OPERATOR FAMILY kyrodb.integer_ops USING kyro_rmi ADD
	OPERATOR 1 < (int2, int4), OPERATOR 2 <= (int2, int4), OPERATOR 3 = (int2, int4),
	OPERATOR 4 >= (int2, int4), OPERATOR 5 > (int2, int4),
	FUNCTION 1 (int2, int4) btint24cmp(int2, int4),
	OPERATOR 1 < (int2, int8), OPERATOR 2 <= (int2, int8), OPERATOR 3 = (int2, int8),
	OPERATOR 4 >= (int2, int8), OPERATOR 5 > (int2, int8),
	FUNCTION 1 (int2, int8) btint28cmp(int2, int8),
	OPERATOR 1 < (int4, int2), OPERATOR 2 <= (int4, int2), OPERATOR 3 = (int4, int2),
	OPERATOR 4 >= (int4, int2), OPERATOR 5 > (int4, int2),
	FUNCTION 1 (int4, int2) btint42cmp(int4, int2),
	OPERATOR 1 < (int4, int8), OPERATOR 2 <= (int4, int8), OPERATOR 3 = (int4, int8),
	OPERATOR 4 >= (int4, int8), OPERATOR 5 > (int4, int8),
	FUNCTION 1 (int4, int8) btint48cmp(int4, int8),
	OPERATOR 1 < (int8, int2), OPERATOR 2 <= (int8, int2), OPERATOR 3 = (int8, int2),
	OPERATOR 4 >= (int8, int2), OPERATOR 5 > (int8, int2),
	FUNCTION 1 (int8, int2) btint82cmp(int8, int2),
	OPERATOR 1 < (int8, int4), OPERATOR 2 <= (int8, int4), OPERATOR 3 = (int8, int4),
	OPERATOR 4 >= (int8, int4), OPERATOR 5 > (int8, int4),
	FUNCTION 1 (int8, int4) btint84cmp(int8, int4);

CREATE OPERATOR CLASS kyrodb.date_ops
DEFAULT FOR TYPE date USING kyro_rmi AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 date_cmp(date, date);

CREATE OPERATOR CLASS kyrodb.timestamp_ops
DEFAULT FOR TYPE timestamp USING kyro_rmi AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 timestamp_cmp(timestamp, timestamp);

CREATE OPERATOR CLASS kyrodb.timestamptz_ops
DEFAULT FOR TYPE timestamptz USING kyro_rmi AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 timestamptz_cmp(timestamptz, timestamptz);

-- Fold the delta into a new snapshot now; returns the new epoch.
CREATE FUNCTION kyrodb.snapshot(index regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kyrodb_snapshot'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION kyrodb.snapshot(regclass) IS 'fold the delta of a kyro_rmi index into a new snapshot';

-- Verify an index; with heapallindexed, also that every visible heap
-- tuple is in it.  Returns true or raises an error naming the damage.
CREATE FUNCTION kyrodb.check(index regclass, heapallindexed boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'kyrodb_check'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION kyrodb.check(regclass, boolean) IS 'verify a kyro_rmi index';
