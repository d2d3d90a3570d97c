"""Study files: every bad input is refused with a line naming the key and the fix."""

from __future__ import annotations

import pytest

from layerlr.study import StudyFileError, load_study, parse_study

GOOD = {"name": "s", "model": {"depth": 3, "width": 16}, "train": {}, "search": {}}


def with_(section: str, **values):
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in GOOD.items()}
    raw.setdefault(section, {}).update(values)
    return raw


@pytest.mark.parametrize("raw,key", [
    (with_("model", widht=16), "model.widht: unknown key; did you mean 'width'?"),
    (with_("search", samplr="tpe"), "search.samplr: unknown key; did you mean 'sampler'?"),
    (with_("model", width="big"), "model.width: every value must be an integer"),
    (with_("model", noise=-0.5), "model.noise: must be >= 0.0"),
    (with_("model", noise=float("inf")), "model.noise: must be a finite number"),
    (with_("train", seeds=[]), "train.seeds: the list is empty"),
    (with_("train", seeds=[1, 1]), "train.seeds: seeds repeat"),
    (with_("train", steps=0), "train.steps: must be >= 1"),
    (with_("model", depth=1), "model.depth: every value must be an integer >= 2"),
    (with_("model", d=8), "model.d (cell depth=3, width=16): orthogonal init needs d >= width"),
    (with_("model", family="matrix"), "model.depth (cell depth=3, width=16): the matrix"),
    (with_("search", sampler="bayes"), "search.sampler: 'bayes' is not allowed"),
    (with_("search", sampler="grid"), "search.sampler: 'grid' needs search.diagonal"),
    (with_("search", diagonal=[30, -1]), "search.diagonal: every value must be a finite"),
    (with_("search", alpha=[0.5, 0.1]), "search.alpha: must be [low, high]"),
    (with_("search", diagonal=[30], diagonal_alpha=[1.2]), "search.diagonal_alpha: give either"),
    (with_("search", diagonal_alpha=[-1.0]), "search.diagonal_alpha: every value must be"),
    (with_("search", diagonal=[30], diagonal_divisions=1), "search.diagonal_divisions: must be"),
    (with_("search", objective_step=3), "search.objective_step: 3 is past the last step"),
    (with_("resources", gpus_per_worker=1.5), "resources.gpus_per_worker: 1.5 is neither"),
    (with_("train", measure="no"), "train.measure: must be true or false"),
    (with_("search", diagonal_steps="rest"), "search.diagonal_steps: only for diagonal sweeps"),
    (with_("search", diagonal_grid="even"), "search.diagonal_grid: only for diagonal sweeps"),
    (with_("search", diagonal=[30], diagonal_grid="fine"),
     "search.diagonal_grid: 'fine' is not allowed"),
    (with_("search", diagonal=[30], diagonal_steps="last"),
     "search.diagonal_steps: 'last' is not allowed"),
    (with_("search", diagonal_alpha={"matrix": [1.2]}),
     "search.diagonal_alpha (cell depth=3): no exponents for the readout family"),
    (with_("search", diagonal_alpha={"readout": [0.2], "conv": [1.0]}),
     "search.diagonal_alpha.conv: not a family"),
    (with_("search", objective="theory", objective_step=2) | {"train": {"steps": 2}}
     | {"model": {"depth": 3, "width": 16, "init": "gaussian"}},
     "search.objective (cell depth=3, width=16): 'theory' needs the exact theory after step 2"),
    ({"model": {"depth": 3, "width": 8}}, "name: missing"),
    (dict(GOOD, name="../../../x"), "name: '../../../x' is not a valid study name"),
    (dict(GOOD, name="/tmp/x"), "name: '/tmp/x' is not a valid study name"),
    (dict(GOOD, name=".."), "name: '..' is not a valid study name"),
    (dict(GOOD, name="a%2Fb"), "name: 'a%2Fb' is not a valid study name"),
    (dict(GOOD, name="x" * 300), "name: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... is not a"),
    (with_("search", alpha=[100, 300]), "search.alpha (width 16): the largest rate overflows"),
    (with_("search", rates="free", exponent=[1, 400]), "search.exponent (width 16): the larg"),
    (with_("search", sampler="grid", diagonal_alpha=[400.0]), "search.diagonal_alpha (width"),
    (with_("resources", cpus_per_worker=0.0001), "resources.cpus_per_worker: must be >= 0.5"),
    (with_("train", steps=101), "train.steps: must be <= 100"),
    (with_("model", family="mlp", activation="softplus"), "model.activation: 'softplus' is not"),
    (with_("model", activation="relu"), "model.activation: only family = \"mlp\""),
    (with_("model", family="readout", activation="linear"),
     "model.activation: only family = \"mlp\" takes an activation (the readout family"),
    (with_("model", family="mlp", data="digits", init="gaussian", n=100),
     "model.n: the digits data set fixes n"),
    (with_("model", family="mlp", data="diabetes", init="gaussian", d=10),
     "model.d: the diabetes data set fixes d = 10"),
    (with_("model", family="mlp", data="digits", init="gaussian", target="teacher"),
     "model.target (cell depth=3, width=16): the digits data set has its own labels"),
    (with_("model", family="mlp", depth=[1, 3]), "model.depth: every value must be an integer"),
    (with_("model", family="mlp", data="digits", width=128),
     "model.init (cell depth=3, width=128): orthogonal init needs d >= width"),
    (with_("search", objective_step=[1, 3]), "search.objective_step: 3 is past the last step"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(StudyFileError) as info:
        parse_study(raw)
    assert any(line.startswith(key) for line in info.value.problems), info.value.problems


def test_all_problems_are_reported_at_once():
    raw = with_("model", noise=-1, init="xavier")
    raw["search"] = {"sampler": "bayes"}
    with pytest.raises(StudyFileError) as info:
        parse_study(raw)
    assert len(info.value.problems) == 3


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(StudyFileError, match="file not found"):
        load_study(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = 'x'\n[model\n")
    with pytest.raises(StudyFileError, match="broken TOML"):
        load_study(broken)


def test_cells_cover_depths_and_widths_with_family_by_depth():
    cfg = parse_study({"name": "dw", "model": {"depth": [2, 3, 8], "width": [16, 32]}})
    cells = cfg.cells()
    assert [c.name for c in cells] == ["L2-h16", "L2-h32", "L3-h16", "L3-h32", "L8-h16",
                                       "L8-h32"]
    assert cells[0].setting.family == "matrix" and cells[-1].setting.family == "readout"
    assert cells[-1].setting.layers == 7


def test_shipped_study_files_are_valid():
    from pathlib import Path

    files = sorted((Path(__file__).parents[2] / "studies").glob("*.toml"))
    assert len(files) >= 5
    for path in files:
        load_study(path)


def test_a_huge_or_endless_file_is_refused_without_reading_it_all(tmp_path):
    with pytest.raises(StudyFileError, match="larger than 1 MiB"):
        load_study("/dev/zero")
    big = tmp_path / "big.toml"
    big.write_text('name = "s"\n' + "# padding\n" * 200_000)
    with pytest.raises(StudyFileError, match="larger than 1 MiB"):
        load_study(big)
    with pytest.raises(StudyFileError, match="is a directory"):
        load_study(tmp_path)


def test_measure_false_defaults_the_objective_to_the_theory():
    cfg = parse_study(with_("train", measure=False))
    assert cfg.train.measure is False and cfg.search.objective == "theory"
    assert parse_study(GOOD).train.measure is True


def test_measure_false_refuses_a_measured_objective():
    raw = with_("train", measure=False)
    raw["search"] = {"objective": "empirical"}
    with pytest.raises(StudyFileError) as err:
        parse_study(raw)
    assert err.value.problems == [("search.objective: 'empirical' is a measured loss but "
                                   "train.measure = false; use objective = 'theory' or "
                                   "measure = true")]


def test_measure_false_needs_the_theory_in_every_cell_and_step():
    raw = {"name": "t", "model": {"depth": [3, 8], "width": [16, 100_000]},
           "train": {"measure": False, "steps": 4}}
    with pytest.raises(StudyFileError) as err:
        parse_study(raw)
    assert [line.split(":")[0] for line in err.value.problems] == [
        "train.measure (cell depth=8, width=16)", "train.measure (cell depth=8, width=100000)"]
    assert "stops after step 3 at depth 8" in err.value.problems[0]
    raw["model"]["target"] = "sphere"  # its quadrature reaches four steps at depth 8
    assert parse_study(raw).train.measure is False
    raw["model"] = {"depth": 2, "width": 64, "target": "gaussian"}
    with pytest.raises(StudyFileError, match="no exact theory for this setting"):
        parse_study(raw)


def test_mlp_cells_per_model_table_activation_and_objective_step():
    cfg = parse_study({"name": "nl", "model": [
        {"family": "mlp", "activation": ["relu", "tanh"], "depth": 3, "width": [16, 32],
         "target": "sphere"},
        {"family": "mlp", "depth": 3, "width": 16, "data": "digits", "init": "gaussian"}],
        "train": {"steps": 50}, "search": {"objective_step": [2, 50]}})
    names = [c.name for c in cfg.cells()]
    assert names[:3] == ["relu-whitened-sphere-L3-h16-obj2", "relu-whitened-sphere-L3-h16-obj50",
                         "relu-whitened-sphere-L3-h32-obj2"]
    assert names[-1] == "relu-digits-L3-h16-obj50" and len(names) == 10
    assert [c.objective_step for c in cfg.cells()[:2]] == [2, 50]
    digits = cfg.cells()[-1].setting
    assert (digits.activation, digits.d, digits.target) == ("relu", 64, None)
    again = type(cfg).from_identity("nl", cfg.identity())
    assert [c.name for c in again.cells()] == names and again.identity() == cfg.identity()


def test_repeated_cells_and_diagonal_depth_two_are_refused():
    same = {"family": "mlp", "depth": 3, "width": 16}
    with pytest.raises(StudyFileError, match="two cells are both named"):
        parse_study({"name": "x", "model": [same, dict(same, noise=0.1)]})
    with pytest.raises(StudyFileError, match="at least two trained layers"):
        parse_study({"name": "x", "model": dict(same, depth=2), "search": {"diagonal": [10]}})
