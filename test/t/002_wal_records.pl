# KyroDB's own WAL records (preloaded): inserts are logged as "kyrodb"
# records (into a page's insert area, or onto the delta), not generic WAL
# ones, repacks and splits as records of full page images, and the
# metapage's changes as its fields; a standby replays them to the
# primary's pages (wal_consistency_checking = all on both: kyrodb's
# records, generic WAL's and the heap's, so a record that replays to
# another page stops the standby); pg_waldump lists and describes them; and a server that must replay them without the library
# stops with PostgreSQL's documented error, then recovers every row once
# the library is preloaded again.  Without preloading, inserts go on
# through generic WAL (006_no_preload.pl covers those servers).

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $RMGR_ID = 171;    # KYRO_RMGR_ID in src/kyrodb.h
# (the standby replays slowly with every page checked: the primary keeps
# the WAL it has not yet streamed)
my $checks = "wal_consistency_checking = 'all'\nautovacuum = off\n"
  . "wal_keep_size = '1GB'\n";

my $primary = kyro_node('primary', allows_streaming => 1, conf => $checks);
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (id bigserial, k int8);
INSERT INTO t (k) SELECT (g * 7919) % 5000 FROM generate_series(1, 3000) g;
CREATE INDEX t_k_idx ON t USING kyro_rmi (k) WITH (delta_limit = 100000);
});
my $standby = kyro_standby($primary, 'standby');
$standby->append_conf('postgresql.conf', $checks);
$standby->restart;

# KyroDB's record kinds (XLOG_KYRO_* in src/kwal.c), by the number
# pg_waldump prints for a resource manager it cannot load
my %KINDS = (
	'10' => 'DELTA_APPEND',
	'20' => 'AREA_INSERT',
	'30' => 'REPACK',
	'40' => 'SPLIT',
	'50' => 'META',
	'60' => 'REVIVE');

# The lines pg_waldump prints for the primary's records between two LSNs.
sub waldump_lines
{
	my ($from, $to) = @_;
	my ($out, $err);
	IPC::Run::run [
		'pg_waldump', '-p', $primary->data_dir . '/pg_wal', '-s', $from,
		'-e', $to
	  ],
	  '>', \$out, '2>', \$err;
	return split /\n/, $out;
}

