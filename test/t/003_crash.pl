# A kyro_rmi index through crashes: pgbench inserts (and now and then
# deletes and folds) into a table with a small delta_limit, so folds run
# all the time; the server is stopped in immediate mode during the load
# and started again.  Each crash comes during a load of its own: keys past
# the last one (append folds), random keys (partial folds), and random
# keys with rebuilds (full folds); partial folds take steps of one page.
# Half the inserts go to the delta (kyrodb.page_inserts = off, drawn per
# transaction), the rest into the pages of the two indexes on the column,
# which repack and split: one with a small delta_limit, folded all the
# time, and one of fillfactor 50.
# After each crash recovery kyrodb.check passes with heapallindexed on both, and
# the index answers every query as a sequential scan does, row counts
# included.  Crash recovery also compares each replayed generic WAL or
# KyroDB record with the page image the server wrote
# (wal_consistency_checking).

use strict;
use warnings;

use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

# one page a step, so that partial folds take steps and crashes fall
# between them too
my $node = kyro_node('crash',
	conf => "wal_consistency_checking = 'generic,kyrodb'\nmax_connections = 20\n"
	  . "kyrodb.fold_step_pages = 1\n");

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (id bigserial, k int8);
INSERT INTO t (k) SELECT CASE WHEN g % 20 = 0 THEN NULL ELSE g * 3 END
	FROM generate_series(1, 1000) g;
CREATE INDEX t_k_idx ON t USING kyro_rmi (k) WITH (delta_limit = 64, fillfactor = 100);
CREATE INDEX t_s_idx ON t USING kyro_rmi (k) WITH (fillfactor = 50);
});

# For the clients that read during the load: a few queries around key x,
# each through the index and by a sequential scan in the caller's snapshot
# (a repeatable read transaction), and an error if they differ.
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION check_keys(x int8) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	q text;
	by_index text;
	by_seqscan text;
BEGIN
	FOREACH q IN ARRAY ARRAY[
		format('SELECT count(*) || '':'' || coalesce(sum(k), 0) FROM t WHERE k BETWEEN %s AND %s',
			   x, x + 40),
		format('SELECT coalesce(string_agg(k::text, '','' ORDER BY k), '''') FROM '
			   '(SELECT k FROM t WHERE k > %s ORDER BY k LIMIT 10) s', x),
		format('SELECT coalesce(string_agg(k::text, '','' ORDER BY k), '''') FROM '
			   '(SELECT k FROM t WHERE k <= %s ORDER BY k DESC LIMIT 10) s', x),
		'SELECT count(*)::text FROM t WHERE k IS NULL']
	LOOP
		PERFORM set_config('enable_seqscan', 'off', true),
			set_config('enable_indexscan', 'on', true),
			set_config('enable_indexonlyscan', 'on', true),
			set_config('enable_bitmapscan', 'off', true);
		EXECUTE q INTO by_index;
		PERFORM set_config('enable_seqscan', 'on', true),
			set_config('enable_indexscan', 'off', true),
			set_config('enable_indexonlyscan', 'off', true);
		EXECUTE q INTO by_seqscan;
		IF by_index IS DISTINCT FROM by_seqscan THEN
			RAISE EXCEPTION 'kyro_rmi answered "%", a sequential scan "%"', by_index, by_seqscan
				USING DETAIL = q;
		END IF;
	END LOOP;
END
$$;
});

