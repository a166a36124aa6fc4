"""Tables, ratios, the docs section and the gnuplot chart for bench/harness.py.

Everything here works from a result dict (the JSON the harness writes), so
`bench/harness.py --render RESULT.json [--docs]` can redo it without runs.
"""
import os
import shutil
import subprocess
import tempfile

BEGIN = "<!-- harness:begin -->"
END = "<!-- harness:end -->"


def size_label(n):
    if n % (1 << 20) == 0:
        return f"{n >> 20} MB"
    if n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} B"


def fmt(v, digits=0, na="n/a"):
    if v is None:
        return na
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def mode(r):
    m = f"BDAT ×{r['inflight']}" if r["chunking"] else "DATA"
    if r.get("tls"):
        m += " TLS"
    if r.get("scrape"):
        m += " /metrics 1/s"
    return m


def ms(us):
    return None if us is None else us / 1000.0


def lat3(r):
    lat = r.get("accept_latency_us")
    if not lat:
        return "n/a"
    return " / ".join(fmt(ms(lat.get(k)), 2) for k in ("p50", "p99", "p999"))


def e2e(r):
    e = r.get("e2e_ms")
    if not e:
        return "n/a"
    return f"{fmt(e['p50'])} / {fmt(e['p99'])}"


def check(r):
    if r.get("accepted") is None:
        return "n/a"
    ok = "✓" if r.get("sink_matches") else "✗"
    return f"{ok} {r.get('sink_received', 0):,}/{r['accepted']:,}"


def syscalls(r):
    if r.get("syscalls_per_msg") is None:
        return "n/a"
    return " / ".join(fmt(r.get(k), 1) for k in
                      ("syscalls_per_msg", "io_uring_enter_per_msg", "io_uring_sqes_per_msg"))


def status_cell(r):
    if r["status"] == "ok":
        return None
    return f"**{r['status']}**: {r.get('reason', '')}"


def failed_row(r, head, headers):
    """The table row of a run without figures (failed, n/a...): its status
    in the first figure column; None when the run has figures to show (ok,
    and mismatch/aborted, which are shown with their figures)."""
    st = status_cell(r)
    if not st or r["status"] in ("mismatch", "aborted"):
        return None
    return head + [st] + [""] * (len(headers) - len(head) - 1)


def progress_line(r):
    if r["status"] not in ("ok", "mismatch"):
        return f"{r['label']}: {r['status']} ({r.get('reason', '')})"
    line = (f"{r['label']}: {fmt(r.get('msgs_per_sec'))} msgs/s, "
            f"{fmt(r.get('cpu_us_per_msg'), 1)} µs CPU/msg "
            f"({fmt(r.get('msgs_per_sec_per_core'))} msgs/s/core), "
            f"p99 {fmt(ms((r.get('accept_latency_us') or {}).get('p99')), 2)} ms, "
            f"sink {check(r)}")
    if r["status"] != "ok":
        line += f" [{r['status']}: {r.get('reason')}]"
    return line


def add_ratios(result):
    """vs_postfix = Postfix CPU µs/msg ÷ this run's, from the Postfix run of
    the same size and mode and connection count (else DATA, else any)."""
    pf = [r for r in result["runs"] if r["system"] == "postfix" and r["status"] == "ok"
          and r.get("cpu_us_per_msg")]
    for r in result["runs"]:
        if r["system"] != "ringpost" or not r.get("cpu_us_per_msg"):
            continue
        best = None
        for pred in (lambda p: p["chunking"] == r["chunking"] and
                     p["connections"] == r["connections"],
                     lambda p: not p["chunking"] and p["connections"] == r["connections"],
                     lambda p: True):
            cands = [p for p in pf if p["size"] == r["size"] and pred(p)]
            if cands:
                best = cands[0]
                break
        if best:
            r["vs_postfix"] = best["cpu_us_per_msg"] / r["cpu_us_per_msg"]
            r["vs_postfix_run"] = best["label"]


