# The background worker keeps kyro_rmi indexes folded, retrained and
# published without anyone asking:
#  - under a pgbench load of inserts and selects the delta stays under its
#    ceiling, inserting backends never fold (inline_folds stays 0), and
#    every answer matches a sequential scan;
#  - a worker or launcher killed with pg_terminate_backend comes back;
#  - the mispredict detector: a skewed batch appended past the last key is
#    folded with the old model carried over, lookups of it mispredict, the
#    worker retrains, and the mispredict rate of the same lookups falls;
#  - model files of indexes dropped, truncated and reindexed, of a dropped
#    extension and of a dropped database, go away (and the database's
#    worker does not stop DROP DATABASE);
#  - a rebuild from SQL reports its phases in pg_stat_progress_create_index;
#  - with kyrodb.warm_on_start, a restarted server has the index in shared
#    buffers without a query touching it;
#  - the worker writes a deleted model file again by itself;
#  - without shared_preload_libraries the functions work, the counters are
#    NULL, and inserting backends fold for themselves.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The planner settings that force each kind of scan.
my $force_index = q{SET enable_seqscan = off; SET enable_bitmapscan = off;};
my $force_seqscan =
  q{SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;};

# A query's rows through the index and through a sequential scan.
sub compare_answers
{
	my ($node, $db, $query, $name) = @_;
	my $by_index = $node->safe_psql($db, "$force_index $query");
	my $by_seqscan = $node->safe_psql($db, "$force_seqscan $query");
	is($by_index, $by_seqscan, $name);
}

# One column of kyrodb.stats() of an index.
sub stat_of
{
	my ($node, $db, $index, $column) = @_;
	return $node->safe_psql($db, "SELECT $column FROM kyrodb.stats('$index')");
}

# The path of an index's current model file, relative to the data directory.
sub model_file
{
	my ($node, $db, $index) = @_;
	return $node->safe_psql(
		$db, qq{
SELECT format('kyrodb/%s/%s.%s.rmi', d.oid, c.relfilenode, s.epoch)
FROM pg_database d, pg_class c, kyrodb.stats('$index') s
WHERE d.datname = current_database() AND c.oid = '$index'::regclass});
}

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kyrodb'
kyrodb.worker_naptime = 1
kyrodb.retrain_min_lookups = 200
max_worker_processes = 16
# the load logs nothing per statement, as a production server would
log_statement = none
autovacuum = off
jit = off
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8, v int8);
INSERT INTO t SELECT (g * 7919) % 200003, g FROM generate_series(1, 100000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k) WITH (delta_limit = 2000);
});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'kyrodb worker' AND datname = 'postgres'}),
	'a worker runs for the database with the extension');

# ---- The worker under load ----

my $ceiling = 2000 * 4;    # delta_limit times kyrodb.fold_ceiling
my $folds_before = stat_of($node, 'postgres', 't_k', 'folds');
my ($out, $err) = ('', '');
my $script_dir = $node->basedir;
PostgreSQL::Test::Utils::append_to_file("$script_dir/insert.sql",
	"\\set k random(-100000, 400000)\nINSERT INTO t VALUES (:k, 0);\n");
PostgreSQL::Test::Utils::append_to_file("$script_dir/select.sql",
	"\\set k random(0, 200003)\nSET enable_seqscan = off;\nSELECT count(*) FROM t WHERE k = :k;\n");
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '2', '-j', '2', '-T', '8',
		'-f', "$script_dir/insert.sql\@3", '-f', "$script_dir/select.sql\@1",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err);
my $max_delta = 0;
while ($pgbench->pumpable)
{
	my $delta = stat_of($node, 'postgres', 't_k', 'delta_items');
	$max_delta = $delta if $delta > $max_delta;
	$pgbench->pump_nb;
	select(undef, undef, undef, 0.1);
}
ok($pgbench->finish, 'pgbench load ran') or diag("exit: " . $pgbench->result . " $err");
note("largest delta seen: $max_delta entries; pgbench: $out");
ok($max_delta < $ceiling,
	"the delta stayed under its ceiling ($max_delta < $ceiling)");
