# KyroTest::Session: a psql session that stays connected across scripts,
# so that what a backend caches (the model, its mapping of the model file,
# the sorted copy of the delta) must follow what other sessions change.
#
#   my $s = KyroTest::Session->new($node);
#   my $out = $s->run($script);        # its output; stderr kept in $s->stderr
#   my $out = $s->run_safe($script);   # the same, dying on anything on stderr
#   $s->quit;
#
# (PostgreSQL::Test::BackgroundPsql notes every query and its output, which
# for the differential test's scripts of thousands of keys is too much.)

package KyroTest::Session;

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;

# Connect to the node's postgres database.
sub new
{
	my ($class, $node) = @_;
	my $self = bless { in => '', out => '', err => '', scripts => 0 }, $class;
	$self->{timer} = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
	$self->{h} = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', '-'
		],
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err},
		$self->{timer});
	return $self;
}

# Run a script; returns its output, without the last newline (as safe_psql
# does).  Dies if psql ends or the default timeout passes first.
sub run
{
	my ($self, $script) = @_;
	my $marker = 'end of script ' . ++$self->{scripts};
	$self->{in} .= "$script\n\\echo '$marker'\n";
	$self->{timer}->start;
	$self->{h}->pump
	  while $self->{out} !~ /^\Q$marker\E$/m
	  && $self->{h}->pumpable
	  && !$self->{timer}->is_expired;
	die "psql session: no end of script $self->{scripts}: $self->{err}"
	  unless $self->{out} =~ s/^\Q$marker\E\n//m;
	my $output = $self->{out};
	$self->{out} = '';
	chomp($output);
	return $output;
}

# Run a script, dying if it wrote anything to stderr.
sub run_safe
{
	my ($self, $script) = @_;
	my $output = $self->run($script);
	die "psql session: $self->{err}" if $self->{err} ne '';
	return $output;
}

# What the session wrote to stderr so far.
sub stderr
{
	my ($self) = @_;
	return $self->{err};
}

# Disconnect.
sub quit
{
	my ($self) = @_;
	$self->{in} .= "\\q\n";
	$self->{h}->finish;
}

1;
