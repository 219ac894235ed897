"""Datasets: synth-digits (tiny build), sc09 from a generated folder in the official layout, clip checks,
and the evaluation subset."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bench.data.audio import read_clip
from bench.data.base import DIGITS
from bench.data.sc09 import SC09
from bench.data.subset import select_eval_subset
from bench.data.synth_digits import SynthDigits
from bench.errors import BadParameter, DataError

# -- synth-digits ---------------------------------------------------------------------------------

def _manifest(dataset: SynthDigits) -> list[dict]:
    with open(dataset.root / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_synth_digits_splits_by_voice(tiny_synth):
    rows = _manifest(tiny_synth)
    voices = {s: {r["voice"] for r in rows if r["split"] == s} for s in ("train", "valid", "test")}
    assert all(len(v) == 2 for v in voices.values())
    assert not (voices["train"] & voices["test"]) and not (voices["train"] & voices["valid"])
    assert not (voices["valid"] & voices["test"])
    for split in ("train", "valid", "test"):
        clips = tiny_synth.load(split)
        assert clips.waves.shape == (40, 1, 16000) and clips.waves.dtype == torch.float32
        assert clips.waves.abs().max() <= 1.0 and clips.waves.abs().amax(dim=(1, 2)).min() > 0.05
        assert sorted(clips.labels.tolist()) == sorted(list(range(10)) * 4)
        assert [DIGITS[int(c)] for c in clips.labels] == [i.split("_")[-2] for i in clips.ids]


def test_synth_digits_full_voice_split_is_70_15_15():
    from bench.data.espeak import espeak_variants

    variants, _ = espeak_variants()
    splits = SynthDigits().voice_splits(variants)
    assert len(variants) >= 90  # breathy variants (random noise inside espeak) are excluded
    assert {k: len(v) for k, v in splits.items()} == {"test": 14, "valid": 14, "train": len(variants) - 28}
    assert sum(len(v) for v in splits.values()) * 10 * 4 >= 3000  # default clips_per_voice = 4


def test_synth_digits_capped_build_is_a_subset_of_a_larger_one(tiny_synth):
    bigger = SynthDigits(voices=3, clips_per_voice=2)
    bigger.prepare(progress=False)
    small, big = tiny_synth.load("test"), bigger.load("test")
    assert set(small.ids) < set(big.ids)
    index = [big.ids.index(i) for i in small.ids]
    assert torch.equal(small.waves, big.waves[index])


def test_synth_digits_rebuild_is_identical_and_corruption_is_caught(tiny_synth):
    info = tiny_synth.info()
    test_hash = tiny_synth.load("test").content_hash()
    backup = tiny_synth.root.with_name(tiny_synth.root.name + ".bak")
    shutil.move(tiny_synth.root, backup)
    try:
        tiny_synth.prepare(progress=False)
        assert tiny_synth.info()["content_hash"] == info["content_hash"]
        assert tiny_synth.load("test").content_hash() == test_hash
        victim_file = next((tiny_synth.root / "clips").glob("*.wav"))
        pcm, _ = sf.read(victim_file, dtype="int16")
        sf.write(victim_file, (pcm // 2).astype(np.int16), 16000, subtype="PCM_16")
        with pytest.raises(DataError, match="corrupt"):
            for split in ("train", "valid", "test"):
                tiny_synth.load(split)
    finally:
        shutil.rmtree(tiny_synth.root)
        shutil.move(backup, tiny_synth.root)


# -- sc09 from a folder in the official layout ------------------------------------------------------

def _tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def sc09_folder(tmp_path: Path) -> Path:
    """Three clips per digit at assorted rates and lengths, plus a non-digit word, with both lists."""
    root = tmp_path / "speech_commands_v0.01"
    rates, lengths = (16000, 8000, 22050), (1.0, 0.6, 1.3)
    testing, validation = [], []
    for d, word in enumerate(DIGITS):
        (root / word).mkdir(parents=True)
        for k in range(3):
            name = f"{word}/spk{d}{k}_nohash_0.wav"
            sf.write(root / name, _tone(200 + 50 * d, lengths[k], rates[k]), rates[k], subtype="PCM_16")
            (testing if k == 0 else validation if k == 1 else []).append(name)
    (root / "yes").mkdir()
    sf.write(root / "yes/x_nohash_0.wav", _tone(300, 1.0, 16000), 16000)
    testing.append("yes/x_nohash_0.wav")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    return root


def test_sc09_reads_the_official_layout(sc09_folder: Path):
    data = SC09(root=str(sc09_folder))
    data.prepare()
    test, valid, train = data.load("test"), data.load("valid"), data.load("train")
    assert len(test) == len(valid) == len(train) == 10
    assert all(i.endswith("_0") and "/spk" in i for i in test.ids)
    assert test.ids[0] == "eight/spk80_nohash_0"  # sorted; the word folder gives the label
    assert [DIGITS[int(c)] for c in test.labels] == [i.split("/")[0] for i in test.ids]
    assert {i.split("/")[1][:5] for i in valid.ids} == {f"spk{d}1" for d in range(10)}
    for clips in (test, valid, train):
        assert clips.waves.shape == (10, 1, 16000)
    # 0.6 s at 8 kHz: resampled, then right-padded with zeros; 1.3 s at 22.05 kHz: cropped to 1 s
    short = valid.waves[valid.ids.index("zero/spk01_nohash_0"), 0]
    assert short[9700:].abs().max() == 0 and short[:9500].abs().max() > 0.4
    spectrum = np.abs(np.fft.rfft(short[:9600].numpy()))
    assert abs(np.argmax(spectrum) * 16000 / 9600 - 200) < 3  # the 200 Hz tone survived resampling
    assert train.waves[:, 0, -100:].abs().max() > 0.1  # cropped clips fill the whole second


def test_sc09_layout_errors(tmp_path: Path, sc09_folder: Path):
    with pytest.raises(DataError, match="no Speech Commands folder"):
        SC09(root=str(tmp_path / "nowhere")).prepare()
    (sc09_folder / "validation_list.txt").unlink()
    with pytest.raises(DataError, match="lacks validation_list.txt"):
        SC09(root=str(sc09_folder)).prepare()


@pytest.mark.parametrize("problem, match", [
    ("stereo", "2 channels; .*mono"),
    ("nan", "NaN"),
    ("empty", "empty"),
    ("missing", "missing audio file"),
    ("garbage", "cannot read"),
])
def test_bad_clips_fail_with_one_clear_line(tmp_path: Path, problem: str, match: str):
    path = tmp_path / "clip.wav"
    if problem == "stereo":
        sf.write(path, np.zeros((16000, 2), np.float32), 16000)
    elif problem == "nan":
        data = np.zeros(16000, np.float32)
        data[5] = np.nan
        sf.write(path, data, 16000, subtype="FLOAT")
    elif problem == "empty":
        sf.write(path, np.zeros(0, np.float32), 16000)
    elif problem == "garbage":
        path.write_bytes(b"not audio at all")
    with pytest.raises(DataError, match=match) as info:
        read_clip(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_truncated_wav_is_an_error_naming_the_file_not_zero_padding(tmp_path: Path, subtype: str):
    path = tmp_path / "clip.wav"
    sf.write(path, _tone(440, 1.0, 16000), 16000, subtype=subtype)
    assert read_clip(path).shape == (16000,)
    path.write_bytes(path.read_bytes()[:-1000])  # the header still promises 16000 samples
    held = 16000 - 1000 // (2 if subtype == "PCM_16" else 4)
    assert sf.read(path)[0].shape == (held,)  # what libsndfile alone does: reads what is there, no error
    with pytest.raises(DataError) as info:
        read_clip(path)
    assert str(info.value) == (f"{path} is truncated: its header promises 16000 samples, the file holds {held}; "
                               "re-export or remove it")


def test_wrong_sample_rate_is_an_error_where_resampling_is_not_allowed(tmp_path: Path):
    path = tmp_path / "clip.wav"
    sf.write(path, _tone(440, 1.0, 8000), 8000)
    with pytest.raises(DataError, match="8000 Hz, expected 16000 Hz"):
        read_clip(path, allow_resample=False)
    assert read_clip(path).shape == (16000,)


# -- evaluation subset -----------------------------------------------------------------------------

def test_eval_subset_is_balanced_correct_and_seeded(tiny_synth):
    clips = tiny_synth.load("test")
    correct = torch.ones(len(clips), dtype=torch.bool)
    correct[::3] = False
    subset = select_eval_subset(clips, correct, n=20, seed=0)
    chosen = [clips.ids.index(i) for i in subset.ids]
    assert all(correct[i] for i in chosen)
    assert torch.bincount(subset.labels, minlength=10).tolist() == [2] * 10
    assert subset.ids == select_eval_subset(clips, correct, n=20, seed=0).ids
    assert subset.ids != select_eval_subset(clips, correct, n=20, seed=1).ids
    with pytest.raises(BadParameter, match="use --n 10 or --n 20"):  # a balanced subset: a multiple of 10
        select_eval_subset(clips, correct, n=13, seed=0)
    with pytest.raises(DataError, match="the largest balanced subset is --n"):
        select_eval_subset(clips, correct, n=40, seed=0)