ok(stat_of($node, 'postgres', 't_k', 'folds') > $folds_before + 5,
	'the worker folded many times');
is(stat_of($node, 'postgres', 't_k', 'inline_folds'),
	'0', 'no inserting backend folded');
like(slurp_file($node->logfile),
	qr/kyrodb: folded \d+ delta entries of index "t_k" into epoch \d+ in [\d.]+ ms/,
	'each fold is logged with its duration');

compare_answers($node, 'postgres', 'SELECT k, v FROM t WHERE k = 5 ORDER BY v',
	'point lookup after the load');
compare_answers($node, 'postgres',
	'SELECT count(*), sum(k) FROM t WHERE k BETWEEN 1000 AND 150000',
	'range after the load');
compare_answers($node, 'postgres',
	'SELECT k FROM t WHERE k < 0 ORDER BY k LIMIT 50',
	'keys below the first snapshot key after the load');
compare_answers($node, 'postgres',
	'SELECT count(*) FROM (SELECT k FROM t WHERE k >= 0) s',
	'every entry after the load');
is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check passes after the load');

# ---- Killed workers come back ----

my $worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'kyrodb worker'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker_pid)");
ok( $node->poll_query_until(
		'postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = 'kyrodb worker' AND pid <> $worker_pid}),
	'a terminated worker is started again');

my $launcher_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'kyrodb launcher'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher_pid)");
ok( $node->poll_query_until(
		'postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = 'kyrodb launcher' AND pid <> $launcher_pid}),
	'a terminated launcher is started again');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kyrodb worker'}),
	'1',
	'the new launcher does not start a second worker for the database');

# ---- The mispredict detector ----

# Dense keys, then a batch of cubes past the last one: the fold only
# appends, so it carries the old model over, which places the new keys badly.
$node->safe_psql(
	'postgres', q{
CREATE TABLE s (k int8);
INSERT INTO s SELECT g FROM generate_series(1, 50000) g;
CREATE INDEX s_k ON s USING kyro_rmi (k) WITH (delta_limit = 1000000);
INSERT INTO s SELECT 50000 + g::int8 * g * g FROM generate_series(1, 5000) g;
SELECT kyrodb.snapshot('s_k');
});
is(stat_of($node, 'postgres', 's_k', 'retrains'), '0', 'no retrain yet');
my $lookups = q{SELECT sum((SELECT count(*) FROM s WHERE k = 50000 + g::int8 * g * g))
	FROM generate_series(1, 5000, 5) g};
my $rate = q{SELECT mispredicts::float8 / lookups FROM kyrodb.stats('s_k')};
$node->safe_psql('postgres', q{SELECT kyrodb.stats_reset('s_k')});
is($node->safe_psql('postgres', "$force_index $lookups"),
	'1000', 'the skewed keys are found');
my $rate_before = $node->safe_psql('postgres', $rate);
ok($rate_before > 0.5, "lookups of the new keys mispredict (rate $rate_before)");
ok( $node->poll_query_until(
		'postgres', q{SELECT retrains >= 1 FROM kyrodb.stats('s_k')}),
	'the worker retrains the index');
