# KyroTest::Differential::Writes: the scripts of random writes that the
# differential test runs on a table between its batches of queries:
# batches and single rows of inserts, updates of keys (and HOT updates
# that leave them), deletes, rolled-back inserts, VACUUM and folds.

package KyroTest::Differential::Writes;

use strict;
use warnings;

use Exporter 'import';
use KyroTest::Differential::Keys;

our @EXPORT = qw(sql_insert_batch round_writes);

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

# An update of keys: new keys for some rows, a range shifted by one, keys
# set to NULL, or NULLs given a key.
sub sql_update
{
	my ($t) = @_;
	my $name = $t->{name};
	my $kind = rint(4);
	if ($kind == 0)
	{
		my $m = 5 + rint(40);
		my $r = rint($m);
		my ($k) = gen_batch($t, 1);
		return "UPDATE $name SET k = " . lit($t, $k) . " WHERE id % $m = $r;\n";
	}
	if ($kind == 1)
	{
		# not past the type's end
		my ($a, $b) = sort { key_order($t, $a, $b) } (query_key($t), query_key($t));
		my $one = $t->{type} eq 'timestamptz' ? q{interval '1 microsecond'} : '1';
		my $guard =
		  $t->{type} eq 'timestamptz'
		  ? 'isfinite(k)'
		  : "k < '" . $t->{extremes}[1] . "'::$t->{type}";
		return "UPDATE $name SET k = k + $one WHERE k BETWEEN "
		  . lit($t, $a) . ' AND ' . lit($t, $b) . " AND $guard;\n";
	}
	if ($kind == 2)
	{
		my $m = 10 + rint(40);
		return "UPDATE $name SET k = NULL WHERE id % $m = " . rint($m) . ";\n";
	}
	my ($k) = gen_batch($t, 1);
	my $m = 2 + rint(5);
	return "UPDATE $name SET k = " . lit($t, $k) . " WHERE k IS NULL AND id % $m = 0;\n";
}

# A delete: rows by id, a range of keys, or a key and some NULLs.
sub sql_delete
{
	my ($t) = @_;
	my $name = $t->{name};
	my $kind = rint(3);
	if ($kind == 0)
	{
		my $m = 8 + rint(50);
		return "DELETE FROM $name WHERE id % $m = " . rint($m) . ";\n";
	}
	if ($kind == 1)
	{
		my $a = query_key($t);
		my $b = near_key($t, $a);
		return "DELETE FROM $name WHERE k BETWEEN "
		  . lit($t, $a) . ' AND ' . lit($t, $b) . ";\n";
	}
	return "DELETE FROM $name WHERE k = " . lit($t, query_key($t))
	  . " OR (k IS NULL AND id % 3 = " . rint(3) . ");\n";
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
			$sql .= sql_update($t);
		}
		elsif ($op eq 'delete')
		{
			$sql .= sql_delete($t);
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
	$sql .= "VACUUM $name;\n" if chance(0.4);
	$sql .= "SELECT kyrodb.snapshot('${name}_k_idx') > 0;\n" if chance(0.4);
	$sql .= sql_insert_batch($t, rint(10)) if chance(0.5);
	$sql .= "VACUUM $name;\n" if chance(0.15);
	# the table's settings stay with its own writes
	$sql .= "RESET ALL;\n";
	return $sql;
}

1;
