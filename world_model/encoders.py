"""Perception encoders: observations (dict of tensors) -> latent z `(B, D)`.

Observation keys and shapes (batch first):
    "state":  float32 `(B, S)`
    "pixels": uint8   `(B, 3 * frame_stack, H, W)`, normalised inside (H = W = 64 by default; 84 and
              96 work too: the flattened size is measured at construction)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from world_model.config import WorldModelConfig
from world_model.layers import latent_norm, mlp

# With `state_norm=data`: the smallest standard deviation a state dimension is divided by, and the bound
# on standardised values (a dimension nearly constant in the seed data must not blow up when it moves).
STATE_STD_FLOOR = 1e-2
STATE_CLIP = 10.0


def _stem(in_channels: int, channels: int) -> list[nn.Module]:
    """The 4x4 stride-4 "patchify" convolution every pixel CNN here starts with, and its activation."""
    return [nn.Conv2d(in_channels, channels, 4, stride=4), nn.ReLU()]


def _centred(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [-0.5, 0.5]."""
    return pixels.float().div_(255.0).sub_(0.5)


class PixelTrunk(nn.Module):
    """A lean CNN: a 4x4 stride-4 "patchify" stem, then `depth` 3x3 stride-2 convolutions.

    The stem cuts the resolution 4x in one cheap layer, which is what keeps a 64x64 update within a
    CPU budget; the stride-2 layers then mix neighbouring patches.
    """

    def __init__(self, in_channels: int, size: int, channels: int, depth: int, *, flatten: bool = True):
        super().__init__()
        layers = _stem(in_channels, channels)
        c = channels
        for i in range(depth):
            out = channels * 2 if i == 0 else c
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.ReLU()]
            c = out
        if flatten:
            layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            out = self.net(torch.zeros(1, in_channels, size, size))
        self.out_dim, self.out_channels, self.out_side = out[0].numel(), c, out.shape[-1]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` uint8 -> features `(B, out_dim)`, or `(B, out_channels, s, s)` unflattened."""
        return self.net(_centred(pixels))


class KeypointTrunk(nn.Module):
    """A CNN that ends in K spatial-softmax keypoints (Levine et al., 2016): image coordinates, not features.

    The 4x4 stride-4 stem of `PixelTrunk`, then `depth` 3x3 stride-1 convolutions that keep its resolution
    (16x16 for 64x64 pixels), then a 1x1 convolution to K maps; each map's softmax over the locations (with
    a learned temperature) weighs the location grid into one (x, y) point in [-1, 1]^2. Why: a latent read
    from these points holds where things are, and rank beyond an object's position can only come from
    points on different parts of it, so a rigid body's orientation (push-t's T) is what the anti-collapse
    term's pressure for rank buys, where a flattened feature map can fill its rank with functions of
    positions alone.
    """

    def __init__(self, in_channels: int, size: int, channels: int, depth: int, keypoints: int):
        super().__init__()
        layers = _stem(in_channels, channels)
        for _ in range(depth):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(channels, keypoints, 1))
        self.net = nn.Sequential(*layers)
        side = size // 4
        grid = torch.linspace(-1.0, 1.0, side)
        # (side * side, 2): each location's (x, y), row-major like the flattened map.
        self.register_buffer("grid", torch.stack(torch.meshgrid(grid, grid, indexing="xy"), -1).reshape(-1, 2))
        self.log_temperature = nn.Parameter(torch.zeros(()))
        self.out_dim, self.keypoints = 2 * keypoints, keypoints

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` uint8 -> keypoints `(B, 2K)`: (x, y) of each keypoint in [-1, 1], keypoint-major."""
        maps = self.net(_centred(pixels)).flatten(2)  # (B, K, side * side)
        weights = torch.softmax(maps * self.log_temperature.exp(), dim=-1)
        return (weights @ self.grid).flatten(1)  # (B, K, 2) -> (B, 2K)


# A pixel belongs to the foreground when its channels' absolute differences from the background (0-1 scale)
# sum to more than this: above rendering's noise (none: MuJoCo renders a static scene identically), below
# any object's contrast against the floor (push-t's pale T on a pale floor: 0.27-0.71, its dark marks 2.6).
FOREGROUND_THRESHOLD = 0.03
# The glimpse's difference image is scaled by this before its CNN: a pale object differs from a pale floor
# by 0.05-0.2 per channel, and the CNN's initialisation expects inputs of order 1.
GLIMPSE_GAIN = 4.0
# The first-order orientation (`Glimpse.moments`, order 1) is measured on the foreground's weight clipped at
# this: push-t's dark marks differ from the floor by up to 2.6 against the pale T's 0.27-0.71, and on the raw
# weight the faint first-order asymmetry is the marks', not the shape's (36 degrees rms on the calibration
# scenes against 6 clipped at 0.2; 0.1 and 0.3 give 6.4 and 7.8, unclipped 0.6 31).
SHAPE_CLIP = 0.2


class Glimpse(nn.Module):
    """Where and what: the frame less its static background, cropped around the foreground's centroid.

    The background `(3, H, W)` is a buffer fitted from training frames (`fit_background`: the per-pixel
    median, which a moving object covers in a minority of frames). The foreground's weight at each pixel is
    how far it is from the background; its weighted centroid places a `side` x `side` crop of the
    difference image (bilinear, zeros outside the frame), which a `PixelTrunk`-like CNN turns into
    `out_dim` features. The centroid takes no gradient: it is a fixed function of the pixels.
    """

    def __init__(self, size: int, side: int, channels: int, depth: int, orders: tuple[int, ...] = (3,)):
        super().__init__()
        self.size, self.side, self.orders = size, side, tuple(orders)
        self.register_buffer("background", torch.zeros(3, size, size))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.trunk = PixelTrunk(3, side, channels, depth)
        # Pixel centres in grid_sample's [-1, 1] coordinates (align_corners=False).
        self.register_buffer("coords", (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1, persistent=False)
        self.out_dim = self.trunk.out_dim

    @torch.no_grad()
    def fit_background(self, frames: torch.Tensor) -> None:
        """Set the background to the per-pixel median of `frames` `(N, 3, H, W)` uint8."""
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (3, self.size, self.size) or len(frames) < 3:
            raise ValueError(f"frames must be (N >= 3, 3, {self.size}, {self.size}), got {tuple(frames.shape)}")
        self.background.copy_(frames.to(self.background.device).float().div(255.0).median(dim=0).values)
        self.fitted.fill_(True)

    def _foreground(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(B, 3, H, W)` uint8 -> the difference image `(B, 3, H, W)`, the foreground weight `(B, H, W)`, its
        total `(B,)` and centroid `(B, 2)` (x, y in [-1, 1]; the frame's centre when nothing differs)."""
        if not bool(self.fitted):
            raise RuntimeError("the glimpse's background is not fitted: call fit_background(frames) before use")
        diff = pixels.float().div(255.0) - self.background  # (B, 3, H, W)
        weight = (diff.abs().sum(1) - FOREGROUND_THRESHOLD).clamp_min(0.0)  # (B, H, W)
        mass = weight.sum((1, 2)).clamp_min(1e-6)
        return diff, weight, mass, self._centroid(weight / mass[:, None, None])

    def crop(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, 3, H, W)` uint8 -> the foreground crop `(B, 3, side, side)` in [-1, 1] and the centroid `(B, 2)`
        (x, y in [-1, 1]; the frame's centre when nothing differs from the background)."""
        return self._crop(*self._foreground(pixels))

    def _crop(self, diff, weight, mass, centre) -> tuple[torch.Tensor, torch.Tensor]:
        """`crop` from the foreground `_foreground` gives."""
        scale = self.side / self.size
        theta = torch.zeros(len(diff), 2, 3, device=diff.device)
        theta[:, 0, 0] = theta[:, 1, 1] = scale
        theta[:, :, 2] = centre
        grid = F.affine_grid(theta, [len(diff), 3, self.side, self.side], align_corners=False)
        return F.grid_sample(diff, grid, align_corners=False), centre

    def moments(self, pixels: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W)` uint8 -> `(B, 2 + 2 * len(orders))`: the foreground's centroid (x, y), then per order
        `n` of `orders` its orientation `r / n * (cos na, sin na)`, all in the frame's [-1, 1] coordinates, with
        `r` the radius of gyration and `na` the phase of a complex moment about the centroid that turns `n`
        times as fast as the object: for 3, `sum w (x + iy)^3`; for 1, `sum w (x + iy)^2 (x - iy)` on the weight
        clipped at `SHAPE_CLIP` (about that weight's own centroid).

        Why: these pin an object's pose to a fraction of a pixel where learned features blur it. Turning the
        object by `d` moves each pair by `r * d` near the goal, the arc its mass sweeps: a move and a turn are
        measured in the same units. Not the second order: a T's second moments are nearly isotropic (13
        degrees rms off on push-t's calibration scenes). The third order gives the block's turn within 1
        degree rms, but repeats every 120 degrees; the first order, 6 degrees rms, tells those turns apart."""
        return self._moments(*self._foreground(pixels))

    def _moments(self, diff, weight, mass, centre) -> torch.Tensor:
        """`moments` from the foreground `_foreground` gives."""
        x, y = self._about(centre)
        w = weight / mass[:, None, None]  # (B, H, W), sums to 1
        radius = (w * (x * x + y * y)).sum((1, 2)).sqrt()  # (B,)
        parts = [centre]
        for order in self.orders:
            if order == 3:  # (x + iy)^3 = x^3 - 3xy^2 + i(3x^2y - y^3)
                real = (w * (x.pow(3) - 3 * x * y * y)).sum((1, 2))
                imag = (w * (3 * x * x * y - y.pow(3))).sum((1, 2))
            else:  # (x + iy)^2 (x - iy) = (x^2 + y^2)(x + iy), on the clipped weight about its own centroid
                shape = weight.clamp(max=SHAPE_CLIP)
                shape = shape / shape.sum((1, 2)).clamp_min(1e-6)[:, None, None]
                sx, sy = self._about(self._centroid(shape))
                shape = shape * (sx * sx + sy * sy)  # (B, H, W)
                real, imag = (shape * sx).sum((1, 2)), (shape * sy).sum((1, 2))
            size = torch.sqrt(real * real + imag * imag).clamp_min(1e-12)
            parts.append(torch.stack([real, imag], -1) / size[:, None] * (radius / order)[:, None])  # (B, 2)
        return torch.cat(parts, -1)

    def _centroid(self, weight: torch.Tensor) -> torch.Tensor:
        """`(B, H, W)` weights summing to 1 -> their centroid `(B, 2)`, x and y."""
        return torch.stack([(weight.sum(1) * self.coords).sum(1), (weight.sum(2) * self.coords).sum(1)], -1)

    def _about(self, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel coordinates about `centre` `(B, 2)`: x `(B, 1, W)` and y `(B, H, 1)`."""
        x = self.coords[None, None, :] - centre[:, 0, None, None]
        return x, self.coords[None, :, None] - centre[:, 1, None, None]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W)` uint8 -> features `(B, out_dim)` of the crop around the foreground."""
        return self.trunk.net(self.crop(pixels)[0] * GLIMPSE_GAIN)

    def features_and_moments(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` and `moments` together, `(B, out_dim)` and `(B, 2 + 2 * len(orders))`, from one background
        subtraction."""
        foreground = self._foreground(pixels)
        return self.trunk.net(self._crop(*foreground)[0] * GLIMPSE_GAIN), self._moments(*foreground)


def pixel_trunk(channels_in: int, size: int, cfg: WorldModelConfig) -> nn.Module:
    """The flattening pixel CNN that `cfg` asks for: keypoints when `cfg.keypoints` > 0, else `PixelTrunk`."""
    if cfg.keypoints:
        return KeypointTrunk(channels_in, size, cfg.cnn_channels, cfg.cnn_depth, cfg.keypoints)
    return PixelTrunk(channels_in, size, cfg.cnn_channels, cfg.cnn_depth)


class Encoder(nn.Module):
    """State MLP, pixel CNN or both fused, then a linear map to the latent and its normalisation.

    With `cfg.map_channels` C > 0 (pixels only) the latent is the CNN's feature map instead: a 1x1
    convolution to C channels, flattened location-major to `(B, s * s * C)` (row by row, each location's
    C channels together: the channels-last layout the predictor's convolutions run fastest in), each
    location normalised on its own when `latent_norm="layernorm"`. With `cfg.state_latent` k > 0 (state and
    pixels) the state's features get their own head to the latent's k leading dimensions and the pixels'
    the rest (a vector, or the feature map with `map_channels`), each part normalised on its own (with
    `cfg.moment_gain`, a glimpse's last `cfg.moment_dims` dimensions are its fixed moments, after the
    normalisation). With `cfg.state_split` (state only) the named state entries make the k leading
    dimensions and the other entries the rest, the same way.

    Args:
        obs_shapes: `{"state": (S,), "pixels": (3, H, W)}`, either key or both.
        cfg: the world model config.
    """

    def __init__(self, obs_shapes: dict[str, tuple[int, ...]], cfg: WorldModelConfig):
        super().__init__()
        unknown = set(obs_shapes) - {"state", "pixels"}
        if unknown or not obs_shapes:
            raise ValueError(f"observation keys must be 'state' and/or 'pixels', got {sorted(obs_shapes)}")
        self.keys = tuple(sorted(obs_shapes))
        if cfg.keypoints and "pixels" not in obs_shapes:
            raise ValueError(f"keypoints={cfg.keypoints} needs pixel observations, got {sorted(obs_shapes)}")
        self.map_channels, self.split, self.state_split = cfg.map_channels, cfg.state_latent, bool(cfg.state_split)
        self.state_norm = cfg.state_norm == "data"
        if self.state_norm:
            if "state" not in obs_shapes:
                raise ValueError(
                    f"state_norm=data standardises state observations, but the inputs are {sorted(obs_shapes)}: "
                    "set state_norm=none for pixels alone"
                )
            # Saved with the model; `fit_state_norm` sets them from data before training.
            self.register_buffer("state_shift", torch.zeros(obs_shapes["state"][0]))
            self.register_buffer("state_scale", torch.ones(obs_shapes["state"][0]))
        if cfg.map_channels:
            self._build_map(obs_shapes, cfg)
            return
        if cfg.state_split:
            self._build_state_split(obs_shapes, cfg)
            return
        if cfg.state_latent:
            self._build_split(obs_shapes, cfg)
            return
        features = self._build_parts(obs_shapes, cfg)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(features, cfg.latent_dim))
        self.norm = latent_norm(cfg.latent_norm, cfg.latent_dim, cfg.simnorm_group)

    def _build_parts(self, obs_shapes: dict[str, tuple[int, ...]], cfg: WorldModelConfig) -> int:
        """The state MLP and/or the pixel CNN; returns their features' total width."""
        features = 0
        if "state" in obs_shapes:
            self.state_net = _state_net(obs_shapes["state"][0], cfg)
            features += cfg.hidden_dim
        if "pixels" in obs_shapes:
            c, h, w = obs_shapes["pixels"]
            if h != w:
                raise ValueError(f"pixel observations must be square, got {h}x{w}")
            self.pixel_net = pixel_trunk(c * cfg.frame_stack, h, cfg)
            features += self.pixel_net.out_dim
        return features

    def _build_split(self, obs_shapes: dict[str, tuple[int, ...]], cfg: WorldModelConfig) -> None:
        if self.keys != ("pixels", "state"):
            keys = list(self.keys)
            raise ValueError(f"state_latent={cfg.state_latent} needs state and pixel observations, got {keys}")
        self._build_parts(obs_shapes, cfg)
        k = cfg.state_latent
        self.state_head = _state_head(cfg)
        # Linear on keypoints: the pixel part is an affine image of the points, so its rank is the points'.
        # Points on a rigid body span its x, y, cos and sin of its angle at most, so the anti-collapse term's
        # pull for rank beyond positions is met by points on different parts of it (an orientation).
        act = nn.Identity() if cfg.keypoints else nn.SiLU()
        g = cfg.glimpse_dims
        self.head = nn.Sequential(act, nn.Linear(self.pixel_net.out_dim, cfg.latent_dim - k - g))
        self.moment_gain = cfg.moment_gain
        if cfg.glimpse:
            self.glimpse = Glimpse(obs_shapes["pixels"][1], cfg.glimpse, cfg.cnn_channels, 1, cfg.moment_orders)
            learned = g - cfg.moment_dims  # the moments take the glimpse's last dimensions
            self.glimpse_head = nn.Sequential(nn.SiLU(), nn.Linear(self.glimpse.out_dim, learned))
        self.norm = latent_norm(cfg.latent_norm, cfg.latent_dim, cfg.simnorm_group, split=k)

    def _build_state_split(self, obs_shapes: dict[str, tuple[int, ...]], cfg: WorldModelConfig) -> None:
        """State inputs split in two: the entries `cfg.state_split` through their own MLP and head to the
        latent's `state_latent` leading dimensions, the other entries through another to the rest."""
        if self.keys != ("state",):
            raise ValueError(f"state_split needs state observations only, got {list(self.keys)}")
        dim = obs_shapes["state"][0]
        picked = list(cfg.state_split)
        if max(picked) >= dim or len(picked) >= dim:
            raise ValueError(
                f"state_split={picked} must name some, not all, of the {dim} state entries (indices 0-{dim - 1})"
            )
        self.register_buffer("part_index", torch.tensor(picked), persistent=False)
        self.register_buffer("rest_index", torch.tensor([i for i in range(dim) if i not in picked]), persistent=False)
        self.state_net = _state_net(len(picked), cfg)
        self.state_head = _state_head(cfg)
        self.rest_net = _state_net(dim - len(picked), cfg)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden_dim, cfg.latent_dim - cfg.state_latent))
        self.norm = latent_norm(cfg.latent_norm, cfg.latent_dim, cfg.simnorm_group, split=cfg.state_latent)

    def _build_map(self, obs_shapes: dict[str, tuple[int, ...]], cfg: WorldModelConfig) -> None:
        k = cfg.state_latent
        if self.keys != (("pixels", "state") if k else ("pixels",)):
            wanted = "state and pixel observations" if k else "pixel observations only"
            keys = list(self.keys)
            raise ValueError(f"map_channels={cfg.map_channels} with state_latent={k} needs {wanted}, got {keys}")
        c, h, w = obs_shapes["pixels"]
        if h != w:
            raise ValueError(f"pixel observations must be square, got {h}x{w}")
        self.pixel_net = PixelTrunk(c * cfg.frame_stack, h, cfg.cnn_channels, cfg.cnn_depth, flatten=False)
        side = self.pixel_net.out_side
        want = k + cfg.map_channels * side * side
        if cfg.latent_dim != want:
            raise ValueError(
                f"{h}x{w} pixels with cnn_depth={cfg.cnn_depth} give a {side}x{side} map: set latent_dim="
                f"{want} (state_latent + map_channels * {side * side}), got {cfg.latent_dim}"
            )
        if k:
            self.state_net = _state_net(obs_shapes["state"][0], cfg)
            self.state_head = _state_head(cfg)
        self.head = nn.Sequential(nn.SiLU(), nn.Conv2d(self.pixel_net.out_channels, cfg.map_channels, 1))
        self.norm = latent_norm(cfg.latent_norm, cfg.latent_dim, cfg.simnorm_group, cfg.map_channels, k)

    @torch.no_grad()
    def fit_state_norm(self, states: torch.Tensor) -> None:
        """Standardise state inputs by the mean and standard deviation of `states` `(N, S)` from now on
        (`cfg.state_norm="data"`). A dimension that barely varies in `states` (std < STATE_STD_FLOOR) is
        divided by the floor instead: a constant of the seed data may vary later."""
        if not self.state_norm:
            raise ValueError("fit_state_norm needs a model built with state_norm=data")
        if states.ndim != 2 or states.shape[1] != self.state_shift.shape[0] or len(states) < 2:
            raise ValueError(f"states must be (N >= 2, {self.state_shift.shape[0]}), got {tuple(states.shape)}")
        states = states.to(self.state_shift)
        self.state_shift.copy_(states.mean(0))
        self.state_scale.copy_(states.std(0).clamp_min(STATE_STD_FLOOR))

    def fit_background(self, frames: torch.Tensor) -> None:
        """With `cfg.glimpse`: set the glimpse's static background from `frames` `(N, 3, H, W)` uint8."""
        if not hasattr(self, "glimpse"):
            raise ValueError("fit_background needs a model built with glimpse > 0")
        self.glimpse.fit_background(frames)

    def _state(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The state `(B, S)` the state MLP reads: standardised and clipped to +-STATE_CLIP with `state_norm`."""
        if not self.state_norm:
            return obs["state"]
        return ((obs["state"] - self.state_shift) / self.state_scale).clamp(-STATE_CLIP, STATE_CLIP)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """obs (see module docstring) -> z `(B, D)`."""
        if self.map_channels:
            maps = self.head(self.pixel_net(obs["pixels"]))  # (B, C, s, s)
            z = maps.permute(0, 2, 3, 1).flatten(1)  # (B, s * s * C), location-major
            if self.split:
                z = torch.cat([self._state_part(obs), z], dim=-1)  # (B, k + s * s * C)
            return self.norm(z)
        if self.state_split:
            state = self._state(obs)  # (B, S)
            part = self.state_head(self.state_net(state.index_select(-1, self.part_index)))  # (B, k)
            rest = self.head(self.rest_net(state.index_select(-1, self.rest_index)))  # (B, D - k)
            return self.norm(torch.cat([part, rest], dim=-1))
        if self.split:
            parts = [self._state_part(obs), self.head(self.pixel_net(obs["pixels"]))]
            moments = None
            if self.moment_gain:  # one background subtraction for the crop and the moments
                features, moments = self.glimpse.features_and_moments(obs["pixels"])
                parts.append(self.glimpse_head(features))
            elif hasattr(self, "glimpse"):
                parts.append(self.glimpse_head(self.glimpse(obs["pixels"])))
            z = self.norm(torch.cat(parts, dim=-1))
            if moments is not None:  # fixed features of the pixels: nothing to normalise or learn
                z = torch.cat([z, self.moment_gain * moments], dim=-1)  # (B, D)
            return z
        parts = []
        if "state" in self.keys:
            parts.append(self.state_net(self._state(obs)))
        if "pixels" in self.keys:
            parts.append(self.pixel_net(obs["pixels"]))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return self.norm(self.head(x))

    def _state_part(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """A split latent's state part before normalisation: `(B, S)` state -> `(B, k)`."""
        return self.state_head(self.state_net(self._state(obs)))


def _state_net(state_dim: int, cfg: WorldModelConfig) -> nn.Module:
    """The state MLP: `(B, S)` -> features `(B, hidden_dim)`."""
    return mlp(state_dim, cfg.hidden_dim, cfg.hidden_dim, cfg.mlp_layers - 1)


def _state_head(cfg: WorldModelConfig) -> nn.Module:
    """The state features' own head to a split latent's `cfg.state_latent` leading dimensions."""
    return nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden_dim, cfg.state_latent))


def stack_frames(pixels: torch.Tensor, k: int) -> torch.Tensor:
    """Stack each frame with its `k-1` predecessors as channels (the first frame is repeated).

    Args:
        pixels: `(T, B, 3, H, W)`.

    Returns:
        `(T, B, 3k, H, W)`, oldest frame first.
    """
    if k == 1:
        return pixels
    padded = torch.cat([pixels[:1].expand(k - 1, *pixels.shape[1:]), pixels], dim=0)  # (T+k-1, B, 3, H, W)
    return torch.cat([padded[i : i + pixels.shape[0]] for i in range(k)], dim=2)
