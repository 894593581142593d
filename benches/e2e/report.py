#!/usr/bin/env python3
"""Turns the raw runs of benches/e2e/run.sh into the results file and an SVG plot.

  report.py --line < one-raw-line              one human line (progress output)
  report.py --raw R --meta M --nginx N --out FILE --svg FILE

Standard library only. The nginx figures are read from nginx-baseline.sh's results table.
"""
import argparse
import math
import statistics
import sys
from html import escape

# The targets on this 2-core machine.
TARGET_MSGS = 10_000
TARGET_P50_MS = 1.5
TARGET_MBS = 300
TARGET_PEAK_MB = 64
TARGET_IDLE_MB = 20
TARGET_READY_MS = 200


def parse_line(line):
    cols = line.rstrip("\n").split("\t")
    label, conc, body, rep = cols[0], int(cols[1]), int(cols[2]), int(cols[3])
    kv = {}
    for field in cols[4].split() + cols[5:]:
        k, _, v = field.partition("=")
        kv[k] = v
    requests = int(kv["requests"])
    secs = int(kv["duration_us"]) / 1e6
    clk = float(kv["clk"])
    rate = requests / secs if secs else 0.0

    def per_msg_us(ticks):
        return float(ticks) / clk / requests * 1e6 if requests else 0.0

    def mean_batch(node):
        b, m = int(kv[f"{node}_batches"]), int(kv[f"{node}_batched"])
        return m / b if b else 0.0

    return {
        "label": label, "conc": conc, "body": body, "rep": rep,
        "rate": rate, "p50": int(kv["p50_us"]) / 1000, "p99": int(kv["p99_us"]) / 1000,
        "mbs": rate * body / 1e6,
        "errors": sum(int(v) for k, v in kv.items() if k.startswith("err_")),
        "cons_us": per_msg_us(kv["cons_cpu"]), "prov_us": per_msg_us(kv["prov_cpu"]),
        "svc_us": per_msg_us(kv["svc_cpu"]),
        "cons_mb": int(kv["cons_hwm"]) / 1024, "prov_mb": int(kv["prov_hwm"]) / 1024,
        "cons_batch": mean_batch("cons"), "prov_batch": mean_batch("prov"),
    }


def one_line(r):
    return (f"{r['label']:<8} c={r['conc']:<3} {r['rate']:8.0f} msg/s  p50 {r['p50']:7.3f} ms  "
            f"p99 {r['p99']:7.3f} ms  {r['mbs']:7.1f} MB/s  err={r['errors']}  "
            f"cpu/msg cons {r['cons_us']:.0f} µs prov {r['prov_us']:.0f} µs svc {r['svc_us']:.0f} µs  "
            f"peak RSS cons {r['cons_mb']:.1f} MB prov {r['prov_mb']:.1f} MB  "
            f"batch cons {r['cons_batch']:.1f} prov {r['prov_batch']:.1f}")


def medians(runs):
    """Median of every numeric field over the repeats of each (label, conc)."""
    groups = {}
    for r in runs:
        groups.setdefault((r["label"], r["conc"]), []).append(r)
    out = []
    for (label, conc), rs in groups.items():
        m = {"label": label, "conc": conc, "body": rs[0]["body"], "n": len(rs)}
        for k, v in rs[0].items():
            if k not in m and isinstance(v, (int, float)):
                m[k] = statistics.median(r[k] for r in rs)
        m["errors"] = sum(r["errors"] for r in rs)
        out.append(m)
    return out


