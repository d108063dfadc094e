# Bytes flipped in a kyro_rmi index's pages (metapage, directory, snapshot,
# model and delta pages; content, special space, a count past any bound):
# every statement that meets the damage (scans of each kind, kyrodb.check,
# insert, delete and VACUUM, a fold) ends in a result or an error, never in
# a crash or a spin that only statement_timeout ends.  An older format
# version is refused with a hint to REINDEX; restored, the index answers as
# a sequential scan does.  Each round restores the whole data directory (the
# battery changes the table too).  No data checksums, so our reader meets
# the damage; no model files, so the model is read from its pages.

use strict;
use warnings;

use File::Path qw(rmtree);
use List::Util qw(sum0);
use Time::HiRes qw(time);
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

# Page layout: 8 KB pages, content after the 24-byte header, and our special
# space in the last 24 bytes: deleted_xid, tag, count, next, flags, page_id.
my ($BLCKSZ, $CONTENT) = (8192, 24);
my $SPECIAL = $BLCKSZ - 24;
my ($TAG, $COUNT, $NEXT, $FLAGS) =
  ($SPECIAL + 8, $SPECIAL + 12, $SPECIAL + 16, $SPECIAL + 20);
my %kind_name = (0x01 => 'metapage', 0x02 => 'directory', 0x04 => 'snapshot',
	0x08 => 'model', 0x10 => 'delta');

my $node = kyro_node(
	'damage', conf => q{
# nothing folds or vacuums behind the test's back
kyrodb.worker = off
autovacuum = off
kyrodb.model_files = off
# a spin ends as this error, which fails the round
statement_timeout = '20s'
});

# Dense keys, sparse ones, a cluster of duplicates, wide keys of both signs,
# NULLs; snapshotted with its model, then inserts into the pages' areas
# (the damage lands in areas too: they fill the pages' ends), that split
# the pages of dense keys (pages with right-links), and, once
# kyrodb.page_inserts = off sends inserts there, a delta chain.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8, v int8);
INSERT INTO t SELECT CASE WHEN g % 97 = 0 THEN NULL
						  WHEN g <= 30000 THEN g
						  WHEN g <= 45000 THEN 1000000 + (g - 30000) * 1000
						  WHEN g <= 52000 THEN 500000 + g % 40
						  ELSE (g - 52000) * 1000000007 - 4000000000000 END, g
	FROM generate_series(1::int8, 60000) g;
CREATE INDEX idx ON t USING kyro_rmi (k);
SELECT kyrodb.snapshot('idx');
INSERT INTO t SELECT CASE WHEN g % 50 = 0 THEN NULL ELSE (g * 7919) % 2000000 END, -g
	FROM generate_series(1::int8, 3000) g;
SET kyrodb.page_inserts = off;
INSERT INTO t SELECT CASE WHEN g % 50 = 0 THEN NULL ELSE (g * 7919) % 2000000 END, -g
	FROM generate_series(3001::int8, 3300) g;
VACUUM t;
});
my ($snapshot_items, $area_items, $delta_items, $split_pages) = split /\|/,
  $node->safe_psql('postgres',
	q{SELECT snapshot_items, area_items, delta_items, split_pages FROM kyrodb.stats('idx')});
ok($snapshot_items > 0 && $area_items > 0 && $delta_items > 0 && $split_pages > 0,
	"a snapshot ($snapshot_items entries packed, $area_items in insert areas, $split_pages pages split off) and a delta ($delta_items entries)");
my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('idx')});

# The battery: each statement in its own session.
my @battery = (
	[ 'point, dense', "$force_index SELECT count(*) FROM t WHERE k = 12345" ],
	[ 'point, duplicates', "$force_index SELECT count(*) FROM t WHERE k = 500007" ],
	[ 'point, in a gap', "$force_index SELECT count(*) FROM t WHERE k = 1000500" ],
	[ 'range', "$force_index SELECT count(*), sum(v) FROM t WHERE k BETWEEN 29000 AND 1020000" ],
	[ '= ANY', "$force_index SELECT count(*) FROM t WHERE k = ANY('{5,777,500010,1001000,-7}')" ],
	[ 'ORDER BY k DESC', "$force_index SELECT k FROM t WHERE k < 3000000 ORDER BY k DESC LIMIT 10" ],
	[ 'index-only', "$force_index SELECT k FROM t WHERE k > 40000 ORDER BY k LIMIT 50" ],
	[ 'bitmap', "$force_bitmap SELECT count(*) FROM t WHERE k BETWEEN 100 AND 200000" ],
	[ 'IS NULL', "$force_index SELECT count(*) FROM t WHERE k IS NULL" ],
	[ 'check', q{SELECT kyrodb.check('idx')} ],
	[ 'check heapallindexed', q{SELECT kyrodb.check('idx', true)} ],
	[ 'insert', 'SET kyrodb.page_inserts = off; INSERT INTO t SELECT g * 13, g FROM generate_series(1, 5) g' ],
	[ 'delete', 'DELETE FROM t WHERE k BETWEEN 20000 AND 20004' ],
	[ 'vacuum', 'VACUUM t' ],
	[ 'fold', q{SELECT kyrodb.snapshot('idx')} ]);

