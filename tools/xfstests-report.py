#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Side-by-side report of tests/vm/xfstests.sh runs.

    tools/xfstests-report.py OUTDIR... [--dmesg FILE] [--baseline FILE]
                             [--write-baseline FILE] [--md FILE]

OUTDIR is the guest's out share: results/<client>-v<vers>/ (fstests'
RESULT_BASE, with result.xml from `check -R xunit-quiet`) and
check-<client>-v<vers>.out (check's output, the fallback for a run cut
short). Writes results.md (or --md): per test and version, C against ours
(pass / fail / notrun and seconds), totals, new failures (ours fails where
C passes, or where --baseline says pass) with the head of their .out.bad,
tests ours did not run and C passed, ours passing where C fails, and
kernel warnings (OUTDIR/dmesg.txt, or --dmesg) with the test running.

Several OUTDIRs, for instance the shards of a long run (SHARD=k/N, each
with its shard.txt) made in different boots, make one report, to standard
output unless --md says where. It says which shards of N are there and
which are missing, and each one's repo revision, kernel and fstests. It
refuses (exit 2) shards of one NFS version with different N or selections,
shards mixed with whole runs, and two OUTDIRs with a test in common for
the same client and version.

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


def read_info(outdir):
    """run-info.txt's "key: value" lines (scripts/xfstests writes them)."""
    p = os.path.join(outdir, 'run-info.txt')
    if not os.path.exists(p):
        return {}
    return dict(line.rstrip('\n').split(': ', 1) for line in open(p, errors='replace') if ': ' in line)


def read_shard(outdir):
    """shard.txt: (k, N, selection, total, [tests]), or None for a whole run."""
    p = os.path.join(outdir, 'shard.txt')
    if not os.path.exists(p):
        return None
    head, tests = {}, []
    for line in open(p):
        line = line.rstrip('\n')
        m = re.match(r'^(\w+): (.*)$', line)
        if m:
            head[m.group(1)] = m.group(2)
        elif line:
            tests.append(line)
    k, n = (int(x) for x in head['shard'].split('/'))
    if int(head['tests']) != len(tests):
        sys.exit(f'xfstests-report: {p} says {head["tests"]} tests and lists {len(tests)}')
    return k, n, head['selection'], int(head['total']), tests


def refuse(msg):
    print('xfstests-report: REFUSED: ' + msg, file=sys.stderr)
    sys.exit(2)


