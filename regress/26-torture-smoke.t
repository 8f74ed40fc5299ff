#!/bin/sh
# 26-torture-smoke.t - a short make torture (regress/torture.t) in make
# test: 20 kill -9 of a session, the lookup, the queue process, the
# master or a bridge-enqueue client under SMTP, LMTP and bridge-enqueue
# intake, then 10 fills of the spool's tmpfs; every acknowledged copy
# checked byte for byte after a restart.  Bounded: 60 s per phase.
WORK=$(cd "$(dirname "$0")" && pwd)/work/26-torture-smoke \
TORTURE_KILLS=20 TORTURE_FILLS=10 TORTURE_SECONDS=60 \
TORTURE_DISK_SECONDS=60 exec sh "$(dirname "$0")/torture.t"
