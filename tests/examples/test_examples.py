"""The example scripts run and show what they claim (each exposes ``main()``)."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    """Import examples/NAME.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"symgrad_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_model_learns_w_equal_2(capsys):
    result = load("linear_model").main()
    assert result["before"] == 4.0
    assert abs(result["after"] - 8.0) < 0.05
    assert abs(result["w"] - 2.0) < 1e-3
    assert "after training" in capsys.readouterr().out


def test_custom_cross_entropy_equals_the_builtin(capsys):
    result = load("custom_cross_entropy").main()
    assert result["value_diff"] < 1e-12 and result["max_grad_diff"] < 1e-12
    assert 0.1 < result["loop"] < 5.0
    out = capsys.readouterr().out
    assert "nn.CrossEntropyLoss()" in out and "max |gradient difference|" in out


def test_softmax_jacobian_matches_the_closed_form(capsys):
    result = load("softmax_jacobian").main()
    jac = np.array(result["jacobian"])
    assert jac.shape == (4, 4) and result["max_diff"] < 1e-12
    np.testing.assert_allclose(jac, np.array(result["closed_form"]), atol=1e-12)
    np.testing.assert_allclose(jac.sum(axis=1), 0.0, atol=1e-12)  # rows of a softmax Jacobian
    assert "max |difference|" in capsys.readouterr().out


def test_mlp_classifier_reaches_its_target_accuracy(capsys):
    module = load("mlp_classifier")
    result = module.main()
    assert result["accuracy"] > module.TARGET_ACCURACY
    assert result["loss"] < 0.2
    assert "final training accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["linear_model", "custom_cross_entropy", "softmax_jacobian",
                                  "mlp_classifier"])
def test_examples_have_a_main_and_a_docstring(name):
    module = load(name)
    assert callable(module.main) and module.__doc__ and "python examples/" in module.__doc__
