"""The DualPure paper's published numbers and display names, in one place, with their source.

Source: Tan et al., "DualPure: An Efficient Adversarial Purification Method for Speech Command
Recognition", Interspeech 2024 (``../shared/paper/dualpure_paper.txt``): Tables 1, 2 and 4 as printed;
Table 3 as reconstructed in ``../shared/reference/released_code_spec.md`` §6.4 (the extracted table is
garbled; the reconstruction agrees with the text: DualPure 93 on FakeBob, DDPM best on transfer attacks).
Figures 2 and 3 are images in the paper: no numbers to compare with, only the findings the text states.

All robust accuracies are the released code's metric (``any_iter``: wrong at any iterate counts as broken,
released_code_spec §6.1), averaged over 5 runs, ResNeXt-29 on 100 SC09 clips unless a table says otherwise.
Table 4 is seconds per clip on an RTX 3090 (batch, warm-up and synchronisation unstated; §7).
"""

from __future__ import annotations

from typing import Any

SOURCE = "Tan et al., Interspeech 2024 (DualPure), ../shared/paper/dualpure_paper.txt"
PAPER_PROTOCOL = "any_iter"  # the released code's success criterion (released_code_spec §6.1)

DEFENSES = {"none": "None", "ddpm": "DDPM", "diffnoise": "DiffNoise", "diffrev": "DiffRev", "oneshot": "One-shot",
            "dualpure": "DualPure", "audiopure": "AudioPure", "mean-filter": "AS", "median-filter": "MS",
            "resample": "DS", "lowpass": "LPF", "bandpass": "BPF"}
VICTIMS = {"resnext29": "ResNeXt-29", "vgg19": "VGG-19", "resnet18": "ResNet-18", "wrn28": "WideResNet-28"}
ATTACKS = {"pgd": "PGD", "apgd": "APGD", "fakebob": "FakeBob", "mifgsm": "MI-FGSM", "tsmifgsm": "TSMI-FGSM",
           "art": "ART"}
_NAMES = {"defense": DEFENSES, "victim": VICTIMS, "attack": ATTACKS}


def display_name(kind: str, name: str) -> str:
    """The paper's name for a plugin (``ddpm`` → ``DDPM``); the plugin name where the paper has none."""
    return _NAMES.get(kind, {}).get(name, name)


_T1_COLUMNS = ["Clean", *[f"L∞ PGD-{k}" for k in (10, 30, 50, 70, 100)],
               *[f"L2 PGD-{k}" for k in (10, 30, 50, 70, 100)], "EOT-20"]
_T1_ROWS = {
    "None": [100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "DDPM": [98.4, 86, 71.8, 66.2, 63.6, 61.8, 49, 30.2, 25, 22.6, 21.2, 74.5],
    "DiffNoise": [98.6, 87.8, 77.2, 74.2, 71.6, 70, 48.6, 35.8, 32.4, 31.6, 29.2, 79],
    "DiffRev": [98.9, 75.4, 68.6, 66.6, 65.4, 64.6, 22.6, 17.4, 16.2, 15.6, 15.2, 72.7],
    "One-shot": [98.8, 86.1, 72.4, 67.5, 65.2, 62.1, 41.3, 26.5, 21.8, 19.6, 18.8, 75.2],
    "DualPure": [98.7, 86.4, 80.2, 77.9, 76.4, 75, 51.4, 39.6, 36, 34.2, 33.8, 80.3],
}

# artefact → row → column → the paper's value (percent; seconds for table4)
NUMBERS: dict[str, dict[str, dict[str, float]]] = {
    "table1": {row: dict(zip(_T1_COLUMNS, values, strict=False)) for row, values in _T1_ROWS.items()},
    "table2": {"DDPM": {"Robust": 81.39}, "One-shot": {"Robust": 82.37}, "DiffNoise": {"Robust": 82.76},
               "DualPure": {"Robust": 83.27}},
    "table3": {"None": {"FakeBob": 35, "MI-FGSM": 28, "TSMI-FGSM": 22},
               "DDPM": {"FakeBob": 88, "MI-FGSM": 84, "TSMI-FGSM": 81},
               "DiffNoise": {"FakeBob": 92, "MI-FGSM": 82, "TSMI-FGSM": 78},
               "DualPure": {"FakeBob": 93, "MI-FGSM": 83, "TSMI-FGSM": 79}},
    "table4": {"AudioPure": {"seconds": 0.1742}, "DDPM": {"seconds": 0.1261}, "DiffRev": {"seconds": 0.1257},
               "One-shot": {"seconds": 0.0756}, "DualPure": {"seconds": 0.0266}},
}

NOTES: dict[str, str] = {
    "table1": "Paper: ResNeXt-29, 100 SC09 clips, L∞ ε = 0.002, L2 ε = 0.253, 5 runs, released-code metric.",
    "table2": "Paper: the whole SC09 test split (≈2.5k clips); the attack is not stated (we use L∞ PGD-10).",
    "table3": "Paper: reconstructed Table 3 (released_code_spec §6.4); t_w = 10 against the transfer attacks.",
    "table4": "Paper: mean purification seconds per clip over 100 clips, RTX 3090, t_w = 2.",
    "fig2a": "Paper: Fig. 2(a) is an image; its text says exact gradients drop AudioPure's robust accuracy "
             "drastically below the adjoint's.",
    "fig2b": "Paper: Fig. 2(b) is an image; its text says forward noise drives the robustness (DiffNoise ≈ DDPM).",
    "fig3a": "Paper: Fig. 3(a) is an image; its text says t_w = 3 is best at small ε and larger ε needs larger t_w.",
    "fig3b": "Paper: Fig. 3(b) is an image; its text says DualPure keeps a good robust accuracy on every victim.",
}


def paper_value(artefact: str | None, row: str, column: str) -> float | None:
    """The paper's number for one table cell, or None where the paper has none."""
    if artefact is None:
        return None
    return NUMBERS.get(artefact, {}).get(row, {}).get(column)


def paper_table(artefact: str) -> dict[str, dict[str, Any]]:
    return NUMBERS.get(artefact, {})
