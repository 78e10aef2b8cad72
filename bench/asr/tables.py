"""Collects and prints the figures of bench/asr/run (system python3, standard library only).

  tables.py collect RUN_DIR CORPUS...     reads the raw outputs of one model's runs in RUN_DIR
                                          (see bench/asr/run) and writes RUN_DIR/runs.jsonl
                                          (one transcript per engine and file, for wer_table)
                                          and RUN_DIR/processes.json (process-level figures)
  tables.py vad MODEL TABLE_JSONL INDEX ROUND_DIR...
                                          the VAD gain on corpus file INDEX (pauses_music.wav):
                                          its per-file run against the round's ours-novad run
                                          (scored in novad-scored.jsonl); prints one line and
                                          appends a "vad_gain" row to TABLE_JSONL
  tables.py summarize MODEL TABLE_JSONL ROUND_DIR...
                                          one model's rounds (a RUN_DIR each, in the order they
                                          ran): reads each one's scored.jsonl (runs.jsonl scored
                                          by the wer_table example: the project's WER rule) and
                                          processes.json, prints the tables, appends the rows
                                          to TABLE_JSONL (read by bench/report). Times are the
                                          medians over the rounds per engine, ratios the ratio
                                          of those medians, with the per-round ratios in
                                          *_rounds fields and `rounds`; peak RSS is the max over
                                          the rounds; WER and texts are round 1's (a later
                                          round's differing text is listed in texts_differ)
  tables.py rss CASE MODEL SOURCE RSS_JSONL RUN_DIR...
                                          peak RSS (max over the runs) and median wall of
                                          `vidscribe transcribe` runs of one file, printed and
                                          appended to RSS_JSONL

Raw layout of RUN_DIR, one round of one model's measured runs (written by bench/asr/run:
runs/<model>/round-<k>/, or runs/<model>/ with --repeat 1):
  ours-file/<n>/    one `vidscribe transcribe FILE` per corpus file: time.txt (GNU time -v),
                    wall (start and end epoch seconds), stderr.log (--log info), data/ (the
                    embedded batch's data dir: results/*/metadata.json, transcript.txt)
  ours-multi/       the whole corpus in one `vidscribe transcribe` (same files)
  ours-server/      `vidscribe serve` + `vidscribe batch`: time.txt and serve.log of the
                    server, upload and wall (batch start → `batch watch` returned), data/
  fw-seq/, fw-batched/  bench/asr/fw.py: time.txt, wall, files.jsonl, process.json
"""

import json
import math
import re
import statistics
import sys
from pathlib import Path

RSS_TARGET_MB = 600
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LOADED = re.compile(r"model loaded.*?\bsecs=([0-9.eE+-]+)")


# ---------------------------------------------------------------------------------------------
# reading raw outputs


def gnu_time(path):
    """Figures of GNU time -v's report: wall, peak RSS, CPU seconds, exit status."""
    out = {"peak_rss_kb": None, "cpu_secs": None, "time_wall_secs": None, "exit_status": None}
    if not path.exists():
        return out
    user = system = None
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key == "Maximum resident set size (kbytes)":
            out["peak_rss_kb"] = int(value)
        elif key == "User time (seconds)":
            user = float(value)
        elif key == "System time (seconds)":
            system = float(value)
        elif key.startswith("Elapsed (wall clock) time"):
            secs = 0.0
            for part in value.split(":"):
                secs = secs * 60 + float(part)
            out["time_wall_secs"] = secs
        elif key == "Exit status":
            out["exit_status"] = int(value)
    if user is not None and system is not None:
        out["cpu_secs"] = user + system
    return out


def wall(path):
    """Seconds between the two epoch times bash wrote (EPOCHREALTIME before and after)."""
    if not path.exists():
        return None
    start, end = (float(x) for x in path.read_text().split()[:2])
    return end - start


def load_times(log):
    """Model loads logged by the engine ("model loaded … secs=S"), in seconds."""
    if not log.exists():
        return []
    return [float(m.group(1)) for m in LOADED.finditer(ANSI.sub("", log.read_text(errors="replace")))]


