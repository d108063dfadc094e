# Index-only scans that read slowly while other clients delete rows and
# VACUUM runs again and again: an index-only scan trusts the visibility
# map, so an entry that VACUUM flagged dead, and whose heap tuple it then
# removed, after the scan read the entry would come back as a row that
# no longer exists.  Readers take ranges through cursors that pause every
# few rows, and nested-loop probes, each in a REPEATABLE READ transaction
# that compares the index-only answer with a sequential scan's in the same
# MVCC snapshot and records any difference.  The worker folds meanwhile
# (a small delta limit), so views switch under the cursors too.  Every
# client runs a fixed number of transactions.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $node = kyro_node('interlock',
	conf => "autovacuum = off\nkyrodb.worker_naptime = 1s\n");

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8, v int8) WITH (autovacuum_enabled = off);
INSERT INTO t SELECT g, g FROM generate_series(1, 30000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k) WITH (delta_limit = 3000);
CREATE TABLE probes (p int8);
INSERT INTO probes SELECT g * 7 FROM generate_series(1, 4000) g;
ANALYZE probes;
CREATE TABLE mismatches (what text, lo int8, by_index text, by_seqscan text);
VACUUM ANALYZE t;

-- A range through an index-only cursor read a few rows at a time, with a
-- pause between, against the same range by a sequential scan.
CREATE FUNCTION check_range(lo int8, hi int8) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	r record;
	n int := 0;
	by_index text := '';
	by_seqscan text;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	OPEN c FOR SELECT k FROM t WHERE k BETWEEN lo AND hi ORDER BY k;
	LOOP
		FETCH c INTO r;
		EXIT WHEN NOT FOUND;
		by_index := by_index || r.k || ',';
		n := n + 1;
		IF n % 64 = 0 THEN
			PERFORM pg_sleep(0.001);
		END IF;
	END LOOP;
	CLOSE c;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexonlyscan', 'off', true);
	SELECT coalesce(string_agg(k || ',', '' ORDER BY k), '') INTO by_seqscan
	FROM t WHERE k BETWEEN lo AND hi;
	PERFORM set_config('enable_indexonlyscan', 'on', true);
	IF by_index <> by_seqscan THEN
		INSERT INTO mismatches VALUES ('range', lo, by_index, by_seqscan);
	END IF;
END
$$;

-- Nested-loop probes through index-only scans, against a hash join.
CREATE FUNCTION check_probes() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	by_index text;
	by_seqscan text;
BEGIN
	PERFORM set_config('enable_hashjoin', 'off', true);
	PERFORM set_config('enable_mergejoin', 'off', true);
	PERFORM set_config('enable_material', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	SELECT count(*) || ':' || coalesce(sum(t.k), 0) INTO by_index
	FROM probes JOIN t ON t.k = probes.p;
	PERFORM set_config('enable_hashjoin', 'on', true);
	PERFORM set_config('enable_nestloop', 'off', true);
	PERFORM set_config('enable_indexonlyscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	SELECT count(*) || ':' || coalesce(sum(t.k), 0) INTO by_seqscan
	FROM probes JOIN t ON t.k = probes.p;
	PERFORM set_config('enable_nestloop', 'on', true);
	PERFORM set_config('enable_material', 'on', true);
	PERFORM set_config('enable_indexonlyscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	IF by_index <> by_seqscan THEN
		INSERT INTO mismatches VALUES ('probes', 0, by_index, by_seqscan);
	END IF;
END
$$;
});

# The plans the readers rely on.
my $ios = $node->safe_psql('postgres', q{
SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM t WHERE k BETWEEN 1 AND 100 ORDER BY k;
SET enable_seqscan = on; SET enable_indexscan = on; SET enable_hashjoin = off;
SET enable_mergejoin = off; SET enable_material = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM probes JOIN t ON t.k = probes.p;
});
like($ios, qr/Index Only Scan using t_k on t.*Nested Loop\n.*Seq Scan on probes\n.*Index Only Scan using t_k on t\n.*Index Cond: \(k = probes\.p\)/s,
	'the readers scan the index only: ranges and nested-loop probes');

my $reader = pgbench_script($node, 'reader.sql', q{
\set lo random(1, 30000)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT check_range(:lo, :lo + 1500);
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT check_probes();
COMMIT;
});
# deletes rows and puts them back under new TIDs, some in the delta
my $writer = pgbench_script($node, 'writer.sql', q{
\set lo random(1, 30000)
DELETE FROM t WHERE k BETWEEN :lo AND :lo + 40;
INSERT INTO t SELECT g, g FROM generate_series(:lo, :lo + 40) g;
});
my $vacuum = pgbench_script($node, 'vacuum.sql', "VACUUM t;\n");

my %runs = (
	readers => pgbench_command($node, '-c', '2', '-j', '2', '-t', '60', '-f', $reader),
	writer => pgbench_command($node, '-c', '1', '-t', '1500', '-f', $writer),
	vacuum => pgbench_command($node, '-c', '1', '-t', '300', '-f', $vacuum));
my %out;
my %harness;
foreach my $name (sort keys %runs)
{
	$out{$name} = '';
	$harness{$name} = IPC::Run::start($runs{$name}, '>&', \$out{$name});
}
foreach my $name (sort keys %runs)
{
	ok($harness{$name}->finish, "pgbench $name ran") or diag($out{$name});
}

my $mismatches = $node->safe_psql('postgres',
	q{SELECT count(*) FROM mismatches});
is($mismatches, '0', 'every index-only answer matched the sequential scan in its snapshot');
if ($mismatches ne '0')
{
	diag($node->safe_psql('postgres',
		q{SELECT what, lo, by_index, by_seqscan FROM mismatches LIMIT 10}));
}
ok($node->safe_psql('postgres', q{SELECT folds FROM kyrodb.stats('t_k')}) > 0,
	'the worker folded during the run');
compare_with_seqscan($node, 'postgres', 'every row after the run',
	'SELECT k FROM t ORDER BY k');
is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check passes after the run');

$node->stop;
done_testing();
