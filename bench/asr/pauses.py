"""Builds the benchmark's long file with non-speech: the test speech (jfk.wav and the five
LibriVox clips) separated by stretches of room tone (faint noise, about -60 dBFS) and of a
synthetic music bed (plucked three-note chords every half second over a noise beat), 16 kHz
mono PCM. Writes OUT.wav and its reference OUT.txt (the clips' references in order), and
prints the seconds of speech and of non-speech. Deterministic: the same bytes every run.

Usage: python3 pauses.py TESTDATA OUT.wav
"""
import math
import random
import struct
import sys
import wave

SR = 16000
CLIPS = ["jfk"] + [f"librivox/sense_and_sensibility_01_austen_64kb-{n}" for n in ("0870", "0880", "0890", "0920", "0930")]
# After each clip: ("tone" | "music", seconds).
BREAKS = [("tone", 20), ("music", 15), ("tone", 20), ("music", 15), ("tone", 20), ("music", 10)]
CHORDS = [(220.0, 277.2, 329.6), (174.6, 220.0, 261.6), (261.6, 329.6, 392.0), (196.0, 246.9, 293.7)]


def read(td, clip):
    w = wave.open(f"{td}/{clip}.wav")
    if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SR, 1, 2):
        sys.exit(f"{clip}.wav is not 16 kHz mono 16-bit: {w.getparams()}")
    return w.readframes(w.getnframes())


def tone(rng, seconds):
    return b"".join(struct.pack("<h", int(rng.uniform(-33, 33))) for _ in range(int(seconds * SR)))


def music(rng, seconds):
    out = bytearray()
    for i in range(int(seconds * SR)):
        t = i / SR
        chord = CHORDS[int(t / 0.5) % len(CHORDS)]
        pluck = math.exp(-(t % 0.5) * 3.0)
        notes = sum(math.sin(2 * math.pi * f * (h + 1) * t) / (h + 1) for f in chord for h in range(3))
        beat = math.exp(-(t % 0.25) * 40.0) * rng.uniform(-0.5, 0.5)
        out += struct.pack("<h", max(-32767, min(32767, int((0.08 * pluck * notes + 0.15 * beat) * 32767))))
    return bytes(out)


def main():
    td, out = sys.argv[1], sys.argv[2]
    rng = random.Random(42)
    data, refs, speech, other = b"", [], 0.0, 0.0
    for clip, (kind, seconds) in zip(CLIPS, BREAKS):
        pcm = read(td, clip)
        data += pcm
        speech += len(pcm) / 2 / SR
        refs.append(open(f"{td}/{clip}.txt").read().strip())
        data += tone(rng, seconds) if kind == "tone" else music(rng, seconds)
        other += seconds
    w = wave.open(out, "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(SR)
    w.writeframes(data)
    w.close()
    with open(out[: -len(".wav")] + ".txt", "w") as f:
        f.write(" ".join(refs) + "\n")
    print(f"{speech:.1f} s of speech, {other:.1f} s without ({100 * other / (speech + other):.0f} %)")


if __name__ == "__main__":
    main()
