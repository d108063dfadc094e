# The index's size under sustained inserts, with the background worker
# on.  Pages that fill split in two (the last one as a B-tree splits its
# rightmost leaf, so appends leave full pages behind), and the worker
# publishes the split pages in a new directory.  Two bounds, against a
# fresh build of the same rows: the key pages (snapshot pages in use,
# read from each page's special space) within a tight one, since how
# full split pages are depends only on the keys; and the whole index
# within a loose one, since how many freed pages wait to be reused when
# the size is read depends on when the worker last folded, which the
# machine's load decides.  An index whose inserts all go to the delta
# (its clients set the developer option kyrodb.page_inserts = off; it is
# packed full, fillfactor 100, as 0.2 packed), the worker folds in steps (a
# sixteenth of the snapshot at a time, at least 16 pages), each reusing
# the pages the steps before it freed, so that index holds one copy and
# a step or two, not a copy more with every fold.  The loads are counts
# of inserts, not times, and answers are compared with sequential scans
# after each load.

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
CREATE EXTENSION pageinspect;
CREATE TABLE ta (k int8, v int8);
INSERT INTO ta SELECT g, g FROM generate_series(1, 50000) g;
CREATE SEQUENCE ta_seq START 50001;
CREATE INDEX ta_k ON ta USING kyro_rmi (k) WITH (delta_limit = 1000, delta_scale_factor = 0);
CREATE TABLE tr (k int8, v int8);
INSERT INTO tr SELECT hashint8(g) >> 8, g FROM generate_series(1, 50000) g;
CREATE INDEX tr_k ON tr USING kyro_rmi (k) WITH (delta_limit = 1000, delta_scale_factor = 0);
CREATE TABLE tf (k int8, v int8);
INSERT INTO tf SELECT hashint8(g) >> 8, g FROM generate_series(1, 50000) g;
CREATE INDEX tf_k ON tf USING kyro_rmi (k)
	WITH (fillfactor = 100, delta_limit = 1000, delta_scale_factor = 0);
});

# the page flags page_counts reads (KYRO_PAGE_* in src/kyrodb.h)
my $snapshot_page = 0x0004;
my $freed_or_replaced = 0x0100 | 0x0400;

my %scripts = (
	ta => q{INSERT INTO ta VALUES (nextval('ta_seq'), 0);},
	tr => qq{\\set k random(-36028797018963968, 36028797018963967)\nINSERT INTO tr VALUES (:k, 0);},
	tf => qq{SET kyrodb.page_inserts = off;\n\\set k random(-36028797018963968, 36028797018963967)\nINSERT INTO tf VALUES (:k, 0);});

# The table's rows, and the pages of an index: all of them, and the key
# pages (flags in the special space: snapshot, not deleted or replaced).
sub page_counts
{
	my ($table, $index) = @_;
	return split(
		/\|/,
		$node->safe_psql(
			'postgres', qq{
SELECT (SELECT count(*) FROM $table), count(*),
	count(*) FILTER (WHERE flags & $snapshot_page <> 0 AND flags & $freed_or_replaced = 0)
FROM (} . pages_sql($index) . q{) s}));
}

# Size of the index against a fresh build of the same rows, after a load
# of each kind; then the index's answers against a sequential scan's.
sub load_and_measure
{
	my ($table, $key_bound, $bound, $what) = @_;
	my $script = pgbench_script($node, "$table.sql", $scripts{$table});
	my ($folds_before, $splits_before) = split(/\|/,
		$node->safe_psql('postgres', "SELECT folds, splits FROM kyrodb.stats('${table}_k')"));
	$node->command_ok(
		pgbench_command($node, '-c', '2', '-j', '2', '-t', '20000', '-f', $script),
		"$table: 40,000 $what");
	# let the worker fold what is past the limit
	$node->poll_query_until('postgres',
		"SELECT delta_items < delta_limit FROM kyrodb.stats('${table}_k')");
	my $splits = $node->safe_psql('postgres', "SELECT splits FROM kyrodb.stats('${table}_k')")
	  - $splits_before;
	if ($table eq 'tf')
	{
		my $folds = $node->safe_psql('postgres', "SELECT folds FROM kyrodb.stats('${table}_k')")
		  - $folds_before;
		cmp_ok($folds, '>=', 10, "$table: $folds folds during the load");
		is($splits, 0, "$table: no page splits (every insert went to the delta)");
	}
	else
	{
		cmp_ok($splits, '>', 0, "$table: $splits pages split during the load");
		# (an insert routed by a view a republish has just replaced still
		# goes to the delta)
	}
	if ($table eq 'tr')
	{
		# random keys split many pages: the worker publishes them
		$node->poll_query_until('postgres',
			"SELECT folds > $folds_before FROM kyrodb.stats('${table}_k')");
		pass("$table: the worker published the split pages");
	}
	my ($rows, $pages, $key_pages) = page_counts($table, "${table}_k");
	$node->safe_psql('postgres', "CREATE INDEX ${table}_fresh ON $table USING kyro_rmi (k)");
	my (undef, $fresh_pages, $fresh_key_pages) = page_counts($table, "${table}_fresh");
	$node->safe_psql('postgres', "DROP INDEX ${table}_fresh");
	my $key_ratio = sprintf('%.2f', $key_pages / $fresh_key_pages);
	my $ratio = sprintf('%.2f', $pages / $fresh_pages);
	note "$table: $rows rows, index $pages pages ($key_pages key pages), "
	  . "fresh build $fresh_pages ($fresh_key_pages)";
	cmp_ok($key_ratio, '<=', $key_bound,
		"$table: after $what the key pages are ${key_ratio}x a fresh build's (at most ${key_bound}x)");
	cmp_ok($ratio, '<=', $bound,
		"$table: after $what the index is ${ratio}x a fresh build (at most ${bound}x)");

	compare_with_seqscan($node, 'postgres',
		"$table: the index answers as a sequential scan does",
		"SELECT count(*), sum(k), min(k), max(k) FROM $table WHERE k > -9223372036854775808");
	is($node->safe_psql('postgres', "SELECT kyrodb.check('${table}_k', true)"),
		't', "$table: kyrodb.check with heapallindexed");
}

# The key-page bounds: random keys split pages in two that then fill as
# inserts come (a B-tree's leaves end about 70% full under random keys,
# against the fresh build's fillfactor); increasing keys leave full pages
# behind.  The whole-index bound catches freed pages never being reused,
# or a copy more with every fold, which doubles the index.
load_and_measure('ta', 1.2, 2.0, 'increasing-key inserts');
load_and_measure('ta', 1.2, 2.0, 'more increasing-key inserts');
load_and_measure('tr', 1.5, 2.0, 'random-key inserts');
load_and_measure('tr', 1.5, 2.0, 'more random-key inserts');
load_and_measure('tf', 1.2, 2.0, 'random-key inserts into the delta');

# the random keys in the delta were folded in steps
my $steps = () = slurp_file($node->logfile) =~
  /of index "tf_k" .* entries left for its next step/g;
cmp_ok($steps, '>=', 10, "tf: $steps fold steps left entries for the next");

$node->stop;

done_testing();
