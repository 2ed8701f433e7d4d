"""The reward-driven world-model agent: JEPA world model + reward/value heads + policy prior + MPPI.

The recipe is TD-MPC2's on our parts: latent prediction against target latents, reward and value
learned by two-hot regression from predicted latents, TD targets from the min of two random target
value functions, a policy prior trained to maximise value (with an entropy bonus), and MPPI planning
warm-started from the shifted previous plan with policy proposals among its candidates.

`overlap()` runs each world-model step in a background thread while the caller plans and trains the
policy prior: on a CPU the two halves of an update barely gain from a second intra-op thread, but run
side by side they keep two cores busy (benchmarks/results/dmc/README.md).
"""

from __future__ import annotations

import contextlib
import copy
import math
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from agent.config import RewardAgentConfig
from agent.mpc import LatentDynamics, obs_to_tensor
from agent.objectives import PriorDeviation, RewardEnergy, WeightedSum
from agent.planners import MPPI, shift
from agent.policy import GaussianPolicy, policy_proposal
from agent.rng import restore_generator
from world_model import Batch, WorldModel
from world_model.distributed import BatchSync, Forward

_ONE_PROCESS = BatchSync()


class RunningScale:
    """An EMA of the 5-95 percentile range of values (TD-MPC2 scales the policy loss by it)."""

    def __init__(self, tau: float = 0.01):
        self.tau, self.value = tau, None

    def update(self, x: torch.Tensor, sync: BatchSync = _ONE_PROCESS) -> float:
        q = torch.quantile(x.detach().float().flatten(), torch.tensor([0.05, 0.95], device=x.device))
        spread = max(sync(q[1] - q[0]).item(), 1.0)  # the ranks' mean, so that every rank scales alike
        self.value = spread if self.value is None else self.value + self.tau * (spread - self.value)
        return self.value


