# KyroTest::Differential: the differential test.  A seeded pseudo-random
# generator drives rounds of writes (KyroTest::Differential::Writes) on
# tables whose kyro_rmi indexes fold every few dozen inserts.  Between the
# writes, batches of random queries (KyroTest::Differential::Queries) run
# through the index (sequential and bitmap scans off) and through a
# sequential scan (index scans off), one after the other in the same
# session, and every answer must be the same.  The queries run in a session
# that stays connected while another writes (so its cached views must
# follow the other's appends and folds), after that session's own writes,
# and in new sessions.  At the end every index passes kyrodb.check, and
# folds of every kind have happened.
#
# A test file names its tables and calls run_differential.  A table is a
# hash: name; type (int8, int4, timestamptz, or dkey, a domain over int8);
# opts, its index's WITH clause; guc, settings its writes run under; and
# how keys are drawn (KyroTest::Differential::Keys): dense, the start of
# the dense keys; sparse, a sub drawing a key uniformly over the range;
# spread, the width of a cluster; extremes, keys at the ends of the range,
# drawn now and then (for the integer types the first two are the range's
# ends, which cluster centres keep away from); increasing, set for a table
# of ids, the key the increasing keys start after.
#
# The seed is printed; KYRODB_DIFF_SEED=<n> replays a run,
# KYRODB_DIFF_ROUNDS changes the number of rounds.

package KyroTest::Differential;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Session;
use KyroTest::Differential::Keys;
use KyroTest::Differential::Writes;
use KyroTest::Differential::Queries;

our @EXPORT = qw(run_differential rand64 rint);

my $DEFAULT_SEED = 20241120;
my $DEFAULT_ROUNDS = 40;
my $QUERIES_PER_BATCH = 20;
my $INITIAL_ROWS = 3000;
# Mismatches shown in full, with the rows behind them; more only count.
my $MISMATCHES_SHOWN = 20;

# The ways a query is run, each setting every scan switch, since the modes
# follow one another in one session.
my $settings = q{SET timezone = 'UTC'; SET extra_float_digits = 3;};
my %modes = (
	i => "$settings $force_index",     # index and index-only scans
	b => "$settings $force_bitmap",    # bitmap scans of the index
	s => "$settings $force_seqscan");  # sequential scans

my $reset_joins =
  'RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_nestloop; RESET enable_material;';