foreach my $b (@battery[0 .. 8])
{
	my ($name, $sql) = @$b;
	my ($settings, $query) = $sql =~ /^((?:SET [^;]*;\s*)*)(.*)$/;
	like($node->safe_psql('postgres', "$settings EXPLAIN (COSTS OFF) $query"),
		qr/(Index|Index Only|Bitmap Index) Scan (Backward )?(using|on) idx/,
		"the $name query uses the index");
}

# Run one statement in its own session: its outcome (returned, error,
# timeout, hung, lost), how long it took, and its first line of stderr.
sub run_statement
{
	my ($sql) = @_;
	my $hung = 0;
	my $start = time();
	my ($ret, $out, $err) =
	  $node->psql('postgres', $sql, timeout => 60, timed_out => \$hung);
	my $secs = time() - $start;
	# the error, past any WARNING before it
	my ($first) = $err =~ /(?:ERROR|FATAL):\s+(.*)/;
	($first) = split /\n/, $err unless defined $first;
	$first //= '';
	my $outcome =
	    $hung ? 'hung'
	  : $err =~ /canceling statement due to statement timeout/ ? 'timeout'
	  : $err =~ /server closed the connection|connection to server .* failed|no connection/
	  ? 'lost'
	  : $ret == 0 ? 'returned'
	  : 'error';
	return ($outcome, $secs, $first);
}

# The pristine data directory, taken from a clean stop.
$node->stop;
my $pristine = $node->basedir . '/pristine';
system_or_bail('cp', '-a', $node->data_dir, $pristine);

sub restore
{
	$node->stop('immediate', fail_ok => 1);    # down already after a crash
	rmtree($node->data_dir);
	system_or_bail('cp', '-a', $pristine, $node->data_dir);
}

# Overwrite bytes of the index file at the given offsets.
sub write_bytes
{
	my ($at, %bytes) = @_;
	open(my $fh, '+<:raw', $file) or die "could not open $file: $!";
	foreach my $offset (keys %bytes)
	{
		seek($fh, $at + $offset, 0) or die "could not seek in $file: $!";
		print $fh $bytes{$offset};
	}
	close($fh) or die "could not write $file: $!";
}

# The pages of each kind in use (deleted pages and pages not ours left out).
my $index = slurp_file($file);
my %pages;
foreach my $blkno (0 .. length($index) / $BLCKSZ - 1)
{
	my $page = substr($index, $blkno * $BLCKSZ, $BLCKSZ);
	my ($flags, $page_id) = unpack('vv', substr($page, $FLAGS, 4));
	next if $page_id != 0xFF87 || $flags & 0x100;
	push @{ $pages{ $flags & 0x1F } }, $blkno;
}
my @kinds = sort { $a <=> $b } grep { $kind_name{$_} } keys %pages;
note('pages in use: '
	  . join(', ', map { "$kind_name{$_} " . scalar(@{ $pages{$_} }) } @kinds));
is(scalar(@kinds), 5, 'the index has pages of every kind');

