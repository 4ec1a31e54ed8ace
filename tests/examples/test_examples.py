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


def test_layernorm_gelu_mlp_trains_the_same_eagerly_and_compiled(capsys):
    module = load("layernorm_gelu_mlp")
    result = module.main(backend="numpy")
    assert result["max_weight_diff"] < 1e-9
    assert abs(result["eager_loss"] - result["compiled_loss"]) < 1e-10
    assert result["accuracy"] > module.TARGET_ACCURACY
    assert "max |weight difference|" in capsys.readouterr().out


@pytest.mark.slow  # compiles the training step with Numba
def test_layernorm_gelu_mlp_with_numba():
    result = load("layernorm_gelu_mlp").main(steps=40, verbose=False)
    assert result["max_weight_diff"] < 1e-9


def test_embedding_kl_learns_the_next_token_distributions(capsys):
    result = load("embedding_kl").main(backend="numpy")
    assert result["after"] < 0.1 * result["before"]
    assert abs(result["compiled"] - result["after"]) < 1e-5 * result["after"]
    assert result["max_grad_diff"] < 1e-6 and result["padding_grad"] == 0.0
    assert "KL divergence per sample" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["linear_model", "custom_cross_entropy", "softmax_jacobian",
                                  "mlp_classifier", "layernorm_gelu_mlp", "embedding_kl"])
def test_examples_have_a_main_and_a_docstring(name):
    module = load(name)
    assert callable(module.main) and module.__doc__ and "python examples/" in module.__doc__


def test_convnet_compiled_training_equals_eager_and_learns(capsys):
    module = load("convnet")
    assert module.__doc__ and "python examples/convnet.py" in module.__doc__
    result = module.main(steps=40, backend="numpy")
    assert result["loss_diff"] < 1e-12 and result["param_diff"] < 1e-12
    assert result["accuracy"] > module.TARGET_ACCURACY
    assert "final training accuracy" in capsys.readouterr().out


def test_out_of_core_lbfgs_fits_over_chunks(capsys):
    pytest.importorskip("dask")
    r = load("out_of_core_lbfgs").main(rows=30_000, chunk=4_000, adam_steps=40)
    assert r["chunks_vs_memory_value"] < 1e-12 and r["chunks_vs_memory_grad"] < 1e-12
    assert r["grad_norm"] < 1e-4  # L-BFGS-B reached the optimum
    assert r["lbfgs_loss"] <= r["adam_loss"] < np.log(2)  # Adam from 0 is on its way there
    assert "passes over the data" in capsys.readouterr().out