def in_group(result, group):
    return [r for r in result["runs"] if group in r.get("groups", [])]


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def ringpost_table(runs):
    headers = ["size", "durability", "shards", "mode", "msgs/s", "delivered msgs/s", "CPU µs/msg",
               "msgs/s/core", "× Postfix", "accept p50 / p99 / p999 ms", "e2e p50 / p99 ms",
               "peak RSS MiB", "page faults per msg", "syscalls / enter / SQEs per msg",
               "msgs per commit",
               "sink = accepted"]
    rows = []
    for r in runs:
        head = [size_label(r["size"]), r["durability"], r["shards"], mode(r)]
        if (failed := failed_row(r, head, headers)) is not None:
            rows.append(failed)
            continue
        rows.append(head + [
            fmt(r.get("msgs_per_sec")), fmt(r.get("e2e_msgs_per_sec")),
            fmt(r.get("cpu_us_per_msg"), 1), fmt(r.get("msgs_per_sec_per_core")),
            (f"{r['vs_postfix']:.0f}×" if r.get("vs_postfix") else "n/a"),
            lat3(r), e2e(r),
            fmt((r.get("peak_rss_kib") or 0) / 1024 if r.get("peak_rss_kib") else None, 1),
            fmt(r.get("minflt_per_msg"), 1), syscalls(r), fmt(r.get("msgs_per_commit"), 1), check(r)])
    return table(headers, rows)


def postfix_table(runs):
    headers = ["size", "mode", "conns", "msgs/s", "delivered msgs/s", "CPU µs/msg",
               "msgs/s/core", "accept p50 / p99 / p999 ms", "e2e p50 / p99 ms", "Pss sum MiB",
               "CPU µs/msg by process (live ones)", "sink = accepted"]
    rows = []
    for r in runs:
        head = [size_label(r["size"]), mode(r), r["connections"]]
        if (failed := failed_row(r, head, headers)) is not None:
            rows.append(failed)
            continue
        procs = r.get("process_cpu_us_per_msg") or {}
        top = sorted(procs.items(), key=lambda kv: -kv[1])[:5]
        rows.append(head + [
            fmt(r.get("msgs_per_sec")), fmt(r.get("e2e_msgs_per_sec")),
            fmt(r.get("cpu_us_per_msg"), 0), fmt(r.get("msgs_per_sec_per_core")), lat3(r), e2e(r),
            fmt(r["pss_kib_sum"] / 1024 if r.get("pss_kib_sum") else None, 0),
            ", ".join(f"{k} {v:,.0f}" for k, v in top) or "n/a", check(r)])
    return table(headers, rows)


def floor_table(runs):
    headers = ["size", "mode", "conns", "msgs/s", "sink CPU µs/msg (CPU 0)",
               "loadgen CPU µs/msg", "accept p50 / p99 / p999 ms",
               "sink syscalls / enter / SQEs per msg", "sink = accepted"]
    rows = []
    for r in runs:
        head = [size_label(r["size"]), mode(r), r["connections"]]
        if (failed := failed_row(r, head, headers)) is not None:
            rows.append(failed)
            continue
        rows.append(head + [fmt(r.get("msgs_per_sec")), fmt(r.get("cpu_us_per_msg"), 1),
                            fmt(r.get("loadgen_cpu_us_per_msg"), 1), lat3(r), syscalls(r),
                            check(r)])
    return table(headers, rows)


def sweep_table(runs):
    headers = ["system", "mode", "conns", "msgs/s", "CPU µs/msg", "msgs/s/core",
               "accept p50 / p99 / p999 ms", "sink = accepted"]
    rows = []
    for r in sorted(runs, key=lambda r: (r["system"], r["chunking"], r["connections"])):
        head = [r["system"], mode(r), r["connections"]]
        if (failed := failed_row(r, head, headers)) is not None:
            rows.append(failed)
            continue
        rows.append(head + [fmt(r.get("msgs_per_sec")), fmt(r.get("cpu_us_per_msg"), 1),
                            fmt(r.get("msgs_per_sec_per_core")), lat3(r), check(r)])
    return table(headers, rows)


