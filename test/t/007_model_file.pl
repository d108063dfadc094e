# The model file ($PGDATA/kyrodb/<database oid>/<relfilenode>.<epoch>.rmi)
# is derived data that may be lost or damaged without wrong answers:
#  - a new index has a file of the model's size;
#  - deleted, replaced by a truncated copy, by same-size garbage, or by a
#    copy with one byte flipped, while other sessions keep connecting and
#    querying: new sessions, three at once racing to write the file again,
#    answer as a sequential scan does, the server logs the WARNING naming
#    what was wrong, and the file comes back, whole and read-only, and is
#    then used without complaint;
#  - a backend that mapped the file before it was replaced keeps its
#    mapping and its answers, and lets the mapping go when a fold moves it
#    to a new epoch (whose file the fold wrote, removing the old epoch's);
#  - a streaming standby answers as the primary from the file in its base
#    backup, writes its own file (without a WARNING) for an epoch it
#    replayed and after its files are deleted, and warns of a damaged one;
#  - with kyrodb.model_files = off a fold writes no file and answers stay
#    right; turned back on, the file is written again.
# The file's content is replaced by renaming a new file over it, as the
# server itself does: files are read-only and never rewritten in place
# (backends map them).

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

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kyrodb'
kyrodb.worker = on
# the worker's full pass would write a damaged file again before a backend
# could notice and warn (006 tests that); and the lookups would let it
# retrain, moving the index to a new epoch, and so a new file name, in the
# middle of a round
kyrodb.worker_naptime = 3600
kyrodb.retrain_min_lookups = 2147483647
autovacuum = off
# forced plans cost past jit_above_cost: compiling each costs more than it runs
jit = off
});
$primary->start;

# Dense keys, then cubes (sparse and growing), then a cluster of
# duplicates inside the dense range.
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
ok( $primary->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'kyrodb worker' AND datname = 'postgres'}),
	'the worker runs');

my $dboid = $primary->safe_psql('postgres',
	q{SELECT oid FROM pg_database WHERE datname = current_database()});
my $relfilenode = $primary->safe_psql('postgres',
	q{SELECT relfilenode FROM pg_class WHERE oid = 't_k'::regclass});

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
	return $node->data_dir . "/kyrodb/$dboid/$relfilenode.$epoch.rmi";
}

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
	foreach (1 .. 300)
	{
		return 1 if -f $path && -s $path == $size;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

sub file_mode
{
	my ($path) = @_;
	my @st = stat($path);
	return @st ? sprintf('%04o', $st[2] & 07777) : 'none';
}

# The queries compared in a round, their keys drawn from a fixed seed so
# that a failure replays the same way: points and ranges in each part of
# the key space, across the parts, ordered both ways, = ANY.
srand(20251121);
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

# A script that runs settings, then each query after a line naming it.
sub script_of
{
	my ($settings, @queries) = @_;
	return join("\n", $settings,
		map { "SELECT 'query $_';\n$queries[$_];" } 0 .. $#queries);
}

# The answers to each query, from such a script's output.
sub answers_in
{
	my ($output, $count) = @_;
	my @answers = ('') x $count;
	my $current;
	foreach my $line (split /\n/, $output)
	{
		if ($line =~ /^query (\d+)$/)
		{
			$current = $1;
			next;
		}
		die "output before the first query: $line" unless defined $current;
		$answers[$current] .= "$line\n";
	}
	return @answers;
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
		}
		return map { $_->{out} } @runs;
	};
}

