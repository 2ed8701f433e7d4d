"""Diagnostic: can push-t's dynamics be learned from the collected data at all, with perception perfect?

Every push-t world model so far planned no better than 0.00-0.05, from pixels and from the full state
alike. This script separates what a latent world model adds (an encoder, a latent geometry, a goal energy
in that latent) from what the data and a plain learned model allow. It trains a plain MLP dynamics model
on the dataset's states (`obs=state`: pusher x, y; block x, y, cos, sin; the five joint speeds), which
predicts the standardised change of the state from the state and the action and is trained on
multi-step rollouts, and then:
- rolls out each evaluation pair's expert push (the 20 scripted decisions that made its goal,
  `push_t_plan_check.reset_with_expert`) open loop in the model, and reports where the model puts the
  block against where the simulator does;
- with `--plan`, runs the evaluation's episodes closed loop with CEM on this model, the energy being the
  predicted block's pose error in units of the success tolerances (the oracle's energy,
  `push_t_oracle.py`, on a learned model), and reports success as the evaluation does.

    python -m benchmarks.push_t_state_model --dataset data/goal/push-t-state-push --minutes 10 --pairs 20 --plan
"""

from __future__ import annotations

import argparse
import functools
import time

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from agent.objectives import ActionPenalty, WeightedSum  # noqa: E402
from agent.planners.cem import CEM, CEMConfig  # noqa: E402
from benchmarks.push_t_plan_check import EXPERT_DECISIONS, reset_with_expert  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks import push_t  # noqa: E402
from eval.episode import run_episode  # noqa: E402
from eval.evaluate import episode_seed  # noqa: E402
from train.dataset import EpisodeStore  # noqa: E402

PUSHER = slice(0, 2)  # x, y of the pusher
BLOCK = slice(2, 6)  # x, y, cos, sin of the block in push-t's `state` observation
VELOCITY = slice(6, 9)  # the block's vx, vy and spin
# The peers' Push-T budget (stable-worldmodel: success if reached within 50 steps of a goal 25 steps away):
# twice the decisions that made each `pushed` goal.
PEER_BUDGET = 2 * push_t.GOAL_PUSH_STEPS // push_t.ACTION_REPEAT
REST_SPEED, REST_SPIN = 0.1, 1.0  # units/s and rad/s of block motion that cost one tolerance at the plan's end


def load_transitions(dataset: str, val_fraction: float = 0.05) -> tuple[dict, dict]:
    """`(train, val)`, each `{"state": (E, T+1, S), "action": (E, T, A)}` float32 (the last episodes: val)."""
    store = EpisodeStore(dataset)
    episodes = [store.read(i) for i in store.indices()]
    if not episodes:
        raise FileNotFoundError(f"no episodes in {dataset}; collect them with train.collect obs=state")
    if "state" not in episodes[0]:
        raise ValueError(f"{dataset} has no states; collect it with obs=state")
    state = torch.as_tensor(np.stack([e["state"] for e in episodes]))
    action = torch.as_tensor(np.stack([e["action"] for e in episodes]))
    n_val = max(1, round(val_fraction * len(episodes)))
    return {"state": state[:-n_val], "action": action[:-n_val]}, {"state": state[-n_val:], "action": action[-n_val:]}


class StateModel(nn.Module):
    """s `(N, S)`, a `(N, A)` -> s' `(N, S)`: s + scale * MLP(standardised s, a) (the change standardised)."""

    def __init__(self, states: torch.Tensor, deltas: torch.Tensor, action_dim: int, hidden: int):
        super().__init__()
        s, self.action_dim = states.shape[-1], action_dim  # the planners read `action_dim`
        self.register_buffer("mean", states.mean(0))
        self.register_buffer("std", states.std(0).clamp_min(1e-3))
        self.register_buffer("delta_std", deltas.std(0).clamp_min(1e-4))
        self.net = nn.Sequential(
            nn.Linear(s + action_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, s),
        )

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return s + self.delta_std * self.net(torch.cat([(s - self.mean) / self.std, a], -1))


def new_model(data: dict, hidden: int) -> StateModel:
    """An untrained `StateModel` standardised by the training episodes `data`."""
    states, actions = data["state"], data["action"]
    deltas = (states[:, 1:] - states[:, :-1]).reshape(-1, states.shape[-1])
    return StateModel(states.reshape(-1, states.shape[-1]), deltas, actions.shape[-1], hidden)


