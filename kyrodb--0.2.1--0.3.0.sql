/* kyrodb--0.2.1--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION kyrodb UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0 gives snapshot pages insert areas (page format 4) and the index
-- option fillfactor.  Indexes of format 3 (0.2) are still read and
-- written; their first fold, kyrodb.rebuild or REINDEX makes them format 4.
-- Pages that fill split in two, linked by a right-link until a fold
-- publishes them.  kyrodb.stats() gains area_items (the entries in the
-- pages' insert areas), repacks and splits (pages repacked in place and
-- split by inserts, counters of shared memory) and split_pages (pages
-- split off since the directory was written), mean_right_moves (pages
-- a lookup read past a split, on average) and area_fill (the share of the
-- pages' room for insert areas that area entries take), so it and the
-- view over it are made again.

DROP VIEW kyrodb.stat_indexes;
DROP FUNCTION kyrodb.stats(regclass);

CREATE FUNCTION kyrodb.stats(index regclass,
	OUT epoch bigint, OUT live_items bigint, OUT dead_items bigint,
	OUT snapshot_items bigint, OUT snapshot_pages bigint,
	OUT delta_items bigint, OUT delta_limit bigint,
	OUT leaves integer, OUT mean_error double precision, OUT max_error integer,
	OUT index_bytes bigint, OUT model_bytes bigint, OUT file_bytes bigint,
	OUT lookups bigint, OUT mean_probe_length double precision,
	OUT mean_pages_read double precision,
	OUT mispredicts bigint, OUT delta_hits bigint,
	OUT folds bigint, OUT inline_folds bigint, OUT retrains bigint,
	OUT last_fold timestamp with time zone, OUT last_fold_ms double precision,
	OUT stats_reset timestamp with time zone,
	OUT area_items bigint, OUT repacks bigint, OUT splits bigint,
	OUT split_pages bigint, OUT mean_right_moves double precision,
	OUT area_fill double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'kyrodb_stats'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION kyrodb.stats(regclass) IS 'contents and counters of a kyro_rmi index';

-- One row per kyro_rmi index of the database, shown to every role as
-- pg_stat_user_indexes is (other sessions' temporary indexes excepted).
CREATE VIEW kyrodb.stat_indexes AS
	SELECT c.oid AS indexrelid,
		   i.indrelid AS relid,
		   n.nspname AS schemaname,
		   t.relname AS relname,
		   c.relname AS indexrelname,
		   s.*
	FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
	JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_catalog.pg_am a ON a.oid = c.relam
	CROSS JOIN LATERAL kyrodb.stats(c.oid) s
	WHERE a.amname = 'kyro_rmi'
	  AND c.relkind = 'i'
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
	  AND n.nspname !~ '^pg_toast'
	  AND NOT pg_catalog.pg_is_other_temp_schema(n.oid);

GRANT SELECT ON kyrodb.stat_indexes TO PUBLIC;

COMMENT ON VIEW kyrodb.stat_indexes IS 'kyrodb.stats() of every kyro_rmi index in the database';
