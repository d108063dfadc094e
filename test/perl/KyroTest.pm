# KyroTest: what the TAP tests in test/t share.  A node with the library
# preloaded, and a streaming standby of it; the planner settings that force
# each kind of scan; a batch of queries answered in one psql session; index
# answers compared with a sequential scan's; a forced plan that scans the
# index; a standby that replayed every page as the primary wrote it;
# pgbench scripts and commands; waiting for a condition.  What only some
# tests share is in the modules under KyroTest/.
#
# The tests find these modules through prove's -I (the Makefile's
# PROVE_FLAGS, test/run's PERL5LIB).

package KyroTest;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  $force_index $force_bitmap $force_seqscan
  kyro_node kyro_standby extension_available skip_all_unless_extension
  marked_script split_marked answers one_line
  count_mismatches compare_with_seqscan plan_uses_index replayed_cleanly
  pgbench_script pgbench_command pages_sql
  wait_for poll_workers);

# The planner settings that force each kind of scan.  Each sets every scan
# switch, so that one may follow another in the same session.
our $force_index = 'SET enable_seqscan = off; SET enable_indexscan = on; '
  . 'SET enable_indexonlyscan = on; SET enable_bitmapscan = off;';
our $force_bitmap = 'SET enable_seqscan = off; SET enable_indexscan = off; '
  . 'SET enable_indexonlyscan = off; SET enable_bitmapscan = on;';
our $force_seqscan = 'SET enable_seqscan = on; SET enable_indexscan = off; '
  . 'SET enable_indexonlyscan = off; SET enable_bitmapscan = off;';

# How long wait_for waits, and how often it looks.
my $WAIT_SECONDS = 30;
my $WAIT_STEP_US = 100_000;

# How many mismatching queries count_mismatches shows.
my $MISMATCHES_SHOWN = 10;

# A new, started node with the library preloaded (unless preload => 0).
# allows_streaming is passed to init; conf is appended to postgresql.conf.
sub kyro_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	# No data checksums, as initdb defaults to before 18 (009_damage wants
	# our reader, not the checksum, to meet damaged pages); older
	# PostgreSQL::Test::Cluster modules ignore the option.
	$node->init(no_data_checksums => 1,
		$opts{allows_streaming} ? (allows_streaming => 1) : ());
	my $conf = '';
	$conf .= "shared_preload_libraries = 'kyrodb'\n"
	  unless defined $opts{preload} && !$opts{preload};
	# Forced plans cost past jit_above_cost: compiling each would cost more
	# than running it.
	$conf .= "jit = off\n";
	$conf .= $opts{conf} // '';
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	return $node;
}

# Whether the server of node can CREATE EXTENSION name.
sub extension_available
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_available_extensions WHERE name = '$name'")
	  eq '1';
}

# Skip the whole test file, stopping node, unless extension name is
# available; why says what it is and where it comes from.
sub skip_all_unless_extension
{
	my ($node, $name, $why) = @_;
	return if extension_available($node, $name);
	$node->stop;
	plan skip_all => $why;
}

# A started streaming standby of primary (made with allows_streaming),
# from a new base backup.
sub kyro_standby
{
	my ($primary, $name) = @_;
	$primary->backup("base_$name");
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, "base_$name", has_streaming => 1);
	$standby->start;
	return $standby;
}

# A psql script of steps, each [tag, sql]: the output of a step's sql
# follows a line "==== tag", for split_marked to find.  settings run first.
sub marked_script
{
	my ($settings, @steps) = @_;
	return join('', "$settings\n",
		map { "\\echo ==== $_->[0]\n$_->[1]\n" } @steps);
}

# The output of a marked script, as a hash of each step's output by tag.
sub split_marked
{
	my ($output) = @_;
	my %parts;
	my @pieces = split(/^==== (\S+)\n?/m, "$output\n", -1);
	shift @pieces;    # whatever came before the first step
	while (my ($tag, $text) = splice(@pieces, 0, 2))
	{
		chomp($text);
		$parts{$tag} = $text;
	}
	return %parts;
}

