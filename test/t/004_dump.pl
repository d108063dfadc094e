# pg_dump and restore of a database with kyro_rmi indexes on int4, int8
# and timestamptz keys, one of them with index options: restored with
# pg_restore from a custom-format dump and with psql from a plain one, each
# index exists with the same definition, passes kyrodb.check with
# heapallindexed, and answers every query as the original index does (and
# as a sequential scan of the restored table does).

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

# timestamptz answers alike whatever the server's time zone
my $settings = q{SET timezone = 'UTC';};
my $by_index = "$settings $force_index";
my $by_seqscan = "$settings $force_seqscan";

my $node = kyro_node('dump');

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', q{
CREATE EXTENSION kyrodb;
SELECT setseed(0.42);

CREATE TABLE ti4 (id serial, k int4);
INSERT INTO ti4 (k)
	SELECT CASE WHEN g % 50 = 0 THEN NULL ELSE (random() * 20000)::int4 - 10000 END
	FROM generate_series(1, 3000) g;
CREATE INDEX ti4_k_idx ON ti4 USING kyro_rmi (k);

CREATE TABLE ti8 (id serial, k int8);
INSERT INTO ti8 (k)
	SELECT CASE WHEN g % 40 = 0 THEN NULL
				WHEN g % 3 = 0 THEN g % 17
				ELSE (random() * 1e18)::int8 * (1 - 2 * (g % 2)) END
	FROM generate_series(1, 3000) g;
CREATE INDEX ti8_k_idx ON ti8 USING kyro_rmi (k) WITH (delta_limit = 100, target_error = 4);

CREATE TABLE tts (id serial, k timestamptz);
INSERT INTO tts (k)
	SELECT CASE WHEN g % 30 = 0 THEN NULL
				ELSE timestamptz '2024-01-01 00:00:00+00' + (g % 1000) * interval '37 minutes'
					 + (random() * 1000)::int * interval '1 second' END
	FROM generate_series(1, 3000) g;
CREATE INDEX tts_k_idx ON tts USING kyro_rmi (k) WITH (delta_limit = 64);

-- folds, deletes, a VACUUM, and rows left in the deltas at dump time
INSERT INTO ti8 (k) SELECT g * 1000 FROM generate_series(1, 250) g;
DELETE FROM ti8 WHERE id % 7 = 0;
DELETE FROM ti4 WHERE k BETWEEN 0 AND 500;
VACUUM ti4, ti8;
SELECT kyrodb.snapshot('ti4_k_idx');
INSERT INTO ti4 (k) VALUES (1), (1), (NULL), (2147483647), (-2147483648);
INSERT INTO ti8 (k) VALUES (9223372036854775807), (-9223372036854775808), (NULL), (5);
INSERT INTO tts (k) SELECT timestamptz '2030-06-01 12:00:00+00' + g * interval '1 day'
	FROM generate_series(1, 80) g;
});

my @indexes = qw(ti4_k_idx ti8_k_idx tts_k_idx);
my $indexdefs =
  q{SELECT tablename, indexname, indexdef FROM pg_indexes
	WHERE indexname LIKE '%_k_idx' ORDER BY indexname};
my $src_defs = $node->safe_psql('src', $indexdefs);
like($src_defs, qr/ti8_k_idx ON public\.ti8 USING kyro_rmi \(k\) WITH \(delta_limit='?100'?, target_error='?4'?\)/,
	'the source index with options is defined as created');

