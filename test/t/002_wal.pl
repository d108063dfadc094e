# A kyro_rmi index on a streaming standby: after each round of inserts,
# deletes, updates, VACUUM and folds on the primary, the standby's index
# gives the same answers as the primary's index and as the primary's
# sequential scan, and kyrodb.check() passes on the standby; each kind of
# fold replays; what a standby cannot do, it refuses.  (Scans on the
# standby while replay overwrites their pages: 002_wal_paused_scan.pl.)
#
# The primary writes every generic WAL record and every KyroDB record
# (kwal.c) with a full page image for the standby to compare with what its
# replay produced (wal_consistency_checking), so a record that does not
# replay to the primary's page stops the standby.  The primary sends its
# inserts to the delta (the developer option kyrodb.page_inserts = off),
# so that inserting backends fold (inserts into pages, their splits and
# revivals on a standby: 002_wal_records.pl).

use strict;
use warnings;

use Test::More;
use KyroTest;

my $primary = kyro_node(
	'primary',
	allows_streaming => 1,
	conf => "wal_consistency_checking = 'generic,kyrodb'\nautovacuum = off\n"
	  . "kyrodb.page_inserts = off\n");

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (id bigserial, k int8, pad text);
INSERT INTO t (k, pad)
	SELECT CASE WHEN g % 10 = 0 THEN NULL ELSE (g * 7) % 500 END, 'initial'
	FROM generate_series(1, 2000) g;
CREATE INDEX t_k_idx ON t USING kyro_rmi (k) WITH (delta_limit = 64, fillfactor = 100);
});

my $standby = kyro_standby($primary, 'standby');

# The queries compared after each round.  Key arguments are drawn from a
# fixed seed, so a failure replays the same way.
srand(20240501);

# A few queries per kind, with keys around the data's range (including
# the 64-bit extremes that some rounds insert).
sub round_queries
{
	my @q;
	for (1 .. 4)
	{
		my $a = int(rand(700)) - 100;
		my $b = $a + int(rand(120));
		push @q, "SELECT id, k FROM t WHERE k = $a ORDER BY id";
		push @q, "SELECT count(*) FROM t WHERE k = $b";
		push @q, "SELECT id, k FROM t WHERE k BETWEEN $a AND $b ORDER BY id";
		push @q, "SELECT count(*), sum(k) FROM t WHERE k > $a AND k <= $b";
		push @q, "SELECT k FROM t WHERE k >= $a ORDER BY k LIMIT 25";
		push @q, "SELECT k FROM t WHERE k < $b ORDER BY k DESC LIMIT 25";
		push @q, "SELECT count(*) FROM t WHERE k < $a";
		push @q, "SELECT count(*) FROM t WHERE k >= $b";
		push @q,
		  "SELECT id, k FROM t WHERE k = ANY(ARRAY[$a, $b, "
		  . ($a + 3)
		  . ", NULL]::int8[]) ORDER BY id";
	}
	push @q, 'SELECT k FROM t ORDER BY k LIMIT 30';
	push @q, 'SELECT k FROM t ORDER BY k DESC LIMIT 30';
	push @q, 'SELECT k FROM t WHERE k IS NOT NULL ORDER BY k DESC LIMIT 30';
	push @q, 'SELECT id FROM t WHERE k IS NULL ORDER BY id';
	push @q, 'SELECT count(*) FROM t WHERE k IS NULL';
	push @q, 'SELECT count(*), sum(k) FROM t WHERE k IS NOT NULL';
	push @q, 'SELECT min(k), max(k) FROM t';
	push @q,
	  'SELECT count(*) FROM t WHERE k > -9223372036854775808 AND k < 9223372036854775807';
	push @q, 'SELECT k FROM t WHERE k > 9000000000000000000 ORDER BY k';
	push @q, 'SELECT k FROM t WHERE k < -9000000000000000000 ORDER BY k DESC';
	return @q;
}

