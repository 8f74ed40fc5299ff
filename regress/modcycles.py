#!/usr/bin/env python3
"""modcycles.py - call cycles between the project's modules and include
cycles between its headers, for regress/91-module-cycles.t.

A module is one .c file of a library or program (conf/, spoolfmt/,
etrn/, uucp/, ssh/, linkup/, bridge/).  Module A calls module B when
A's object has an undefined symbol that B's object defines (nm -g).  A
cycle is a strongly connected set of two or more modules.  Headers
include each other through #include "x.h".  Prints one TAP line per
check with each cycle and the calls (or includes) that make it.
"""
import glob
import os
import re
import subprocess
import sys

DIRS = ('conf', 'spoolfmt', 'etrn', 'uucp', 'ssh', 'linkup', 'bridge')


def sccs(graph):
    """Tarjan's strongly connected components of size > 1."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def calls(top):
    defs, uses = {}, {}
    objs = [o for d in DIRS for o in sorted(glob.glob(os.path.join(top, d, '*.o')))]
    for o in objs:
        mod = os.path.relpath(o, top)[:-2]
        out = subprocess.run(['nm', '-g', o], capture_output=True,
                             text=True, check=True).stdout
        uses[mod] = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in 'TDBRC':
                defs.setdefault(f[2], mod)
            elif len(f) == 2 and f[0] == 'U':
                uses[mod].add(f[1])
    graph = {m: sorted({defs[s] for s in u if defs.get(s, m) != m})
             for m, u in uses.items()}
    why = {(a, b): sorted(s for s in uses[a] if defs.get(s) == b)
           for a in graph for b in graph[a]}
    return objs, graph, why


def includes(top):
    graph = {}
    for d in DIRS:
        for h in sorted(glob.glob(os.path.join(top, d, '*.h'))):
            with open(h, encoding='utf-8') as f:
                graph[os.path.basename(h)] = sorted(
                    set(re.findall(r'^#include "([^"]+)"', f.read(), re.M)))
    return graph


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else '.'
    objs, graph, why = calls(top)
    n = 0
    n += 1
    print('%s %d - the objects are built (%d modules)' %
          ('ok' if len(objs) > 20 else 'not ok', n, len(objs)))
    cyc = sccs(graph)
    n += 1
    print('%s %d - no call cycles between modules' %
          ('not ok' if cyc else 'ok', n))
    for comp in cyc:
        print('# cycle: ' + ' '.join(comp))
        for a in comp:
            for b in graph[a]:
                if b in comp:
                    print('#   %s -> %s: %s' % (a, b, ' '.join(why[(a, b)][:6])))
    hg = includes(top)
    hcyc = sccs(hg)
    n += 1
    print('%s %d - no include cycles between headers (%d headers)' %
          ('not ok' if hcyc else 'ok', n, len(hg)))
    for comp in hcyc:
        print('# include cycle: ' + ' '.join(comp))
    print('1..%d' % n)
    return 1 if cyc or hcyc or len(objs) <= 20 else 0


if __name__ == '__main__':
    sys.exit(main())