# The queries through the index, in each of the sessions, answer as a
# sequential scan on the primary does.
sub compare
{
	my ($name, $sessions, @queries) = @_;
	my @outputs = $sessions->(script_of($force_index, @queries));
	my ($seqscan_output) = new_session($primary)->(script_of($force_seqscan, @queries));
	my @by_seqscan = answers_in($seqscan_output, scalar @queries);
	my $mismatches = 0;
	foreach my $output (@outputs)
	{
		my @by_index = answers_in($output, scalar @queries);
		foreach my $i (0 .. $#queries)
		{
			next if $by_index[$i] eq $by_seqscan[$i];
			diag("$name: $queries[$i]\n  index:   $by_index[$i]  seqscan: $by_seqscan[$i]")
			  if ++$mismatches <= 5;
		}
	}
	is($mismatches, 0,
		"$name: " . scalar(@queries) . ' queries through the index answer as a seq scan'
		  . (@outputs > 1 ? ' in each of ' . scalar(@outputs) . ' sessions' : ''));
}

# The forced plans use the index.
foreach my $q (
	'SELECT id FROM t WHERE k = 5',
	'SELECT count(*) FROM t WHERE k BETWEEN 5 AND 500',
	'SELECT k FROM t WHERE k < 500 ORDER BY k DESC LIMIT 3')
{
	like(
		$primary->safe_psql('postgres', "$force_index EXPLAIN (COSTS OFF) $q"),
		qr/Index (Only )?Scan (Backward )?using t_k/,
		"forced plan uses the index: $q");
}

# ---- A new index has its file ----

my ($epoch, $model_bytes) = model_of($primary);
my $path = model_path($primary, $epoch);
ok(-f $path, "the index has its model file (epoch $epoch)");
is(-s $path, $model_bytes, 'the file is of the model\'s size');
is(file_mode($path), '0400', 'the file is read-only');
is( $primary->safe_psql(
		'postgres', q{SELECT file_bytes = model_bytes FROM kyrodb.stats('t_k')}),
	't', 'kyrodb.stats: file_bytes = model_bytes');
ok($primary->safe_psql('postgres', q{SELECT leaves FROM kyrodb.stats('t_k')}) >= 1,
	'the model has leaves');
compare('with its file', new_session($primary), round_queries());

# ---- Damaged while sessions connect and query ----

# Meanwhile two clients connect for every transaction (so each loads the
# model anew, racing the round's sessions to find the damage and write the
# file) and compare a point lookup through the index with a seq scan.  A
# mismatch fails the client with the key in the error; setting load_stop
# ends the clients, with another error.
my $script_dir = $primary->basedir;
PostgreSQL::Test::Utils::append_to_file(
	"$script_dir/lookup.sql", q{
\set k random(0, 95000)
SELECT count(*) AS stop FROM load_stop \gset
\if :stop > 0
SELECT 'load stopped'::int;
\endif
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS by_index, coalesce(sum(id), 0) AS ids_by_index FROM t WHERE k = :k \gset
SET enable_seqscan = on;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SELECT count(*) AS by_seqscan, coalesce(sum(id), 0) AS ids_by_seqscan FROM t WHERE k = :k \gset
\if :by_index != :by_seqscan or :ids_by_index != :ids_by_seqscan
SELECT ('mismatch for key ' || :k)::int;
\endif
});
my ($load_out, $load_err) = ('', '');
my $load = IPC::Run::start(
	[
		'pgbench', '-n', '-C', '-c', '2', '-j', '2', '-R', '40', '-T', '110',
		'-f', "$script_dir/lookup.sql", '-h', $primary->host,
		'-p', $primary->port, 'postgres'
	],
	'<', \undef, '>', \$load_out, '2>', \$load_err);

my $original = read_bytes($path);
my $middle = int(length($original) / 2);
my $flipped = $original;
substr($flipped, $middle, 1) = chr(ord(substr($original, $middle, 1)) ^ 0xff);
my @rounds = (
	[ 'deleted', sub { unlink($path) or die "could not remove $path: $!" }, 'is missing' ],
	[
		'truncated to half', sub { replace_file($path, substr($original, 0, $middle)) },
		'is truncated or of the wrong size'
	],
	[
		'same-size garbage',
		sub { replace_file($path, join('', map { chr(int(rand(256))) } 1 .. length($original))) },
		'is not the model of this epoch'
	],
	[ 'one byte flipped', sub { replace_file($path, $flipped) }, 'is damaged' ]);

foreach my $round (@rounds)
{
	my ($how, $damage, $why) = @$round;
	my $offset = -s $primary->logfile;
	$damage->();
	compare("file $how", racing_sessions($primary, 3), round_queries());
	like(
		slurp_file($primary->logfile, $offset),
		qr/WARNING:  model file of index "t_k" \(epoch $epoch\) $why/,
		"file $how: the WARNING says it $why");
	ok(wait_for_file($path, $model_bytes), "file $how: the file comes back");
	is(file_mode($path), '0400', "file $how: read-only again");
	ok(read_bytes($path) eq $original, "file $how: it holds the model again");

	# the rewritten file passes a new session's checks
	$offset = -s $primary->logfile;
	compare("file $how, then rewritten", new_session($primary), round_queries());
	unlike(
		slurp_file($primary->logfile, $offset),
		qr/model file of index/,
		"file $how: the rewritten file is used without a WARNING");
	is($primary->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
		't', "file $how: kyrodb.check with heapallindexed passes");
}

$primary->safe_psql('postgres', 'INSERT INTO load_stop VALUES (true)');
$load->finish;
note("concurrent lookups: $load_out");
my @aborts = $load_err =~ /^(client \d+ aborted.*)$/mg;
unlike($load_err, qr/mismatch/, 'every concurrent lookup matched the seq scan')
  or diag($load_err);
is(scalar(grep { !/load stopped/ } @aborts), 0,
	'the concurrent clients ended only when told to')
  or diag($load_err);
my ($processed) = $load_out =~ /number of transactions actually processed: (\d+)/;
ok(defined $processed && $processed > 0,
	'lookups ran concurrently with the rounds (' . ($processed // 'none') . ')');

# ---- A backend that mapped the file before it was replaced ----

# A psql session that stays connected: returns a sub that runs a script
# in it and returns the script's output, and a reference to its stderr.
sub long_lived_session
{
	my ($node) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $timer = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
	my $psql = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, $timer);
	my $scripts = 0;
	my $run = sub {
		my ($script) = @_;
		my $marker = 'end of script ' . ++$scripts;
		$in .= "$script\n\\echo '$marker'\n";
		$timer->start;
		$psql->pump
		  while $out !~ /^\Q$marker\E$/m && $psql->pumpable && !$timer->is_expired;
		die "long-lived session: no end of script $scripts: $err"
		  unless $out =~ s/^\Q$marker\E\n//m;
		my $result = $out;
		$out = '';
		return $result;
	};
	my $quit = sub {
		$in .= "\\q\n";
		$psql->finish;
	};
	return ($run, \$err, $quit);
}

# /proc/PID/maps of a backend, undef where there is none.
sub maps_of
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/maps") or return undef;
	local $/;
	my $maps = <$fh>;
	close($fh);
	return $maps;
}

my ($bg_session, $bg_err, $bg_quit) = long_lived_session($primary);
my $pid = $bg_session->('SELECT pg_backend_pid();');
chomp $pid;
compare('long-lived session, file intact', $bg_session, round_queries());
my $name = "$relfilenode.$epoch.rmi";
my $maps = maps_of($pid);
SKIP:
{
	skip 'no /proc/PID/maps', 1 unless defined $maps;
	like($maps, qr/\Q$name\E$/m, 'the long-lived session maps the file');
}

my $offset = -s $primary->logfile;
replace_file($path, join('', map { chr(int(rand(256))) } 1 .. length($original)));
compare('long-lived session, file replaced by garbage', $bg_session, round_queries());
$maps = maps_of($pid);
SKIP:
{
	skip 'no /proc/PID/maps', 1 unless defined $maps;
	like($maps, qr/\Q$name\E \(deleted\)$/m, 'the session still maps the replaced file');
}
unlike(slurp_file($primary->logfile, $offset),
	qr/model file of index/, 'the session did not look at the new file');

# a new session finds the garbage and writes the file again
compare('new session, file replaced by garbage', new_session($primary), round_queries());
like(
	slurp_file($primary->logfile, $offset),
	qr/WARNING:  model file of index "t_k" \(epoch $epoch\) is not the model of this epoch/,
	'a new session warns of the garbage');
ok(wait_for_file($path, $model_bytes), 'and the file comes back');
compare('long-lived session, file written again', $bg_session, round_queries());

# a fold: the session moves to the new epoch and its file
$primary->safe_psql(
	'postgres', q{
INSERT INTO t SELECT 100000 + g, 90000 + g * 7 FROM generate_series(1, 500) g;
DELETE FROM t WHERE id % 97 = 3;
});
my $old_path = $path;
my $new_epoch = $primary->safe_psql('postgres', q{SELECT kyrodb.snapshot('t_k')});
($epoch, $model_bytes) = model_of($primary);
is($epoch, $new_epoch, 'the fold moved the index to a new epoch');
$path = model_path($primary, $epoch);
is(-s $path, $model_bytes, 'the fold wrote the new epoch\'s file');
ok(!-e $old_path, 'and removed the old epoch\'s');
compare('long-lived session, after a fold', $bg_session, round_queries());
$maps = maps_of($pid);
SKIP:
{
	skip 'no /proc/PID/maps', 2 unless defined $maps;
	unlike($maps, qr/\Q$name\E/, 'the session let the old file go');
	like($maps, qr/\Q$relfilenode.$epoch.rmi\E$/m, 'and maps the new epoch\'s');
}
is($$bg_err, '', 'the long-lived session got no WARNING');
$bg_quit->();

# ---- A streaming standby ----

($epoch, $model_bytes) = model_of($primary);
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
is( $standby->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'kyrodb%'}),
	'0',
	'a hot standby runs no launcher and no worker');