def cosine_scale(done: int, total: int, final: float) -> float:
    """The learning-rate factor after `done` of `total` updates: a half cosine from 1 to `final`, then flat."""
    progress = min(done / max(total, 1), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WorldModelAgent:
    """Plans with MPPI in the world model's latent space and learns from replayed sequences.

    Args:
        model: a `WorldModel` with a reward head and a value ensemble of at least 2.
        cfg: the agent's settings.
        action_dim: A.
        discount: gamma (already resolved from the episode length when `cfg.discount` is None).
        generator: randomness for planning, exploration and the policy.
        total_updates: the run's number of updates, over which the learning rates decay when
            `cfg.lr_final < 1` (None: constant rates, e.g. an agent loaded only to act).
    """

    def __init__(
        self,
        model: WorldModel,
        cfg: RewardAgentConfig,
        action_dim: int,
        *,
        discount: float,
        generator: torch.Generator,
        total_updates: int | None = None,
    ):
        if model.reward is None or model.values is None or model.values.k < 2:
            raise ValueError("the reward agent needs reward_head=True and num_values >= 2 in its model config")
        if model.cfg.history > 1:
            raise ValueError(
                "the reward agent plans and learns values on Markov latents: set history=1 in its model config "
                "(history > 1 is for goal-reaching models; frame_stack gives pixels a short memory)"
            )
        self.model, self.cfg, self.discount, self.generator = model, cfg, discount, generator
        device = next(model.parameters()).device
        mcfg = model.cfg
        self.policy = GaussianPolicy(mcfg.latent_dim, mcfg.hidden_dim, action_dim, mcfg.mlp_layers).to(device)
        self.target_values = copy.deepcopy(model.values).requires_grad_(False)
        self.action_dim = action_dim
        # What planning reads: the live modules, or their snapshot while updates run in the background.
        self.acting_model, self.acting_policy = model, self.policy
        self._build_planner()
        self.learn_generator = generator  # the world-model step's randomness (its own stream when overlapped)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        encoder = list(model.encoder.parameters())
        others = [p for n, p in model.named_parameters() if not n.startswith(("encoder.", "target_encoder."))]
        self.optim = torch.optim.Adam(
            [{"params": encoder, "lr": cfg.lr * cfg.encoder_lr_scale}, {"params": others}], lr=cfg.lr
        )
        self.policy_optim = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, eps=1e-5)
        self.total_updates, self.updates = total_updates, 0
        self.scale = RunningScale()
        # What training calls; `distribute` swaps in DDP-wrapped versions for multi-process runs.
        self.sync = _ONE_PROCESS
        self._loss = self._model_loss
        self._policy_train = self.policy
        self.autocast = contextlib.nullcontext  # e.g. bf16 autocast, chosen by the training command
        self.reset()

    def distribute(self, wrap, sync: BatchSync) -> None:
        """Train across processes: `wrap` puts a module in DistributedDataParallel, `sync` averages batch
        statistics over ranks. The world model with its value ensemble and the policy prior are wrapped;
        DDP makes every rank start from rank 0's parameters and all-reduces their gradients."""
        self.sync = sync
        self._loss = wrap(Forward(self.model, self._model_loss))
        self._policy_train = wrap(self.policy)
        self.target_values.load_state_dict(self.model.values.state_dict())  # rank 0's, as broadcast

    def _build_planner(self) -> None:
        self.dynamics = LatentDynamics(self.acting_model, self.action_dim)
        proposal = policy_proposal(self.acting_policy, self.dynamics, self.cfg.planner.horizon, self.generator)
        self.planner = MPPI(self.cfg.planner, proposal=proposal)
        self.objective = RewardEnergy(self._reward, self._value, self.discount)
        if self.cfg.prior_weight > 0:
            anchor = PriorDeviation(self._prior_mean, lambda: self.scale.value or 1.0)
            self.objective = WeightedSum([(1.0, self.objective), (self.cfg.prior_weight, anchor)])

    def overlap(self, learn_generator: torch.Generator) -> None:
        """From now on, `update` runs the world-model step (JEPA, reward and value losses) in a background
        thread and returns while it runs; the caller's thread trains the policy prior and plans meanwhile.

        Both threads read a snapshot of the parameters taken when the previous step finished, so planning
        and the policy step lag the world model by one update, and each thread has its own random stream
        (`learn_generator` for the world-model step): results do not depend on thread timing. `flush()`
        completes the pending step; evaluation and checkpoints call it first. Single-process only.
        """
        if self.sync.world_size > 1:
            raise ValueError("overlap=true is for single-process runs; under torchrun set overlap=false")
        self.learn_generator = learn_generator
        self.acting_model = copy.deepcopy(self.model).requires_grad_(False)
        self.acting_policy = copy.deepcopy(self.policy).requires_grad_(False)
        self._build_planner()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="world-model-step")

    def fit_state_norm(self, states: torch.Tensor) -> None:
        """Standardise the model's state inputs by `states` `(N, S)`, in planning's snapshot too: a no-op
        unless the model has `state_norm=data` (see `WorldModelConfig`). Training calls it once, with the
        seed data, before the first update."""
        if self.model.cfg.state_norm != "data":
            return
        self.flush()
        self.model.fit_state_norm(states)
        if self.overlapped:
            self._sync_acting()

    @property
    def overlapped(self) -> bool:
        return self._executor is not None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---------------------------------------------------------------- planning
    def _two_members(self, generator: torch.Generator) -> torch.Tensor:
        return torch.randperm(self.model.values.k, generator=generator, device=generator.device)[:2]

    def _reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.acting_model.two_hot.decode(self.acting_model.reward(z, a))

    def _value(self, z: torch.Tensor) -> torch.Tensor:
        a, _ = self.acting_policy(z, self.generator)
        members = self._two_members(self.generator).to(z.device)
        return self.acting_model.two_hot.decode(self.acting_model.values(z, a, members)).mean(0)

    def _prior_mean(self, z: torch.Tensor) -> torch.Tensor:
        return self.acting_policy(z, self.generator, deterministic=True)[0]

    def reset(self) -> None:
        self._plan: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    @torch.no_grad()
    def act(self, obs: dict, *, goal=None, explore: bool = False) -> np.ndarray:
        """Plan (or query the policy) for the next action `(A,)` in [-1, 1]."""
        z = self.acting_model.encode(obs_to_tensor(obs, self.device))  # (1, D)
        if not self.cfg.plan:
            action, _ = self.acting_policy(z, self.generator, deterministic=not explore)
            return action[0].cpu().numpy()
        init = None if self._plan is None else shift(self._plan)
        result = self.planner.plan(z[0], self.dynamics, self.objective, init=init, generator=self.generator)
        self._plan = result.actions
        action = self._first_action(result, explore)
        if explore:
            std = result.std[0].clamp_min(self.cfg.explore_std_floor)
            noise = torch.randn(action.shape, generator=self.generator, device=self.generator.device).to(action)
            action = action + std * noise
        return action.clamp(-1, 1).cpu().numpy()

    def _first_action(self, result, explore: bool) -> torch.Tensor:
        """The action `(A,)` to execute from `result` (single problem): see `RewardAgentConfig.execute`
        (while exploring) and `eval_execute` (otherwise)."""
        execute = self.cfg.execute if explore or self.cfg.eval_execute is None else self.cfg.eval_execute
        if execute == "mean":
            return result.actions[0]
        k = torch.multinomial(result.weights, 1, generator=self.generator)  # (1,)
        return result.elites[0, k[0]]

    # ---------------------------------------------------------------- learning
    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step on the world model, value ensemble and policy prior from `batch` `(T, B, ...)`.

        Overlapped (see `overlap`), it starts this batch's world-model step in the background, trains the
        policy on the previous step's latents meanwhile and returns the previous step's metrics (`{}` on
        the first call).
        """
        batch = batch.to(self.device)
        if not self.overlapped:
            self._set_lr()
            metrics, zs = self._model_step(batch)
            metrics.update(self._update_policy(zs))
            return metrics
        metrics, zs = self._join()
        self._set_lr()  # no step is in flight: the background thread never sees the rates change mid-step
        self._pending = self._executor.submit(self._model_step, batch)
        if zs is not None:
            metrics.update(self._update_policy(zs))
        return metrics

    def _set_lr(self) -> None:
        """Set this update's learning rates (see `RewardAgentConfig.lr_final`) and count it."""
        if self.total_updates is not None and self.cfg.lr_final < 1.0:
            lr = self.cfg.lr * cosine_scale(self.updates, self.total_updates, self.cfg.lr_final)
            encoder, others = self.optim.param_groups
            encoder["lr"], others["lr"] = lr * self.cfg.encoder_lr_scale, lr
            self.policy_optim.param_groups[0]["lr"] = lr
        self.updates += 1

    def flush(self) -> dict[str, float]:
        """Finish the background step, train the policy on its latents, and make planning use the latest
        parameters; returns that step's metrics. A no-op unless overlapped."""
        if not self.overlapped:
            return {}
        metrics, zs = self._join()
        if zs is not None:
            metrics.update(self._update_policy(zs))
            self._sync_acting()
        return metrics

    def _join(self) -> tuple[dict[str, float], torch.Tensor | None]:
        """Wait for the pending world-model step; snapshot the parameters for the next round."""
        if self._pending is None:
            return {}, None
        metrics, zs = self._pending.result()
        self._pending = None
        self._sync_acting()
        return metrics, zs

    @torch.no_grad()
    def _sync_acting(self) -> None:
        for acting, live in ((self.acting_model, self.model), (self.acting_policy, self.policy)):
            for a, b in zip(acting.parameters(), live.parameters(), strict=True):
                a.copy_(b)
            for a, b in zip(acting.buffers(), live.buffers(), strict=True):
                a.copy_(b)

    def _model_step(self, batch: Batch) -> tuple[dict[str, float], torch.Tensor]:
        """World model and value ensemble: one optimiser step; returns metrics and detached latents."""
        with self.autocast():
            total, metrics, zs = self._loss(batch)
        self.optim.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optim.step()
        self._soft_update()
        metrics.update(grad_norm=grad_norm.item())
        return metrics, zs.detach()

    def _model_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """The world model's JEPA loss plus the value loss; also the predicted latents `(T+1, B, D)`."""
        wm = self.model
        loss, metrics, latents = wm.loss(batch, generator=self.learn_generator, sync=self.sync, with_latents=True)
        zs, next_z = latents["zs"], latents["targets"]  # (T+1, B, D), (T, B, D)
        T, B = batch.action.shape[:2]
        with torch.no_grad():
            td = self._td_target(next_z.reshape(T * B, -1), batch).view(T, B)
        logits = wm.values(zs[:-1].reshape(T * B, -1), batch.action.reshape(T * B, -1))  # (K, T*B, bins)
        per_step = wm.two_hot.loss(logits, td.reshape(1, -1).expand(logits.shape[0], -1)).mean(0).view(T, B)
        rho = wm.cfg.rho ** torch.arange(T, device=self.device, dtype=torch.float32)
        value_loss = (rho / rho.sum() * per_step.mean(1)).sum()
        total = loss + self.cfg.value_weight * value_loss
        metrics.update(value_loss=value_loss.item(), total_loss=total.item())
        return total, metrics, zs

    def _td_target(self, next_z: torch.Tensor, batch: Batch) -> torch.Tensor:
        a, _ = self.acting_policy(next_z, self.learn_generator)  # the policy as of the snapshot
        members = self._two_members(self.learn_generator).to(next_z.device)
        q = self.model.two_hot.decode(self.target_values(next_z, a, members)).min(0).values  # (T*B,)
        not_done = 1.0 if batch.terminated is None else 1.0 - batch.terminated.reshape(-1)
        return batch.reward.reshape(-1) + self.discount * not_done * q

    def _update_policy(self, zs: torch.Tensor) -> dict[str, float]:
        """One step of the policy prior on predicted latents `(T+1, B, D)` (the first `policy_batch`
        sequences: an unbiased estimate of the same loss at a fraction of the cost)."""
        if self.cfg.policy_batch is not None:
            zs = zs[:, : self.cfg.policy_batch]
        T1, B, D = zs.shape
        z = zs.reshape(T1 * B, D)
        scaled = self.cfg.entropy == "scaled"
        with self.autocast():
            a, log_pi = self._policy_train(z, self.generator, squashed=not scaled)
            if scaled:  # TD-MPC2's: the pre-tanh Gaussian's log-probability times the action dimension
                log_pi = log_pi * self.action_dim
            members = self._two_members(self.generator).to(z.device)
            values = self.acting_model.values  # fixed here; the live ones may be in a background step
            q = self.model.two_hot.decode(values(z, a, members)).mean(0).float()  # (T1*B,)
        scale = self.scale.update(q, self.sync)
        rho = self.model.cfg.rho ** torch.arange(T1, device=z.device, dtype=torch.float32)
        per_step = (self.cfg.entropy_coef * log_pi - q / scale).view(T1, B).mean(1)
        loss = (rho / rho.sum() * per_step).sum()
        # Gradients for the policy only: the value functions are fixed here.
        self.policy_optim.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.policy.parameters()))
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.grad_clip)
        self.policy_optim.step()
        return {"policy_loss": loss.item(), "policy_entropy": -log_pi.mean().item(), "q_scale": scale}

    @torch.no_grad()
    def _soft_update(self) -> None:
        for t, o in zip(self.target_values.parameters(), self.model.values.parameters(), strict=True):
            t.lerp_(o, self.cfg.tau)
        self.model.update_target()

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Everything a resumed run needs (a pending background step is finished first)."""
        self.flush()
        state = {
            "model": self.model.state_dict(),
            "policy": self.policy.state_dict(),
            "target_values": self.target_values.state_dict(),
            "optim": self.optim.state_dict(),
            "policy_optim": self.policy_optim.state_dict(),
            "scale": self.scale.value,
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }
        if self.learn_generator is not self.generator:
            state["learn_generator"] = self.learn_generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.policy.load_state_dict(state["policy"])
        self.target_values.load_state_dict(state["target_values"])
        self.optim.load_state_dict(state["optim"])
        self.policy_optim.load_state_dict(state["policy_optim"])
        self.scale.value = state["scale"]
        self.updates = state.get("updates", 0)  # absent from checkpoints written before the schedule
        restore_generator(self.generator, state["generator"])
        if self.learn_generator is not self.generator and "learn_generator" in state:
            restore_generator(self.learn_generator, state["learn_generator"])
        if self.overlapped:
            self._sync_acting()