# Run queries in one session on database db, after the given settings;
# returns each query's output, in order.
sub answers
{
	my ($node, $db, $settings, @queries) = @_;
	my %parts = split_marked(
		$node->safe_psql(
			$db,
			marked_script($settings,
				map { [ $_, "$queries[$_];" ] } 0 .. $#queries)));
	return @parts{ 0 .. $#queries };
}

# An answer on one line, for a diagnostic.
sub one_line
{
	return join(' ', split(/\n/, $_[0] // '(none)'));
}

# The number of queries whose answers differ between the named lists of
# answers (name => [answers], ...), showing the first few with diag.
sub count_mismatches
{
	my ($label, $queries, @named) = @_;
	my $mismatches = 0;
	my ($first_name, $first) = @named[ 0, 1 ];
	for my $i (0 .. $#$queries)
	{
		my $differs = 0;
		for (my $n = 2; $n < @named; $n += 2)
		{
			$differs = 1 if ($named[ $n + 1 ][$i] // '') ne ($first->[$i] // '');
		}
		next unless $differs;
		next if ++$mismatches > $MISMATCHES_SHOWN;
		my $report = "$label: $queries->[$i]";
		for (my $n = 0; $n < @named; $n += 2)
		{
			$report .= "\n  $named[$n]: " . one_line($named[ $n + 1 ][$i]);
		}
		diag($report);
	}
	return $mismatches;
}

# Pass if every query answers through the index as a sequential scan does,
# on database db.
sub compare_with_seqscan
{
	my ($node, $db, $name, @queries) = @_;
	my @by_index = answers($node, $db, $force_index, @queries);
	my @by_seqscan = answers($node, $db, $force_seqscan, @queries);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return is(
		count_mismatches(
			$name, \@queries,
			index => \@by_index,
			seqscan => \@by_seqscan),
		0, $name);
}

# Pass if the forced index plan of a query scans the named index.
sub plan_uses_index
{
	my ($node, $index, $query, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return like(
		$node->safe_psql('postgres', "$force_index EXPLAIN (COSTS OFF) $query"),
		qr/Index (Only )?Scan (Backward )?using \Q$index\E\b/, $name);
}

# Pass if a standby stopped on no page whose replay differed from the
# primary's image of it (wal_consistency_checking), and is still replaying.
sub replayed_cleanly
{
	my ($standby) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok(!$standby->log_contains('inconsistent page found'),
		'no inconsistent page found during replay');
	is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
		't', 'standby still in recovery');
}

# A query of every page of an index, read with pageinspect's get_raw_page:
# its block b, and the tag and flags of its special space
# (KyroPageOpaqueData: deleted_xid, tag, count, next, flags, page_id, so
# tag 16 bytes and flags 4 from a page's end, two bytes each read).
sub pages_sql
{
	my ($index) = @_;
	return qq{
SELECT b, get_byte(p, 8176) + 256 * get_byte(p, 8177) AS tag,
	get_byte(p, 8188) + 256 * get_byte(p, 8189) AS flags
FROM generate_series(0, pg_relation_size('$index') / 8192 - 1) b,
	LATERAL (SELECT get_raw_page('$index', b::int) AS p) r};
}

# Write a pgbench script into the node's directory; returns its path.
sub pgbench_script
{
	my ($node, $name, $text) = @_;
	my $path = $node->basedir . "/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh $text;
	close($fh) or die "could not write $path: $!";
	return $path;
}

# The command that runs pgbench with the given arguments on the node's
# postgres database, for IPC::Run or command_ok.
sub pgbench_command
{
	my ($node, @args) = @_;
	return [ 'pgbench', '-n', @args, '-h', $node->host, '-p', $node->port,
		'postgres' ];
}

# Whether the condition (a sub) comes true within 30 s.
sub wait_for
{
	my ($condition) = @_;
	foreach (1 .. $WAIT_SECONDS * 1_000_000 / $WAIT_STEP_US)
	{
		return 1 if $condition->();
		usleep($WAIT_STEP_US);
	}
	return $condition->() ? 1 : 0;
}

# Whether the node comes to run count kyrodb workers for database db.
sub poll_workers
{
	my ($node, $db, $count) = @_;
	return $node->poll_query_until(
		'postgres', qq{SELECT count(*) = $count FROM pg_stat_activity
		  WHERE backend_type = 'kyrodb worker' AND datname = '$db'});
}

1;
