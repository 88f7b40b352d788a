"""The kiosk's fingerprint quality score against NIST's NFIQ 2, on the same labelled prints.

What is measured: a labelled set of images at the ZhianTec/ZFM sensor's real depth (16 gray
levels, 256 x 288, 500 ppi) made by the project's own generators (``tests/fingerprint_samples.py``):
good prints of several simulated people and fingers, and each kind of bad print the quality
tests use (partial, smudged, faint, blurred, noise without a finger, a blank glass) at graded
severities, each made from several good prints. Every image is scored by the kiosk's
:func:`~kiosk.enrollment.fingerprint_quality.assess_fingerprint` (0-100, passing at MOSIP's 40
with no measure under its floor) and by an external ``nfiq2`` program, NIST's reference
implementation of ISO/IEC 29794-4 (unified quality score 0-100, here passing at the same 40:
MOSIP's registration client refuses a finger under 40 on NFIQ 2). The same good prints
before the sensor's 16-level quantization (8 bits, as the synthesiser draws them) are scored
too, to show what the 4-bit depth does to NFIQ 2.

Printed (Markdown): per kind and severity, both scores (median and range), how many each
accepts, our first reason and NFIQ 2's actionable feedback (the flags its ``-a`` output
raises: uniform image, empty image or contrast too low, under 5 minutiae, under 50,000
foreground pixels) or the error it gave instead of a score; then the agreement over the
whole set: Spearman's rank correlation of the two scores and how many prints each accepts and
refuses, alone and together. A print NFIQ 2 cannot score (it raises an error: too little
finger area, no ridge block, a blank image) counts as refused and ranks as 0, which is what
a kiosk relying on NFIQ 2 would have to do with it.

The ``nfiq2`` program is not part of the kiosk and is not installed with it: build NIST's
NFIQ 2 (the command-line tool, v2.3) from its source, with its random forest model (the
``nist_plain_tir-ink`` parameters it names in its model information file), then::

    python benchmarks/compare_nfiq2.py --nfiq2 /path/to/nfiq2 [--model /path/to/model.txt]

or set ``NFIQ2_BIN`` instead of ``--nfiq2``. Without either it says so and exits with 2.
README's "Fingerprints" section has the figures of a run.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from kiosk.enrollment.fingerprint_quality import assess_fingerprint
from kiosk.hardware.fingerprint import synth
from tests.fingerprint_samples import H, Sample, W, labelled_set

#: The pass mark for both scores: MOSIP's registration client refuses fingers under 40
#: (NFIQ 2); the kiosk's own score uses the same default (``[fingerprints] min_quality``).
PASS_MARK = 40
PPI = 500
#: NFIQ 2's actionable feedback (``-a`` columns) and when each one flags a print
#: (NIST's thresholds, ``nfiq2_qualitymeasures_impl.cpp``), in words.
FEEDBACK: dict[str, tuple[str, str, float]] = {
    "UniformImage": ("uniform image", "<", 1.0),
    "EmptyImageOrContrastTooLow": ("empty or too low contrast", ">", 250.0),
    "FingerprintImageWithMinutiae": ("under 5 minutiae", "<", 5.0),
    "SufficientFingerprintForeground": ("under 50,000 foreground px", "<", 50000.0),
}
#: Short words for NFIQ 2's errors (it gives no score then; a kiosk would refuse the capture).
ERRORS: dict[str, str] = {
    "FRFXLL_ERR_FB_TOO_SMALL_AREA": "finger area too small (FingerJet)",
    "Cannot compute Orientation Flow": "no orientation flow (no ridge block)",
    "Not enough data to generate histogram bins": "blank (no frequency data)",
}
NO_BINARY = ("No nfiq2 program given. Build NIST's NFIQ 2 command-line tool from its "
             "source (with its random forest model) and pass its path with --nfiq2 PATH "
             "or in the NFIQ2_BIN environment variable.")


@dataclass(frozen=True)
class Scored:
    """One sample with both verdicts."""

    sample: Sample
    ours: int
    our_reason: str  # the first reason, "" when it passes
    nfiq2: int | None  # None when NFIQ 2 gave no score (see error)
    error: str
    flags: tuple[str, ...]  # NFIQ 2's actionable feedback raised, in words

    @property
    def ours_pass(self) -> bool:
        return not self.our_reason

    @property
    def nfiq2_pass(self) -> bool:
        return self.nfiq2 is not None and self.nfiq2 >= PASS_MARK

    @property
    def nfiq2_or_0(self) -> int:
        """NFIQ 2's score, 0 where it gave none: the lowest rank, and refused."""
        return 0 if self.nfiq2 is None else self.nfiq2


