#!/bin/sh
# 74-linkup-unit.t - the unit tests of linkup/ and etrn/srecv.c
# (regress/linkupunit.c).
T=$(cd "$(dirname "$0")" && pwd)/linkupunit
[ -x "$T" ] || { echo "1..0 # SKIP not built"; exit 0; }
exec "$T"
