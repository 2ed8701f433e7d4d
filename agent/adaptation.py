"""Test-time adaptation: the predictor fitted, during an episode, to the transitions that episode has shown.

Why: a planner that picks the best of hundreds of imagined futures picks the ones the model gets most wrong.
On push-t the failures were stalls where the model predicted pushes that never touched the block: the pusher
went where the model said contact would be, the block did not move, and the next plan, from the same model,
predicted the same phantom contact (`benchmarks/results/goal/README.md`, forty-third session). The episode's
own frames say exactly what did happen there; a few gradient steps on them correct the model where the agent
is, so the next plan stops believing what was just refuted. Every episode starts from the trained weights.
"""

from __future__ import annotations

import torch


class PredictorAdaptation:
    """Fits `model.predictor` to the current episode's latents and actions with `model.latent_loss`.

    Call `reset` at each episode's start, `observe(z)` with each observation's latent, `acted(a)` with the action
    taken after it, and `update()` before planning: `steps` Adam steps on the episode's most recent `window`
    sequences of `horizon` actions (fewer while the episode is shorter), the training's own multi-step loss on
    the encoder's latents. The encoder is never changed.

    Args:
        model: a `WorldModel` (`predictor`, `latent_loss`, `cfg.history`).
        steps: gradient steps per `update` (> 0).
        lr: Adam's learning rate.
        horizon: actions per sequence (the training's `agent.horizon` is the natural choice).
        window: at most this many sequences (the most recent starts) per step.
        grad_clip: the gradient's norm is clipped to this, as in training.
        pull: after each step the weights move this fraction of the way back to the trained ones (0: never), so
            that what the episode taught fades once its sequences leave the window (about 1/pull steps).
    """

    def __init__(
        self,
        model,
        *,
        steps: int,
        lr: float,
        horizon: int = 8,
        window: int = 32,
        grad_clip: float = 10.0,
        pull: float = 0.0,
    ):
        if steps < 1 or lr <= 0 or horizon < 1 or window < 1 or not 0 <= pull < 1:
            raise ValueError(
                f"adaptation needs steps >= 1, lr > 0, horizon >= 1, window >= 1 and 0 <= pull < 1 "
                f"(got steps={steps}, lr={lr}, horizon={horizon}, window={window}, pull={pull})"
            )
        self.model, self.steps, self.lr, self.pull = model, steps, lr, pull
        self.horizon, self.window, self.grad_clip = horizon, window, grad_clip
        self.context = model.cfg.history - 1  # leading latents of a sequence that are the predictor's past
        self._saved: dict[str, torch.Tensor] | None = None
        self._optim: torch.optim.Optimizer | None = None
        self._latents: list[torch.Tensor] = []
        self._actions: list[torch.Tensor] = []

    def reset(self) -> None:
        """Put back the predictor's weights of before the episode and forget its transitions."""
        if self._saved is not None:
            self.model.predictor.load_state_dict(self._saved)
        self._saved, self._optim = None, None
        self._latents, self._actions = [], []

    def observe(self, z: torch.Tensor) -> None:
        """The latent `(D,)` of the episode's next observation."""
        if len(self._latents) != len(self._actions):
            raise RuntimeError("observe(z) again before acted(a): every observation but the last needs its action")
        self._latents.append(z.detach())

    def acted(self, action: torch.Tensor) -> None:
        """The action `(A,)` executed after the last observed latent."""
        if len(self._actions) + 1 != len(self._latents):
            raise RuntimeError("acted(a) without an observation to act on: call observe(z) first")
        self._actions.append(action.detach().to(self._latents[-1].device, torch.float32))

    def sequences(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The episode's most recent sequences: latents `(T+1, B, D)` and actions `(T, B, A)`, with T the
        horizon or what the episode has so far (None while it has too few transitions for the history)."""
        t = len(self._actions) if len(self._actions) < len(self._latents) else len(self._actions) - 1
        length = min(self.horizon, t)
        if length <= self.context:
            return None
        starts = range(max(0, t - length - self.window + 1), t - length + 1)
        z = torch.stack([torch.stack(self._latents[s : s + length + 1]) for s in starts], dim=1)
        a = torch.stack([torch.stack(self._actions[s : s + length]) for s in starts], dim=1)
        return z, a

    def update(self) -> float | None:
        """`steps` Adam steps on the episode's sequences; the last step's loss (None: nothing to fit yet)."""
        batch = self.sequences()
        if batch is None:
            return None
        params = list(self.model.predictor.parameters())
        if self._saved is None:  # the weights this episode started from, put back by reset()
            self._saved = {k: v.detach().clone() for k, v in self.model.predictor.state_dict().items()}
            self._optim = torch.optim.Adam(params, lr=self.lr)
        loss = None
        with torch.enable_grad():
            for _ in range(self.steps):
                loss, _ = self.model.latent_loss(*batch)
                self._optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
                self._optim.step()
                if self.pull:
                    self._pull_back()
        return float(loss.detach())

    @torch.no_grad()
    def _pull_back(self) -> None:
        """Move every weight `pull` of the way back to the episode's starting weights."""
        for name, p in self.model.predictor.named_parameters():
            p.lerp_(self._saved[name], self.pull)
