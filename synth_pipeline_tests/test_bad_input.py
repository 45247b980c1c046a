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


def test_invalid_spec_disables_its_dataset_naming_file_and_field(project):
    project.add_dataset("support_intents", kind="classification", labels=["only_one"])
    defs = project.definitions()  # the code location still loads (test_readable_errors.py)
    (placeholder,) = defs.assets or []
    assert placeholder.key.to_user_string() == "support_intents/spec_error"
    assert "support_intents/spec.yaml: invalid spec" in placeholder.description


# --- bad input that used to be published silently ----------------------------------------
# Each case stops before any table changes: a Dagster run of the input stages fails with the
# file, line or field, and the warehouse holds no seeds, holdout or version row.


def _input_run(project, instance, version: str = "v1"):
    """Materialize the input stages (seeds, holdout) of support_intents: no model call."""
    from synth_pipeline.defs.runner import materialize_version

    return materialize_version(
        project.definitions(), "support_intents", version, instance, selection=INPUT_STAGES
    )


INPUT_STAGES = ["seeds", "holdout"]


def _assert_nothing_written(project) -> None:
    wh = project.warehouse()
    for table in ("versions", "seeds", "holdout", "candidates"):
        assert wh.rows(f"SELECT count(*) FROM {table}")[0][0] == 0, table


def test_seeds_of_one_label_of_eight_stop_the_run_before_any_write(project, instance):
    folder = project.add_dataset("support_intents")
    seeds = folder / "seeds.jsonl"
    lines = [ln for ln in seeds.read_text().splitlines() if '"refund_request"' in ln]
    seeds.write_text("\n".join(lines) + "\n")
    run = _input_run(project, instance)
    assert not run.success and "seeds" in " ".join(run.failed_steps)
    error = " ".join(run.errors)
    assert "seeds.jsonl: too few seeds" in error
    assert "seeds per label: order_status 0, cancel_order 0, change_shipping_address 0" in error
    assert "each label needs at least 4: seed_variation shows 4 per call" in error
    assert "generation.seeds_per_prompt" in error and "Add real examples" in error
    assert "refund_request" not in error.split("too few seeds")[1]  # it has enough
    _assert_nothing_written(project)


def test_a_label_short_of_what_generation_and_curation_need_is_named(project):
    from synth_pipeline.generation.planner import check_seeds

    folder = project.add_dataset(
        "support_intents",
        generation={"seeds_per_prompt": 1},
        curation={"judge": {"enabled": True, "min_seeds_per_label": 3}},
    )
    seeds = folder / "seeds.jsonl"
    lines = seeds.read_text().splitlines()
    damaged = [ln for ln in lines if '"damaged_item"' in ln]
    kept = [ln for ln in lines if '"damaged_item"' not in ln] + damaged[:2]
    seeds.write_text("\n".join(kept) + "\n")
    spec = load_spec(folder)
    frame = load_real_records(spec, spec.seeds_file, "seed")
    with pytest.raises(SpecError) as e:
        check_seeds(spec, frame)
    msg = str(e.value)
    assert "seeds per label: damaged_item 2; each label needs at least 3" in msg
    assert "curation.judge.min_seeds_per_label" in msg
    assert "billing_issue" not in msg
    # A strategy's own seeds_per_prompt is named when it asks for more.
    project.update_spec(
        "support_intents",
        curation={"judge": {"enabled": False}},
        generation={"strategies": [{"name": "seed_variation", "seeds_per_prompt": 5}]},
    )
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"generation\.strategies\[0\]\.seeds_per_prompt"):
        check_seeds(spec, frame)


def test_too_few_real_records_for_the_realism_filter_is_refused(project):
    from synth_pipeline.generation.planner import check_seeds

    folder = project.add_dataset("coffee_qa", curation={"realism": {"min_real": 40}})
    spec = load_spec(folder)
    with pytest.raises(
        SpecError, match=r"coffee_qa/seeds\.jsonl: too few seeds: 30 seeds in all, need at least 40"
    ):
        check_seeds(spec, load_real_records(spec, spec.seeds_file, "seed"))


def test_a_plan_beyond_the_sanity_limit_is_refused_with_what_it_would_cost(project):
    from synth_pipeline import stages
    from synth_pipeline.generation.planner import plan_generation

    folder = project.add_dataset("support_intents", generation={"records_per_label": 1.0e9})
    with pytest.raises(SpecError) as e:
        load_spec(folder)
    msg = str(e.value)
    assert "spec.yaml: invalid spec" in msg and "generation.records_per_label" in msg
    assert "1,000,000,000 per label x 8 labels = 8,000,000,000 records" in msg
    assert "8,000,000,000 model requests" in msg and "completion tokens" in msg
    assert "at most 100,000 records" in msg and "SYNTH_MAX_PLANNED_RECORDS" in msg

    # A spec changed after it was loaded is refused by the planner and the input stage alike,
    # at once rather than after building a billion requests.
    project.update_spec("support_intents", generation={"records_per_label": 40})
    spec = load_spec(folder)
    spec.generation.records_per_label = 10**9
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    with pytest.raises(SpecError, match=r"spec\.yaml: generation\.records_per_label: the plan"):
        plan_generation(spec, seeds)
    with pytest.raises(SpecError, match="8,000,000,000 records"):
        stages.load_seeds(spec, project.warehouse(), "v1")
    _assert_nothing_written(project)


