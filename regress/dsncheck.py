#!/usr/bin/env python3
# dsncheck.py - read every DSN that smtp-sink dumped into a directory
# with Python's email package and check it field by field against
# RFC 3464 (and RFC 6522 for the multipart/report around it), then
# against what the test expects.  One line per check on stdout,
# "ok DESCRIPTION" or "not ok DESCRIPTION: why", for the test script
# to count; nothing else.
#
# usage: dsncheck.py SINKDIR SPEC.json
#
# SPEC: {"mta": "hub.test",                  Reporting-MTA expected
#        "dsns": [{"to": "s1@example.org",    the DSN's envelope recipient
#                  "kind": "failed",          its recipients' Action
#                  "envid": "x" | null,       Original-Envelope-Id
#                  "full": true | false,      message/rfc822 or headers
#                  "marker": "body of 1",     text of the original's body:
#                                             there iff full
#                  "subject": "S1",           the original's Subject
#                  "rcpts": [{"final": "r@x", "status": "4.4.7",
#                             "orcpt": "rfc822;R@x" | null,
#                             "remote": "host" | null,   Remote-MTA
#                             "diag": "text" | null}]}],  in Diagnostic-Code
#        "none": [{"to": "s2@example.org", "kind": "failed"}],
#                                             get no DSN of that kind
#        "only": true}                        no other DSN in SINKDIR
import email
import email.policy
import email.utils
import json
import os
import re
import sys

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
MSG_FIELDS = ("Original-Envelope-Id", "Reporting-MTA", "DSN-Gateway",
              "Received-From-MTA", "Arrival-Date")
RCPT_FIELDS = ("Original-Recipient", "Final-Recipient", "Action", "Status",
               "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date",
               "Final-Log-ID", "Will-Retry-Until")
out = []


def say(good, what, why=""):
    out.append(("ok " if good else "not ok ") + what +
               ("" if good or not why else ": " + why))


def unfold(v):
    return re.sub(r"\s*\r?\n\s+", " ", v or "").strip()


def is_date(v):
    try:
        return email.utils.parsedate_to_datetime(unfold(v)) is not None
    except (TypeError, ValueError):
        return False


def typed(v, kind):
    """'kind; value' (RFC 3464 2.1.2): the value, or None."""
    m = re.match(r"^([A-Za-z0-9-]+);\s*(.*)$", unfold(v), re.S)
    if m is None or (kind and m.group(1).lower() != kind):
        return None
    return m.group(2)


def rfc3464(path, m):
    """The RFC 3464/6522 structure of message m; problems as a list."""
    bad = []
    if m.get_content_type() != "multipart/report":
        return ["not multipart/report"], None, None, None
    if m.get_param("report-type") != "delivery-status":
        bad.append("report-type is not delivery-status")
    if m.get("MIME-Version", "").strip() != "1.0":
        bad.append("no MIME-Version: 1.0")
    if not is_date(m.get("Date")):
        bad.append("no valid Date")
    if not m.get("From") or not m.get("Message-ID"):
        bad.append("no From or Message-ID")
    auto = (m.get("Auto-Submitted") or "").strip().lower()
    if auto == "" or auto.startswith("no"):
        bad.append("not Auto-Submitted (RFC 3834)")
    parts = m.get_payload()
    if len(parts) != 3:
        return bad + ["%d parts, not 3" % len(parts)], None, None, None
    if parts[0].get_content_maintype() != "text":
        bad.append("first part is not text")
    if parts[1].get_content_type() != "message/delivery-status":
        return bad + ["second part is not message/delivery-status"], \
            None, None, None
    if parts[2].get_content_type() not in ("message/rfc822",
                                           "text/rfc822-headers"):
        bad.append("third part is %s" % parts[2].get_content_type())
    blocks = parts[1].get_payload()
    if len(blocks) < 2:
        return bad + ["no per-recipient block"], None, None, None
    per_msg, per_rcpt = blocks[0], blocks[1:]
    for k in per_msg.keys():
        if k not in MSG_FIELDS and not k.lower().startswith("x-"):
            bad.append("per-message field %s" % k)
    if typed(per_msg.get("Reporting-MTA"), "dns") is None:
        bad.append("Reporting-MTA missing or not dns")
    if per_msg.get("Arrival-Date") and not is_date(per_msg["Arrival-Date"]):
        bad.append("bad Arrival-Date")
    for r in per_rcpt:
        for k in r.keys():
            if k not in RCPT_FIELDS and not k.lower().startswith("x-"):
                bad.append("per-recipient field %s" % k)
        a = (r.get("Action") or "").strip().lower()
        st = (r.get("Status") or "").strip()
        if typed(r.get("Final-Recipient"), "rfc822") is None:
            bad.append("Final-Recipient missing or not rfc822")
        if a not in ACTIONS:
            bad.append("Action %r" % a)
        if not re.match(r"^[245]\.\d{1,3}\.\d{1,3}$", st):
            bad.append("Status %r" % st)
        elif (a in ("delivered", "relayed", "expanded") and st[0] != "2") \
                or (a == "delayed" and st[0] != "4") \
                or (a == "failed" and st[0] not in "45"):
            bad.append("Status %s with Action %s" % (st, a))
        if r.get("Original-Recipient") and \
                typed(r["Original-Recipient"], None) is None:
            bad.append("bad Original-Recipient")
        if r.get("Remote-MTA") and typed(r["Remote-MTA"], "dns") is None:
            bad.append("bad Remote-MTA")
        if r.get("Diagnostic-Code") and \
                typed(r["Diagnostic-Code"], None) is None:
            bad.append("bad Diagnostic-Code")
        for d in ("Last-Attempt-Date", "Will-Retry-Until"):
            if r.get(d) and not is_date(r[d]):
                bad.append("bad " + d)
        if r.get("Will-Retry-Until") and a != "delayed":
            bad.append("Will-Retry-Until with Action %s" % a)
    return bad, per_msg, per_rcpt, parts[2]


