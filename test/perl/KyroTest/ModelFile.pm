# KyroTest::ModelFile: what the tests of the model file share.  The file
# ($PGDATA/kyrodb/<database oid>/<tablespace>_<relfilenode>.<epoch>.rmi) is derived
# data that may be lost or damaged without wrong answers; these tests
# damage it and compare the index's answers with a sequential scan's, in
# sessions of several kinds.
#
# The file's content is replaced by renaming a new file over it, as the
# server itself does: files are read-only and never rewritten in place
# (backends map them).

package KyroTest::ModelFile;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

our @EXPORT = qw(model_primary model_of model_path read_bytes replace_file
  wait_for_file file_mode round_queries new_session racing_sessions
  compare);

# The oid of the database, and the tablespace (0: the database's default)
# and relfilenode of index t_k, which the file's name carries (the same on
# a standby).
my ($dboid, $tablespace, $relfilenode);

# A started primary (made with allows_streaming) whose worker runs but
# does nothing on its own, with table t and its index t_k: dense keys,
# then cubes (sparse and growing), then a cluster of duplicates inside
# the dense range.
sub model_primary
{
	my ($name) = @_;
	my $primary = kyro_node(
		$name,
		allows_streaming => 1,
		conf => q{
kyrodb.worker = on
# the worker's full pass would write a damaged file again before a backend
# could notice and warn (006_worker_files.pl tests that); and the lookups
# would let it retrain, moving the index to a new epoch, and so a new file
# name, in the middle of a round
kyrodb.worker_naptime = 3600
kyrodb.retrain_min_lookups = 2147483647
autovacuum = off
});
	$primary->safe_psql(
		'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (id int8, k int8);
INSERT INTO t
	SELECT g, CASE WHEN g <= 30000 THEN g * 3
				   WHEN g <= 45000 THEN 100000 + (g - 30000)::int8 * (g - 30000) * (g - 30000)
				   ELSE 50000 + g % 64 END
	FROM generate_series(1, 50000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k);
CREATE TABLE load_stop (stop bool);
});
	$dboid = $primary->safe_psql('postgres',
		q{SELECT oid FROM pg_database WHERE datname = current_database()});
	($tablespace, $relfilenode) = split /\|/,
	  $primary->safe_psql('postgres',
		q{SELECT reltablespace, relfilenode FROM pg_class WHERE oid = 't_k'::regclass});
	return $primary;
}

# The model's epoch and size, as kyrodb.stats() says.  (It loads the model,
# so it is not what a round calls between damaging the file and querying.)
sub model_of
{
	my ($node) = @_;
	my ($epoch, $bytes) = split /\|/,
	  $node->safe_psql('postgres',
		q{SELECT epoch, model_bytes FROM kyrodb.stats('t_k')});
	return ($epoch, $bytes);
}

# The model file of an epoch on a node.
sub model_path
{
	my ($node, $epoch) = @_;
	return $node->data_dir . "/kyrodb/$dboid/${tablespace}_$relfilenode.$epoch.rmi";
}

# A file's bytes.
sub read_bytes
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "could not open $path: $!";
	local $/;
	my $bytes = <$fh>;
	close($fh);
	return $bytes;
}

# Replace a file by a new one holding bytes.  By a rename, as the server
# replaces files: the old file is read-only, and a backend may be writing
# the file again at the same moment.
sub replace_file
{
	my ($path, $bytes) = @_;
	my $tmp = "$path.test";
	open(my $fh, '>:raw', $tmp) or die "could not create $tmp: $!";
	print $fh $bytes;
	close($fh) or die "could not write $tmp: $!";
	rename($tmp, $path) or die "could not rename $tmp to $path: $!";
}

# Whether the file comes to be of the given size, within 30 s.
sub wait_for_file
{
	my ($path, $size) = @_;
	return wait_for(sub { -f $path && -s $path == $size });
}

