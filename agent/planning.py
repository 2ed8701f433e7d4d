"""Planning settings that replace a goal checkpoint's saved ones when it is loaded to act.

One list of them (`Planning`), read by `agent.checkpoint.load_agent` and carried by `eval.evaluate`'s jobs, so
that a new setting is declared, documented and checked in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from agent.config import GoalAgentConfig


@dataclass(frozen=True)
class Planning:
    """Replacements for a goal agent's saved planning settings; None (every default) keeps the saved one.

    Attributes:
        planner: `cem`, `mppi`, `gradient` or `hybrid`.
        horizon: every planner's horizon (decisions).
        energy_steps: the goal energy's `final` or `all` predicted steps.
        waypoints: False plans straight at the goal even when the checkpoint holds a memory graph (checkpoints
            of before the memory graph hold none: `python -m train.memory` adds one).
        state_weight, glimpse_weight, moment_weight: the goal energy's weights of a split latent's state part,
            its glimpse's dimensions and its moments; first_order_weight the first-order moment pair's share.
        samples, iterations: the sampling planner's (CEM's, also in `hybrid`, or MPPI's) candidates per iteration
            and iterations.
        noise_beta: CEM's noise colour (0 white, 2 iCEM's smooth plans).
        action_cost: the weight of the control cost in the goal energy.
        hold_energy: the goal energy at or below which the agent holds still.
        hold_pose: `(position, turn)` of the moments' pose hold, in place of the energy's (it replaces a saved
            energy hold).
        execute: actions executed from each plan before the next is made.
        drift_correction: score plans less the model's zero-action drift.
        cem_result: the plan CEM returns, `best` or `mean`.
        perturbations, perturbation_std: CEM scores each candidate as the mean over itself and that many pairs
            of copies perturbed by plus and minus noise of that std (`agent.planners.cem.CEMConfig`; 0 never).
        adapt_steps: gradient steps per decision that fit the predictor to the episode's own transitions
            (`agent.adaptation.PredictorAdaptation`; 0 never); adapt_lr their learning rate; adapt_pull the
            fraction of the way back to the trained weights after each.
    """

    planner: str | None = None
    horizon: int | None = None
    energy_steps: str | None = None
    waypoints: bool | None = None
    state_weight: float | None = None
    glimpse_weight: float | None = None
    moment_weight: float | None = None
    first_order_weight: float | None = None
    samples: int | None = None
    iterations: int | None = None
    noise_beta: float | None = None
    action_cost: float | None = None
    hold_energy: float | None = None
    hold_pose: tuple[float, ...] | None = None
    execute: int | None = None
    drift_correction: bool | None = None
    cem_result: str | None = None
    perturbations: int | None = None
    perturbation_std: float | None = None
    adapt_steps: int | None = None
    adapt_lr: float | None = None
    adapt_pull: float | None = None

    def __post_init__(self) -> None:
        if self.hold_pose is not None:  # hashable: evaluation keys its cached agents by these settings
            object.__setattr__(self, "hold_pose", tuple(float(x) for x in self.hold_pose))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names (also `eval.evaluate`'s command-line keys)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, settings) -> Planning:
        """The settings read off any object with these attributes (e.g. `eval.evaluate.EvalConfig`)."""
        return cls(**{k: getattr(settings, k) for k in cls.names()})

    def given(self) -> list[str]:
        """The names of the settings that replace saved ones."""
        return [k for k in self.names() if getattr(self, k) is not None]

    def apply(self, cfg: GoalAgentConfig) -> GoalAgentConfig:
        """`cfg` with these settings in place of its own (`waypoints` is the loader's: it picks the memory graph).

        Raises ValueError, naming the setting and the fix, where one does not fit the planner or is out of range.
        """
        replace = dataclasses.replace
        if self.planner is not None:
            cfg = replace(cfg, planner=self.planner)
        if self.horizon is not None:
            h = self.horizon
            cfg = replace(
                cfg,
                cem=replace(cfg.cem, horizon=h),
                mppi=replace(cfg.mppi, horizon=h),
                gradient=replace(cfg.gradient, horizon=h),
            )
        plain = {
            "energy_steps": "steps",
            "state_weight": "state_weight",
            "glimpse_weight": "glimpse_weight",
            "moment_weight": "moment_weight",
            "first_order_weight": "first_order_weight",
            "action_cost": "action_cost",
            "execute": "execute",
            "drift_correction": "drift_correction",
            "adapt_steps": "adapt_steps",
            "adapt_lr": "adapt_lr",
            "adapt_pull": "adapt_pull",
        }
        cfg = replace(cfg, **{field: getattr(self, k) for k, field in plain.items() if getattr(self, k) is not None})
        if self.hold_pose is not None:
            cfg = replace(cfg, hold_pose=self.hold_pose, hold_energy=self.hold_energy or 0.0)
        elif self.hold_energy is not None:
            cfg = replace(cfg, hold_energy=self.hold_energy)
        cfg = self._with_cem(cfg)
        cfg = self._with_sampler(cfg)
        section = getattr(cfg, {"hybrid": "cem"}.get(cfg.planner, cfg.planner), None)  # None: build_planner says
        plan_length = section.horizon if section is not None else cfg.execute
        if not 1 <= cfg.execute <= plan_length:
            raise ValueError(
                f"execute={cfg.execute}: the actions executed from each plan must be between 1 and the plan's "
                f"{plan_length} (its horizon)"
            )
        return cfg

    def _with_cem(self, cfg: GoalAgentConfig) -> GoalAgentConfig:
        """`cfg` with the settings only CEM has (also inside `hybrid`) replaced where given: the plan it returns,
        and its perturbed copies per candidate and their std."""
        fields = {"cem_result": "result", "perturbations": "perturbations", "perturbation_std": "perturbation_std"}
        changes = {field: getattr(self, k) for k, field in fields.items() if getattr(self, k) is not None}
        if not changes:
            return cfg
        if cfg.planner not in ("cem", "hybrid"):
            what = (
                "cem_result= picks CEM's returned plan"
                if self.cem_result is not None
                else "perturbations= and perturbation_std= smooth CEM's scores"
            )
            raise ValueError(f"{what} (planner=cem or hybrid), not {cfg.planner}")
        # CEMConfig checks the values and names the fix.
        return dataclasses.replace(cfg, cem=dataclasses.replace(cfg.cem, **changes))

    def _with_sampler(self, cfg: GoalAgentConfig) -> GoalAgentConfig:
        """`cfg` with its sampling planner's samples per iteration, iterations and (CEM's) noise colour
        replaced where given."""
        names = ("samples", "iterations", "noise_beta")
        changes = {k: getattr(self, k) for k in names if getattr(self, k) is not None}
        if not changes:
            return cfg
        # The sampling planner in use: CEM (also inside `hybrid`) or MPPI; the gradient planner samples nothing.
        field_name = {"cem": "cem", "hybrid": "cem", "mppi": "mppi"}.get(cfg.planner)
        if self.noise_beta is not None:
            if field_name != "cem":
                raise ValueError(
                    f"noise_beta= colours CEM's samples (planner=cem or hybrid), not planner={cfg.planner}"
                )
            if self.noise_beta < 0:
                raise ValueError(f"noise_beta={self.noise_beta}: 0 is white noise, larger is smoother; must be >= 0")
        if field_name is None:
            raise ValueError(
                f"samples= and iterations= set a sampling planner's budget; planner={cfg.planner} has none"
            )
        sampler = getattr(cfg, field_name)
        for name in ("samples", "iterations"):
            if name in changes and changes[name] < 1:
                raise ValueError(f"{name}={changes[name]}: the sampling planners need at least 1")
        if changes.get("samples", sampler.samples) < sampler.elites:
            raise ValueError(
                f"samples={changes['samples']} is fewer than the {cfg.planner} planner's {sampler.elites} elites; "
                f"use samples >= {sampler.elites}"
            )
        return dataclasses.replace(cfg, **{field_name: dataclasses.replace(sampler, **changes)})
