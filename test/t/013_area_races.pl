# Inserts into the pages' insert areas racing folds, VACUUM and
# index-only scans.  Four pgbench clients insert random keys (into the
# areas, repacking pages, and once pages are full into the delta), delete
# rows, fold (kyrodb.snapshot, which reads and flags the pages that have
# delta entries so that they take no more inserts, and kyrodb.rebuild,
# which reads them all), VACUUM (which flags area entries under cleanup locks) and count
# rows through index-only scans, each against a sequential scan under the
# same MVCC snapshot.  An insert that a fold did not see, or an
# entry VACUUM flagged that it should not have, is a row the index loses:
# afterwards every answer through the index must match a sequential
# scan's, and kyrodb.check with heapallindexed must pass.  The counts of
# transactions are fixed (pgbench -t, with a fixed random seed), not the
# time, so the test asks for the same work however loaded the machine is.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Worker;

# the folds and VACUUMs come from the clients, not the worker
my $node = kyro_node('races', conf => "kyrodb.worker = off\nautovacuum = off\n");
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8, v int8);
SELECT setseed(0.5);
INSERT INTO t SELECT (random() * 1e12)::int8, g FROM generate_series(1, 50000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k) WITH (delta_limit = 1073741824);
CREATE TABLE counts (by_index bigint, by_seqscan bigint);
});

my $insert = pgbench_script($node, 'insert.sql',
	"\\set k random(0, 1000000000000)\nINSERT INTO t VALUES (:k, :client_id);\n");
my $delete = pgbench_script($node, 'delete.sql',
	"\\set v random(1, 50000)\nDELETE FROM t WHERE v = :v;\n");
my $fold = pgbench_script($node, 'fold.sql', "SELECT kyrodb.snapshot('t_k');\n");
# a rebuild reads and rewrites every page: an insert into a page it has
# read must go to the delta, or be lost with the page it went to
my $rebuild = pgbench_script($node, 'rebuild.sql', "SELECT kyrodb.rebuild('t_k');\n");
my $vacuum = pgbench_script($node, 'vacuum.sql', "VACUUM t;\n");
# a range counted through an index-only scan and by a sequential scan,
# under one MVCC snapshot, while the others change the pages
my $range = 'FROM t WHERE k BETWEEN :lo AND :lo + 10000000000';
my $scan = pgbench_script($node, 'scan.sql', <<"EOS");
\\set lo random(0, 990000000000)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT count(*) AS by_index $range \\gset
SET LOCAL enable_seqscan = on;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_indexonlyscan = off;
SELECT count(*) AS by_seqscan $range \\gset
INSERT INTO counts VALUES (:by_index, :by_seqscan);
COMMIT;
EOS

my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	pgbench_command(
		$node, '-c', '4', '-j', '2', '-t', '1500', '--random-seed', '1',
		'-f', "$insert\@20", '-f', "$delete\@2", '-f', "$fold\@1",
		'-f', "$rebuild\@1",
		'-f', "$vacuum\@1", '-f', "$scan\@4"),
	'>', \$out, '2>', \$err);
ok($ok, 'the racing load ran') or diag("pgbench: $out $err");

# the load did what the test is about
my ($folds, $packed, $areas, $delta) = split(/\|/,
	stat_of($node, 'postgres', 't_k',
		'folds, snapshot_items, area_items, delta_items'));
note("folds $folds, packed entries $packed, area entries $areas, delta entries $delta");
cmp_ok($folds, '>', 10, 'the clients folded many times');
cmp_ok($areas + $packed, '>', 50000, 'inserts went into the pages');
my ($scans, $differ) = split(/\|/,
	$node->safe_psql('postgres',
		'SELECT count(*), count(*) FILTER (WHERE by_index <> by_seqscan) FROM counts'));
cmp_ok($scans, '>', 100, 'index-only scans ran beside them');
is($differ, 0,
	'each counted its range as a sequential scan under the same MVCC snapshot did');

compare_with_seqscan($node, 'postgres', 'every row after the races',
	'SELECT count(*), sum(k), sum(v) FROM t WHERE k >= 0');
compare_with_seqscan($node, 'postgres', 'a range after the races',
	'SELECT k, v FROM t WHERE k BETWEEN 200000000000 AND 210000000000 ORDER BY k, v');
compare_with_seqscan($node, 'postgres', 'the newest keys, backward',
	'SELECT k FROM t ORDER BY k DESC LIMIT 200');
is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check with heapallindexed passes after the races');

# and after a VACUUM and a fold of what is left
$node->safe_psql('postgres', q{VACUUM t; SELECT kyrodb.snapshot('t_k')});
compare_with_seqscan($node, 'postgres', 'every row after a last fold',
	'SELECT count(*), sum(k), sum(v) FROM t WHERE k >= 0');
is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check passes after a last fold');

$node->stop;
done_testing();
