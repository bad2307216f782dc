"""Parameters of linearc.Linear: repr, attributes, views, state_dict with
torch (tensors that require grad included), pickling and copying, sizes at
the edge of what NumPy can describe, initialisation and seeds.

Neighbours: wrong parameters, state dicts, pickles and seeds, and the
read-only attributes, are in test_errors.py; the gradient arrays in
test_backward.py and test_robustness.py."""
from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

import linearc
from conftest import assert_linear_close, outcome_in_child, snapshot

SHAPES = [(3, 2), (1, 1), (0, 4), (4, 0), (0, 0), (17, 33), (256, 5)]


def torch_linear(in_features, out_features, bias=True, dtype=torch.float32):
    with warnings.catch_warnings():
        # torch warns that initialising a zero-element tensor is a no-op.
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.Linear(in_features, out_features, bias=bias,
                               dtype=dtype)


def assert_same_params(a, b):
    """Two layers hold bitwise-identical parameters of the same dtype."""
    assert a.dtype == b.dtype
    assert snapshot(a)["weight"][0] == np.dtype(a.dtype).str
    assert snapshot(a) == snapshot(b)


# ---- repr and attributes ----------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_repr_matches_torch(shape, bias, dtype):
    layer = linearc.Linear(*shape, bias=bias, dtype=dtype)
    assert repr(layer) == repr(torch_linear(*shape, bias=bias))
    assert str(layer) == str(torch_linear(*shape, bias=bias))


def test_repr_exact():
    assert repr(linearc.Linear(4, 2, bias=False)) == \
        "Linear(in_features=4, out_features=2, bias=False)"
    assert repr(linearc.Linear(4, 2, dtype=np.float64)) == \
        "Linear(in_features=4, out_features=2, bias=True)"


def test_attributes(dtype):
    layer = linearc.Linear(5, 3, dtype=dtype)
    assert layer.in_features == 5 and type(layer.in_features) is int
    assert layer.out_features == 3 and type(layer.out_features) is int
    assert isinstance(layer.dtype, np.dtype)
    assert layer.dtype == np.dtype(dtype)
    assert layer.weight.shape == (3, 5)
    assert layer.bias.shape == (3,)
    # Writable views of the layer's memory; their layout is the layer's
    # business (docs/design.md: the weight is a view of W.T).
    assert layer.weight.flags.writeable and layer.bias.flags.writeable
    assert not layer.weight.flags.owndata and not layer.bias.flags.owndata


def test_no_vectorcall_offset_exposed():
    # A C-level slot must not leak out as a Python attribute.
    layer = linearc.Linear(5, 3)
    assert not hasattr(layer, "__vectorcalloffset__")
    assert "__vectorcalloffset__" not in dir(linearc.Linear)
    assert "__vectorcalloffset__" not in dir(layer)


# ---- parameters() / named_parameters() --------------------------------------

def test_parameters_are_views(dtype, rng):
    layer = linearc.Linear(4, 3, dtype=dtype, seed=0)
    params = layer.parameters()
    named = layer.named_parameters()
    assert len(params) == 2
    assert [name for name, _ in named] == ["weight", "bias"]
    for p, (_, q), attr in zip(params, named, (layer.weight, layer.bias)):
        assert np.shares_memory(p, attr)
        assert np.shares_memory(q, attr)
        assert p.dtype == dtype
    x = rng.standard_normal((2, 4)).astype(dtype)
    # Writing through the views changes the output.
    params[0][...] = 0
    named[1][1][...] = np.array([1, 2, 3], dtype)
    np.testing.assert_array_equal(layer(x), np.tile([1, 2, 3], (2, 1)))
    np.testing.assert_array_equal(layer.weight, 0)


def test_parameters_unbiased():
    layer = linearc.Linear(4, 3, bias=False)
    params = layer.parameters()
    assert len(params) == 1 and params[0].shape == (3, 4)
    named = layer.named_parameters()
    assert [name for name, _ in named] == ["weight"]
    assert np.shares_memory(named[0][1], layer.weight)