# The queries compared, with literals of each key type.
srand(4004);
my @queries;
foreach my $i (1 .. 8)
{
	my $a4 = int(rand(20000)) - 10000;
	my $a8 = $i % 2 ? int(rand(17)) : int(rand(2e18)) - 1e18;
	my $ts = sprintf("timestamptz '2024-01-%02d %02d:%02d:00+00'",
		1 + int(rand(26)), int(rand(24)), int(rand(60)));
	push @queries,
	  "SELECT id, k FROM ti4 WHERE k = $a4 ORDER BY id",
	  "SELECT id, k FROM ti4 WHERE k BETWEEN $a4 AND $a4 + 300 ORDER BY id",
	  "SELECT k FROM ti4 WHERE k > $a4 ORDER BY k LIMIT 15",
	  "SELECT k FROM ti4 WHERE k < $a4 ORDER BY k DESC LIMIT 15",
	  "SELECT id, k FROM ti8 WHERE k = $a8 ORDER BY id",
	  "SELECT count(*), sum(k) FROM ti8 WHERE k >= $a8",
	  "SELECT k FROM ti8 WHERE k <= $a8 ORDER BY k DESC LIMIT 15",
	  "SELECT id, k FROM tts WHERE k = $ts ORDER BY id",
	  "SELECT id, k FROM tts WHERE k >= $ts AND k < $ts + interval '3 hours' ORDER BY id",
	  "SELECT k FROM tts WHERE k > $ts ORDER BY k LIMIT 15",
	  "SELECT k FROM tts WHERE k <= $ts ORDER BY k DESC LIMIT 15";
}
foreach my $t (qw(ti4 ti8 tts))
{
	push @queries,
	  "SELECT count(*) FROM $t WHERE k IS NULL",
	  "SELECT count(*) FROM $t WHERE k IS NOT NULL",
	  "SELECT min(k), max(k) FROM $t",
	  "SELECT k FROM $t ORDER BY k DESC LIMIT 5",
	  "SELECT k, id FROM $t WHERE k IS NOT NULL ORDER BY k, id";
}

my @original = answers($node, 'src', $by_index, @queries);
my @original_seq = answers($node, 'src', $by_seqscan, @queries);
is_deeply(\@original, \@original_seq,
	'original indexes answer as sequential scans do');
my $nonempty = grep { $_ ne '' } @original;
cmp_ok($nonempty, '>', @queries / 2,
	"most queries find rows ($nonempty of " . scalar(@queries) . ')');
note "index definitions:\n$src_defs";

# The forced plans use the kyro_rmi indexes.
foreach my $t (qw(ti4 ti8 tts))
{
	like(
		$node->safe_psql(
			'src',
			"$by_index EXPLAIN (COSTS OFF) SELECT k FROM $t WHERE k IS NOT NULL ORDER BY k DESC LIMIT 3"
		),
		qr/Index (Only )?Scan Backward using ${t}_k_idx/,
		"forced plan on $t uses its kyro_rmi index");
}

my $dumpdir = PostgreSQL::Test::Utils::tempdir;
$node->command_ok(
	[ 'pg_dump', '-Fc', '-f', "$dumpdir/src.dump", '-d', 'src' ],
	'pg_dump in custom format');
$node->command_ok(
	[ 'pg_dump', '-Fp', '-f', "$dumpdir/src.sql", '-d', 'src' ],
	'pg_dump in plain format');

$node->safe_psql('postgres', 'CREATE DATABASE restored_custom');
$node->command_ok(
	[
		'pg_restore', '--exit-on-error', '-d', 'restored_custom',
		"$dumpdir/src.dump"
	],
	'pg_restore into a new database');

$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
$node->command_ok(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'restored_plain',
		'-f', "$dumpdir/src.sql"
	],
	'psql restores the plain dump into a new database');

foreach my $db (qw(restored_custom restored_plain))
{
	is($node->safe_psql($db, $indexdefs),
		$src_defs, "$db: indexes restored with the same definitions");
	foreach my $idx (@indexes)
	{
		is($node->safe_psql($db, "SELECT kyrodb.check('$idx', true)"),
			't', "$db: kyrodb.check('$idx', true)");
	}

	my @restored = answers($node, $db, $by_index, @queries);
	my @restored_seq = answers($node, $db, $by_seqscan, @queries);
	is( count_mismatches(
			$db, \@queries,
			original => \@original,
			'restored index' => \@restored,
			'restored seqscan' => \@restored_seq),
		0,
		"$db: " . scalar(@queries)
		  . ' queries: restored index = original index = restored seq scan');

	# the restored indexes take inserts and folds
	$node->safe_psql(
		$db, q{
INSERT INTO ti8 (k) SELECT g FROM generate_series(1, 300) g;
SELECT kyrodb.snapshot('ti4_k_idx');
});
	is($node->safe_psql($db, q{SELECT kyrodb.check('ti8_k_idx', true)}),
		't', "$db: restored index with options folds on its own and checks");
	my ($i8, $s8) = (
		answers(
			$node, $db, $by_index,
			'SELECT k, id FROM ti8 WHERE k IS NOT NULL ORDER BY k, id'),
		answers(
			$node, $db, $by_seqscan,
			'SELECT k, id FROM ti8 WHERE k IS NOT NULL ORDER BY k, id'));
	is($i8, $s8, "$db: after more inserts, index answers = seq scan answers");
}

$node->stop;

done_testing();
