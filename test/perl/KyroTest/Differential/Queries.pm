# KyroTest::Differential::Queries: the random queries of the differential
# test: a condition on the key (points, ranges, arrays, NULL tests,
# contradictions, other integer types) in a query of some shape (rows,
# counts, min and max, ordered with a limit either way, a scroll cursor, a
# merge join or a nested loop over the index).

package KyroTest::Differential::Queries;

use strict;
use warnings;

use Exporter 'import';
use KyroTest::Differential::Keys;

our @EXPORT = qw(random_query);

# The rows a condition selects, as one line: count, and a digest of the
# (id, key) pairs.
my $digest =
  q{count(*), md5(coalesce(string_agg(id::text || ':' || coalesce(k::text, 'N'), ',' ORDER BY id), ''))};

# A condition on the key, and a cross-type variant for the integer types.
sub random_condition
{
	my ($t) = @_;
	my $kind = pick(qw(eq eq lt le gt ge between range in in ineq_any isnull notnull empty cross));
	my $k = query_key($t);
	return 'k = ' . lit($t, $k) if $kind eq 'eq';
	return 'k < ' . lit($t, $k) if $kind eq 'lt';
	return 'k <= ' . lit($t, $k) if $kind eq 'le';
	return 'k > ' . lit($t, $k) if $kind eq 'gt';
	return 'k >= ' . lit($t, $k) if $kind eq 'ge';
	if ($kind eq 'between' || $kind eq 'range')
	{
		my ($a, $b) = sort { key_order($t, $a, $b) } ($k, query_key($t));
		($a, $b) = ($b, $a) if chance(0.1);    # sometimes empty
		return 'k BETWEEN ' . lit($t, $a) . ' AND ' . lit($t, $b)
		  if $kind eq 'between';
		return 'k > ' . lit($t, $a) . ' AND k < ' . lit($t, $b)
		  . (chance(0.3) ? ' AND k >= ' . lit($t, query_key($t)) : '');
	}
	if ($kind eq 'in')
	{
		my @elems = map { query_key($t) } 1 .. 1 + rint(6);
		push @elems, $elems[0] if chance(0.3);    # a duplicate
		push @elems, undef if chance(0.2);        # a NULL element
		return "k = ANY('{}'::$t->{type}\[])" if chance(0.05);
		return 'k = ANY(ARRAY[' . join(',', map { lit($t, $_) } @elems)
		  . "]::$t->{type}\[])";
	}
	if ($kind eq 'ineq_any')
	{
		# an inequality against any (an index qual) or all (a filter) of
		# an array's elements
		my @elems = map { query_key($t) } 1 .. 1 + rint(4);
		push @elems, undef if chance(0.15);
		my $array =
		  chance(0.05)
		  ? "'{}'::$t->{type}\[]"
		  : 'ARRAY[' . join(',', map { lit($t, $_) } @elems) . "]::$t->{type}\[]";
		my $all = chance(0.3);
		my $cond = 'k ' . pick('<', '<=', '>', '>=') . ($all ? ' ALL' : ' ANY') . "($array)";
		# ALL is no index qual: it comes with one
		$cond .= ' AND k ' . pick('<', '>=') . ' ' . lit($t, query_key($t))
		  if $all || chance(0.3);
		return $cond;
	}
	return 'k IS NULL' if $kind eq 'isnull';
	return 'k IS NOT NULL' if $kind eq 'notnull';
	return 'k = ' . lit($t, $k) . ' AND k > ' . lit($t, $k) if $kind eq 'empty';

	# cross-type: an int4 column against int8 values beyond its range and
	# int2 values, an int8 column against int4 values
	if ($t->{type} eq 'int4')
	{
		my $v = pick(-3000000000, 3000000000, -2147483649, 2147483648, rint(1000) - 500);
		my $cond = 'k ' . pick('<', '<=', '=', '>=', '>') . " '$v'::int8";
		$cond .= " AND k > '" . (rint(60000) - 30000) . "'::int2" if chance(0.5);
		return $cond;
	}
	if ($t->{type} eq 'int8' || $t->{type} eq 'dkey')
	{
		my $v = rint(4294967296) - 2147483648;
		$v = $k if defined $k && $k =~ /^-?\d+$/ && $k >= -2147483648 && $k <= 2147483647;
		return 'k ' . pick('<', '<=', '=', '>=', '>') . " '$v'::int4";
	}
	return 'k >= ' . lit($t, $k) . ' AND k <= ' . lit($t, query_key($t));
}