# The rounds, drawn from a fixed seed: each kind in turn, a page of it, its
# first round setting the page's count past any bound, every third with one
# of the bytes in the special space (past deleted_xid, which only deleted
# pages use).  Bytes land where the page holds
# something (up to its last non-zero byte): the metapage's fields, a
# partly filled page's entries.
srand(90092);
foreach my $round (1 .. 30)
{
	my $kind = $kinds[ ($round - 1) % @kinds ];
	my $nth = int(($round - 1) / @kinds);
	my $blkno = $pages{$kind}[ int(rand(@{ $pages{$kind} })) ];
	my $content = substr($index, $blkno * $BLCKSZ + $CONTENT, $SPECIAL - $CONTENT);
	(my $used = $content) =~ s/\0+$//;
	my $span = length($used) || length($content);
	my (%bytes, $how);
	if ($nth == 0)
	{
		%bytes = ($COUNT => pack('V', 0xFFFFFFF0));
		$how = 'count set to 0xFFFFFFF0';
	}
	else
	{
		my $n = 1 + int(rand(8));
		foreach my $i (1 .. $n)
		{
			my $offset =
			  ($i == 1 && $nth % 3 == 2)
			  ? $TAG + int(rand($BLCKSZ - $TAG))
			  : $CONTENT + int(rand($span));
			my $old = ord(substr($index, $blkno * $BLCKSZ + $offset, 1));
			$bytes{$offset} = chr($old ^ (1 + int(rand(255))));
		}
		$how = scalar(keys %bytes) . (keys %bytes > 1 ? ' bytes' : ' byte') . ' flipped'
		  . ($nth % 3 == 2 ? ', one in the special space' : '');
	}
	my $label = "round $round ($kind_name{$kind} block $blkno, $how)";

	restore();
	write_bytes($blkno * $BLCKSZ, %bytes);
	my $log_offset = -s $node->logfile;
	$node->start;

	my (%outcomes, %errors, @failures);
	my ($slowest, $slowest_name) = (0, '');
	foreach my $b (@battery)
	{
		my ($name, $sql) = @$b;
		my ($outcome, $secs, $first) = run_statement($sql);
		$outcomes{$outcome}++;
		$errors{$first}++ if $outcome eq 'error';
		($slowest, $slowest_name) = ($secs, $name) if $secs > $slowest;
		next if $outcome eq 'returned' || $outcome eq 'error';
		push @failures, sprintf('%s: %s after %.1f s (%s)', $name, $outcome, $secs, $first);
		# a spin costs the timeout each time: one is enough to fail the round
		last;
	}
	my ($up) = run_statement('SELECT 1');
	my $log = slurp_file($node->logfile, $log_offset);
	push @failures, "SELECT 1 afterwards: $up" if $up ne 'returned';
	push @failures, map { "log: $_" }
	  $log =~ /^.*(?:terminated by signal|server process .* was terminated|PANIC|TRAP).*$/mg;

	my $not_run = @battery - sum0(values %outcomes);
	note(sprintf('%s: %d returned, %d errored%s, slowest %.2f s (%s)%s',
			$label, $outcomes{returned} // 0, $outcomes{error} // 0,
			$not_run ? ", $not_run not run" : '', $slowest, $slowest_name,
			join('', map { "; $_ (x$errors{$_})" } sort keys %errors)));
	ok(!@failures, "$label: every statement ended within 20 s, server up")
	  or diag(join("\n", @failures));
}

# Damaged right-links (DESIGN.md, "Splits"): a page split off another that
# links back to it (a cycle of two), a page linking to itself, and a link
# past the end of the index.  Each ends in an error, never a loop, and
# kyrodb.check reports the damage.
my %next_of;
foreach my $blkno (@{ $pages{0x04} })
{
	my $next = unpack('V', substr($index, $blkno * $BLCKSZ + $NEXT, 4));
	$next_of{$blkno} = $next if $next != 0xFFFFFFFF;
}
my ($left) = sort { $a <=> $b } keys %next_of;
my $right = $next_of{$left};
ok(defined $right, "a split page: block $left links to block $right");
my $nblocks = length($index) / $BLCKSZ;
foreach my $damage (
	[ "block $right links back to block $left", $right, $left ],
	[ "block $left links to itself", $left, $left ],
	[ "block $left links past the end of the index", $left, $nblocks + 100 ])
{
	my ($what, $blkno, $to) = @$damage;
	restore();
	write_bytes($blkno * $BLCKSZ, $NEXT => pack('V', $to));
	$node->start;
	my @failures;
	foreach my $b (@battery)
	{
		my ($name, $sql) = @$b;
		my ($outcome, $secs, $first) = run_statement($sql);
		push @failures, sprintf('%s: %s after %.1f s (%s)', $name, $outcome, $secs, $first)
		  if $outcome ne 'returned' && $outcome ne 'error';
	}
	my ($outcome, undef, $first) = run_statement(q{SELECT kyrodb.check('idx')});
	ok(!@failures, "right-link damage, $what: every statement ended, server up")
	  or diag(join("\n", @failures));
	like("$outcome: $first", qr/^error: index "idx" is corrupted/,
		"right-link damage, $what: kyrodb.check reports it");
}

# A metapage of an older format version: refused, with a hint to REINDEX.
# (Format version 2 refuses version 1; under version 1, 0 stands in.)
my $version = unpack('V', substr($index, $CONTENT + 4, 4));
my $older = $version >= 2 ? 1 : 0;
restore();
write_bytes(0, $CONTENT + 4 => pack('V', $older));
$node->start;
my ($ret, $out, $err) =
  $node->psql('postgres', "$force_index SELECT count(*) FROM t WHERE k = 12345");
note("format version $older under version $version: $err");
ok($ret != 0 && $err =~ /REINDEX/,
	"a metapage of format version $older (the library's is $version): an error hinting REINDEX");

# The pristine index answers as a sequential scan does.
restore();
$node->start;
compare_with_seqscan(
	$node, 'postgres',
	'restored, the index answers as a sequential scan does',
	'SELECT k FROM t WHERE k IS NOT NULL ORDER BY k',
	'SELECT count(*) FROM t WHERE k IS NULL',
	'SELECT count(*), sum(v) FROM t WHERE k BETWEEN 29000 AND 1020000');
is($node->safe_psql('postgres', q{SELECT kyrodb.check('idx', true)}),
	't', 'restored, kyrodb.check with heapallindexed passes');

$node->stop;
done_testing();