# A file's permission bits, in octal ('none' if it is missing).
sub file_mode
{
	my ($path) = @_;
	my @st = stat($path);
	return @st ? sprintf('%04o', $st[2] & 07777) : 'none';
}

# The queries compared in a round: points and ranges in each part of the
# key space, across the parts, ordered both ways, = ANY.  Their keys are
# drawn from the seed a test sets, so that a failure replays the same way.
sub round_queries
{
	my @q;
	foreach (1 .. 6)
	{
		my $a = int(rand(95000));
		my $b = $a + int(rand(3000));
		my $n = 1 + int(rand(15000));
		my $c = 100000 + $n * $n * $n;
		my $d = 50000 + int(rand(70));
		push @q, "SELECT id, k FROM t WHERE k = $a ORDER BY id";
		push @q, "SELECT id FROM t WHERE k = $c ORDER BY id";
		push @q, "SELECT count(*) FROM t WHERE k = $d";
		push @q, "SELECT count(*), sum(k), min(id), max(id) FROM t WHERE k BETWEEN $a AND $b";
		push @q, "SELECT count(*), sum(k) FROM t WHERE k > $c - 1000000 AND k <= $c";
		push @q, "SELECT k FROM t WHERE k >= $c ORDER BY k LIMIT 20";
		push @q, "SELECT k FROM t WHERE k < $b ORDER BY k DESC LIMIT 20";
		push @q,
		  "SELECT id, k FROM t WHERE k = ANY(ARRAY[$a, $b, $c, $d, -5]::int8[]) ORDER BY id";
	}
	push @q, 'SELECT count(*), sum(k) FROM t WHERE k BETWEEN 49990 AND 50070';
	push @q, 'SELECT count(*), sum(k) FROM t WHERE k > 90000';
	push @q, 'SELECT min(k), max(k) FROM t';
	push @q, 'SELECT k FROM t ORDER BY k DESC LIMIT 10';
	# every entry, in the index's order
	push @q,
	  q{SELECT count(*), md5(string_agg(k || ':' || id, ',')) FROM (SELECT k, id FROM t WHERE k >= 0 ORDER BY k, id) s};
	return @q;
}

# Sessions run a script and return its output, one per session.

# A new session.
sub new_session
{
	my ($node) = @_;
	return sub { return ($node->safe_psql('postgres', $_[0])) };
}

# Several new sessions at once, which race to load the model (and to write
# its file again).
sub racing_sessions
{
	my ($node, $count) = @_;
	return sub {
		my ($script) = @_;
		my @runs;
		foreach (1 .. $count)
		{
			# (each its own copy: IPC::Run consumes the input it sends)
			my $run = { in => $script, out => '', err => '' };
			$run->{h} = IPC::Run::start(
				[
					'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
					'-d', $node->connstr('postgres')
				],
				'<', \$run->{in}, '>', \$run->{out}, '2>', \$run->{err},
				IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
			push @runs, $run;
		}
		foreach my $run (@runs)
		{
			$run->{h}->finish or die "psql failed: $run->{err}";
			chomp($run->{out});    # as safe_psql does
		}
		return map { $_->{out} } @runs;
	};
}

# The queries through the index, in each of the sessions, answer as a
# sequential scan on the primary does.
sub compare
{
	my ($primary, $name, $sessions, @queries) = @_;
	my @steps = map { [ $_, "$queries[$_];" ] } 0 .. $#queries;
	my @outputs = $sessions->(marked_script($force_index, @steps));
	my @by_seqscan = answers($primary, 'postgres', $force_seqscan, @queries);
	my $mismatches = 0;
	foreach my $output (@outputs)
	{
		my %by_index = split_marked($output);
		$mismatches += count_mismatches(
			$name, \@queries,
			index => [ @by_index{ 0 .. $#queries } ],
			seqscan => \@by_seqscan);
	}
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($mismatches, 0,
		"$name: " . scalar(@queries) . ' queries through the index answer as a seq scan'
		  . (@outputs > 1 ? ' in each of ' . scalar(@outputs) . ' sessions' : ''));
}

1;
