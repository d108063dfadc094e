# Model files of two indexes in two tablespaces that share a relfilenode
# (relfilenodes are unique only within a tablespace): each keeps its own
# file through the other's builds and folds, and answers through it; and a
# file under the 0.2.0 name (<relfilenode>.<epoch>.rmi) is still used, and
# written under the new name.
#
# Two indexes come to share relfilenode M so: a_k, in tablespace ta, is
# reindexed, which gives it relfilenode M, an OID that no relation has;
# the server is stopped and pg_resetwal makes M the next OID; b_k, created
# then in tablespace tb, is given M as its OID, and so as its relfilenode.

use strict;
use warnings;

use File::Spec;

use File::Path qw(make_path);
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

# folds only when the test asks, so that each step is the test's
my $node = kyro_node('tablespaces', conf => "kyrodb.worker = off\nautovacuum = off\n");
my $data = $node->data_dir;
foreach my $ts (qw(ta tb))
{
	# absolute: on 18 the node's base directory may be a relative path
	my $dir = File::Spec->rel2abs($node->basedir . "/$ts");
	make_path($dir);
	$node->safe_psql('postgres', "CREATE TABLESPACE $ts LOCATION '$dir'");
}
# different keys, so that one index's model is no model of the other's
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE a (k int8);
INSERT INTO a SELECT g * 3 FROM generate_series(1, 20000) g;
CREATE TABLE b (k int8);
INSERT INTO b SELECT g::int8 * g FROM generate_series(1, 20000) g;
CREATE INDEX a_k ON a USING kyro_rmi (k) TABLESPACE ta;
REINDEX INDEX a_k;
});
my $shared = $node->safe_psql('postgres', q{SELECT pg_relation_filenode('a_k')});
$node->stop;
command_ok([ 'pg_resetwal', '-o', $shared, $data ],
	'pg_resetwal makes the relfilenode of a_k the next OID');
$node->start;
$node->safe_psql('postgres', 'CREATE INDEX b_k ON b USING kyro_rmi (k) TABLESPACE tb');
is($node->safe_psql('postgres', q{SELECT pg_relation_filenode('b_k')}),
	$shared, 'a_k and b_k share a relfilenode');

my $dboid = $node->safe_psql('postgres',
	q{SELECT oid FROM pg_database WHERE datname = current_database()});

# The model file of an index's current epoch, relative to the data directory.
sub file_of
{
	my ($index) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT format('kyrodb/%s/%s_%s.%s.rmi', $dboid, c.reltablespace, c.relfilenode, s.epoch)
FROM pg_class c, kyrodb.stats('$index') s WHERE c.oid = '$index'::regclass});
}

# Both indexes, each in a new session, load their model from their file
# without a WARNING, and answer as a sequential scan does.
sub both_from_file
{
	my ($when) = @_;
	my $log_offset = -s $node->logfile;
	foreach my $index (qw(a_k b_k))
	{
		is($node->safe_psql('postgres', "SELECT from_file FROM kyrodb.warmup('$index')"),
			't', "$when: $index loads its model from its own file");
		ok(-f "$data/" . file_of($index), "$when: $index has its file");
	}
	unlike(slurp_file($node->logfile, $log_offset),
		qr/model file of index/, "$when: no model file was missing or wrong");
	compare_with_seqscan(
		$node, 'postgres', "$when: answers",
		'SELECT count(*), sum(k) FROM a WHERE k BETWEEN 3000 AND 45000',
		'SELECT k FROM a WHERE k >= 59000 ORDER BY k LIMIT 5',
		'SELECT count(*), sum(k) FROM b WHERE k BETWEEN 1000000 AND 90000000',
		'SELECT k FROM b WHERE k < 50000 ORDER BY k DESC LIMIT 5');
}

both_from_file('after both builds');
isnt(file_of('a_k'), file_of('b_k'), 'their files have different names');

# each fold writes a new file and removes the older ones of its index
$node->safe_psql('postgres',
	q{INSERT INTO a SELECT g * 3 + 1 FROM generate_series(1, 3000) g;
	  SELECT kyrodb.rebuild('a_k')});
both_from_file('after a_k folds');
$node->safe_psql('postgres',
	q{INSERT INTO b SELECT g::int8 * g + 1 FROM generate_series(1, 3000) g;
	  SELECT kyrodb.rebuild('b_k')});
both_from_file('after b_k folds');

# ---- A file under the 0.2.0 name ----

my $new_name = file_of('a_k');
(my $old_name = $new_name) =~ s{/\d+_(\d+\.\d+\.rmi)$}{/$1};
rename("$data/$new_name", "$data/$old_name") or die "rename: $!";
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres', q{SELECT from_file FROM kyrodb.warmup('a_k')}),
	't', 'a file under the old name is used');
ok(-f "$data/$new_name", 'and written under the new name');
unlike(slurp_file($node->logfile, $log_offset),
	qr/model file of index/, 'without a WARNING');

$node->stop;

done_testing();