$primary->wait_for_catchup($standby);
like(
	$standby->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	qr/kyrodb/, 'the standby preloads the library');
ok(-f model_path($standby, $epoch), 'the base backup brought the file along');
compare('standby, file from the base backup', new_session($standby), round_queries());

# A new epoch, replayed: the standby writes its own file, quietly.
$offset = -s $standby->logfile;
$primary->safe_psql(
	'postgres', q{
INSERT INTO t SELECT 200000 + g, -g * 11 FROM generate_series(1, 3000) g;
INSERT INTO t SELECT 300000 + g, 50010 FROM generate_series(1, 200) g;
DELETE FROM t WHERE id % 89 = 5;
UPDATE t SET k = k + 1 WHERE id % 101 = 7;
});
my $old_epoch = $epoch;
$primary->safe_psql('postgres', q{SELECT kyrodb.snapshot('t_k')});
($epoch, $model_bytes) = model_of($primary);
$primary->wait_for_catchup($standby);
ok(!-e model_path($standby, $epoch), 'the standby has no file of the replayed epoch yet');
compare('standby, replayed epoch', new_session($standby), round_queries());
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote its own file of the replayed epoch');
ok(!-e model_path($standby, $old_epoch), 'and removed the older epoch\'s');
is( $standby->safe_psql(
		'postgres', q{SELECT epoch, file_bytes = model_bytes FROM kyrodb.stats('t_k')}),
	"$epoch|t", 'kyrodb.stats on the standby: the primary\'s epoch, file_bytes = model_bytes');

