# The background worker keeps a kyro_rmi index folded without anyone
# asking (an index whose inserts all go to the delta, kyrodb.page_inserts
# = off;
# 010_write_size.pl has the worker publishing split pages):
#  - under a pgbench load of inserts and selects the delta stays under its
#    ceiling, inserting backends never fold (inline_folds stays 0), and
#    every answer matches a sequential scan;
#  - a worker or launcher killed with pg_terminate_backend comes back;
#  - with kyrodb.warm_on_start, a restarted server has the index in shared
#    buffers without a query touching it.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Worker;

my $node = worker_node('worker');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8, v int8);
INSERT INTO t SELECT (g * 7919) % 200003, g FROM generate_series(1, 100000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k) WITH (delta_limit = 2000, fillfactor = 100);
});
ok(poll_workers($node, 'postgres', 1),
	'a worker runs for the database with the extension');

# ---- The first entry of a kind, with a worker ----

# An index built on an empty table has no page, nor one without NULLs a
# NULL page: the insert of the first makes a fold due at once (one entry
# never reaches the delta limit), and the worker's fold writes the page.
$node->safe_psql('postgres',
	'CREATE TABLE e (k int8); CREATE INDEX e_k ON e USING kyro_rmi (k);');
$node->safe_psql('postgres', 'INSERT INTO e VALUES (7)');
ok( $node->poll_query_until(
		'postgres', "SELECT snapshot_pages = 1 AND delta_items = 0 FROM kyrodb.stats('e_k')"),
	'the worker writes the first page of an empty index, with its first key');
$node->safe_psql('postgres', 'INSERT INTO e VALUES (NULL)');
ok( $node->poll_query_until(
		'postgres', "SELECT snapshot_pages = 2 AND delta_items = 0 FROM kyrodb.stats('e_k')"),
	'and its first NULL page, with its first NULL');
$node->safe_psql('postgres', 'INSERT INTO e SELECT g FROM generate_series(1, 100) g');
is(stat_of($node, 'postgres', 'e_k', 'delta_items'),
	'0', 'the keys after it go to the page');
is(stat_of($node, 'postgres', 'e_k', 'inline_folds'), '0', 'no insert folded');
compare_with_seqscan($node, 'postgres', 'the empty index after its first entries',
	'SELECT count(*), sum(k) FROM e WHERE k > 0', 'SELECT count(*) FROM e WHERE k IS NULL');

# ---- The worker under load ----

# The ceiling is kyrodb.fold_ceiling (4) times the limit in force, which
# grows with the snapshot (delta_scale_factor) past the option's 2000.
my $fold_ceiling = 4;
my $folds_before = stat_of($node, 'postgres', 't_k', 'folds');
my ($out, $err) = ('', '');
my $insert = pgbench_script($node, 'insert.sql',
	"SET kyrodb.page_inserts = off;\n\\set k random(-100000, 400000)\nINSERT INTO t VALUES (:k, 0);\n");
my $select = pgbench_script($node, 'select.sql',
	"\\set k random(0, 200003)\nSET enable_seqscan = off;\nSELECT count(*) FROM t WHERE k = :k;\n");
my $pgbench = IPC::Run::start(
	pgbench_command(
		$node, '-c', '2', '-j', '2', '-T', '8',
		'-f', "$insert\@3", '-f', "$select\@1"),
	'>', \$out, '2>', \$err);
my ($max_delta, $max_share) = (0, 0);
while ($pgbench->pumpable)
{
	my ($delta, $limit) = split(/\|/,
		stat_of($node, 'postgres', 't_k', 'delta_items, delta_limit'));
	($max_delta, $max_share) = ($delta, $delta / $limit)
	  if $delta / $limit > $max_share;
	$pgbench->pump_nb;
	select(undef, undef, undef, 0.1);
}
ok($pgbench->finish, 'pgbench load ran') or diag("exit: " . $pgbench->result . " $err");
note("largest delta seen: $max_delta entries, "
	  . sprintf('%.2f', $max_share) . " times the limit; pgbench: $out");
ok($max_share < $fold_ceiling,
	sprintf('the delta stayed under its ceiling (%.2f < %d times the limit)',
		$max_share, $fold_ceiling));
ok(stat_of($node, 'postgres', 't_k', 'folds') > $folds_before + 5,
	'the worker folded many times');
is(stat_of($node, 'postgres', 't_k', 'inline_folds'),
	'0', 'no inserting backend folded');
like(slurp_file($node->logfile),
	qr/kyrodb: folded \d+ delta entries of index "t_k" into epoch \d+ in [\d.]+ ms/,
	'each fold is logged with its duration');

compare_with_seqscan($node, 'postgres', 'point lookup after the load',
	'SELECT k, v FROM t WHERE k = 5 ORDER BY v');
compare_with_seqscan($node, 'postgres', 'range after the load',
	'SELECT count(*), sum(k) FROM t WHERE k BETWEEN 1000 AND 150000');
compare_with_seqscan($node, 'postgres', 'keys below the first snapshot key after the load',
	'SELECT k FROM t WHERE k < 0 ORDER BY k LIMIT 50');
compare_with_seqscan($node, 'postgres', 'every entry after the load',
	'SELECT count(*) FROM (SELECT k FROM t WHERE k >= 0) s');
is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check passes after the load');

# ---- Killed workers come back ----

# Whether a process of the given backend type, terminated, is replaced by
# another.
sub comes_back
{
	my ($backend_type) = @_;
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = '$backend_type'");
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	return $node->poll_query_until(
		'postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = '$backend_type' AND pid <> $pid});
}

ok(comes_back('kyrodb worker'), 'a terminated worker is started again');
ok(comes_back('kyrodb launcher'), 'a terminated launcher is started again');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kyrodb worker'}),
	'1',
	'the new launcher does not start a second worker for the database');

# ---- Warm on start ----

$node->safe_psql('postgres', 'CREATE EXTENSION pg_buffercache');
$node->append_conf('postgresql.conf', 'kyrodb.warm_on_start = on');
my $log_offset = -s $node->logfile;
$node->restart;
ok(poll_workers($node, 'postgres', 1), 'the worker is back after the restart');
ok( wait_for(
		sub {
			slurp_file($node->logfile, $log_offset) =~ /kyrodb: warmed index "t_k"/;
		}),
	'the worker warms the index after the restart');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) >= pg_relation_size('t_k') / current_setting('block_size')::int
FROM pg_buffercache b JOIN pg_class c ON b.relfilenode = c.relfilenode
WHERE c.oid = 't_k'::regclass AND b.reldatabase =
	(SELECT oid FROM pg_database WHERE datname = current_database())}),
	't',
	'every block of the index is in shared buffers');

$node->stop;

done_testing();
