# A rebuild from SQL reports its phases, and its entry counts, in
# pg_stat_progress_create_index.

use strict;
use warnings;

use IPC::Run;
use Test::More;
use KyroTest;

my $node = kyro_node('progress', conf => "autovacuum = off\n");

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE big (k int8);
INSERT INTO big SELECT (g::int8 * 104729) % 3000017 FROM generate_series(1, 1500000) g;
CREATE INDEX big_k ON big USING kyro_rmi (k);
CREATE TABLE phases (phase text, done bigint);
});
my ($rb_out, $rb_err) = ('', '');
my $rebuild = IPC::Run::start(
	[
		'psql', '-X', '-q', '-h', $node->host, '-p', $node->port,
		'-d', 'postgres', '-c',
		q{SELECT pg_sleep(0.2); SELECT epoch FROM kyrodb.rebuild('big_k')}
	],
	'>', \$rb_out, '2>', \$rb_err);
# Sample the progress view, committing between samples so each sees it anew.
$node->safe_psql(
	'postgres', q{
DO $$
BEGIN
	FOR i IN 1 .. 3000 LOOP
		INSERT INTO phases SELECT phase, tuples_done
		FROM pg_stat_progress_create_index
		WHERE index_relid = 'big_k'::regclass;
		COMMIT;
		EXIT WHEN i > 50 AND NOT EXISTS (
			SELECT FROM pg_stat_activity WHERE query LIKE '%kyrodb.rebuild%'
			AND pid <> pg_backend_pid());
		PERFORM pg_sleep(0.002);
	END LOOP;
END $$;
});
ok($rebuild->finish, 'the rebuild ran') or diag($rb_err);
my $seen = $node->safe_psql('postgres',
	q{SELECT string_agg(DISTINCT phase, ', ' ORDER BY phase) FROM phases});
note("phases seen: $seen");
like($seen, qr/building index: (merging delta into snapshot|training model|reading delta)/,
	'the rebuild reports its phases in pg_stat_progress_create_index');
ok( $node->safe_psql(
		'postgres',
		q{SELECT max(done) > 0 FROM phases WHERE phase LIKE '%merging%'}) ne 'f',
	'and its entry counts');

$node->stop;

done_testing();
