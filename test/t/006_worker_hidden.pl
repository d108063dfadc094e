# The worker sees every kyro_rmi index, also those that another extension
# hides from SQL queries on pg_class (Citus hides its shards so, with a
# planner hook): it folds a hidden index past its delta limit and keeps
# its model file.  test/modules/kyro_hide is such an extension: it hides
# the relations of schema "hidden" from every query on pg_class.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Worker;

my $node = worker_node(
	'worker_hidden', q{
shared_preload_libraries = 'kyrodb, kyro_hide'
kyro_hide.schema = 'hidden'
# only the worker folds
kyrodb.fold_ceiling = 1000
# the inserts go to the delta, which the worker folds
kyrodb.page_inserts = off
});
my $data = $node->data_dir;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE SCHEMA hidden;
CREATE TABLE hidden.h (k int8);
INSERT INTO hidden.h SELECT g FROM generate_series(1, 20000) g;
CREATE INDEX h_k ON hidden.h USING kyro_rmi (k) WITH (delta_limit = 1000, fillfactor = 100);
});
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_am a ON a.oid = c.relam
WHERE a.amname = 'kyro_rmi'}),
	'0', 'queries on pg_class do not see the hidden index');
ok(poll_workers($node, 'postgres', 1), 'a worker runs for the database');

# The index's current model file (not through pg_class, which hides it).
sub hidden_file
{
	return $node->safe_psql(
		'postgres', q{
SELECT format('kyrodb/%s/0_%s.%s.rmi', d.oid, pg_relation_filenode('hidden.h_k'), s.epoch)
FROM pg_database d, kyrodb.stats('hidden.h_k') s
WHERE d.datname = current_database()});
}

$node->safe_psql('postgres',
	'INSERT INTO hidden.h SELECT g FROM generate_series(20001, 23000) g');
ok( wait_for(
		sub {
			stat_of($node, 'postgres', 'hidden.h_k', 'folds') > 0;
		}),
	'the worker folds the hidden index past its delta limit');
is(stat_of($node, 'postgres', 'hidden.h_k', 'inline_folds'),
	'0', 'and no inserting backend had to');
my $file = hidden_file();
ok(-f "$data/$file", 'the hidden index has its model file');

# A file of a dropped index goes at the first sweep after the grace period;
# that sweep would have taken the hidden index's file, older, as an orphan.
$node->safe_psql(
	'postgres', q{
CREATE TABLE d (k int8);
INSERT INTO d SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX d_k ON d USING kyro_rmi (k);
});
my $orphan = model_file($node, 'postgres', 'd_k');
ok(-f "$data/$orphan", 'a dropped index had a model file');
$node->safe_psql('postgres', 'DROP INDEX d_k');
ok(wait_for(sub { !-e "$data/$orphan" }), 'the sweep removes it');
ok(-f "$data/$file", 'but keeps the hidden index\'s file');

compare_with_seqscan(
	$node, 'postgres', 'the hidden index answers as a sequential scan',
	'SELECT count(*), sum(k) FROM hidden.h WHERE k BETWEEN 100 AND 22500',
	'SELECT k FROM hidden.h WHERE k > 19990 ORDER BY k LIMIT 20');

$node->stop;

done_testing();