def test_weight_view_write_changes_output(rng):
    layer = linearc.Linear(3, 2, seed=1)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    before = layer(x)
    layer.weight[0, 0] += 1.0
    after = layer(x)
    np.testing.assert_array_equal(after[:, 1], before[:, 1])
    assert not np.array_equal(after[:, 0], before[:, 0])


def test_weight_setter_copies(dtype):
    layer = linearc.Linear(3, 2, dtype=dtype)
    w = np.arange(6, dtype=np.float64).reshape(2, 3)
    layer.weight = w
    assert not np.shares_memory(layer.weight, w)
    w[...] = -1
    np.testing.assert_array_equal(layer.weight, np.arange(6).reshape(2, 3))
    layer.bias = [5, 6]  # array-likes and ints (same_kind) are accepted
    np.testing.assert_array_equal(layer.bias, [5, 6])
    assert layer.bias.dtype == dtype


# ---- num_parameters ---------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_num_parameters_matches_torch(shape, bias):
    layer = linearc.Linear(*shape, bias=bias)
    tlayer = torch_linear(*shape, bias=bias)
    assert layer.num_parameters == sum(p.numel() for p in tlayer.parameters())
    assert layer.num_parameters == sum(p.size for p in layer.parameters())


# ---- state_dict with torch --------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(3, 2), (17, 33), (0, 4), (4, 0)])
def test_state_dict_torch_to_linearc(shape, bias, dtype):
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    tlayer = torch_linear(*shape, bias=bias, dtype=tdtype)
    with torch.no_grad():
        for p in tlayer.parameters():
            p.uniform_(-3, 3)
    layer = linearc.Linear(*shape, bias=bias, dtype=dtype, seed=0)
    result = layer.load_state_dict(tlayer.state_dict())
    assert result == ([], []) and repr(result) == "<All keys matched successfully>"
    np.testing.assert_array_equal(layer.weight, tlayer.weight.detach().numpy())
    if bias:
        np.testing.assert_array_equal(layer.bias, tlayer.bias.detach().numpy())
    else:
        assert layer.bias is None


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_linearc_to_torch(bias, dtype, rng):
    layer = linearc.Linear(7, 5, bias=bias, dtype=dtype, seed=3)
    state = layer.state_dict()
    assert list(state) == (["weight", "bias"] if bias else ["weight"])
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    tlayer = torch_linear(7, 5, bias=bias, dtype=tdtype)
    tlayer.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = rng.standard_normal((4, 7)).astype(dtype)
    with torch.no_grad():
        yt = tlayer(torch.from_numpy(x)).numpy()
    # torch now holds the very same parameters and computes the same map.
    np.testing.assert_array_equal(tlayer.weight.detach().numpy(), layer.weight)
    if bias:
        np.testing.assert_array_equal(tlayer.bias.detach().numpy(), layer.bias)
    assert_linear_close(yt, x, layer.weight, layer.bias, dtype)
    assert_linear_close(layer(x), x, layer.weight, layer.bias, dtype)


def test_state_dict_is_a_copy(dtype):
    layer = linearc.Linear(3, 2, dtype=dtype, seed=0)
    state = layer.state_dict()
    for key, value in state.items():
        assert value.dtype == dtype
        assert not np.shares_memory(value, getattr(layer, key))
    w = layer.weight.copy()
    state["weight"][...] = 123
    np.testing.assert_array_equal(layer.weight, w)