def load(sinkdir):
    """Every DSN there: (file, envelope sender, envelope rcpt, message),
    from smtp-sink -d dumps or smtpsrv.py's N.msg, N.from, N.rcpt."""
    got = []
    for n in sorted(os.listdir(sinkdir)):
        p = os.path.join(sinkdir, n)
        if n.endswith((".from", ".rcpt", ".tmp")) or n == "conns":
            continue
        with open(p, "rb") as f:
            m = email.message_from_bytes(f.read(),
                                         policy=email.policy.compat32)
        if m.get_content_type() != "multipart/report":
            continue
        frm = (m.get("X-Mail-Args") or "").split(" ")[0]
        to = (m.get("X-Rcpt-Args") or "").split(" ")[0].strip("<>")
        if n.endswith(".msg"):
            with open(p[:-4] + ".from") as f:
                frm = f.read().split(" ")[0].strip()
            with open(p[:-4] + ".rcpt") as f:
                to = f.readline().strip()
        got.append((n, frm, to, m))
    return got


def original(part):
    if part.get_content_type() == "message/rfc822":
        return part.get_payload()[0].as_string()
    return part.get_payload()


def check_one(want, n, frm, m):
    tag = "DSN to %s (%s)" % (want["to"], want["kind"])
    bad, per_msg, per_rcpt, orig = rfc3464(n, m)
    say(not bad, tag + ": RFC 3464 structure", "; ".join(bad))
    if per_msg is None:
        return
    say(frm == "<>", tag + ": from the null sender", frm)
    say(typed(per_msg.get("Reporting-MTA"), "dns") == spec["mta"],
        tag + ": Reporting-MTA", per_msg.get("Reporting-MTA", ""))
    env = per_msg.get("Original-Envelope-Id")
    say((unfold(env) if env else None) == want.get("envid"),
        tag + ": Original-Envelope-Id", repr(env))
    full = orig.get_content_type() == "message/rfc822"
    text = original(orig)
    say(full == want.get("full", False), tag + ": RET (%s)" %
        ("message/rfc822" if want.get("full") else "headers only"),
        orig.get_content_type())
    if want.get("subject"):
        say("Subject: %s" % want["subject"] in text,
            tag + ": the original's header returned")
    if want.get("marker"):
        say((want["marker"] in text) == want.get("full", False),
            tag + ": the original's body %s" %
            ("returned" if want.get("full") else "left out"))
    finals = [typed(r.get("Final-Recipient"), "rfc822") for r in per_rcpt]
    wanted = [r["final"] for r in want["rcpts"]]
    say(sorted(finals) == sorted(wanted), tag + ": recipients %s" %
        ",".join(wanted), ",".join(str(f) for f in finals))
    for w in want["rcpts"]:
        r = [x for x in per_rcpt
             if typed(x.get("Final-Recipient"), "rfc822") == w["final"]]
        if not r:
            continue
        r = r[0]
        t = tag + ": " + w["final"]
        say(r.get("Action", "").strip() == want["kind"], t + ": Action",
            r.get("Action"))
        say(r.get("Status", "").strip() == w["status"], t + ": Status",
            r.get("Status"))
        o = r.get("Original-Recipient")
        say((unfold(o) if o else None) == w.get("orcpt"),
            t + ": Original-Recipient", repr(o))
        rm = r.get("Remote-MTA")
        say((typed(rm, "dns") if rm else None) == w.get("remote"),
            t + ": Remote-MTA", repr(rm))
        dc = unfold(r.get("Diagnostic-Code"))
        if w.get("diag") is not None:
            say(w["diag"] in dc, t + ": Diagnostic-Code has %r" % w["diag"],
                dc)
        say((r.get("Will-Retry-Until") is not None) ==
            (want["kind"] == "delayed"), t + ": Will-Retry-Until iff delayed")


def actions(m):
    try:
        return [(b.get("Action") or "").strip()
                for b in m.get_payload()[1].get_payload()[1:]]
    except (AttributeError, IndexError, TypeError):
        return []


spec = json.load(open(sys.argv[2]))
got = load(sys.argv[1])
used = set()
for want in spec.get("dsns", []):
    hits = [(n, frm, m) for (n, frm, to, m) in got if to == want["to"] and
            want["kind"] in actions(m)]
    say(len(hits) == 1, "one %s DSN to %s" % (want["kind"], want["to"]),
        "%d found" % len(hits))
    for n, frm, m in hits[:1]:
        used.add(n)
        check_one(want, n, frm, m)
for w in spec.get("none", []):
    hits = [n for (n, frm, to, m) in got if to == w["to"] and
            w["kind"] in actions(m)]
    say(not hits, "no %s DSN to %s" % (w["kind"], w["to"]), " ".join(hits))
if spec.get("only"):
    extra = [n for (n, frm, to, m) in got if n not in used]
    say(not extra, "no other DSN", " ".join(extra))
print("\n".join(out))