def paced_table(runs):
    headers = ["system", "mode", "conns", "paced at msgs/s", "msgs/s", "CPU µs/msg",
               "accept p50 / p99 / p999 ms", "e2e p50 / p99 ms", "sink = accepted"]
    rows = []
    for r in sorted(runs, key=lambda r: (r["chunking"], r["system"] != "ringpost")):
        head = [r["system"], mode(r), r["connections"], fmt(r.get("rate"))]
        if (failed := failed_row(r, head, headers)) is not None:
            rows.append(failed)
            continue
        rows.append(head + [fmt(r.get("msgs_per_sec")), fmt(r.get("cpu_us_per_msg"), 1),
                            lat3(r), e2e(r), check(r)])
    return table(headers, rows)


def tls_table(runs):
    """Each TLS run next to its plaintext twin (same system, size,
    durability, shards, mode, connections) from the same harness run."""
    headers = ["system", "size", "durability", "shards", "mode", "plaintext CPU µs/msg",
               "TLS CPU µs/msg", "TLS ÷ plaintext", "plaintext msgs/s", "TLS msgs/s",
               "TLS accept p99 ms"]

    def twin_key(r):
        return (r["system"], r["size"], r.get("durability"), r.get("shards"), r["chunking"],
                r["inflight"] if r["chunking"] else 1, r["connections"], r.get("scrape", False))
    plain = {twin_key(r): r for r in runs if not r.get("tls")}
    rows = []
    for r in runs:
        if not r.get("tls"):
            continue
        p = plain.get(twin_key(r))
        m = f"BDAT ×{r['inflight']}" if r["chunking"] else "DATA"
        head = [r["system"], size_label(r["size"]), r.get("durability") or "—",
                r.get("shards") or "—", m]
        ok = r["status"] == "ok" and p is not None and p["status"] == "ok"
        pc, tc = (p or {}).get("cpu_us_per_msg"), r.get("cpu_us_per_msg")
        rows.append(head + [
            fmt(pc, 1) if p and p["status"] == "ok" else (status_cell(p) if p else "not run"),
            fmt(tc, 1) if r["status"] == "ok" else status_cell(r),
            f"{tc / pc:.2f}×" if ok and pc and tc else "n/a",
            fmt((p or {}).get("msgs_per_sec")), fmt(r.get("msgs_per_sec")),
            fmt(ms((r.get("accept_latency_us") or {}).get("p99")), 2)])
    return table(headers, rows) if rows else None


def scrape_table(runs):
    """Each run scraped once a second (/metrics) next to its unscraped twin
    (same everything else) from the same harness run."""
    headers = ["size", "durability", "shards", "mode", "CPU µs/msg", "scraped CPU µs/msg",
               "scraped ÷ not", "msgs/s", "scraped msgs/s", "scrapes (bytes)"]

    def twin_key(r):
        return (r["size"], r.get("durability"), r.get("shards"), r["chunking"],
                r["inflight"] if r["chunking"] else 1, r["connections"], r.get("tls", False))
    quiet = {twin_key(r): r for r in runs if not r.get("scrape")}
    rows = []
    for r in runs:
        if not r.get("scrape"):
            continue
        q = quiet.get(twin_key(r))
        m = (f"BDAT ×{r['inflight']}" if r["chunking"] else "DATA") + (" TLS" if r.get("tls")
                                                                     else "")
        ok = r["status"] == "ok" and q is not None and q["status"] == "ok"
        qc, sc = (q or {}).get("cpu_us_per_msg"), r.get("cpu_us_per_msg")
        sc_counts = r.get("scrapes") or {}
        rows.append([size_label(r["size"]), r.get("durability"), r.get("shards"), m,
                     fmt(qc, 1) if q and q["status"] == "ok" else
                     (status_cell(q) if q else "not run"),
                     fmt(sc, 1) if r["status"] == "ok" else status_cell(r),
                     f"{sc / qc:.3f}×" if ok and qc and sc else "n/a",
                     fmt((q or {}).get("msgs_per_sec")), fmt(r.get("msgs_per_sec")),
                     f"{sc_counts.get('ok', 0)} ({fmt(sc_counts.get('bytes', 0))})"])
    return table(headers, rows) if rows else None


