"""Grid: validation of every axis and setting, cells and their keys, TOML files."""

import pytest

from sparsecore.sweep import Grid, load_grid

BASE = {"dataset": "regression", "methods": ["magnitude"], "sparsities": [0.5]}


def test_cells_are_dense_baselines_then_the_product():
    g = Grid(dataset="regression", methods=["magnitude", "random"],
             sparsities=[0.5, 0.9], seeds=[0, 1], epochs=2)  # fmt: skip
    cells = g.cells()
    assert len(cells) == 2 + 2 * 2 * 2
    assert [(c.method, c.seed) for c in cells[:2]] == [("dense", 0), ("dense", 1)]
    assert {(c.method, c.sparsity, c.seed) for c in cells[2:]} == {
        (m, s, seed)
        for m in ("magnitude", "random")
        for s in (0.5, 0.9)
        for seed in (0, 1)
    }
    assert len({c.key for c in cells}) == len(cells)  # every cell its own record
    assert Grid(**BASE, dense=False).cells()[0].method == "magnitude"


def test_key_hashes_every_setting():
    a = Grid(**BASE).cells()[1]
    assert a.key == Grid(**BASE).cells()[1].key  # deterministic
    for change in ({"epochs": 31}, {"batch_size": 50}, {"learning_rate": 2e-3},
                   {"hidden": [128]}, {"dataset": "digits"},
                   {"options": {"magnitude": {"x": 1}}}):  # fmt: skip
        b = Grid(**{**BASE, **change}).cells()[1]
        assert b.key != a.key, change
        assert b.name.startswith("magnitude_s0.5_seed0_")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            {"dataset": "cifar"},
            ValueError,
            r"dataset must be one of \['digits', 'mnist1d'",
        ),
        ({"methods": ["nope"]}, ValueError, r"methods\[0\] must be one of \["),
        ({"methods": ["dense"]}, ValueError, r"methods\[0\] must be one of"),
        ({"methods": []}, ValueError, "methods must not be empty"),
        ({"methods": "magnitude"}, TypeError, "methods must be a list"),
        ({"sparsities": []}, ValueError, "sparsities must not be empty"),
        (
            {"sparsities": [1.0]},
            ValueError,
            r"sparsities\[0\] must be a float in \[0, 1\)",
        ),
        (
            {"sparsities": [-0.1]},
            ValueError,
            r"sparsities\[0\] must be a float in \[0, 1\)",
        ),
        ({"sparsities": [0.5, 0.5]}, ValueError, "must not repeat a value"),
        ({"seeds": [-1]}, ValueError, r"seeds\[0\] must be an int in \[0, "),
        ({"seeds": [True]}, TypeError, r"seeds\[0\] must be an int"),
        ({"epochs": 0}, ValueError, r"epochs must be an int in \[1, "),
        ({"hidden": [0]}, ValueError, r"hidden\[0\] must be an int in \[1, "),
        (
            {"learning_rate": 0.0},
            ValueError,
            r"learning_rate must be a float in \(0, 10\)",
        ),
        (
            {"options": {"random": {}}},
            ValueError,
            "options must be for methods of the grid",
        ),
        ({"options": {"magnitude": {"f": object()}}}, TypeError, "JSON-serialisable"),
    ],
)
def test_bad_grids_are_refused(change, error, match):
    with pytest.raises(error, match=match):
        Grid(**{**BASE, **change})


def test_from_mapping_refuses_unknown_and_missing_keys():
    with pytest.raises(ValueError, match=r"unknown \['epoch'\]"):
        Grid.from_mapping({**BASE, "epoch": 3})
    with pytest.raises(ValueError, match=r"config must give \['sparsities'\]"):
        Grid.from_mapping({"dataset": "regression", "methods": ["random"]})


def test_toml_round_trip(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(
        'dataset = "regression"\nmethods = ["magnitude", "random"]\n'
        "sparsities = [0.5, 0.9]\nseeds = [0, 1]\nepochs = 3\nhidden = [32]\n"
        "[options.random]\nnote = 'x'\n"
    )
    g = load_grid(path)
    assert g == Grid(dataset="regression", methods=["magnitude", "random"],
                     sparsities=[0.5, 0.9], seeds=[0, 1], epochs=3, hidden=[32],
                     options={"random": {"note": "x"}})  # fmt: skip
    assert Grid.from_mapping(g.to_dict()) == g


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("dataset = ", "not valid TOML"),
        (
            'dataset = "regression"\nmethods = ["x"]\nsparsities = [0.5]\n',
            "must be one of",
        ),
        ("\xff\xfe", "not valid TOML"),
    ],
)
def test_bad_toml_names_the_file(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=match) as info:
        load_grid(path)
    assert str(path) in str(info.value)
