# A backend that mapped the model file before it was replaced keeps its
# mapping and its answers, and lets the mapping go when a fold moves it to
# a new epoch (whose file the fold wrote, removing the old epoch's); a new
# session meanwhile finds the damage, warns, and writes the file again.
# (KyroTest::ModelFile says how the tests damage the file.)

use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::ModelFile;
use KyroTest::Session;

my $primary = model_primary('primary');
srand(20251122);

my ($epoch, $model_bytes) = model_of($primary);
my $path = model_path($primary, $epoch);
my $original = read_bytes($path);

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

# a session that stays connected, and its scripts as a compare() session
my $long_lived = KyroTest::Session->new($primary);
my $bg_session = sub { return ($long_lived->run($_[0])) };
my $pid = $long_lived->run('SELECT pg_backend_pid();');
compare($primary, 'long-lived session, file intact', $bg_session, round_queries());
my $name = basename($path);
my $maps = maps_of($pid);
SKIP:
{
	skip 'no /proc/PID/maps', 1 unless defined $maps;
	like($maps, qr/\Q$name\E$/m, 'the long-lived session maps the file');
}

my $offset = -s $primary->logfile;
replace_file($path, join('', map { chr(int(rand(256))) } 1 .. length($original)));
compare($primary, 'long-lived session, file replaced by garbage', $bg_session, round_queries());
$maps = maps_of($pid);
SKIP:
{
	skip 'no /proc/PID/maps', 1 unless defined $maps;
	like($maps, qr/\Q$name\E \(deleted\)$/m, 'the session still maps the replaced file');
}
unlike(slurp_file($primary->logfile, $offset),
	qr/model file of index/, 'the session did not look at the new file');

# a new session finds the garbage and writes the file again
compare($primary, 'new session, file replaced by garbage', new_session($primary), round_queries());
like(
	slurp_file($primary->logfile, $offset),
	qr/WARNING:  model file of index "t_k" \(epoch $epoch\) is not the model of this epoch/,
	'a new session warns of the garbage');
ok(wait_for_file($path, $model_bytes), 'and the file comes back');
compare($primary, 'long-lived session, file written again', $bg_session, round_queries());

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
compare($primary, 'long-lived session, after a fold', $bg_session, round_queries());
$maps = maps_of($pid);
SKIP:
{
	skip 'no /proc/PID/maps', 2 unless defined $maps;
	unlike($maps, qr/\Q$name\E/, 'the session let the old file go');
	like($maps, qr/\Q@{[ basename($path) ]}\E$/m, 'and maps the new epoch\'s');
}
is($long_lived->stderr, '', 'the long-lived session got no WARNING');
$long_lived->quit;

$primary->stop;

done_testing();