def headline(result):
    s = result["settings"]
    g = result.get("git") or {}
    la = result["host"].get("load_avg_at_start")
    parts = [f"{result['started_at']}, {result['mode']} mode, commit "
             f"{g.get('commit')}{' (dirty)' if g.get('dirty') else ''}, "
             f"{result['host']['cpus']} CPUs ({result['host'].get('cpu_model')}), "
             f"kernel {result['host']['kernel']}",
             f"load average at start {la[0]:.2f}" if la else None,
             f"{s['duration_s']} s of load per run after a warm-up, "
             f"{s['connections']} connections, recipients over {s['rcpt_domains']}",
             f"relay on CPU {s['relay_cpus']}, sink and loadgen on CPU {s['load_cpu']}, "
             f"Postfix on CPU {s['postfix_cpus']}",
             f"extra relay flags: {' '.join(s['relay_args'])}" if s.get("relay_args") else None,
             f"Postfix {result.get('postfix_version') or 'n/a'}",
             f"syscalls: {result.get('syscall_counting')}"]
    return "; ".join(p for p in parts if p) + "."


def text_tables(result):
    out = [f"ringpost benchmark — {headline(result)}", ""]
    m = in_group(result, "matrix")
    if m:
        out += ["ringpost (CPU = relay cgroup; × Postfix = Postfix CPU/msg ÷ ringpost's, "
                "same size and mode, same run)", ringpost_table(m), ""]
    p = in_group(result, "postfix")
    if p:
        out += ["Postfix (CPU = every process of the instance, cgroup)", postfix_table(p), ""]
    f = in_group(result, "floor")
    if f:
        out += ["Floor: loadgen -> sink, no relay (sink on CPU 0 in the relay's place)",
                floor_table(f), ""]
    pc = in_group(result, "paced")
    if pc:
        out += ["ringpost at half its maximum (loadgen --rate), durable, first size and "
                "shard count", paced_table(pc), ""]
    t = tls_table(in_group(result, "matrix") + in_group(result, "floor"))
    if t:
        out += ["TLS against plaintext (CPU: the relay's, or the sink's for the floor; "
                "connections reused, so handshakes are amortised)", t, ""]
    sc = scrape_table(in_group(result, "matrix"))
    if sc:
        out += ["/metrics scraped once a second against not scraped (CPU: the relay's)", sc, ""]
    s = in_group(result, "sweep")
    if s:
        out += ["Connection sweep (chart)", sweep_table(s), ""]
    notes = []
    for r in result["runs"]:
        for n in r.get("notes", []):
            notes.append(f"- {r['label']}: {n}")
    if notes:
        out += ["Notes:"] + notes + [""]
    return "\n".join(out)


def render_chart(result, path):
    """Throughput and p99 acceptance latency against connection count (the
    sweep runs). Returns None on success, else why no chart."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot is not installed (package gnuplot-nox)"
    runs = [r for r in in_group(result, "sweep") if r["status"] == "ok"]
    series = []
    for system, chunking, title in (("ringpost", False, "ringpost, DATA"),
                                    ("ringpost", True, "ringpost, BDAT pipelined"),
                                    ("postfix", False, "Postfix, DATA")):
        pts = sorted((r["connections"], r["msgs_per_sec"],
                      ms(r["accept_latency_us"]["p99"]))
                     for r in runs if r["system"] == system and r["chunking"] == chunking)
        if pts:
            series.append((title, pts))
    if not series:
        return "no sweep runs to draw"
    tmp = tempfile.mkdtemp(prefix="ringpost-chart-")
    try:
        files = []
        for i, (title, pts) in enumerate(series):
            fn = os.path.join(tmp, f"s{i}.dat")
            with open(fn, "w") as f:
                for c, rate, p99 in pts:
                    f.write(f"{c} {rate} {p99}\n")
            files.append((fn, title))
        s = result["settings"]
        what = (f"{size_label(s['sizes'][0])} messages, {s['durability'][0]}, "
                f"{s['shards'][0]} shard(s), {result['started_at']}")
        plot1 = ", ".join(f"'{fn}' using 1:2 with linespoints lw 2 title '{t}'"
                          for fn, t in files)
        plot2 = ", ".join(f"'{fn}' using 1:3 with linespoints lw 2 title '{t}'"
                          for fn, t in files)
        script = f"""
