# The extension on a streaming standby and across an immediate restart of
# the primary, with the library preloaded on both servers.

use strict;
use warnings;

use Test::More;
use KyroTest;

# Run a query on both servers and check they answer the same.
sub same_on_both
{
	my ($primary, $standby, $query, $name) = @_;
	my $on_primary = $primary->safe_psql('postgres', $query);
	my $on_standby = $standby->safe_psql('postgres', $query);
	is($on_standby, $on_primary, "$name: standby answers as the primary");
	return $on_primary;
}

# The misspelt setting checks that _PG_init ran in the postmaster: the
# reserved prefix makes the server drop it with a warning.
my $primary = kyro_node(
	'primary',
	allows_streaming => 1,
	conf => "kyrodb.no_such_setting = 1\n");

ok( $primary->log_contains(
		qr/invalid configuration parameter name "kyrodb\.no_such_setting", removing it/
	),
	'preloaded library reserves the kyrodb prefix at startup');

$primary->safe_psql('postgres', 'CREATE EXTENSION kyrodb');
is( $primary->safe_psql(
		'postgres',
		q{SELECT kyrodb.version() = default_version
		  FROM pg_available_extensions WHERE name = 'kyrodb'}),
	't',
	'library version equals the control file version on the primary');

my $standby = kyro_standby($primary, 'standby');

# Something to replay after the backup, so the catch-up is not vacuous.
$primary->safe_psql('postgres',
	q{COMMENT ON EXTENSION kyrodb IS 'replicated comment'});
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'standby is in recovery');
is($standby->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'kyrodb', 'standby preloads the library');

my $version = same_on_both($primary, $standby, 'SELECT kyrodb.version()',
	'kyrodb.version()');
like($version, qr/^\d+\.\d+\.\d+$/, 'version is well formed');
same_on_both(
	$primary, $standby,
	q{SELECT extversion FROM pg_extension WHERE extname = 'kyrodb'},
	'extension version');
is( $standby->safe_psql(
		'postgres', q{SELECT obj_description(oid, 'pg_extension')
		  FROM pg_extension WHERE extname = 'kyrodb'}),
	'replicated comment',
	'change after the base backup replayed on the standby');

# An immediate stop skips the shutdown checkpoint: the extension must come
# back from crash recovery.
$primary->stop('immediate');
$primary->start;
is( $primary->safe_psql(
		'postgres',
		q{SELECT extversion = kyrodb.version()
		  FROM pg_extension WHERE extname = 'kyrodb'}),
	't',
	'extension survives an immediate restart of the primary');

# The standby reconnects and follows the primary's DROP EXTENSION.
$primary->safe_psql('postgres', 'DROP EXTENSION kyrodb');
$primary->wait_for_catchup($standby);
my $gone = q{SELECT
	(SELECT count(*) FROM pg_extension WHERE extname = 'kyrodb'),
	(SELECT count(*) FROM pg_namespace WHERE nspname = 'kyrodb'),
	(SELECT count(*) FROM pg_proc WHERE probin = '$libdir/kyrodb')};
is($primary->safe_psql('postgres', $gone),
	'0|0|0', 'DROP EXTENSION leaves nothing on the primary');
is($standby->safe_psql('postgres', $gone),
	'0|0|0', 'DROP EXTENSION replicated to the standby');

$standby->stop;
$primary->stop;

done_testing();
