# KyroTest::Differential::Keys: the differential test's random draws and
# keys.  A table is a hash: its name, key type, index options, and how to
# draw keys of it (see KyroTest::Differential).  Keys are Perl integers
# (timestamptz: microseconds since 2000-01-01 UTC, turned into timestamptz
# by the kts() SQL function), or the strings of the type's extremes.

package KyroTest::Differential::Keys;

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(rint pick chance rand64 prepare_table lit gen_key gen_batch
  remember query_key near_key key_order);

# The range of timestamptz keys drawn, in microseconds either side of 2000:
# about 36,000 years, clear of the type's own limits.
my $TS_RANGE = 1152921504606846976;

# How many inserted keys a table keeps to query with.
my $POOL_SIZE = 3000;

# A random integer below n, one of the arguments, true with probability p.
sub rint { return int(rand($_[0])); }
sub pick { return $_[ rint(scalar @_) ]; }
sub chance { return rand() < $_[0]; }

# A uniformly random signed 64-bit integer (exact: integer arithmetic).
sub rand64
{
	my $hi = rint(4294967296) - 2147483648;
	my $lo = rint(4294967296);
	return $hi * 4294967296 + $lo;
}

# Fill in what the generators need: the range of finite keys, cluster
# centres (kept away from the range's ends), the keys drawn as duplicates,
# and the pool of inserted keys.
sub prepare_table
{
	my ($t) = @_;
	$t->{min} = $t->{type} eq 'timestamptz' ? -$TS_RANGE : $t->{extremes}[0];
	$t->{max} = $t->{type} eq 'timestamptz' ? $TS_RANGE : $t->{extremes}[1];
	my @centers;
	foreach (1 .. 5)
	{
		my $c = $t->{sparse}->();
		$c = $t->{max} - 10 * $t->{spread} if $c > $t->{max} - 10 * $t->{spread};
		$c = $t->{min} + 10 * $t->{spread} if $c < $t->{min} + 10 * $t->{spread};
		push @centers, $c;
	}
	$t->{centers} = \@centers;
	my @dups = ((map { $t->{dense} + rint(50) } 1 .. 4),
		pick(@{ $t->{extremes} }), $centers[0]);
	$t->{dups} = \@dups;
	$t->{pool} = [];
	$t->{guc} //= '';
}

# SQL for a key of table t.
sub lit
{
	my ($t, $key) = @_;
	return "NULL::$t->{type}" unless defined $key;
	if ($t->{type} eq 'timestamptz')
	{
		return "'$key'::timestamptz" if $key =~ /infinity/;
		return "kts($key)";
	}
	return "'$key'::$t->{type}";
}

# A lognormal offset (mu 0, sigma 2) times 1,000: mostly small, a long tail.
sub lognormal
{
	my $z = sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand());
	return int(exp(2 * $z) * 1000);
}

# A key from one of the distributions (undef: NULL).  "sparse" is uniform
# over the type's range.
sub gen_key
{
	my ($t, $dist) = @_;
	$dist //= pick(qw(dense dense sparse clustered clustered dup dup lognormal null extreme));
	return $t->{dense} + rint(5000) if $dist eq 'dense';
	return $t->{dense} + lognormal() if $dist eq 'lognormal';
	return $t->{sparse}->() if $dist eq 'sparse';
	return pick(@{ $t->{centers} }) + rint(2 * $t->{spread}) - $t->{spread}
	  if $dist eq 'clustered';
	return pick(@{ $t->{dups} }) if $dist eq 'dup';
	return undef if $dist eq 'null';
	return $t->{increasing} += 1 + rint(3) if $dist eq 'increasing';
	return pick(@{ $t->{extremes} });
}

# Keys for a batch: mostly one distribution, some of the others.
sub gen_batch
{
	my ($t, $n) = @_;
	my $main = pick(qw(dense sparse clustered dup lognormal mixed));
	my @keys;

	# a table of ids: mostly a run of increasing keys, nothing else
	return map { my $k = gen_key($t, 'increasing'); remember($t, $k); $k } 1 .. $n
	  if $t->{increasing} && chance(0.8);
	foreach (1 .. $n)
	{
		my $dist = ($main eq 'mixed' || chance(0.2)) ? undef : $main;
		my $k = gen_key($t, $dist);
		push @keys, $k;
		remember($t, $k);
	}
	return @keys;
}

# Keep an inserted key to query with (once the pool is full, in place of
# one at random).
sub remember
{
	my ($t, $k) = @_;
	return unless defined $k;
	my $pool = $t->{pool};
	if (@$pool < $POOL_SIZE) { push @$pool, $k; }
	else { $pool->[ rint(scalar @$pool) ] = $k; }
}

# A key to query with: often one that was inserted (or next to one).
sub query_key
{
	my ($t) = @_;
	my $pool = $t->{pool};
	if (@$pool && chance(0.6))
	{
		my $k = pick(@$pool);
		return $k if $k !~ /^-?\d+$/;
		my $r = rand();
		return $k if $r < 0.6;
		return $k - 1 if $r < 0.8 && $k > $t->{min};
		return $k + 1 if $k < $t->{max};
		return $k;
	}
	my $k = gen_key($t, pick(qw(dense sparse clustered dup extreme)));
	return $k;
}

# A key a little above key a (a itself at the end of the range).
sub near_key
{
	my ($t, $a) = @_;
	return $a if $a !~ /^-?\d+$/ || $a > $t->{max} - 4 * $t->{spread};
	return $a + rint(4 * $t->{spread});
}

# Order two keys (extremes and infinities included).
sub key_order
{
	my ($t, $a, $b) = @_;
	my %rank = ('-infinity' => -1, 'infinity' => 1);
	my ($ra, $rb) = ($rank{$a} // 0, $rank{$b} // 0);
	return $ra <=> $rb if $ra != $rb;
	return 0 if $ra != 0;
	return $a <=> $b;
}

1;