def test_load_state_dict_array_likes(dtype):
    layer = linearc.Linear(2, 2, dtype=dtype)
    layer.load_state_dict({"weight": [[1, 2], [3, 4]], "bias": (5.0, 6.0)})
    np.testing.assert_array_equal(layer.weight, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(layer.bias, [5, 6])
    # A round trip through our own state_dict.
    other = linearc.Linear(2, 2, dtype=dtype, seed=9)
    other.load_state_dict(layer.state_dict())
    assert_same_params(layer, other)


def test_torch_parameters_that_require_grad(dtype):
    """torch parameters require grad: they are detached and copied in."""
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    tlayer = torch_linear(4, 3, dtype=tdtype)
    assert tlayer.weight.requires_grad and tlayer.bias.requires_grad
    expected = {k: v.detach().numpy().copy()
                for k, v in tlayer.named_parameters()}
    sources = {
        "named_parameters": dict(tlayer.named_parameters()),
        "keep_vars": tlayer.state_dict(keep_vars=True),
    }
    for how, state in sources.items():
        layer = linearc.Linear(4, 3, dtype=dtype, seed=1)
        assert layer.load_state_dict(state) == ([], []), how
        np.testing.assert_array_equal(layer.weight, expected["weight"])
        np.testing.assert_array_equal(layer.bias, expected["bias"])
    layer = linearc.Linear(4, 3, dtype=dtype, seed=1)
    layer.weight = tlayer.weight
    layer.bias = tlayer.bias
    np.testing.assert_array_equal(layer.weight, expected["weight"])
    np.testing.assert_array_equal(layer.bias, expected["bias"])
    # Copies: writing the layer leaves torch's tensors alone.
    layer.weight[...] = 0
    np.testing.assert_array_equal(tlayer.weight.detach().numpy(),
                                  expected["weight"])


def test_load_state_dict_converts_dtype():
    layer = linearc.Linear(2, 2, dtype=np.float64)
    tl = torch_linear(2, 2, dtype=torch.float32)
    layer.load_state_dict(tl.state_dict())
    assert layer.weight.dtype == np.float64
    np.testing.assert_array_equal(
        layer.weight, tl.weight.detach().numpy().astype(np.float64))


# ---- load_state_dict(strict=, assign=) as torch's (issue 23) ----------------

def _state_dicts(bias):
    """State dicts that match a Linear(3, 2, bias) or do not: complete,
    missing keys, unexpected keys, both; values that torch takes too."""
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    b = torch.tensor([10.0, 20.0])
    full = {"weight": w, "bias": b} if bias else {"weight": w}
    return {
        "full": full,
        "no-bias": {"weight": w},
        "no-weight": {"bias": b},
        "empty": {},
        "extra": {**full, "zeta": torch.zeros(1), "alpha": torch.zeros(1)},
        "missing-and-extra": {"weight": w, "bias.x": torch.zeros(1),
                              "fc.weight": w},
        "bias-only-and-extra": {"bias": b, "running_mean": torch.zeros(2)},
    }


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", list(_state_dicts(True)))
def test_load_state_dict_not_strict_matches_torch(bias, case):
    """strict=False loads the keys present and returns what torch returns:
    the same named tuple type name, fields, lists and repr."""
    state = _state_dicts(bias)[case]
    tlayer = torch_linear(3, 2, bias=bias)
    layer = linearc.Linear(3, 2, bias=bias, seed=0)
    with torch.no_grad():  # the same starting values in both
        tlayer.weight.copy_(torch.from_numpy(layer.weight))
        if bias:
            tlayer.bias.copy_(torch.from_numpy(layer.bias))
    expected = tlayer.load_state_dict(state, strict=False)
    got = layer.load_state_dict(state, strict=False)
    assert type(got).__name__ == type(expected).__name__ == "_IncompatibleKeys"
    assert got._fields == expected._fields == ("missing_keys",
                                               "unexpected_keys")
    assert got == expected and isinstance(got, tuple)
    assert got.missing_keys == expected.missing_keys
    assert got.unexpected_keys == expected.unexpected_keys
    assert repr(got) == repr(expected) and str(got) == str(expected)
    # What was loaded, and what was left as it was: as in torch.
    np.testing.assert_array_equal(layer.weight, tlayer.weight.detach().numpy())
    if bias:
        np.testing.assert_array_equal(layer.bias, tlayer.bias.detach().numpy())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", list(_state_dicts(True)))
def test_load_state_dict_strict_matches_torch(bias, case):
    """strict=True (the default, positional or keyword): where torch
    accepts, the same result; where torch refuses (RuntimeError), linearc
    raises KeyError naming the same keys, and changes nothing."""
    state = _state_dicts(bias)[case]
    tlayer = torch_linear(3, 2, bias=bias)
    layer = linearc.Linear(3, 2, bias=bias, seed=0)
    # The keys torch finds wrong, as its strict=False lists them.
    keys = torch_linear(3, 2, bias=bias).load_state_dict(state, strict=False)
    try:
        expected = tlayer.load_state_dict(state, strict=True)
    except RuntimeError:
        assert keys.missing_keys or keys.unexpected_keys
        before = snapshot(layer)
        message = (f"missing keys {keys.missing_keys!r}, unexpected keys "
                   f"{keys.unexpected_keys!r}")
        for call in (lambda: layer.load_state_dict(state),
                     lambda: layer.load_state_dict(state, True),
                     lambda: layer.load_state_dict(state_dict=state, strict=1)):
            with pytest.raises(KeyError, match="strict=False") as info:
                call()
            assert message in str(info.value)
            assert snapshot(layer) == before
    else:
        assert keys == ([], [])
        got = layer.load_state_dict(state, strict=True)
        assert got == expected and repr(got) == repr(expected)
        np.testing.assert_array_equal(layer.weight,
                                      tlayer.weight.detach().numpy())


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_wrong_shape_raises_even_when_not_strict(strict):
    """torch raises on a size mismatch under strict=False too, after loading
    the other keys; linearc raises the same and changes nothing."""
    state = {"weight": torch.ones(3, 3), "bias": torch.ones(2)}
    tlayer = torch_linear(3, 2)
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        tlayer.load_state_dict(state, strict=strict)
    assert tlayer.bias.detach().numpy().tolist() == [1.0, 1.0]  # torch: half
    layer = linearc.Linear(3, 2, seed=0)
    before = snapshot(layer)
    with pytest.raises(ValueError, match=r"weight must have shape \(2, 3\)"):
        layer.load_state_dict(state, strict=strict)
    assert snapshot(layer) == before
    with pytest.raises(ValueError, match="bias"):
        layer.load_state_dict({"bias": np.ones(5), "x": 1}, strict=False)
    assert snapshot(layer) == before


def test_load_state_dict_assign_is_refused_and_changes_nothing():
    """assign=True would make the state dict's tensors the parameters; a
    linearc layer owns its (transposed, aligned) memory, so only copying
    (assign=False, the default) is offered."""
    tlayer = torch_linear(3, 2)
    layer = linearc.Linear(3, 2, seed=0)
    before = snapshot(layer)
    for kwargs in ({"assign": True}, {"strict": False, "assign": True}):
        with pytest.raises(ValueError, match=r"assign=True\) is not supported.*"
                           r"owns its memory.*assign=False"):
            layer.load_state_dict(tlayer.state_dict(), **kwargs)
        assert snapshot(layer) == before
    assert layer.load_state_dict(tlayer.state_dict(), assign=False) == ([], [])
    np.testing.assert_array_equal(layer.weight, tlayer.weight.detach().numpy())
    assert not np.shares_memory(layer.weight, tlayer.weight.detach().numpy())


def test_load_state_dict_signature_is_torchs():
    import inspect
    ours = inspect.signature(linearc.Linear.load_state_dict)
    theirs = inspect.signature(torch.nn.Module.load_state_dict)
    assert list(ours.parameters) == list(theirs.parameters)
    for name in ("strict", "assign"):
        assert ours.parameters[name].default == theirs.parameters[name].default


# ---- pickle / copy ----------------------------------------------------------

@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (0, 2), (2, 0), (70, 9)])
def test_pickle_round_trip(shape, bias, protocol, dtype, rng):
    layer = linearc.Linear(*shape, bias=bias, dtype=dtype, seed=11)
    clone = pickle.loads(pickle.dumps(layer, protocol=protocol))
    assert type(clone) is linearc.Linear
    assert repr(clone) == repr(layer)
    assert (clone.in_features, clone.out_features) == shape
    assert_same_params(layer, clone)
    assert not np.shares_memory(clone.weight, layer.weight)
    x = rng.standard_normal((3, shape[0])).astype(dtype)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_pickle_keeps_special_values():
    layer = linearc.Linear(3, 1, dtype=np.float64)
    layer.weight = [[np.nan, -0.0, np.inf]]
    layer.bias = [np.finfo(np.float64).tiny / 4]  # subnormal
    clone = pickle.loads(pickle.dumps(layer))
    assert_same_params(layer, clone)


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy],
                         ids=["copy", "deepcopy"])
