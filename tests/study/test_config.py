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
    (with_("train", steps=101), "train.steps: the readout family takes at most 100 steps"),
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


def test_a_cell_problem_and_problems_of_other_tables_are_all_reported_at_once():
    raw = {"name": "x", "model": {"depth": 3, "width": 8, "d": 4},
           "search": {"sampler": "bayes", "objective_step": 5, "alpha": [1, 0]}}
    with pytest.raises(StudyFileError) as info:
        parse_study(raw)
    keys = sorted(line.split(":")[0] for line in info.value.problems)
    assert keys == ["model.d (cell depth=3, width=8)", "search.alpha", "search.objective_step",
                    "search.sampler"], info.value.problems


def test_lines_name_the_model_table_of_several():
    raw = {"name": "x", "model": [{"depth": 3, "width": 8},
                                  {"family": "mlp", "depth": [3, 1], "width": 8},
                                  {"family": "mlp", "depth": 3, "width": 8, "data": "digits",
                                   "init": "gaussian", "n": 10, "widht": 3}]}
    with pytest.raises(StudyFileError) as info:
        parse_study(raw)
    assert info.value.problems == [
        "model[2].depth: every value must be an integer >= 2, got 1",
        "model[3].widht: unknown key; did you mean 'width'?",
        ("model[3].n: the digits data set fixes n (its 1797 rows less model[3].test_size); "
        "remove model[3].n")]
    with pytest.raises(StudyFileError, match=r"model\.family: 'conv' is not allowed"):
        parse_study({"name": "x", "model": {"family": "conv", "depth": 3, "width": 8}})


# What today's code stores in Optuna for this file (StudyConfig.identity, as JSON): a
# study it wrote must resume, not be refused as "a study with other settings".
STORED = {
    "train": {"steps": 3, "seeds": [1, 2], "protocol": "native", "dtype": "float32",
              "measure": True},
    "search": {"sampler": "grid", "diagonal": None, "diagonal_alpha": [
        ["matrix", [1.2]], ["mlp", [0.3]], ["readout", [0.4, 0.5]]], "diagonal_divisions": 20,
        "diagonal_grid": "integer", "diagonal_steps": "rest", "objective": "population",
        "objective_step": [2, 3], "phases": "first-rest", "rates": "budget", "alpha": None,
        "scale": 2.0, "exponent": None, "seed": 0},
    "model": [{"depths": [2, 3], "widths": [16], "family": None, "init": "orthogonal",
               "data": "whitened", "target": None, "n": None, "d": None, "noise": 0.0,
               "test_size": 500, "activation": None},
              {"depths": [3], "widths": [16], "family": "mlp", "init": "orthogonal",
               "data": "whitened", "target": "sphere", "n": None, "d": None, "noise": 0.1,
               "test_size": 500, "activation": ["relu", "tanh"]}]}
STORED_FILE = {"name": "old", "model": [
    {"depth": [2, 3], "width": 16},
    {"family": "mlp", "activation": ["relu", "tanh"], "depth": 3, "width": 16,
     "target": "sphere", "noise": 0.1}],
    "train": {"steps": 3, "seeds": [1, 2]},
    "search": {"sampler": "grid", "diagonal_alpha": {"readout": [0.4, 0.5], "matrix": 1.2,
                                                      "mlp": [0.3]},
               "diagonal_steps": "rest", "objective_step": [2, 3]}}


def test_a_stored_identity_resumes_and_older_ones_get_the_defaults():
    import copy
    import json
    import pickle

    from layerlr.study import StudyConfig

    cfg = parse_study(STORED_FILE)
    assert cfg.identity() == STORED
    stored = json.loads(json.dumps(STORED))  # as the journal gives it back
    again = StudyConfig.from_identity("old", stored)
    assert again.identity() == cfg.identity() and again == cfg and hash(again) == hash(cfg)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    older = copy.deepcopy(stored)  # before measure, diagonal_grid and activation existed
    del older["train"]["measure"], older["search"]["diagonal_grid"]
    for model in older["model"][:1]:
        del model["activation"]
    assert StudyConfig.from_identity("old", older).identity() == cfg.identity()
    older["search"]["diagonal_divisions"] = 40
    assert StudyConfig.from_identity("old", older).identity() != cfg.identity()


