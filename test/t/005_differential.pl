# The differential test: a seeded pseudo-random generator drives rounds of
# inserts (batches and single rows; dense, sparse 64-bit, clustered, heavily
# duplicated and NULL keys, and the ends of each type's range), updates of
# keys (and HOT updates that leave them), deletes, rolled-back inserts,
# VACUUM and kyrodb.snapshot on tables of int8, int4, timestamptz and
# domain-over-int8 keys whose kyro_rmi indexes fold every few dozen inserts.
# Between the writes, batches of random queries run through the index
# (sequential and bitmap scans off) and through a sequential scan (index
# scans off), one after the other in the same session, and every answer
# must be the same.  The queries run in a session that stays connected
# while another writes (so its cached views must follow the other's
# appends and folds), after that session's own writes, and in new
# sessions.
#
# The seed is printed; KYRODB_DIFF_SEED=<n> replays a run, KYRODB_DIFF_ROUNDS
# changes the number of rounds.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{KYRODB_DIFF_SEED} // 20241120;
my $rounds = $ENV{KYRODB_DIFF_ROUNDS} // 40;
diag("differential: seed $seed, $rounds rounds (replay with KYRODB_DIFF_SEED=$seed)");
# Perl's rand() is its own drand48 on every platform, so a seed replays.
srand($seed);

# The ways a query is run: each sets every scan switch, since the modes
# follow one another in one session.
my $settings = q{SET timezone = 'UTC'; SET extra_float_digits = 3;};
sub scans
{
	my ($seq, $index, $bitmap) = @_;
	return "$settings SET enable_seqscan = $seq; SET enable_indexscan = $index; "
	  . "SET enable_indexonlyscan = $index; SET enable_bitmapscan = $bitmap;";
}
my %modes = (
	i => scans('off', 'on', 'off'),    # index and index-only scans
	b => scans('off', 'off', 'on'),    # bitmap scans of the index
	s => scans('on', 'off', 'off'));   # sequential scans
my $force_index = $modes{i};
my $force_seqscan = $modes{s};

my $node = PostgreSQL::Test::Cluster->new('differential');
$node->init;
# No autovacuum: the test's own VACUUMs decide what is flagged dead, so a
# seed replays the same index states.
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'kyrodb'
autovacuum = off
# forced plans cost past jit_above_cost: compiling each costs more than it runs
jit = off
});
$node->start;

# ---- random helpers ----

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

# ---- the tables ----

# Each table: its key type, the SQL literal of a key, and key generators.
# Keys are Perl integers (timestamptz: microseconds since 2000-01-01 UTC,
# turned into timestamptz by kts()), or the strings of the type's extremes.
my @tables = (
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
		sparse => sub { return rint(9007199254740992) - 4503599627370496; },
		spread => 5000000,
		extremes => [ 'infinity', '-infinity' ],
	},
	{
		# a domain over int8
		name => 'dd',
		type => 'dkey',
		opts => 'WITH (delta_limit = 20)',
		dense => 123456789,
		sparse => \&rand64,
		spread => 3000,
		extremes => [ '-9223372036854775808', '9223372036854775807' ],
	},
	{
		# keys within 2^32 of each other, and runs of keys whose spread is
		# about 2^32, so that the pages' packed key widths vary from page
		# to page and from fold to fold
		name => 'de',
		type => 'int8',
		opts => 'WITH (delta_limit = 16)',
		dense => 0,
		sparse => sub { return rint(4294967296) - 2147483648; },
		spread => 100000,
		extremes => [ '-2147483648', '2147483647' ],
	},
	{
		# no index option: folds at the session's kyrodb.delta_limit
		name => 'dg',
		type => 'int8',
		opts => '',
		guc => 'SET kyrodb.delta_limit = 40;',
		dense => -2000,
		sparse => \&rand64,
		spread => 50,
		extremes => [ '-9223372036854775808', '9223372036854775807' ],
	},
	{
		# ids: keys mostly past the last one, so that most folds append
		# pages and the others rewrite a few; the default scale factor
		name => 'da',
		type => 'int8',
		opts => 'WITH (delta_limit = 16)',
		dense => 1000,
		sparse => sub { return rint(1000000); },
		spread => 100,
		extremes => [ '-9223372036854775808', '0' ],
		increasing => 1000000000,
	});