@pytest.mark.parametrize("bias", [True, False])
def test_copies_share_no_memory(copier, bias, dtype):
    layer = linearc.Linear(6, 4, bias=bias, dtype=dtype, seed=12)
    clone = copier(layer)
    assert clone is not layer
    assert_same_params(layer, clone)
    for name, array in clone.named_parameters():
        assert not np.shares_memory(array, getattr(layer, name)), name
        array[...] = 7
        assert not np.any(getattr(layer, name) == 7), name


# ---- initialisation ---------------------------------------------------------

@pytest.mark.parametrize("in_features", [1, 3, 100, 1000])
def test_init_bounds(in_features, dtype):
    layer = linearc.Linear(in_features, 50, dtype=dtype, seed=in_features)
    bound = 1.0 / np.sqrt(in_features)
    # Stored values, rounded to dtype, stay within the (rounded) bound.
    limit = np.asarray(bound, dtype=dtype)
    assert np.all(np.abs(layer.weight) <= limit)
    assert np.all(np.abs(layer.bias) <= limit)


def test_init_roughly_uniform(dtype):
    in_features, out_features = 400, 500
    layer = linearc.Linear(in_features, out_features, dtype=dtype, seed=5)
    bound = 1.0 / np.sqrt(in_features)
    w = layer.weight.astype(np.float64) / bound  # ~U[-1, 1]
    n = w.size
    # Mean 0 with std 1/sqrt(3n); allow 6 standard errors.
    assert abs(w.mean()) < 6 / np.sqrt(3 * n)
    # Variance of U[-1,1] is 1/3.
    assert abs(w.var() - 1 / 3) < 0.01
    # Fills the range: extremes close to the bound, every decile populated.
    assert w.min() < -0.999 and w.max() > 0.999
    counts, _ = np.histogram(w, bins=10, range=(-1, 1))
    assert np.all(np.abs(counts - n / 10) < 6 * np.sqrt(n / 10))
    assert len(np.unique(w)) > 0.99 * n