def ours_jobs(data_dir):
    """The finished jobs of a data directory, by media file name: metadata.json + transcript.txt."""
    jobs = {}
    for meta_path in sorted(data_dir.glob("results/*/metadata.json")):
        meta = json.loads(meta_path.read_text())
        name = Path(meta["original_filename"]).name
        if name in jobs:
            raise SystemExit(f"two jobs for {name} in {data_dir}")
        txt = meta_path.parent / "transcript.txt"
        jobs[name] = {
            "job_secs": meta.get("processing_time"),
            "audio_secs": meta.get("media_duration"),
            "language": meta.get("language"),
            "text": txt.read_text() if txt.exists() else "",
        }
    return jobs


def read_json(path):
    return json.loads(path.read_text()) if path.exists() else None


def read_jsonl(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def process_figures(d, log_name):
    loads = load_times(d / log_name)
    return dict(gnu_time(d / "time.txt"), wall_secs=wall(d / "wall"),
                load_secs=sum(loads) if loads else None, model_loads=len(loads))


def collect(run_dir, corpus):
    by_name = {Path(f).name: f for f in corpus}
    if len(by_name) != len(corpus):
        raise SystemExit("corpus files must have distinct names")
    runs, procs = [], {}

    def need(jobs, where):
        missing = [n for n in by_name if n not in jobs]
        if missing:
            raise SystemExit(f"{where}: no finished job for {', '.join(missing)}")

    # Vidscribe, one process per file
    per_file = {}
    for d in sorted((run_dir / "ours-file").glob("*"), key=lambda p: int(p.name)):
        p = process_figures(d, "stderr.log")
        jobs = ours_jobs(d / "data")
        if len(jobs) != 1:
            raise SystemExit(f"{d}: expected one finished job, found {len(jobs)}")
        (name, job), = jobs.items()
        per_file[name] = p
        secs = None if p["load_secs"] is None or job["job_secs"] is None else job["job_secs"] - p["load_secs"]
        runs.append({"engine": "ours-file", "file": by_name[name], "name": name, "text": job["text"],
                     "audio_secs": job["audio_secs"], "secs": secs, "job_secs": job["job_secs"],
                     "load_secs": p["load_secs"], "process_secs": p["wall_secs"],
                     "peak_rss_kb": p["peak_rss_kb"], "cpu_secs": p["cpu_secs"]})
    if per_file:
        need(per_file, "ours-file")
        procs["ours_file"] = per_file

    # Vidscribe, the corpus in one `transcribe` and in one server batch
    for engine, key, log in (("ours-multi", "ours_multi", "stderr.log"), ("ours-server", "ours_server", "serve.log")):
        d = run_dir / engine
        if not d.exists():
            continue
        p = process_figures(d, log)
        jobs = ours_jobs(d / "data")
        need(jobs, engine)
        p["jobs_secs"] = sum(j["job_secs"] or 0.0 for j in jobs.values())
        if key == "ours_server":
            p["upload_secs"] = wall(d / "upload")
            p["process_wall_secs"] = p.pop("time_wall_secs")
        procs[key] = p
        for name, job in jobs.items():
            runs.append({"engine": engine, "file": by_name[name], "name": name, "text": job["text"],
                         "audio_secs": job["audio_secs"], "secs": job["job_secs"], "job_secs": job["job_secs"]})

    # faster-whisper, one process each for the sequential and the batched pipeline
    for engine, key in (("fw-seq", "fw_seq"), ("fw-batched", "fw_batched")):
        d = run_dir / engine
        if not d.exists():
            continue
        p = dict(gnu_time(d / "time.txt"), wall_secs=wall(d / "wall"), **(read_json(d / "process.json") or {}))
        rows = read_jsonl(d / "files.jsonl")
        need({Path(r["file"]).name: r for r in rows}, engine)
        procs[key] = p
        for r in rows:
            name = Path(r["file"]).name
            runs.append({"engine": engine, "file": by_name[name], "name": name, "text": r["text"],
                         "audio_secs": r["audio_secs"], "secs": r["secs"], "peak_rss_kb": r["peak_rss_kb"],
                         "rss_scope": r.get("rss_scope"), "language": r.get("language")})

    with open(run_dir / "runs.jsonl", "w", encoding="utf-8") as f:
        for r in runs:
            f.write(json.dumps(r) + "\n")
    (run_dir / "processes.json").write_text(json.dumps(procs, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# printing


def f(x, digits=2, width=0):
    s = "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"
    return s.rjust(width)


def div(a, b):
    return None if a is None or not b else a / b


def x(r, width=0):
    return ("–" if r is None else f"{r:.2f}x").rjust(width)


def mb(kb):
    return None if kb is None else kb / 1024


def files(n):
    return f"{n} file{'' if n == 1 else 's'}"


def corpus_wer(rows):
    words = sum(r["reference_words"] for r in rows)
    errors = sum(r["errors"] for r in rows)
    return (errors / words * 100 if words else None), errors, words


def median(values):
    """Median of the known values (None where there is none)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def peak_of(values):
    known = [v for v in values if v]
    return max(known) if known else None


def xr(ratio, per_round, width=0):
    """A ratio of medians; with several rounds also the min–max of the per-round ratios."""
    s = x(ratio)
    known = [r for r in per_round if r is not None]
    if len(per_round) > 1 and known:
        s += f" ({min(known):.2f}–{max(known):.2f})"
    return s.rjust(width)


def span(values, digits=2):
    known = [v for v in values if v is not None]
    return f"{min(known):.{digits}f}–{max(known):.{digits}f}" if known else "–"


def load_round(d):
    """One round's scored transcripts by engine and file name, and its process figures."""
    by = {}
    for r in read_jsonl(d / "scored.jsonl"):
        by.setdefault(r["engine"], {})[r["name"]] = r
    return by, read_json(d / "processes.json") or {}


def summarize(model, table_jsonl, round_dirs):
    """The tables of one model over its rounds: medians per engine, ratios of the medians and
    the per-round ratios; WER of round 1, peak RSS the max over the rounds."""
    rounds = [load_round(d) for d in round_dirs]
    n_rounds = len(rounds)
    bys = [b for b, _ in rounds]
    procs_k = [p for _, p in rounds]
    by, procs = rounds[0]  # WER, labels and texts: round 1
    triple = ("ours-file", "fw-seq", "fw-batched")
    names = [n for n in by.get("ours-file", {})
             if all(n in b.get(e, {}) for b in bys for e in triple)]
    if not names:
        raise SystemExit(f"{round_dirs[0]}: no file was transcribed by every engine in every round")
    for k, p in enumerate(procs_k):
        for key in ("fw_seq", "fw_batched"):
            if key not in p:
                raise SystemExit(f"{round_dirs[k]}: no {key} figures in processes.json")
    fw_loads = [p["fw_seq"].get("load_secs") for p in procs_k]
    fwb_loads = [p["fw_batched"].get("load_secs") for p in procs_k]
    fw_load, fwb_load = median(fw_loads), median(fwb_loads)
    excluded = all(b["ours-file"][n]["secs"] is not None for b in bys for n in names)
    basis = "load excluded" if excluded else "load included"
    out_rows = []
    several = n_rounds > 1

    # A later round whose transcript differs from round 1's (WER is round 1's).
    differs = []
    for engine, rows1 in by.items():
        for n, r1 in rows1.items():
            for k in range(1, n_rounds):
                rk = bys[k].get(engine, {}).get(n)
                if rk is None or rk.get("text") != r1.get("text"):
                    differs.append({"engine": engine, "name": n, "round": k + 1})

    def ours_t(b, n):
        return b["ours-file"][n]["secs"] if excluded else b["ours-file"][n]["job_secs"]

    def fw_t(rows, n, load):
        return rows[n]["secs"] if excluded else rows[n]["secs"] + (load or 0.0)

    # per file and per round: the times of each engine
    per = {}
    for n in names:
        to = [ours_t(b, n) for b in bys]
        ta = [fw_t(b["fw-seq"], n, fw_loads[k]) for k, b in enumerate(bys)]
        tb = [fw_t(b["fw-batched"], n, fwb_loads[k]) for k, b in enumerate(bys)]

        def med(engine, field):
            return median([b[engine][n].get(field) for b in bys])

        def peak(engine):
            return peak_of([b[engine][n].get("peak_rss_kb") for b in bys])

        per[n] = {
            "to": median(to), "ta": median(ta), "tb": median(tb),
            "speed_fw_rounds": [div(a, o) for a, o in zip(ta, to)],
            "speed_fwb_rounds": [div(b_, o) for b_, o in zip(tb, to)],
            "proc": med("ours-file", "process_secs"), "job": med("ours-file", "job_secs"),
            "load": med("ours-file", "load_secs"), "secs": med("ours-file", "secs"),
            "fw_file": med("fw-seq", "secs"), "fwb_file": med("fw-batched", "secs"),
            "ours_rss": peak("ours-file"), "fw_rss": peak("fw-seq"), "fwb_rss": peak("fw-batched"),
            "audio": by["ours-file"][n]["audio_secs"],
        }
        per[n]["speed_fw"] = div(per[n]["ta"], per[n]["to"])
        per[n]["speed_fwb"] = div(per[n]["tb"], per[n]["to"])

    # per round: the sums over the files; the overall figures are their medians
    sums = []
    for k, b in enumerate(bys):
        o = b["ours-file"]
        sums.append({
            "ours": sum(ours_t(b, n) for n in names),
            "fw": sum(fw_t(b["fw-seq"], n, fw_loads[k]) for n in names),
            "fwb": sum(fw_t(b["fw-batched"], n, fwb_loads[k]) for n in names),
            "proc": sum(o[n]["process_secs"] or 0.0 for n in names),
            "job": sum(o[n]["job_secs"] or 0.0 for n in names),
            "fw_file": sum(b["fw-seq"][n]["secs"] for n in names),
            "fwb_file": sum(b["fw-batched"][n]["secs"] for n in names),
            "ours_excl": sum(o[n]["secs"] or 0.0 for n in names),
        })
    tot = {key: median([s[key] for s in sums]) for key in sums[0]}
    tot["audio"] = sum(by["ours-file"][n]["audio_secs"] or 0.0 for n in names)
    tot_fw_rounds = [div(s["fw"], s["ours"]) for s in sums]
    tot_fwb_rounds = [div(s["fwb"], s["ours"]) for s in sums]

    threads = procs["fw_seq"].get("threads")
    print()
    print(f"== {model}: per file — speed = faster-whisper time ÷ Vidscribe time (> 1: Vidscribe is faster)")
    if several:
        print(f"   rounds     {n_rounds}, engines interleaved (even rounds in reverse order): every time below is")
        print("              the median over the rounds; speed = the ratio of the medians (in brackets: min–max")
        print("              of the per-round ratios)")
    print("   ours proc  wall of one `vidscribe transcribe FILE` process (start-up, model check + load, decode,")
    print("              transcribe, outputs)")
    print("   ours job   the job's processing time (metadata.json: model load + decode + transcribe)")
    print("   ours load  the model load inside that job (the engine's \"model loaded\" log line)")
    print("   ours       ours job − ours load: decode + transcribe, model load excluded")
    print("   fw, fw-b   faster-whisper transcribe() + segment iteration of this file, in one process that")
    print(f"              loaded the model once (model load {f(fw_load)} s / {f(fwb_load)} s, not included);")
    print("              fw = WhisperModel.transcribe (sequential), fw-b = BatchedInferencePipeline, batch 8")
    if excluded:
        print("   speed      fw ÷ ours and fw-b ÷ ours: model load excluded on both sides")
    else:
        print("   speed      (no model-load time in our log, so load INCLUDED on both sides:")
        print("              ours job vs fw file + fw model load)")
    w = max(24, *(len(n) for n in names)) + 1
    cells_fw = {n: xr(per[n]["speed_fw"], per[n]["speed_fw_rounds"]) for n in names}
    cells_fwb = {n: xr(per[n]["speed_fwb"], per[n]["speed_fwb_rounds"]) for n in names}
    tot_fw_cell, tot_fwb_cell = xr(div(tot["fw"], tot["ours"]), tot_fw_rounds), xr(div(tot["fwb"], tot["ours"]), tot_fwb_rounds)
    wa_ = max(8, 1 + max(len(c) for c in [*cells_fw.values(), tot_fw_cell]))
    wb_ = max(10, 1 + max(len(c) for c in [*cells_fwb.values(), tot_fwb_cell]))
    print(f"{'file':<{w}}{'audio s':>8} |{'ours proc':>10}{'ours job':>9}{'load':>6}{'ours':>8} |"
          f"{'fw':>8}{'fw-b':>8} |{'fw/ours':>{wa_}}{'fw-b/ours':>{wb_}}")
    for n in names:
        o, a, b = by["ours-file"][n], by["fw-seq"][n], by["fw-batched"][n]
        m = per[n]
        print(f"{n:<{w}}{f(m['audio'], 1, 8)} |{f(m['proc'], 2, 10)}{f(m['job'], 2, 9)}"
              f"{f(m['load'], 2, 6)}{f(m['secs'], 2, 8)} |{f(m['fw_file'], 2, 8)}{f(m['fwb_file'], 2, 8)} |"
              f"{cells_fw[n]:>{wa_}}{cells_fwb[n]:>{wb_}}")
        out_rows.append({
            "bench": "asr", "model": model, "row": "file", "name": n, "file": o["file"], "audio_secs": m["audio"],
            "basis": basis, "ours_process_secs": m["proc"], "ours_job_secs": m["job"],
            "ours_load_secs": m["load"], "ours_secs": m["to"], "fw_secs": m["ta"], "fwb_secs": m["tb"],
            "fw_file_secs": m["fw_file"], "fwb_file_secs": m["fwb_file"],
            "speed_fw": m["speed_fw"], "speed_fwb": m["speed_fwb"],
            "ours_wer_pct": o["wer_pct"], "fw_wer_pct": a["wer_pct"], "fwb_wer_pct": b["wer_pct"],
            "ours_errors": o["errors"], "fw_errors": a["errors"], "fwb_errors": b["errors"],
            "reference_words": o["reference_words"],
            "ours_rss_kb": m["ours_rss"], "fw_rss_kb": m["fw_rss"], "fwb_rss_kb": m["fwb_rss"],
            "fw_rss_scope": a.get("rss_scope"), "fwb_rss_scope": b.get("rss_scope"),
            "rounds": n_rounds, "speed_fw_rounds": m["speed_fw_rounds"], "speed_fwb_rounds": m["speed_fwb_rounds"],
            "texts_differ": [d for d in differs if d["name"] == n and d["engine"] in triple],
        })
    label = "TOTAL (median round Σ)" if several else "TOTAL (Σ of the column)"
    print(f"{label:<{w}}{f(tot['audio'], 1, 8)} |{f(tot['proc'], 2, 10)}{f(tot['job'], 2, 9)}"
          f"{'':>6}{f(tot['ours_excl'] if excluded else None, 2, 8)} |{f(tot['fw_file'], 2, 8)}"
          f"{f(tot['fwb_file'], 2, 8)} |{tot_fw_cell:>{wa_}}{tot_fwb_cell:>{wb_}}")

    rows = [by["ours-file"][n] for n in names], [by["fw-seq"][n] for n in names], [by["fw-batched"][n] for n in names]
    (wo, eo, words), (wa, ea, _), (wb, eb, _) = (corpus_wer(rs) for rs in rows)
    scope = {by["fw-seq"][n].get("rss_scope") for n in names} | {by["fw-batched"][n].get("rss_scope") for n in names}
    print()
    print(f"== {model}: WER (project normaliser, vidscribe-formats) and peak RSS per file; corpus: Σ errors ÷ Σ words, max RSS")
    print("   RSS ours = peak of that file's `vidscribe transcribe` process (GNU time -v); RSS fw / fw-b = peak of")
    if scope == {"file"}:
        print("   the faster-whisper process while it transcribed that file (mark reset before each file; the")
        print("   loaded model counts on both sides)")
    else:
        print("   the faster-whisper process up to that file (its mark could not be reset: it only grows)")
    if several:
        print(f"   WER of round 1 (decoding is deterministic); RSS the max over the {n_rounds} rounds")
    print(f"{'file':<{w}}{'words':>6} |{'WER% ours':>10}{'fw':>6}{'fw-b':>6} |{'RSS MB ours':>12}{'fw':>6}{'fw-b':>6}")
    for n in names:
        o, a, b = by["ours-file"][n], by["fw-seq"][n], by["fw-batched"][n]
        m = per[n]
        print(f"{n:<{w}}{o['reference_words']:>6} |{f(o['wer_pct'], 1, 10)}{f(a['wer_pct'], 1, 6)}{f(b['wer_pct'], 1, 6)} |"
              f"{f(mb(m['ours_rss']), 0, 12)}{f(mb(m['fw_rss']), 0, 6)}{f(mb(m['fwb_rss']), 0, 6)}")
    peak = [peak_of(per[n][key] for n in names) for key in ("ours_rss", "fw_rss", "fwb_rss")]
    print(f"{'corpus':<{w}}{words:>6} |{f(wo, 1, 10)}{f(wa, 1, 6)}{f(wb, 1, 6)} |"
          f"{f(mb(peak[0]), 0, 12)}{f(mb(peak[1]), 0, 6)}{f(mb(peak[2]), 0, 6)}")
    if differs:
        shown = ", ".join(f"{d['engine']} {d['name']} (round {d['round']})" for d in differs[:12])
        more = f" and {len(differs) - 12} more" if len(differs) > 12 else ""
        print(f"   NOTE: a later round's transcript differs from round 1's (WER above is round 1's): {shown}{more}")
    elif several:
        print("   (every round's transcripts are identical to round 1's)")

    print()
    how = ("Σ per-file times, model load excluded on both sides (ours job − load; fw transcribe + iteration)"
           if excluded else "Σ per-file times, one model load included per file on both sides")
    if several:
        how += f"; median over {n_rounds} rounds"
    print(f"== {model}: OVERALL ({files(len(names))}, {f(tot['audio'], 1)} s of audio; {how})")
    print(f"   Vidscribe {f(tot['ours'])} s | faster-whisper {f(tot['fw'])} s → {tot_fw_cell}"
          f" | batched {f(tot['fwb'])} s → {tot_fwb_cell}   (> 1: Vidscribe is faster)")
    print(f"   corpus WER: Vidscribe {f(wo, 1)} % | faster-whisper {f(wa, 1)} % | batched {f(wb, 1)} %")
    out_rows.append({
        "bench": "asr", "model": model, "row": "total", "basis": basis, "files": len(names), "audio_secs": tot["audio"],
        "ours_secs": tot["ours"], "fw_secs": tot["fw"], "fwb_secs": tot["fwb"],
        "speed_fw": div(tot["fw"], tot["ours"]), "speed_fwb": div(tot["fwb"], tot["ours"]),
        "ours_process_secs": tot["proc"], "ours_job_secs": tot["job"],
        "ours_wer_pct": wo, "fw_wer_pct": wa, "fwb_wer_pct": wb, "ours_errors": eo, "fw_errors": ea, "fwb_errors": eb,
        "reference_words": words, "ours_rss_kb": peak[0], "fw_rss_kb": peak[1], "fwb_rss_kb": peak[2],
        "fw_load_secs": fw_load, "fwb_load_secs": fwb_load,
        "rounds": n_rounds, "speed_fw_rounds": tot_fw_rounds, "speed_fwb_rounds": tot_fwb_rounds,
        "texts_differ": differs,
    })

    # the whole corpus at once
    multi = []
    for key, engine, label in (
        ("ours_multi", "ours-multi", "vidscribe transcribe ALL (1 process, default --jobs)"),
        ("ours_server", "ours-server", "vidscribe serve: 1 batch (start → done)"),
        ("fw_seq", "fw-seq", "faster-whisper sequential (1 process)"),
        ("fw_batched", "fw-batched", "faster-whisper batched (1 process, batch 8)"),
    ):
        ps = [p.get(key) for p in procs_k]
        if not all(ps):
            continue
        wer, errors, _ = corpus_wer([by[engine][n] for n in names if n in by.get(engine, {})])

        def med(field):
            return median([p.get(field) for p in ps])

        p = {"wall_secs": med("wall_secs"), "load_secs": med("load_secs"), "cpu_secs": med("cpu_secs"),
             "peak_rss_kb": peak_of([p.get("peak_rss_kb") for p in ps]), "upload_secs": med("upload_secs"),
             "jobs_secs": med("jobs_secs"), "wall_secs_rounds": [p.get("wall_secs") for p in ps]}
        multi.append((key, engine, label, p, wer, errors))
    base = {k: p["wall_secs"] for k, _, _, p, _, _ in multi}
    base_rounds = {k: p["wall_secs_rounds"] for k, _, _, p, _, _ in multi}
    print()
    print(f"== {model}: the whole corpus at once ({files(len(names))}) — WHOLE wall time; model load included everywhere")
    print("   transcribe and faster-whisper: the process from start to exit; server: `batch start` until")
    print("   `batch watch` returned (server already listening, uploads before it; the model loads in the")
    print("   first job). CPU s = user + system of the process (server: its whole life).")
    if several:
        print(f"   wall, load and CPU s: medians over the {n_rounds} rounds (wall min–max: the rounds' range); RSS: max;")
        print("   WER: round 1")
    lw = max(len(m[2]) for m in multi) + 1
    spread_col = f"{'wall min–max':>14}" if several else ""
    print(f"{'run':<{lw}}{'wall s':>8}{spread_col}{'load s':>8}{'CPU s':>8}{'RSS MB':>8}{'WER %':>7}")
    for key, engine, label, p, wer, errors in multi:
        spread_cell = f"{span(p['wall_secs_rounds']):>14}" if several else ""
        print(f"{label:<{lw}}{f(p['wall_secs'], 2, 8)}{spread_cell}{f(p.get('load_secs'), 2, 8)}"
              f"{f(p.get('cpu_secs'), 1, 8)}{f(mb(p.get('peak_rss_kb')), 0, 8)}{f(wer, 1, 7)}")
        out_rows.append({"bench": "asr", "model": model, "row": "multi", "run": key, "label": label,
                         "files": len(names), "audio_secs": tot["audio"], "wall_secs": p["wall_secs"],
                         "load_secs": p.get("load_secs"), "cpu_secs": p.get("cpu_secs"),
                         "peak_rss_kb": p.get("peak_rss_kb"), "wer_pct": wer, "errors": errors,
                         "reference_words": words, "upload_secs": p.get("upload_secs"),
                         "jobs_secs": p.get("jobs_secs"), "rounds": n_rounds,
                         "wall_secs_rounds": p["wall_secs_rounds"],
                         "texts_differ": [d for d in differs if d["engine"] == engine]})
    server = next((p for k, _, _, p, _, _ in multi if k == "ours_server"), None)
    if server and server.get("upload_secs") is not None:
        print(f"   (server uploads, not included: {f(server['upload_secs'])} s{' (median)' if several else ''})")
    ratios = {}
    for theirs in ("fw_seq", "fw_batched"):
        for us in ("ours_multi", "ours_server"):
            ratios[f"{theirs}_vs_{us}"] = div(base.get(theirs), base.get(us))
            ratios[f"{theirs}_vs_{us}_rounds"] = [div(a, o) for a, o in zip(base_rounds.get(theirs) or [None] * n_rounds,
                                                                          base_rounds.get(us) or [None] * n_rounds)]

    def rc(k):
        return xr(ratios[k], ratios[k + "_rounds"])

    print(f"   ratios (faster-whisper wall ÷ ours, > 1: Vidscribe is faster"
          f"{'; of the medians, in brackets the per-round min–max' if several else ''}): "
          f"sequential ÷ transcribe {rc('fw_seq_vs_ours_multi')}, batched ÷ transcribe "
          f"{rc('fw_batched_vs_ours_multi')}, sequential ÷ server {rc('fw_seq_vs_ours_server')}, "
          f"batched ÷ server {rc('fw_batched_vs_ours_server')}")
    out_rows.append(dict({"bench": "asr", "model": model, "row": "multi_ratios", "rounds": n_rounds}, **ratios))
    if threads is not None:
        out_rows[-1]["threads"] = threads

    with open(table_jsonl, "a", encoding="utf-8") as t:
        for r in out_rows:
            t.write(json.dumps(r) + "\n")


def rss(case, model, source, rss_jsonl, run_dirs):
    """Peak RSS of `vidscribe transcribe` runs of one file: the max over the runs given (the
    rounds of the per-file run, or one run of its own); times are their medians."""
    figures = []
    for d in run_dirs:
        p = process_figures(d, "stderr.log")
        jobs = ours_jobs(d / "data")
        if len(jobs) != 1:
            raise SystemExit(f"{d}: expected one finished job, found {len(jobs)}")
        (name, job), = jobs.items()
        figures.append((name, job, p))
    name, job, _ = figures[0]
    if any(n != name for n, _, _ in figures):
        raise SystemExit(f"{', '.join(map(str, run_dirs))}: not the same file in every run")
    peaks = [p["peak_rss_kb"] for _, _, p in figures]
    peak_kb = peak_of(peaks)
    walls = [p["wall_secs"] for _, _, p in figures]
    wall_s = median(walls)
    job_s = median([j["job_secs"] for _, j, _ in figures])
    cpu_s = median([p["cpu_secs"] for _, _, p in figures])
    load_s = median([p["load_secs"] for _, _, p in figures])
    peak = mb(peak_kb)
    verdict = "within" if peak is not None and peak <= RSS_TARGET_MB else "OVER"
    print(f"{case}: {name} ({f(job['audio_secs'], 0)} s of audio), {model}: peak RSS {f(peak, 0)} MB "
          f"(target ≤ {RSS_TARGET_MB} MB: {verdict}); process wall {f(wall_s, 1)} s, job "
          f"{f(job_s, 1)} s, CPU {f(cpu_s, 1)} s  [{source}]")
    with open(rss_jsonl, "a", encoding="utf-8") as t:
        t.write(json.dumps({"bench": "rss", "case": case, "name": name, "model": model, "source": source,
                            "audio_secs": job["audio_secs"], "peak_rss_kb": peak_kb,
                            "wall_secs": wall_s, "job_secs": job_s, "cpu_secs": cpu_s,
                            "load_secs": load_s, "target_mb": RSS_TARGET_MB, "rounds": len(figures),
                            "peak_rss_kb_rounds": peaks, "wall_secs_rounds": walls}) + "\n")


def vad(model, table_jsonl, index, round_dirs):
    """The VAD gain on the file with non-speech (corpus file `index`): its per-file run (VAD
    on, the default) against the run with `--vad false`, in every round: job time, process
    wall, seconds given to the model and WER (scored by wer_table)."""
    on_jobs, off_jobs, on_walls, off_walls = [], [], [], []
    on_wer = off_wer = None
    heard = None
    for d in round_dirs:
        on_dir, off_dir = d / "ours-file" / str(index), d / "ours-novad"
        (name, on), = ours_jobs(on_dir / "data").items()
        (_, off), = ours_jobs(off_dir / "data").items()
        on_jobs.append(on["job_secs"])
        off_jobs.append(off["job_secs"])
        on_walls.append(wall(on_dir / "wall"))
        off_walls.append(wall(off_dir / "wall"))
        meta = next((on_dir / "data").glob("results/*/metadata.json"))
        heard = json.loads(meta.read_text()).get("speech_seconds")
        if on_wer is None:
            on_wer = next(r for r in read_jsonl(d / "scored.jsonl") if r["engine"] == "ours-file" and r["name"] == name)
            off_wer = read_jsonl(d / "novad-scored.jsonl")[0]
    job_on, job_off = median(on_jobs), median(off_jobs)
    per_round = [div(a, b) for a, b in zip(off_jobs, on_jobs)]
    print(f"   VAD gain on {name} ({f(on['audio_secs'], 1)} s, {f(heard, 1)} s given to the model with VAD): job "
          f"{f(job_off)} s without, {f(job_on)} s with: {xr(div(job_off, job_on), per_round)}; process wall "
          f"{f(median(off_walls))} s and {f(median(on_walls))} s; WER {f(off_wer['wer_pct'])} % without, "
          f"{f(on_wer['wer_pct'])} % with")
    with open(table_jsonl, "a", encoding="utf-8") as t:
        t.write(json.dumps({"bench": "asr", "model": model, "row": "vad_gain", "name": name,
                            "audio_secs": on["audio_secs"], "speech_secs": heard,
                            "job_secs_vad": job_on, "job_secs_no_vad": job_off,
                            "wall_secs_vad": median(on_walls), "wall_secs_no_vad": median(off_walls),
                            "wer_pct_vad": on_wer["wer_pct"], "wer_pct_no_vad": off_wer["wer_pct"],
                            "ratio_rounds": per_round}) + "\n")


def main(argv):
    if len(argv) >= 3 and argv[1] == "collect":
        collect(Path(argv[2]), argv[3:])
    elif len(argv) >= 5 and argv[1] == "summarize":
        summarize(argv[2], argv[3], [Path(d) for d in argv[4:]])
    elif len(argv) >= 6 and argv[1] == "vad":
        vad(argv[2], argv[3], int(argv[4]), [Path(d) for d in argv[5:]])
    elif len(argv) >= 7 and argv[1] == "rss":
        rss(argv[2], argv[3], argv[4], argv[5], [Path(d) for d in argv[6:]])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
