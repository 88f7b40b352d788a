"""benchmarks/compare_nfiq2.py without NFIQ 2: the labelled set it scores, the refusal without
a program, and its batch run and report through a stand-in ``nfiq2`` that writes NFIQ 2's
CSV columns."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import compare_nfiq2 as cmp
from tests.fingerprint_samples import BAD_KINDS, GRADES, H, W, labelled_set

SENSOR_LEVELS = {17 * n for n in range(16)}

# A stand-in for NIST's nfiq2 in batch mode (-F -a -f BATCH -o OUT): one CSV row per image
# with the columns NFIQ 2 v2.3 prints, the score the image's mean darkness (0-100), and an
# error for any image named "blank".
FAKE_NFIQ2 = f"""#!{sys.executable}
import sys
import numpy as np
from pathlib import Path
from PIL import Image
args = sys.argv[1:]
batch, out = args[args.index("-f") + 1], args[args.index("-o") + 1]
cols = ["Filename", "FingerCode", "QualityScore", "OptionalError", "Quantized",
        "Resampled", "UniformImage", "EmptyImageOrContrastTooLow",
        "FingerprintImageWithMinutiae", "SufficientFingerprintForeground"]
lines = [",".join(f'"{{c}}"' for c in cols)]
for path in Path(batch).read_text().split():
    img = np.asarray(Image.open(path), float)
    if "blank" in Path(path).name:
        lines.append(f'"{{path}}",0,0,"Error: all rows appear to be blank",0,0,NA,NA,NA,NA')
        continue
    score = round(100 - img.mean() / 2.55)
    lines.append(f'"{{path}}",0,{{score}},NA,0,0,{{img.std():.5f}},{{img.mean():.5f}},3.00000,'
                 f'40000.00000')
Path(out).write_text("\\n".join(lines) + "\\n")
"""


def test_the_set_has_every_kind_at_the_sensors_depth() -> None:
    samples = list(labelled_set(people=2, fingers=2, bases=2))
    kinds = {s.kind for s in samples}
    assert kinds == {"good", *BAD_KINDS}
    for kind, grades in GRADES.items():
        assert {s.severity for s in samples if s.kind == kind} == {g for g, _ in grades}
    assert sum(s.kind == "good" for s in samples) == 4
    assert len({s.name for s in samples}) == len(samples)  # one file each
    for s in samples:
        assert len(s.pixels) == W * H == 256 * 288
        assert set(np.unique(np.frombuffer(s.pixels, np.uint8))) <= SENSOR_LEVELS, s.name


def test_the_images_are_8_bit_gray_at_500_ppi(tmp_path: Path) -> None:
    sample = next(labelled_set(people=1, fingers=1, bases=1))
    with Image.open(cmp.write_png(sample, tmp_path)) as image:
        assert (image.mode, image.size) == ("L", (W, H))
        assert tuple(round(d) for d in image.info["dpi"]) == (500, 500)
        assert image.tobytes() == sample.pixels


def test_without_an_nfiq2_program_it_says_so_and_exits_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    monkeypatch.delenv("NFIQ2_BIN", raising=False)
    assert cmp.main([]) == 2
    assert "--nfiq2" in capsys.readouterr().err
    monkeypatch.setenv("NFIQ2_BIN", str(tmp_path / "missing"))
    assert cmp.main([]) == 2
    assert "not an executable file" in capsys.readouterr().err


def test_a_run_reports_every_kind_and_the_agreement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "nfiq2"
    fake.write_text(FAKE_NFIQ2)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert cmp.main(["--nfiq2", str(fake), "--people", "1", "--fingers", "2",
                     "--bases", "1"]) == 0
    out = capsys.readouterr().out
    for kind in ("good", "good-8bit", *BAD_KINDS):
        assert f"| {kind} |" in out
    assert "Spearman's rank correlation" in out
    assert "error: all rows appear to be blank 1" in out
    assert "under 5 minutiae" in out and "under 50,000 foreground px" in out


def test_spearman_without_scipy_matches_the_definition() -> None:
    assert cmp.ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert cmp.spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert cmp.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
