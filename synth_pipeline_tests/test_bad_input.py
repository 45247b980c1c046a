"""Bad input stops with a message naming the file, line or field, and changes nothing."""

from __future__ import annotations

import json

import pytest

from synth_pipeline.records import load_real_records
from synth_pipeline.spec import SpecError, load_spec


def test_missing_seed_file_names_the_file(project):
    folder = project.add_dataset("support_intents")
    (folder / "seeds.jsonl").unlink()
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"seeds\.jsonl: file not found"):
        load_real_records(spec, spec.seeds_file, "seed")


def test_malformed_jsonl_line_names_file_and_line(project):
    folder = project.add_dataset("support_intents")
    lines = (folder / "seeds.jsonl").read_text().splitlines()
    lines[4] = '{"text": "broken line", "label": '
    (folder / "seeds.jsonl").write_text("\n".join(lines) + "\n")
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"seeds\.jsonl:5: malformed JSON"):
        load_real_records(spec, spec.seeds_file, "seed")


def test_unknown_label_names_line_and_label(project):
    folder = project.add_dataset("support_intents")
    with (folder / "seeds.jsonl").open("a") as fh:
        fh.write(json.dumps({"text": "Do you sell gift cards?", "label": "gift_cards"}) + "\n")
    n = len((folder / "seeds.jsonl").read_text().splitlines())
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=rf"seeds\.jsonl:{n}: unknown label 'gift_cards'"):
        load_real_records(spec, spec.seeds_file, "seed")


def test_invalid_spec_field_names_the_field(project):
    folder = project.add_dataset("support_intents", quality={"min_yield": -5})
    with pytest.raises(SpecError, match=r"spec\.yaml: invalid spec: quality\.min_yield"):
        load_spec(folder)


def test_unknown_spec_key_is_refused(project):
    folder = project.add_dataset("support_intents", generation={"records_per_lable": 3})
    with pytest.raises(SpecError, match=r"generation\.records_per_lable: Extra inputs"):
        load_spec(folder)


def test_empty_holdout_names_the_file(project):
    folder = project.add_dataset("support_intents")
    (folder / "holdout.jsonl").write_text("\n")
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"holdout\.jsonl: the file holds no records"):
        load_real_records(spec, spec.holdout_file, "holdout")


def test_csv_seeds_are_read_with_line_numbers(project):
    folder = project.add_dataset("support_intents", seeds_file="seeds.csv")
    (folder / "seeds.csv").write_text(
        'text,label\n"Where is my parcel, it is late",order_status\n"Refund me please",refund\n'
    )
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"seeds\.csv:3: unknown label 'refund'"):
        load_real_records(spec, spec.seeds_file, "seed")


def test_invalid_spec_fails_definitions_load_with_file_and_field(project):
    project.add_dataset("support_intents", kind="classification", labels=["only_one"])
    with pytest.raises(SpecError, match=r"support_intents/spec\.yaml: invalid spec"):
        project.definitions()
