#!/usr/bin/env python3
# qclone.py - top a customer's queue up to TOTAL entries by copying one
# committed entry under fresh queue ids (spoolfmt(5): 13 hex digits of
# time, '.', pid, '.', counter), for benchmarks that need a big queue
# faster than SMTP can fill it.  Run only while bridged is stopped.
# The copies are ordinary entries: same envelope but the id, same
# message.  No fsync: this is test data.
# Usage: qclone.py SPOOL CUSTOMER TOTAL   (prints cloned=N)

import os
import sys


def main(spool, customer, total):
    new = os.path.join(spool, 'q', customer, 'new')
    names = sorted(n for n in os.listdir(new) if not n.startswith('.'))
    if not names:
        print('cloned=0 error=empty-queue')
        return 1
    with open(os.path.join(new, names[-1]), 'rb') as f:
        data = f.read()
    env, sep, msg = data.partition(b'\n\n')
    lines = env.split(b'\n')
    idx = [i for i, l in enumerate(lines) if l.startswith(b'id ')]
    if len(idx) != 1:
        print('cloned=0 error=no-id-line')
        return 1
    t = int(names[-1].split('.')[0], 16) + 1
    n = 0
    for k in range(len(names), total):
        qid = '%013X.%X.%X' % (t + k, 0xB0B, k + 1)
        lines[idx[0]] = b'id ' + qid.encode()
        with open(os.path.join(new, qid), 'wb') as f:
            f.write(b'\n'.join(lines) + sep + msg)
        n += 1
    print('cloned=%d' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
