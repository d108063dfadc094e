#!/usr/bin/perl
#
# test/lib/tap_counts.pl COUNTS_FILE SOURCE...: run TAP sources (test
# scripts, or programs that print TAP) under TAP::Harness, as prove -v
# would, and write what the harness's aggregator counted to COUNTS_FILE as
# one line, "PASSED FAILED SKIPPED", then a line "skipped: SOURCE: REASON"
# for each source that skipped all of its tests (plan skip_all: an
# extension it needs is not installed, say).  test/run reads those lines
# rather than the harness's prose.  A skipped source counts neither as
# passed nor as failed.
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
my @skipped;
foreach my $source (@sources)
{
	my ($parser) = $aggregate->parsers($source);
	$failed++ if $parser->has_problems && !$parser->failed;
	push @skipped, "skipped: $source: " . ($parser->skip_all || 'no reason given')
	  if $parser->skip_all && !$parser->has_problems;
}

open(my $fh, '>', $counts_file) or die "could not write $counts_file: $!";
print $fh "$passed $failed " . scalar(@skipped) . "\n";
print $fh "$_\n" foreach @skipped;
close($fh) or die "could not write $counts_file: $!";

exit($aggregate->all_passed ? 0 : 1);
