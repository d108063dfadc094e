#!/usr/bin/perl
#
# test/lib/tap_counts.pl COUNTS_FILE SOURCE...: run TAP sources (test
# scripts, or programs that print TAP) under TAP::Harness, as prove -v
# would, and write what the harness's aggregator counted to COUNTS_FILE as
# one line, "PASSED FAILED".  test/run reads that line rather than the
# harness's prose.
#
# A source that broke without a failed test (died, exited nonzero, ran
# fewer tests than it planned, printed no plan) counts one failure.
# Exits 0 only if every source passed.

use strict;
use warnings;

use TAP::Harness;

die "usage: $0 COUNTS_FILE SOURCE...\n" unless @ARGV >= 2;
my ($counts_file, @sources) = @ARGV;

my $harness = TAP::Harness->new({ verbosity => 1, timer => 1 });
my $aggregate = $harness->runtests(@sources);

my $passed = scalar $aggregate->passed;
my $failed = scalar $aggregate->failed;
foreach my $parser ($aggregate->parsers)
{
	$failed++ if $parser->has_problems && !$parser->failed;
}

open(my $fh, '>', $counts_file) or die "could not write $counts_file: $!";
print $fh "$passed $failed\n";
close($fh) or die "could not write $counts_file: $!";

exit($aggregate->all_passed ? 0 : 1);
