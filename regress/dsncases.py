#!/usr/bin/env python3
# dsncases.py - the DSN parameter combinations of the end-to-end tests:
# every pair of values of NOTIFY (7), RET (3), ENVID (2) and ORCPT (2)
# appears in at least one of 21 messages (checked here, so a change to
# the table cannot quietly lose a pair).  Message k of tag T goes from
# sT-k@example.org to rT-k@DOMAIN with Subject "T k" and body "body of
# T k".
#
# usage: dsncases.py send PORT DOMAIN TAG      send them (smtplib)
#        dsncases.py spec KIND STATUS DOMAIN TAG [REMOTE [DIAG]] [+ ...]
#            the dsncheck.py spec for the DSNs of KIND (failed, delayed,
#            relayed) they should give (Status STATUS, Remote-MTA REMOTE
#            or "-" for none, DIAG in the Diagnostic-Code), and the
#            senders that get none; groups joined by "+" make one spec
import itertools
import json
import smtplib
import sys

NOTIFY = [None, "NEVER", "SUCCESS", "FAILURE", "DELAY", "FAILURE,DELAY",
          "SUCCESS,FAILURE,DELAY"]
RET = [None, "FULL", "HDRS"]
WANTS = {"failed": "FAILURE", "delayed": "DELAY", "relayed": "SUCCESS"}


def rows():
    r = [(i, j, (i + j) % 2, (j + i // 2) % 2)
         for i in range(len(NOTIFY)) for j in range(len(RET))]
    sizes = [len(NOTIFY), len(RET), 2, 2]
    for a, b in itertools.combinations(range(4), 2):
        have = {(x[a], x[b]) for x in r}
        assert len(have) == sizes[a] * sizes[b], "pair %d,%d missing" % (a, b)
    return r


def case(k, row, domain, tag):
    i, j, e, o = row
    c = {"k": k, "sender": "s%s-%d@example.org" % (tag, k),
         "rcpt": "r%s-%d@%s" % (tag, k, domain), "notify": NOTIFY[i],
         "ret": RET[j], "subject": "%s %d" % (tag, k),
         "body": "body of %s %d" % (tag, k), "mail": [], "rcptp": [],
         "envid": None, "orcpt": None}
    if c["ret"]:
        c["mail"].append("RET=" + c["ret"])
    if e:
        c["mail"].append("ENVID=E+2B%d+3Dx" % k)
        c["envid"] = "E+%d=x" % k
    if c["notify"]:
        c["rcptp"].append("NOTIFY=" + c["notify"])
    if o:
        c["rcptp"].append("ORCPT=rfc822;R%d+2Bx+40%s" % (k, domain))
        c["orcpt"] = "rfc822;R%d+x@%s" % (k, domain)
    return c


def cases(domain, tag):
    return [case(k, r, domain, tag) for k, r in enumerate(rows())]


def wants(c, kind):
    n = c["notify"]
    if n is None:
        return kind in ("failed", "delayed")
    return WANTS[kind] in n.split(",")


def send(port, domain, tag):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("client.example")
    for c in cases(domain, tag):
        msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n%s\r\n" % (
            c["sender"], c["rcpt"], c["subject"], c["body"])).encode()
        s.sendmail(c["sender"], [c["rcpt"]], msg, mail_options=c["mail"],
                   rcpt_options=c["rcptp"])
    s.quit()


def spec(kind, status, domain, tag, remote=None, diag=None):
    sp = {"mta": "hub.test", "dsns": [], "none": [], "only": True}
    for c in cases(domain, tag):
        if not wants(c, kind):
            sp["none"].append({"to": c["sender"], "kind": kind})
            continue
        sp["dsns"].append({
            "to": c["sender"], "kind": kind, "envid": c["envid"],
            "full": kind == "failed" and c["ret"] == "FULL",
            "marker": c["body"], "subject": c["subject"],
            "rcpts": [{"final": c["rcpt"], "status": status,
                       "orcpt": c["orcpt"], "remote": remote,
                       "diag": diag}]})
    return sp


def specs(args):
    """Groups "KIND STATUS DOMAIN TAG [REMOTE [DIAG]]" separated by "+"."""
    all_ = {"mta": "hub.test", "dsns": [], "none": [], "only": True}
    for g in " ".join(args).split(" + "):
        w = g.split(" ", 5)
        one = spec(*[None if x == "-" else x for x in w])
        all_["dsns"] += one["dsns"]
        all_["none"] += one["none"]
    return all_


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        print(json.dumps(specs(sys.argv[2:]), indent=1))
