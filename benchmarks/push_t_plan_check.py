"""Diagnostic: does a push-t model fail at planning because of its energy or because of the search?

Every `pushed` goal is made by 20 decisions of the scripted push from the start (envs/tasks/push_t.py),
so each evaluation pair comes with a plan known to reach its goal: the "expert" plan. For each of the
evaluation's seeded pairs (`eval.evaluate.episode_seed`), this script scores, in the model's goal energy
(the checkpoint's, straight at the goal: no memory), three plans of the first decision:
- the expert plan (the 20 recorded actions of the accepted push),
- the plan the checkpoint's planner finds from the start,
- doing nothing (zero actions),
and executes the expert and the found plan open loop in the simulator, reporting where the block ends.
If the found plan's energy is below the expert's, the search did its job and the energy prefers a wrong
plan (a model or energy fault); if above, the search missed a better plan the model knows.

    python -m benchmarks.push_t_plan_check --checkpoint <run>/checkpoints/latest.pt --task goal/push-t-block \
      --obs proprio+pixels --pairs 5 [--ensemble <another run>/checkpoints/latest.pt]
    # the pairs 14, 15 and 17 only, with CEM's samples coloured (iCEM's beta 2):
    python -m benchmarks.push_t_plan_check --checkpoint ... --select 14 15 17 --noise-beta 2
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agent.checkpoint import load_agent  # noqa: E402
from agent.mpc import obs_to_tensor  # noqa: E402
from agent.planners.base import evaluate as plan_energies  # noqa: E402
from benchmarks.push_t_landscape import TASKS  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks import push_t  # noqa: E402
from eval.evaluate import episode_seed  # noqa: E402

EXPERT_DECISIONS = push_t.GOAL_PUSH_STEPS // push_t.ACTION_REPEAT


def reset_with_expert(env, seed: int) -> tuple[dict, np.ndarray]:
    """Reset `env` to the pair of `seed`; return the observation and the goal's push `(20, 2)`."""
    recorded: list[np.ndarray] = []
    original = push_t.scripted_push

    def recording(*args):
        recorded.append(original(*args))
        return recorded[-1]

    push_t.scripted_push = recording
    try:
        obs, _ = env.reset(seed=seed)
    finally:
        push_t.scripted_push = original
    return obs, np.stack(recorded[-EXPERT_DECISIONS:])  # the last try is the accepted one


def open_loop(env, qpos: np.ndarray, actions: np.ndarray) -> dict[str, float]:
    """The block's goal errors after executing `actions` `(H, 2)` from configuration `qpos`, at rest."""
    inner = env.unwrapped
    inner.set_configuration(qpos)
    for action in actions:
        env.step(action.astype(np.float32))
    return inner.task.goal_errors(inner.physics)


def check_pair(env, agent, final, seed: int, horizon: int) -> dict[str, float]:
    """One pair: the three plans' energies (all steps, and the last step's under `final`, an agent loaded
    with `energy_steps=final`) and the expert's and found plan's outcomes in the simulator."""
    obs, expert = reset_with_expert(env, seed)
    qpos = env.unwrapped.physics.data.qpos.copy()
    agent.reset()
    with torch.no_grad():
        z = agent.model.encode(obs_to_tensor(obs, agent.device))[0]
        goal = agent.encode_goal(obs["goal"])
    start = agent._state(z)
    found = agent.planner.plan(start, agent.dynamics, agent.objective, goal=goal, generator=agent.generator).actions
    plans = np.zeros((3, horizon, 2), np.float32)  # expert (padded with zeros), found, nothing
    plans[0, : min(horizon, len(expert))] = expert[:horizon]
    plans[1] = found.cpu().numpy()
    with torch.no_grad():
        candidates = torch.as_tensor(plans).permute(1, 0, 2).unsqueeze(1)  # (H, 1, 3, A)
        energy = plan_energies(start[None], candidates, agent.dynamics, agent.objective, goal[None])[0]
        last = plan_energies(start[None], candidates, final.dynamics, final.objective, goal[None])[0]
    row = {}
    for i, name in enumerate(("expert", "found", "nothing")):
        row[f"{name}_energy"], row[f"{name}_final"] = float(energy[i]), float(last[i])
    for name, plan in (("expert", plans[0]), ("found", plans[1])):
        errors = open_loop(env, qpos, plan)
        row[f"{name}_position"], row[f"{name}_angle"] = errors["position_error"], errors["angle_error"]
    return row