def eight_bit_goods(people: int, fingers: int) -> Iterable[Sample]:
    """The good prints as the synthesiser draws them, before the sensor's 16 levels."""
    for person in range(people):
        for finger in range(fingers):
            yield Sample("good-8bit", "-", person, finger, synth.render(person, finger))


def write_png(sample: Sample, directory: Path) -> Path:
    """An 8-bit gray PNG with its resolution (500 ppi) in the pHYs chunk."""
    path = directory / f"{sample.name}.png"
    image = Image.frombytes("L", (W, H), sample.pixels)
    image.save(path, dpi=(PPI, PPI))
    return path


def run_nfiq2(binary: str, paths: Sequence[Path], workdir: Path,
              model: str | None = None) -> dict[str, dict[str, str]]:
    """Run ``nfiq2`` in batch mode over ``paths``; its CSV rows by image file stem."""
    batch = workdir / "batch.txt"
    batch.write_text("".join(f"{p}\n" for p in paths))
    out = workdir / "nfiq2.csv"
    # -F: no questions (the images are 8-bit and say 500 ppi, so nothing is converted);
    # -a: actionable feedback; -f: batch file; -o: CSV output.
    argv = [binary, "-F", "-a", "-f", str(batch), "-o", str(out)]
    if model:
        argv[1:1] = ["-m", model]
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip()[:2000]}")
    rows: dict[str, dict[str, str]] = {}
    with out.open(newline="") as fh:
        for row in csv.DictReader(fh):
            rows[Path(row["Filename"]).stem] = row
    return rows