def train_model(data: dict, val: dict, args, generator: torch.Generator) -> StateModel:
    """Train on `args.horizon`-step windows for `args.minutes`; the loss is the mean standardised error."""
    states, actions = data["state"], data["action"]
    model = new_model(data, args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    E, T = actions.shape[:2]
    H = args.horizon
    step, start = 0, time.perf_counter()

    def window_loss(st, ac, idx_e, idx_t):
        s = st[idx_e, idx_t]
        loss = 0.0
        for k in range(H):
            s = model(s, ac[idx_e, idx_t + k])
            loss = loss + ((s - st[idx_e, idx_t + k + 1]) / model.delta_std).pow(2).mean()
        return loss / H

    while time.perf_counter() - start < 60 * args.minutes:
        e = torch.randint(0, E, (args.batch,), generator=generator)
        t = torch.randint(0, T - H + 1, (args.batch,), generator=generator)
        loss = window_loss(states, actions, e, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 2000 == 0:
            with torch.no_grad():
                ve = torch.randint(0, len(val["action"]), (1024,), generator=generator)
                vt = torch.randint(0, T - H + 1, (1024,), generator=generator)
                v = window_loss(val["state"], val["action"], ve, vt).item()
            print(
                f"update {step}: train {loss.item():.4f}, val {v:.4f} ({time.perf_counter() - start:.0f} s)", flush=True
            )
    return model


def pose_error(block: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block poses `(..., 4)` (x, y, cos, sin) against a goal pose `(4,)`: position and angle errors `(...)`."""
    position = (block[..., :2] - goal[:2]).norm(dim=-1)
    angle = torch.atan2(block[..., 3], block[..., 2]) - torch.atan2(goal[3], goal[2])
    return position, push_t.wrap_angle(angle).abs()


def pose_energy(goal: torch.Tensor, rest: float = 0.0):
    """The oracle's energy: the predicted block's pose error in tolerance units, summed over the plan; with
    `rest` > 0, plus `rest` times the block's speed at the plan's end (in units of `REST_SPEED` and
    `REST_SPIN`) squared, times the horizon (as if it lasted the plan). Why: a block pushed at speed slides
    on past its goal (traced: reached at 0.25 units/s, ended 0.078 away), and the goal is a pose to stay in."""

    def objective(zs: torch.Tensor, actions: torch.Tensor, _goal) -> torch.Tensor:
        position, angle = pose_error(zs[1:, :, BLOCK], goal)
        energy = ((position / push_t.POSITION_TOLERANCE) ** 2 + (angle / push_t.ANGLE_TOLERANCE) ** 2).sum(0)
        if rest:
            v = zs[-1, :, VELOCITY]
            speed = (v[:, :2].pow(2).sum(-1) / REST_SPEED**2) + v[:, 2].pow(2) / REST_SPIN**2
            energy = energy + rest * actions.shape[0] * speed
        return energy

    return objective


def state_energy(goal: torch.Tensor, std: torch.Tensor, weights: torch.Tensor):
    """What a latent energy resembles: the squared distance to the goal's state (with all weights 1, the
    pusher where the goal has it and every speed 0), each dimension standardised by the data's spread and
    weighted by `weights` `(S,)`, summed over the plan."""

    def objective(zs: torch.Tensor, actions: torch.Tensor, _goal) -> torch.Tensor:
        return (weights * ((zs[1:] - goal) / std).pow(2)).sum(-1).sum(0)

    return objective


# `pose`: the block's pose error in tolerance units (the oracle's); `state`: the whole standardised state;
# `block`: the block's standardised x, y, cos, sin alone; `positions`: the block's and the pusher's, no speeds.
ENERGIES = ("pose", "state", "block", "positions")


@torch.no_grad()
def expert_prediction(model: StateModel, env, pairs: int) -> list[str]:
    """Each pair's expert push, rolled out in the model: where it puts the block against the goal."""
    rows = ["| pair | model's end of the expert push: position, angle error (rad) | start's errors |", "|---|---|---|"]
    for pair in range(pairs):
        obs, expert = reset_with_expert(env, episode_seed(0, pair))
        s = torch.as_tensor(obs["state"])[None]
        goal = torch.as_tensor(obs["goal"]["state"])[BLOCK]
        start_errors = pose_error(s[0, BLOCK], goal)
        for a in expert:
            s = model(s, torch.as_tensor(a)[None])
        position, angle = pose_error(s[0, BLOCK], goal)
        rows.append(
            f"| {pair} | {position.item():.3f}, {angle.item():.2f} | {start_errors[0].item():.3f}, "
            f"{start_errors[1].item():.2f} |"
        )
    return rows


def make_objective(
    energy: str, goal: torch.Tensor, std: torch.Tensor, action_cost: float, rest: float, pusher_weight: float = 0.0
):
    """The planner's energy `energy` (see `ENERGIES`) toward the goal state `goal` `(S,)`; `pusher_weight`
    adds the pusher's standardised distance to where the goal has it, at that weight, to `block`."""
    if energy == "pose":
        objective = pose_energy(goal[BLOCK], rest)
    else:
        weights = torch.ones_like(goal) if energy == "state" else torch.zeros_like(goal)
        weights[BLOCK] = 1.0  # `block`: the block's standardised pose alone
        if energy == "positions":
            weights[PUSHER] = 1.0
        elif energy == "block":
            weights[PUSHER] = pusher_weight  # as `state_weight` does for a latent with the pusher's part
        objective = state_energy(goal, std, weights)
    if action_cost:
        objective = WeightedSum([(1.0, objective), (action_cost, ActionPenalty())])
    return objective


class StatePlanner:
    """An agent for `run_episode`: CEM on the state model toward the goal in `obs["goal"]`, warm-started by
    the last plan shifted by one decision.

    Args:
        objective: `goal state (S,) -> objective` (e.g. a `make_objective` partial).
    """

    def __init__(self, model: StateModel, cfg: CEMConfig, objective, generator: torch.Generator):
        self.model, self.planner, self.make, self.generator = model, CEM(cfg), objective, generator
        self.seconds, self.decisions = 0.0, 0

    def reset(self) -> None:
        self.objective, self.mean = None, None

    @torch.no_grad()
    def act(self, obs: dict, *, goal=None, explore: bool = False) -> np.ndarray:
        start = time.perf_counter()
        if self.objective is None:
            self.objective = self.make(torch.as_tensor(obs["goal"]["state"]))
        s = torch.as_tensor(obs["state"])
        result = self.planner.plan(s, self.model, self.objective, init=self.mean, generator=self.generator)
        self.mean = torch.cat([result.actions[1:], result.actions[-1:]])
        self.seconds += time.perf_counter() - start
        self.decisions += 1
        return result.actions[0].numpy()


def plan_episodes(model: StateModel, env, pairs: int, cfg: CEMConfig, seed: int, objective) -> str:
    """Closed-loop CEM on the model for each pair (the evaluation's episodes, through `run_episode`); prints a
    row per pair and returns the summary line. `objective`: goal state `(S,)` -> objective."""
    agent = StatePlanner(model, cfg, objective, torch.Generator().manual_seed(seed))
    print("| pair | success | reached | final position, angle error (rad) | ms/decision |\n|---|---|---|---|---|")
    outcomes = []
    for pair in range(pairs):
        seconds, decisions = agent.seconds, agent.decisions
        episode = run_episode(env, agent, seed=episode_seed(0, pair))
        errors = episode.final_errors
        in_budget = episode.first_success is not None and episode.first_success <= PEER_BUDGET
        outcomes.append(
            (episode.success, episode.ever_success, errors["position_error"], errors["angle_error"], in_budget)
        )
        ms = 1e3 * (agent.seconds - seconds) / (agent.decisions - decisions)
        print(
            f"| {pair} | {int(episode.success)} | {int(episode.ever_success)} | {errors['position_error']:.3f}, "
            f"{errors['angle_error']:.2f} | {ms:.0f} |",
            flush=True,
        )
    s, r, p, a, b = (np.mean([o[i] for o in outcomes]) for i in range(5))
    return (
        f"\nsuccess {s:.2f}, reached {r:.2f} (within {PEER_BUDGET} decisions: {b:.2f}), final position {p:.3f}, "
        f"angle {a:.2f} rad over {pairs} pairs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a push-t dataset collected with obs=state")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--horizon", type=int, default=10, help="training rollout length")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--plan", action="store_true", help="also plan the pairs closed loop with CEM")
    parser.add_argument("--plan-horizon", type=int, default=EXPERT_DECISIONS)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--energy", default="pose", choices=ENERGIES, help="the planner's energy (see ENERGIES)")
    parser.add_argument("--action-cost", type=float, default=0.0, help="energy per unit of squared action")
    parser.add_argument("--pusher-weight", type=float, default=0.0, help="`block` energy: the pusher's weight")
    parser.add_argument("--rest", type=float, default=0.0, help="`pose` energy: weight of the block's end speed")
    parser.add_argument("--save", default=None, help="write the trained model's weights here")
    parser.add_argument("--load", default=None, help="plan with these weights instead of training")
    args = parser.parse_args()
    if args.pusher_weight and args.energy != "block":
        parser.error(f"--pusher-weight adds to the `block` energy only; got --energy {args.energy}")
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    data, val = load_transitions(args.dataset)
    print(f"{len(data['action'])} training episodes, {len(val['action'])} validation; {vars(args)}")
    if args.load:
        model = new_model(data, args.hidden)
        model.load_state_dict(torch.load(args.load))
    else:
        model = train_model(data, val, args, generator)
        if args.save:
            torch.save(model.state_dict(), args.save)
    model.eval()
    env = make_env("goal/push-t", obs="state")
    print("\n".join(expert_prediction(model, env, args.pairs)))
    if args.plan:
        cfg = CEMConfig(horizon=args.plan_horizon, samples=args.samples, iterations=args.iterations, elites=16)
        objective = functools.partial(
            make_objective,
            args.energy,
            std=model.std,
            action_cost=args.action_cost,
            rest=args.rest,
            pusher_weight=args.pusher_weight,
        )
        print(plan_episodes(model, env, args.pairs, cfg, args.seed, objective))
    env.close()


if __name__ == "__main__":
    main()
