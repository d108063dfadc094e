# Without shared_preload_libraries the functions work, the counters are
# NULL, and inserting backends fold for themselves: past the delta limit
# (kyrodb.page_inserts = off sends every insert there), and to publish
# the pages that appends split once a lookup would walk too many of them.

use strict;
use warnings;

use Test::More;
use KyroTest;

my $plain = kyro_node('plain', preload => 0, conf => "autovacuum = off\n");
$plain->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE p (k int8);
INSERT INTO p SELECT g FROM generate_series(1, 5000) g;
CREATE INDEX p_k ON p USING kyro_rmi (k) WITH (delta_limit = 100, fillfactor = 100);
SET kyrodb.page_inserts = off;
INSERT INTO p SELECT g FROM generate_series(5001, 6000) g;
RESET kyrodb.page_inserts;
CREATE TABLE a (k int8);
INSERT INTO a SELECT g FROM generate_series(1, 5000) g;
CREATE INDEX a_k ON a USING kyro_rmi (k);
INSERT INTO a SELECT g FROM generate_series(5001, 400000) g;
});
is( $plain->safe_psql(
		'postgres', q{
SELECT lookups IS NULL AND mispredicts IS NULL AND delta_hits IS NULL
	AND inline_folds IS NULL AND retrains IS NULL AND stats_reset IS NULL
	AND folds > 0 AND live_items = 6000
FROM kyrodb.stats('p_k')}),
	't',
	'without preload the counters are NULL and inserting backends fold');
is( $plain->safe_psql(
		'postgres', q{
SELECT splits IS NULL AND folds > 0 AND split_pages < 16 AND delta_items = 0
	AND live_items = 400000
FROM kyrodb.stats('a_k')}),
	't',
	'without preload an inserting backend publishes the pages appends split');
compare_with_seqscan($plain, 'postgres', 'appends without preload',
	'SELECT count(*), sum(k) FROM a WHERE k > 4000',
	'SELECT k FROM a WHERE k > 399990 ORDER BY k DESC');
is($plain->safe_psql('postgres', q{SELECT kyrodb.check('a_k', true)}),
	't', 'kyrodb.check after the appends');
is($plain->safe_psql('postgres', q{SELECT count(*) FROM kyrodb.stat_indexes}),
	'2', 'the view works without preload');
is($plain->safe_psql('postgres', q{SELECT (kyrodb.rebuild('p_k')).entries}),
	'6000', 'rebuild works without preload');
compare_with_seqscan($plain, 'postgres', 'answers without preload',
	'SELECT count(*), sum(k) FROM p WHERE k > 4000');

$plain->stop;

done_testing();
