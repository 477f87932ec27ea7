#!/usr/bin/perl
# mutate-stream.pl WHAT < stream > mutated
# Walks p2v protocol v1 framing (u32 type, u32 length) and damages one
# field, so tests can feed the receiver realistic bad input:
#   flip-data     flip a byte inside the first data chunk's zstd frame
#   bad-hash      flip a byte of the first data chunk's hash
#   bad-digest    flip a byte of the first DISK_END digest
#   bad-offset    move the second chunk's offset forward by 4096
#   past-end      make the last chunk of disk 0 longer than the disk
use strict;
use warnings;

my $what = shift or die "usage: $0 WHAT\n";
local $/;
binmode STDIN; binmode STDOUT;
my $s = <STDIN>;
my ($pos, $chunks, $done, $last_chunk) = (0, 0, 0, -1);
while ($pos + 8 <= length $s) {
    my ($type, $len) = unpack "NN", substr ($s, $pos, 8);
    my $p = $pos + 8;                     # payload start
    if ($type == 4) {                     # CHUNK: disk, offset, length, kind, hash
        $chunks++;
        my $kind = ord substr ($s, $p + 20, 1);
        if (!$done && $kind == 0 && $what eq 'flip-data') {
            my $at = $p + 37 + int (($len - 37) / 2);
            substr ($s, $at, 1) = chr (ord (substr ($s, $at, 1)) ^ 0xff);
            $done = 1;
        }
        if (!$done && $kind == 0 && $what eq 'bad-hash') {
            substr ($s, $p + 21, 1) = chr (ord (substr ($s, $p + 21, 1)) ^ 1);
            $done = 1;
        }
        if (!$done && $chunks == 2 && $what eq 'bad-offset') {
            my ($hi, $lo) = unpack "NN", substr ($s, $p + 4, 8);
            substr ($s, $p + 4, 8) = pack "NN", $hi, $lo + 4096;
            $done = 1;
        }
        $last_chunk = $p;
    }
    if ($type == 5 && !$done) {           # DISK_END: disk, chunks, digest
        if ($what eq 'bad-digest') {
            substr ($s, $p + 12, 1) = chr (ord (substr ($s, $p + 12, 1)) ^ 1);
            $done = 1;
        }
        if ($what eq 'past-end') {
            my ($hi, $lo) = unpack "NN", substr ($s, $last_chunk + 12, 8);
            substr ($s, $last_chunk + 12, 8) = pack "NN", $hi + 1, $lo;
            $done = 1;
        }
    }
    $pos = $p + $len;
}
die "mutate-stream: nothing to mutate for '$what'\n" unless $done;
print $s;
