# The worker's mispredict detector: a skewed batch appended past the last
# key is folded with the old model carried over, lookups of it mispredict,
# the worker retrains, and the mispredict rate of the same lookups falls.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use KyroTest::Worker;

my $node = worker_node('retrain');

# Dense keys, then a batch of cubes past the last one: the fold only
# appends, so it carries the old model over, which places the new keys badly.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE s (k int8);
INSERT INTO s SELECT g FROM generate_series(1, 50000) g;
CREATE INDEX s_k ON s USING kyro_rmi (k) WITH (delta_limit = 1000000);
INSERT INTO s SELECT 50000 + g::int8 * g * g FROM generate_series(1, 5000) g;
SELECT kyrodb.snapshot('s_k');
});
is(stat_of($node, 'postgres', 's_k', 'retrains'), '0', 'no retrain yet');
my $lookups = q{SELECT sum((SELECT count(*) FROM s WHERE k = 50000 + g::int8 * g * g))
	FROM generate_series(1, 5000, 5) g};
my $rate = q{SELECT mispredicts::float8 / lookups FROM kyrodb.stats('s_k')};
$node->safe_psql('postgres', q{SELECT kyrodb.stats_reset('s_k')});
is($node->safe_psql('postgres', "$force_index $lookups"),
	'1000', 'the skewed keys are found');
my $rate_before = $node->safe_psql('postgres', $rate);
ok($rate_before > 0.5, "lookups of the new keys mispredict (rate $rate_before)");
ok( $node->poll_query_until(
		'postgres', q{SELECT retrains >= 1 FROM kyrodb.stats('s_k')}),
	'the worker retrains the index');
like(slurp_file($node->logfile),
	qr/kyrodb: retrained index "s_k" \([\d.]+% of \d+ lookups mispredicted/,
	'the retrain is logged with its reason');
$node->safe_psql('postgres', q{SELECT kyrodb.stats_reset('s_k')});
is($node->safe_psql('postgres', "$force_index $lookups"),
	'1000', 'the skewed keys are still found');
my $rate_after = $node->safe_psql('postgres', $rate);
ok($rate_after < $rate_before / 2,
	"the mispredict rate fell after the retrain ($rate_before -> $rate_after)");
compare_with_seqscan($node, 'postgres', 'answers after the retrain',
	'SELECT count(*), sum(k) FROM s WHERE k > 40000');

$node->stop;

done_testing();
