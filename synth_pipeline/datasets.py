"""Which datasets exist, which of them are broken and why, and what a dataset name may be.

A dataset is a folder `<data>/<name>/` holding `spec.yaml`. A folder whose spec cannot be read
disables that dataset only: `scan_datasets` returns it with its error beside the valid specs,
so the code location and the CLI keep every other dataset working and say why one is missing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from synth_pipeline.paths import data_dir
from synth_pipeline.spec import NAME_PATTERN, SPEC_FILE, DatasetSpec, SpecError, load_spec


class DatasetError(ValueError):
    """An invalid or unknown dataset name; the message lists the known datasets."""


@dataclass
class DatasetScan:
    specs: list[DatasetSpec] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # folder name -> why it is disabled


def _shown(name: str) -> str:
    """A name as an error message shows it: quoted, and cut when it is long."""
    return repr(name if len(name) <= 40 else name[:40] + "...")


def known_datasets(data: Path | None = None) -> list[str]:
    """The names of the folders holding a spec, sorted (broken specs included)."""
    folder = data or data_dir()
    if not folder.is_dir():
        return []
    return sorted(p.parent.name for p in folder.glob(f"*/{SPEC_FILE}") if p.is_file())


def scan_datasets(data: Path | None = None) -> DatasetScan:
    """Every dataset's spec, and the error of each folder whose spec cannot be loaded."""
    folder = data or data_dir()
    scan = DatasetScan()
    for name in known_datasets(folder):
        try:
            scan.specs.append(load_spec(folder / name))
        except SpecError as e:
            scan.broken[name] = str(e)
        except (OSError, UnicodeError) as e:
            scan.broken[name] = f"{folder / name / SPEC_FILE}: cannot be read: {e}"
    return scan


def _known_list(data: Path) -> str:
    names = known_datasets(data)
    return f"known datasets: {', '.join(names)}" if names else f"no datasets in {data}"


def _did_you_mean(name: str, data: Path) -> str:
    close = difflib.get_close_matches(name, known_datasets(data), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_dataset_name(name: str, data: Path | None = None) -> str:
    """NAME if it can name a dataset folder that exists; DatasetError otherwise."""
    folder = data or data_dir()
    if not NAME_PATTERN.match(name or ""):
        raise DatasetError(
            f"invalid dataset name {_shown(name)}: use lowercase letters, digits and '_', "
            f"starting with a letter, at most 63 characters; {_known_list(folder)}"
        )
    if not (folder / name / SPEC_FILE).is_file():
        raise DatasetError(
            f"unknown dataset {_shown(name)}{_did_you_mean(name, folder)}; {_known_list(folder)}"
        )
    return name


def dataset_spec(name: str, data: Path | None = None) -> DatasetSpec:
    """The spec of dataset NAME: DatasetError for an unknown name, SpecError for a broken spec."""
    folder = data or data_dir()
    check_dataset_name(name, folder)
    return load_spec(folder / name)
