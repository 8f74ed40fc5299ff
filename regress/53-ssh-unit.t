#!/bin/sh
# 53-ssh-unit.t - the server-less unit tests of ssh/ (regress/sshunit.c).
T=$(cd "$(dirname "$0")" && pwd)/sshunit
[ -x "$T" ] || { echo "1..0 # SKIP not built"; exit 0; }
exec "$T"