like(slurp_file($node->logfile),
	qr/kyrodb: retrained index "s_k" \([\d.]+% of \d+ lookups mispredicted/,
	'the retrain is logged with its reason');
$node->safe_psql('postgres', q{SELECT kyrodb.stats_reset('s_k')});
is($node->safe_psql('postgres', "$force_index $lookups"),
	'1000', 'the skewed keys are still found');
my $rate_after = $node->safe_psql('postgres', $rate);
ok($rate_after < $rate_before / 2,
	"the mispredict rate fell after the retrain ($rate_before -> $rate_after)");
compare_answers($node, 'postgres',
	'SELECT count(*), sum(k) FROM s WHERE k > 40000',
	'answers after the retrain');

# ---- Progress of a rebuild from SQL ----

$node->safe_psql(
	'postgres', q{
CREATE TABLE big (k int8);
INSERT INTO big SELECT (g::int8 * 104729) % 3000017 FROM generate_series(1, 1500000) g;
CREATE INDEX big_k ON big USING kyro_rmi (k);
CREATE TABLE phases (phase text, done bigint);
});
my ($rb_out, $rb_err) = ('', '');
my $rebuild = IPC::Run::start(
	[
		'psql', '-X', '-q', '-h', $node->host, '-p', $node->port,
		'-d', 'postgres', '-c',
		q{SELECT pg_sleep(0.2); SELECT epoch FROM kyrodb.rebuild('big_k')}
	],
	'>', \$rb_out, '2>', \$rb_err);
# Sample the progress view, committing between samples so each sees it anew.
$node->safe_psql(
	'postgres', q{
DO $$
BEGIN
	FOR i IN 1 .. 3000 LOOP
		INSERT INTO phases SELECT phase, tuples_done
		FROM pg_stat_progress_create_index
		WHERE index_relid = 'big_k'::regclass;
		COMMIT;
		EXIT WHEN i > 50 AND NOT EXISTS (
			SELECT FROM pg_stat_activity WHERE query LIKE '%kyrodb.rebuild%'
			AND pid <> pg_backend_pid());
		PERFORM pg_sleep(0.002);
	END LOOP;
END $$;
});
ok($rebuild->finish, 'the rebuild ran') or diag($rb_err);
my $seen = $node->safe_psql('postgres',
	q{SELECT string_agg(DISTINCT phase, ', ' ORDER BY phase) FROM phases});
note("phases seen: $seen");
like($seen, qr/building index: (merging delta into snapshot|training model|reading delta)/,
	'the rebuild reports its phases in pg_stat_progress_create_index');
ok( $node->safe_psql(
		'postgres',
		q{SELECT max(done) > 0 FROM phases WHERE phase LIKE '%merging%'}) ne 'f',
	'and its entry counts');

# ---- Orphan model files ----

$node->safe_psql(
	'postgres', q{
CREATE TABLE o (k int8);
INSERT INTO o SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX o_drop ON o USING kyro_rmi (k);
CREATE INDEX o_reindex ON o USING kyro_rmi (k);
CREATE TABLE o2 (k int8);
INSERT INTO o2 SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX o_truncate ON o2 USING kyro_rmi (k);
});
my $data = $node->data_dir;
my %orphans = map { $_ => model_file($node, 'postgres', $_) }
  qw(o_drop o_reindex o_truncate);
ok(-f "$data/$orphans{$_}", "$_ has its model file") for sort keys %orphans;
$node->safe_psql(
	'postgres', q{
DROP INDEX o_drop;
REINDEX INDEX o_reindex;
TRUNCATE o2;
});
my $reindexed = model_file($node, 'postgres', 'o_reindex');
# a file of an unknown index waits out a grace period (an uncommitted
# CREATE INDEX may own it), so allow the sweep half a minute
my $gone = 0;
for (1 .. 300)
{
	$gone = !grep { -e "$data/$_" } values %orphans;
	last if $gone;
	select(undef, undef, undef, 0.1);
}
ok($gone, 'files of dropped, reindexed and truncated indexes are removed');
ok(-f "$data/$reindexed", 'the reindexed index has a file of its own');

$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql(
	'other', q{
CREATE EXTENSION kyrodb;
CREATE TABLE x (k int8);
INSERT INTO x SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX x_k ON x USING kyro_rmi (k);
});
my $other_oid =
  $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'other'});
ok(-d "$data/kyrodb/$other_oid", 'the new database has a model directory');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'kyrodb worker' AND datname = 'other'}),
	'a database created later gets a worker');