# The round's queries on the primary with the index, on the standby with
# the index, and on the primary with a sequential scan: all three agree.
sub compare_round
{
	my ($round) = @_;
	my @queries = round_queries();
	my @on_primary = answers($primary, 'postgres', $force_index, @queries);
	my @on_standby = answers($standby, 'postgres', $force_index, @queries);
	my @by_seqscan = answers($primary, 'postgres', $force_seqscan, @queries);
	is( count_mismatches(
			"round $round", \@queries,
			'primary index' => \@on_primary,
			'standby index' => \@on_standby,
			'primary seqscan' => \@by_seqscan),
		0,
		"round $round: " . scalar(@queries)
		  . ' queries: standby index = primary index = seq scan');

	# the whole table, row by row, through the index on both servers
	my $all =
	  'SELECT k, id FROM t WHERE k IS NOT NULL ORDER BY k, id';
	my $all_primary = $primary->safe_psql('postgres', "$force_index $all");
	is($standby->safe_psql('postgres', "$force_index $all"),
		$all_primary, "round $round: every keyed row alike on the standby");
	is($primary->safe_psql('postgres', "$force_seqscan $all"),
		$all_primary, "round $round: every keyed row alike by seq scan");

	is($standby->safe_psql('postgres', q{SELECT kyrodb.check('t_k_idx')}),
		't', "round $round: kyrodb.check on the standby");
	is($primary->safe_psql('postgres', q{SELECT kyrodb.check('t_k_idx', true)}),
		't', "round $round: kyrodb.check with heapallindexed on the primary");
}

# The forced plans really use the index, on both servers.
foreach my $node ($primary, $standby)
{
	foreach my $q (
		'SELECT id FROM t WHERE k = 5',
		'SELECT k FROM t WHERE k > 5 ORDER BY k DESC LIMIT 3',
		'SELECT count(*) FROM t WHERE k IS NULL')
	{
		plan_uses_index($node, 't_k_idx', $q,
			$node->name . ": forced plan uses the index: $q");
	}
}

$primary->wait_for_catchup($standby);
compare_round(0);

my $epoch_before = $primary->safe_psql('postgres',
	q{SELECT kyrodb.snapshot('t_k_idx')});

foreach my $round (1 .. 6)
{
	my $seed = $round / 10.0;

	# Inserts: clustered keys with duplicates, NULLs, and in some rounds
	# keys at the ends of the 64-bit range; more than delta_limit, so the
	# inserting backends fold.
	$primary->safe_psql(
		'postgres', qq{
SELECT setseed($seed);
INSERT INTO t (k, pad)
	SELECT CASE WHEN random() < 0.08 THEN NULL
				ELSE (random() * 600)::int8 - 50 END, 'round $round'
	FROM generate_series(1, 300);
INSERT INTO t (k, pad) VALUES ($round * 11, 'single'), (NULL, 'single null');
});
	if ($round % 2 == 0)
	{
		$primary->safe_psql(
			'postgres', qq{
INSERT INTO t (k, pad) VALUES
	(9223372036854775807, 'max'), (-9223372036854775808, 'min'),
	(9223372036854775000 + $round, 'high'), (-9223372036854775000 - $round, 'low');
});
	}

	# Deletes and updates, then VACUUM in some rounds, so that dead entries
	# are flagged both in the snapshot and in the delta.
	$primary->safe_psql(
		'postgres', qq{
DELETE FROM t WHERE id % 9 = $round % 9;
DELETE FROM t WHERE k BETWEEN $round * 40 AND $round * 40 + 15;
UPDATE t SET k = k + 1 WHERE id % 13 = $round;
UPDATE t SET k = NULL WHERE id % 31 = $round;
UPDATE t SET k = $round * 3 WHERE k IS NULL AND id % 5 = $round % 5;
});
	$primary->safe_psql('postgres', 'VACUUM t') if $round != 3;

	# An explicit fold in most rounds, then a few rows left in the delta.
	if ($round != 5)
	{
		my $epoch = $primary->safe_psql('postgres',
			q{SELECT kyrodb.snapshot('t_k_idx')});
		# each round inserts several delta_limits' worth of entries, so
		# inserting backends folded on their own since the last explicit fold
		cmp_ok($epoch - $epoch_before, '>', 1,
			"round $round: automatic folds, then kyrodb.snapshot's newer epoch ($epoch)"
		);
		$epoch_before = $epoch;
	}
	$primary->safe_psql(
		'postgres', qq{
INSERT INTO t (k, pad)
	SELECT g % 37 + $round, 'after fold' FROM generate_series(1, 20) g;
DELETE FROM t WHERE id % 17 = $round;
});
	$primary->safe_psql('postgres', 'VACUUM t') if $round == 4;

	$primary->wait_for_catchup($standby);
	note "round $round: rows (keyed, NULL): "
	  . $primary->safe_psql('postgres',
		'SELECT count(k), count(*) - count(k) FROM t');
	compare_round($round);
}

