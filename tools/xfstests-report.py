#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Side-by-side report of a tests/vm/xfstests.sh run.

    tools/xfstests-report.py OUTDIR [--dmesg FILE] [--baseline FILE]
                             [--write-baseline FILE] [--md FILE]

OUTDIR is the guest's out share: results/<client>-v<vers>/ (fstests'
RESULT_BASE, with result.xml from `check -R xunit-quiet`) and
check-<client>-v<vers>.out (check's output, the fallback for a run cut
short). Writes results.md (or --md): per test and version, C against ours
(pass / fail / notrun and seconds), totals, new failures (ours fails where
C passes, or where --baseline says pass) with the head of their .out.bad,
tests ours did not run and C passed, ours passing where C fails, and
kernel warnings with the test running.

--write-baseline writes the C client's verdicts as "VERS TEST STATUS" lines.
Exit status 1 if there is a new failure, a test ours did not run that C
passed, a kernel warning, or a run cut short.
"""
import argparse
import os
import re
import sys

# What scripts/vm fails a run on.
WARN = re.compile(r'WARNING:|BUG:|refcount_t:|KASAN|Oops|[Pp]anic|hung task|'
                  r'blocked for more than|UBSAN:|list_(add|del) corruption|ODEBUG:|'
                  r'unreferenced object|general protection fault|circular locking|'
                  r'inconsistent lock state|suspicious RCU usage')


def parse_xml(path):
    """{test: (status, seconds)} from fstests' xunit report, by regex (the
    file may hold text no XML parser accepts)."""
    res = {}
    text = open(path, errors='replace').read()
    for m in re.finditer(r'<testcase [^>]*name="([^"]+)" time="([^"]*)"\s*>(.*?)</testcase>',
                         text, re.S):
        name, secs, body = m.groups()
        if '<failure' in body:
            st = 'fail'
        elif '<skipped' in body:
            st = 'notrun'
        else:
            st = 'pass'
        res[name] = (st, secs)
    return res


def parse_out(path):
    """{test: (status, seconds)} from check's own output."""
    res = {}
    last = None
    for line in open(path, errors='replace'):
        m = re.match(r'^(\w+/\d+)\s+(.*)$', line.rstrip('\n'))
        if not m:
            continue
        name, rest = m.groups()
        last = name
        if not rest.strip() or re.fullmatch(r'\s*\d+s \.\.\.\s*', rest):
            res[name] = ('incomplete', '')	# started, no verdict: the run stopped
        elif '[not run]' in rest:
            res[name] = ('notrun', '')
        elif '[expunged]' in rest:
            continue
        elif re.search(r'(^|\s)(\d+)s$', rest) and 'mismatch' not in rest and 'failed' not in rest:
            res[name] = ('pass', re.search(r'(\d+)s$', rest).group(1))
        else:
            res[name] = ('fail', '')
    return res, last


def load(outdir):
    """{(client, vers): {test: (status, secs)}}, and the tests that were
    running when a run stopped without its summary."""
    runs, cut = {}, {}
    names = set()
    rdir = os.path.join(outdir, 'results')
    if os.path.isdir(rdir):
        names |= {d for d in os.listdir(rdir) if re.match(r'^\w+-v[\d.]+$', d)}
    names |= {f[len('check-'):-len('.out')] for f in os.listdir(outdir)
              if re.match(r'^check-\w+-v[\d.]+\.out$', f)}
    for tag in names:
        client, vers = tag.split('-v', 1)
        res = {}
        outf = os.path.join(outdir, f'check-{tag}.out')
        xml = os.path.join(rdir, tag, 'result.xml')
        last = None
        if os.path.exists(outf):
            res, last = parse_out(outf)
            if not re.search(r'^(Ran:|Passed all|Not run:)', open(outf, errors='replace').read(), re.M):
                cut[(client, vers)] = last
        if os.path.exists(xml):
            for t, (st, secs) in parse_xml(xml).items():
                if t in res and res[t][0] != st:
                    print(f'{tag}: {t}: check said {res[t][0]}, result.xml {st}; taking result.xml',
                          file=sys.stderr)
                res[t] = (st, secs)
        runs[(client, vers)] = res
    return runs, cut


def head_bad(outdir, client, vers, test, n=12):
    base = os.path.join(outdir, 'results', f'{client}-v{vers}', test)
    for suffix in ('.out.bad', '.dmesg', '.full'):
        p = base + suffix
        if os.path.exists(p):
            lines = open(p, errors='replace').read().splitlines()[:n]
            return suffix, lines
    return None, []


def warnings(dmesg):
    """[(section, test, line)] for each kernel warning in dmesg."""
    found = []
    section, test = '', '(setup)'
    for line in open(dmesg, errors='replace'):
        line = line.rstrip('\n')
        m = re.search(r'xprs-xfstests: section (\S+)', line)
        if m:
            section, test = m.group(1), '(between tests)'
            continue
        m = re.search(r'run fstests (\S+) at', line)
        if m:
            test = m.group(1)
            continue
        if 'command line' in line.lower():
            continue
        if WARN.search(line):
            found.append((section, test, line.strip()))
    return found


def cell(r):
    if r is None:
        return '-'
    st, secs = r
    return f'{st} {secs}s' if secs not in ('', None) else st


