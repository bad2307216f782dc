"""linearc.Linear as the block function of a dask array.

A Linear maps (*, in_features) -> (*, out_features) row by row, so a dask
array chunked along its leading axes (and whole along the last one) can be
pushed through it block by block. A row's result does not depend on the
batch it is in (docs/design.md, "The arithmetic"), so whatever path each
block takes, the result must equal the in-memory one bit for bit.

Neighbours: threads sharing a layer in one process are test_threads.py;
OpenMP settings and thread pools test_threadpool.py; pickling (how the
layer reaches dask's workers) test_parameters.py.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import linearc
from conftest import assert_linear_close

da = pytest.importorskip("dask.array")


def apply_layer(layer, x):
    """The documented recipe (docs/ecosystem.md): one block per chunk of
    leading rows; the last axis must be a single chunk."""
    x = x.rechunk({x.ndim - 1: -1})
    return x.map_blocks(
        layer,
        chunks=x.chunks[:-1] + ((layer.out_features,),),
        dtype=layer.dtype,
        # An empty meta keeps dask from probing the layer with a 0-size
        # input of the wrong last dimension.
        meta=np.empty((0,) * x.ndim, dtype=layer.dtype),
    )


@pytest.fixture
def layer(dtype):
    return linearc.Linear(48, 20, dtype=dtype, seed=7)


def test_map_blocks_matches_in_memory(layer, rng):
    x_np = rng.standard_normal((6, 40, layer.in_features)).astype(layer.dtype)
    # Split the last axis too, so the rechunk in apply_layer is exercised.
    x = da.from_array(x_np, chunks=(2, 20, 16))
    y = apply_layer(layer, x)
    assert y.chunks == ((2, 2, 2), (20, 20), (layer.out_features,))
    got = y.compute(scheduler="threads")
    expected = layer(x_np)
    assert got.dtype == layer.dtype
    np.testing.assert_array_equal(got, expected, strict=True)
    assert_linear_close(got, x_np, layer.weight, layer.bias)


def test_uneven_2d_chunks(layer, rng):
    x_np = rng.standard_normal((250, layer.in_features))
    x = da.from_array(x_np, chunks=((100, 90, 60), (30, 18)))
    got = apply_layer(layer, x).compute(scheduler="threads")
    # float64 input into a float32 layer: the cast happens per block.
    np.testing.assert_array_equal(got, layer(x_np), strict=True)


def test_memmap_in_and_out(layer, rng, tmp_path):
    """A batch on disk (.npy memmap) streamed through and stored on disk."""
    shape = (300, layer.in_features)
    src = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+",
                                    dtype=layer.dtype, shape=shape)
    src[...] = rng.standard_normal(shape)
    src.flush()
    dst = np.lib.format.open_memmap(
        tmp_path / "y.npy", mode="w+", dtype=layer.dtype,
        shape=(shape[0], layer.out_features))
    x = da.from_array(np.load(tmp_path / "x.npy", mmap_mode="r"),
                      chunks=(64, -1))
    da.store(apply_layer(layer, x), dst, scheduler="threads")
    dst.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  layer(np.asarray(src)), strict=True)


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster. Starting one sets OMP_NUM_THREADS and the
    like in this process's environment, which every later subprocess test
    would inherit: the environment is put back as it was."""
    distributed = pytest.importorskip("dask.distributed")
    cluster = client = None
    saved = dict(os.environ)
    try:
        cluster = distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1,
            dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster, timeout=60)
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        if client is not None:
            client.close(timeout=30)
        if cluster is not None:
            cluster.close(timeout=30)
        os.environ.clear()
        os.environ.update(saved)


def test_distributed_workers(client, rng):
    layer = linearc.Linear(48, 20, seed=3)
    x_np = rng.standard_normal((8, 30, layer.in_features)).astype(np.float32)
    x = da.from_array(x_np, chunks=(2, 30, 24))
    # The layer travels to the worker processes by pickle with the graph.
    future = client.compute(apply_layer(layer, x))
    got = future.result(timeout=60)
    np.testing.assert_array_equal(got, layer(x_np), strict=True)


def test_distributed_workers_follow_omp_num_threads(client):
    """Dask's nanny sets OMP_NUM_THREADS in each worker (1 by default, so
    workers x threads never oversubscribe the cores); linearc obeys it."""
    def probe():
        return os.environ.get("OMP_NUM_THREADS"), linearc.get_num_threads()

    workers = client.run(probe)
    assert len(workers) == 2
    # linearc alone would take one thread per core; the nanny's 1 wins.
    assert list(workers.values()) == [("1", 1)] * 2
