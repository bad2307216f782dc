"""The contenders: what each one runs, as statements timed inline.

Each contender gives, for a problem, a namespace and one statement per kind
of measurement: FORWARD (leaves the output in `_y`), FORWARD_OUT (writes it
into the preallocated buffer named `out_name`) and BACKWARD (one step of
forward + backward). A statement of None means "not measured". Statements
are compiled into the timing loop itself (timing.make_loop), so no
contender pays for a Python function call the others do not.
"""
from __future__ import annotations

import os
import subprocess

import numpy as np

from . import BENCHMARKS, mkl

FORWARD, FORWARD_OUT, BACKWARD = "forward", "forward_out", "backward"
NAMES = ("linearc", "numpy", "torch", "mkl")


class Contender:
    name = ""
    out_name = "y"
    kinds = (FORWARD, FORWARD_OUT, BACKWARD)  # what it is timed on
    skip_reason: str | None = None  # why it cannot run, when it cannot

    def namespace(self, p) -> dict:
        raise NotImplementedError

    def statement(self, p, kind: str) -> str | None:
        raise NotImplementedError

    def grads(self, ns: dict):
        """(grad_input, weight_grad, bias_grad) after one BACKWARD step."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {}

    def to_array(self, value) -> np.ndarray:
        return np.asarray(value)


class Linearc(Contender):
    name = "linearc"

    def __init__(self, linearc, threads: int):
        self.linearc = linearc
        linearc.set_num_threads(threads)

    def namespace(self, p) -> dict:
        return {"layer": p.layer, "x": p.x, "y": p.y, "g": p.g}

    def statement(self, p, kind):
        return {FORWARD: "_y = layer(x)", FORWARD_OUT: "layer(x, out=y)",
                BACKWARD: "layer.zero_grad(); _y = layer(x); "
                          "_gi = layer.backward(x, g)"}[kind]

    def grads(self, ns):
        return ns["_gi"], ns["layer"].weight_grad, ns["layer"].bias_grad

    def describe(self):
        return dict(self.linearc.get_config(),
                    threads=self.linearc.get_num_threads(), **source(self.linearc))


def source(module) -> dict:
    """Which linearc was timed: its folder, and the commit of this checkout
    when it is this checkout's (an installed copy elsewhere is easy to time
    by mistake: `pip install .` leaves one in site-packages)."""
    folder = os.path.dirname(os.path.abspath(module.__file__))
    repo = os.path.dirname(BENCHMARKS)
    ours = os.path.commonpath([folder, repo]) == repo
    commit = None
    if ours:
        try:
            commit = subprocess.run(
                ["git", "-C", repo, "describe", "--always", "--dirty"],
                capture_output=True, text=True, timeout=10).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"module": folder, "this_checkout": ours, "commit": commit}


class NumPy(Contender):
    """x @ W.T + b; the backward is the three products written by hand."""
    name = "numpy"

    def __init__(self, threads: int):
        self.threads = threads
        try:  # numpy's BLAS gets the same thread count
            import threadpoolctl
        except ImportError:
            self.threads = "not set (pip install threadpoolctl)"
            return
        self.limits = threadpoolctl.threadpool_limits(threads,
                                                      user_api="blas")

    def namespace(self, p) -> dict:
        k, n = p.case.in_features, p.case.out_features
        ns = {"x": p.x, "W": p.W, "WT": p.W.T, "b": p.b, "y": p.y,
              "matmul": np.matmul, "x2": p.x.reshape(-1, k)}
        if p.g is not None:
            ns.update(g2=p.g.reshape(-1, n), gW=np.zeros_like(p.W),
                      gb=np.zeros(n, p.dtype))
        return ns

    def statement(self, p, kind):
        bias = p.b is not None
        if kind == FORWARD:
            return "_y = x @ WT + b" if bias else "_y = x @ WT"
        if kind == FORWARD_OUT:
            return "matmul(x, WT, out=y)" + ("; y += b" if bias else "")
        return ("_y = x2 @ WT" + (" + b" if bias else "")
                + "; _gi = g2 @ W; gW += g2.T @ x2"
                + ("; gb += g2.sum(axis=0)" if bias else ""))

    def grads(self, ns):
        return ns["_gi"], ns["gW"], ns["gb"] if ns["b"] is not None else None

    def describe(self):
        try:
            import threadpoolctl
        except ImportError:
            return {"version": np.__version__, "threads": self.threads,
                    "blas": "unknown (see numpy.show_config())"}
        blas = [p for p in threadpoolctl.threadpool_info()
                if p.get("user_api") == "blas"
                and p.get("internal_api") != "mkl"]
        return {"version": np.__version__, "threads": self.threads,
                "blas": ", ".join(
                    f"{p.get('internal_api')} {p.get('version')} "
                    f"kernel={p.get('architecture')} "
                    f"threads={p.get('num_threads')}" for p in blas)
                or "unknown (see numpy.show_config())"}


class Torch(Contender):
    """torch.nn.Linear under no_grad; for the backward, autograd."""
    name = "torch"
    out_name = "ty"

    def __init__(self, threads: int):
        try:
            import torch
        except ImportError:
            self.skip_reason = "torch not installed"
            return
        self.torch = torch
        torch.set_num_threads(threads)
        try:
            torch.nn.functional.linear(torch.ones(1, 1), torch.ones(1, 1),
                                       out=torch.empty(1, 1))
            self.has_out = True
        except TypeError:  # then FORWARD_OUT times lin(tx)
            self.has_out = False

    def namespace(self, p) -> dict:
        torch = self.torch
        lin = torch.nn.Linear(p.case.in_features, p.case.out_features,
                              bias=p.b is not None,
                              dtype=getattr(torch, p.dtype))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(p.W))
            if p.b is not None:
                lin.bias.copy_(torch.from_numpy(p.b))
        tx = torch.from_numpy(p.x.copy())
        ns = {"lin": lin, "tx": tx, "ty": torch.from_numpy(p.y.copy()),
              "tW": lin.weight.detach(), "linear": torch.nn.functional.linear,
              "tb": None if p.b is None else lin.bias.detach()}
        if p.g is not None:
            ns.update(tx=tx.requires_grad_(), tg=torch.from_numpy(p.g))
        return ns

    def statement(self, p, kind):
        if kind == FORWARD:
            return "_y = lin(tx)"
        if kind == FORWARD_OUT:
            return "linear(tx, tW, tb, out=ty)" if self.has_out else \
                "ty = lin(tx)"
        return ("tx.grad = None; lin.zero_grad(); _y = lin(tx); "
                "_y.backward(tg)")

    def grads(self, ns):
        lin = ns["lin"]
        return (ns["tx"].grad, lin.weight.grad,
                None if lin.bias is None else lin.bias.grad)

    def to_array(self, value):
        return value.detach().numpy()

    def describe(self):
        return {"version": self.torch.__version__,
                "threads": self.torch.get_num_threads(),
                "functional_linear_out": self.has_out}


class MKL(Contender):
    """cblas_?gemm, row-major: y = 1.0 * x @ W.T + beta * y, with y first
    filled with the bias broadcast over rows (beta 1) or no bias (beta 0)."""
    name = "mkl"
    kinds = (FORWARD, FORWARD_OUT)

    def __init__(self, threads: int):
        self.lib = mkl.load()
        if self.lib is None:
            self.skip_reason = mkl.NOT_FOUND
            return
        self.lib.set_num_threads(threads)

    def namespace(self, p) -> dict:
        return {"gemm": self.lib.gemm(p.dtype), "empty": np.empty,
                "shape": p.y.shape, "dt": p.y.dtype, "x": p.x, "W": p.W,
                "b": p.b, "y": p.y, "xp": p.x.ctypes.data,
                "wp": p.W.ctypes.data, "yp": p.y.ctypes.data}

    def statement(self, p, kind):
        if kind == BACKWARD:
            return None
        m, k, n = p.case.rows, p.case.in_features, p.case.out_features
        beta = 0.0 if p.b is None else 1.0
        out = "_y" if kind == FORWARD else "y"
        fill = "" if p.b is None else f"{out}[...] = b; "
        call = (f"gemm({mkl.ROW_MAJOR}, {mkl.NO_TRANS}, {mkl.TRANS}, "
                f"{m}, {n}, {k}, 1.0, xp, {k}, wp, {k}, {beta}, "
                f"{'_y.ctypes.data' if out == '_y' else 'yp'}, {n})")
        alloc = "_y = empty(shape, dt); " if kind == FORWARD else ""
        return alloc + fill + call

    def describe(self):
        return {"version": self.lib.version(), "library": self.lib.path,
                "thread_setter": self.lib.thread_setter,
                "threads": self.lib.max_threads()}


def make_contenders(names, linearc, threads: int) -> list[Contender]:
    """The contenders asked for, linearc first; see skip_reason."""
    made = {"linearc": lambda: Linearc(linearc, threads),
            "numpy": lambda: NumPy(threads), "torch": lambda: Torch(threads),
            "mkl": lambda: MKL(threads)}
    return [made[n]() for n in NAMES if n in names]
