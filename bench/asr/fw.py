"""faster-whisper side of bench/asr/run: one process loads the model once, then transcribes
every file given, timing each file's transcribe() call plus the iteration over its segments
(faster-whisper decodes lazily: the work happens while the segments are consumed).

Usage (from bench/asr/run, inside the bench venv):
  python fw.py --mode sequential|batched --model-dir DIR --threads N --beam N
               --word-timestamps on|off --out FILE.jsonl --process-out FILE.json AUDIO...

  sequential  WhisperModel.transcribe (no VAD: its default)
  batched     BatchedInferencePipeline(model).transcribe with batch_size 8 (its defaults
              otherwise, VAD included)

--out gets one JSON line per file: file, audio_secs, secs (transcribe + segment iteration,
model load excluded), language, text, peak_rss_kb (the process's peak RSS while that file
was transcribed: the high-water mark is reset before each file through /proc/self/clear_refs,
so the figure includes the loaded model but not earlier files' peaks; `rss_scope` says
"file" then, or "process" where the reset is not possible and the mark only grows).
--process-out gets the process figures: import_secs, load_secs, files_secs (sum), versions.
"""

import argparse
import json
import os
import resource
import sys
import time

started = time.perf_counter()


def vm_hwm_kb():
    """Peak resident set size of this process (since the last reset), in kB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux; never reset


def reset_hwm():
    """Resets the peak-RSS mark to the current RSS (Linux ≥ 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["sequential", "batched"], required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--beam", type=int, required=True)
    p.add_argument("--word-timestamps", choices=["on", "off"], required=True)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--out", required=True)
    p.add_argument("--process-out", required=True)
    p.add_argument("files", nargs="+")
    a = p.parse_args()

    import ctranslate2
    import faster_whisper
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    import_secs = time.perf_counter() - started
    t = time.perf_counter()
    model = WhisperModel(a.model_dir, device="cpu", compute_type="int8", cpu_threads=a.threads, num_workers=1)
    pipeline = BatchedInferencePipeline(model=model) if a.mode == "batched" else None
    load_secs = time.perf_counter() - t
    print(f"faster-whisper {a.mode}: model loaded in {load_secs:.2f} s", file=sys.stderr, flush=True)

    words = a.word_timestamps == "on"
    files_secs = 0.0
    with open(a.out, "w", encoding="utf-8") as out:
        for path in a.files:
            scope = "file" if reset_hwm() else "process"
            t = time.perf_counter()
            if pipeline is None:
                segments, info = model.transcribe(path, beam_size=a.beam, word_timestamps=words)
            else:
                segments, info = pipeline.transcribe(path, beam_size=a.beam, word_timestamps=words,
                                                     batch_size=a.batch_size)
            text = " ".join(s.text.strip() for s in segments)
            secs = time.perf_counter() - t
            files_secs += secs
            row = {"file": path, "audio_secs": info.duration, "secs": secs, "language": info.language,
                   "text": text, "peak_rss_kb": vm_hwm_kb(), "rss_scope": scope}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"faster-whisper {a.mode}: {os.path.basename(path)} {info.duration:.1f} s of audio "
                  f"in {secs:.2f} s", file=sys.stderr, flush=True)

    with open(a.process_out, "w", encoding="utf-8") as f:
        json.dump({"mode": a.mode, "import_secs": import_secs, "load_secs": load_secs, "files_secs": files_secs,
                   "threads": a.threads, "beam": a.beam, "word_timestamps": words,
                   "batch_size": a.batch_size if pipeline is not None else None,
                   "faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
