# kyro_rmi beside pgvector: a table of embeddings with an HNSW index on the
# vector and kyro_rmi indexes on its time and its tenant, and the hybrid
# queries users write over it: the nearest neighbours within a time window,
# within a window and one tenant, and the newest rows of a tenant.  Each
# query's answer through kyro_rmi (index scans, then bitmap scans; the HNSW
# index dropped inside the transaction, so that the sort by distance is
# exact) must equal a sequential scan's.  Rounds of inserts, deletes,
# VACUUM and folds (kyrodb.snapshot) run between the comparisons; a fixed
# number of rounds, no timing.  EXPLAIN shows the planner picking kyro_rmi
# for a selective window while the HNSW index is there.  Skipped where the
# server has no vector extension (test/postgres --extensions builds it).

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $ROWS = 10000;          # rows loaded at the start
my $ROUNDS = 4;            # rounds of writes, each followed by comparisons
my $ROUND_ROWS = 1500;     # rows each round inserts
my $DIM = 8;               # dimensions of the embeddings
my $TENANTS = 40;

# The worker off: the folds are the ones the test asks for, and the ones
# inserting backends make when the delta passes its limit.
my $node = kyro_node('pgvector', conf => "autovacuum = off\nkyrodb.worker = off\n");

skip_all_unless_extension($node, 'vector',
	'the vector extension (pgvector) is not available in this server '
	  . '(test/postgres --extensions builds and installs it)');

# Deterministic data: each row's time follows its id, its tenant and its
# embedding come from hashes of it.
$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION kyrodb;
CREATE EXTENSION vector;
CREATE FUNCTION vec(id int8) RETURNS vector($DIM) IMMUTABLE LANGUAGE sql
  RETURN (SELECT array_agg(((hashint8(id * $DIM + i) & 65535) / 65535.0)::float4 ORDER BY i)
          FROM generate_series(1, $DIM) i)::vector($DIM);
CREATE FUNCTION at_of(id int8) RETURNS timestamptz IMMUTABLE LANGUAGE sql
  RETURN timestamptz '2026-01-01 00:00:00+00' + id * interval '1 minute';
CREATE FUNCTION tenant_of(id int8) RETURNS int4 IMMUTABLE LANGUAGE sql
  RETURN ((hashint8(id + 99) & 65535) % $TENANTS)::int4;
CREATE TABLE items (id int8, at timestamptz, tenant int4, embedding vector($DIM))
  WITH (autovacuum_enabled = off);
INSERT INTO items SELECT g, at_of(g), tenant_of(g), vec(g) FROM generate_series(1, $ROWS) g;
CREATE INDEX items_embedding ON items USING hnsw (embedding vector_l2_ops);
CREATE INDEX items_at ON items USING kyro_rmi (at) WITH (delta_limit = 500);
CREATE INDEX items_tenant ON items USING kyro_rmi (tenant) WITH (delta_limit = 500);
VACUUM ANALYZE items;
});

# The queries of a round: windows of 30, 300 and 3000 minutes, at places
# that move with the round, with and without a tenant, and the newest rows
# of some tenants.
sub queries
{
	my ($round) = @_;
	my @q;
	my $top = $ROWS + $round * $ROUND_ROWS;
	for my $i (1 .. 6)
	{
		my $probe = 1_000_000 + $round * 100 + $i;
		my $width = (30, 300, 3000)[ $i % 3 ];
		my $lo = 1 + ($i * 7919 + $round * 104729) % ($top - $width);
		my $tenant = ($i * 7 + $round) % $TENANTS;
		my $window = "at BETWEEN at_of($lo) AND at_of($lo + $width)";
		push @q,
		  "SELECT id FROM items WHERE $window ORDER BY embedding <-> vec($probe), id LIMIT 10",
		  "SELECT id FROM items WHERE $window AND tenant = $tenant "
		  . "ORDER BY embedding <-> vec($probe), id LIMIT 5",
		  "SELECT id, at FROM items WHERE tenant = $tenant ORDER BY at DESC, id LIMIT 10",
		  "SELECT count(*), sum(id) FROM items WHERE $window";
	}
	return @q;
}

# Answers with the HNSW index dropped inside a transaction that is then
# rolled back: the planner can only filter through kyro_rmi (or scan).
sub without_hnsw
{
	my ($settings) = @_;
	return "BEGIN; DROP INDEX items_embedding; $settings";
}

