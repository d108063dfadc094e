# The index's size under sustained inserts, with the background worker
# folding: the pages a fold replaces are reused by later folds, so the
# index stays within a bound of a fresh build of the same rows.  Keys past
# the last one (append folds) rewrite little, and the index stays close to
# a fresh build.  Random keys touch almost every page; the worker folds
# them in steps (a sixteenth of the snapshot at a time, at least 16 pages),
# each reusing the pages the steps before it freed, so the index holds one
# copy and a step or two, not two copies (as one fold in one piece would
# leave) nor a copy more with every fold (as no reuse would).  Answers are
# compared with sequential scans after each load.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $node = kyro_node(
	'write_size', conf => q{
kyrodb.worker_naptime = 1
synchronous_commit = off
autovacuum = off
});

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE ta (k int8, v int8);
INSERT INTO ta SELECT g, g FROM generate_series(1, 50000) g;
CREATE SEQUENCE ta_seq START 50001;
CREATE INDEX ta_k ON ta USING kyro_rmi (k) WITH (delta_limit = 1000, delta_scale_factor = 0);
CREATE TABLE tr (k int8, v int8);
INSERT INTO tr SELECT hashint8(g) >> 8, g FROM generate_series(1, 50000) g;
CREATE INDEX tr_k ON tr USING kyro_rmi (k) WITH (delta_limit = 1000, delta_scale_factor = 0);
});

my %scripts = (
	ta => q{INSERT INTO ta VALUES (nextval('ta_seq'), 0);},
	tr => qq{\\set k random(-36028797018963968, 36028797018963967)\nINSERT INTO tr VALUES (:k, 0);});

# Size of the index against a fresh build of the same rows, after a load
# of each kind; then the index's answers against a sequential scan's.
sub load_and_measure
{
	my ($table, $bound, $what) = @_;
	my $script = pgbench_script($node, "$table.sql", $scripts{$table});
	my $folds_before = $node->safe_psql('postgres', "SELECT folds FROM kyrodb.stats('${table}_k')");
	$node->command_ok(
		pgbench_command($node, '-c', '2', '-j', '2', '-T', '8', '-f', $script),
		"$table: 8 s of $what");
	# let the worker fold what is past the limit
	$node->poll_query_until('postgres',
		"SELECT delta_items < delta_limit FROM kyrodb.stats('${table}_k')");
	my $folds = $node->safe_psql('postgres', "SELECT folds FROM kyrodb.stats('${table}_k')")
	  - $folds_before;
	cmp_ok($folds, '>=', 10, "$table: $folds folds during the load");
	my ($size, $fresh, $rows) = split(
		/\|/,
		$node->safe_psql(
			'postgres', qq{
CREATE INDEX ${table}_fresh ON $table USING kyro_rmi (k);
SELECT pg_relation_size('${table}_k'), pg_relation_size('${table}_fresh'), count(*) FROM $table;
DROP INDEX ${table}_fresh;
}));
	my $ratio = sprintf('%.2f', $size / $fresh);
	note "$table: $rows rows, index $size bytes, fresh build $fresh bytes: ${ratio}x";
	cmp_ok($ratio, '<=', $bound,
		"$table: after $what the index is ${ratio}x a fresh build (at most ${bound}x)");

	compare_with_seqscan($node, 'postgres',
		"$table: the index answers as a sequential scan does",
		"SELECT count(*), sum(k), min(k), max(k) FROM $table WHERE k > -9223372036854775808");
	is($node->safe_psql('postgres', "SELECT kyrodb.check('${table}_k', true)"),
		't', "$table: kyrodb.check with heapallindexed");
}

# The bounds leave room for the machine: how far the delta runs past its
# limit before the worker folds, and so how many freed pages are still
# waiting to be reused when the size is read, depends on how much CPU the
# worker gets beside the two clients.  With other jobs on the machine,
# runs measured 1.09-1.26x after appends and 1.19-1.61x after random keys
# (the bounds were 1.25x and 1.6x, and a loaded run crossed each once).
# What the bounds catch is pages never being reused, which doubles the
# index.
load_and_measure('ta', 1.35, 'increasing-key inserts');
load_and_measure('ta', 1.35, 'more increasing-key inserts');
load_and_measure('tr', 1.75, 'random-key inserts');
load_and_measure('tr', 1.75, 'more random-key inserts');

# the random keys were folded in steps
my $steps = () = slurp_file($node->logfile) =~
  /of index "tr_k" .* entries left for its next step/g;
cmp_ok($steps, '>=', 10, "tr: $steps fold steps left entries for the next");

$node->stop;

done_testing();
