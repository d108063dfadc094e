# The differential test (KyroTest::Differential) on int8 keys: keys over
# the whole 64-bit range with a small delta limit; keys within 2^32 of each
# other, so that the pages' packed key widths vary from page to page and
# from fold to fold, on an index packed full (fillfactor 100) whose
# inserts all go to the delta (kyrodb.page_inserts = off, 0.2's write
# path: folds take the delta in steps); and an index with no options,
# which folds at the session's kyrodb.delta_limit.

use strict;
use warnings;

use KyroTest::Differential;
use Test::More;

run_differential(
	'differential_int8',
	{
		name => 'd8',
		type => 'int8',
		opts => 'WITH (delta_limit = 16)',
		dense => 100000,
		sparse => \&rand64,
		spread => 1000,
		extremes => [
			'-9223372036854775808', '9223372036854775807',
			'-9223372036854775807', '9223372036854775806'
		],
	},
	{
		name => 'de',
		type => 'int8',
		opts => 'WITH (delta_limit = 16, fillfactor = 100)',
		guc => 'SET kyrodb.page_inserts = off;',
		dense => 0,
		sparse => sub { return rint(4294967296) - 2147483648; },
		spread => 100000,
		extremes => [ '-2147483648', '2147483647' ],
	},
	{
		name => 'dg',
		type => 'int8',
		opts => '',
		guc => 'SET kyrodb.delta_limit = 40;',
		dense => -2000,
		sparse => \&rand64,
		spread => 50,
		extremes => [ '-9223372036854775808', '9223372036854775807' ],
	});

done_testing();
