"""Typed configuration of agents (field names equal constructor arguments)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

from agent.planners.cem import CEMConfig
from agent.planners.gradient import GradientConfig
from agent.planners.mppi import MPPIConfig


@dataclass(frozen=True)
class ModelConfig:
    """Which world model: a size preset and overrides of `world_model.WorldModelConfig` fields."""

    size: str = "default"
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RewardAgentConfig:
    """The reward-driven world-model agent (TD-MPC2's recipe on our JEPA world model).

    Attributes:
        model: world model size and overrides; the agent adds reward and value heads.
        planner: MPPI settings (planning uses the policy prior's proposals).
        horizon: training sequence length T (TD-MPC2: 3).
        batch_size, lr, encoder_lr_scale, grad_clip: optimisation (TD-MPC2: 256, 3e-4, 0.3, 20). Over
            100k steps our 4x narrower MLPs learn much faster at `lr=1e-3` (finger-spin seed 0: 726.8 against
            638.2, seed 1: 945.5; benchmarks/results/dmc-lr/README.md), but cartpole-swingup at 1e-3 (seed 0)
            falls from 812-850 to 0 at 100k: its policy learns to damp the pole at the bottom. So the
            default stays TD-MPC2's.
        lr_final: the learning rates' fraction left at the end of training: they follow a half cosine
            from `lr` down to `lr * lr_final` over the run's updates (1.0: constant, as TD-MPC2). It keeps a
            high rate's fast start without its late instability: `lr=1e-3, lr_final=0.3` held cartpole-swingup
            seed 0 at 857.7 at 100k, but ended reacher-easy, cheetah-run and finger-spin below a constant
            1e-3 (benchmarks/results/dmc-cosine/README.md), so it is not the default.
        discount: gamma; None derives it from the episode length as TD-MPC2 does.
        value_weight: weight of the TD loss of the value ensemble.
        tau: Polyak step of the target value functions.
        entropy_coef: the policy's entropy bonus.
        entropy: what the bonus measures. `squashed` (default): the entropy of the tanh-squashed action,
            which also charges actions for saturating at +-1. `scaled` (TD-MPC2's): the entropy of the
            Gaussian before the tanh times the action dimension A, i.e. `entropy_coef * A` per unit of
            log-std, with no charge for saturation. The logged `policy_entropy` is the measured one.
        policy_batch: sequences of each batch the policy prior learns from (None: all, as TD-MPC2).
            The policy step is a third of an update; the sequences are already in random order.
        plan: plan with MPPI (else act with the policy prior alone).
        prior_weight: weight of `agent.objectives.PriorDeviation` in the planner's energy: the mean squared
            distance of a plan's actions from the policy prior's mean, in units of the running value spread
            (`q_scale`). 0 (as TD-MPC2) scores plans by reward and value alone. At 0.2 a cheetah-run
            checkpoint whose plans walked backwards in every evaluation (0.0) returned 380.8 over ten
            episodes (its prior alone 354); a healthy reacher-easy one went from 973.3 to 976.6.
            Trained with it at `lr=1e-3`, cartpole-swingup seed 0 held at 855.6 (0.0 without), but three other
            tasks ended lower than without it (benchmarks/results/dmc-prior/README.md): not the default.
        explore_std_floor: minimum exploration noise added to planned actions when exploring.
        execute: which first action of a plan is executed: `elite` (one of the last refit's elites,
            drawn by its weight, as TD-MPC2 does) or `mean` (the weighted mean of the elites). The
            mean warm-starts the next plan either way. Where the elites split between two ways of
            acting their mean can cancel out; on a reacher-easy checkpoint both returned the same
            (`python -m benchmarks.execute_modes`, benchmarks/results/dmc/README.md).
        eval_execute: `execute` for evaluation episodes (no exploration noise); None: as `execute`.
            Executing the mean, a walker-walk checkpoint lay still after falling in 2 of 20 evaluation
            episodes (returns 24 and 20) where its elites stood up when one was drawn (895 and 946): with
            no noise the mean of two ways to rise cancels out at every step. Cheetah-run gains the same way;
            finger-spin loses ~10 to the jitter (benchmarks/results/dmc-best/eval_execute.md).
    """

    model: ModelConfig = field(
        default_factory=lambda: ModelConfig(
            overrides={
                "latent_norm": "simnorm",
                "target": "stopgrad",
                "anti_collapse": "none",
                "reward_head": True,
                "num_values": 2,
                "prediction_weight": 20.0,
                "reward_weight": 0.1,
            }
        )
    )
    planner: MPPIConfig = field(default_factory=lambda: MPPIConfig(score_plan=False))
    horizon: int = 3
    batch_size: int = 256
    lr: float = 3e-4
    lr_final: float = 1.0
    encoder_lr_scale: float = 0.3
    grad_clip: float = 20.0
    discount: float | None = None
    value_weight: float = 0.1
    tau: float = 0.01
    entropy_coef: float = 1e-4
    entropy: str = "squashed"
    policy_batch: int | None = None
    plan: bool = True
    prior_weight: float = 0.0
    explore_std_floor: float = 0.0
    execute: str = "mean"
    eval_execute: str | None = None

    def __post_init__(self) -> None:
        if self.entropy not in ("squashed", "scaled"):
            raise ValueError(f"agent.entropy={self.entropy!r}; choose squashed or scaled (TD-MPC2's)")
        if self.execute not in ("elite", "mean"):
            raise ValueError(f"agent.execute={self.execute!r}; choose elite or mean")
        if self.eval_execute not in (None, "elite", "mean"):
            raise ValueError(
                f"agent.eval_execute={self.eval_execute!r}; choose elite or mean, or null to follow agent.execute"
            )
        if self.prior_weight < 0:
            raise ValueError(f"agent.prior_weight={self.prior_weight}: must be >= 0 (0 disables the prior term)")
        if not 0.0 < self.lr_final <= 1.0:
            raise ValueError(f"agent.lr_final={self.lr_final}: a fraction of lr in (0, 1]; 1.0 keeps lr constant")


@dataclass(frozen=True)
class GoalAgentConfig:
    """The reward-free goal-reaching agent: a JEPA world model and a planner on a goal energy.

    Attributes:
        inputs: the observations the model sees: `pixels` (default: planning from images alone), `state`
            or `state+pixels` (from a dataset collected with `obs=proprio+pixels`, the state is the agent's
            body only).
        model: world model size and overrides.
        planner: `cem`, `mppi`, `gradient` or `hybrid`.
        metric, steps: the goal energy (`l2`/`l1`/`cosine`, `final`/`all`).
        execute: actions executed from each plan before replanning.
        memory_episodes: training episodes whose observations' latents the checkpoint keeps as a graph
            of trajectories to plan through when the goal is beyond the goal energy's reach
            (agent/waypoints.py); 0 disables.
        landmark_steps, landmark_quantile: a waypoint is within reach when its squared distance is at
            most this quantile of the distances the data covers in `landmark_steps` steps.
        join_quantile: observations of different moments are joined in the graph when their squared
            distance is at most this quantile of the data's one-step distances.
        state_weight: the weight of a split latent's state part (`state_latent`, the leading dimensions)
            in the goal energy; the pixels' part weighs 1. On `goal/push-t` the state is the pusher, and a
            weight above 1 lets where the pusher should be outweigh what the pixels' part says about it.
        glimpse_weight: the weight of the glimpse's dimensions (the pixel part's last `glimpse_dims`, with
            `model.overrides.glimpse`) in the goal energy. Why: the glimpse holds the object's orientation and
            the full-frame part its position, and their scales come from training, not from what success
            asks; on `goal/push-t-block` a 15 degree turn cost as much as a 0.1 move (success's tolerances
            are 15 degrees and 0.03).
        moment_weight: the weight of the glimpse's moments (its last `moment_dims` dimensions, with
            `model.overrides.moment_gain`) in the goal energy. Why a weight of its own: they pin the object's
            pose finely near the goal, and their turn repeats every 120 degrees, where the learned dimensions
            must lead. On push-t at gain 20, weight 30 left blocks turned 100-140 degrees at the goal's place
            (0.64 success on 50 pairs); 10 reached 0.88, 3 0.82 (benchmarks/results/goal/README.md,
            forty-first session).
        first_order_weight: with `model.overrides.moment_orders` holding 1, the first-order orientation pair's
            share of `moment_weight` (1: the same as the other moments). Why apart: that pair only has to tell
            the third order's 120-degree aliases apart, and it is 6 times noisier near the goal (6 degrees rms
            against 1 on push-t's calibration scenes).
        action_cost: the weight of a control cost in the goal energy, the plan's mean squared action
            (`agent.objectives.ActionPenalty`); 0 (default) leaves it out. Why: near the goal the energy left
            is small, and a plan the model predicts to lower it a little can push the object out of
            tolerance; a control cost makes standing still win unless the predicted gain is worth the motion.
        hold_energy: when the observation's own goal energy (its latent's weighted distance to the goal's, as
            the planner scores a final step) is at most this, the agent holds still (the zero action) instead
            of planning; 0 (default) never holds. Why: push-t's block stays where a push leaves it, and a
            block that reaches the goal is often pushed out again by a later plan chasing the energy left
            within tolerance. Calibrate it per model with `python -m benchmarks.push_t_hold`, which
            scores goal energies of scenes near goals whose tolerances are known.
        hold_pose: `(position, turn)`: hold still while the glimpse's moments place the object within that centroid
            shift (frame coordinates) and turn (degrees) of the goal's (`agent.objectives.PoseReached`), instead of
            the energy's `hold_energy`. None (default): no pose hold. Calibrate it with
            `python -m benchmarks.push_t_hold --pose`; needs a model with `moment_gain`.
        drift_correction: score each plan's rollout less the model's zero-action rollout from the same start
            (`agent.objectives.DriftCorrected`): a plan then earns only what its actions change, not what the
            predictor's bias moves on its own. For tasks where nothing moves unless acted on (push-t's block).
        adapt_steps: before each plan, this many Adam steps fit the predictor to the episode's own transitions so
            far (`agent.adaptation.PredictorAdaptation`: the training's loss on sequences of `horizon` actions);
            every episode starts from the trained weights. 0 (default): never. Why: the planner picks the plans
            the model gets most wrong, and on push-t they were pushes that never touched the block, predicted
            again after every miss; the episode's frames refute them where the agent stands.
        adapt_lr: those steps' learning rate.
        adapt_pull: after each of those steps the predictor's weights move this fraction of the way back to the
            trained ones (0, default: never), so that what an episode taught fades as it moves on.
    """

    inputs: str = "pixels"
    model: ModelConfig = field(
        default_factory=lambda: ModelConfig(
            overrides={
                "latent_norm": "layernorm",
                "target": "stopgrad",
                "anti_collapse": "vicreg",
                "vicreg_std_target": 1.0,
                "inverse_dynamics": 1.0,
                "probe_size": 32,
            }
        )
    )
    planner: str = "cem"
    cem: CEMConfig = field(default_factory=lambda: CEMConfig(horizon=5, samples=128, iterations=5, elites=16))
    mppi: MPPIConfig = field(
        default_factory=lambda: MPPIConfig(
            horizon=5, samples=128, iterations=5, prior_samples=0, temperature=10.0, init_std=1.0
        )
    )
    gradient: GradientConfig = field(default_factory=lambda: GradientConfig(horizon=5, restarts=8, iterations=20))
    metric: str = "l2"
    steps: str = "all"
    execute: int = 1
    memory_episodes: int = 200
    landmark_steps: int = 5
    landmark_quantile: float = 0.5
    join_quantile: float = 0.5
    horizon: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    grad_clip: float = 10.0
    state_weight: float = 1.0
    glimpse_weight: float = 1.0
    moment_weight: float = 1.0
    first_order_weight: float = 1.0
    action_cost: float = 0.0
    hold_energy: float = 0.0
    hold_pose: tuple[float, float] | None = None
    drift_correction: bool = False
    adapt_steps: int = 0
    adapt_lr: float = 1e-4
    adapt_pull: float = 0.0

    def __post_init__(self) -> None:
        for name in ("state_weight", "glimpse_weight", "moment_weight", "first_order_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"agent.{name}={getattr(self, name)}: must be >= 0 (1 weighs every dimension alike)")
        if self.action_cost < 0:
            raise ValueError(f"agent.action_cost={self.action_cost}: must be >= 0 (0 leaves the control cost out)")
        if self.hold_energy < 0:
            raise ValueError(f"agent.hold_energy={self.hold_energy}: must be >= 0 (0 never holds)")
        if self.adapt_steps < 0 or self.adapt_lr <= 0 or not 0 <= self.adapt_pull < 1:
            raise ValueError(
                f"agent.adapt_steps={self.adapt_steps}, adapt_lr={self.adapt_lr}, adapt_pull={self.adapt_pull}: the "
                "steps must be >= 0 (0 never adapts), the learning rate > 0 and the pull in [0, 1)"
            )
        if self.hold_pose is not None:
            if len(self.hold_pose) != 2 or min(self.hold_pose) <= 0:
                raise ValueError(
                    f"agent.hold_pose={list(self.hold_pose)}: give [position, turn], both > 0 (the centroid's shift "
                    "in frame coordinates and the turn in degrees), or null"
                )
            if self.hold_energy > 0:
                raise ValueError("agent.hold_energy and agent.hold_pose are two holds; give one of them")
            object.__setattr__(self, "hold_pose", tuple(float(x) for x in self.hold_pose))


def from_dict(cls, data: dict):
    """Rebuild a (nested) config dataclass from `dataclasses.asdict` output, e.g. from a checkpoint."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        kwargs[f.name] = from_dict(hint, value) if dataclasses.is_dataclass(hint) and isinstance(value, dict) else value
    return cls(**kwargs)