def test_bias_bound_uses_in_features():
    layer = linearc.Linear(4, 2000, seed=3)
    b = layer.bias.astype(np.float64)
    # Bound 1/sqrt(4) = 0.5: spread should reach close to it.
    assert np.all(np.abs(b) <= 0.5)
    assert b.max() > 0.45 and b.min() < -0.45
    assert abs(b.mean()) < 0.05


def test_bias_zero_when_in_features_zero(dtype):
    layer = linearc.Linear(0, 7, dtype=dtype, seed=1)
    np.testing.assert_array_equal(layer.bias, np.zeros(7))
    assert layer.weight.shape == (7, 0)
    layer.reset_parameters(seed=2)
    np.testing.assert_array_equal(layer.bias, np.zeros(7))


@pytest.mark.parametrize("seed", [None, *range(40), 2**63, 2**64 - 1])
def test_bias_is_positive_zero_when_in_features_zero(seed, dtype):
    # +0.0, never -0.0 (a U(-0, 0) draw must not carry a sign).
    layer = linearc.Linear(0, 4, dtype=dtype, seed=seed)
    assert layer.bias.tobytes() == bytes(layer.bias.nbytes)
    assert not np.signbit(layer.bias).any()
    layer.reset_parameters(seed=seed)
    assert not np.signbit(layer.bias).any()


# ---- sizes at the edge ------------------------------------------------------

def _build_huge_empty_layer(in_f, out_f, bias, dtype):
    layer = linearc.Linear(in_f, out_f, bias=bias, dtype=dtype)
    assert layer.weight.shape == (out_f, in_f)
    assert layer.num_parameters == (out_f if bias else 0)
    assert repr(layer) == (f"Linear(in_features={in_f}, "
                           f"out_features={out_f}, bias={bias})")
    state = layer.state_dict()
    assert state["weight"].shape == (out_f, in_f)
    other = linearc.Linear(in_f, out_f, bias=bias, dtype=dtype)
    other.load_state_dict(state)
    assert_same_params(layer, other)
    clone = pickle.loads(pickle.dumps(layer))
    assert repr(clone) == repr(layer)
    assert_same_params(layer, clone)


