# The queries file shipped for the Prometheus PostgreSQL exporter
# (exporter/kyrodb-queries.yaml) works with the exporter Debian packages:
# started on it, connected as a role with no privileges of its own, the
# exporter loads the file and scrapes without error, and serves one
# kyrodb_* series per kyro_rmi index and column, labelled with the index's
# database, schema, table and name, typed counter or gauge, whose values
# are what kyrodb.stats() says of that index: counters as they stand at
# the scrape and growing by the lookups run between scrapes, gauges equal
# (NULL as NaN), and following a fold.
#
# The exporter listens on the loopback interface only, on a free port.
# The test is skipped if the exporter is not installed.
#
# KYRODB_SOURCE_DIR, if set, is the repository (the tests may run from a
# copy of test/t elsewhere); else the file is found beside this script.

use strict;
use warnings;

use Config;
use FindBin;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

# Debian's name for the exporter, then upstream's.
my ($exporter_bin) =
  grep { -x $_ }
  map {
	my $dir = $_;
	map { "$dir/$_" } qw(prometheus-postgres-exporter postgres_exporter)
  } split(/$Config{path_sep}/, $ENV{PATH} // ''), '/usr/bin';
plan skip_all => 'prometheus-postgres-exporter is not installed'
  unless defined $exporter_bin;

my $source_dir = $ENV{KYRODB_SOURCE_DIR} // "$FindBin::RealBin/../..";
my $queries = "$source_dir/exporter/kyrodb-queries.yaml";
# a missing file is a failure, not a reason to skip
unless (-f $queries)
{
	fail("the queries file is at $queries (set KYRODB_SOURCE_DIR to the repository)");
	done_testing();
	exit;
}

my $node = kyro_node('exporter', conf => "autovacuum = off\n");

# Two indexes in two schemas, of different sizes, so that a series taking
# another index's values would show.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kyrodb;
CREATE TABLE t (k int8);
INSERT INTO t SELECT (g * 7919) % 100003 FROM generate_series(1, 20000) g;
CREATE INDEX t_k ON t USING kyro_rmi (k);
INSERT INTO t SELECT g FROM generate_series(200000, 200099) g;
SELECT kyrodb.snapshot('t_k');
CREATE SCHEMA other;
CREATE TABLE other.u (k int8);
INSERT INTO other.u SELECT g * g FROM generate_series(1, 3000) g;
CREATE INDEX u_k ON other.u USING kyro_rmi (k);
INSERT INTO other.u VALUES (-1), (-2), (-3);
-- what a monitoring role is: it may log in, nothing more
CREATE ROLE kyro_monitor LOGIN;
});

# Lookups through each index, different numbers of them.
sub run_lookups
{
	my ($count) = @_;
	$node->safe_psql(
		'postgres', qq{
$force_index
SELECT sum((SELECT count(*) FROM t WHERE k = g)) FROM generate_series(1, $count) g;
SELECT sum((SELECT count(*) FROM other.u WHERE k = g * 3)) FROM generate_series(1, $count / 2) g;
});
}
run_lookups(300);

# The exporter, with only our queries besides its own status metrics.
my $port = PostgreSQL::Test::Cluster::get_free_port();
my ($exp_out, $exp_err) = ('', '');
my $exporter;
{
	local $ENV{DATA_SOURCE_NAME} =
	  sprintf('host=%s port=%d user=kyro_monitor dbname=postgres sslmode=disable',
		$node->host, $node->port);
	$exporter = IPC::Run::start(
		[
			$exporter_bin, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries", '--disable-default-metrics',
			'--disable-settings-metrics', '--no-collector.database',
			'--no-collector.bgwriter', '--log.level=info'
		],
		'<', \undef, '>', \$exp_out, '2>', \$exp_err);
}

# Stopped however the test ends.
END
{
	$exporter->kill_kill if defined $exporter && $exporter->pumpable;
}

my $http = HTTP::Tiny->new(timeout => 10);
my $url = "http://127.0.0.1:$port/metrics";

# Wait for the exporter to listen.
my $response;
foreach (1 .. 300)
{
	$response = $http->get($url);
	last if $response->{success};
	last unless $exporter->pumpable;
	$exporter->pump_nb;
	select(undef, undef, undef, 0.1);
}
unless (ok($response->{success}, 'the exporter serves /metrics on the loopback interface'))
{
	diag("exporter did not come up: $response->{status} $response->{reason}\n"
		  . "stdout: $exp_out\nstderr: $exp_err");
	done_testing();
	exit;
}

