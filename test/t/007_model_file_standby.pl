# The model file on a streaming standby, and a primary that writes none:
#  - a standby answers as the primary from the file in its base backup,
#    writes its own file (without a WARNING) for an epoch it replayed and
#    after its files are deleted, and warns of a damaged one;
#  - with kyrodb.model_files = off a fold writes no file and answers stay
#    right; turned back on, the file is written again, and the standby,
#    which kept its setting, writes its own for that epoch.
# (KyroTest::ModelFile says how the tests damage the file.)

use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::ModelFile;

my $primary = model_primary('primary');
srand(20251123);

# ---- A streaming standby ----

my ($epoch, $model_bytes) = model_of($primary);
my $standby = kyro_standby($primary, 'standby');
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
compare($primary, 'standby, file from the base backup', new_session($standby), round_queries());

# A new epoch, replayed: the standby writes its own file, quietly.
my $offset = -s $standby->logfile;
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
compare($primary, 'standby, replayed epoch', new_session($standby), round_queries());
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote its own file of the replayed epoch');
ok(!-e model_path($standby, $old_epoch), 'and removed the older epoch\'s');
is( $standby->safe_psql(
		'postgres', q{SELECT epoch, file_bytes = model_bytes FROM kyrodb.stats('t_k')}),
	"$epoch|t", 'kyrodb.stats on the standby: the primary\'s epoch, file_bytes = model_bytes');

# Its files deleted: written again on the next connection.
my $standby_dir = dirname(model_path($standby, $epoch));
my $removed = unlink(glob("$standby_dir/*"));
ok($removed >= 1, "the standby's files deleted ($removed)");
compare($primary, 'standby, files deleted', new_session($standby), round_queries());
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote the file again');
unlike(slurp_file($standby->logfile, $offset),
	qr/model file of index/, 'the standby wrote its missing files without a WARNING');

# Damaged on the standby: that is worth a WARNING there too.
$offset = -s $standby->logfile;
my $standby_model = read_bytes(model_path($standby, $epoch));
ok($standby_model eq read_bytes(model_path($primary, $epoch)),
	'the standby\'s file is the primary\'s, byte for byte');
my $middle = int(length($standby_model) / 2);
substr($standby_model, $middle, 1) = chr(ord(substr($standby_model, $middle, 1)) ^ 0xff);
replace_file(model_path($standby, $epoch), $standby_model);
compare($primary, 'standby, one byte flipped', new_session($standby), round_queries());
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

# Whether kyrodb.model_files comes to be value once the primary has run
# the given ALTER SYSTEM and reloaded.
sub model_files_become
{
	my ($alter_system, $value) = @_;
	$primary->safe_psql('postgres', "$alter_system; SELECT pg_reload_conf();");
	return $primary->poll_query_until('postgres',
		"SELECT current_setting('kyrodb.model_files') = '$value'");
}

ok(model_files_become('ALTER SYSTEM SET kyrodb.model_files = off', 'off'),
	'kyrodb.model_files is off');
$offset = -s $primary->logfile;
$primary->safe_psql('postgres',
	q{INSERT INTO t SELECT 400000 + g, 70000 + g FROM generate_series(1, 1000) g});
$old_epoch = $epoch;
$epoch = $primary->safe_psql('postgres', q{SELECT kyrodb.snapshot('t_k')});
isnt($epoch, $old_epoch, 'a fold with model_files off');
compare($primary, 'model_files off, after a fold', new_session($primary), round_queries());
is( $primary->safe_psql(
		'postgres', q{SELECT epoch, file_bytes IS NULL FROM kyrodb.stats('t_k')}),
	"$epoch|t", 'kyrodb.stats: no file (file_bytes NULL)');
ok(!-e model_path($primary, $epoch), 'no file was written for the new epoch');
unlike(slurp_file($primary->logfile, $offset),
	qr/model file of index/, 'and no WARNING about it');
is($primary->safe_psql('postgres', q{SELECT kyrodb.check('t_k', true)}),
	't', 'kyrodb.check with heapallindexed passes without a file');

ok(model_files_become('ALTER SYSTEM RESET kyrodb.model_files', 'on'),
	'kyrodb.model_files is on again');
$offset = -s $primary->logfile;
compare($primary, 'model_files on again', new_session($primary), round_queries());
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
compare($primary, 'standby, after the fold with model_files off', new_session($standby),
	round_queries());
ok(wait_for_file(model_path($standby, $epoch), $model_bytes),
	'the standby wrote its file of that epoch');

$standby->stop;
$primary->stop;

done_testing();
