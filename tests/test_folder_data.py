"""The ``folder`` dataset and its Speech Commands configurations, on folders with real recordings' quirks, made
here from synthesised tones: short, quiet, 8 kHz, 24-bit and float clips, ``_background_noise_``, README and
LICENSE files, listed files that are missing, unlisted extra files, words outside the chosen set."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from bench.cli import app
from bench.data.base import DIGITS
from bench.data.folder import FolderDataset, hash_split
from bench.errors import BadParameter, DataError
from bench.registry import REGISTRY


def _tone(freq: float, seconds: float, rate: int, peak: float = 0.5, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    wave = np.sin(2 * np.pi * freq * t) + 0.05 * noise
    return peak * wave / np.abs(wave).max()


def _write(root: Path, rel: str, wave: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    sf.write(root / rel, wave, rate, subtype=subtype)


@pytest.fixture
def quirky(tmp_path: Path) -> Path:
    """Words yes/no/up (and down, outside the chosen set): per word a listed test clip, a listed 8 kHz
    validation clip, an unlisted quiet 24-bit clip and an unlisted short float clip; lists name missing files."""
    root = tmp_path / "words"
    for w, word in enumerate(("yes", "no", "up", "down")):
        f = 300 + 100 * w
        _write(root, f"{word}/a{w}_nohash_0.wav", _tone(f, 1.0, 16000, seed=w))
        _write(root, f"{word}/b{w}_nohash_0.wav", _tone(f, 0.9, 8000, seed=w), 8000)
        _write(root, f"{word}/c{w}_nohash_0.wav", _tone(f, 1.0, 16000, 0.03, seed=w), subtype="PCM_24")
        _write(root, f"{word}/d{w}_nohash_0.wav", _tone(f, 0.3, 22050, seed=w), 22050, "FLOAT")
        (root / word / "notes.txt").write_text("not a clip\n")
    _write(root, "_background_noise_/white_noise.wav", _tone(50, 3.0, 16000))
    (root / "README.md").write_text("Speech Commands\n")
    (root / "LICENSE").write_text("CC-BY-4.0\n")
    (root / "testing_list.txt").write_text(
        "".join(f"{word}/a{w}_nohash_0.wav\n" for w, word in enumerate(("yes", "no", "up", "down")))
        + "yes/gone_nohash_0.wav\ndown/gone_nohash_0.wav\n")
    (root / "validation_list.txt").write_text(
        "".join(f"{word}/b{w}_nohash_0.wav\n" for w, word in enumerate(("yes", "no", "up", "down")))
        + "no/gone_nohash_1.wav\n\n")
    return root


def _peak_hz(wave: np.ndarray, rate: int = 16000) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(wave))) * rate / len(wave))


def test_folder_reads_real_folder_quirks(quirky: Path, capsys: pytest.CaptureFixture[str]):
    assert FolderDataset(root=str(quirky)).classes == ("down", "no", "up", "yes")  # sorted; _background_noise_ not
    data = FolderDataset(root=str(quirky), words="yes,no,up")
    assert data.classes == ("yes", "no", "up")  # the given order is the class order
    data.prepare()
    err = capsys.readouterr().err  # down/gone_nohash_0.wav is outside the chosen words: not counted
    assert err.startswith("warning: folder: 2 file(s) named in the split lists are not in")
    assert data.missing_listed == 2 and data.provenance()["missing_listed"] == 2
    test, valid, train = data.load("test"), data.load("valid"), data.load("train")
    assert test.ids == ["no/a1_nohash_0", "up/a2_nohash_0", "yes/a0_nohash_0"]
    assert valid.ids == ["no/b1_nohash_0", "up/b2_nohash_0", "yes/b0_nohash_0"]
    assert train.ids == sorted(f"{w}/{k}{i}_nohash_0" for i, w in enumerate(("yes", "no", "up")) for k in "cd")
    assert test.labels.tolist() == [1, 2, 0] and [data.classes[c] for c in train.labels] == [
        i.split("/")[0] for i in train.ids]
    for clips in (test, valid, train):
        assert clips.waves.dtype.is_floating_point and clips.waves.shape == (len(clips), 1, 16000)
        assert clips.waves.abs().max() <= 1.0
    b = valid.waves[valid.ids.index("yes/b0_nohash_0"), 0].numpy()  # 0.9 s at 8 kHz: now 14,400 samples at 16 kHz
    assert abs(_peak_hz(b[:14400]) - 300) < 2 and np.abs(b[14500:]).max() == 0
    c = train.waves[train.ids.index("yes/c0_nohash_0"), 0].numpy()  # quiet 24-bit: read at 24-bit precision
    assert np.abs(c - _tone(300, 1.0, 16000, 0.03, seed=0)).max() < 2**-22 and abs(np.abs(c).max() - 0.03) < 1e-6
    d = train.waves[train.ids.index("yes/d0_nohash_0"), 0].numpy()  # 0.3 s float at 22.05 kHz: padded
    assert np.abs(d[4900:]).max() == 0 and np.abs(d[:4700]).max() > 0.4


def test_missing_listed_files_are_counted_and_warned_once(quirky: Path, capsys: pytest.CaptureFixture[str]):
    data = FolderDataset(root=str(quirky))  # every word: down/gone_nohash_0.wav counts too
    data.prepare()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: folder: 3 file(s) named in the split lists")
    assert len(data.load("test")) == 4 and len(data.load("train")) == 8


def _tensorflow_which_set(filename: str, valid: int, test: int) -> str:
    """tensorflow/examples/speech_commands/input_data.py ``which_set``, verbatim but for the names."""
    hash_name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    hashed = hashlib.sha1(hash_name.encode()).hexdigest()
    percentage = (int(hashed, 16) % (2**27 - 1 + 1)) * (100.0 / (2**27 - 1))
    return "valid" if percentage < valid else "test" if percentage < test + valid else "train"


def test_hash_rule_is_tensorflows_which_set(quirky: Path):
    names = [f"yes/{i:08x}_nohash_{k}.wav" for i in range(0, 40_000_000, 19_997) for k in (0, 3)]
    for valid, test in ((10, 10), (5, 20), (0, 0)):
        assert [hash_split(n, valid, test) for n in names] == [_tensorflow_which_set(n, valid, test) for n in names]
    shares = [hash_split(n) for n in names[::2]]
    assert 0.07 < shares.count("valid") / len(shares) < 0.13 and 0.07 < shares.count("test") / len(shares) < 0.13
    for name in ("testing_list.txt", "validation_list.txt"):
        (quirky / name).unlink()
    with pytest.raises(DataError, match="lacks testing_list.txt, validation_list.txt; .*split_rule=hash"):
        FolderDataset(root=str(quirky)).prepare()
    data = FolderDataset(root=str(quirky), words="yes,no", split_rule="hash", valid_percent=30, test_percent=30)
    data.prepare()
    for split in data.splits:
        assert all(hash_split(f, 30, 30) == split for f in data.files(split))
    assert sum(len(data.files(s)) for s in data.splits) == 8
    assert data.spec_params({}) == {"words": ["yes", "no"], "split_rule": "hash", "valid_percent": 30,
                                    "test_percent": 30}


def test_normalize_scales_each_clip_and_is_part_of_the_identity(quirky: Path):
    _write(quirky, "yes/silent_nohash_0.wav", np.zeros(16000))
    plain, params = REGISTRY.create("dataset", "folder", {"root": str(quirky), "words": "yes,no,up"})
    assert plain.spec_params(params) == {"words": ["yes", "no", "up"], "split_rule": "lists",
                                         "test_list": "testing_list.txt", "valid_list": "validation_list.txt"}
    loud, params = REGISTRY.create("dataset", "folder", {"root": str(quirky), "words": "yes,no,up",
                                                         "normalize": "peak:.5"})
    assert loud.spec_params(params)["normalize"] == "peak:0.5"
    base, scaled = plain.load("train"), loud.load("train")
    peaks = scaled.waves.abs().amax(dim=(1, 2)).double().numpy()
    silent = scaled.ids.index("yes/silent_nohash_0")
    assert scaled.waves[silent].abs().max() == 0
    assert np.allclose(np.delete(peaks, silent), 0.5, atol=1e-7)
    assert scaled.content_hash() != base.content_hash()
    rms = FolderDataset(root=str(quirky), words="yes,no,up", normalize="rms:0.05").load("train").waves.double()
    levels = rms.square().mean(dim=(1, 2)).sqrt().numpy()
    assert np.allclose(np.delete(levels, silent), 0.05, rtol=1e-5) and levels[silent] == 0
    for bad in ("loud:2", "peak:1.5", "rms:", "peak:0"):
        with pytest.raises(BadParameter, match="normalize=.*peak:P or rms:R"):
            FolderDataset(root=str(quirky), normalize=bad)


def test_sc09_and_speech_commands_are_folder_configurations(tmp_path: Path):
    root = tmp_path / "speech_commands_v0.02"
    words = REGISTRY.create("dataset", "speech-commands", {"root": str(root), "version": "v0.02"})[0].classes
    assert len(words) == 35 and list(words) == sorted(words) and set(DIGITS) < set(words)
    for w, word in enumerate(words):
        _write(root, f"{word}/s{w}_nohash_0.wav", _tone(200 + 20 * w, 1.0, 16000, seed=w))
        _write(root, f"{word}/t{w}_nohash_0.wav", _tone(200 + 20 * w, 1.0, 16000, seed=w + 99))
    _write(root, "_background_noise_/pink_noise.wav", _tone(50, 2.0, 16000))
    (root / "LICENSE").write_text("CC-BY-4.0\n")
    (root / "testing_list.txt").write_text("".join(f"{w}/t{i}_nohash_0.wav\n" for i, w in enumerate(words)))
    (root / "validation_list.txt").write_text("")
    full, params = REGISTRY.create("dataset", "speech-commands", {"root": str(root), "version": "v0.02"})
    assert full.spec_params(params) == {"version": "v0.02"} and len(full.load("test")) == 35
    assert len(REGISTRY.create("dataset", "speech-commands", {"root": str(root)})[0].classes) == 30
    sc09, params = REGISTRY.create("dataset", "sc09", {"root": str(root)})
    assert sc09.classes == DIGITS and sc09.spec_params(params) == {"version": "v0.01"}  # cell ids unchanged
    assert [DIGITS[c] for c in sc09.load("train").labels] == [i.split("/")[0] for i in sc09.load("train").ids]
    sc09, params = REGISTRY.create("dataset", "sc09", {"root": str(root), "normalize": "rms:0.05"})
    assert sc09.spec_params(params) == {"version": "v0.01", "normalize": "rms:0.05"}


def test_cli_refuses_a_victim_of_other_classes_and_evaluates_a_digit_folder(quirky: Path, tmp_path: Path):
    runner = CliRunner()
    out = runner.invoke(app, ["run", "--data", "folder", "-o", f"data.root={quirky}", "-o", "data.words=yes,no,up",
                              "--n", "3", "--seeds", "1", "--device", "cpu", "--results", str(tmp_path / "runs")])
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert "victim 'resnext29' was trained on classes" in out.output and "'yes', 'no', 'up'" in out.output
    digits = tmp_path / "digits"
    for d, word in enumerate(DIGITS):
        _write(digits, f"{word}/x{d}_nohash_0.wav", _tone(250 + 60 * d, 0.8, 8000, seed=d), 8000)
        _write(digits, f"{word}/y{d}_nohash_0.wav", _tone(250 + 60 * d, 1.0, 16000, seed=d))
    (digits / "testing_list.txt").write_text("".join(f"{w}/x{d}_nohash_0.wav\n" for d, w in enumerate(DIGITS)))
    (digits / "validation_list.txt").write_text("")
    out = runner.invoke(app, ["eval", "--data", "folder", "-o", f"data.root={digits}", "-o",
                              f"data.words={','.join(DIGITS)}", "-o", "data.normalize=peak:0.5", "--no-progress",
                              "--device", "cpu", "--out", str(tmp_path / "ev")])
    assert out.exit_code == 0, out.output
    assert "resnext29 on folder/test: 10 classes, 10 clips" in out.output
