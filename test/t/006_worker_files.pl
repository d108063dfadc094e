# Model files the worker looks after:
#  - those of indexes dropped, truncated and reindexed, of a dropped
#    extension and of a dropped database go away (and the database's
#    worker does not stop DROP DATABASE);
#  - a deleted model file the worker writes again by itself.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Worker;

my $node = worker_node('worker_files');
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8);
INSERT INTO t SELECT (g * 7919) % 200003 FROM generate_series(1, 100000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k);
});
ok(poll_workers($node, 'postgres', 1),
	'a worker runs for the database with the extension');
my $data = $node->data_dir;

# A new database with the extension and an index; returns its oid.
sub database_with_index
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql(
		$db, q{
CREATE EXTENSION kyrodb;
CREATE TABLE x (k int8);
INSERT INTO x SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX x_k ON x USING kyro_rmi (k);
});
	return $node->safe_psql('postgres',
		"SELECT oid FROM pg_database WHERE datname = '$db'");
}

# ---- Orphan model files ----

$node->safe_psql(
	'postgres', q{
CREATE TABLE o (k int8);
INSERT INTO o SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX o_drop ON o USING kyro_rmi (k);
CREATE INDEX o_reindex ON o USING kyro_rmi (k);
CREATE TABLE o2 (k int8);
INSERT INTO o2 SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX o_truncate ON o2 USING kyro_rmi (k);
});
my %orphans = map { $_ => model_file($node, 'postgres', $_) }
  qw(o_drop o_reindex o_truncate);
ok(-f "$data/$orphans{$_}", "$_ has its model file") for sort keys %orphans;
$node->safe_psql(
	'postgres', q{
DROP INDEX o_drop;
REINDEX INDEX o_reindex;
TRUNCATE o2;
});
my $reindexed = model_file($node, 'postgres', 'o_reindex');
# a file of an unknown index waits out a grace period (an uncommitted
# CREATE INDEX may own it), so allow the sweep half a minute
ok(wait_for(sub { !grep { -e "$data/$_" } values %orphans }),
	'files of dropped, reindexed and truncated indexes are removed');
ok(-f "$data/$reindexed", 'the reindexed index has a file of its own');

my $other_oid = database_with_index('other');
ok(-d "$data/kyrodb/$other_oid", 'the new database has a model directory');
ok(poll_workers($node, 'other', 1), 'a database created later gets a worker');
# DROP EXTENSION: the worker leaves the database and takes the files along.
my $noext_oid = database_with_index('noext');
ok(poll_workers($node, 'noext', 1), 'the database has a worker');
$node->safe_psql('noext', 'DROP EXTENSION kyrodb CASCADE');
ok(poll_workers($node, 'noext', 0), 'after DROP EXTENSION the worker leaves');
ok(!-e "$data/kyrodb/$noext_oid", 'and the database\'s model files are gone');

my ($drop_rc, $drop_out, $drop_err) =
  $node->psql('postgres', 'DROP DATABASE other');
is($drop_rc, 0, 'DROP DATABASE is not blocked by the database\'s worker')
  or diag($drop_err);
ok(!-e "$data/kyrodb/$other_oid", 'the dropped database\'s model files are gone');

# ---- The worker writes a missing model file ----

# (polled from the file system: a query would load the model and write the
# file itself)
my $t_file = model_file($node, 'postgres', 't_k');
my $log_offset = -s $node->logfile;
unlink("$data/$t_file") or die "unlink $t_file: $!";
ok(wait_for(sub { -f "$data/$t_file" }),
	'the worker writes a deleted model file again');
like(slurp_file($node->logfile, $log_offset),
	qr/kyrodb: wrote the model file of index "t_k" \(epoch \d+\) again/,
	'and says so');

$node->stop;

done_testing();