def test_the_schema_command_describes_every_shipped_file_and_refuses_bad_keys():
    import json
    import tomllib
    from pathlib import Path

    from command import layerlr

    jsonschema = pytest.importorskip("jsonschema")
    out = layerlr("schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    files = sorted((Path(__file__).parents[2] / "studies").glob("*.toml"))
    for kind in (jsonschema.Draft4Validator, jsonschema.Draft202012Validator):
        kind.check_schema(schema)  # Taplo (Even Better TOML) reads draft 4
        validator = kind(schema)
        for path in files:
            errors = [e.message for e in validator.iter_errors(tomllib.loads(path.read_text()))]
            assert not errors, (path, errors)
        good = {"name": "x", "model": {"depth": 3, "width": [8, 16]}}
        assert validator.is_valid(good)
        for bad in (with_("model", widht=16), with_("search", sampler="bayes"),
                    with_("model", activation="relu"), with_("model", depth=1001),
                    with_("search", scale=0), with_("resources", workers=10_001),
                    with_("search", diagonal_alpha={"conv": [1.0]}), dict(GOOD, name="../x"),
                    {"name": "x", "model": {"depth": 3, "width": 8, "family": "mlp",
                                            "activation": ["relu", "swish"]}}):
            assert not validator.is_valid(bad), bad
            with pytest.raises(StudyFileError):  # the command refuses them as well
                parse_study(bad)


def test_the_limits_are_accepted_up_to_the_bound():
    assert parse_study(with_("model", depth=1000, width=8))
    many = with_("model", depth=list(range(2, 102)), width=list(range(1, 101)))  # 10,000
    assert len(parse_study(many).cells()) == 10_000
    many["train"] = {"steps": 2}
    many["search"] = {"objective_step": [1, 2]}
    with pytest.raises(StudyFileError, match="model: the study has 20,000 cells"):
        parse_study(many)
    with pytest.raises(StudyFileError, match="model.width: widths repeat"):
        parse_study(with_("model", width=[8, 8]))
    assert parse_study(with_("resources", workers=10_000))
    # an even grid of D divisions sweeps eta1 = i B / D for i = 1 .. D - 1: D - 1 points
    even = with_("search", diagonal=[40], diagonal_grid="even", diagonal_divisions=10_001)
    assert parse_study(even)
    even["search"]["diagonal"] = [40, 50]
    with pytest.raises(StudyFileError, match=r"search.diagonal \(width 16\): the sweep has "
                                             r"20,000 points"):
        parse_study(even)


IMPOSSIBLE = [
    ("depth = 3", "depth = 1000000", "model.depth: every value must be an integer <= 1000"),
    ("n_trials = 4", 'diagonal = [40]\ndiagonal_divisions = 1000000000\ndiagonal_grid = "even"',
     "search.diagonal_divisions (width 8): the sweep has 999,999,999 points"),
    ("n_trials = 4", "diagonal = [1e12]\ndiagonal_divisions = 1000000",
     "search.diagonal_divisions (width 8): the sweep has 999,999 points"),
    ("n_trials = 4", "diagonal_alpha = [0.0]\nscale = 0.5",
     "search.diagonal_alpha (width 8): a budget B = scale * h^alpha is 0.5"),
    ("n_trials = 4", f"n_trials = 4\n[train]\nseeds = [1, {2**64}]",
     f"train.seeds: every value must be an integer <= {2**64 - 1}, got {2**64}"),
    ("n_trials = 4", "n_trials = 4\n[resources]\nbatch_size = 1000000000",
     "resources.batch_size: must be <= 100000, got 1000000000"),
    ("n_trials = 4", "n_trials = 4\n[resources]\nworkers = 1000000",
     "resources.workers: must be <= 10000, got 1000000"),
    ("n_trials = 4", "n_trials = 4\nfoo = " + "[" * 5000 + "]" * 5000,
     "search.foo: arrays or tables nested about 5000 levels deep (line 7)"),
    ('name = "lim"', 'name = "lim"\nnested = ' + "[" * 100_000 + "]" * 100_000,
     "nested: arrays or tables nested about 100000 levels deep"),
]


@pytest.mark.parametrize("old,new,needle", IMPOSSIBLE)
def test_impossible_sizes_exit_2_naming_the_key_before_anything_is_written(
        tmp_path, old, new, needle):
    from command import layerlr

    study = tmp_path / "s.toml"
    study.write_text('name = "lim"\n[model]\ndepth = 3\nwidth = 8\n[search]\nn_trials = 4\n'
                     .replace(old, new))
    out = layerlr("run", study, "--results", tmp_path / "res")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert any(line.startswith(f"error: {study}: {needle}") for line in
               out.stderr.splitlines()), out.stderr
    assert not (tmp_path / "res").exists()


def test_a_bad_file_is_refused_without_torch_optuna_or_ray(tmp_path):
    import subprocess
    import sys

    study = tmp_path / "s.toml"
    study.write_text('name = "x"\n[model]\ndepth = 3\nwidht = 8\n')
    check = ("import sys; from layerlr.cli import main; "
             f"code = main(['run', {str(study)!r}, '--results', {str(tmp_path / 'r')!r}]); "
             "heavy = {'torch', 'optuna', 'ray', 'pandas'} & set(sys.modules); "
             "assert code == 2 and not heavy, (code, heavy)")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "model.widht: unknown key; did you mean 'width'?" in out.stderr


def test_the_readme_lists_every_key_of_the_schema():
    import tomllib
    from pathlib import Path

    from layerlr.study.config import json_schema

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("## Study files", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    listed = tomllib.loads(block)
    schema = json_schema()
    tables = {"": schema, **{k: v for k, v in schema["$defs"].items()}}
    model = set().union(*(set(v["properties"]) for k, v in tables.items()
                          if k.endswith("Table") and "depth" in v["properties"]))
    assert set(listed) == set(schema["properties"])
    assert set(listed["model"]) == model
    for key in ("train", "search", "resources"):
        name = f"{key.capitalize()}Table"
        assert set(listed[key]) == set(tables[name]["properties"]), key


ODD = [3, -1, 0, 1.5, float("nan"), float("inf"), True, "x", "", "mlp", [], [1], ["a"], [[1]],
       [1, 1], {}, {"a": 1}, {"matrix": {"x": 1}}, 10**30, [10**30]]


def test_any_value_for_any_key_is_a_config_or_lines_never_a_crash():
    import datetime

    from layerlr.study.config import json_schema

    schema = json_schema()
    where = {name: list(schema["$defs"][name]["properties"])
             for name in ("TrainTable", "SearchTable", "ResourcesTable", "LinearTable",
                          "MlpTable")}
    where[""] = list(schema["properties"])
    for table, keys in where.items():
        for key, value in ((k, v) for k in keys for v in [*ODD, datetime.date(2020, 1, 1)]):
            model = {"depth": 3, "width": 8, **({"family": "mlp"} if table == "MlpTable" else {})}
            raw = {"name": "x", "model": model}
            if table.endswith("Table") and table not in ("LinearTable", "MlpTable"):
                raw[table.removesuffix("Table").lower()] = {key: value}
            elif table:
                model[key] = value
            else:
                raw[key] = value
            for form in (raw, dict(raw, model=[raw["model"], {"depth": 2, "width": 4}])):
                try:
                    parse_study(form)
                except StudyFileError as err:
                    assert all(len(line) < 300 for line in err.problems), err.problems


MODULE = {"name": "m", "model": {"family": "module", "module": "net.py:build",
                                 "data": "mnist1d", "depth": 2, "width": 4},
          "train": {}, "search": {"rates": "free", "rate": [1e-3, 1.0]}}


def module_with(section: str, **values):
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in MODULE.items()}
    raw[section].update(values)
    return raw


def test_a_module_tables_file_path_is_relative_to_the_study_file(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "net.py").write_text("def build(width, depth):\n    pass\n")
    study = tmp_path / "s.toml"
    study.write_text('name = "m"\n[model]\nfamily = "module"\nmodule = "nets/net.py:build"\n'
                     'data = "mnist1d"\ndepth = 2\nwidth = [4, 8]\n[train]\nsteps = 1000\n'
                     'optimizer = "adam"\nbatch_size = 32\n[search]\nbaselines = "single"\n')
    cfg = load_study(study)
    cells = cfg.cells()
    assert [c.name for c in cells] == ["net-mnist1d-L2-h4", "net-mnist1d-L2-h4-single",
                                       "net-mnist1d-L2-h8", "net-mnist1d-L2-h8-single"]
    s = cells[0].setting
    assert s.module == f"{tmp_path / 'nets' / 'net.py'}:build"
    assert (s.optimizer, s.batch_size, s.loss) == ("adam", 32, "cross_entropy")
    assert cells[1].baseline == "single" and cells[1].searched == cells[0].name


def test_unset_module_keys_leave_a_studys_identity_as_it_was():
    """A linear study's stored identity has none of the keys added for the module family
    (else every study stored before them would be refused on resume)."""
    identity = parse_study(GOOD).identity()
    assert not {"module", "loss", "groups"} & set(identity["model"])
    assert not {"optimizer", "batch_size"} & set(identity["train"])
    assert not {"rate", "baselines", "only_points"} & set(identity["search"])


@pytest.mark.parametrize("raw,line", [
    (module_with("search", rate=[0.0, 1.0]), "search.rate: rates are positive"),
    (module_with("search", rate=[1.0, 0.1]), "search.rate: must be [low, high]"),
    (module_with("search", rates="budget"), "search.rate: only rates = 'free'"),
    (module_with("search", exponent=[-1, 1]), "search.exponent: give either rate"),
    (module_with("search", baselines=["single", "single"]), "search.baselines: baselines "
                                                             "repeat"),
    (module_with("search", baselines=["best"]), "search.baselines: "),
    (module_with("search", baselines=["decay"], diagonal=[1.0], diagonal_grid="even",
                 rate=None, rates="budget"), "search.baselines: a diagonal sweep"),
    (module_with("search", diagonal=[1.0], rate=None, rates="budget"),
     "search.diagonal: a budget of 1: the published grid needs B >= 2"),
    (module_with("train", optimizer="lbfgs"), "train.optimizer: "),
    (module_with("train", batch_size=0), "train.batch_size: must be >= 1"),
    (module_with("train", steps=1001), "train.steps: must be <= 1000"),
    (module_with("model", loss="hinge"), "model.loss: "),
    (module_with("model", init="gaussian"), "model.init: unknown key"),
    (module_with("model", module="net"), "model.module (cell depth=2, width=4): give "),
    (module_with("model", groups={"a": "("}), "model.groups.a (cell depth=2, width=4): the "
                                              "pattern '(' does not compile"),
    (with_("train", optimizer="adam"), "train.optimizer (cell depth=3, width=16): only the "
                                       "module family"),
    (with_("model", module="x.py:build"), "model.module: unknown key"),
])
def test_bad_module_keys_name_the_key(raw, line):
    raw = {k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict)
               else v) for k, v in raw.items()}
    with pytest.raises(StudyFileError) as info:
        parse_study(raw)
    assert any(p.startswith(line) for p in info.value.problems), info.value.problems
