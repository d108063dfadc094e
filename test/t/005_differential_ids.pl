# The differential test (KyroTest::Differential) on a table of ids: keys
# mostly past the last one, so that most folds append pages and the others
# rewrite a few, with the default delta scale factor.

use strict;
use warnings;

use KyroTest::Differential;
use Test::More;

run_differential(
	'differential_ids',
	{
		name => 'da',
		type => 'int8',
		opts => 'WITH (delta_limit = 16)',
		dense => 1000,
		sparse => sub { return rint(1000000); },
		spread => 100,
		extremes => [ '-9223372036854775808', '0' ],
		increasing => 1000000000,
	});

done_testing();