def test_the_sanity_limit_can_be_raised_and_prices_give_a_cost(project, monkeypatch):
    folder = project.add_dataset(
        "support_intents",
        generation={"records_per_label": 20_000},
        provider={
            "kind": "openai",
            "model": "gpt-x",
            "prices": {"gpt-x": {"prompt_per_million": 1, "completion_per_million": 10}},
        },
    )
    with pytest.raises(SpecError, match=r"about 256 USD in completion tokens alone"):
        load_spec(folder)
    monkeypatch.setenv("SYNTH_MAX_PLANNED_RECORDS", "200000")
    assert load_spec(folder).target_total == 160_000


def test_invalid_utf8_in_a_seed_file_names_file_and_line(project):
    folder = project.add_dataset("support_intents")
    seeds = folder / "seeds.jsonl"
    lines = seeds.read_bytes().split(b"\n")
    lines[2] = b'{"text": "Caf\xe9 order never came", "label": "order_status"}'
    seeds.write_bytes(b"\n".join(lines))
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"seeds\.jsonl:3: not valid UTF-8 text \(byte 0xe9"):
        load_real_records(spec, spec.seeds_file, "seed")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_binary_junk_in_a_seed_file_names_file_and_line(project, suffix):
    folder = project.add_dataset("support_intents", seeds_file=f"seeds{suffix}")
    header = b"text,label\n" if suffix == ".csv" else b""
    good = (
        b"Where is my parcel please,order_status\n"
        if suffix == ".csv"
        else b'{"text": "Where is my parcel please", "label": "order_status"}\n'
    )
    path = folder / f"seeds{suffix}"
    path.write_bytes(header + good + good + b"PK\x03\x04\x00\x00\x08\x00\x8b\x1f\xff\xd8\n")
    spec = load_spec(folder)
    line = 4 if suffix == ".csv" else 3
    with pytest.raises(SpecError, match=rf"seeds\{suffix}:{line}: not valid UTF-8 text"):
        load_real_records(spec, spec.seeds_file, "seed")
    path.write_bytes(header + good + b"\x00\x00\x00\x01junk\x00\n")
    with pytest.raises(SpecError, match=rf"seeds\{suffix}:{line - 1}: binary data"):
        load_real_records(spec, spec.seeds_file, "seed")


def test_invalid_utf8_and_binary_junk_in_a_spec_name_the_line(project):
    folder = project.add_dataset("support_intents")
    path = folder / "spec.yaml"
    lines = path.read_bytes().split(b"\n")
    n = next(i for i, ln in enumerate(lines) if ln.startswith(b"task:"))
    lines[n] = b"task: Classify messages sent to the caf\xe9's support team."
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(SpecError, match=rf"spec\.yaml:{n + 1}: not valid UTF-8 text .*UTF-8"):
        load_spec(folder)
    path.write_bytes(b"\x00\x01\x02\x03" * 64)
    with pytest.raises(SpecError, match=r"spec\.yaml:1: binary data"):
        load_spec(folder)


def test_a_key_given_twice_in_a_spec_is_refused_with_both_lines(project):
    folder = project.add_dataset("support_intents")
    path = folder / "spec.yaml"
    lines = path.read_text().splitlines()
    gen = lines.index("generation:")
    first = next(i for i in range(gen, len(lines)) if "records_per_label" in lines[i])
    lines.insert(gen + 1, "  records_per_label: 5")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        SpecError,
        match=rf"spec\.yaml:{first + 2}: key 'records_per_label' is given twice in the same "
        rf"mapping \(first on line {gen + 2}\).*remove one",
    ):
        load_spec(folder)
    # At the top level too.
    lines = [ln for ln in lines if ln != "  records_per_label: 5"] + ["kind: instruction"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError, match=rf"spec\.yaml:{len(lines)}: key 'kind' is given twice"):
        load_spec(folder)


def test_a_missing_template_file_is_refused_when_the_spec_loads(project):
    folder = project.add_dataset(
        "support_intents",
        generation={"strategies": [{"name": "seed_variation", "template": "my_prompt.j2"}]},
    )
    with pytest.raises(
        SpecError,
        match=r"my_prompt\.j2: prompt template not found "
        r"\(generation\.strategies\[0\] \(seed_variation\)\.template\); create the file",
    ):
        load_spec(folder)


def test_a_template_removed_after_loading_stops_the_run_before_any_write(project, instance):
    folder = project.add_dataset(
        "support_intents",
        generation={"strategies": [{"name": "seed_variation", "template": "my_prompt.j2"}]},
    )
    (folder / "my_prompt.j2").write_text("Write one message for {{ label }}.")
    defs = project.definitions()
    (folder / "my_prompt.j2").unlink()
    from synth_pipeline.defs.runner import materialize_version

    run = materialize_version(defs, "support_intents", "v1", instance, selection=INPUT_STAGES)
    assert not run.success
    assert "my_prompt.j2: prompt template not found" in " ".join(run.errors)
    _assert_nothing_written(project)


