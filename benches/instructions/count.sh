#!/bin/sh
# usage: count.sh MODE N1 N2 -> instructions per iteration (difference of two callgrind runs)
B=${BIN:-$(dirname "$0")/target/release/xroad-instructions}
m=$1; a=${2:-100}; b=${3:-1100}
ir() { valgrind --tool=callgrind --callgrind-out-file=${TMPDIR:-/tmp}/cg.$m.$1 $B $m $1 2>&1 | grep "Collected" | awk '{print $4}'; }
x=$(ir $a); y=$(ir $b)
echo "$m: $(( (y - x) / (b - a) )) instructions per iteration ($x @ $a, $y @ $b)"