def shortlist(tests, n=5):
    tests = sorted(tests)
    return ', '.join(tests[:n]) + (f' and {len(tests) - n} more' if len(tests) > n else '')


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
    ap.add_argument('outdir', nargs='+')
    ap.add_argument('--dmesg')
    ap.add_argument('--baseline')
    ap.add_argument('--write-baseline')
    ap.add_argument('--md')
    ap.add_argument('--title', default='xfstests over NFS/RDMA: C client against xprtrdma_rs')
    a = ap.parse_args()
    dirs = a.outdir
    if a.dmesg and len(dirs) > 1:
        refuse('--dmesg takes one OUTDIR; with several, each one\'s dmesg.txt is read')

    # Each OUTDIR's runs, merged; src says which OUTDIR a verdict came from.
    runs, cut, src, shards, infos, made = {}, [], {}, {}, {}, {}
    for d in dirs:
        druns, dcut = load(d)
        if not druns and len(dirs) > 1:
            refuse('no results in ' + d)
        shards[d], infos[d] = read_shard(d), read_info(d)
        made[d] = druns
        for cv, res in druns.items():
            runs.setdefault(cv, {}).update(res)
            for t in res:
                src[cv + (t,)] = d
        cut += [(d, c, v, t) for (c, v), t in dcut.items()]
    if not runs:
        print('xfstests-report: no results in ' + dirs[0], file=sys.stderr)
        return 1

    # The shards of a version must partition one list: the same N and
    # selection, and (below) no test twice for a client.
    sharded = [d for d in dirs if shards[d]]
    if sharded and len(sharded) != len(dirs):
        refuse('shards mixed with whole runs (no shard.txt): ' + ' '.join(d for d in dirs if not shards[d]))
    lists = {}
    for v in sorted({v for d in sharded for _, v in made[d]}, key=vkey):
        ds = [d for d in sharded if any(vv == v for _, vv in made[d])]
        ns = sorted({shards[d][1] for d in ds})
        if len({shards[d][1:4] for d in ds}) > 1:
            refuse(f'NFS v{v}: ' + (f'shards of different N ({", ".join(map(str, ns))}): ' if len(ns) > 1 else
                                    'shards of different lists: ') + '; '.join(
                f'{d}: shard {shards[d][0]}/{shards[d][1]} of {shards[d][3]} tests ({shards[d][2]})' for d in ds))
        lists[v] = shards[ds[0]][1:4]
    for i, d in enumerate(dirs):
        for e in dirs[i + 1:]:
            for cv in set(made[d]) & set(made[e]):
                both = set(shards[d][4]) & set(shards[e][4]) if sharded else set(made[d][cv]) & set(made[e][cv])
                if both:
                    refuse(f'{d} and {e} both ran {cv[0]} v{cv[1]} on {shortlist(both)}'
                           + (f' (shards {shards[d][0]} and {shards[e][0]} of {shards[d][1]})' if sharded else ''))

    clients = sorted({c for c, _ in runs}, key=lambda c: (c != 'c', c))
    versions = sorted({v for _, v in runs}, key=vkey)
    base = {}
    if a.baseline:
        for line in open(a.baseline):
            w = line.split()
            if len(w) >= 3 and not line.startswith('#'):
                base[(w[0], w[1])] = w[2]

    def label(d):
        """Where a result came from, when there is more than one OUTDIR."""
        if sharded:
            vs = sorted({v for _, v in made[d]}, key=vkey)
            return f'shard {shards[d][0]}/{shards[d][1]} ' + '+'.join('v' + v for v in vs)
        return d if len(dirs) > 1 else ''

    # Per client and version: the shards there (k, tests with a verdict,
    # tests in the shard), and the shards missing.
    coverage = {}
    for v, (nshards, _, _) in lists.items():
        for c in clients:
            have = sorted((shards[d][0], sum(1 for st, _ in made[d][(c, v)].values() if st != 'incomplete'),
                           len(shards[d][4])) for d in sharded if (c, v) in made[d])
            coverage[(c, v)] = have, sorted(set(range(1, nshards + 1)) - {k for k, _, _ in have}), nshards

    md = [f'# {a.title}', '']
    if sharded:
        md += ['Coverage:', '']
        for v, (nshards, sel, total) in lists.items():
            md.append(f'- v{v}: {total} tests ({sel}), in {nshards} shards')
            for c in clients:
                have, missing, _ = coverage[(c, v)]
                short = [f'{k} ({got} of {want})' for k, got, want in have if got < want]
                md.append(f'  - **{c}**: shards {", ".join(str(k) for k, _, _ in have) or "none"}'
                          + (f'; **missing {", ".join(map(str, missing))}**' if missing else '')
                          + (f'; **tests without a verdict in {", ".join(short)}**' if short else '')
                          + ('' if missing or short else '; complete'))
        md.append('')
    if len(dirs) > 1 or sharded:
        md += ['| shard | runs | tests | repo | kernel | fstests | date | guest wall time | dir |',
               '|---|---|---|---|---|---|---|---|---|']
        for d in sorted(dirs, key=lambda d: shards[d][0] if sharded else 0):
            i = infos[d]
            cols = ['/'.join(map(str, shards[d][:2])) if sharded else '-',
                    ', '.join(f'{c} v{v}' for c, v in sorted(made[d])),
                    str(len(shards[d][4])) if sharded else '-'] + \
                [i.get(k) or '?' for k in ('repo', 'kernel', 'fstests', 'date', 'guest wall time')] + [f'`{d}`']
            md.append('| ' + ' | '.join(cols) + ' |')
        md.append('')
        for key in ('repo', 'kernel', 'fstests'):
            seen = {infos[d].get(key) or '?' for d in dirs}
            if len(seen) > 1:
                md += [f'**Mixed {key}**: ' + '; '.join(
                    f'{x} ({", ".join(label(d) for d in dirs if (infos[d].get(key) or "?") == x)})'
                    for x in sorted(seen)), '']
        md += [f'- {label(d)}: `{infos[d].get("command", "?")}`' for d in dirs] + ['']

    # Totals.
    md += ['| client | NFS | tests | pass | fail | notrun |', '|---|---|---|---|---|---|']
    for v in versions:
        for c in clients:
            r = runs.get((c, v))
            if r is None:
                continue
            n = {s: sum(1 for x in r.values() if x[0] == s) for s in ('pass', 'fail', 'notrun')}
            note = ''.join(f' (stopped {"during " + t if t else "before its first test"}'
                           + (f' in {label(d)}' if label(d) else '') + ')'
                           for d, cc, vv, t in cut if (cc, vv) == (c, v))
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

    def where(c, v, t):
        d = src[(c, v, t)]
        return os.path.join(d, '') if len(dirs) > 1 else ''

    md += ['## New failures (ours fails, C passes)', '']
    if not new:
        md.append('None.')
    for c, v, t in new:
        suffix, lines = head_bad(src[(c, v, t)], c, v, t)
        md += [f'### {t} (NFS v{v}, {c})', '']
        if suffix:
            md += [f'Head of `{where(c, v, t)}results/{c}-v{v}/{t}{suffix}`:', '', '```'] + lines + ['```']
        md.append('')

    def notrun_reason(c, v, t):
        p = os.path.join(src[(c, v, t)], 'results', f'{c}-v{v}', t + '.notrun')
        return open(p, errors='replace').read().strip() if os.path.exists(p) else ''
    md += ['', '## Not run by ours, passed by C', '']
    md += [f'- {t} (NFS v{v}, {c}): ' + notrun_reason(c, v, t) for c, v, t in lost] or ['None.']
    md += ['', '## Ours passes where C fails', '']
    md += [f'- {t} (NFS v{v}, {c})' for c, v, t in fixed] or ['None.']
    md.append('')

    md += ['## Kernel warnings', '']
    warns = []
    for d in dirs:
        dm = a.dmesg or os.path.join(d, 'dmesg.txt')
        if os.path.exists(dm):
            warns += [(label(d),) + w for w in warnings(dm)]
        else:
            md.append(f'- **no dmesg** for {label(d) or d}: `{dm}` is missing; its warnings are not checked')
    md += [f'- {(l + " ") if l else ""}{s or "?"} {t}: `{w}`' for l, s, t, w in warns] or ['None.']
    md.append('')
    if cut:
        md += ['## Runs cut short', '']
        md += [f'- {c} v{v}' + (f' ({label(d)})' if label(d) else '') + ': no summary; '
               + (f'the last test started was {t}' if t else 'no test had started')
               for d, c, v, t in cut]
        md.append('')

    text = '\n'.join(md) + '\n'
    mdpath = a.md or (os.path.join(dirs[0], 'results.md') if len(dirs) == 1 else '-')
    say = sys.stderr if mdpath == '-' else sys.stdout
    if mdpath == '-':
        sys.stdout.write(text)
    else:
        open(mdpath, 'w').write(text)

    if a.write_baseline:
        with open(a.write_baseline, 'w') as f:
            f.write('# VERS TEST STATUS of the C client; written by tools/xfstests-report.py\n')
            for v in versions:
                for t, (st, _) in sorted(runs.get(('c', v), {}).items()):
                    f.write(f'{v} {t} {st}\n')

    for c, v, t in new:
        print(f'xfstests: NEW FAILURE: {t} on NFS v{v} with {c} (C passes)', file=say)
    for c, v, t in lost:
        print(f'xfstests: NOT RUN by {c}: {t} on NFS v{v} (C passes)', file=say)
    for l, s, t, w in warns:
        print(f'xfstests: kernel warning in {(l + " ") if l else ""}{s} {t}: {w}', file=say)
    for d, c, v, t in cut:
        print(f'xfstests: {c} v{v}' + (f' ({label(d)})' if label(d) else '') + ' stopped without a summary '
              + (f'during {t}' if t else 'before its first test'), file=say)
    for (c, v), (_, missing, nshards) in coverage.items():
        if missing:
            print(f'xfstests: {c} v{v}: shards {", ".join(map(str, missing))} of {nshards} are missing', file=say)
    print(f'xfstests: report in {"standard output" if mdpath == "-" else mdpath}', file=say)
    return 1 if new or lost or warns or cut else 0


if __name__ == '__main__':
    sys.exit(main())
