"""Task suites: named sets of (task, observation mode) pairs, from the registry's tags or user lists."""

from __future__ import annotations

import envs

# TD-MPC2's five headline DMControl tasks (../BENCHMARKS.md): the fast state suite.
DMC_CORE = ["dmc/cartpole-swingup", "dmc/reacher-easy", "dmc/walker-walk", "dmc/cheetah-run", "dmc/finger-spin"]


def _suites() -> dict[str, list[tuple[str, str]]]:
    dmc = envs.list_tasks("dmc")
    return {
        "dmc-core": [(t, "state") for t in DMC_CORE],
        "dmc-state": [(t, "state") for t in dmc],
        "dmc-pixels": [(t, "pixels") for t in dmc],
        "goal": [(t, "pixels") for t in envs.list_tasks("goal")],
        "manipulation": [(t, "state") for t in envs.list_tasks("manipulation")],
        "locomotion": [(t, "state") for t in envs.list_tasks("locomotion")],
        "gym": [(t, "state") for t in envs.list_tasks("gym")],
    }


def suite_names() -> list[str]:
    return sorted(_suites())


def resolve(spec: str, obs: str | None = None) -> list[tuple[str, str]]:
    """A suite name, one task id, or a comma-separated list of task ids -> [(task, obs mode)].

    `obs` overrides each pair's observation mode. Unknown names raise, listing the suites and the
    closest task ids.
    """
    suites = _suites()
    if spec in suites:
        pairs = suites[spec]
    else:
        tasks = [t.strip() for t in spec.split(",") if t.strip()]
        if not tasks:
            raise ValueError(f"empty task list; give a task id or one of the suites {', '.join(suites)}")
        for t in tasks:
            try:
                envs.get_spec(t)
            except envs.UnknownTaskError as err:
                raise envs.UnknownTaskError(f"{err} Suites: {', '.join(sorted(suites))}.") from None
        pairs = [(t, "state") for t in tasks]
    return [(t, obs or o) for t, o in pairs]