# The records pg_waldump lists between two LSNs of the primary: KyroDB's,
# generic WAL's, PostgreSQL's full page images, and KyroDB's by kind.
sub records_between
{
	my @lines = waldump_lines(@_);
	my %kinds = map { $_ => 0 } values %KINDS;
	foreach (@lines)
	{
		$kinds{ $KINDS{$1} // "UNKNOWN $1" }++
		  if /rmgr: custom$RMGR_ID\b.*desc: UNKNOWN \((\w+)\)/;
	}
	return (
		scalar(grep { /rmgr: custom$RMGR_ID\b/ } @lines),
		scalar(grep { /rmgr: Generic\b/ } @lines),
		scalar(grep { /rmgr: XLOG\b.*\bFPI\b/ } @lines),
		\%kinds);
}

# Mismatches between the primary's answers to the queries through the
# index and the standby's, once the standby has replayed all there is.
sub standby_mismatches
{
	my ($label, @q) = @_;
	$primary->wait_for_catchup($standby);
	my @on_primary = answers($primary, 'postgres', $force_index, @q);
	my @on_standby = answers($standby, 'postgres', $force_index, @q);
	return count_mismatches(
		$label, \@q,
		primary => \@on_primary,
		standby => \@on_standby);
}

my @queries = (
	'SELECT count(*), sum(k) FROM t WHERE k BETWEEN 100 AND 900',
	'SELECT k FROM t WHERE k > 4990 ORDER BY k',
	'SELECT k FROM t WHERE k IS NULL OR k < 3 ORDER BY k DESC',
	'SELECT count(*) FROM t WHERE k = 4321');

# Inserts into the pages' areas and the delta: keys inside the snapshot's
# range (areas, repacks, splits), past its end, and NULLs (the delta, with
# kyrodb.page_inserts = off), then a fold and more inserts into the new
# view.
my $lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$primary->safe_psql(
	'postgres', q{
INSERT INTO t (k) SELECT (g * 13) % 6000 FROM generate_series(1, 2000) g;
SET kyrodb.page_inserts = off;
INSERT INTO t (k) SELECT NULL FROM generate_series(1, 50);
RESET kyrodb.page_inserts;
SELECT kyrodb.snapshot('t_k_idx');
INSERT INTO t (k) SELECT 10000 + g FROM generate_series(1, 1500) g;
DELETE FROM t WHERE k % 11 = 0;
VACUUM t;
});
my $lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$primary->wait_for_catchup($standby);

compare_with_seqscan($primary, 'postgres', 'primary after inserts', @queries);
is(standby_mismatches('standby', @queries), 0, 'the standby answers as the primary');
replayed_cleanly($standby);

# pg_waldump: a kyrodb record per insert into an area or the delta (but
# the few that start a new delta page, which change the metapage too, and
# those that repack their page).
my ($ours, $generic, undef, $kinds) = records_between($lsn_before, $lsn_after);
cmp_ok($ours, '>=', 3500,
	"pg_waldump lists the inserts as records of resource manager $RMGR_ID");
cmp_ok($generic, '<', $ours / 20,
	'inserts no longer write generic WAL records (only folds and new pages do)');
cmp_ok($kinds->{AREA_INSERT}, '>', 0, "$kinds->{AREA_INSERT} inserts into pages' areas");
cmp_ok($kinds->{DELTA_APPEND}, '>', 0, "$kinds->{DELTA_APPEND} appends to the delta");
# the fold (its chain, its switch) and VACUUM (the vacuum generation)
cmp_ok($kinds->{META}, '>=', 3, "$kinds->{META} changes to the metapage's fields");
is(join(',', grep { /^UNKNOWN/ } sort keys %$kinds), '', 'no record of a kind not known');

# The library's own description of a record, as a backend sees it
# (pg_walinspect: a contrib module of 15 and later, where it is built).
SKIP:
{
	skip 'pg_walinspect is not installed', 2
	  unless extension_available($primary, 'pg_walinspect');
	$primary->safe_psql('postgres', 'CREATE EXTENSION pg_walinspect');
	my $described = $primary->safe_psql(
		'postgres',
		qq{SELECT string_agg(d, E'\\n') FROM (
			SELECT DISTINCT ON (record_type)
				resource_manager || ' ' || record_type || ' ' || description AS d
			FROM pg_get_wal_records_info('$lsn_before', '$lsn_after')
			WHERE resource_manager = 'kyrodb'
			  AND (description LIKE 'key %' OR record_type = 'META')
			ORDER BY record_type, start_lsn) r});
	like(
		$described,
		qr/kyrodb AREA_INSERT key \d+ tid \(\d+,\d+\)/,
		"a backend describes the records: an insert into a page's area");
	like(
		$described,
		qr/kyrodb DELTA_APPEND key (?:\d+|NULL) tid \(\d+,\d+\)/,
		'and an append to the delta (NULL keys)');
	like(
		$described,
		qr/kyrodb META (?:epoch \d+, directory \d+ pages, key pages \d+, vacuum generation \d+|fields in the page image)/,
		'and a change to the metapage');
}

# Repacks: random keys fill the pages' areas, and inserts repack the
# pages in place, each logged as a REPACK record of the page's image,
# which the standby replays and checks like any other.
$primary->safe_psql(
	'postgres', q{
CREATE TABLE r (k int8);
SELECT setseed(0.5);
INSERT INTO r SELECT (random() * 1e12)::int8 FROM generate_series(1, 20000);
CREATE INDEX r_k_idx ON r USING kyro_rmi (k) WITH (delta_limit = 100000);
});
$lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$primary->safe_psql('postgres',
	'INSERT INTO r SELECT (random() * 1e12)::int8 FROM generate_series(1, 3000)');
$lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my @repack_queries = (
	'SELECT count(*), sum(k) FROM r WHERE k BETWEEN 1e11 AND 4e11',
	'SELECT k FROM r WHERE k > 999000000000 ORDER BY k DESC');
compare_with_seqscan($primary, 'postgres', 'primary after repacks',
	@repack_queries);
my (undef, undef, $images);
(undef, undef, $images, $kinds) = records_between($lsn_before, $lsn_after);
cmp_ok(
	$primary->safe_psql('postgres',
		"SELECT snapshot_items FROM kyrodb.stats('r_k_idx')"),
	'>', 20000,
	'the repacked pages hold more packed entries than the build wrote');
my ($repacks, $splits) = split /\|/,
  $primary->safe_psql('postgres', "SELECT repacks, splits FROM kyrodb.stats('r_k_idx')");
cmp_ok($repacks, '>', 0, 'kyrodb.stats counts the repacks');
is($kinds->{REPACK}, $repacks, "each of the $repacks repacks is a REPACK record");
is($kinds->{SPLIT}, $splits, "each of the $splits splits is a SPLIT record");
is($images, 0, 'and none a core full page image record');
is(standby_mismatches('standby after repacks', @repack_queries), 0, 'the standby answers as the primary after repacks');
replayed_cleanly($standby);
is($standby->safe_psql('postgres', "SELECT kyrodb.check('r_k_idx')"),
	't', 'kyrodb.check passes on the standby');

# Splits: more inserts than the pages hold split them (some split already
# above), each split one SPLIT record of two full page images; then a fold publishes the
# split pages.  The standby replays both (wal_consistency_checking).
my $splits_before = $splits;
$lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$primary->safe_psql('postgres',
	'INSERT INTO r SELECT (random() * 1e12)::int8 FROM generate_series(1, 20000)');
$lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
(undef, undef, $images, $kinds) = records_between($lsn_before, $lsn_after);
$splits = $primary->safe_psql('postgres', "SELECT splits FROM kyrodb.stats('r_k_idx')")
  - $splits_before;
cmp_ok($splits, '>', 0, "$splits more pages split");
is($kinds->{SPLIT}, $splits, "each a SPLIT record");
is($images, 0, 'and none a core full page image record');
is( $primary->safe_psql(
		'postgres',
		"SELECT splits > 0 AND split_pages > 0 AND delta_items = 0 FROM kyrodb.stats('r_k_idx')"),
	't',
	'inserts into full pages split them, and none goes to the delta');
is(standby_mismatches('standby after splits', @repack_queries), 0, 'the standby answers as the primary after splits');
is($standby->safe_psql('postgres', "SELECT kyrodb.check('r_k_idx')"),
	't', 'kyrodb.check follows the right-links on the standby');
$primary->safe_psql('postgres', "SELECT kyrodb.snapshot('r_k_idx')");
is($primary->safe_psql('postgres', "SELECT split_pages FROM kyrodb.stats('r_k_idx')"),
	'0', 'a fold publishes the split pages');
is(standby_mismatches('standby after publishing', @repack_queries), 0, 'the standby answers as the primary after the splits are published');
replayed_cleanly($standby);

# A revival: a heap TID that VACUUM freed, taken again by the same key,
# clears the dead entry's flag (packed: the metapage's estimate of dead
# entries stays), one REVIVE record of the page alone, which the standby
# replays.
# The table's NULLs are on a NULL page, which takes NULL inserts later.
$primary->safe_psql(
	'postgres', q{
CREATE TABLE v (k int8) WITH (autovacuum_enabled = off);
INSERT INTO v SELECT CASE WHEN g % 4 = 0 THEN NULL ELSE g % 10 END
FROM generate_series(1, 200) g;
CREATE INDEX v_k_idx ON v USING kyro_rmi (k);
DELETE FROM v WHERE ctid = '(0,5)';
VACUUM v;
});
$lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
is($primary->safe_psql('postgres', "INSERT INTO v VALUES (5) RETURNING ctid = '(0,5)'"),
	't', 'the freed TID is taken again by the same key');
$lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
(undef, undef, undef, $kinds) = records_between($lsn_before, $lsn_after);
is($kinds->{REVIVE}, 1, 'the insert is one REVIVE record');
my ($revive_line) = grep { /desc: UNKNOWN \(60\)/ } waldump_lines($lsn_before, $lsn_after);
unlike($revive_line // '', qr/blkref #1|blk 0\b/, 'of the page alone, not the metapage');
is( $primary->safe_psql(
		'postgres', "SELECT dead_items, delta_items FROM kyrodb.stats('v_k_idx')"),
	'0|0',
	'the dead entry is live again, and nothing went to the delta');
my @revive_queries = ('SELECT k, ctid FROM v WHERE k = 5 ORDER BY ctid');
compare_with_seqscan($primary, 'postgres', 'primary after a revival', @revive_queries);
is(standby_mismatches('standby after a revival', @revive_queries), 0, 'the standby answers as the primary after a revival');
is($standby->safe_psql('postgres', "SELECT kyrodb.check('v_k_idx')"),
	't', 'kyrodb.check passes on the standby after a revival');

# and a dead area entry: revived where it is, a REVIVE record of its page
# alone (the metapage's count is of packed entries)
my $area_tid = $primary->safe_psql('postgres', 'INSERT INTO v VALUES (7) RETURNING ctid');
$primary->safe_psql('postgres', 'DELETE FROM v WHERE k = 7 AND ctid = ' . "'$area_tid'");
$primary->safe_psql('postgres', 'VACUUM v');
$lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
is($primary->safe_psql('postgres', "INSERT INTO v VALUES (7) RETURNING ctid = '$area_tid'"),
	't', 'a freed TID of an area entry is taken again by the same key');
$lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
(undef, undef, undef, $kinds) = records_between($lsn_before, $lsn_after);
is($kinds->{REVIVE}, 1, 'the insert is one REVIVE record');
is($kinds->{AREA_INSERT}, 0, 'not an insert into the area');
push @revive_queries, 'SELECT k, ctid FROM v WHERE k = 7 ORDER BY ctid';
is(standby_mismatches('standby after an area revival', @revive_queries), 0, 'the standby answers as the primary after an area revival');

# NULL pages take inserts as pages of keys do: their areas, repacks, then
# splits (AREA_INSERT, REPACK and SPLIT records; new rows' TIDs on a line
# pack in a few bits each, so it takes many), none to the delta; the
# standby follows their right-links.
$lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$primary->safe_psql('postgres',
	'INSERT INTO v SELECT NULL FROM generate_series(1, 40000)');
$lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
(undef, undef, undef, $kinds) = records_between($lsn_before, $lsn_after);
cmp_ok($kinds->{SPLIT}, '>', 0, "the NULL pages split ($kinds->{SPLIT} SPLIT records)");
is($kinds->{DELTA_APPEND}, 0, 'and no NULL went to the delta');
push @revive_queries, 'SELECT count(*) FROM v WHERE k IS NULL',
  'SELECT k, ctid FROM v WHERE k IS NULL OR k > 8 ORDER BY k DESC, ctid DESC';
compare_with_seqscan($primary, 'postgres', 'primary after NULL inserts', @revive_queries);
is(standby_mismatches('standby after NULL inserts', @revive_queries), 0, 'the standby answers as the primary after NULL pages split');
is($standby->safe_psql('postgres', "SELECT kyrodb.check('v_k_idx')"),
	't', 'kyrodb.check follows the NULL pages\' right-links on the standby');
replayed_cleanly($standby);

# kyrodb.wal_records = off: generic WAL again, which the standby replays
# as well.
$primary->safe_psql('postgres',
	'ALTER SYSTEM SET kyrodb.wal_records = off; SELECT pg_reload_conf()');
$primary->poll_query_until('postgres', 'SHOW kyrodb.wal_records', 'off');
$lsn_before = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $changes_before = $primary->safe_psql('postgres',
	"SELECT repacks + splits FROM kyrodb.stats('r_k_idx')");
$primary->safe_psql(
	'postgres', q{
INSERT INTO t (k) SELECT (g * 31) % 7000 FROM generate_series(1, 300) g;
INSERT INTO r SELECT (random() * 1e12)::int8 FROM generate_series(1, 4000);
});
$lsn_after = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
($ours, undef, $images) = records_between($lsn_before, $lsn_after);
is($ours, 0, 'with kyrodb.wal_records off, inserts write no kyrodb records');
cmp_ok($primary->safe_psql('postgres', "SELECT repacks + splits FROM kyrodb.stats('r_k_idx')"),
	'>', $changes_before, 'pages repacked or split meanwhile');
cmp_ok($images, '>', 0,
	'and their splits and repacks are core full page image records, which replay anywhere');
$primary->safe_psql('postgres',
	'ALTER SYSTEM RESET kyrodb.wal_records; SELECT pg_reload_conf()');
$primary->poll_query_until('postgres', 'SHOW kyrodb.wal_records', 'on');
$primary->wait_for_catchup($standby);
my @all_queries = (@queries, @repack_queries);
is(standby_mismatches('standby after generic records', @all_queries), 0, 'the standby answers as the primary after generic records');

# A crash with inserts not yet checkpointed, then a start without the
# library: replay needs the resource manager, so the server stops.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql('postgres',
	'INSERT INTO t (k) SELECT 20000 + g FROM generate_series(1, 500) g');
my @before_crash = answers($primary, 'postgres', $force_seqscan, @queries);
$primary->stop('immediate');
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = ''\nwal_consistency_checking = 'generic'\n");
my $log_offset = -s $primary->logfile;
ok(!$primary->start(fail_ok => 1), 'recovery without the library fails');
ok( $primary->log_contains(
		"resource manager with ID $RMGR_ID not registered", $log_offset),
	'with the documented error');
ok( $primary->log_contains(
		'Include the extension module that implements this resource manager in "?shared_preload_libraries"?',
		$log_offset),
	'and its hint (18 quotes the setting)');

# Preloaded again, recovery replays every record.
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'kyrodb'\n$checks");
$primary->start;
my @after_crash = answers($primary, 'postgres', $force_index, @queries);
is( count_mismatches(
		'after recovery', \@queries,
		'before the crash' => \@before_crash,
		'index after recovery' => \@after_crash),
	0,
	'after recovery the index answers as the sequential scan did before the crash');
is($primary->safe_psql('postgres', "SELECT kyrodb.check('t_k_idx', true)"),
	't', 'kyrodb.check passes after recovery');

$standby->stop;
$primary->stop;
done_testing();