# --- a failed input check writes nothing, whichever input stage runs first ----------------


def _table_rows(project, version: str) -> dict[str, int]:
    """Rows per warehouse table, and `<table>@version` rows of VERSION where it has a version."""
    import duckdb

    counts: dict[str, int] = {}
    if not project.warehouse_path.exists():
        return counts
    with duckdb.connect(str(project.warehouse_path), read_only=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            counts[table] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            columns = {r[0] for r in conn.execute(f'DESCRIBE "{table}"').fetchall()}
            if "version" in columns:
                counts[f"{table}@version"] = conn.execute(
                    f'SELECT count(*) FROM "{table}" WHERE version = ?', [version]
                ).fetchone()[0]
    return counts


def _damage_file(path, defect: str) -> None:
    lines = path.read_bytes().split(b"\n")
    if defect == "malformed JSON":
        lines[3] = b'{"text": "broken line", "label": '
    elif defect == "unknown label":
        lines[3] = json.dumps({"text": "Do you sell gift cards?", "label": "gift_cards"}).encode()
    elif defect == "missing field":
        lines[3] = json.dumps({"text": "Where is my parcel?"}).encode()
    else:  # invalid UTF-8
        lines[3] = b'{"text": "Caf\xe9 order never came", "label": "order_status"}'
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    "defect", ["malformed JSON", "unknown label", "missing field", "bad UTF-8"]
)
@pytest.mark.parametrize("bad_file", ["seeds", "holdout"])
def test_a_data_file_error_leaves_no_row_of_the_version_in_any_table(
    project, instance, bad_file, defect
):
    from synth_pipeline.defs.runner import materialize_version

    folder = project.add_dataset("support_intents")
    defs = project.definitions()
    project.warehouse().record_version("support_intents", "v0", status="failed")  # not empty
    before = _table_rows(project, "v1")
    _damage_file(folder / f"{bad_file}.jsonl", defect)
    other = "holdout" if bad_file == "seeds" else "seeds"
    # Both input stages (in whichever order the executor runs them), then the other stage
    # alone: it must refuse the bad file too rather than write its own rows.
    for i, selection in enumerate((INPUT_STAGES, [other])):
        version = f"v{i + 1}"
        run = materialize_version(defs, "support_intents", version, instance, selection=selection)
        assert not run.success, selection
        assert f"{bad_file}.jsonl:4" in " ".join(run.errors), run.errors
        after = _table_rows(project, version)
        grown = {t: n for t, n in after.items() if n != before.get(t, 0 if "@" in t else None)}
        assert not {t: n for t, n in grown.items() if t.endswith("@version") or n}, grown
        assert after.get("versions") == 1 and after.get("seeds") == 0, after


# --- a holdout that overlaps the seeds -----------------------------------------------------


def _assert_refused_before_any_write(project, instance, *expected: str) -> str:
    from synth_pipeline.defs.runner import materialize_version

    defs = project.definitions()
    project.warehouse().record_version("support_intents", "v0", status="failed")  # not empty
    before = _table_rows(project, "v1")
    run = materialize_version(defs, "support_intents", "v1", instance, selection=INPUT_STAGES)
    assert not run.success
    error = " ".join(run.errors)
    for text in expected:
        assert text in error, (text, error)
    assert _table_rows(project, "v1") == before
    return error


def test_a_holdout_equal_to_the_seeds_is_refused_before_any_write(project, instance):
    folder = project.add_dataset("support_intents")
    (folder / "holdout.jsonl").write_bytes((folder / "seeds.jsonl").read_bytes())
    n = len((folder / "seeds.jsonl").read_text().splitlines())
    error = _assert_refused_before_any_write(
        project,
        instance,
        f"{folder / 'holdout.jsonl'}: {n} of {n} holdout records repeat a seed record",
        "holdout.jsonl:1 = seeds.jsonl:1",
        "holdout.jsonl:2 = seeds.jsonl:2",
        f"and {n - 3} more",
        "The holdout must be disjoint from the seeds",
        "Keep each real example in one of the two files only",
    )
    assert "holdout.jsonl:4 =" not in error  # the first few, not all of them


def test_seeds_holding_one_holdout_row_are_refused_before_any_write(project, instance):
    folder = project.add_dataset("support_intents")
    holdout_lines = (folder / "holdout.jsonl").read_text().splitlines()
    row = json.loads(holdout_lines[6])
    # The same text in another case and spacing is the same record.
    row["text"] = "  " + row["text"].upper().replace(" ", "   ") + " "
    with (folder / "seeds.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    n = len((folder / "seeds.jsonl").read_text().splitlines())
    error = _assert_refused_before_any_write(
        project,
        instance,
        f"holdout.jsonl: 1 of {len(holdout_lines)} holdout records repeat a seed record "
        "(field 'text', ignoring case and spacing): ",
        f"holdout.jsonl:7 = seeds.jsonl:{n}",
    )
    assert "more" not in error
