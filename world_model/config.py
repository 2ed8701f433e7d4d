"""Typed configuration of the world model, with size presets.

Field names equal constructor arguments (see `WorldModel`). Presets: `tiny` for tests, `default` sized
for a 2-core CPU (latent 64, width 128: planning one action in ~16 ms on one core, an update in ~30 ms),
`medium` (latent 128, width 256), `large` for a GPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WorldModelConfig:
    """Architecture and loss settings of the JEPA world model.

    Attributes:
        latent_dim: D, the size of the latent z.
        hidden_dim: width of every MLP.
        mlp_layers: hidden layers of the state encoder, predictor and heads.
        cnn_channels: channels of the pixel encoder's stem (doubled once after it).
        cnn_depth: convolutions after the 4x4 stride-4 stem (each halves the resolution).
        latent_norm: `simnorm` (TD-MPC2), `layernorm` (no affine) or `none`.
        state_norm: `none` (TD-MPC2's raw state) or `data`: the encoder standardises each state dimension
            by its mean and standard deviation in the data it first learns from (online: the seed steps;
            offline: the training split), fixed from then on and saved with the model. Why: features
            of very different scales learn at very different speeds under Adam, whose step is about the
            same for every weight. On `dmc/reacher-easy` the reward depends only on the finger-to-target
            vector, whose standard deviation under random actions is 0.14-0.20 against 1.3-3.3 for the
            joint angles and speeds; a 100k-step agent's reward head there predicted the full reward 0.08
            from the target, outside its 0.06 radius. With it, no failed episode of one seed's agent had
            that fault, but it failed as often (benchmarks/results/dmc-statenorm/README.md).
        simnorm_group: group size of SimNorm.
        frame_stack: frames stacked as channels at the pixel encoder's input.
        history: latents the predictor sees (1 = Markov). With h > 1 the first h-1 frames of each
            training sequence are its context (encoded, not predicted), and goal agents plan over
            windows of h latents: per-frame latents stay free of velocity, the predictor gets it
            from the window (as DINO-WM's frame history).
        residual: the predictor outputs z + f(z, a) (default) rather than f(z, a).
        target: `ema` (a slowly moving copy of the encoder) or `stopgrad` (the encoder itself, detached).
        ema_tau: EMA step, target <- target + tau * (online - target).
        rho: per-step discount of the prediction loss over the horizon.
        prediction_weight: weight of the latent prediction loss (TD-MPC2 weighs its consistency loss 20
            against 0.1 for reward and value).
        teacher_forcing: weight of the one-step loss from every encoded frame (needs all frames encoded
            with gradient, so it costs more for pixels); the multi-step rollout loss always counts.
        anti_collapse: `vicreg`, `sigreg` or `none`.
        anti_collapse_weight: its weight.
        vicreg_std_target: VICReg's per-dimension std floor; `vicreg_cov_weight` its covariance term weight.
        sigreg_directions, sigreg_knots: SIGReg's random projections and characteristic-function points.
        sigreg_weight: weight of a SIGReg term added beside `anti_collapse=vicreg` (0: none). SIGReg
            alone let a layer-normalised push-t latent fall to rank 3-5 within 1,000 updates at weights
            0.1 and 1 (at a collapsed point its gradient cannot spread the samples; LeWM's latent passes
            a BatchNorm first). Beside VICReg the rank holds, but random projections of a decorrelated
            latent are near-Gaussian already, so the extra term asked little more of push-t's latent
            (benchmarks/results/goal/README.md, twentieth session).
        inverse_dynamics: weight of the action-from-consecutive-latents loss (PLDM); 0 disables it.
        inverse_dims: the leading latent dimensions the inverse-dynamics head reads (0: all). The loss
            makes what it reads encode what the action moves; on `goal/push-t` reading all 64 made the
            latent (and so the goal energy) almost all pusher: moving the block 0.2 units cost less
            energy than moving the pusher 0.03. Reading a part is meant to leave the rest free for what
            actions move rarely; measured there with 32 of 64, it only delayed the switch to the pusher
            (benchmarks/results/goal/README.md, eighth session).
        smoothness: weight of the temporal-smoothness loss (PLDM); 0 disables it.
        reward_head, termination_head: build these heads; `reward_weight` and `termination_weight`
            are their loss weights.
        num_values: size of the value ensemble (0 disables it).
        num_bins, vmin, vmax: two-hot bins in symlog space for reward and value.
        probe_size: side of the probe decoder's image (0 disables it); trained on detached latents.
        map_channels: C > 0 makes the latent (its pixel part with `state_latent`) a feature map: the pixel
            encoder's last feature map, mapped to C channels per location (normalised per location with
            layernorm), flattened location-major (each location's C numbers together) to
            `latent_dim = C * side * side` (side: the encoder's output side, e.g. 8 for 64x64 pixels and
            `cnn_depth=1`); the anti-collapse term sees each location's C-vector as a sample. The goal
            energy (L2 on the flat latent) is thus a sum over locations, and an object counts by the area
            it covers, as with DINO-WM's patches. 0: a vector latent. On `goal/push-t` beside the pusher's
            state part (8x8x8) a 15-degree turn costs about what a 0.03 move does, as success asks, but
            the pusher's cells make its energy lumpy and plans end in a corner (twenty-second session).
        map_predictor: with `map_channels`, `conv` (a small CNN over the map: local, like the encoder;
            ~25x the MLP's cost per call at 8x8x8 and 32 hidden channels) or `mlp` (the usual MLP over the
            flat map, `hidden_dim` wide: global, ~3x cheaper than the CNN at hidden 256).
        map_hidden: channels of the convolutional predictor's hidden layers.
        state_latent: k > 0, with state and pixel inputs, gives each its own part of the latent instead
            of one fused head: the state's k leading dimensions and the pixels' `latent_dim - k`, each
            normalised on its own. With `inverse_dims=k` the inverse-dynamics term then reads the state's
            part only, so it cannot pull the pixels' part toward what the actions move (on `goal/push-t`
            with `obs=proprio+pixels`: the pusher is the state, and the pixels' part is left to the block).
            The goal energy weighs the parts by their sizes. With `map_channels` (and `map_predictor=mlp`)
            the pixels' part is the feature map: `latent_dim = k + C * side * side`. 0: one fused head.
        state_split: with state observations only and `state_latent` k > 0, the indices of the state
            entries that make the latent's k leading dimensions (their own MLP and head); the other
            entries make the rest, each part normalised on its own. Why: the goal energy can then weigh
            one part alone (`agent.state_weight`). On `goal/push-t` with `obs=state`, `[0,1,6,7,8,9,10]`
            (the pusher's position and every speed) leaves the block's x, y, cos, sin to the rest, so that
            `state_weight=0` plans on the block's pose alone, the energy a plain state model reaches 70% of
            the goals with. Measured there on the sliding block: 0.00-0.05 reached with the goal agent's
            default model choices, 0.45 with latent_norm=none, vicreg_cov_weight=0, inverse_dynamics=0 and
            3 x 256 networks; with those choices on the quasi-static block, 0.24 success on 50 pairs (0.30 on
            20, the plain model 0.35; benchmarks/results/goal/README.md, 32nd and 33rd sessions).
            Empty: no split (`state_latent` then splits state from pixels).
        change_weighted: weigh each latent dimension's prediction error by the inverse mean square of its
            one-step change in the batch's targets (scaled to mean 1, at most 100 times the mean), as a
            plain state model predicts each entry's standardised change. Why: in a latent of unit variance
            a dimension that moves only at contact (push-t's block) changes by little and rarely, so the
            plain loss is almost all what moves every step (the pusher). Measured there on the state and
            on pixels: no gain (0.00 reached). False: every dimension alike.
        state_prediction_weight: with `state_latent`, the weight of the state part's dimensions in the
            latent prediction loss (the pixels' part weighs 1). On `goal/push-t` the state is the pusher,
            whose path the block deflects (by 0.06 of its 0.10 units in 4 decisions at the median, under
            the `push` policy): predicting it asks the pixels' part for the block's shape where the
            pusher meets it, so a larger weight asks the latent for the block's orientation. Measured
            there at 10 and 30: no gain (angle MLP readout 0.11 and 0.09 against 0.14 at 1).
        keypoints: K > 0 ends the pixel encoder in K spatial-softmax keypoints (`encoders.KeypointTrunk`:
            the stem, `cnn_depth` stride-1 3x3 convolutions of `cnn_channels`, K maps, each map's
            softmax-weighted (x, y)); the latent's pixel head reads their 2K coordinates (with
            `state_latent`, linearly: the pixel part has no more rank than the points). A vector latent
            only. 0: the flattened `PixelTrunk`. On `goal/push-t` 24 points lifted the block angle's MLP
            readout from 0.14 to 0.23-0.26 (0.91 is possible from the same frames) and planned no better
            (benchmarks/results/goal/README.md, twenty-first session).
        contrastive_weight: weight of an InfoNCE term on the predictions (0: none): each predicted latent
            must pick out its own target among the targets of every sequence and step in the batch, by
            squared distance. Why: VICReg is met by whatever few factors vary most (on `goal/push-t` the
            block's position and the pusher), and no term of the JEPA loss asks for the rest, such as the
            block's angle (an MLP reads it at R^2 0.1-0.25 from such latents, 0.91 from the same frames
            supervised). Telling apart frames of other episodes, where the block lies at every angle, and
            of the same window, where it has moved or turned a little, asks for everything that differs.
            Measured there (weight 1, temperature 0.1): the angle's MLP readout 0.41-0.48 against
            0.11-0.14 without; planning no better (0/10; benchmarks/results/goal/README.md, thirty-first
            session). The negatives are the local batch's (not gathered across processes).
        contrastive_temperature: the InfoNCE logits are minus the mean squared distance per dimension
            divided by this.
        glimpse: G > 0 adds a glimpse to a split latent's pixel part (`encoders.Glimpse`): the frame less
            its static background (the per-pixel median of training frames, fitted by `fit_background`;
            `train.offline` does so before the first update, online training does not, and an unfitted
            glimpse refuses to encode), a G x G crop of that around the foreground's centroid, and a small CNN on
            the crop to the pixel part's last `glimpse_dims` dimensions (the full-frame CNN gives the
            rest). Why: in a crop centred on an object its position is gone, so the anti-collapse term can
            only be met by what else varies there, its shape and orientation; on `goal/push-t-block` every
            pixel latent held the block's position and dropped its angle (MLP readout 0.0-0.48 against
            0.94 supervised from the same frames); with a 24 x 24 glimpse in 24 of 48 pixel dimensions
            the angle reads out at R^2 0.97-0.99 and the position at 0.99 (benchmarks/results/goal/README.md,
            thirty-fourth session). For a static camera and one moving object in the pixels; frame_stack 1.
            0: none.
        glimpse_dims: the pixel part's dimensions read from the glimpse (with `glimpse` > 0).
        moment_gain: M > 0 makes the glimpse's last `moment_dims` dimensions fixed features of the pixels instead
            of learned ones: the foreground's centroid and its orientations (`moment_orders`)
            (`encoders.Glimpse.moments`, in the frame's [-1, 1] units), times M. The predictor predicts them
            like any other dimension; the target is the same function of the next frame. Why: on push-t's
            calibration scenes they tell a block within success's tolerance (0.03 units, 15 degrees) of its
            goal at AUC 0.964, the learned goal energy at 0.90-0.93 (benchmarks/results/goal/README.md,
            forty-first session). M sets their share of the prediction loss (20: a spread like the learned
            dimensions'); the agent's `moment_weight` their share of the goal energy. Needs a glimpse with
            glimpse_dims > moment_dims and latent_norm=none (a normalisation would mix them with the learned ones).
            0: none.
        moment_orders: the orientations the moments hold after the centroid, two dimensions each
            (`moment_dims` in all): 3, the third-order moment's (precise, 1 degree rms on push-t's calibration
            scenes, but it repeats every 120 degrees: at a high moment weight blocks ended at the goal's
            place turned 100-160 degrees); 1, the first-order `sum w (x + iy)^2 (x - iy)`'s on the
            foreground's clipped weight (6 degrees rms, once per turn). With both, the goal energy's turn
            term `(1 - cos 3d) / 9 + (1 - cos d)` has no minimum but the goal's (`Glimpse.moments`).
        moment_prediction_weight: with `moment_gain`, the weight of the moments' dimensions in the latent
            prediction loss (the others weigh 1, the state part `state_prediction_weight`). Why: the goal energy
            weighs them 10 times the learned dimensions on push-t (the agent's `moment_weight`), while the loss
            gave them 15% of its error over 13 steps, and the turn's two pairs 8%: predicted 13 steps ahead,
            the turn's pairs kept 39-53% of their change as error, the centroid 6%, and the planner scored
            pushes that turn a block into its goal (in the simulator) far worse than standing still
            (benchmarks/results/goal/README.md, forty-eighth session). At 10, three trainings: 0.972 against 0.925
            success over the same 750 episodes, blocks left turned 4 against 27. 1: every dimension alike.
    """

    latent_dim: int = 64
    hidden_dim: int = 128
    mlp_layers: int = 2
    cnn_channels: int = 16
    cnn_depth: int = 2
    latent_norm: str = "layernorm"
    state_norm: str = "none"
    simnorm_group: int = 8
    frame_stack: int = 1
    history: int = 1
    residual: bool = True
    target: str = "ema"
    ema_tau: float = 0.01
    rho: float = 0.5
    prediction_weight: float = 1.0
    teacher_forcing: float = 0.0
    anti_collapse: str = "vicreg"
    anti_collapse_weight: float = 1.0
    vicreg_std_target: float = 0.5
    vicreg_cov_weight: float = 0.04
    sigreg_directions: int = 256
    sigreg_knots: int = 17
    sigreg_weight: float = 0.0
    inverse_dynamics: float = 0.0
    inverse_dims: int = 0
    smoothness: float = 0.0
    reward_head: bool = False
    reward_weight: float = 0.1
    termination_head: bool = False
    termination_weight: float = 1.0
    num_values: int = 0
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0
    probe_size: int = 0
    map_channels: int = 0
    map_predictor: str = "conv"
    map_hidden: int = 32
    state_latent: int = 0
    keypoints: int = 0
    state_split: tuple[int, ...] = ()
    change_weighted: bool = False
    state_prediction_weight: float = 1.0
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.1
    glimpse: int = 0
    glimpse_dims: int = 0
    moment_gain: float = 0.0
    moment_orders: tuple[int, ...] = (3,)
    moment_prediction_weight: float = 1.0

    @property
    def moment_dims(self) -> int:
        """How many of the glimpse's last dimensions are moments: the centroid's 2 and 2 per order; 0 without."""
        return 2 + 2 * len(self.moment_orders) if self.moment_gain else 0

    def __post_init__(self) -> None:
        choices = {
            "latent_norm": ("simnorm", "layernorm", "none"),
            "state_norm": ("none", "data"),
            "target": ("ema", "stopgrad"),
            "anti_collapse": ("vicreg", "sigreg", "none"),
            "map_predictor": ("conv", "mlp"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"world model {name}={getattr(self, name)!r}; choose one of {allowed}")
        if self.latent_norm == "simnorm" and self.latent_dim % self.simnorm_group:
            raise ValueError(f"latent_dim {self.latent_dim} must be a multiple of simnorm_group {self.simnorm_group}")
        if self.history < 1 or self.frame_stack < 1:
            raise ValueError("history and frame_stack must be >= 1")
        if not 0 <= self.inverse_dims <= self.latent_dim:
            raise ValueError(f"inverse_dims={self.inverse_dims} must be in [0, latent_dim={self.latent_dim}] (0 = all)")
        if self.map_channels < 0:
            raise ValueError(f"map_channels={self.map_channels} must be >= 0 (0: a vector latent)")
        if self.map_channels:
            side = map_side(self)
            if self.latent_dim != self.state_latent + self.map_channels * side * side:
                raise ValueError(
                    f"map_channels={self.map_channels} needs latent_dim = state_latent + map_channels * side * side "
                    f"(side: the encoder's output side), got latent_dim={self.latent_dim}"
                )
            if self.latent_norm == "simnorm":
                raise ValueError("map_channels needs latent_norm=layernorm or none (SimNorm groups are not locations)")
        if not 0 <= self.state_latent < self.latent_dim:
            raise ValueError(f"state_latent={self.state_latent} must be in [0, latent_dim={self.latent_dim}); 0 fuses")
        if self.state_latent and self.map_channels and self.map_predictor != "mlp":
            raise ValueError(
                "state_latent with a map latent needs map_predictor=mlp (the convolutional predictor sees the map only)"
            )
        if self.state_latent and self.latent_norm == "simnorm" and self.state_latent % self.simnorm_group:
            raise ValueError(f"state_latent={self.state_latent} must be a multiple of simnorm_group")
        # From hydra or a saved checkpoint the indices come as a list: keep the config hashable and typed.
        object.__setattr__(self, "state_split", tuple(int(i) for i in self.state_split))
        if self.state_split and (
            not self.state_latent
            or self.map_channels
            or self.keypoints
            or min(self.state_split) < 0
            or len(set(self.state_split)) != len(self.state_split)
        ):
            raise ValueError(
                f"state_split={list(self.state_split)} names distinct state entries (>= 0) for the latent's "
                f"state_latent leading dimensions: it needs state_latent > 0 (got {self.state_latent}) and a vector "
                "latent (map_channels=0, keypoints=0)"
            )
        if self.state_prediction_weight < 0 or (self.state_prediction_weight != 1.0 and not self.state_latent):
            raise ValueError(
                f"state_prediction_weight={self.state_prediction_weight} weighs the state part of a split latent: "
                "it needs state_latent > 0 and must be >= 0"
            )
        if self.keypoints < 0 or (self.keypoints and self.map_channels):
            raise ValueError(f"keypoints={self.keypoints} must be >= 0, and 0 with a map latent (map_channels > 0)")
        if self.sigreg_weight < 0 or (self.sigreg_weight and self.anti_collapse != "vicreg"):
            raise ValueError(
                f"sigreg_weight={self.sigreg_weight} adds SIGReg beside anti_collapse=vicreg only (got "
                f"anti_collapse={self.anti_collapse!r}); for SIGReg alone set anti_collapse=sigreg and its weight"
            )
        if self.contrastive_weight < 0 or self.contrastive_temperature <= 0:
            raise ValueError(
                f"contrastive_weight={self.contrastive_weight} must be >= 0 (0: none) and "
                f"contrastive_temperature={self.contrastive_temperature} > 0"
            )
        if self.glimpse or self.glimpse_dims:
            self._check_glimpse()
        object.__setattr__(self, "moment_orders", tuple(int(n) for n in self.moment_orders))
        orders = self.moment_orders
        if not orders or len(set(orders)) != len(orders) or not set(orders) <= {1, 3}:
            raise ValueError(f"moment_orders={list(orders)} names distinct orientation orders among 1 and 3")
        m = 2 + 2 * len(orders)
        if self.moment_gain < 0 or (self.moment_gain and (not self.glimpse or self.glimpse_dims <= m)):
            raise ValueError(
                f"moment_gain={self.moment_gain}: the moments (M >= 0; 0 none) take the last {m} of a glimpse's "
                f"dimensions (moment_orders={list(orders)}): set glimpse > 0 and glimpse_dims > {m} (got "
                f"glimpse={self.glimpse}, glimpse_dims={self.glimpse_dims})"
            )
        if self.moment_gain and self.latent_norm != "none":
            raise ValueError(
                f"moment_gain={self.moment_gain} with latent_norm={self.latent_norm!r}: the moments are fixed "
                "features a normalisation would mix with the learned ones; set latent_norm=none"
            )
        if self.moment_prediction_weight < 0 or (self.moment_prediction_weight != 1.0 and not self.moment_gain):
            raise ValueError(
                f"moment_prediction_weight={self.moment_prediction_weight} weighs the glimpse's moments in the "
                "prediction loss: it needs moment_gain > 0 and must be >= 0"
            )
        if self.history > 1 and self.teacher_forcing > 0:
            raise ValueError("teacher_forcing needs history=1 (a one-step loss has no history to condition on)")

    def _check_glimpse(self) -> None:
        pixel_dims = self.latent_dim - self.state_latent
        if (
            self.glimpse < 4
            or not self.state_latent
            or not 0 < self.glimpse_dims < pixel_dims
            or self.map_channels
            or self.keypoints
            or self.state_split
            or self.frame_stack != 1
        ):
            raise ValueError(
                f"glimpse={self.glimpse}, glimpse_dims={self.glimpse_dims}: a glimpse is a crop side >= 4 pixels "
                f"whose features take 0 < glimpse_dims < latent_dim - state_latent (= {pixel_dims}) dimensions of "
                "a split state+pixels vector latent: it needs state_latent > 0, map_channels=0, keypoints=0, "
                "no state_split and frame_stack=1"
            )


PRESETS: dict[str, dict] = {
    "tiny": dict(latent_dim=16, hidden_dim=32, mlp_layers=1, cnn_channels=4, cnn_depth=1, num_bins=21),
    "default": {},
    "large": dict(latent_dim=512, hidden_dim=1024, cnn_channels=32, cnn_depth=3),
    "medium": dict(latent_dim=128, hidden_dim=256),
}


def preset(name: str, **overrides) -> WorldModelConfig:
    """A preset config with overrides, e.g. `preset("tiny", anti_collapse="sigreg")`."""
    if name not in PRESETS:
        raise ValueError(f"unknown world model size {name!r}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(WorldModelConfig(**PRESETS[name]), **overrides)


def map_side(cfg: WorldModelConfig) -> int:
    """Side of the latent feature map (0 for a vector latent)."""
    return math.isqrt((cfg.latent_dim - cfg.state_latent) // cfg.map_channels) if cfg.map_channels else 0
