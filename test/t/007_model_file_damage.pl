# The model file ($PGDATA/kyrodb/<database oid>/<tablespace>_<relfilenode>.<epoch>.rmi)
# of a new index, and the file damaged while sessions connect and query:
#  - a new index has a file of the model's size;
#  - deleted, replaced by a truncated copy, by same-size garbage, or by a
#    copy with one byte flipped, while other sessions keep connecting and
#    querying: new sessions, three at once racing to write the file again,
#    answer as a sequential scan does, the server logs the WARNING naming
#    what was wrong, and the file comes back, whole and read-only, and is
#    then used without complaint.
# (KyroTest::ModelFile says how the tests damage the file.)

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::ModelFile;

my $primary = model_primary('primary');
ok(poll_workers($primary, 'postgres', 1), 'the worker runs');
srand(20251121);

# The forced plans use the index.
foreach my $q (
	'SELECT id FROM t WHERE k = 5',
	'SELECT count(*) FROM t WHERE k BETWEEN 5 AND 500',
	'SELECT k FROM t WHERE k < 500 ORDER BY k DESC LIMIT 3')
{
	plan_uses_index($primary, 't_k', $q, "forced plan uses the index: $q");
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
compare($primary, 'with its file', new_session($primary), round_queries());

# ---- Damaged while sessions connect and query ----

# Meanwhile two clients connect for every transaction (so each loads the
# model anew, racing the round's sessions to find the damage and write the
# file) and compare a point lookup through the index with a seq scan.  A
# mismatch fails the client with the key in the error; setting load_stop
# ends the clients, with another error.
my $lookup = pgbench_script(
	$primary, 'lookup.sql', q{
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
	pgbench_command(
		$primary, '-C', '-c', '2', '-j', '2', '-R', '40', '-T', '110',
		'-f', $lookup),
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
	compare($primary, "file $how", racing_sessions($primary, 3), round_queries());
	like(
		slurp_file($primary->logfile, $offset),
		qr/WARNING:  model file of index "t_k" \(epoch $epoch\) $why/,
		"file $how: the WARNING says it $why");
	ok(wait_for_file($path, $model_bytes), "file $how: the file comes back");
	is(file_mode($path), '0400', "file $how: read-only again");
	ok(read_bytes($path) eq $original, "file $how: it holds the model again");

	# the rewritten file passes a new session's checks
	$offset = -s $primary->logfile;
	compare($primary, "file $how, then rewritten", new_session($primary), round_queries());
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

$primary->stop;

done_testing();
