# kyro_rmi on a TimescaleDB hypertable: CREATE INDEX ... USING kyro_rmi on
# the hypertable gives every chunk, existing and new, its own kyro_rmi
# index; chunk exclusion still narrows a time window to its chunks; ORDER BY
# time DESC LIMIT n over many chunks runs as kyro_rmi index scans under
# TimescaleDB's ordered append; kyrodb.stat_indexes lists the chunk
# indexes.  The answers of the queries users write over a hypertable must
# equal a sequential scan's, through rounds of inserts that open new
# chunks, inserts into old chunks, deletes, drop_chunks, VACUUM and a fold
# (kyrodb.snapshot) of every chunk index; a fixed number of rounds, no
# timing.  Skipped where the server has no timescaledb extension
# (test/postgres --extensions builds it for 15 to 17).

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $DAYS = 10;         # days loaded at the start, a chunk each
my $ROUNDS = 3;
my $DEVICES = 25;
my $PER_DAY = 1440;    # a row a minute

# Started without TimescaleDB first: a server told to preload a library
# it does not have would not start at all.
my $node = kyro_node('timescaledb', conf => "autovacuum = off\nkyrodb.worker = off\n");
skip_all_unless_extension($node, 'timescaledb',
	'the timescaledb extension is not available in this server '
	  . '(test/postgres --extensions builds it for PostgreSQL 15 to 17)');
# TimescaleDB must come first among the preloaded libraries.
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'timescaledb, kyrodb'\ntimescaledb.telemetry_level = off\n");
$node->restart;

# Rows a minute apart from 2026-01-01, minute n's device from a hash of n.
$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION timescaledb;
CREATE EXTENSION kyrodb;
CREATE FUNCTION at_of(n int8) RETURNS timestamptz IMMUTABLE LANGUAGE sql
  RETURN timestamptz '2026-01-01 00:00:00+00' + n * interval '1 minute';
CREATE FUNCTION device_of(n int8) RETURNS int4 IMMUTABLE LANGUAGE sql
  RETURN ((hashint8(n) & 65535) % $DEVICES)::int4;
CREATE TABLE m (at timestamptz NOT NULL, device int4, v int8);
SELECT create_hypertable('m', 'at', chunk_time_interval => interval '1 day',
  create_default_indexes => false);
INSERT INTO m SELECT at_of(g), device_of(g), g FROM generate_series(0, $DAYS * $PER_DAY - 1) g;
CREATE INDEX m_at ON m USING kyro_rmi (at) WITH (delta_limit = 200);
CREATE INDEX m_device ON m USING kyro_rmi (device) WITH (delta_limit = 200);
VACUUM ANALYZE m;
});

# The chunks, and how many of them lack either kyro_rmi index: for each
# chunk, the columns of its kyro_rmi indexes must be exactly at and device.
my $chunk_indexes = q{
SELECT count(*), count(*) FILTER (WHERE cols IS DISTINCT FROM 'at,device')
FROM (SELECT c, (SELECT string_agg(a.attname, ',' ORDER BY a.attname)
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                   JOIN pg_am am ON am.oid = i.relam
                   JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
                 WHERE x.indrelid = c AND am.amname = 'kyro_rmi') AS cols
      FROM show_chunks('m') c) s};
is($node->safe_psql('postgres', $chunk_indexes), "$DAYS|0",
	"each of the $DAYS chunks has a kyro_rmi index on at and one on device");

# What TimescaleDB itself reports: its catalog of chunk indexes, and the
# chunks view.
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(hypertable_index_name || ':' || n, ' ' ORDER BY hypertable_index_name)
FROM (SELECT hypertable_index_name, count(*) n FROM _timescaledb_catalog.chunk_index
      GROUP BY 1) s}),
	"m_at:$DAYS m_device:$DAYS",
	"TimescaleDB's catalog maps each chunk's kyro_rmi indexes to the hypertable's");
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'm'"),
	$DAYS, 'timescaledb_information.chunks lists the chunks');

# The queries of a round over days lo .. hi (the days that still have
# chunks): windows of an hour, of several hours across a chunk boundary,
# with a device; the newest rows overall and of a device; the oldest.
sub queries
{
	my ($lo, $hi) = @_;
	my @q;
	for my $i (1 .. 5)
	{
		my $day = $lo + ($i * 3) % ($hi - $lo + 1);
		my $start = $day * $PER_DAY + ($i * 389) % $PER_DAY;
		my $width = (60, 600, 2000)[ $i % 3 ];
		my $device = ($i * 7) % $DEVICES;
		my $window = "at BETWEEN at_of($start) AND at_of($start + $width)";
		push @q,
		  "SELECT count(*), sum(v) FROM m WHERE $window",
		  "SELECT at, v FROM m WHERE $window AND device = $device ORDER BY at",
		  "SELECT at, v FROM m WHERE device = $device ORDER BY at DESC LIMIT 20",
		  "SELECT count(*), min(at), max(at) FROM m WHERE device = $device";
	}
	push @q,
	  'SELECT at, device, v FROM m ORDER BY at DESC LIMIT 50',
	  'SELECT at, device, v FROM m ORDER BY at LIMIT 50',
	  'SELECT min(at), max(at), count(*) FROM m';
	return @q;
}