@torch.no_grad()
def drift_row(env, agent, seed: int, every: int = 4) -> tuple[list[float], list[float]]:
    """The expert push of pair `seed`, predicted against what happened: every `every` decisions, the goal
    energy's distance from the model's prediction to the encoded true state, and the true state's distance
    from the start (how far the energy sees it move). A model that tracks the push keeps the first small
    against the second."""
    obs, expert = reset_with_expert(env, seed)
    energy = getattr(agent.objective, "objective", agent.objective)  # a history model's sees the newest latent
    newest = getattr(agent.objective, "latent_dim", None)
    encode = lambda o: agent.model.encode(obs_to_tensor(o, agent.device))  # noqa: E731  (1, D)
    agent.reset()
    start = encode(obs)
    predicted, errors, moved = agent._state(start[0])[None], [], []  # (1, D), or a window (1, h*D)
    for t, action in enumerate(expert, start=1):
        obs, *_ = env.step(action.astype(np.float32))
        predicted = agent.dynamics(predicted, torch.as_tensor(action, device=agent.device)[None])
        if t % every == 0:
            true = encode(obs)
            latest = predicted if newest is None else predicted[:, -newest:]
            errors.append(float(energy.distance(latest, true)[0]))
            moved.append(float(energy.distance(true, start)[0]))
    return errors, moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--task", default="goal/push-t-block", choices=TASKS)
    parser.add_argument("--obs", default="proprio+pixels")
    parser.add_argument("--pairs", type=int, default=5, help="the evaluation's pairs 0..pairs-1 (run seed 0)")
    parser.add_argument("--select", type=int, nargs="*", default=None, help="these pairs instead of 0..pairs-1")
    parser.add_argument("--noise-beta", type=float, default=None, help="CEM's noise colour (0 white, 2 iCEM's)")
    parser.add_argument("--horizon", type=int, default=EXPERT_DECISIONS)
    parser.add_argument("--state-weight", type=float, default=None)
    parser.add_argument("--glimpse-weight", type=float, default=None, help="a glimpse model's glimpse weight")
    parser.add_argument("--ensemble", nargs="*", default=[], help="more checkpoints that plan with --checkpoint's")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = make_env(args.task, obs=args.obs)
    agent, final = (
        load_agent(
            args.checkpoint,
            env,
            horizon=args.horizon,
            energy_steps=steps,
            waypoints=False,
            state_weight=args.state_weight,
            glimpse_weight=args.glimpse_weight,
            noise_beta=args.noise_beta,
            ensemble=args.ensemble,
        )
        for steps in ("all", "final")
    )
    models = " ".join([args.checkpoint, *args.ensemble])
    print(
        f"checkpoint: {models}; {args.task}; horizon {args.horizon}; state weight {args.state_weight}"
        + (f"; glimpse weight {args.glimpse_weight}" if args.glimpse_weight is not None else "")
        + (f"; noise beta {args.noise_beta}" if args.noise_beta is not None else "")
    )
    print(
        "| pair | energy, all steps: expert / found / nothing | last step's | expert open loop: position, "
        "angle (rad) | found open loop: position, angle |"
    )
    print("|---|---|---|---|---|")
    pairs = range(args.pairs) if args.select is None else args.select
    rows = []
    for pair in pairs:
        row = check_pair(env, agent, final, episode_seed(0, pair), args.horizon)
        rows.append(row)
        print(
            f"| {pair} | {row['expert_energy']:.1f} / {row['found_energy']:.1f} / {row['nothing_energy']:.1f} "
            f"| {row['expert_final']:.1f} / {row['found_final']:.1f} / {row['nothing_final']:.1f} "
            f"| {row['expert_position']:.3f}, {row['expert_angle']:.2f} | {row['found_position']:.3f}, "
            f"{row['found_angle']:.2f} |"
        )
    lower = sum(r["found_energy"] < r["expert_energy"] for r in rows)
    print(f"\nthe found plan scores below the expert's on {lower} of {len(rows)} pairs")
    every = 4
    steps = ", ".join(str(t) for t in range(every, EXPERT_DECISIONS + 1, every))
    print(
        f"\nThe expert push in the goal energy's distance, at decisions {steps}: the prediction's from the encoded "
        "true state, and the true state's from the start\n\n"
        "| pair | prediction's error | true state's move |\n|---|---|---|"
    )
    for pair in pairs:
        errors, moved = drift_row(env, agent, episode_seed(0, pair), every)
        print(f"| {pair} | {' '.join(f'{e:.1f}' for e in errors)} | {' '.join(f'{m:.1f}' for m in moved)} |")
    env.close()


if __name__ == "__main__":
    main()
