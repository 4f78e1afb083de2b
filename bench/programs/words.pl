# bench/programs/words.pl — perl workload for bench/programs/run.py: hashes of
# arrays, string building, regex splits and sorts over generated text, the
# report-script pattern. Prints a checksum (same under any malloc).
use strict;
use warnings;
my $scale = $ARGV[0] // 1;
my $n = int(300000 * $scale);
my (%count, %first, @lines);
my $x = 12345;
for my $i (1 .. $n) {
	$x = ($x * 1103515245 + 12345) % 2147483648;
	my @w = map { "w" . (($x >> $_) % 5000) } (0, 3, 7, 11, 13);
	push @lines, join(" ", @w, $i);
	shift @lines if @lines > 20000;
	for my $w (@w) {
		$count{$w}++;
		push @{ $first{$w} }, $i if @{ $first{$w} // [] } < 8;
	}
	delete $count{"w" . ($i % 7000)} if $i % 11 == 0;
}
my @top = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
my $sum = 0;
$sum = ($sum * 31 + $count{$_}) % 1000000007 for @top[0 .. 99];
my $text = join("\n", @lines);
my @fields = split /\s+/, $text;
my %len;
$len{ length $_ }++ for @fields;
$sum = ($sum + $_ * $len{$_}) % 1000000007 for sort { $a <=> $b } keys %len;
my $s = "";
$s .= sprintf("%s=%d;", $_, scalar @{ $first{$_} }) for sort keys %first;
print scalar(@top), " ", length($s), " ", $sum, "\n";