def vkey(v):
    return [int(x) for x in v.split('.')]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('outdir')
    ap.add_argument('--dmesg')
    ap.add_argument('--baseline')
    ap.add_argument('--write-baseline')
    ap.add_argument('--md')
    ap.add_argument('--title', default='xfstests over NFS/RDMA: C client against xprtrdma_rs')
    a = ap.parse_args()

    runs, cut = load(a.outdir)
    if not runs:
        print('xfstests-report: no results in ' + a.outdir, file=sys.stderr)
        return 1
    clients = sorted({c for c, _ in runs}, key=lambda c: (c != 'c', c))
    versions = sorted({v for _, v in runs}, key=vkey)
    base = {}
    if a.baseline:
        for line in open(a.baseline):
            w = line.split()
            if len(w) >= 3 and not line.startswith('#'):
                base[(w[0], w[1])] = w[2]

    md = [f'# {a.title}', '']
    # Totals.
    md += ['| client | NFS | tests | pass | fail | notrun |', '|---|---|---|---|---|---|']
    for v in versions:
        for c in clients:
            r = runs.get((c, v))
            if r is None:
                continue
            n = {s: sum(1 for x in r.values() if x[0] == s) for s in ('pass', 'fail', 'notrun')}
            note = (f' (stopped during {cut[(c, v)]})' if cut[(c, v)] else ' (stopped before its first test)') \
                if (c, v) in cut else ''
            md.append(f'| {c} | v{v} | {len(r)}{note} | {n["pass"]} | {n["fail"]} | {n["notrun"]} |')
    md.append('')

    new, fixed, lost = [], [], []
    for v in versions:
        cols = [c for c in clients if (c, v) in runs]
        tests = sorted(set().union(*(runs[(c, v)].keys() for c in cols)))
        md += [f'## NFS v{v}', '', '| test | ' + ' | '.join(cols) + ' | |',
               '|---|' + '---|' * len(cols) + '---|']
        for t in tests:
            r = {c: runs[(c, v)].get(t) for c in cols}
            ref = r['c'][0] if r.get('c') else base.get((v, t))
            flag = ''
            for c in cols:
                if c == 'c' or not r[c]:
                    continue
                if r[c][0] == 'fail' and ref == 'pass':
                    flag = '**NEW FAILURE**'
                    new.append((c, v, t))
                elif r[c][0] == 'notrun' and ref == 'pass':
                    flag = '**NOT RUN, C passes**'
                    lost.append((c, v, t))
                elif r[c][0] == 'pass' and ref == 'fail':
                    flag = 'ours passes, C fails'
                    fixed.append((c, v, t))
                elif ref and r[c][0] != ref:
                    flag = f'differs (C: {ref})'
            md.append(f'| {t} | ' + ' | '.join(cell(r[c]) for c in cols) + f' | {flag} |')
        md.append('')

    md += ['## New failures (ours fails, C passes)', '']
    if not new:
        md.append('None.')
    for c, v, t in new:
        suffix, lines = head_bad(a.outdir, c, v, t)
        md += [f'### {t} (NFS v{v}, {c})', '']
        if suffix:
            md += [f'Head of `results/{c}-v{v}/{t}{suffix}`:', '', '```'] + lines + ['```']
        md.append('')
    md += ['', '## Not run by ours, passed by C', '']
    md += [f'- {t} (NFS v{v}, {c}): ' + (open(os.path.join(a.outdir, 'results', f'{c}-v{v}', t + '.notrun'),
                                         errors='replace').read().strip()
                                    if os.path.exists(os.path.join(a.outdir, 'results', f'{c}-v{v}', t + '.notrun'))
                                    else '') for c, v, t in lost] or ['None.']
    md += ['', '## Ours passes where C fails', '']
    md += [f'- {t} (NFS v{v}, {c})' for c, v, t in fixed] or ['None.']
    md.append('')

    warns = warnings(a.dmesg) if a.dmesg and os.path.exists(a.dmesg) else []
    md += ['## Kernel warnings', '']
    if a.dmesg is None:
        md.append('(no dmesg given)')
    md += [f'- {s or "?"} {t}: `{l}`' for s, t, l in warns] or ['None.']
    md.append('')
    if cut:
        md += ['## Runs cut short', '']
        md += [f'- {c} v{v}: no summary; ' + (f'the last test started was {t}' if t else 'no test had started')
               for (c, v), t in cut.items()]
        md.append('')

    text = '\n'.join(md) + '\n'
    mdpath = a.md or os.path.join(a.outdir, 'results.md')
    open(mdpath, 'w').write(text)

    if a.write_baseline:
        with open(a.write_baseline, 'w') as f:
            f.write('# VERS TEST STATUS of the C client; written by tools/xfstests-report.py\n')
            for v in versions:
                for t, (st, _) in sorted(runs.get(('c', v), {}).items()):
                    f.write(f'{v} {t} {st}\n')

    for c, v, t in new:
        print(f'xfstests: NEW FAILURE: {t} on NFS v{v} with {c} (C passes)')
    for c, v, t in lost:
        print(f'xfstests: NOT RUN by {c}: {t} on NFS v{v} (C passes)')
    for s, t, l in warns:
        print(f'xfstests: kernel warning in {s} {t}: {l}')
    for (c, v), t in cut.items():
        print(f'xfstests: {c} v{v} stopped without a summary ' + (f'during {t}' if t else 'before its first test'))
    print(f'xfstests: report in {mdpath}')
    return 1 if new or lost or warns or cut else 0


if __name__ == '__main__':
    sys.exit(main())