foreach my $t (@tables)
{
	# the range of finite keys; clusters keep away from its ends
	$t->{min} = $t->{type} eq 'timestamptz' ? -1152921504606846976 : $t->{extremes}[0];
	$t->{max} = $t->{type} eq 'timestamptz' ? 1152921504606846976 : $t->{extremes}[1];
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
	$t->{pool} = [];    # keys inserted, for queries that hit
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

sub remember
{
	my ($t, $k) = @_;
	return unless defined $k;
	my $pool = $t->{pool};
	if (@$pool < 3000) { push @$pool, $k; }
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

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE EXTENSION pageinspect;
CREATE DOMAIN dkey AS int8;
CREATE FUNCTION kts(bigint) RETURNS timestamptz
	AS $$ SELECT timestamptz '2000-01-01 00:00:00+00' + $1 * interval '1 microsecond' $$
	LANGUAGE sql IMMUTABLE STRICT;
});

foreach my $t (@tables)
{
	my @keys = gen_batch($t, 3000);
	my $sql = "CREATE TABLE $t->{name} (id bigserial, k $t->{type}, pad int DEFAULT 0);\n";
	$sql .=
	  "INSERT INTO $t->{name} (k) SELECT unnest(ARRAY["
	  . join(',', map { lit($t, $_) } @keys)
	  . "]::$t->{type}\[]);\n";
	$sql .= "CREATE INDEX $t->{name}_k_idx ON $t->{name} USING kyro_rmi (k) $t->{opts};\n";
	$node->safe_psql('postgres', $sql);
}

# ---- the writes of a round ----

# An insert of a batch of keys, as one statement.
sub sql_insert_batch
{
	my ($t, $n) = @_;
	my @keys = gen_batch($t, $n);
	return
	  "INSERT INTO $t->{name} (k) SELECT unnest(ARRAY["
	  . join(',', map { lit($t, $_) } @keys)
	  . "]::$t->{type}\[]);\n";
}

# Most of table t's rows replaced by runs of keys that span about 2^32,
# crowded at one end or evenly spaced so that a page of 32-bit offsets
# (803 entries) or of 64-bit keys (576) spans about 2^32; then VACUUM and a
# fold.
sub edge_pattern
{
	my ($t) = @_;
	my $name = $t->{name};
	my $m = 5 + rint(20);
	my $span = 4294967296 + rint(7) - 3;
	my $x = rint(1000) - 2147484148;
	my $shape = rint(3);
	my @keys;
	if ($shape == 0)
	{
		# one key low, a crowd at the far end of the span
		@keys = ($x, map { $x + $span } 1 .. 1 + rint(1200));
	}
	elsif ($shape == 1)
	{
		# a crowd low, one key at the far end
		@keys = ((map { $x } 1 .. 1 + rint(1200)), $x + $span);
	}
	else
	{
		my $per_page = pick(803, 576);
		my $step = int($span / ($per_page - 1)) + rint(3) - 1;
		@keys = map { $x + $_ * $step } 0 .. 500 + rint(1500);
	}
	remember($t, $_) foreach @keys[ 0, 1, -2, -1 ];
	return
	    "DELETE FROM $name WHERE id % $m <> " . rint($m) . ";\n"
	  . "INSERT INTO $name (k) SELECT unnest(ARRAY["
	  . join(',', map { lit($t, $_) } @keys)
	  . "]::$t->{type}\[]);\n"
	  . "VACUUM $name;\n"
	  . "SELECT kyrodb.snapshot('${name}_k_idx') > 0;\n";
}

