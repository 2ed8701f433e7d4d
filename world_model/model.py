"""The JEPA world model: encode, predict and roll out in latent space, and its training loss.

No pixel is ever reconstructed for training: the prediction target is the latent of the next
observation from a target encoder (an EMA copy, or the encoder itself under stop-gradient), and
collapse is prevented by a measured anti-collapse term (VICReg or SIGReg).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from world_model.batch import Batch
from world_model.config import WorldModelConfig
from world_model.encoders import Encoder, stack_frames
from world_model.heads import RewardHead, TerminationHead, TwoHot, ValueEnsemble
from world_model.layers import count_parameters, mlp
from world_model.predictor import make_predictor
from world_model.probe import ProbeDecoder
from world_model.regularisers import Sync, _identity, collapse_metrics, sigreg, vicreg

# `change_weighted`: a dimension's loss weight is at most 1 / CHANGE_FLOOR times the mean dimension's, so one
# that barely changes in a batch (noise) cannot take the whole loss.
CHANGE_FLOOR = 0.01


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, *x.shape[2:])  # (T, B, ...) -> (T*B, ...)


class WorldModel(nn.Module):
    """Encoder, predictor, target encoder and optional heads.

    Args:
        obs_shapes: `{"state": (S,), "pixels": (3, H, W)}` (either or both), from the env's spaces.
        action_dim: A.
        cfg: the architecture and loss settings.
    """

    def __init__(self, obs_shapes: dict[str, tuple[int, ...]], action_dim: int, cfg: WorldModelConfig):
        super().__init__()
        self.cfg, self.action_dim = cfg, action_dim
        self.encoder = Encoder(obs_shapes, cfg)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False) if cfg.target == "ema" else None
        self.predictor = make_predictor(cfg, action_dim)
        self.two_hot = TwoHot(cfg.num_bins, cfg.vmin, cfg.vmax)
        self.reward = RewardHead(cfg, action_dim) if cfg.reward_head else None
        self.values = ValueEnsemble(cfg, action_dim) if cfg.num_values else None
        self.termination = TerminationHead(cfg) if cfg.termination_head else None
        d = cfg.latent_dim
        self.inverse_dims = cfg.inverse_dims or d  # the leading latent dimensions the inverse head reads
        self.inverse = mlp(2 * self.inverse_dims, cfg.hidden_dim, action_dim, 1) if cfg.inverse_dynamics > 0 else None
        # (D,): each latent dimension's weight in the prediction loss; the state part's is `state_prediction_weight`,
        # the glimpse's moments' (its last `moment_dims`) `moment_prediction_weight`.
        dim_weights = torch.ones(d)
        dim_weights[: cfg.state_latent] = cfg.state_prediction_weight
        if cfg.moment_dims:
            dim_weights[d - cfg.moment_dims :] = cfg.moment_prediction_weight
        self.register_buffer("_dim_weights", dim_weights, persistent=False)  # not saved: from the config
        with_probe = cfg.probe_size > 0 and "pixels" in obs_shapes
        self.probe = ProbeDecoder(d, cfg.hidden_dim, cfg.probe_size) if with_probe else None

    # ---------------------------------------------------------------- contracts
    def _prepare(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: obs[k] for k in self.encoder.keys}

    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """obs `{"state": (B, S), "pixels": (B, 3k, H, W) uint8}` -> z `(B, D)`."""
        return self.encoder(self._prepare(obs))

    @torch.no_grad()
    def encode_target(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Latents `(B, D)` from the target encoder, without gradient."""
        encoder = self.target_encoder if self.target_encoder is not None else self.encoder
        return encoder(self._prepare(obs))

    def predict(self, z: torch.Tensor, a: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """z `(B, D)`, a `(B, A)` [, past `(h-1, B, D)`] -> z' `(B, D)`."""
        return self.predictor(z, a, past)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """Roll the predictor forward: z0 `(B, D)`, actions `(H, B, A)` -> zs `(H+1, B, D)`, zs[0] = z0."""
        zs = [z0]
        history = [] if past is None else list(past)
        for a in actions:
            window = torch.stack(history[-(self.cfg.history - 1) :]) if self.cfg.history > 1 and history else None
            zs.append(self.predictor(zs[-1], a, window))
            history.append(zs[-2])
        return torch.stack(zs)

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- target + tau * (online - target); call after each optimiser step."""
        if self.target_encoder is None:
            return
        for t, o in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            t.lerp_(o, self.cfg.ema_tau)

    def fit_state_norm(self, states: torch.Tensor) -> None:
        """With `cfg.state_norm="data"`: standardise state inputs by `states` `(N, S)` (the data training
        starts from), in the encoder and its target alike."""
        for encoder in (self.encoder, self.target_encoder):
            if encoder is not None:
                encoder.fit_state_norm(states)

    def fit_background(self, frames: torch.Tensor) -> None:
        """With `cfg.glimpse`: fit the glimpse's static background to `frames` `(N, 3, H, W)` uint8 (the data
        training starts from), in the encoder and its target alike."""
        for encoder in (self.encoder, self.target_encoder):
            if encoder is not None:
                encoder.fit_background(frames)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per part (the target encoder is not trained)."""
        parts = {
            "encoder": self.encoder,
            "predictor": self.predictor,
            "reward": self.reward,
            "values": self.values,
            "termination": self.termination,
            "inverse": self.inverse,
            "probe": self.probe,
        }
        counts = {k: count_parameters(m) for k, m in parts.items() if m is not None}
        counts["total"] = sum(counts.values())
        return counts

    # ---------------------------------------------------------------- training signal
    def _stacked(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "pixels" in obs and self.cfg.frame_stack > 1:
            return {**obs, "pixels": stack_frames(obs["pixels"], self.cfg.frame_stack)}
        return obs

    def _step_weights(self, horizon: int, device) -> torch.Tensor:
        w = self.cfg.rho ** torch.arange(horizon, device=device, dtype=torch.float32)
        return w / w.sum()  # (T,)

    def loss(
        self,
        batch: Batch,
        *,
        generator: torch.Generator | None = None,
        sync: Sync = _identity,
        with_latents: bool = False,
    ):
        """The JEPA loss on a batch of sequences.

        Terms: the multi-step latent prediction loss (rollout from the first encoded frame against the
        target latents, discounted by `rho` per step), optional teacher forcing, the anti-collapse
        term, and optional inverse-dynamics, smoothness, reward, termination and probe terms.

        Args:
            batch: sequences `(T, B, ...)` (see `Batch`).
            generator: randomness for SIGReg's directions (required with `anti_collapse="sigreg"`).
            sync: averages batch statistics over processes in distributed training.
            with_latents: also return `{"zs": (T+1, B, D) predicted (with gradient), "targets": (T, B, D)}`
                for heads trained outside the model (an agent's value functions).

        Returns:
            `(loss, metrics)` (plus the latents when asked); metrics are detached floats, collapse
            measures included.
        """
        cfg = self.cfg
        obs = self._stacked(batch.obs)
        past, batch, obs = self._context(batch, obs)
        T, B = batch.action.shape[:2]
        first = {k: v[0] for k, v in obs.items()}
        rest = {k: _flat(v[1:]) for k, v in obs.items()}
        z_all = None
        if cfg.teacher_forcing > 0:
            z_all = self.encode({k: _flat(v) for k, v in obs.items()}).view(T + 1, B, -1)
            z0 = z_all[0]
        else:
            z0 = self.encode(first)
        targets = self.encode_target(rest).view(T, B, -1)  # (T, B, D), no gradient
        zs, w, pred_loss, metrics = self._prediction(z0, batch.action, past, targets)
        total = cfg.prediction_weight * pred_loss

        if z_all is not None:
            tf = self.predict(_flat(z_all[:-1]), _flat(batch.action)).view(T, B, -1)
            tf_loss = (tf - targets).pow(2).mean()
            total = total + cfg.teacher_forcing * tf_loss
            metrics["tf_loss"] = tf_loss.item()

        if cfg.contrastive_weight > 0:
            total = total + cfg.contrastive_weight * self._contrastive(zs[1:], targets, metrics)

        online = _flat(z_all) if z_all is not None else z0  # latents with gradient into the encoder
        total = total + self._anti_collapse(online, generator, sync, metrics)
        total = total + self._auxiliary(batch, obs, z0, z_all, targets, zs, w, metrics)
        metrics.update(collapse_metrics(z0))
        metrics["wm_loss"] = total.item()
        if with_latents:
            return total, metrics, {"zs": zs, "targets": targets}
        return total, metrics

    def latent_loss(self, z: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The prediction loss on sequences already encoded by a frozen encoder: it trains the predictor alone.

        DINO-WM trains its predictor on a frozen encoder's features; here the encoder is frozen after a
        first JEPA phase (`train.offline`'s `freeze_encoder_s`), so that the rest of the time budget goes to
        the predictor instead of re-encoding frames every update. The anti-collapse and auxiliary terms
        are left out: they shape the encoder, which no longer changes.

        Args:
            z: `(T+1, B, D)` encoded sequences; with `history` h the first h-1 are the predictor's past.
            action: `(T, B, A)`.

        Returns:
            `(loss, metrics)`, the prediction term weighted as in `loss` (and the contrastive one if set).
        """
        c, steps = self.cfg.history - 1, action.shape[0]
        if c >= steps:
            raise ValueError(f"history={self.cfg.history} needs sequences of more than {c} steps, got {steps}")
        past = z[:c] if c else None
        zs, _, pred_loss, metrics = self._prediction(z[c], action[c:], past, z[c + 1 :])
        total = self.cfg.prediction_weight * pred_loss
        if self.cfg.contrastive_weight > 0:
            total = total + self.cfg.contrastive_weight * self._contrastive(zs[1:], z[c + 1 :], metrics)
        metrics["wm_loss"] = total.item()
        return total, metrics

    def _prediction(self, z0, action, past, targets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """The multi-step prediction term: roll out from z0 `(B, D)` under action `(T, B, A)` [past `(h-1, B, D)`]
        against targets `(T, B, D)`. Returns the rollout `(T+1, B, D)`, the step weights `(T,)`, the loss
        and its metrics."""
        zs = self.rollout(z0, action, past)  # (T+1, B, D)
        w = self._step_weights(action.shape[0], z0.device)
        weights = self._dim_weights
        if self.cfg.change_weighted:
            weights = weights * change_weights(torch.cat([z0.detach()[None], targets]))
        per_step = ((zs[1:] - targets).pow(2) * weights).mean(dim=(1, 2))  # (T,)
        pred_loss = (w * per_step).sum()
        return zs, w, pred_loss, {"pred_loss": pred_loss.item(), "pred_loss_last": per_step[-1].item()}

    def _context(self, batch: Batch, obs: dict) -> tuple[torch.Tensor | None, Batch, dict]:
        """With `history` h > 1, the first h-1 frames of each sequence are context: they are encoded as
        the predictor's past `(h-1, B, D)` and the loss runs on the rest, so that from the first
        prediction on the predictor sees real earlier frames (what moves, and how fast), as it will
        when planning. With h = 1: no past, the batch unchanged."""
        c = self.cfg.history - 1
        if c == 0:
            return None, batch, obs
        T, B = batch.action.shape[:2]
        if c >= T:
            raise ValueError(f"history={self.cfg.history} needs sequences of more than {c} steps, got {T}")
        past = self.encode({k: _flat(v[:c]) for k, v in obs.items()}).view(c, B, -1)

        def later(x):
            return None if x is None else x[c:]

        rest = Batch(
            {k: v[c:] for k, v in batch.obs.items()}, batch.action[c:], later(batch.reward), later(batch.terminated)
        )
        return past, rest, {k: v[c:] for k, v in obs.items()}

    def _contrastive(self, predicted: torch.Tensor, targets: torch.Tensor, metrics: dict) -> torch.Tensor:
        """InfoNCE of predictions `(T, B, D)` against targets `(T, B, D)`: each prediction's own target is
        the positive; every other target of the batch (other sequences, other steps of its own) a negative."""
        T, B, D = targets.shape
        pred, keys = predicted.reshape(T * B, D), targets.reshape(T * B, D)
        # Squared distances by |p|^2 - 2 p.k + |k|^2: one (TB, TB) matrix product.
        sq = pred.pow(2).sum(1, keepdim=True) - 2 * pred @ keys.T + keys.pow(2).sum(1)
        logits = -sq / (D * self.cfg.contrastive_temperature)
        labels = torch.arange(T * B, device=pred.device)
        loss = F.cross_entropy(logits, labels)
        metrics["contrastive_loss"] = loss.item()
        metrics["contrastive_acc"] = (logits.argmax(1) == labels).float().mean().item()
        return loss

    def _anti_collapse(self, z, generator, sync, metrics) -> torch.Tensor:
        cfg = self.cfg
        if cfg.anti_collapse == "none":
            return z.new_zeros(())
        if cfg.map_channels and cfg.state_latent:  # the state part as one sample, the map's locations as others
            k = cfg.state_latent
            state_term = self._anti_collapse_part(z[..., :k].reshape(-1, k), generator, sync, metrics, "state_")
            locations = z[..., k:].reshape(-1, cfg.map_channels)  # (N * L, C)
            return state_term + self._anti_collapse_part(locations, generator, sync, metrics)
        if cfg.map_channels:  # each location's C-vector is a sample: (N, L * C) -> (N * L, C)
            z = z.reshape(-1, cfg.map_channels)
        return self._anti_collapse_part(z, generator, sync, metrics)

    def _anti_collapse_part(self, z, generator, sync, metrics, prefix: str = "") -> torch.Tensor:
        """The weighted anti-collapse term of samples `(N, d)`; its statistics go to `metrics` under `prefix`."""
        cfg = self.cfg
        if cfg.anti_collapse == "vicreg":
            term, stats = vicreg(z, std_target=cfg.vicreg_std_target, cov_weight=cfg.vicreg_cov_weight, sync=sync)
        else:
            term, stats = self._sigreg(z, generator, sync)
        metrics.update({prefix + name: value for name, value in stats.items()})
        metrics[prefix + "anti_collapse"] = term.item()
        total = cfg.anti_collapse_weight * term
        if cfg.sigreg_weight:  # SIGReg beside VICReg
            extra, stats = self._sigreg(z, generator, sync)
            metrics.update({prefix + name: value for name, value in stats.items()})
            total = total + cfg.sigreg_weight * extra
        return total

    def _sigreg(self, z, generator, sync) -> tuple[torch.Tensor, dict[str, float]]:
        if generator is None:
            raise ValueError("SIGReg draws random directions: pass generator= to loss()")
        cfg = self.cfg
        return sigreg(z, directions=cfg.sigreg_directions, knots=cfg.sigreg_knots, generator=generator, sync=sync)

    def _auxiliary(self, batch, obs, z0, z_all, targets, zs, w, metrics) -> torch.Tensor:
        cfg = self.cfg
        total = z0.new_zeros(())
        if self.inverse is not None:
            # PLDM: actions must be recoverable from consecutive *encoded* latents, so the encoder
            # cannot drop what the action changes.
            k = self.inverse_dims
            if z_all is not None:
                pairs = torch.cat([z_all[:-1, ..., :k], z_all[1:, ..., :k]], -1)
            else:
                pairs = torch.cat([z0[..., :k], targets[0][..., :k]], -1)
            acts = batch.action if z_all is not None else batch.action[0]
            idm = F.mse_loss(self.inverse(pairs), acts)
            total = total + cfg.inverse_dynamics * idm
            metrics["idm_loss"] = idm.item()
        if cfg.smoothness > 0:
            seq = z_all if z_all is not None else zs
            smooth = (seq[1:] - seq[:-1]).pow(2).sum(-1).mean()
            total = total + cfg.smoothness * smooth
            metrics["smooth_loss"] = smooth.item()
        if self.reward is not None and batch.reward is not None:
            logits = self.reward(_flat(zs[:-1]), _flat(batch.action)).view(*batch.reward.shape, -1)
            r_loss = (w * self.two_hot.loss(logits, batch.reward).mean(1)).sum()
            total = total + cfg.reward_weight * r_loss
            metrics["reward_loss"] = r_loss.item()
        if self.termination is not None and batch.terminated is not None:
            t_loss = F.binary_cross_entropy_with_logits(self.termination(_flat(zs[1:])), _flat(batch.terminated))
            total = total + cfg.termination_weight * t_loss
            metrics["termination_loss"] = t_loss.item()
        if self.probe is not None:
            latents = torch.cat([z0.detach().unsqueeze(0), targets])  # (T+1, B, D), all detached
            p_loss = self.probe.loss(_flat(latents), _flat(obs["pixels"]))
            total = total + p_loss
            metrics["probe_loss"] = p_loss.item()
        return total


def change_weights(z: torch.Tensor, floor: float = CHANGE_FLOOR) -> torch.Tensor:
    """Per-dimension weights `(D,)` from a latent sequence `(T+1, B, D)`: the inverse mean square of each
    dimension's one-step change over the batch, floored at `floor` times its mean, scaled to mean 1.

    Why: a plain model of the state that predicts each entry's standardised change reaches 70% of push-t's
    goals, where the JEPA model reaches 5% with the same planner and energy. In a latent of unit variance
    the block's dimensions change only at contact, and by little, so the unweighted loss is almost all the
    pusher's; dividing by each dimension's change makes the block's rare moves count as much.
    """
    change = (z[1:] - z[:-1]).flatten(0, 1)  # (T * B, D)
    power = change.pow(2).mean(0)  # (D,)
    inverse = 1.0 / power.clamp_min(floor * power.mean() + 1e-12)
    return inverse / inverse.mean()