# A random query on table t, as a hash: sql, the query run both ways;
# explain, what EXPLAIN shows to see the index used; setup, settings the
# index run makes first (joins); rows, a query listing the rows the
# condition selects, for the report of a mismatch; shape, its kind; noqual,
# set if it has no condition.
sub random_query
{
	my ($t) = @_;
	my $name = $t->{name};
	my $cond = random_condition($t);
	my $shape = pick(
		qw(rows rows count minmax order order_id order_desc order_desc_id
		  cursor mergejoin nestloop));
	my %q = (rows => "SELECT id, k FROM $name WHERE $cond ORDER BY id", setup => '');
	my $limit = 1 + rint(40);

	if ($shape eq 'rows') { $q{sql} = "SELECT $digest FROM $name WHERE $cond"; }
	elsif ($shape eq 'count') { $q{sql} = "SELECT count(*) FROM $name WHERE $cond"; }
	elsif ($shape eq 'minmax') { $q{sql} = "SELECT min(k), max(k) FROM $name WHERE $cond"; }
	elsif ($shape eq 'cursor')
	{
		# a scroll cursor that changes direction, and jumps
		my $dir = pick('', ' DESC');
		my $select = "SELECT k FROM $name WHERE $cond ORDER BY k$dir";
		$q{explain} = $select;
		$q{sql} =
		    "BEGIN; DECLARE c SCROLL CURSOR FOR $select; "
		  . 'FETCH ' . (1 + rint(10)) . ' FROM c; '
		  . 'FETCH BACKWARD ' . (1 + rint(5)) . ' FROM c; '
		  . 'FETCH ' . (1 + rint(10)) . ' FROM c; '
		  . 'FETCH LAST FROM c; '
		  . 'FETCH BACKWARD ' . (1 + rint(8)) . ' FROM c; '
		  . 'FETCH ABSOLUTE ' . (1 + rint(20)) . ' FROM c; '
		  . 'FETCH PRIOR FROM c; COMMIT';
	}
	elsif ($shape eq 'mergejoin')
	{
		# the inner index scan is marked and restored over duplicates
		my $inner = random_condition($t);
		$cond =~ s/\bk\b/a.k/g;
		$inner =~ s/\bk\b/b.k/g;
		$q{setup} =
		  'SET enable_hashjoin = off; SET enable_nestloop = off; SET enable_material = off;';
		$q{sql} =
		    "SELECT count(*), sum(a.id), sum(b.id) FROM $name a JOIN $name b "
		  . "ON a.k = b.k WHERE $cond AND $inner";
	}
	elsif ($shape eq 'nestloop')
	{
		# the inner index scan is rescanned once per value
		my @values = map { query_key($t) } 1 .. 2 + rint(12);
		$q{setup} = 'SET enable_hashjoin = off; SET enable_mergejoin = off;';
		$q{sql} =
		    "SELECT count(*), sum(t.id), sum(v.n) FROM unnest(ARRAY["
		  . join(',', map { lit($t, $_) } @values)
		  . "]::$t->{type}\[]) WITH ORDINALITY v(x, n) JOIN $name t ON t.k = v.x";
	}
	else
	{
		if (chance(0.15))
		{
			$cond = 'true';
			$q{noqual} = 1;    # a bitmap scan needs a qual: none here
		}
		my %order = (
			order => 'k',
			order_desc => 'k DESC',
			order_id => 'k, id',
			order_desc_id => 'k DESC, id');
		my $cols = $shape =~ /_id$/ ? 'k, id' : 'k';
		$q{sql} = "SELECT $cols FROM $name WHERE $cond ORDER BY $order{$shape} LIMIT $limit";
	}
	$q{explain} //= $q{sql};
	$q{shape} = $shape;
	return \%q;
}

1;
