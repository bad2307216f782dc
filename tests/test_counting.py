"""Counting (issue 3): macs / flops / profile / clever_format / summary,
checked against thop 0.1.1 and torch.utils.flop_counter.FlopCounterMode,
with their own errors (shapes the forward would reject); thop's call form
and the one rule for what every counting helper takes (issue 23).

Neighbours: the errors of Linear itself are in test_errors.py."""
from __future__ import annotations

import dataclasses
import math
import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import linearc
from linearc import Linear, clever_format, profile, summary

torch = pytest.importorskip("torch")
thop = pytest.importorskip("thop")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"

# (in_features, out_features, bias, input_shape): ranks 1 to 5, zero-size
# batches, in_features or out_features 0, with and without bias.
CASES = [
    (4, 2, False, (32, 3, 4)),  # the founding example
    (4, 2, True, (32, 3, 4)),
    (4, 2, False, (4,)),
    (4, 2, True, (4,)),
    (7, 5, True, (3, 7)),
    (7, 5, False, (1, 7)),
    (3, 6, True, (2, 3, 4, 3)),
    (3, 6, False, (2, 1, 3, 2, 3)),
    (5, 3, True, (0, 5)),
    (5, 3, False, (4, 0, 2, 5)),
    (0, 3, True, (6, 0)),
    (0, 3, False, (2, 3, 0)),
    (3, 0, True, (6, 3)),
    (3, 0, False, (2, 2, 2, 2, 3)),
    (0, 0, True, (0, 0)),
    (64, 33, True, (9, 17, 64)),
]
CASE_IDS = [f"{i}-{o}-{'b' if b else 'nb'}-{'x'.join(map(str, s))}"
            for i, o, b, s in CASES]
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def torch_linear(in_features, out_features, bias, dtype):
    with warnings.catch_warnings():  # zero-element init warns; harmless
        warnings.simplefilter("ignore")
        return torch.nn.Linear(in_features, out_features, bias=bias,
                               dtype=TORCH_DTYPES[dtype])