@pytest.mark.parametrize("sizes,bias", [((2**40, 0), False),
                                        ((2**40, 0), True),
                                        ((0, 2**40), False)], ids=str)
def test_huge_empty_layer_builds(sizes, bias, dtype):
    """No bytes and a shape NumPy can describe: the layer builds, at once,
    and its state_dict and pickle round trips work. Run in a child with a
    timeout: a loop over 2**40 empty rows would hang. (Shapes NumPy cannot
    describe are a MemoryError: test_errors.py.)"""
    outcome = outcome_in_child(_build_huge_empty_layer, *sizes, bias, dtype,
                               timeout=5)
    assert outcome == ("ok", "")


# ---- seeds ------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_same_seed_identical(bias, dtype):
    a = linearc.Linear(30, 20, bias=bias, dtype=dtype, seed=42)
    b = linearc.Linear(30, 20, bias=bias, dtype=dtype, seed=42)
    assert_same_params(a, b)


def test_different_seeds_differ(dtype):
    a = linearc.Linear(30, 20, dtype=dtype, seed=1)
    b = linearc.Linear(30, 20, dtype=dtype, seed=2)
    assert not np.array_equal(a.weight, b.weight)
    assert not np.array_equal(a.bias, b.bias)


def test_seed_none_differs(dtype):
    a = linearc.Linear(30, 20, dtype=dtype)
    b = linearc.Linear(30, 20, dtype=dtype, seed=None)
    assert not np.array_equal(a.weight, b.weight)
    assert not np.array_equal(a.bias, b.bias)


@pytest.mark.parametrize("seed", [0, 1, 123456789, 2**63 - 1, 2**63,
                                  2**64 - 1, np.uint64(2**64 - 1)],
                         ids=str)
def test_reset_parameters_reproduces_constructor(seed, dtype):
    fresh = linearc.Linear(12, 9, dtype=dtype, seed=seed)
    layer = linearc.Linear(12, 9, dtype=dtype, seed=seed + 1 if seed < 2**62
                           else 0)
    assert not np.array_equal(layer.weight, fresh.weight)
    assert layer.reset_parameters(seed=seed) is None
    assert_same_params(layer, fresh)
    # Twice in a row: still the same values.
    layer.reset_parameters(seed)
    assert_same_params(layer, fresh)


def test_reset_parameters_without_seed_changes_values(dtype):
    layer = linearc.Linear(12, 9, dtype=dtype, seed=3)
    before = layer.weight.copy()
    layer.reset_parameters()
    assert not np.array_equal(layer.weight, before)
    bound = np.asarray(1 / np.sqrt(12), dtype)
    assert np.all(np.abs(layer.weight) <= bound)


def test_reset_parameters_keeps_views_valid():
    layer = linearc.Linear(4, 3, seed=0)
    w = layer.weight
    layer.reset_parameters(seed=8)
    np.testing.assert_array_equal(w, layer.weight)


def test_seed_ignores_global_rng_state():
    # A seeded layer depends on nothing drawn before it, nor on numpy's
    # global RNG.
    a = linearc.Linear(10, 10, dtype=np.float64, seed=77)
    linearc.Linear(50, 50)  # unseeded draw in between
    np.random.seed(0)
    b = linearc.Linear(10, 10, dtype=np.float64, seed=77)
    assert_same_params(a, b)


# ---- dtype spellings --------------------------------------------------------

@pytest.mark.parametrize("spec,expected", [
    ("float32", np.float32), (np.float32, np.float32), ("f4", np.float32),
    (np.dtype("float32"), np.float32), ("float64", np.float64),
    (np.float64, np.float64), ("f8", np.float64), (float, np.float64),
    (np.dtype("float64"), np.float64), ("d", np.float64),
    ("single", np.float32),
])
def test_dtype_accepted_forms(spec, expected):
    layer = linearc.Linear(3, 2, dtype=spec, seed=0)
    assert layer.dtype == np.dtype(expected)
    assert layer.weight.dtype == np.dtype(expected)
    assert layer(np.ones(3)).dtype == np.dtype(expected)


def test_default_dtype_float32():
    assert linearc.Linear(3, 2).dtype == np.float32
