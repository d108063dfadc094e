# KyroTest::Worker: what the tests of the background worker share: a node
# whose worker wakes every second and retrains after a few lookups, and
# the index statistics it is judged by.

package KyroTest::Worker;

use strict;
use warnings;

use Exporter 'import';
use KyroTest;

our @EXPORT = qw(worker_node stat_of model_file);

# A started node with the library preloaded and a worker that wakes every
# second; several databases may each have a worker.  conf is appended.
sub worker_node
{
	my ($name, $conf) = @_;
	return kyro_node(
		$name, conf => q{
kyrodb.worker_naptime = 1
kyrodb.retrain_min_lookups = 200
# a worker for each database the tests create
kyrodb.max_workers = 8
max_worker_processes = 16
# the loads log nothing per statement, as a production server would
log_statement = none
autovacuum = off
} . ($conf // ''));
}

# One column of kyrodb.stats() of an index.
sub stat_of
{
	my ($node, $db, $index, $column) = @_;
	return $node->safe_psql($db, "SELECT $column FROM kyrodb.stats('$index')");
}

# The path of an index's current model file, relative to the data directory.
sub model_file
{
	my ($node, $db, $index) = @_;
	return $node->safe_psql(
		$db, qq{
SELECT format('kyrodb/%s/%s_%s.%s.rmi', d.oid, c.reltablespace, c.relfilenode, s.epoch)
FROM pg_database d, pg_class c, kyrodb.stats('$index') s
WHERE d.datname = current_database() AND c.oid = '$index'::regclass});
}

1;
