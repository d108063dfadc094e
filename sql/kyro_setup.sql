--
-- Shared by the kyro_* suites (pg_regress runs this file first).
--

CREATE SCHEMA kyro_test;

-- compare(query, modes): the query's rows under a sequential scan, then
-- under each mode: 'index' (index and index-only scans) and 'bitmap'.  One
-- row per mode: the index scan its plan uses, the rows the sequential scan
-- returned, and the rows the index plan missed or added (both must be 0).
CREATE FUNCTION kyro_test.compare(query text, modes text[] DEFAULT '{index,bitmap}')
RETURNS TABLE (scan text, nrows bigint, missing bigint, extra bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	wrapped text := format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r', query);
	expected text[];
	got text[];
	mode text;
	line text;
	saved text[] := ARRAY[current_setting('enable_seqscan'),
		current_setting('enable_indexscan'),
		current_setting('enable_indexonlyscan'),
		current_setting('enable_bitmapscan')];
BEGIN
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_indexonlyscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE wrapped INTO expected;
	nrows := coalesce(cardinality(expected), 0);
	FOREACH mode IN ARRAY modes LOOP
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_indexscan', (mode = 'index')::text, true);
		PERFORM set_config('enable_indexonlyscan', (mode = 'index')::text, true);
		PERFORM set_config('enable_bitmapscan', (mode = 'bitmap')::text, true);
		scan := NULL;
		FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || wrapped LOOP
			scan := coalesce(scan, substring(line from
				'(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) \S+'));
		END LOOP;
		scan := coalesce(scan, 'no index scan');
		EXECUTE wrapped INTO got;
		SELECT count(*) INTO missing
		FROM (SELECT unnest(expected) EXCEPT ALL SELECT unnest(got)) s;
		SELECT count(*) INTO extra
		FROM (SELECT unnest(got) EXCEPT ALL SELECT unnest(expected)) s;
		RETURN NEXT;
	END LOOP;
	PERFORM set_config('enable_seqscan', saved[1], true);
	PERFORM set_config('enable_indexscan', saved[2], true);
	PERFORM set_config('enable_indexonlyscan', saved[3], true);
	PERFORM set_config('enable_bitmapscan', saved[4], true);
END
$fn$;