# A script of nops random writes on table t, then perhaps a VACUUM and a
# fold.
sub round_writes
{
	my ($t, $nops) = @_;
	my $name = $t->{name};
	# each fold says its kind (append, partial, full) in the server log
	my $sql = "SET log_min_messages = debug1;\n" . $t->{guc} . "\n";
	my @ops = (
		'batch', 'batch', 'singles', 'singles', 'update', 'update',
		'delete', 'delete', 'hot', 'rollback', 'heavy');
	foreach (1 .. $nops)
	{
		my $op = pick(@ops);
		if ($op eq 'batch')
		{
			$sql .= sql_insert_batch($t, 20 + rint(300));
		}
		elsif ($op eq 'heavy')
		{
			# many delta limits' worth at once
			$sql .= sql_insert_batch($t, 500 + rint(1500));
		}
		elsif ($op eq 'singles')
		{
			foreach (1 .. 1 + rint(30))
			{
				my ($k) = gen_batch($t, 1);
				$sql .= "INSERT INTO $name (k) VALUES (" . lit($t, $k) . ");\n";
			}
		}
		elsif ($op eq 'update')
		{
			my $kind = rint(4);
			if ($kind == 0)
			{
				# new keys for some rows
				my $m = 5 + rint(40);
				my $r = rint($m);
				my ($k) = gen_batch($t, 1);
				$sql .= "UPDATE $name SET k = " . lit($t, $k)
				  . " WHERE id % $m = $r;\n";
			}
			elsif ($kind == 1)
			{
				# shift a range of keys by one (not past the type's end)
				my ($a, $b) = sort { key_order($t, $a, $b) } (query_key($t), query_key($t));
				my $one = $t->{type} eq 'timestamptz' ? q{interval '1 microsecond'} : '1';
				my $guard =
				  $t->{type} eq 'timestamptz'
				  ? 'isfinite(k)'
				  : "k < '" . $t->{extremes}[1] . "'::$t->{type}";
				$sql .= "UPDATE $name SET k = k + $one WHERE k BETWEEN "
				  . lit($t, $a) . ' AND ' . lit($t, $b) . " AND $guard;\n";
			}
			elsif ($kind == 2)
			{
				my $m = 10 + rint(40);
				$sql .= "UPDATE $name SET k = NULL WHERE id % $m = " . rint($m) . ";\n";
			}
			else
			{
				my ($k) = gen_batch($t, 1);
				my $m = 2 + rint(5);
				$sql .= "UPDATE $name SET k = " . lit($t, $k)
				  . " WHERE k IS NULL AND id % $m = 0;\n";
			}
		}
		elsif ($op eq 'delete')
		{
			my $kind = rint(3);
			if ($kind == 0)
			{
				my $m = 8 + rint(50);
				$sql .= "DELETE FROM $name WHERE id % $m = " . rint($m) . ";\n";
			}
			elsif ($kind == 1)
			{
				my $a = query_key($t);
				my $b = near_key($t, $a);
				$sql .= "DELETE FROM $name WHERE k BETWEEN "
				  . lit($t, $a) . ' AND ' . lit($t, $b) . ";\n";
			}
			else
			{
				$sql .= "DELETE FROM $name WHERE k = " . lit($t, query_key($t))
				  . " OR (k IS NULL AND id % 3 = " . rint(3) . ");\n";
			}
		}
		elsif ($op eq 'hot')
		{
			# the key stays: heap-only tuples, pruned later
			my $m = 2 + rint(10);
			$sql .= "UPDATE $name SET pad = pad + 1 WHERE id % $m = " . rint($m) . ";\n";
		}
		else
		{
			# index entries of rows that never commit
			$sql .= "BEGIN;\n" . sql_insert_batch($t, 5 + rint(80));
			$sql .= "UPDATE $name SET k = " . lit($t, query_key($t))
			  . " WHERE id % 11 = " . rint(11) . ";\n";
			$sql .= "ROLLBACK;\n";
		}
	}
	$sql .= edge_pattern($t) if $t->{edges} && chance(0.5);
	$sql .= "VACUUM $name;\n" if chance(0.4);
	$sql .= "SELECT kyrodb.snapshot('${name}_k_idx') > 0;\n" if chance(0.4);
	$sql .= sql_insert_batch($t, rint(10)) if chance(0.5);
	$sql .= "VACUUM $name;\n" if chance(0.15);
	return $sql;
}

# ---- the queries ----

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
# condition selects, for the report of a mismatch.
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

# ---- sessions ----

# A psql session kept open across rounds, so that the backend's cached
# views of the indexes (the model, the sorted copy of the delta) must
# follow what other sessions append and fold.
sub start_session
{
	my %s = (in => '', out => '', err => '', n => 0);
	$s{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$s{h} = IPC::Run::start(
		[
			'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', '-'
		],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err}, $s{timer});
	return \%s;
}

# Run a script in a session; returns its output.  Dies on an error.
sub session_run
{
	my ($s, $script) = @_;
	my $n = ++$s->{n};
	$s->{timer}->start;
	$s->{in} .= "$script\n\\echo ==== done $n\n";
	$s->{h}->pump until $s->{out} =~ /^==== done $n\n/m || $s->{err} ne '';
	die "psql session: $s->{err}" if $s->{err} ne '';
	my $out = $s->{out};
	$s->{out} = '';
	$out =~ s/^==== done $n\n//m;
	chomp($out);    # as safe_psql does
	return $out;
}

sub stop_session
{
	my ($s) = @_;
	$s->{in} .= "\\q\n";
	$s->{h}->finish;
}

# Run a script in a new session (undef) or in session s.
sub run_script
{
	my ($s, $script) = @_;
	return $s ? session_run($s, $script) : $node->safe_psql('postgres', $script);
}