# The load: mostly single-row and small batch inserts of random keys
# (wide, clustered, duplicated, NULL), some deletes, some explicit folds,
# and clients that check the index against sequential scans meanwhile.
# Each insert script first draws whether its transaction's inserts go to
# the delta or to the pages.
my $to_delta = q{
\set to_delta random(0, 1)
SELECT set_config('kyrodb.page_inserts', CASE WHEN :to_delta = 1 THEN 'off' ELSE 'on' END, false);
};
my %scripts = (
	'insert.sql' => $to_delta . q{
\set r random(1, 100)
\set wide random(-4000000000, 4000000000)
\set near random(1, 3000)
INSERT INTO t (k) VALUES (CASE WHEN :r <= 5 THEN NULL WHEN :r <= 25 THEN :r WHEN :r <= 60 THEN :near ELSE :wide END);
},
	'batch.sql' => $to_delta . q{
\set base random(1, 100000)
INSERT INTO t (k) SELECT :base + g % 7 FROM generate_series(1, 20) g;
},
	'delete.sql' => q{
\set near random(1, 3000)
DELETE FROM t WHERE k BETWEEN :near AND :near + 2;
},
	'append.sql' => $to_delta . q{
INSERT INTO t (k) VALUES (5000000000 + nextval('t_id_seq'));
},
	'fold.sql' => q{
SET log_min_messages = debug1;
SELECT kyrodb.snapshot('t_k_idx');
},
	'rebuild.sql' => q{
SET log_min_messages = debug1;
SELECT epoch FROM kyrodb.rebuild('t_k_idx');
},
	'check.sql' => q{
\set near random(1, 3000)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT check_keys(:near);
COMMIT;
});
pgbench_script($node, $_, $scripts{$_}) foreach keys %scripts;

# The loads, by the kind of fold they bring about: scripts and weights.
my %loads = (
	append => [ 'append.sql@20', 'fold.sql@1', 'check.sql@4' ],
	partial => [
		'insert.sql@20', 'batch.sql@5', 'delete.sql@2', 'fold.sql@1', 'check.sql@4'
	],
	full => [
		'insert.sql@20', 'batch.sql@5', 'delete.sql@2', 'rebuild.sql@1',
		'check.sql@4'
	]);

# Start pgbench against the node with the load of a kind; returns the
# harness.  Its output goes to $load_out and $load_err.
my ($load_out, $load_err);

sub start_load
{
	my ($kind) = @_;
	($load_out, $load_err) = ('', '');
	my $cmd = pgbench_command($node, '-c', '5', '-j', '2', '-T', '30',
		map { ('-f', $node->basedir . "/$_") } @{ $loads{$kind} });
	return IPC::Run::start($cmd, '>', \$load_out, '2>', \$load_err);
}

srand(7031);

# The queries compared: keys drawn around each of the load's distributions.
sub queries
{
	my @q;
	for (1 .. 6)
	{
		my $near = 1 + int(rand(3000));
		my $wide = int(rand(8000000000)) - 4000000000;
		my $batch = 1 + int(rand(100000));
		push @q, "SELECT count(*) FROM t WHERE k = $near";
		push @q, "SELECT id, k FROM t WHERE k = " . int(rand(30)) . ' ORDER BY id';
		push @q, "SELECT id, k FROM t WHERE k BETWEEN $near AND $near + 40 ORDER BY id";
		push @q,
		  "SELECT count(*), sum(k) FROM t WHERE k >= $batch AND k < $batch + 5000";
		push @q, "SELECT k FROM t WHERE k > $wide ORDER BY k LIMIT 20";
		push @q, "SELECT k FROM t WHERE k <= $wide ORDER BY k DESC LIMIT 20";
		push @q, "SELECT count(*) FROM t WHERE k < $wide";
	}
	push @q, 'SELECT count(*) FROM t WHERE k IS NULL';
	push @q, 'SELECT count(*) FROM t WHERE k IS NOT NULL';
	push @q, 'SELECT count(*), sum(k) FROM t WHERE k > -9223372036854775808';
	push @q, 'SELECT min(k), max(k) FROM t';
	push @q, 'SELECT k FROM t ORDER BY k DESC LIMIT 10';
	return @q;
}

