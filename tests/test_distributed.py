"""Distributed training: 2 gloo processes spawned by the test agree with each other and with one process."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from tests.toys import LinearToy
from world_model import Batch, WorldModel, preset
from world_model.distributed import BatchSync, Forward

STEPS, BATCH = 4, 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    os.environ["LOCAL_RANK"] = str(rank)
    torch.set_num_threads(1)


def _batches(steps: int) -> list[Batch]:
    g = torch.Generator().manual_seed(5)
    toy = LinearToy(generator=g)
    return [toy.batch(BATCH, 3, g)[0] for _ in range(steps)]


def _shard(batch: Batch, rank: int, world: int) -> Batch:
    n = batch.action.shape[1] // world
    part = slice(rank * n, (rank + 1) * n)
    return Batch({k: v[:, part] for k, v in batch.obs.items()}, batch.action[:, part])


def _fit(anti_collapse: str, rank: int, world: int) -> torch.Tensor:
    """A few AdamW steps of a tiny model on this rank's shard; the parameters flattened."""
    torch.manual_seed(1 + rank)  # different initial parameters per rank: DDP must broadcast rank 0's
    model = WorldModel({"state": (12,)}, 2, preset("tiny", anti_collapse=anti_collapse, latent_dim=8))
    if rank == 0:
        torch.manual_seed(1)
        model = WorldModel({"state": (12,)}, 2, preset("tiny", anti_collapse=anti_collapse, latent_dim=8))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(7 + rank)  # SIGReg's directions must come from rank 0
    loss_fn = Forward(model, functools.partial(model.loss, generator=generator, sync=BatchSync(world)))
    if world > 1:
        loss_fn = torch.nn.parallel.DistributedDataParallel(loss_fn)
    for batch in _batches(STEPS):
        loss, _ = loss_fn(_shard(batch, rank, world))
        optim.zero_grad()
        loss.backward()
        optim.step()
        model.update_target()
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


ANTI_COLLAPSE = ("vicreg", "sigreg")


def _worker(rank: int, world: int, port: int, out) -> None:
    import torch.distributed as dist

    _join(rank, world, port)
    dist.init_process_group("gloo")
    try:
        out[rank] = {term: _fit(term, rank, world) for term in ANTI_COLLAPSE}
    finally:
        dist.destroy_process_group()


def _spawn(fn, *args) -> list:
    """Run `fn(rank, 2, port, *args, out)` in 2 spawned processes; what each put in `out[rank]`."""
    with mp.get_context("spawn").Manager() as manager:
        out = manager.dict()
        mp.spawn(fn, args=(2, _free_port(), *args, out), nprocs=2, join=True)
        return [out[0], out[1]]


def test_two_gloo_ranks_match_each_other_and_one_process():
    ranks = _spawn(_worker)
    for term in ANTI_COLLAPSE:
        single = _fit(term, 0, 1)
        assert torch.equal(ranks[0][term], ranks[1][term]), term
        torch.testing.assert_close(ranks[0][term], single, rtol=1e-5, atol=1e-5)
        # the all-reduce of the anti-collapse statistics matters: without it the shards' objective differs
        assert not torch.allclose(single, _fit_without_sync(term), atol=1e-5), term


def _fit_without_sync(anti_collapse: str) -> torch.Tensor:
    """One process averaging the two half-batches' losses (what DDP would do without BatchSync)."""
    torch.manual_seed(1)
    model = WorldModel({"state": (12,)}, 2, preset("tiny", anti_collapse=anti_collapse, latent_dim=8))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(7)
    for batch in _batches(STEPS):
        state = generator.get_state()
        losses = []
        for r in range(2):
            generator.set_state(state)
            losses.append(model.loss(_shard(batch, r, 2), generator=generator)[0])
        optim.zero_grad()
        (sum(losses) / 2).backward()
        optim.step()
        model.update_target()
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


# ---------------------------------------------------------------- the training commands on 2 ranks
def _offline_worker(rank: int, world: int, port: int, cfg, out) -> None:
    from train.offline import train_offline

    _join(rank, world, port)
    out[rank] = train_offline(cfg)["updates"]


def test_offline_training_on_two_ranks_checkpoints_once_and_resumes(dataset, tmp_path):
    from tests.test_goal import _offline_cfg
    from train.offline import train_offline
    from train.run_dir import RunDir

    # On the CPU (gloo) wherever the tests run: a GPU machine with one GPU cannot hold two ranks.
    cfg = _offline_cfg(dataset, tmp_path, updates=6, eval_every=3, checkpoint_every=3, device="cpu")
    resumed = dataclasses.replace(cfg, updates=9, resume=True)
    # Each run in fresh processes on a fresh port, as torchrun would start them.
    assert _spawn(_offline_worker, cfg) == [6, 6]
    assert _spawn(_offline_worker, resumed) == [9, 9]
    run = RunDir(tmp_path)
    payload = torch.load(run.checkpoint, weights_only=False)
    assert payload["updates"] == 9 and payload["world_size"] == 2 and len(payload["rngs"]) == 2
    assert payload["rngs"][0] != payload["rngs"][1]  # each rank samples its own shard its own way
    assert [json.loads(line)["step"] for line in run.metrics.read_text().splitlines()] == [3, 6, 9]
    with pytest.raises(ValueError, match="nproc_per_node=2"):
        train_offline(dataclasses.replace(resumed, updates=12))


