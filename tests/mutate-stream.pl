#!/usr/bin/perl
# mutate-stream.pl WHAT < stream > mutated
# Walks p2v protocol framing (u32 type, u32 length) and damages one
# field, so tests can feed the receiver realistic bad input:
#   version       a HELLO that speaks only protocol 99
#   bomb          replace the first data chunk's frame by one that
#                 declares the chunk's length but expands to twice that
#   read-error-past-end   a READ_ERROR beyond the end of disk 0
#   flip-data     flip a byte inside the first data chunk's zstd frame
#   bad-hash      flip a byte of the first data chunk's hash
#   bad-zero-hash flip a byte of the first zero chunk's hash field
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
my $disk_size;

# A zstd frame (zstd(1) writes the content size for a file) of 2 x $len
# zeros, whose content size field is then rewritten to $len (RFC 8878).
sub bomb_frame {
    my ($len) = @_;
    my $tmp = "/tmp/p2v-bomb.$$";
    open my $fh, '>', $tmp or die; print $fh "\0" x (2 * $len); close $fh;
    my $f = `zstd -q -c --no-check $tmp`;
    unlink $tmp;
    my $fhd = ord substr ($f, 4, 1);
    my ($flag, $single, $did) = ($fhd >> 6, ($fhd >> 5) & 1, $fhd & 3);
    my $at = 5 + ($single ? 0 : 1) + (0, 1, 2, 4)[$did];
    my $width = (($single ? 1 : 0), 2, 4, 8)[$flag];
    die "unexpected frame header\n" if $width < 4;
    substr ($f, $at, $width) = $width == 4 ? pack ("V", $len)
        : pack ("VV", $len & 0xffffffff, $len >> 32);
    return $f;
}

while ($pos + 8 <= length $s) {
    my ($type, $len) = unpack "NN", substr ($s, $pos, 8);
    my $p = $pos + 8;                     # payload start
    if ($type == 1 && $pos == 0 && $what eq 'version') {
        substr ($s, $p + 8, 8) = pack "NN", 99, 99;
        $done = 1;
    }
    if ($type == 3) {                     # DISK_BEGIN: disk, size, ...
        my ($hi, $lo) = unpack "NN", substr ($s, $p + 4, 8);
        $disk_size //= $hi * 2**32 + $lo;
    }
    if ($type == 5 && !$done && $what eq 'read-error-past-end') {
        my $msg = pack ("NN", 10, 24) . pack ("NNNNNN", 0,
            int ($disk_size / 2**32), $disk_size % 2**32, 0, 512, 5);
        substr ($s, $pos, 0) = $msg;
        $done = 1;
        last;
    }    if ($type == 4) {                     # CHUNK: disk, offset, length, kind, hash
        $chunks++;
        my $kind = ord substr ($s, $p + 20, 1);
        if (!$done && $kind == 0 && $what eq 'flip-data') {
            my $at = $p + 37 + int (($len - 37) / 2);
            substr ($s, $at, 1) = chr (ord (substr ($s, $at, 1)) ^ 0xff);
            $done = 1;
        }
        if (!$done && $kind == 0 && $what eq 'bomb') {
            my ($hi, $lo) = unpack "NN", substr ($s, $p + 12, 8);
            my $f = bomb_frame ($hi * 2**32 + $lo);
            substr ($s, $p + 37, $len - 37) = $f;
            substr ($s, $pos + 4, 4) = pack "N", 37 + length $f;
            $done = 1;
            last;
        }
        if (!$done && $kind == 1 && $what eq 'bad-zero-hash') {
            substr ($s, $p + 21, 1) = chr (ord (substr ($s, $p + 21, 1)) ^ 1);
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