# After recovery: check passes, and index answers equal seq-scan answers.
sub verify
{
	my ($label) = @_;
	is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_k_idx', true)}),
		't', "$label: kyrodb.check with heapallindexed");
	is($node->safe_psql('postgres', q{SELECT kyrodb.check('t_s_idx', true)}),
		't', "$label: kyrodb.check with heapallindexed of the index whose pages split");

	my @q = queries();
	compare_with_seqscan($node, 'postgres',
		"$label: " . scalar(@q) . ' queries: index answers = seq scan answers', @q);

	# every row, through the index and by a sequential scan
	my $keyed = 'SELECT k, id FROM t WHERE k IS NOT NULL ORDER BY k, id';
	my ($index_nulls, $index_keyed, $index_rows) = answers($node, 'postgres', $force_index,
		'SELECT count(*) FROM t WHERE k IS NULL',
		'SELECT count(*) FROM t WHERE k IS NOT NULL', $keyed);
	my ($seq_nulls, $seq_keyed, $seq_rows, $total) = answers($node, 'postgres', $force_seqscan,
		'SELECT count(*) FROM t WHERE k IS NULL',
		'SELECT count(*) FROM t WHERE k IS NOT NULL', $keyed,
		'SELECT count(*) FROM t');
	is($index_nulls + $index_keyed, $total,
		"$label: rows through the index ($index_keyed keyed, $index_nulls NULL) = rows by seq scan");
	is($index_rows, $seq_rows, "$label: every keyed row alike through the index");
}

verify('before the load');

my $last_epoch = $node->safe_psql('postgres', q{SELECT kyrodb.snapshot('t_k_idx')});
my @kinds = ('append', 'partial', 'full');
foreach my $crash (1 .. 3)
{
	my $kind = $kinds[ $crash - 1 ];
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	my $log_offset = -s $node->logfile;
	my $load = start_load($kind);

	# let the load run for a while, at a different point of a fold each time
	my $rows = 0;
	my $deadline = time() + 60;
	while ($rows < $before + 600 * $crash && time() < $deadline)
	{
		sleep(1);
		$rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	}
	usleep(250_000 * $crash);
	ok(!$node->log_contains(qr/ERROR|PANIC|TRAP/, $log_offset),
		"crash $crash: no error during the load");
	# (the test servers log every statement)
	my $checks = () =
	  PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset) =~
	  /statement: SELECT check_keys/g;
	cmp_ok($checks, '>', 0,
		"crash $crash: $checks checks of index against seq scan answers during the load");
	# folds of the load's kind ran (the worker logs its folds, the clients'
	# own folds log at DEBUG1)
	my $folds = () =
	  PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset) =~
	  /kyrodb: (?:$kind fold of index|folded .* $kind fold,)/g;
	cmp_ok($folds, '>', 0, "crash $crash: $folds $kind folds during the load");
	if ($kind eq 'partial')
	{
		my $steps = () =
		  PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset) =~
		  /left for its next step|delta entries to its next step/g;
		cmp_ok($steps, '>', 0,
			"crash $crash: $steps fold steps left entries for the next during the load");
	}
	$node->stop('immediate');
	eval { $load->finish; };
	note "crash $crash: stopped during the load with about $rows rows (from $before)";
	# the clients lose their connections; anything else they say is news
	note "pgbench: $_"
	  foreach grep {
		/\S/
		  && !/immediate shutdown|aborted in command|backend died|Run was aborted/
	  } split(/\n/, $load_err);

	$node->start;
	ok(!$node->log_contains('inconsistent page found'),
		"crash $crash: recovery replayed every page as written");
	verify("crash $crash, after recovery");

	# the recovered index takes inserts and folds again
	$node->safe_psql('postgres',
		"INSERT INTO t (k) SELECT g * $crash FROM generate_series(1, 200) g");
	my $epoch = $node->safe_psql('postgres', q{SELECT kyrodb.snapshot('t_k_idx')});
	cmp_ok($epoch - $last_epoch, '>', 1,
		"crash $crash: folds went on during the load and after recovery (epoch $epoch)");
	$last_epoch = $epoch;
	verify("crash $crash, after a fold");
}
cmp_ok($node->safe_psql('postgres', q{SELECT split_pages + folds FROM kyrodb.stats('t_s_idx')}),
	'>', 0, 't_s_idx: its pages split during the loads');

$node->stop;

done_testing();