# Fold every chunk's kyro_rmi indexes.
sub fold_chunks
{
	return $node->safe_psql(
		'postgres', q{
SELECT count(kyrodb.snapshot(x.indexrelid))
FROM show_chunks('m') c JOIN pg_index x ON x.indrelid = c
  JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
WHERE am.amname = 'kyro_rmi'});
}

my ($lo, $hi) = (0, $DAYS - 1);

# The forced plans of the comparisons do go through the chunks' kyro_rmi
# indexes, and the queries have rows to compare.
my @q = queries($lo, $hi);
my @plans = answers($node, 'postgres', $force_index, map { "EXPLAIN (COSTS OFF) $_" } @q);
is((grep { /Index (Only )?Scan (Backward )?using _hyper_\d+_\d+_chunk_m_(at|device) on/ } @plans),
	scalar(@q), 'every compared query scans chunks through kyro_rmi when index scans are forced');
my @rows = answers($node, 'postgres', $force_seqscan, @q);
is((grep { $_ eq '' || /^0\|/ } @rows), 0, 'every compared query has rows');
compare_with_seqscan($node, 'postgres', 'after the build: kyro_rmi on every chunk answers as a sequential scan',
	queries($lo, $hi));

for my $round (1 .. $ROUNDS)
{
	# Two days more (two new chunks), a late row into every hour of the
	# oldest days, some rows deleted, the oldest day's chunk dropped.
	my ($from, $to) = (($hi + 1) * $PER_DAY, ($hi + 3) * $PER_DAY - 1);
	$node->safe_psql(
		'postgres', qq{
INSERT INTO m SELECT at_of(g), device_of(g), g FROM generate_series($from, $to) g;
INSERT INTO m SELECT at_of(g) + interval '30 seconds', device_of(g + 1), -g
  FROM generate_series(($lo + 1) * $PER_DAY, ($lo + 3) * $PER_DAY, 60) g;
DELETE FROM m WHERE v % 17 = $round;
});
	$hi += 2;
	is($node->safe_psql('postgres', $chunk_indexes), ($hi - $lo + 1) . '|0',
		"round $round: the new chunks have both kyro_rmi indexes too");
	compare_with_seqscan($node, 'postgres', "round $round, after inserts and deletes", queries($lo, $hi));

	$node->safe_psql('postgres',
		"SELECT count(*) FROM drop_chunks('m', older_than => at_of(" . (($lo + 1) * $PER_DAY) . '))');
	$lo += 1;
	$node->safe_psql('postgres', 'VACUUM m');
	is(fold_chunks(), 2 * ($hi - $lo + 1), "round $round: every chunk index folds");
	compare_with_seqscan($node, 'postgres', "round $round, after drop_chunks, VACUUM and folds",
		queries($lo, $hi));
}

my $chunks = $hi - $lo + 1;
is($node->safe_psql('postgres', $chunk_indexes), "$chunks|0",
	'after drop_chunks: the remaining chunks, each with both indexes');

# kyrodb.stat_indexes: a row for each chunk index (and the hypertable's own,
# empty ones), whose entries add up to the rows, folded and vacuumed.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FILTER (WHERE relname LIKE '\_hyper\_%'),
       count(*) FILTER (WHERE relname = 'm'),
       sum(live_items) FILTER (WHERE indexrelname LIKE '%\_m\_at'),
       sum(live_items) FILTER (WHERE indexrelname LIKE '%\_m\_device')
FROM kyrodb.stat_indexes}),
	join('|', 2 * $chunks, 2, ($node->safe_psql('postgres', 'SELECT count(*) FROM m')) x 2),
	'kyrodb.stat_indexes shows each chunk index, its live entries adding up to the rows');

# Plans, statistics fresh, no scan forced.
$node->safe_psql('postgres', 'ANALYZE m');
my $day = $lo + 2;
my $plan = $node->safe_psql('postgres',
	'EXPLAIN (COSTS OFF) SELECT * FROM m WHERE at BETWEEN at_of(' . ($day * $PER_DAY + 100)
	  . ') AND at_of(' . ($day * $PER_DAY + 160) . ')');
my @scanned = $plan =~ /Scan(?: Backward)? (?:using|on) \S+ on (_hyper_\d+_\d+_chunk)/g;
is(scalar(@scanned), 1, "an hour's window scans one of the $chunks chunks (chunk exclusion)")
  or diag($plan);
like($plan, qr/Index Scan using _hyper_\d+_\d+_chunk_m_at on/,
	"an hour's window scans its chunk's kyro_rmi index");

$plan = $node->safe_psql('postgres', 'EXPLAIN (COSTS OFF) SELECT * FROM m ORDER BY at DESC LIMIT 10');
like($plan, qr/(ChunkAppend|Merge Append)/, 'ORDER BY at DESC LIMIT 10 runs as an ordered append')
  or diag($plan);
my $backward = () = $plan =~ /Index Scan Backward using _hyper_\d+_\d+_chunk_m_at on/g;
is($backward, $chunks, 'each chunk is read backward through its kyro_rmi index') or diag($plan);

# The chunk indexes are sound.
$node->safe_psql(
	'postgres', q{
SELECT kyrodb.check(x.indexrelid, true)
FROM show_chunks('m') c JOIN pg_index x ON x.indrelid = c
  JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
WHERE am.amname = 'kyro_rmi'});
pass('kyrodb.check passes on every chunk index');

$node->stop;
done_testing();
