--
-- kyrodb.rebuild, warmup, stats, stats_reset and the kyrodb.stat_indexes
-- view: what they return, that the counters move with what the index does,
-- their errors, and the settings at their bounds.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;
SET search_path = kyro_test, public;

-- Keys i^3 with their low bits scrambled: a curve over enough pages that
-- the root model needs leaves, more of them the smaller its target error.
CREATE TABLE fn (k int8, v int4);
INSERT INTO fn SELECT (g::int8 * g * g) # hashint4(g), g FROM generate_series(1, 60000) g;
CREATE INDEX fn_k ON fn USING kyro_rmi (k) WITH (target_error = 1, fillfactor = 100);
VACUUM ANALYZE fn;
SELECT kyrodb.stats_reset('fn_k');

-- What a fresh index holds.
SELECT epoch, live_items, dead_items, snapshot_items, delta_items,
	   delta_limit, leaves > 1 AS has_leaves, mean_error <= 4 AS fits,
	   index_bytes = pg_relation_size('fn_k') AS index_bytes_right,
	   model_bytes > 0 AS has_model, file_bytes = model_bytes AS file_published,
	   lookups, mean_probe_length, mispredicts, delta_hits, folds,
	   inline_folds, retrains, last_fold, last_fold_ms
FROM kyrodb.stats('fn_k');

-- The view shows the same, with the names of the index and its table.
SELECT schemaname, relname, indexrelname, s.epoch = v.epoch AS same_epoch,
	   s.live_items = v.live_items AS same_items
FROM kyrodb.stat_indexes v, kyrodb.stats('fn_k') s
WHERE v.indexrelid = 'fn_k'::regclass;

-- Lookups count themselves: 200 equality lookups of present keys, each a
-- lookup with a short probe and (the model fits every key) no mispredict.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT sum((SELECT count(*) FROM fn WHERE k = (g::int8 * g * g) # hashint4(g)))
FROM generate_series(1, 60000, 300) g;
SELECT lookups, mispredicts, mean_probe_length BETWEEN 1 AND 20 AS short_probes,
	   delta_hits
FROM kyrodb.stats('fn_k');

-- An inserted key is found in the delta (kyrodb.page_inserts = off sends it
-- there): a delta hit.
SET kyrodb.page_inserts = off;
INSERT INTO fn VALUES (5, -1);
RESET kyrodb.page_inserts;
SELECT count(*) FROM fn WHERE k = 5;
SELECT delta_items, delta_hits FROM kyrodb.stats('fn_k');
RESET enable_seqscan;
RESET enable_bitmapscan;

-- rebuild retrains with the index's current options: a looser target
-- error gives fewer leaves.  It folds the delta in, and counts a retrain.
SELECT epoch AS epoch_before, leaves AS leaves_before FROM kyrodb.stats('fn_k') \gset
ALTER INDEX fn_k SET (target_error = 4096);
SELECT epoch > :epoch_before AS new_epoch, entries, leaves < :leaves_before AS fewer_leaves,
	   max_error > 1 AS looser, model_bytes > 0 AS has_model, duration_ms >= 0 AS timed
FROM kyrodb.rebuild('fn_k');
SELECT delta_items, snapshot_items, retrains, folds, last_fold IS NOT NULL AS fold_time,
	   file_bytes = model_bytes AS file_published
FROM kyrodb.stats('fn_k');
SELECT kyrodb.check('fn_k', true);

-- warmup loads every block and the model, from its file.
SELECT blocks = pg_relation_size('fn_k') / current_setting('block_size')::int AS every_block,
	   model_bytes = (SELECT model_bytes FROM kyrodb.stats('fn_k')) AS whole_model,
	   from_file
FROM kyrodb.warmup('fn_k');

-- stats_reset zeroes the counters of one index, or of all.
SELECT lookups > 0 AS counted FROM kyrodb.stats('fn_k');
SELECT kyrodb.stats_reset('fn_k');
SELECT lookups, mispredicts, delta_hits, retrains, mean_probe_length,
	   stats_reset > now() - interval '1 hour' AS reset_now
FROM kyrodb.stats('fn_k');
SELECT kyrodb.stats_reset();

-- Errors: not a kyro_rmi index, not an index, NULL, a dropped index.
CREATE INDEX fn_btree ON fn (k);
SELECT kyrodb.stats('fn_btree');
SELECT kyrodb.rebuild('fn_btree');
SELECT kyrodb.warmup('fn_btree');
SELECT kyrodb.stats_reset('fn_btree');
SELECT kyrodb.stats('fn');
SELECT kyrodb.rebuild('fn');
SELECT kyrodb.stats(NULL), kyrodb.rebuild(NULL), kyrodb.warmup(NULL);
CREATE INDEX fn_gone ON fn USING kyro_rmi (v);
SELECT 'fn_gone'::regclass::oid AS gone_oid \gset
DROP INDEX fn_gone;
-- (the error names the oid, which differs from run to run)
CREATE FUNCTION pg_temp.error_of(query text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N');
END $$;
SELECT f, pg_temp.error_of(format('SELECT kyrodb.%s(%s)', f, :gone_oid))
FROM unnest(ARRAY['stats', 'rebuild', 'warmup', 'stats_reset', 'snapshot', 'check']) f;

-- Privileges: stats and the view need none (as pg_stat_user_indexes);
-- warmup needs SELECT on the table; rebuild needs the owner; stats_reset
-- is for superusers and whom they grant it to.
CREATE ROLE regress_kyro_reader;
GRANT USAGE ON SCHEMA kyro_test TO regress_kyro_reader;
SET ROLE regress_kyro_reader;
SELECT epoch > 0 AS readable FROM kyrodb.stats('fn_k');
SELECT count(*) FROM kyrodb.stat_indexes WHERE indexrelname = 'fn_k';
SELECT kyrodb.warmup('fn_k');
SELECT kyrodb.rebuild('fn_k');
SELECT kyrodb.snapshot('fn_k');
SELECT kyrodb.stats_reset('fn_k');
RESET ROLE;
GRANT SELECT ON fn TO regress_kyro_reader;
GRANT EXECUTE ON FUNCTION kyrodb.stats_reset(regclass) TO regress_kyro_reader;
SET ROLE regress_kyro_reader;
SELECT blocks > 0 AS warmed FROM kyrodb.warmup('fn_k');
SELECT kyrodb.stats_reset('fn_k');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION kyrodb.stats_reset(regclass) FROM regress_kyro_reader;

-- Settings: their bounds, and the ones a session may change at both ends.
SELECT name, unit, min_val, max_val, context
FROM pg_settings WHERE name LIKE 'kyrodb.%' ORDER BY name;
SET kyrodb.fold_ceiling = 2;
SET kyrodb.fold_ceiling = 1000;
SET kyrodb.fold_ceiling = 1;
SET kyrodb.fold_ceiling = 1001;
RESET kyrodb.fold_ceiling;
SET kyrodb.fold_step_pages = 0;
SET kyrodb.fold_step_pages = 2147483647;
SET kyrodb.fold_step_pages = -1;
RESET kyrodb.fold_step_pages;
SET kyrodb.delta_limit = 16;
SET kyrodb.delta_limit = 1073741824;
SET kyrodb.delta_limit = 15;
RESET kyrodb.delta_limit;
SET kyrodb.worker_naptime = 5;
SET kyrodb.max_indexes = 100;

DROP TABLE fn;
DROP OWNED BY regress_kyro_reader;
DROP ROLE regress_kyro_reader;
DROP EXTENSION kyrodb;