# Split the output of a script whose parts were announced by "==== <tag>"
# lines into a hash by tag.
sub split_parts
{
	my ($out) = @_;
	my %parts;
	my @pieces = split(/^==== (\S+)\n?/m, "$out\n", -1);
	shift @pieces;
	while (my ($tag, $text) = splice(@pieces, 0, 2))
	{
		chomp($text);
		$parts{$tag} = $text;
	}
	return %parts;
}

my $reset_joins =
  'RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_nestloop; RESET enable_material;';

# Run queries, each in the given modes one after the other in the same
# session (so at the same state of the table), in a new session (undef) or
# in session s; returns a hash of arrays of answers by mode.  With explain,
# the plans instead of the answers.
sub answers_by_mode
{
	my ($s, $explain, $modes, @queries) = @_;
	my $script = '';
	for my $i (0 .. $#queries)
	{
		my $q = $queries[$i];
		foreach my $m (@$modes)
		{
			my $sql = $explain ? "EXPLAIN (COSTS OFF) $q->{explain}" : $q->{sql};
			# the join settings are for the index's runs
			my $setup = $m eq 's' ? '' : $q->{setup};
			$script .= "$modes{$m} $setup\n\\echo ==== $m$i\n$sql;\n$reset_joins\n";
		}
	}
	$script .= "RESET ALL;\n";
	my %parts = split_parts(run_script($s, $script));
	my %answers;
	foreach my $m (@$modes)
	{
		for my $i (0 .. $#queries)
		{
			die "no answer for query $i in mode $m" unless defined $parts{"$m$i"};
			push @{ $answers{$m} }, $parts{"$m$i"};
		}
	}
	return \%answers;
}

# Each query's output in a new session after the given settings.
sub answers
{
	my ($settings, @queries) = @_;
	my $script = "$settings\n";
	for my $i (0 .. $#queries)
	{
		$script .= "\\echo ==== $i\n$queries[$i];\n$reset_joins\n";
	}
	my %parts = split_parts($node->safe_psql('postgres', $script));
	return map { $parts{$_} } 0 .. $#queries;
}

# The lines of a that are not in b.
sub missing_lines
{
	my ($a, $b) = @_;
	my %in_b;
	$in_b{$_}++ foreach split(/\n/, $b);
	my @missing;
	foreach (split(/\n/, $a))
	{
		if ($in_b{$_}) { $in_b{$_}--; }
		else { push @missing, $_; }
	}
	return @missing;
}

# ---- the rounds ----

my ($queries_run, $mismatches, $wrong_plans, $nonempty) = (0, 0, 0, 0);
my (%plan_kinds, %shapes_run, %shapes_wrong);
my $queries_per_batch = 20;

# Check a batch of random queries on table t, in session s (undef: a new
# session): the answers through the index (and, with bitmap, by bitmap
# scans) against those of sequential scans; with plans, first that the
# forced plans, in the same session, are what they should be.
sub check_batch
{
	my ($s, $t, $label, $bitmap, $plans) = @_;
	my @queries = map { random_query($t) } 1 .. $queries_per_batch;
	my @modes = $bitmap ? qw(i b s) : qw(i s);

	check_plans($s, $t, $label, \@modes, @queries) if $plans;
	my $answers = answers_by_mode($s, 0, \@modes, @queries);
	for my $i (0 .. $#queries)
	{
		my $by_seqscan = $answers->{s}[$i];
		$nonempty++ if $by_seqscan !~ /^(0(\|.*)?|\|?)$/;
		foreach my $m (grep { $_ ne 's' } @modes)
		{
			my $kind = $m eq 'i' ? $queries[$i]{shape} : "bitmap $queries[$i]{shape}";
			$queries_run++;
			$shapes_run{$kind}++;
			next if $answers->{$m}[$i] eq $by_seqscan;
			$mismatches++;
			$shapes_wrong{$kind}++;
			next if $mismatches > 20;    # enough to go on
			my ($index_rows) = answers($modes{$m}, $queries[$i]{rows});
			my ($seq_rows) = answers($force_seqscan, $queries[$i]{rows});
			my @extra = missing_lines($index_rows, $seq_rows);
			my @lost = missing_lines($seq_rows, $index_rows);
			diag("$label, seed $seed: MISMATCH ($kind): $queries[$i]{setup} $queries[$i]{sql}\n"
				  . "  index:    "
				  . join(' ', split(/\n/, $answers->{$m}[$i]))
				  . "\n  seqscan:  "
				  . join(' ', split(/\n/, $by_seqscan))
				  . "\n  rows (id|k) of the condition only through the index: "
				  . join(' ', @extra[ 0 .. ($#extra < 9 ? $#extra : 9) ])
				  . "\n  rows (id|k) of the condition only by seq scan: "
				  . join(' ', @lost[ 0 .. ($#lost < 9 ? $#lost : 9) ]));
		}
	}
}

# The plans of queries in each mode, run as the answers are: through the
# index in the index modes, by no index in the sequential one.
sub check_plans
{
	my ($s, $t, $label, $modes, @queries) = @_;
	my $plans = answers_by_mode($s, 1, $modes, @queries);
	my $idx = "$t->{name}_k_idx";
	for my $i (0 .. $#queries)
	{
		foreach my $m (@$modes)
		{
			my $plan = $plans->{$m}[$i];
			$plan_kinds{$_}++ foreach $plan =~
			  /(Index Only Scan Backward|Index Scan Backward|Index Only Scan|Index Scan|Bitmap Index Scan|Merge Join|Nested Loop)/g;
			# the planner saw that the quals contradict each other: no scan
			next if $plan =~ /One-Time Filter: false/ && $plan !~ /Scan/;
			next if $m eq 'i' && $plan =~ /Index (Only )?Scan (Backward )?using $idx/ && $plan !~ /Seq Scan|Bitmap/;
			next if $m eq 'b' && $plan =~ /Bitmap Index Scan on $idx/ && $plan !~ /Seq Scan|Index (Only )?Scan (Backward )?using/;
			next if $m eq 's' && $plan !~ /$idx/;
			# with no qual to bitmap scan by, the planner takes whichever
			# disabled plan costs less
			next if $m eq 'b' && $queries[$i]{noqual};
			$wrong_plans++;
			diag("$label: not a plan of mode $m: $queries[$i]{explain}\n$plan");
		}
	}
}

# A reader that stays connected through the whole test, and a writer.
my $reader = start_session();
my $writer = start_session();

foreach my $round (1 .. $rounds)
{
	foreach my $t (@tables)
	{
		my $plans = $round % 5 == 1;

		# another session writes; the reader's cached views must follow
		session_run($writer, round_writes($t, 3 + rint(4)));
		check_batch($reader, $t, "round $round, $t->{name}, reader after the writer",
			0, $plans);

		# the reader writes itself, then queries
		session_run($reader, round_writes($t, 1 + rint(2)));
		check_batch($reader, $t, "round $round, $t->{name}, reader after its own writes",
			0, 0);

		# a new session, with nothing cached; bitmap scans too
		check_batch(undef, $t, "round $round, $t->{name}, new session", 1, $plans);
	}
}
stop_session($reader);
stop_session($writer);

# Every index passes its check with heapallindexed at the end.
foreach my $t (@tables)
{
	is($node->safe_psql('postgres', "SELECT kyrodb.check('$t->{name}_k_idx', true)"),
		't', "kyrodb.check('$t->{name}_k_idx', true) after $rounds rounds");
}

# Folds of every kind happened along the way.
my $log = slurp_file($node->logfile);
foreach my $kind ('append', 'partial', 'full')
{
	my $n = () = $log =~ /kyrodb: $kind fold of index/g;
	cmp_ok($n, '>', 0, "$n $kind folds during the rounds");
}

note "plan nodes in the sampled forced plans: "
  . join(', ', map { "$_ $plan_kinds{$_}" } sort keys %plan_kinds);
my $sizes = $node->safe_psql('postgres',
	join(' UNION ALL ',
		map {
			"SELECT '$_->{name}', count(*), count(k), pg_relation_size('$_->{name}'), "
			  . "pg_relation_size('$_->{name}_k_idx') FROM $_->{name}"
		} @tables));
note "rows and bytes (table|rows|keyed rows|table bytes|index bytes):\n$sizes";

my $summary =
  "differential: $queries_run queries, $mismatches mismatches "
  . "(seed $seed, $rounds rounds; each query's answer through the index, or by "
  . "a bitmap scan of it, compared with a sequential scan's; $nonempty of the "
  . "sequential scans' answers had rows)";
diag($summary);
diag('differential: by query shape (queries/mismatches): '
	  . join(', ',
		map { "$_ $shapes_run{$_}/" . ($shapes_wrong{$_} // 0) } sort keys %shapes_run));
is($mismatches, 0, $summary);
is($wrong_plans, 0,
	'every sampled plan scans the kyro_rmi index as its mode says (or no index)');
cmp_ok($nonempty, '>', $queries_run / 2, 'most queries find rows');

$node->stop;

done_testing();