sub compare_round
{
	my ($round, $what) = @_;
	my @q = queries($round);
	my @by_seqscan = answers($node, 'postgres', $force_seqscan, @q);
	my @by_index = answers($node, 'postgres', without_hnsw($force_index), @q);
	my @by_bitmap = answers($node, 'postgres', without_hnsw($force_bitmap), @q);
	is( count_mismatches(
			"round $round", \@q,
			seqscan => \@by_seqscan,
			kyro_rmi_index => \@by_index,
			kyro_rmi_bitmap => \@by_bitmap),
		0,
		"round $round ($what): hybrid queries through kyro_rmi answer as a sequential scan");
	# Not vacuous: every window holds rows, and so do some of the tenants'
	# shares of them.
	my @counts = @by_seqscan[ grep { $_ % 4 == 3 } 0 .. $#by_seqscan ];
	is((grep { /^0\|/ } @counts), 0, "round $round: every window holds rows");
	my @by_tenant = @by_seqscan[ grep { $_ % 4 == 1 } 0 .. $#by_seqscan ];
	cmp_ok((grep { $_ ne '' } @by_tenant), '>=', 2,
		"round $round: windows of a tenant hold rows");
}

compare_round(0, 'after the build');

# The forced plans of the comparisons do go through kyro_rmi.
for my $mode ([ index => $force_index ], [ bitmap => $force_bitmap ])
{
	my @q = queries(0);
	my @plans = answers($node, 'postgres', without_hnsw($mode->[1]),
		map { "EXPLAIN (COSTS OFF) $_" } @q[ 0 .. 2 ]);
	is( (grep { /Scan (Backward )?(using|on) items_(at|tenant)\b/ } @plans), 3,
		"the $mode->[0] comparisons scan kyro_rmi")
	  or diag(join("\n", @plans));
}

for my $round (1 .. $ROUNDS)
{
	my $from = $ROWS + ($round - 1) * $ROUND_ROWS + 1;
	my $to = $from + $ROUND_ROWS - 1;
	$node->safe_psql(
		'postgres', qq{
INSERT INTO items SELECT g, at_of(g), tenant_of(g), vec(g) FROM generate_series($from, $to) g;
-- rows back in time too: a late arrival for each hundred
INSERT INTO items SELECT -g, at_of(g * 37 % $to), tenant_of(-g), vec(-g)
  FROM generate_series($from, $to, 100) g;
DELETE FROM items WHERE id % 11 = $round OR (id > $from AND id % 13 = 0);
});
	compare_round($round, 'after inserts and deletes');
	$node->safe_psql('postgres', 'VACUUM items');
	$node->safe_psql('postgres',
		$round % 2
		? "SELECT kyrodb.snapshot('items_at')"
		: "SELECT kyrodb.snapshot('items_tenant'), kyrodb.snapshot('items_at')");
	compare_round($round, 'after VACUUM and a fold');
}

# The planner's own choice, HNSW index in place, statistics fresh: a window
# of 30 minutes of the table's ~15,000 rows goes through kyro_rmi, and the
# newest rows of a tenant too; the unfiltered nearest neighbours through
# HNSW.
$node->safe_psql('postgres', 'ANALYZE items');
my $narrow = 'WHERE at BETWEEN at_of(5000) AND at_of(5030)';
like(
	$node->safe_psql('postgres',
		"EXPLAIN (COSTS OFF) SELECT id FROM items $narrow ORDER BY embedding <-> vec(7), id LIMIT 10"),
	qr/(Index|Bitmap Index) Scan (Backward )?(using|on) items_at\b/,
	'a selective time window with a vector sort is planned through kyro_rmi');
like(
	$node->safe_psql('postgres',
		"EXPLAIN (COSTS OFF) SELECT id FROM items $narrow AND tenant = 3 ORDER BY embedding <-> vec(7), id LIMIT 5"),
	qr/(Index|Bitmap Index) Scan (Backward )?(using|on) items_(at|tenant)\b/,
	'a window and a tenant are planned through kyro_rmi');
like(
	$node->safe_psql('postgres',
		"EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> vec(7) LIMIT 10"),
	qr/Index Scan using items_embedding\b/,
	'unfiltered nearest neighbours are planned through HNSW');

# HNSW's own answer: with no filter, HNSW's approximate top 10 overlaps the
# exact top 10 (a recall floor, not equality: HNSW is approximate).
my ($approx, $exact) = (
	$node->safe_psql('postgres',
		"$force_index SELECT string_agg(id::text, ',') FROM "
		  . "(SELECT id FROM items ORDER BY embedding <-> vec(7) LIMIT 10) s"),
	$node->safe_psql('postgres',
		"$force_seqscan SELECT string_agg(id::text, ',') FROM "
		  . "(SELECT id FROM items ORDER BY embedding <-> vec(7) LIMIT 10) s"));
my %in_exact = map { $_ => 1 } split /,/, $exact;
my $found = grep { $in_exact{$_} } split /,/, $approx;
cmp_ok($found, '>=', 5, "HNSW finds $found of the exact 10 nearest beside kyro_rmi");

# The indexes are sound after all of it.
$node->safe_psql('postgres', "SELECT kyrodb.check('items_at', true), kyrodb.check('items_tenant', true)");
pass('kyrodb.check passes on both kyro_rmi indexes');

$node->stop;
done_testing();
