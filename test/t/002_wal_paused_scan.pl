# Scans on a streaming standby that pause while the primary rebuilds again
# and again: the primary, which knows nothing of the standby's scan,
# recycles the pages of the snapshot the scan started on, and replay
# overwrites them under it.  The scan must notice, take the new view and
# resume where it was, and answer as of its own MVCC snapshot.  It pauses
# on an advisory lock held by another standby session when it reaches a
# key on the first snapshot page it reads.  The table only takes inserts
# meanwhile, so replay has no reason to cancel the scan.
#
# As in 002_wal.pl, the primary writes full page images for the standby to
# compare its replay with (wal_consistency_checking).

use strict;
use warnings;

use Test::More;
use KyroTest;

my $primary = kyro_node(
	'primary',
	allows_streaming => 1,
	conf => "wal_consistency_checking = 'generic,kyrodb'\nautovacuum = off\n");
my $standby = kyro_standby($primary, 'standby');

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE EXTENSION pageinspect;
CREATE TABLE big (id serial, k int8);
INSERT INTO big (k) SELECT g % 20000 FROM generate_series(1, 25000) g;
CREATE INDEX big_k_idx ON big USING kyro_rmi (k) WITH (delta_limit = 64);
INSERT INTO big (k) SELECT g * 3 FROM generate_series(1, 30) g;
});

# The tag (epoch or chain number) and flags of every page of big_k_idx
# but the metapage, from its special space.
my $page_tags =
  'SELECT b, tag, flags FROM (' . pages_sql('big_k_idx') . ') s WHERE b > 0 ORDER BY b';

# A scan in the given direction that pauses at pause_key while the primary
# rebuilds ten times, inserting keys that vary with round.
sub paused_scan
{
	my ($direction, $pause_key, $round) = @_;
	my $label = 'paused ' . ($direction || 'ASC') . ' scan';
	my $query = qq{
SELECT 'RESULT:' || count(*) || ':' || sum(k) || ':' || md5(string_agg(k::text, ','))
FROM (SELECT k FROM big
	  WHERE k > 100
		AND (k <> $pause_key OR (SELECT true FROM pg_advisory_xact_lock_shared(1)))
	  ORDER BY k $direction) s;
};
	$primary->wait_for_catchup($standby);
	my $expected = $standby->safe_psql('postgres', "$force_index $query");
	plan_uses_index($standby, 'big_k_idx', $query, "$label: the query scans the index");

	my $holder = $standby->background_psql('postgres');
	$holder->query_safe('SELECT pg_advisory_lock(1)');
	my $scanner = $standby->background_psql('postgres');
	$scanner->query_safe($force_index);
	$scanner->query_until(qr/started\n/, "\\echo started\n$query\n");
	ok( $standby->poll_query_until(
			'postgres', q{SELECT count(*) = 1 FROM pg_locks
			  WHERE locktype = 'advisory' AND NOT granted}),
		"$label: the scan waits at key $pause_key");

	# kept in Perl: a table would leave dead catalog rows, whose pruning
	# would cancel the standby's scan
	my %tags_before = map { my ($b, @rest) = split(/\|/); ($b => join('|', @rest)) }
	  split(/\n/, $primary->safe_psql('postgres', $page_tags));
	my $size_before = $primary->safe_psql('postgres',
		q{SELECT pg_relation_size('big_k_idx') / 8192});
	foreach my $i (1 .. 10)
	{
		# each in its own transaction, so the pages of the folds before
		# are free to reuse
		$primary->safe_psql('postgres',
			"INSERT INTO big (k) SELECT g * 7 + $i + $round FROM generate_series(1, 50) g");
		# a rebuild rewrites every page (a fold would keep the pages that
		# take no new keys)
		$primary->safe_psql('postgres', q{SELECT epoch FROM kyrodb.rebuild('big_k_idx')});
	}
	my $size_after = $primary->safe_psql('postgres',
		q{SELECT pg_relation_size('big_k_idx') / 8192});
	note "big_k_idx: $size_before pages before 10 folds, $size_after after";
	# the pages of the view the scan paused on: directory, snapshot and
	# model pages (flags 0x0E) not marked deleted (0x0100)
	my %tags_after = map { my ($b, @rest) = split(/\|/); ($b => join('|', @rest)) }
	  split(/\n/, $primary->safe_psql('postgres', $page_tags));
	my ($overwritten, $view_pages) = (0, 0);
	foreach my $b (keys %tags_before)
	{
		my (undef, $flags) = split(/\|/, $tags_before{$b});
		next unless ($flags & 14) && !($flags & 256);
		$view_pages++;
		$overwritten++ if ($tags_after{$b} // '') ne $tags_before{$b};
	}
	note "$label: $overwritten of the $view_pages pages of its view overwritten";
	cmp_ok($overwritten, '>=', $view_pages / 2,
		"$label: the folds overwrote pages of the view it paused on");
	$primary->wait_for_catchup($standby);

	$holder->query_safe('SELECT pg_advisory_unlock(1)');
	my $resumed = $scanner->query_until(qr/RESULT:[^\n]*\n/, '');
	$resumed =~ s/^.*?(RESULT:[^\n]*)\n.*$/$1/s;
	is($resumed, $expected,
		"$label: after replay overwrote its pages it answers as of its snapshot");
	$holder->quit;
	$scanner->quit;
	is($standby->safe_psql('postgres', "$force_index $query"),
		$primary->safe_psql('postgres', "$force_seqscan $query"),
		"$label: a new scan on the standby sees the rows inserted since");
}

paused_scan('', 300, 1);
paused_scan('DESC', 19700, 2);

replayed_cleanly($standby);

$standby->stop;
$primary->stop;

done_testing();
