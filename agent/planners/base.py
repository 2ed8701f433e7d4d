"""What every planner shares: the result type, candidate evaluation, noise draws, warm starts.

Shapes: G independent problems (start, goal) planned at once, N candidates each, horizon H, action
size A, latent size D. A single problem may be passed unbatched (`z0 (D,)`), and its result is then
unbatched too (`actions (H, A)`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

Dynamics = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (M, D), (M, A) -> (M, D)
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]  # -> (M,)
Generators = torch.Generator | Sequence[torch.Generator] | None


@dataclass
class PlanResult:
    """A plan and how it was found.

    Attributes:
        actions: `(H, G, A)` in [-1, 1] (`(H, A)` for an unbatched problem).
        energy: `(G,)` the energy of `actions` (a scalar tensor when unbatched).
        info: floats for logging: `energy` (mean final), `energy_it{k}` (mean best energy after
            iteration k), `time_ms`.
        elites: `(H, G, K, A)` the best candidates of the last iteration, when the planner keeps them
            (for refinement by a gradient planner).
        std: `(H, G, A)` the sampling std at the end, when the planner has one.
        weights: `(G, K)` the elites' weights in the last refit (rows sum to 1), when the planner
            weighs them (MPPI): an agent may execute a sampled elite rather than the weighted mean.
    """

    actions: torch.Tensor
    energy: torch.Tensor
    info: dict[str, float] = field(default_factory=dict)
    elites: torch.Tensor | None = None
    std: torch.Tensor | None = None
    weights: torch.Tensor | None = None


def batch_problem(z0: torch.Tensor, goal: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
    """`z0 (D,)` or `(G, D)` -> `(G, D)`, goal to `(G, ...)`, and whether the input was unbatched."""
    single = z0.dim() == 1
    if single:
        z0 = z0.unsqueeze(0)
        goal = None if goal is None else goal.unsqueeze(0)
    if goal is not None and goal.shape[0] != z0.shape[0]:
        raise ValueError(f"got {z0.shape[0]} starts but {goal.shape[0]} goals; pass one goal per start")
    return z0, goal, single


def unbatch(result: PlanResult, single: bool) -> PlanResult:
    if single:
        result.actions, result.energy = result.actions[:, 0], result.energy[0]
        result.elites = None if result.elites is None else result.elites[:, 0]
        result.std = None if result.std is None else result.std[:, 0]
        result.weights = None if result.weights is None else result.weights[0]
    return result


def rollout(z: torch.Tensor, actions: torch.Tensor, dynamics: Dynamics) -> torch.Tensor:
    """`z (B, D)` stepped through `actions (H, B, A)` by `dynamics` -> `(H+1, B, D)`, the start first."""
    zs = [z]
    for a in actions:
        zs.append(dynamics(zs[-1], a))
    return torch.stack(zs)


def evaluate(
    z0: torch.Tensor, actions: torch.Tensor, dynamics: Dynamics, objective: Objective, goal: torch.Tensor | None
) -> torch.Tensor:
    """Energies of candidate sequences.

    Args:
        z0: `(G, D)` starts.
        actions: `(H, G, N, A)` candidates.
        goal: `(G, ...)` or None.

    Returns:
        `(G, N)` energies, lower is better.
    """
    H, G, N, A = actions.shape
    flat = actions.reshape(H, G * N, A)  # problem-major: index g * N + n
    zs = rollout(z0.repeat_interleave(N, dim=0), flat, dynamics)  # (H+1, G*N, D)
    goals = None if goal is None else goal.repeat_interleave(N, dim=0)
    return objective(zs, flat, goals).view(G, N)


def smoothed_evaluate(
    z0: torch.Tensor,
    actions: torch.Tensor,
    offsets: torch.Tensor,
    dynamics: Dynamics,
    objective: Objective,
    goal: torch.Tensor | None,
) -> torch.Tensor:
    """Energies of candidate sequences averaged over themselves and perturbed copies.

    Args:
        z0: `(G, D)` starts.
        actions: `(H, G, N, A)` candidates.
        offsets: `(H, G, P, A)` perturbations, each added to every candidate of its problem (then clipped to
            [-1, 1]).
        goal: `(G, ...)` or None.

    Returns:
        `(G, N)` the mean energy of each candidate and its P copies, lower is better.
    """
    H, G, N, A = actions.shape
    P = offsets.shape[2]
    copies = (actions.unsqueeze(3) + offsets.unsqueeze(2)).clamp(-1, 1)  # (H, G, N, P, A)
    every = torch.cat([actions.unsqueeze(3), copies], dim=3)  # (H, G, N, P+1, A)
    energy = evaluate(z0, every.reshape(H, G, N * (P + 1), A), dynamics, objective, goal)  # (G, N*(P+1))
    return energy.view(G, N, P + 1).mean(-1)


def standard_normal(generators: Generators, G: int, shape: tuple[int, ...], device) -> torch.Tensor:
    """`(G, *shape)` standard normal noise.

    With one generator per problem, problem g's noise depends only on its own generator, so planning
    a batch of problems gives each one exactly the plan it would get alone.
    """
    if generators is None or isinstance(generators, torch.Generator):
        g = generators
        dev = g.device if g is not None else device
        return torch.randn((G, *shape), generator=g, device=dev).to(device)
    if len(generators) != G:
        raise ValueError(f"got {len(generators)} generators for {G} problems; pass one per problem or a single one")
    return torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators]).to(device)


def colored_normal(generators: Generators, G: int, shape: tuple[int, ...], beta: float, device) -> torch.Tensor:
    """Noise `(G, *shape)` whose last axis (time) has power spectrum ~ 1/f^beta (iCEM); beta=0 is white.

    Unit variance per entry on average: smoother action sequences for beta > 0.
    """
    if beta == 0:
        return standard_normal(generators, G, shape, device)
    horizon = shape[-1]
    freqs = torch.fft.rfftfreq(horizon, device=device)
    freqs[0] = freqs[1] if horizon > 1 else 1.0
    scale = freqs.pow(-beta / 2)
    white = standard_normal(generators, G, (*shape[:-1], len(freqs), 2), device)
    signal = torch.fft.irfft(torch.view_as_complex(white.contiguous()) * scale, n=horizon, norm="ortho")
    # Variance of each output entry: the DC (and, for even H, Nyquist) bins count once, the others
    # four times (2 Re(.) of a coefficient whose parts have variance scale^2); divide it out.
    weight = torch.full_like(scale, 4.0)
    weight[0] = 1.0
    if horizon % 2 == 0:
        weight[-1] = 1.0
    return signal / ((weight * scale**2).sum() / horizon).sqrt()


def action_dim(init: torch.Tensor | None, dynamics: Dynamics) -> int:
    """A, from the warm start or from the dynamics callable's `action_dim` attribute."""
    if init is not None:
        return init.shape[-1]
    dim = getattr(dynamics, "action_dim", None)
    if dim is None:
        raise ValueError("pass init= or give the dynamics callable an `action_dim` attribute")
    return dim


def initial_mean(init, horizon: int, G: int, A: int, device, single: bool) -> torch.Tensor:
    """The starting mean `(H, G, A)`: zeros, or the warm start `init` checked and clipped."""
    if init is None:
        return torch.zeros(horizon, G, A, device=device)
    mean = init.unsqueeze(1) if single and init.dim() == 2 else init
    if mean.shape != (horizon, G, A):
        raise ValueError(f"init has shape {tuple(init.shape)}, expected (H={horizon}, G={G}, A={A})")
    return mean.clamp(-1, 1).to(device)


def shift(actions: torch.Tensor) -> torch.Tensor:
    """Warm start for the next step: drop the executed first action, repeat zeros at the end.

    `(H, ...)` -> `(H, ...)`.
    """
    return torch.cat([actions[1:], torch.zeros_like(actions[:1])])