# Each kind of fold replayed: keys past the last one (an append fold),
# keys inside one page's range (a partial fold), keys over every page
# folded one page a step (each step a chain of its own for the next), and
# a rebuild (a full fold).  The fold says its kind at DEBUG1; the standby answers as the
# primary's sequential scan does, and its check passes.
$primary->safe_psql(
	'postgres', q{
CREATE TABLE ta (id serial, k int8);
INSERT INTO ta (k) SELECT g * 2 FROM generate_series(1, 20000) g;
CREATE INDEX ta_k_idx ON ta USING kyro_rmi (k) WITH (delta_limit = 1073741824);
});
my %fold_sql = (
	append =>
	  'INSERT INTO ta (k) SELECT (SELECT max(k) FROM ta) + g FROM generate_series(1, 3000) g;'
	  . q{ SELECT kyrodb.snapshot('ta_k_idx');},
	partial => 'INSERT INTO ta (k) SELECT 2 * g + 1 FROM generate_series(5000, 5100) g;'
	  . q{ SELECT kyrodb.snapshot('ta_k_idx');},
	steps => 'SET kyrodb.fold_step_pages = 1;'
	  . ' INSERT INTO ta (k) SELECT 7 * g + 1 FROM generate_series(1, 5000) g;'
	  . q{ SELECT kyrodb.snapshot('ta_k_idx');},
	full => 'INSERT INTO ta (k) VALUES (-1), (NULL);'
	  . q{ SELECT epoch FROM kyrodb.rebuild('ta_k_idx');});
my %fold_says = (
	append => qr/kyrodb: append fold of index "ta_k_idx"/,
	partial => qr/kyrodb: partial fold of index "ta_k_idx"/,
	steps => qr/fold of index "ta_k_idx" .* carrying \d+ delta entries to its next step/,
	full => qr/kyrodb: full fold of index "ta_k_idx"/);
foreach my $kind ('append', 'partial', 'steps', 'full', 'append')
{
	my ($ret, $out, $err) = $primary->psql('postgres',
		"SET client_min_messages = debug1; $fold_sql{$kind}");
	is($ret, 0, "$kind fold on the primary");
	like($err, $fold_says{$kind}, "the fold names its kind: $kind");
	$primary->wait_for_catchup($standby);
	foreach my $q (
		'SELECT count(*), sum(k) FROM ta WHERE k > 9000 AND k < 11000',
		'SELECT k FROM ta WHERE k > 40000 ORDER BY k LIMIT 5',
		'SELECT k FROM ta ORDER BY k DESC LIMIT 5',
		'SELECT count(*), min(k), max(k) FROM ta WHERE k IS NOT NULL',
		'SELECT count(*) FROM ta WHERE k IS NULL')
	{
		is($standby->safe_psql('postgres', "$force_index $q"),
			$primary->safe_psql('postgres', "$force_seqscan $q"),
			"after the $kind fold, the standby's index answers $q as the primary's seq scan");
	}
	is($standby->safe_psql('postgres', q{SELECT kyrodb.check('ta_k_idx')}),
		't', "after the $kind fold, kyrodb.check passes on the standby");
}

# A kyrodb.check that reads the heap takes a ShareLock on the table, which
# a hot standby does not grant; it says so rather than crash.
my ($ret, $stdout, $stderr) = $standby->psql('postgres',
	q{SELECT kyrodb.check('t_k_idx', true)});
isnt($ret, 0, 'heapallindexed check is refused on the standby');
like($stderr, qr/cannot acquire lock mode ShareLock/,
	'standby refuses the ShareLock of heapallindexed');

# A fold is refused on the standby.
($ret, $stdout, $stderr) = $standby->psql('postgres',
	q{SELECT kyrodb.snapshot('t_k_idx')});
isnt($ret, 0, 'kyrodb.snapshot is refused on the standby');

replayed_cleanly($standby);

$standby->stop;
$primary->stop;

done_testing();