# DROP EXTENSION: the worker leaves the database and takes the files along.
$node->safe_psql('postgres', 'CREATE DATABASE noext');
$node->safe_psql(
	'noext', q{
CREATE EXTENSION kyrodb;
CREATE TABLE x (k int8);
INSERT INTO x SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX x_k ON x USING kyro_rmi (k);
});
my $noext_oid =
  $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'noext'});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'kyrodb worker' AND datname = 'noext'}),
	'the database has a worker');
$node->safe_psql('noext', 'DROP EXTENSION kyrodb CASCADE');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity
		  WHERE backend_type = 'kyrodb worker' AND datname = 'noext'}),
	'after DROP EXTENSION the worker leaves');
ok(!-e "$data/kyrodb/$noext_oid", 'and the database\'s model files are gone');

my ($drop_rc, $drop_out, $drop_err) =
  $node->psql('postgres', 'DROP DATABASE other');
is($drop_rc, 0, 'DROP DATABASE is not blocked by the database\'s worker')
  or diag($drop_err);
ok(!-e "$data/kyrodb/$other_oid", 'the dropped database\'s model files are gone');

# ---- Warm on start ----

$node->safe_psql('postgres', 'CREATE EXTENSION pg_buffercache');
$node->append_conf('postgresql.conf', 'kyrodb.warm_on_start = on');
my $log_offset = -s $node->logfile;
$node->restart;
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'kyrodb worker'}),
	'the worker is back after the restart');
my $warmed = 0;
for (1 .. 300)
{
	$warmed = slurp_file($node->logfile, $log_offset) =~ /kyrodb: warmed index "t_k"/;
	last if $warmed;
	select(undef, undef, undef, 0.1);
}
ok($warmed, 'the worker warms the index after the restart');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) >= pg_relation_size('t_k') / current_setting('block_size')::int
FROM pg_buffercache b JOIN pg_class c ON b.relfilenode = c.relfilenode
WHERE c.oid = 't_k'::regclass AND b.reldatabase =
	(SELECT oid FROM pg_database WHERE datname = current_database())}),
	't',
	'every block of the index is in shared buffers');

# ---- The worker writes a missing model file ----

# (polled from the file system: a query would load the model and write the
# file itself)
my $t_file = model_file($node, 'postgres', 't_k');
$log_offset = -s $node->logfile;
unlink("$data/$t_file") or die "unlink $t_file: $!";
my $back = 0;
for (1 .. 300)
{
	$back = -f "$data/$t_file";
	last if $back;
	select(undef, undef, undef, 0.1);
}
ok($back, 'the worker writes a deleted model file again');
like(slurp_file($node->logfile, $log_offset),
	qr/kyrodb: wrote the model file of index "t_k" \(epoch \d+\) again/,
	'and says so');

$node->stop;

# ---- Without preloading ----

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "autovacuum = off\njit = off");
$plain->start;
$plain->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE p (k int8);
INSERT INTO p SELECT g FROM generate_series(1, 5000) g;
CREATE INDEX p_k ON p USING kyro_rmi (k) WITH (delta_limit = 100);
INSERT INTO p SELECT g FROM generate_series(5001, 6000) g;
});
is( $plain->safe_psql(
		'postgres', q{
SELECT lookups IS NULL AND mispredicts IS NULL AND delta_hits IS NULL
	AND inline_folds IS NULL AND retrains IS NULL AND stats_reset IS NULL
	AND folds > 0 AND live_items = 6000
FROM kyrodb.stats('p_k')}),
	't',
	'without preload the counters are NULL and inserting backends fold');
is($plain->safe_psql('postgres', q{SELECT count(*) FROM kyrodb.stat_indexes}),
	'1', 'the view works without preload');
is($plain->safe_psql('postgres', q{SELECT (kyrodb.rebuild('p_k')).entries}),
	'6000', 'rebuild works without preload');
compare_answers($plain, 'postgres', 'SELECT count(*), sum(k) FROM p WHERE k > 4000',
	'answers without preload');
$plain->stop;

done_testing();
