# The worker gets out of the way of the commands that need its database to
# themselves (ALTER DATABASE RENAME TO and SET TABLESPACE here; DROP
# DATABASE in 006_worker_files.pl), and comes back after them: a worker
# runs for the database again, folds, and the model files keep their names.

use strict;
use warnings;

use File::Spec;

use File::Path qw(make_path);
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Worker;

my $node = worker_node(
	'worker_database_ddl', q{
# only the worker folds
kyrodb.fold_ceiling = 1000
});
$node->safe_psql('postgres', 'CREATE DATABASE ddl');
$node->safe_psql(
	'ddl', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8);
INSERT INTO t SELECT g * 2 FROM generate_series(1, 20000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k) WITH (delta_limit = 1000);
});
ok(poll_workers($node, 'ddl', 1), 'the database has a worker');

my ($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE ddl RENAME TO ddl2');
is($rc, 0, 'ALTER DATABASE RENAME TO succeeds while the worker runs')
  or diag($err);
ok(poll_workers($node, 'ddl2', 1), 'the worker is back after the rename');

# absolute: on 18 the node's base directory may be a relative path
my $dir = File::Spec->rel2abs($node->basedir . '/moved');
make_path($dir);
$node->safe_psql('postgres', "CREATE TABLESPACE moved LOCATION '$dir'");
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE ddl2 SET TABLESPACE moved');
is($rc, 0, 'ALTER DATABASE SET TABLESPACE succeeds while the worker runs')
  or diag($err);
ok(poll_workers($node, 'ddl2', 1), 'the worker is back after the move');

# the name of a model file in the database's default tablespace does not
# change with the default tablespace
my $log_offset = -s $node->logfile;
is($node->safe_psql('ddl2', q{SELECT from_file FROM kyrodb.warmup('t_k')}),
	't', 'the index still loads its model from its file');
unlike(slurp_file($node->logfile, $log_offset),
	qr/model file of index/, 'no model file went missing');

my $folds = stat_of($node, 'ddl2', 't_k', 'folds');
$node->safe_psql('ddl2', 'INSERT INTO t SELECT g * 2 + 1 FROM generate_series(1, 3000) g');
ok(wait_for(sub { stat_of($node, 'ddl2', 't_k', 'folds') > $folds }),
	'the worker folds the index past its delta limit again');
is(stat_of($node, 'ddl2', 't_k', 'inline_folds'), '0', 'and no inserting backend had to');
compare_with_seqscan(
	$node, 'ddl2', 'the index answers as a sequential scan',
	'SELECT count(*), sum(k) FROM t WHERE k BETWEEN 100 AND 30000',
	'SELECT k FROM t WHERE k > 5990 ORDER BY k LIMIT 20');

$node->stop;

done_testing();