def _online_worker(rank: int, world: int, port: int, cfg, out) -> None:
    from train.distributed import NullLogger, teardown
    from train.online import build_trainer

    _join(rank, world, port)
    trainer = build_trainer(cfg)
    result = trainer.fit(NullLogger())
    params = torch.cat([p.detach().flatten() for p in trainer.agent.model.parameters()])
    policy = torch.cat([p.detach().flatten() for p in trainer.agent.policy.parameters()])
    out[rank] = {"step": result["step"], "updates": trainer.state.updates, "params": params, "policy": policy}
    teardown(trainer.info)


def test_online_training_on_two_ranks_keeps_identical_parameters(tmp_path):
    from tests.test_train import _tiny_cfg
    from train.dataset import EpisodeStore

    cfg = dataclasses.replace(_tiny_cfg(tmp_path, steps=2000, seed_steps=1000, eval_every=2000), device="cpu")
    ranks = _spawn(_online_worker, cfg)
    assert ranks[0]["step"] == ranks[1]["step"] == 2000  # one episode of 1000 control steps on each rank
    assert ranks[0]["updates"] == ranks[1]["updates"] > 0
    assert torch.equal(ranks[0]["params"], ranks[1]["params"])
    assert torch.equal(ranks[0]["policy"], ranks[1]["policy"])
    stores = [EpisodeStore(tmp_path / "replay" / f"rank{r}") for r in range(2)]
    assert [s.indices() for s in stores] == [[0], [0]]
    first = [s.read(0)["action"] for s in stores]
    assert not np.array_equal(*first)  # the ranks collected different episodes
    assert (tmp_path / "curve.csv").read_text().splitlines()[1:] == [
        line for line in (tmp_path / "curve.csv").read_text().splitlines()[1:] if line.startswith("2000,")
    ]
    assert torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)["world_size"] == 2


# ---------------------------------------------------------------- sweeps through hydra launchers
def test_seed_sweep_runs_through_the_joblib_launcher_and_aggregates(tmp_path):
    from eval.curves import curve_files, read_curves
    from tests.test_train import _overrides, _tiny_cfg

    cfg = _tiny_cfg(tmp_path / "seed${seed}", steps=1000, seed_steps=500, eval_every=1000, updates_per_decision=0.25)
    overrides = [o for o in _overrides(cfg) if not o.startswith("seed")]
    proc = subprocess.run(
        [sys.executable, "-m", "train", "-m", "seed=0,1", *overrides]
        + [f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.launcher.n_jobs=2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "sweep" / "multirun.yaml").exists()
    files = curve_files([], sweep=str(tmp_path))
    assert [f.parent.name for f in files] == ["seed0", "seed1"]
    curve, metric = read_curves(files)
    assert metric == "reward" and sorted(curve) == [0, 1] and all(len(v) == 1 for v in curve.values())
    assert curve_files([str(tmp_path / "seed*" / "curve.csv")]) == files
    with pytest.raises(FileNotFoundError, match="no curve.csv"):
        curve_files([], sweep=str(tmp_path / "sweep"))


def test_slurm_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from eval.app import _unfreeze
    from train.config import TrainConfig

    node = OmegaConf.structured(TrainConfig)
    _unfreeze(node)  # as run_app registers the schema
    ConfigStore.instance().store(name="train_schema", node=node)
    conf = pathlib.Path(__file__).parents[1] / "train" / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "seed=3"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert "SlurmLauncher" in launcher._target_
    assert launcher.gpus_per_node == 1 and launcher.timeout_min == 240 and cfg.seed == 3


# ---------------------------------------------------------------- precision and compilation
def test_bf16_autocast_is_selectable_and_trains():
    from train.accel import autocast

    with autocast(torch.device("cpu"), "bf16")():
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32")():
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="fp32"):
        autocast(torch.device("cpu"), "fp8")
    model = WorldModel({"state": (12,)}, 2, preset("tiny", latent_dim=8))
    with autocast(torch.device("cpu"), "bf16")():
        loss, _ = model.loss(_batches(1)[0])
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad.dtype == torch.float32 for p in model.encoder.parameters())


def test_compiled_modules_keep_checkpoint_keys_and_results():
    from train.accel import compile_modules

    torch.manual_seed(0)
    model = WorldModel({"state": (12,)}, 2, preset("tiny", latent_dim=8))
    batch = _batches(1)[0]
    keys, expected = list(model.state_dict()), model.loss(batch)[0]
    compile_modules(model.encoder, model.predictor, model.reward, backend="eager")  # inductor: same path, slower
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model.loss(batch)[0], expected)