set terminal pngcairo size 900,700 font ',10'
set output '{path}'
set multiplot layout 2,1 title 'ringpost harness: {what}'
set logscale x 2
set grid
set key top left
set logscale y 10
set ylabel 'accepted messages/s'
plot {plot1}
set key top left
set xlabel 'loadgen connections'
set ylabel 'p99 acceptance latency (ms)'
plot {plot2}
unset multiplot
"""
        sp = os.path.join(tmp, "chart.gp")
        with open(sp, "w") as f:
            f.write(script)
        r = subprocess.run([gnuplot, sp], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return f"gnuplot failed: {r.stderr.strip()[-300:]}"
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def docs_section(result, chart_rel, result_rel, chart_error):
    out = [BEGIN,
           "<!-- Generated by bench/harness.py --docs; edits here are overwritten. -->",
           "",
           f"Run: {headline(result)} Result file: `{result_rel}`.",
           ""]
    m = in_group(result, "matrix")
    if m:
        out += ["**ringpost** (CPU: the relay's cgroup, every thread; × Postfix: Postfix's "
                "CPU per message ÷ ringpost's, same size and mode, same run)", "",
                ringpost_table(m), ""]
    p = in_group(result, "postfix")
    if p:
        out += ["**Postfix** (CPU: every process of the private instance, its cgroup)", "",
                postfix_table(p), ""]
    f = in_group(result, "floor")
    if f:
        out += ["**Floor**: loadgen → sink without the relay; the sink sits on CPU 0 in the "
                "relay's place", "", floor_table(f), ""]
    pc = in_group(result, "paced")
    if pc:
        out += ["**Latency at half the maximum** (the same mode paced by `loadgen --rate` at "
                "half the msgs/s its matrix run reached; durable; `floor`: loadgen → sink at "
                "the same pace, no relay; its CPU is the sink's)", "", paced_table(pc), ""]
    t = tls_table(in_group(result, "matrix") + in_group(result, "floor"))
    if t:
        out += ["**TLS against plaintext** (STARTTLS from loadgen, TLS from the relay to the "
                "sink; CPU: the relay's, or the sink's for the floor; connections are reused, "
                "so handshakes are amortised)", "", t, ""]
    sc = scrape_table(in_group(result, "matrix"))
    if sc:
        out += ["**/metrics scraped once a second** against the same run not scraped (CPU: the "
                "relay's cgroup; the scraper runs in the harness)", "", sc, ""]
    s = in_group(result, "sweep")
    if s:
        out += ["**Connection sweep**", "", sweep_table(s), ""]
        if chart_error:
            out += [f"(No chart: {chart_error}.)", ""]
        else:
            out += [f"![throughput and p99 acceptance latency against connections]"
                    f"({chart_rel})", ""]
    notes = [f"- {r['label']}: {n}" for r in result["runs"] for n in r.get("notes", [])]
    if notes:
        out += ["Notes from the run:", ""] + notes + [""]
    out.append(END)
    return "\n".join(out)


def write_docs(result, md_path, chart_path, result_rel):
    chart_error = render_chart(result, chart_path)
    chart_rel = os.path.relpath(chart_path, os.path.dirname(md_path))
    section = docs_section(result, chart_rel, result_rel, chart_error)
    with open(md_path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n## Harness results\n\n" + section + "\n"
    with open(md_path, "w") as f:
        f.write(text)