def nfiq2_version(binary: str) -> str:
    """The "Version Info" lines ``nfiq2`` prints with its usage (run without arguments)."""
    done = subprocess.run([binary], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    text = done.stdout.split("Version Info", 1)[-1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and set(ln.strip()) != {"-"}]
    return "; ".join(lines) or "version unknown"


def raised_flags(row: dict[str, str]) -> tuple[str, ...]:
    flags = []
    for column, (words, op, limit) in FEEDBACK.items():
        try:
            value = float(row.get(column, "NA"))
        except ValueError:
            continue  # NA: not computed (NFIQ 2 stops after an empty or uniform image)
        if (value < limit) if op == "<" else (value > limit):
            flags.append(words)
    return tuple(flags)


def short_error(message: str) -> str:
    for marker, words in ERRORS.items():
        if marker in message:
            return words
    return message.removeprefix("Error: ")[:80]


def score_all(samples: Sequence[Sample], rows: dict[str, dict[str, str]]) -> list[Scored]:
    scored = []
    for s in samples:
        ours = assess_fingerprint(s.pixels, W, H)
        row = rows.get(s.name)
        if row is None:
            nfiq2, error, flags = None, "no output row", ()
        else:
            error = row.get("OptionalError", "NA")
            error = "" if error in ("NA", "") else short_error(error)
            score = row.get("QualityScore", "NA")
            nfiq2 = int(float(score)) if score not in ("NA", "") and not error else None
            flags = raised_flags(row)
        scored.append(Scored(s, ours.score, ours.reasons[0] if ours.reasons else "",
                             nfiq2, error, flags))
    return scored


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties given their mean rank."""
    a = np.asarray(values, float)
    order = np.argsort(a, kind="mergesort")
    r = np.empty(len(a))
    r[order] = np.arange(1, len(a) + 1)
    for v in np.unique(a):
        tied = a == v
        r[tied] = r[tied].mean()
    return r


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (scipy's when it is installed)."""
    try:
        from scipy.stats import spearmanr
    except ImportError:
        rx, ry = ranks(x), ranks(y)
        return float(np.corrcoef(rx, ry)[0, 1])
    return float(spearmanr(x, y).statistic)


def _span(values: Sequence[int]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    text = f"{med:.0f}" if med == int(med) else f"{med:.1f}"
    return text if min(values) == max(values) else f"{text} ({min(values)}-{max(values)})"


def _counted(items: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def report(scored: Sequence[Scored]) -> list[str]:
    """The Markdown lines: per kind and severity, then the agreement."""
    lines = [
        "| kind | severity | n | our score | ours pass | our first reason | NFIQ 2 | "
        f"NFIQ 2 pass (>= {PASS_MARK}) | NFIQ 2 actionable feedback |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups: dict[tuple[str, str], list[Scored]] = {}
    for s in scored:
        groups.setdefault((s.sample.kind, s.sample.severity), []).append(s)
    for (kind, severity), group in groups.items():
        theirs = [s.nfiq2 for s in group if s.nfiq2 is not None]
        errors = [s.error for s in group if s.error]
        nfiq2 = _span(theirs) + (f"; error: {_counted(errors)}" if errors else "")
        lines.append(
            f"| {kind} | {severity} | {len(group)} | {_span([s.ours for s in group])} | "
            f"{sum(s.ours_pass for s in group)}/{len(group)} | "
            f"{_counted(s.our_reason or 'passes' for s in group)} | {nfiq2} | "
            f"{sum(s.nfiq2_pass for s in group)}/{len(group)} | "
            f"{_counted(f for s in group for f in s.flags)} |")
    at_depth = [s for s in scored if s.sample.kind != "good-8bit"]
    rho = spearman([s.ours for s in at_depth], [s.nfiq2_or_0 for s in at_depth])
    with_score = [s for s in at_depth if s.nfiq2 is not None]
    rho_scored = spearman([s.ours for s in with_score], [s.nfiq2_or_0 for s in with_score])
    both = sum(s.ours_pass and s.nfiq2_pass for s in at_depth)
    neither = sum(not s.ours_pass and not s.nfiq2_pass for s in at_depth)
    ours_only = sum(s.ours_pass and not s.nfiq2_pass for s in at_depth)
    theirs_only = sum(s.nfiq2_pass and not s.ours_pass for s in at_depth)
    good = [s for s in at_depth if s.sample.kind == "good"]
    degraded = [s for s in at_depth if s.sample.kind != "good"]
    lines += [
        "",
        f"Agreement over the {len(at_depth)} prints at the sensor's depth (where NFIQ 2 gave "
        f"no score, {len(at_depth) - len(with_score)} prints, it counts as 0 and as a "
        f"refusal): Spearman's rank correlation of the two scores **{rho:.2f}** "
        f"({rho_scored:.2f} over the {len(with_score)} NFIQ 2 scored).",
        f"Accepted: ours {both + ours_only}, NFIQ 2 (>= {PASS_MARK}) {both + theirs_only}; "
        f"both {both}, neither {neither}, ours only {ours_only}, NFIQ 2 only {theirs_only}.",
        f"Good prints accepted: ours {sum(s.ours_pass for s in good)}/{len(good)}, NFIQ 2 "
        f"{sum(s.nfiq2_pass for s in good)}/{len(good)}; degraded prints (every kind and "
        f"grade, the mildest meant to pass) refused: ours "
        f"{sum(not s.ours_pass for s in degraded)}/{len(degraded)}, NFIQ 2 "
        f"{sum(not s.nfiq2_pass for s in degraded)}/{len(degraded)}.",
    ]
    if len(good) > 1:
        rho_good = spearman([s.ours for s in good], [s.nfiq2_or_0 for s in good])
        lines.append(f"Among the good prints alone: Spearman {rho_good:.2f}.")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nfiq2", help="the nfiq2 program (default: $NFIQ2_BIN)")
    parser.add_argument("--model", help="NFIQ 2 model information file (nfiq2 -m); "
                        "default: the program's own")
    parser.add_argument("--people", type=int, default=4, help="simulated people (4)")
    parser.add_argument("--fingers", type=int, default=10, help="fingers each (10)")
    parser.add_argument("--bases", type=int, default=3,
                        help="good prints each bad kind and severity is made from (3)")
    parser.add_argument("--keep", type=Path, help="write the images and nfiq2's CSV here "
                        "instead of a temporary directory")
    args = parser.parse_args(argv)
    binary = args.nfiq2 or os.environ.get("NFIQ2_BIN")
    if not binary:
        print(NO_BINARY, file=sys.stderr)
        return 2
    if not (Path(binary).is_file() and os.access(binary, os.X_OK)):
        print(f"{binary}: not an executable file. {NO_BINARY}", file=sys.stderr)
        return 2

    samples = [*labelled_set(args.people, args.fingers, args.bases),
               *eight_bit_goods(args.people, args.fingers)]
    with tempfile.TemporaryDirectory(prefix="nfiq2-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        paths = [write_png(s, workdir) for s in samples]
        started = time.perf_counter()
        rows = run_nfiq2(binary, paths, workdir, args.model)
        elapsed = time.perf_counter() - started
    scored = score_all(samples, rows)
    print(f"nfiq2: {nfiq2_version(binary)}")
    print(f"{len(samples)} images, NFIQ 2 took {elapsed:.1f} s "
          f"({1000 * elapsed / len(samples):.0f} ms an image)\n")
    for line in report(scored):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