# Its files deleted: written again on the next connection.
my $standby_dir = $standby->data_dir . "/kyrodb/$dboid";
my $removed = unlink(glob("$standby_dir/*"));
ok($removed >= 1, "the standby's files deleted ($removed)");
compare('standby, files deleted', new_session($standby), round_queries());
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote the file again');
unlike(slurp_file($standby->logfile, $offset),
	qr/model file of index/, 'the standby wrote its missing files without a WARNING');

# Damaged on the standby: that is worth a WARNING there too.
$offset = -s $standby->logfile;
my $standby_model = read_bytes(model_path($standby, $epoch));
ok($standby_model eq read_bytes(model_path($primary, $epoch)),
	'the standby\'s file is the primary\'s, byte for byte');
$middle = int(length($standby_model) / 2);
substr($standby_model, $middle, 1) = chr(ord(substr($standby_model, $middle, 1)) ^ 0xff);
replace_file(model_path($standby, $epoch), $standby_model);
compare('standby, one byte flipped', new_session($standby), round_queries());
like(
	slurp_file($standby->logfile, $offset),
	qr/WARNING:  model file of index "t_k" \(epoch $epoch\) is damaged/,
	'the standby warns of the damaged file');
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote the file again');
# (not heapallindexed: its SHARE lock on the table cannot be had in recovery)
is($standby->safe_psql('postgres', q{SELECT kyrodb.check('t_k')}),
	't', 'kyrodb.check passes on the standby');

# ---- kyrodb.model_files = off ----

$primary->safe_psql('postgres',
	'ALTER SYSTEM SET kyrodb.model_files = off; SELECT pg_reload_conf();');
ok( $primary->poll_query_until(
		'postgres', q{SELECT current_setting('kyrodb.model_files') = 'off'}),
	'kyrodb.model_files is off');
$offset = -s $primary->logfile;
$primary->safe_psql('postgres',
	q{INSERT INTO t SELECT 400000 + g, 70000 + g FROM generate_series(1, 1000) g});
$old_epoch = $epoch;
$epoch = $primary->safe_psql('postgres', q{SELECT kyrodb.snapshot('t_k')});
isnt($epoch, $old_epoch, 'a fold with model_files off');
compare('model_files off, after a fold', new_session($primary), round_queries());
is( $primary->safe_psql(
		'postgres', q{SELECT epoch, file_bytes IS NULL FROM kyrodb.stats('t_k')}),
	"$epoch|t", 'kyrodb.stats: no file (file_bytes NULL)');
ok(!-e model_path($primary, $epoch), 'no file was written for the new epoch');
unlike(slurp_file($primary->logfile, $offset),
	qr/model file of index/, 'and no WARNING about it');
is($primary->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check with heapallindexed passes without a file');

$primary->safe_psql('postgres',
	'ALTER SYSTEM RESET kyrodb.model_files; SELECT pg_reload_conf();');
ok( $primary->poll_query_until(
		'postgres', q{SELECT current_setting('kyrodb.model_files') = 'on'}),
	'kyrodb.model_files is on again');
$offset = -s $primary->logfile;
compare('model_files on again', new_session($primary), round_queries());
($epoch, $model_bytes) = model_of($primary);
ok(wait_for_file(model_path($primary, $epoch), $model_bytes),
	'the file of the current epoch is written again');
is( $primary->safe_psql(
		'postgres', q{SELECT file_bytes = model_bytes FROM kyrodb.stats('t_k')}),
	't', 'kyrodb.stats: file_bytes = model_bytes again');
note('log after model_files came back on: '
	  . join(' | ', grep { /model file/ } split /\n/, slurp_file($primary->logfile, $offset)));

# and the standby, which kept its setting, follows the fold
$primary->wait_for_catchup($standby);
compare('standby, after the fold with model_files off', new_session($standby),
	round_queries());
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote its file of that epoch');

$standby->stop;
$primary->stop;

done_testing();
