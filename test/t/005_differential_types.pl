# The differential test (KyroTest::Differential) on keys of the other
# types: int4 with a target error of its own, timestamptz with both
# infinities, and a domain over int8.

use strict;
use warnings;

use KyroTest::Differential;
use Test::More;

# Microseconds either side of 2000-01-01 that sparse timestamptz keys span
# (2^52: about 140 years).
my $TS_SPARSE = 4503599627370496;

run_differential(
	'differential_types',
	{
		name => 'd4',
		type => 'int4',
		opts => 'WITH (delta_limit = 24, target_error = 2)',
		dense => -500,
		sparse => sub { return rint(4294967296) - 2147483648; },
		spread => 200,
		extremes => [ '-2147483648', '2147483647', '-2147483647', '2147483646' ],
	},
	{
		name => 'dts',
		type => 'timestamptz',
		opts => 'WITH (delta_limit = 32)',
		dense => 700000000000000,
		sparse => sub { return rint(2 * $TS_SPARSE) - $TS_SPARSE; },
		spread => 5000000,
		extremes => [ 'infinity', '-infinity' ],
	},
	{
		name => 'dd',
		type => 'dkey',
		opts => 'WITH (delta_limit = 20)',
		dense => 123456789,
		sparse => \&rand64,
		spread => 3000,
		extremes => [ '-9223372036854775808', '9223372036854775807' ],
	});

done_testing();