def thop_profile(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return thop.profile(model, inputs=(x,), verbose=False)


# -- macs / flops / profile against the oracles ------------------------------

@pytest.mark.parametrize("in_f, out_f, bias, shape", CASES, ids=CASE_IDS)
def test_macs_and_profile_match_thop(in_f, out_f, bias, shape, dtype):
    layer = Linear(in_f, out_f, bias=bias, dtype=dtype, seed=0)
    tlin = torch_linear(in_f, out_f, bias, dtype)
    x = torch.zeros(shape, dtype=TORCH_DTYPES[dtype])
    thop_macs, thop_params = thop_profile(torch.nn.Sequential(tlin), x)
    expected_params = sum(p.numel() for p in tlin.parameters())

    assert layer.macs(shape) == thop_macs == (
        math.prod(shape[:-1]) * in_f * out_f)
    macs, params = profile(layer, np.zeros(shape, dtype=dtype))
    assert type(macs) is int and type(params) is int
    assert macs == thop_macs
    assert params == thop_params == expected_params == layer.num_parameters
    # thop 0.1.1's documented quirk: a bare nn.Linear reports 0 params,
    # while linearc.profile gives the real count for a bare layer.
    bare_macs, bare_params = thop_profile(tlin, x)
    assert bare_macs == macs and bare_params == 0
    # A shape tuple gives the same numbers as an array of that shape.
    assert profile(layer, shape) == (macs, params)


@pytest.mark.parametrize("in_f, out_f, bias, shape", CASES, ids=CASE_IDS)
def test_flops_match_flop_counter(in_f, out_f, bias, shape, dtype):
    layer = Linear(in_f, out_f, bias=bias, dtype=dtype, seed=0)
    tlin = torch_linear(in_f, out_f, bias, dtype)
    x = torch.randn(shape, dtype=TORCH_DTYPES[dtype], requires_grad=True)

    with FlopCounterMode(display=False) as counter:
        tlin(x)
    assert layer.flops(shape) == counter.get_total_flops()
    assert layer.flops(shape) == 2 * layer.macs(shape)

    # Forward + backward with the input requiring grad: the forward product
    # and the two gradient products. y.backward(g) adds no op of its own, so
    # the total is the Linear's alone (FlopCounterMode's per-module split is
    # not used: it leaves the backward out of "Linear" for bias=False).
    with FlopCounterMode(display=False) as counter:
        y = tlin(x)
        y.backward(torch.randn_like(y))
    total = counter.get_total_flops()
    assert layer.flops(shape, backward=True) == total
    counted = {str(op) for op in counter.get_flop_counts()["Global"]}
    assert counted <= {"aten.mm", "aten.addmm"}, counted
    assert layer.flops(shape, backward=True) == 6 * layer.macs(shape)


def test_founding_example_numbers():
    layer = Linear(4, 2, bias=False, seed=0)
    assert layer.macs((32, 3, 4)) == 32 * 3 * (4 * 2) == 768
    assert layer.flops((32, 3, 4)) == 1536
    assert layer.flops((32, 3, 4), backward=True) == 4608
    assert profile(layer, (32, 3, 4)) == (768, 8)


def test_profile_accepts_arrays_shapes_and_tensors():
    layer = Linear(4, 3, seed=0)
    expected = (2 * 5 * 4 * 3, 4 * 3 + 3)
    assert profile(layer, np.zeros((2, 5, 4), np.float32)) == expected
    assert profile(layer, (2, 5, 4)) == expected
    assert profile(layer, torch.Size([2, 5, 4])) == expected
    assert profile(layer, torch.zeros(2, 5, 4)) == expected
    assert profile(layer, [[0.0] * 4] * 10) == (10 * 4 * 3, expected[1])
    # A non-contiguous view is measured, not copied.
    big = np.zeros((6, 10, 8), np.float32)[::2, :, ::2]
    assert profile(layer, big) == (3 * 10 * 4 * 3, expected[1])


@pytest.mark.parametrize("shape", [(), (3,), (2, 5), (2, 4, 5), (2, -1, 4)])
def test_profile_rejects_shapes_forward_rejects(shape):
    layer = Linear(4, 3, seed=0)
    with pytest.raises(ValueError):
        profile(layer, shape)


def test_counts_of_huge_shapes_are_exact():
    # Counts are Python ints: no float rounding beyond 2**53, no overflow
    # beyond 2**64.
    layer = Linear(3, 5, bias=False, seed=0)
    shape = (2**40, 2**20, 3)
    assert profile(layer, shape) == (2**60 * 15, 15)
    assert layer.macs((2**100, 3)) == 2**100 * 15
    assert layer.flops((2**100, 3)) == 2**101 * 15
    assert layer.flops((2**100, 3), backward=True) == 6 * 2**100 * 15


# -- clever_format against thop.clever_format --------------------------------

BOUNDARY_NUMBERS = [
    0, 1, 0.5, -3, -2e6, 999, 1000, 1000.0, 1001, 999_999, 1e6, 1e6 + 1,
    123_456_789, 999_999_999, 1e9, 1e9 + 1, 7.5e11, 1e12, 1e12 + 1, 1.5e13,
    2**63, 768, 1536, float("inf"), np.int64(2_000_000), np.float32(1e4),
]
FORMATS = ["%.2f", "%.3f", "%.1f", "%d", "%.4g", "%8.2f", "%s"]


def outcome(func, *args):
    """func(*args), or the type of the exception it raises (e.g. "%d" of
    inf raises OverflowError in both implementations)."""
    try:
        return func(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc)


@pytest.mark.parametrize("fmt", FORMATS)
def test_clever_format_single_numbers_match_thop(fmt):
    for num in BOUNDARY_NUMBERS:
        ours = outcome(clever_format, num, fmt)
        assert ours == outcome(thop.clever_format, num, fmt), (num, fmt)
        assert isinstance(ours, str) or ours is OverflowError


@pytest.mark.parametrize("fmt", FORMATS)
def test_clever_format_sequences_match_thop(fmt):
    sequences = [
        BOUNDARY_NUMBERS,
        tuple(BOUNDARY_NUMBERS[:5]),
        [768, 8],
        [1e6 + 1],  # one element: thop returns a bare string
        (1e12,),
        [],
        np.array([999.0, 1001.0, 2e9]),
        range(995, 1005),
    ]
    for seq in sequences:
        ours = outcome(clever_format, seq, fmt)
        theirs = outcome(thop.clever_format, seq, fmt)
        assert type(ours) is type(theirs), (seq, fmt)
        assert ours == theirs, (seq, fmt)


def test_clever_format_defaults_and_units():
    assert clever_format(768) == thop.clever_format(768) == "768.00B"
    assert clever_format(1000) == "1000.00B"  # strict ">": 1000 stays base
    assert clever_format(1001) == "1.00K"
    assert clever_format(1e6) == "1000.00K"
    assert clever_format(1e9 + 1) == "1.00G"
    assert clever_format(1.5e13) == "15.00T"
    assert clever_format([768, 8], "%.3f") == ("768.000B", "8.000B")
    assert clever_format([1e6 + 1]) == "1.00M"
    assert clever_format([]) == ()
    # The default format is thop's, positional and keyword alike.
    assert clever_format(12345, format="%.2f") == clever_format(12345)


def test_clever_format_nan_like_thop():
    ours = clever_format(float("nan"))
    assert ours == thop.clever_format(float("nan")) == "nanB"


# -- summary ------------------------------------------------------------------

def expected_summary(in_f, out_f, bias, shape, dtype):
    """The summary's numbers, worked out here independently of linearc."""
    size = np.dtype(dtype).itemsize
    rows = math.prod(shape[:-1])
    macs = rows * in_f * out_f
    params = in_f * out_f + (out_f if bias else 0)
    read = size * (rows * in_f + in_f * out_f + (out_f if bias else 0))
    written = size * rows * out_f
    return dict(
        input_shape=tuple(shape), output_shape=tuple(shape[:-1]) + (out_f,),
        rows=rows, in_features=in_f, out_features=out_f, bias=bias,
        dtype=np.dtype(dtype), params=params, macs=macs, flops=2 * macs,
        flops_training=6 * macs, bytes_read=read, bytes_written=written,
        intensity=(2 * macs / (read + written)) if read + written else 0.0,
        weight_bytes=params * size)


@pytest.mark.parametrize("in_f, out_f, bias, shape", CASES, ids=CASE_IDS)
def test_summary_attributes(in_f, out_f, bias, shape, dtype):
    layer = Linear(in_f, out_f, bias=bias, dtype=dtype, seed=0)
    s = summary(layer, shape)
    for name, value in expected_summary(in_f, out_f, bias, shape,
                                        dtype).items():
        got = getattr(s, name)
        if name == "intensity":
            assert got == pytest.approx(value, rel=1e-12), name
        else:
            assert got == value, name
            assert type(got) is type(value), name
    # The output shape is what the layer really returns.
    assert s.output_shape == layer(np.zeros(shape, dtype)).shape
    assert s.macs == layer.macs(shape) and s.flops == layer.flops(shape)
    assert s.flops_training == layer.flops(shape, backward=True)


def test_summary_founding_example_text():
    layer = Linear(4, 2, bias=False, seed=0)
    s = summary(layer, (32, 3, 4))
    text = str(s)
    assert text.startswith(repr(layer))
    # Shapes in the order the data goes through them.
    steps = ["(32, 3, 4)", "(96, 4)", "(4, 2)", "(96, 2)", "(32, 3, 2)"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "32*3 = 96" in text
    assert "weight (2, 4)" in text
    # No bias step and no bias parameters (the first line is the repr).
    assert "bias" not in text.split("MACs")[0].split("\n", 1)[1]
    for label, value in [("parameters", 8), ("MACs", 768),
                         ("FLOPs forward", 1536),
                         ("FLOPs training step", 4608),
                         ("bytes read", 4 * (96 * 4 + 8)),
                         ("bytes written", 4 * 96 * 2),
                         ("weight memory", 32)]:
        line = next(ln for ln in text.splitlines() if ln.startswith(label))
        assert re.search(rf"\s{value}\b", line), (label, line)
    intensity = 1536 / (4 * (96 * 4 + 8) + 4 * 96 * 2)
    assert f"{intensity:.3g}" in text
    assert s.dtype == np.float32 and "float32" in text


def test_summary_text_with_bias_float64():
    layer = Linear(3, 5, dtype=np.float64, seed=0)
    text = str(summary(layer, (7, 3)))
    assert "plus bias" in text and "(5,)" in text
    assert "float64" in text and "8 bytes" in text
    assert "weight 5*3 + bias 5 = 20" in text
    assert " 105 " in text  # 7 * 3 * 5 MACs


@pytest.mark.parametrize("in_f, out_f, bias, shape", CASES, ids=CASE_IDS)
def test_summary_html_parses_and_holds_the_numbers(in_f, out_f, bias, shape):
    s = summary(Linear(in_f, out_f, bias=bias, seed=0), shape)
    markup = s._repr_html_()
    root = ET.fromstring("<div>" + markup + "</div>")  # well-formed
    svgs = root.findall(f".//{SVG}svg")
    assert len(svgs) == 1
    svg = svgs[0]
    rects = svg.findall(f"{SVG}rect")
    assert len(rects) == (4 if bias else 3)  # x, W.T, y [, b]
    for rect in rects:  # every rectangle is drawn with a visible size
        assert 0 < float(rect.get("width")) <= 200
        assert 0 < float(rect.get("height")) <= 200
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    for name in ["x", "W.T", "y"] + (["b"] if bias else []):
        assert name in labels
    # Every dimension is labelled with its number: x rows/in, W.T in/out,
    # y rows/out (and b out).
    for dim, count in [(s.rows, 2), (in_f, 2), (out_f, 2 + bias)]:
        assert labels.count(str(dim)) >= count, (dim, labels)
    table_text = " ".join(td.text or "" for td in root.iter("td"))
    for value in (s.params, s.macs, s.flops, s.flops_training, s.bytes_read,
                  s.bytes_written, s.weight_bytes):
        assert re.search(rf"\b{value}\b", table_text), value
    for shape_ in (s.input_shape, (s.rows, in_f), (in_f, out_f),
                   s.output_shape):
        assert str(shape_) in table_text


def test_summary_html_sizes_are_clamped():
    # A 1-wide and a 10**6-tall side both draw, within the picture.
    s = summary(Linear(1, 3, seed=0), (10**6, 1))
    root = ET.fromstring("<div>" + s._repr_html_() + "</div>")
    svg = root.find(f".//{SVG}svg")
    width, height = float(svg.get("width")), float(svg.get("height"))
    for rect in svg.findall(f"{SVG}rect"):
        x, y = float(rect.get("x")), float(rect.get("y"))
        w, h = float(rect.get("width")), float(rect.get("height"))
        assert w >= 5 and h >= 5
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height


@pytest.mark.parametrize("shape", [(), (3,), (2, 5), (2, 4, 5), (0, 3),
                                   (2, -1, 4), (-4,)])
def test_summary_rejects_invalid_shapes(shape):
    with pytest.raises(ValueError):
        summary(Linear(4, 3, seed=0), shape)


@pytest.mark.parametrize("shape", [(2.0, 4), ("a", 4), 4, (True, 4)])
def test_summary_rejects_non_int_shapes(shape):
    with pytest.raises(TypeError):
        summary(Linear(4, 3, seed=0), shape)


def test_summary_is_immutable():
    s = summary(Linear(4, 2, seed=0), (3, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.macs = 0
    assert not hasattr(s, "__dict__")  # __slots__


def test_summary_nothing_moved_has_zero_intensity():
    s = summary(Linear(0, 0, bias=False, seed=0), (0, 0))
    assert s.bytes_read == s.bytes_written == 0
    assert s.intensity == 0.0
    str(s)  # still renders
    ET.fromstring("<div>" + s._repr_html_() + "</div>")


def test_public_names():
    for name in ("profile", "clever_format", "summary"):
        assert name in linearc.__all__
        assert getattr(linearc, name) is globals()[name]


# -- summary's picture: nothing overlaps, the formula reads left to right ------

LAYOUT_CASES = [  # (in, out, bias, input shape): the founding example, big,
    (4, 2, False, (32, 3, 4)),          # one very wide side, tiny, empty
    (4, 2, True, (32, 3, 4)),
    (1024, 4096, True, (8, 512, 1024)),
    (1, 100000, True, (100000, 1)),
    (100000, 1, True, (100000,)),
    (7, 2, True, (3, 7)),
    (12345, 3, False, (99999, 12345)),
    (0, 3, True, (6, 0)),
]


def _text_boxes(svg):
    """(text, (x0, y0, x1, y1)) of every text of the picture, measured in
    DejaVu Sans (one of the widest fonts "sans-serif" resolves to)."""
    mpl = pytest.importorskip("matplotlib")
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    del mpl
    measure = TextToPath()
    default_size = float(svg.get("font-size"))
    boxes = []
    for t in svg.iter(f"{SVG}text"):
        size = float(t.get("font-size", default_size))
        weight = t.get("font-weight", "normal")
        font = FontProperties(family="DejaVu Sans", weight=weight, size=size)
        width, _, _ = measure.get_text_width_height_descent(t.text, font,
                                                            ismath=False)
        x, y = float(t.get("x")), float(t.get("y"))
        anchor = t.get("text-anchor", "start")
        x0 = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        # ascent of digits and capitals 0.76 em, "@" 0.88; descent 0.22 em
        boxes.append((t.text, (x0, y - 0.9 * size, x0 + width, y + 0.22 * size)))
    return boxes


def _too_close(a, b, beside, apart):
    """Whether boxes a and b come closer than `beside` px when side by side
    (their heights overlap), or closer than `apart` px both across and down
    (diagonal neighbours, or one above the other)."""
    across = max(b[0] - a[2], a[0] - b[2])
    down = max(b[1] - a[3], a[1] - b[3])
    return (down < 0 and across < beside) or (across < apart and down < apart)


@pytest.mark.parametrize("in_f, out_f, bias, shape", LAYOUT_CASES,
                         ids=[f"{i}x{o}{'b' if b else ''}"
                              for i, o, b, _ in LAYOUT_CASES])
def test_summary_picture_texts_do_not_touch(in_f, out_f, bias, shape):
    s = summary(Linear(in_f, out_f, bias=bias, seed=0), shape)
    root = ET.fromstring("<div>" + s._repr_html_() + "</div>")
    svg = root.find(f".//{SVG}svg")
    boxes = _text_boxes(svg)
    rects = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
             for r in svg.findall(f"{SVG}rect")]
    rects = [(x, y, x + w, y + h) for x, y, w, h in rects]
    width, height = float(svg.get("width")), float(svg.get("height"))
    for i, (text, box) in enumerate(boxes):
        # Clear space between any two texts: 6 px side by side ("@" and
        # W.T's row label were 4 px apart and read "@ 4"), 3 px otherwise.
        for other, obox in boxes[i + 1:]:
            assert not _too_close(box, obox, 6.0, 3.0), (text, box, other, obox)
        for rect in rects:  # no text on a matrix
            assert not _too_close(box, rect, 1.0, 1.0), (text, box, rect)
        assert 0 <= box[0] and box[2] <= width and 0 <= box[1] \
            and box[3] <= height, (text, box, width, height)


@pytest.mark.parametrize("bias", [False, True])
def test_summary_picture_reads_as_the_formula(bias):
    """x @ W.T [+ b] = y, left to right: the bias has its "+" (it had
    none, drawn above y), and the picture has a text alternative."""
    s = summary(Linear(4, 2, bias=bias, seed=0), (32, 3, 4))
    root = ET.fromstring("<div>" + s._repr_html_() + "</div>")
    svg = root.find(f".//{SVG}svg")
    names = {"x", "W.T", "b", "y", "@", "+", "="}
    lefts = {}
    for t in svg.iter(f"{SVG}text"):
        if t.text in names:
            assert t.text not in lefts, t.text
            lefts[t.text] = float(t.get("x"))
    order = sorted(lefts, key=lefts.get)
    expected = ["x", "@", "W.T", "+", "b", "=", "y"] if bias else \
        ["x", "@", "W.T", "=", "y"]
    assert order == expected
    title = svg.find(f"{SVG}title").text
    assert svg.get("role") == "img" and svg.get("aria-label") == title
    assert title.startswith("x @ W.T + b = y" if bias else "x @ W.T = y")
    assert "96 x 4" in title and "(32, 3, 2)" in title


# -- thop's call form (issue 23) ----------------------------------------------

@pytest.mark.parametrize("in_f, out_f, bias, shape", CASES, ids=CASE_IDS)
def test_profile_in_thops_form_matches_thop(in_f, out_f, bias, shape):
    """linearc.profile(layer, inputs=(x,)) is thop.profile's call, and gives
    thop's MACs for an nn.Linear of the same shape."""
    layer = Linear(in_f, out_f, bias=bias, seed=0)
    tlin = torch_linear(in_f, out_f, bias, np.float32)
    x = np.zeros(shape, np.float32)
    thop_macs, _ = thop_profile(tlin, torch.from_numpy(x))
    for inputs in ((x,), (torch.from_numpy(x),), [x], (shape,)):
        macs, params = profile(layer, inputs=inputs)
        assert macs == thop_macs, inputs
        assert params == layer.num_parameters
    # thop's keyword verbose=False as thop users pass it, positional x too
    assert profile(layer, inputs=(x,), verbose=False) == profile(layer, x)


def test_profile_verbose_says_how_it_counted(capsys):
    layer = Linear(4, 2, bias=False, seed=0)
    assert profile(layer, inputs=(np.ones((32, 3, 4)),), verbose=True) \
        == (768, 8)
    assert capsys.readouterr().out == (
        "Linear(in_features=4, out_features=2, bias=False) on an input of "
        "shape (32, 3, 4): 96 rows * 4 * 2 = 768 MACs (bias not counted), "
        "8 parameters\n")
    profile(layer, (32, 3, 4))
    profile(layer, inputs=((1, 4),), verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("call, match", [
    (lambda l, x: profile(l), "needs the input"),
    (lambda l, x: profile(l, x, inputs=(x,)), "not both"),
    (lambda l, x: profile(l, inputs=x), "tuple holding the input"),
    (lambda l, x: profile(l, inputs=(x, x)), "exactly one"),
    (lambda l, x: profile(l, inputs=()), "exactly one"),
    (lambda l, x: profile(l, (x,)), r"inputs=\(x,\)"),
    (lambda l, x: profile(l, (torch.from_numpy(x),)), r"inputs=\(x,\)"),
    (lambda l, x: profile(l, inputs=(x,), custom_ops={}), "custom_ops"),
])
def test_profile_call_errors_name_the_form(call, match):
    layer = Linear(4, 2, seed=0)
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match=match):
        call(layer, x)


@pytest.mark.parametrize("helper", ["profile", "summary"])
def test_helpers_refuse_a_torch_module_and_say_what_to_use(helper):
    func = {"profile": profile, "summary": summary}[helper]
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match=(
            rf"linearc\.{helper}\(\) expects a linearc\.Linear, not "
            r"torch\.nn\.modules\.linear\.Linear; thop counts torch modules")):
        func(torch.nn.Linear(4, 2), x)
    with pytest.raises(TypeError, match=r"expects a linearc\.Linear, not str$"):
        func("Linear(4, 2)", x)


# -- one rule for every counting helper (issue 23) -----------------------------

# Each helper, reduced to the MACs it counts for (layer, x).
HELPERS = {
    "profile": lambda layer, x: profile(layer, x)[0],
    "profile(inputs=)": lambda layer, x: profile(layer, inputs=(x,))[0],
    "summary": lambda layer, x: summary(layer, x).macs,
    "layer.macs": lambda layer, x: layer.macs(x),
    "layer.flops": lambda layer, x: layer.flops(x) // 2,
    "layer.flops(backward)": lambda layer, x: layer.flops(x, backward=True) // 6,
}


@pytest.mark.parametrize("helper", HELPERS)
def test_data_and_shapes_count_alike_in_every_helper(helper):
    count = HELPERS[helper]
    layer = Linear(4, 2, seed=0)
    data = np.ones((32, 3, 4), np.float32)
    forms = [data, data.astype(np.int64)[::-1], torch.from_numpy(data),
             torch.ones(32, 3, 4, requires_grad=True), data.tolist(),
             (32, 3, 4), (np.int64(32), 3, np.int32(4)), torch.Size([32, 3, 4])]
    for x in forms:
        assert count(layer, x) == 768, type(x)
    # The two cases issue 23 named: a list is data, a tuple a shape --
    # whichever helper reads them.
    assert count(layer, [1, 2, 3, 4]) == 8  # one row of 4 numbers
    assert count(layer, (1, 2, 3, 4)) == 1 * 2 * 3 * 8  # shape (1, 2, 3, 4)
    # An array of ints is data too, never read as a shape.
    assert count(Linear(2, 3, seed=0), np.array([5, 4])) == 6


@pytest.mark.parametrize("helper", HELPERS)
@pytest.mark.parametrize("x", [
    None, 4, 4.0, np.float32(4.0), "(32, 3, 4)", {"shape": (3, 4)}, {3, 4},
    iter((3, 4)), range(3, 5), (d for d in (3, 4)), b"ab", object(),
], ids=lambda x: type(x).__name__)
def test_anything_else_is_a_type_error_naming_both_forms(helper, x):
    with pytest.raises(TypeError) as info:
        HELPERS[helper](Linear(4, 2, seed=0), x)
    message = str(info.value)
    assert "ndarray, a torch tensor or a nested list of numbers" in message
    assert "tuple of ints" in message


@pytest.mark.parametrize("helper", HELPERS)
def test_bad_shapes_and_lists_name_the_problem(helper):
    count, layer = HELPERS[helper], Linear(4, 2, seed=0)
    with pytest.raises(TypeError, match=r"item 1 is a float"):
        count(layer, (3, 4.0))
    with pytest.raises(TypeError, match=r"item 0 is a bool"):
        count(layer, (True, 4))
    with pytest.raises(TypeError, match="must hold numbers"):
        count(layer, [["a", "b", "c", "d"]])
    with pytest.raises(ValueError):  # ragged
        count(layer, [[1, 2, 3, 4], [1, 2]])
    # A list meant as a shape: the error says that a list is data.
    with pytest.raises(ValueError, match=r"\(3,\) does not end in "
                       r"in_features=4 \(a list is the input itself"):
        count(layer, [32, 3, 4])
    with pytest.raises(ValueError, match=r"input_shape \(3, 5\) does not end"):
        count(layer, (3, 5))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        count(layer, np.array(1.0))  # 0-d


def test_counting_never_modifies_or_copies_the_input():
    layer = Linear(4, 2, seed=0)
    x = [[1.0, 2.0, 3.0, 4.0]] * 3
    before = [row[:] for row in x]
    assert profile(layer, x) == (24, 10) and summary(layer, x).rows == 3
    assert x == before
    big = np.lib.stride_tricks.as_strided(np.zeros(4, np.float32),
                                          (10**6, 10**6, 4), (0, 0, 4))
    assert layer.macs(big) == 10**12 * 8  # no copy of 4 * 10**12 numbers
    assert summary(layer, big).input_shape == (10**6, 10**6, 4)


def test_summary_of_an_array_and_of_its_shape_are_equal():
    """summary(layer, x) raised "only integer scalar arrays can be
    converted to a scalar index" for an array."""
    layer = Linear(4, 2, seed=0)
    x = np.zeros((32, 3, 4), np.float32)
    assert summary(layer, x) == summary(layer, x.shape) \
        == summary(layer, torch.zeros(32, 3, 4)) == summary(layer, x.tolist())
    assert all(type(d) is int for d in summary(layer, x).input_shape)