# Run queries, each in the given modes one after the other in the same
# session (so at the same state of the table), in a new session (undef) or
# in session s; returns a hash of arrays of answers by mode.  With explain,
# the plans instead of the answers.
sub answers_by_mode
{
	my ($node, $s, $explain, $modes, @queries) = @_;
	my @steps;
	for my $i (0 .. $#queries)
	{
		my $q = $queries[$i];
		foreach my $m (@$modes)
		{
			my $sql = $explain ? "EXPLAIN (COSTS OFF) $q->{explain}" : $q->{sql};
			# the join settings are for the index's runs
			my $setup = $m eq 's' ? '' : $q->{setup};
			push @steps, [ "$m$i", "$modes{$m} $setup\n$sql;\n$reset_joins" ];
		}
	}
	push @steps, [ 'reset', 'RESET ALL;' ];
	my $script = marked_script('', @steps);
	my %parts =
	  split_marked($s ? $s->run_safe($script) : $node->safe_psql('postgres', $script));
	my %answers;
	foreach my $m (@$modes)
	{
		for my $i (0 .. $#queries)
		{
			die "no answer for query $i in mode $m" unless defined $parts{"$m$i"};
			push @{ $answers{$m} }, $parts{"$m$i"};
		}
	}
	return \%answers;
}

# The lines of a that are not in b.
sub missing_lines
{
	my ($a, $b) = @_;
	my %in_b;
	$in_b{$_}++ foreach split(/\n/, $b);
	my @missing;
	foreach (split(/\n/, $a))
	{
		if ($in_b{$_}) { $in_b{$_}--; }
		else { push @missing, $_; }
	}
	return @missing;
}

# Up to ten of a list, on one line.
sub first_ten
{
	my @list = @_;
	return join(' ', @list[ 0 .. ($#list < 9 ? $#list : 9) ]);
}

# Check a batch of random queries on table t, in session s (undef: a new
# session): the answers through the index (and, with bitmap, by bitmap
# scans) against those of sequential scans; with plans, first that the
# forced plans, in the same session, are what they should be.
sub check_batch
{
	my ($run, $s, $t, $label, $bitmap, $plans) = @_;
	my $node = $run->{node};
	my @queries = map { random_query($t) } 1 .. $QUERIES_PER_BATCH;
	my @modes = $bitmap ? qw(i b s) : qw(i s);

	check_plans($run, $s, $t, $label, \@modes, @queries) if $plans;
	my $answers = answers_by_mode($node, $s, 0, \@modes, @queries);
	for my $i (0 .. $#queries)
	{
		my $by_seqscan = $answers->{s}[$i];
		$run->{nonempty}++ if $by_seqscan !~ /^(0(\|.*)?|\|?)$/;
		foreach my $m (grep { $_ ne 's' } @modes)
		{
			my $kind = $m eq 'i' ? $queries[$i]{shape} : "bitmap $queries[$i]{shape}";
			$run->{queries_run}++;
			$run->{shapes_run}{$kind}++;
			next if $answers->{$m}[$i] eq $by_seqscan;
			$run->{mismatches}++;
			$run->{shapes_wrong}{$kind}++;
			next if $run->{mismatches} > $MISMATCHES_SHOWN;
			my ($index_rows) = answers($node, 'postgres', $modes{$m}, $queries[$i]{rows});
			my ($seq_rows) = answers($node, 'postgres', $modes{s}, $queries[$i]{rows});
			diag("$label, seed $run->{seed}: MISMATCH ($kind): "
				  . "$queries[$i]{setup} $queries[$i]{sql}\n"
				  . '  index:    ' . one_line($answers->{$m}[$i]) . "\n"
				  . '  seqscan:  ' . one_line($by_seqscan) . "\n"
				  . '  rows (id|k) of the condition only through the index: '
				  . first_ten(missing_lines($index_rows, $seq_rows)) . "\n"
				  . '  rows (id|k) of the condition only by seq scan: '
				  . first_ten(missing_lines($seq_rows, $index_rows)));
		}
	}
}

# The plans of queries in each mode, run as the answers are: through the
# index in the index modes, by no index in the sequential one.
sub check_plans
{
	my ($run, $s, $t, $label, $modes, @queries) = @_;
	my $plans = answers_by_mode($run->{node}, $s, 1, $modes, @queries);
	my $idx = "$t->{name}_k_idx";
	for my $i (0 .. $#queries)
	{
		foreach my $m (@$modes)
		{
			my $plan = $plans->{$m}[$i];
			$run->{plan_kinds}{$_}++ foreach $plan =~
			  /(Index Only Scan Backward|Index Scan Backward|Index Only Scan|Index Scan|Bitmap Index Scan|Merge Join|Nested Loop)/g;
			# the planner saw that the quals contradict each other: no scan
			next if $plan =~ /One-Time Filter: false/ && $plan !~ /Scan/;
			next if $m eq 'i' && $plan =~ /Index (Only )?Scan (Backward )?using $idx/ && $plan !~ /Seq Scan|Bitmap/;
			next if $m eq 'b' && $plan =~ /Bitmap Index Scan on $idx/ && $plan !~ /Seq Scan|Index (Only )?Scan (Backward )?using/;
			next if $m eq 's' && $plan !~ /$idx/;
			# with no qual to bitmap scan by, the planner takes whichever
			# disabled plan costs less
			next if $m eq 'b' && $queries[$i]{noqual};
			$run->{wrong_plans}++;
			diag("$label: not a plan of mode $m: $queries[$i]{explain}\n$plan");
		}
	}
}

# Create the node, the tables with their first rows, and their indexes.
sub setup
{
	my ($name, @tables) = @_;
	# No autovacuum: the test's own VACUUMs decide what is flagged dead, so
	# a seed replays the same index states.  Folds take steps of two pages,
	# so that queries also meet the states between steps.
	my $node = kyro_node($name,
		conf => "autovacuum = off\nkyrodb.fold_step_pages = 2\n");
	$node->safe_psql(
		'postgres', q{
CREATE EXTENSION kyrodb;
CREATE DOMAIN dkey AS int8;
CREATE FUNCTION kts(bigint) RETURNS timestamptz
	AS $$ SELECT timestamptz '2000-01-01 00:00:00+00' + $1 * interval '1 microsecond' $$
	LANGUAGE sql IMMUTABLE STRICT;
});
	foreach my $t (@tables)
	{
		prepare_table($t);
		my $sql = "CREATE TABLE $t->{name} (id bigserial, k $t->{type}, pad int DEFAULT 0);\n";
		$sql .= sql_insert_batch($t, $INITIAL_ROWS);
		$sql .= "CREATE INDEX $t->{name}_k_idx ON $t->{name} USING kyro_rmi (k) $t->{opts};\n";
		$node->safe_psql('postgres', $sql);
	}
	return $node;
}

# The differential test on a new node named name, over the given tables.
sub run_differential
{
	my ($name, @tables) = @_;
	my $seed = $ENV{KYRODB_DIFF_SEED} // $DEFAULT_SEED;
	my $rounds = $ENV{KYRODB_DIFF_ROUNDS} // $DEFAULT_ROUNDS;
	diag("differential: seed $seed, $rounds rounds (replay with KYRODB_DIFF_SEED=$seed)");
	# Perl's rand() is its own drand48 on every platform, so a seed replays.
	srand($seed);

	my $node = setup($name, @tables);
	my $run = {
		node => $node,
		seed => $seed,
		queries_run => 0,
		mismatches => 0,
		wrong_plans => 0,
		nonempty => 0,
		plan_kinds => {},
		shapes_run => {},
		shapes_wrong => {} };

	# A reader that stays connected through the whole test, and a writer.
	my $reader = KyroTest::Session->new($node);
	my $writer = KyroTest::Session->new($node);
	foreach my $round (1 .. $rounds)
	{
		foreach my $t (@tables)
		{
			my $plans = $round % 5 == 1;

			# another session writes; the reader's cached views must follow
			$writer->run_safe(round_writes($t, 3 + rint(4)));
			check_batch($run, $reader, $t,
				"round $round, $t->{name}, reader after the writer", 0, $plans);

			# the reader writes itself, then queries
			$reader->run_safe(round_writes($t, 1 + rint(2)));
			check_batch($run, $reader, $t,
				"round $round, $t->{name}, reader after its own writes", 0, 0);

			# a new session, with nothing cached; bitmap scans too
			check_batch($run, undef, $t, "round $round, $t->{name}, new session",
				1, $plans);
		}
	}
	$reader->quit;
	$writer->quit;

	# Every index passes its check with heapallindexed at the end.
	foreach my $t (@tables)
	{
		is($node->safe_psql('postgres', "SELECT kyrodb.check('$t->{name}_k_idx', true)"),
			't', "kyrodb.check('$t->{name}_k_idx', true) after $rounds rounds");
	}

	# Folds of every kind happened along the way (partial ones need a delta:
	# an index whose writes run with kyrodb.page_inserts = off).
	my $log = slurp_file($node->logfile);
	my $delta_path = grep { $_->{guc} =~ /page_inserts = off/ } @tables;
	foreach my $kind ('append', 'full', $delta_path ? ('partial') : ())
	{
		my $n = () = $log =~ /kyrodb: $kind fold of index/g;
		cmp_ok($n, '>', 0, "$n $kind folds during the rounds");
	}
	# kyrodb.page_inserts = off sends every insert to the delta, whose
	# folds go in steps; the others' pages split, and folds publish them.
	if ($delta_path)
	{
		my $steps = () = $log =~ /delta entries to its next step/g;
		cmp_ok($steps, '>', 0, "$steps folds left entries for their next step");
	}
	my $splits = $node->safe_psql('postgres',
		'SELECT sum(splits) FROM kyrodb.stat_indexes');
	cmp_ok($splits, '>', 0, "$splits pages split during the rounds");

	my $plan_kinds = $run->{plan_kinds};
	note "plan nodes in the sampled forced plans: "
	  . join(', ', map { "$_ $plan_kinds->{$_}" } sort keys %$plan_kinds);
	my $sizes = $node->safe_psql('postgres',
		join(' UNION ALL ',
			map {
				"SELECT '$_->{name}', count(*), count(k), pg_relation_size('$_->{name}'), "
				  . "pg_relation_size('$_->{name}_k_idx') FROM $_->{name}"
			} @tables));
	note "rows and bytes (table|rows|keyed rows|table bytes|index bytes):\n$sizes";

	my $summary =
	    "differential: $run->{queries_run} queries, $run->{mismatches} mismatches "
	  . "(seed $seed, $rounds rounds; each query's answer through the index, or by "
	  . "a bitmap scan of it, compared with a sequential scan's; $run->{nonempty} of the "
	  . "sequential scans' answers had rows)";
	diag($summary);
	my ($shapes_run, $shapes_wrong) = @$run{qw(shapes_run shapes_wrong)};
	diag('differential: by query shape (queries/mismatches): '
		  . join(', ',
			map { "$_ $shapes_run->{$_}/" . ($shapes_wrong->{$_} // 0) }
			  sort keys %$shapes_run));
	is($run->{mismatches}, 0, $summary);
	is($run->{wrong_plans}, 0,
		'every sampled plan scans the kyro_rmi index as its mode says (or no index)');
	cmp_ok($run->{nonempty}, '>', $run->{queries_run} / 2, 'most queries find rows');

	$node->stop;
}

1;