def read_nginx(path):
    """(case, wp, c, body) -> dict of req/s, p50, p99, MB/s from nginx-baseline's table."""
    rows = {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return rows
    in_table = False
    for line in lines:
        if line.startswith("case "):
            in_table = True
            continue
        if in_table:
            if not line.strip():
                break
            f = line.split()
            try:
                rows[(f[0], f[1], int(f[2]), f[4])] = {
                    "rate": float(f[5]), "p50": float(f[6]), "p99": float(f[7]),
                    "mbs": float(f[8]), "us": float(f[14]) if f[14] != "-" else 0.0}
            except (ValueError, IndexError):
                continue
    return rows


def read_meta(path):
    meta = {}
    for line in open(path, encoding="utf-8"):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    return meta


def ratio(ours, theirs):
    return f"{100 * ours / theirs:.0f} %" if theirs else "-"


def verdict(ok):
    return "reached" if ok else "NOT reached"


def write_report(rows, nginx, meta, out):
    by = {(r["label"], r["conc"]): r for r in rows}
    gcm = {c: nginx.get(("chain-tls-gcm", "1", c, "1.2KB")) for c in (1, 16, 64)}
    cbc = {c: nginx.get(("chain-tls-cbc", "1", c, "1.2KB")) for c in (1, 16, 64)}
    big = nginx.get(("chain-tls-gcm", "1", 16, "1MiB"))
    lines = [
        "# xroad-sidecar end-to-end benchmark (benches/e2e/run.sh)",
        f"date:     {meta.get('date')}   commit {meta.get('commit')}",
        f"machine:  {meta.get('cpu')}, kernel {meta.get('kernel')}",
        f"settings: {meta.get('duration')} s per run, {meta.get('repeats')} repeat(s) (medians), "
        f"{meta.get('keys')} keys, TLS {meta.get('tls')}, "
        f"binary {int(meta.get('binary', 0)) / 1e6:.1f} MB",
        "topology: wrk -HTTP-> consumer (client proxy) -mTLS 1.2-> provider (server proxy) "
        "-HTTP-> nginx service; each server its own `xroad-sidecar run` process",
        "columns:  cpu µs/msg = each server's CPU time (all threads) per message; peak = VmHWM "
        "during the case; batch = mean messages per signature (consumer signs requests, "
        "provider responses); vs nginx = our msg/s as a share of the nginx chain at the same "
        "concurrency (GCM / CBC suite)",
        "",
        f"{'case':<9}{'c':>3} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'MB/s':>7} {'err':>4} "
        f"{'cpu µs/msg cons/prov/svc':>25} {'peak MB cons/prov':>18} {'batch cons/prov':>16} "
        f"{'vs nginx gcm/cbc':>17}",
    ]
    for r in sorted(rows, key=lambda r: (r["label"], r["conc"])):
        g, c = gcm.get(r["conc"]), cbc.get(r["conc"])
        vs = "-"
        if r["body"] < 100_000 and g and c:
            vs = f"{ratio(r['rate'], g['rate'])} / {ratio(r['rate'], c['rate'])}"
        elif r["body"] >= 100_000 and big:
            vs = f"{ratio(r['mbs'], big['mbs'])} (MB/s)"
        lines.append(
            f"{r['label']:<9}{r['conc']:>3} {r['rate']:>8.0f} {r['p50']:>8.3f} {r['p99']:>8.3f} "
            f"{r['mbs']:>7.1f} {r['errors']:>4} "
            f"{r['cons_us']:>9.0f}/{r['prov_us']:.0f}/{r['svc_us']:<6.0f}     "
            f"{r['cons_mb']:>8.1f}/{r['prov_mb']:<8.1f} {r['cons_batch']:>7.1f}/{r['prov_batch']:<7.1f} "
            f"{vs:>17}")
    lines += ["", "nginx chain (same machine, same run; ../shared/bench/nginx-baseline.sh):"]
    for name, table in (("TLS GCM", gcm), ("TLS CBC", cbc)):
        for c in (1, 16, 64):
            n = table.get(c)
            if n:
                lines.append(f"  {name} c={c:<3} {n['rate']:8.0f} req/s  p50 {n['p50']:.3f} ms  "
                             f"p99 {n['p99']:.3f} ms  {n['us']:.0f} µs nginx CPU/req")
    if big:
        lines.append(f"  TLS GCM 1 MiB bodies c=16: {big['mbs']:.0f} MB/s")

    small = [r for r in rows if r["body"] < 100_000]
    best = max((r["rate"] for r in small if r["label"].startswith("soap")), default=0)
    p50 = min((r["p50"] for r in small if r["conc"] == 1 and r["label"].startswith("soap")),
              default=float("inf"))
    mbs = max((r["mbs"] for r in rows if r["body"] >= 100_000), default=0)
    peak = max((max(r["cons_mb"], r["prov_mb"]) for r in rows), default=0)
    idle = max(int(meta.get("idle_rss_consumer", 0)), int(meta.get("idle_rss_provider", 0))) / 1024
    ready = max(float(meta.get("ready_consumer", 0)), float(meta.get("ready_provider", 0)))
    best_gcm = max((n["rate"] for n in gcm.values() if n), default=0)
    lines += [
        "",
        "start-up (cached global configuration; health check answers 200): "
        f"provider {meta.get('ready_provider')} ms, consumer {meta.get('ready_consumer')} ms",
        f"idle RSS after warm-up: provider {int(meta.get('idle_rss_provider', 0)) / 1024:.1f} MB, "
        f"consumer {int(meta.get('idle_rss_consumer', 0)) / 1024:.1f} MB",
        "",
        "targets:",
        f"  >= {TARGET_MSGS} small SOAP msg/s: {best:.0f} ({ratio(best, best_gcm)} of the best "
        f"nginx GCM chain) -- {verdict(best >= TARGET_MSGS)}",
        f"  p50 <= {TARGET_P50_MS} ms at c=1: {p50:.3f} ms -- {verdict(p50 <= TARGET_P50_MS)}",
        f"  >= {TARGET_MBS} MB/s large bodies: {mbs:.0f} MB/s -- {verdict(mbs >= TARGET_MBS)}",
        f"  <= {TARGET_PEAK_MB} MB peak RSS per server: {peak:.1f} MB -- "
        f"{verdict(peak <= TARGET_PEAK_MB)}",
        f"  <= {TARGET_IDLE_MB} MB idle RSS: {idle:.1f} MB -- {verdict(idle <= TARGET_IDLE_MB)}",
        f"  ready <= {TARGET_READY_MS} ms: {ready:.0f} ms -- {verdict(ready <= TARGET_READY_MS)}",
    ]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def svg_plot(rows, nginx, meta, path):
    """Two panels: msg/s and latency (p50 solid, p99 dashed) against concurrency."""
    concs = [1, 16, 64]
    series = []
    for label, colour in (("soap-1k", "#1f77b4"), ("rest-1k", "#2ca02c")):
        pts = {r["conc"]: r for r in rows if r["label"] == label}
        if pts:
            series.append((f"xroad-sidecar {label}", colour, pts))
    for case, name, colour in (("chain-tls-gcm", "nginx chain GCM", "#7f7f7f"),
                               ("chain-tls-cbc", "nginx chain CBC", "#bcbd22")):
        pts = {c: nginx[(case, "1", c, "1.2KB")] for c in concs
               if (case, "1", c, "1.2KB") in nginx}
        if pts:
            series.append((name, colour, pts))
    W, H, PAD = 980, 420, 60
    pw = (W - 3 * PAD) / 2
    ph = H - 2 * PAD - 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">xroad-sidecar end to end '
           f'vs the nginx chain: {escape(meta.get("cpu", ""))}, {escape(meta.get("date", ""))}</text>']

    def panel(x0, title, ylabel, values, lines_for, log=False):
        y0 = PAD + ph
        if log:
            lo = math.floor(math.log10(max(min(v for v in values if v > 0), 1e-3)))
            hi = math.ceil(math.log10(max(values + [1e-3])))
            hi = max(hi, lo + 1)
            ticks = [10.0 ** e for e in range(lo, hi + 1)]

            def ypos(v):
                return y0 - ph * (math.log10(max(v, 10.0 ** lo)) - lo) / (hi - lo)
        else:
            ymax = max(values + [1]) * 1.1
            ticks = [ymax * i / 5 for i in range(6)]

            def ypos(v):
                return y0 - ph * v / ymax
        out.append(f'<text x="{x0 + pw / 2}" y="{PAD - 10}" text-anchor="middle">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0 + pw}" y2="{y0}" stroke="black"/>')
        out.append(f'<line x1="{x0}" y1="{PAD}" x2="{x0}" y2="{y0}" stroke="black"/>')
        for v in ticks:
            y = ypos(v)
            out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + pw}" y2="{y}" stroke="#eee"/>')
            txt = f"{v:g}" if log else f"{v:.0f}"
            out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{txt}</text>')
        xs = {c: x0 + pw * (i + 0.5) / len(concs) for i, c in enumerate(concs)}
        for c, x in xs.items():
            out.append(f'<text x="{x}" y="{y0 + 16}" text-anchor="middle">{c}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 + 32}" text-anchor="middle">concurrency '
                   f'(connections)</text>')
        out.append(f'<text x="{x0 - 45}" y="{PAD + ph / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 {x0 - 45} {PAD + ph / 2})">{ylabel}</text>')
        for colour, dash, pts in lines_for:
            coords = [(xs[c], ypos(v)) for c, v in sorted(pts.items())]
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2" '
                       f'stroke-dasharray="{dash}"/>')
            for x, y in coords:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')

    rates = [p["rate"] for _, _, pts in series for p in pts.values()]
    panel(PAD, "throughput", "messages/s", rates,
          [(colour, "", {c: p["rate"] for c, p in pts.items()}) for _, colour, pts in series])
    lats = [p[k] for _, _, pts in series for p in pts.values() for k in ("p50", "p99")]
    lat_lines = []
    for _, colour, pts in series:
        lat_lines.append((colour, "", {c: p["p50"] for c, p in pts.items()}))
        lat_lines.append((colour, "5,4", {c: p["p99"] for c, p in pts.items()}))
    panel(2 * PAD + pw, "latency (p50 solid, p99 dashed; log scale)", "milliseconds", lats,
          lat_lines, log=True)
    lx = PAD
    for name, colour, _ in series:
        out.append(f'<rect x="{lx}" y="{H - 22}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{H - 12}">{escape(name)}</text>')
        lx += 30 + 7 * len(name)
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--line", action="store_true")
    ap.add_argument("--raw")
    ap.add_argument("--meta")
    ap.add_argument("--nginx")
    ap.add_argument("--out")
    ap.add_argument("--svg")
    a = ap.parse_args()
    if a.line:
        for line in sys.stdin:
            if line.strip():
                print(one_line(parse_line(line)))
        return 0
    runs = [parse_line(line) for line in open(a.raw, encoding="utf-8") if line.strip()]
    rows = medians(runs)
    nginx = read_nginx(a.nginx) if a.nginx else {}
    meta = read_meta(a.meta)
    write_report(rows, nginx, meta, a.out)
    svg_plot(rows, nginx, meta, a.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