# The series of a scrape: {name}{key} = [labels, value], keyed by the
# index for ours, by the labels as written for the exporter's own.
sub scrape
{
	my $res = $http->get($url);
	die "scrape failed: $res->{status} $res->{reason}" unless $res->{success};
	my (%series, %types);
	foreach my $line (split /\n/, $res->{content})
	{
		if ($line =~ /^# TYPE (\S+) (\S+)$/)
		{
			$types{$1} = $2;
			next;
		}
		next if $line =~ /^#/ || $line !~ /\S/;
		my ($name, $labels, $value) = $line =~ /^(\w+)(?:\{(.*)\})? (\S+)$/
		  or die "unparsed line: $line";
		my %l = ($labels // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
		my $key = $l{indexrelname} // $labels // '';
		die "two series of $name for index '$key'" if exists $series{$name}{$key};
		$series{$name}{$key} = [ \%l, $value ];
	}
	return (\%series, \%types, $res->{content});
}

# kyrodb.stats() of an index, as column => value.
sub stats_of
{
	my ($index) = @_;
	my @cols = qw(epoch live_items dead_items snapshot_items delta_items area_items
	  delta_limit leaves max_error index_bytes model_bytes file_bytes lookups
	  mispredicts delta_hits folds inline_folds retrains repacks splits split_pages);
	my @vals = split /\|/,
	  $node->safe_psql('postgres',
		'SELECT ' . join(', ', @cols)
		  . ", extract(epoch FROM last_fold), mean_error, last_fold_ms, area_fill"
		  . " FROM kyrodb.stats((SELECT c.oid FROM pg_class c WHERE c.relname = '$index'))");
	my %s;
	@s{ @cols, 'last_fold_timestamp_seconds', 'mean_error', 'last_fold_ms', 'area_fill' } =
	  @vals;
	return \%s;
}

my @indexes = (
	{ index => 't_k', relname => 't', schemaname => 'public' },
	{ index => 'u_k', relname => 'u', schemaname => 'other' });
# kyrodb.stats() of each, by the index's name (stats_of qualifies it)
my @counters = qw(lookups mispredicts delta_hits folds inline_folds retrains repacks splits);
my @exact_gauges = qw(epoch live_items dead_items snapshot_items delta_items area_items
  delta_limit leaves max_error index_bytes model_bytes file_bytes split_pages);
my @float_gauges = qw(mean_error last_fold_timestamp_seconds last_fold_ms area_fill);

my %before = map { $_->{index} => stats_of($_->{index}) } @indexes;
my ($series, $types, $text) = scrape();
my %after = map { $_->{index} => stats_of($_->{index}) } @indexes;
note(join("\n", grep { /^kyrodb_/ } split(/\n/, $text)));

my @load_errors = values %{ $series->{pg_exporter_user_queries_load_error} // {} };
ok(@load_errors && !grep({ $_->[1] != 0 } @load_errors),
	'the queries file loads without error')
  or diag($text);
# (the exporter keeps its connection between scrapes)
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = 'kyro_monitor'}),
	't', 'the exporter is connected as the monitoring role');
is($series->{pg_exporter_last_scrape_error}{''}[1],
	'0', 'the scrape ran without error')
  or diag("stderr: $exp_err");

is($types->{"kyrodb_$_"}, 'counter', "kyrodb_$_ is a counter") foreach @counters;
is($types->{"kyrodb_$_"}, 'gauge', "kyrodb_$_ is a gauge")
  foreach @exact_gauges, @float_gauges;

foreach my $i (@indexes)
{
	my $name = $i->{index};
	my $s = $series->{kyrodb_lookups}{$name};
	ok(defined $s, "a kyrodb_lookups series for $name") or next;
	is_deeply(
		$s->[0],
		{
			datname => 'postgres',
			schemaname => $i->{schemaname},
			relname => $i->{relname},
			indexrelname => $name,
			# the exporter's own label, naming the server it scraped
			(exists $s->[0]{server} ? (server => $s->[0]{server}) : ())
		},
		"$name: labelled with its database, schema, table and index");

	# a counter read at the scrape lies between readings either side of it
	foreach my $c (@counters)
	{
		my $v = $series->{"kyrodb_$c"}{$name}[1];
		ok( defined $v
			  && $v >= $before{$name}{$c}
			  && $v <= $after{$name}{$c},
			"$name: kyrodb_$c "
			  . ($v // 'missing')
			  . " is kyrodb.stats()' $c ($before{$name}{$c} .. $after{$name}{$c})");
	}
	# nothing changes these between the readings
	# (NULL, as last_fold of an index never folded, is exported as NaN)
	foreach my $g (@exact_gauges)
	{
		my $want = $after{$name}{$g};
		is($series->{"kyrodb_$g"}{$name}[1] // 'missing',
			$want eq '' ? 'NaN' : $want, "$name: kyrodb_$g is kyrodb.stats()' $g");
	}
	foreach my $g (@float_gauges)
	{
		my $v = $series->{"kyrodb_$g"}{$name}[1] // 'missing';
		my $want = $after{$name}{$g};
		ok( $want eq ''
			? $v eq 'NaN'
			: $v =~ /^[-+.\deE]+$/ && abs($v - $want) <= 1e-9 * abs($want) + 1e-9,
			"$name: kyrodb_$g $v is kyrodb.stats()' $g ("
			  . ($want eq '' ? 'NULL' : $want) . ')');
	}
}
ok($series->{kyrodb_lookups}{t_k}[1] > 0 && $series->{kyrodb_lookups}{u_k}[1] > 0,
	'both indexes have counted lookups');
is(scalar(keys %{ $series->{kyrodb_lookups} }), 2, 'one series per index');

# More lookups, and a fold of one index: the next scrape follows.
run_lookups(120);
$node->safe_psql('postgres', q{SELECT kyrodb.snapshot('other.u_k')});
my %later = map { $_->{index} => stats_of($_->{index}) } @indexes;
my ($series2) = scrape();
foreach my $i (@indexes)
{
	my $name = $i->{index};
	is( $series2->{kyrodb_lookups}{$name}[1] - $series->{kyrodb_lookups}{$name}[1],
		$later{$name}{lookups} - $after{$name}{lookups},
		"$name: kyrodb_lookups grew by the lookups run between scrapes");
	is($series2->{kyrodb_epoch}{$name}[1], $later{$name}{epoch},
		"$name: kyrodb_epoch follows the index");
	is($series2->{kyrodb_folds}{$name}[1], $later{$name}{folds},
		"$name: kyrodb_folds follows the index");
}
isnt($later{u_k}{epoch}, $after{u_k}{epoch}, 'the fold moved u_k to a new epoch');

$exporter->kill_kill;
$exporter->finish;
undef $exporter;
$node->stop;

done_testing();
