"""The networks: the paper's Q-network, the contrastive auto-encoder, and input casting.

Every network takes the environment's raw ``uint8`` observations, shape [B, H, W, C]
(see `shield.envs`), and casts them itself, so replay buffers keep ``uint8``.

- pixels (84×84×3): scaled to [0, 1], channels first.
- symbolic (S×S×3, S = 9 but for the 11×11 tasks): object type one-hot (11) and
  state/direction one-hot (4), channels first: 15×S×S. Colour carries no extra
  information in the lava tasks.

The symbolic networks are built for one frame side S (`side`, default 9, the paper's
grid; `shield.envs.grid_side`): smaller grids arrive padded to 9×9, so one network serves
every task up to 9×9, and an 11×11 task needs networks of its own.
"""

from __future__ import annotations

import torch
from torch import nn

from shield.envs import FRAME, NUM_ACTIONS, check_obs_kind

LATENT_DIM = 50
_NUM_OBJECTS = 11
_NUM_STATES = 4
SYMBOLIC_CHANNELS = _NUM_OBJECTS + _NUM_STATES


def prepare_obs(obs: torch.Tensor, obs_kind: str) -> torch.Tensor:
    """uint8 [B, H, W, C] → float32 [B, C', H, W] (see module docstring)."""
    if obs_kind == "pixels":
        return obs.permute(0, 3, 1, 2).float().div_(255.0)
    # One scatter into the float output: a third of the time of one_hot + cat + float.
    objects = obs[..., 0].long().clamp_(0, _NUM_OBJECTS - 1)  # [B, H, W]
    states = obs[..., 2].long().clamp_(0, _NUM_STATES - 1).add_(_NUM_OBJECTS)
    out = torch.zeros(obs.shape[0], SYMBOLIC_CHANNELS, *obs.shape[1:3], device=obs.device)
    return out.scatter_(1, torch.stack([objects, states], dim=1), 1.0)


class QTorso(nn.Module):
    """Feature extractor of the Q-network: uint8 obs [B, H, W, C] → features [B, out_dim].

    pixels: the Nature-DQN CNN (32 8×8/4, 64 4×4/2, 64 3×3/1, "valid" padding, ReLU,
    dense 512), as in the paper. symbolic: the grid's constant wall border cropped
    (S×S → (S-2)×(S-2)), two 3×3 convolutions (16, 32) and dense 128: 45K parameters at
    S = 9, small so that a trial on one CPU core (as Ray gives it) updates a batch of 128
    in ~15 ms.
    """

    ARCHITECTURE = {"pixels": "nature-cnn", "symbolic": "crop7-conv16-conv32-dense128"}

    def __init__(self, obs_kind: str, side: int = FRAME):
        super().__init__()
        check_obs_kind(obs_kind)
        self.obs_kind = obs_kind
        self.side = side
        inner = side - 6  # cropped by 2, then two valid 3×3 convolutions
        if obs_kind == "pixels":
            self.net = nn.Sequential(
                nn.Conv2d(3, 32, 8, stride=4),
                nn.ReLU(),
                nn.Conv2d(32, 64, 4, stride=2),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(64 * 7 * 7, 512),
                nn.ReLU(),
            )
            self.out_dim = 512
        else:
            self.net = nn.Sequential(
                nn.Conv2d(SYMBOLIC_CHANNELS, 16, 3),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(32 * inner * inner, 128),
                nn.ReLU(),
            )
            self.out_dim = 128

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.obs_kind == "symbolic":
            obs = obs[:, 1:-1, 1:-1]  # the outer ring is always wall in the crossing grids
        return self.net(prepare_obs(obs, self.obs_kind))


class QNetwork(nn.Module):
    """uint8 obs [B, H, W, C] → Q-values [B, num_actions]. Also the prior Q_p."""

    def __init__(self, obs_kind: str, num_actions: int = NUM_ACTIONS, side: int = FRAME):
        super().__init__()
        self.torso = QTorso(obs_kind, side)
        self.side = side
        self.head = nn.Linear(self.torso.out_dim, num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))


def _conv_stack(in_channels: int, padding: int) -> nn.Sequential:
    """4 convolutions, 32 filters 3×3, the first with stride 2 (the paper's encoder)."""
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [
            nn.Conv2d(in_channels if i == 0 else 32, 32, 3, stride=2 if i == 0 else 1, padding=padding),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


def _feature_side(obs_kind: str, side: int) -> tuple[int, int, int]:
    """(input channels, padding, side of the feature map) of the encoder's convolutions."""
    if obs_kind == "pixels":
        return 3, 0, 35
    return SYMBOLIC_CHANNELS, 1, (side + 1) // 2  # the stride-2 convolution, padding 1


class Encoder(nn.Module):
    """Contrastive encoder f_θ: uint8 obs [B, H, W, C] → latent z [B, latent_dim].

    pixels: "valid" convolutions 84→41→39→37→35; symbolic: padding 1, S→⌈S/2⌉ (9→5→5→5→5).
    """

    def __init__(self, obs_kind: str, latent_dim: int = LATENT_DIM, side: int = FRAME):
        super().__init__()
        check_obs_kind(obs_kind)
        self.obs_kind = obs_kind
        self.latent_dim = latent_dim
        self.side = side
        in_channels, padding, inner = _feature_side(obs_kind, side)
        self.feature_shape = (32, inner, inner)
        self.convs = _conv_stack(in_channels, padding)
        self.fc = nn.Linear(32 * inner * inner, latent_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(prepare_obs(obs, self.obs_kind)).flatten(1))


class Decoder(nn.Module):
    """g_φ: latent [B, latent_dim] → reconstruction of `prepare_obs(obs)` [B, C', H, W]."""

    def __init__(self, obs_kind: str, latent_dim: int = LATENT_DIM, side: int = FRAME):
        super().__init__()
        check_obs_kind(obs_kind)
        pixels = obs_kind == "pixels"
        out_channels, padding, inner = _feature_side(obs_kind, side)
        self.feature_shape = (32, inner, inner)
        self.fc = nn.Linear(latent_dim, 32 * inner * inner)
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [nn.ConvTranspose2d(32, 32, 3, padding=padding), nn.ReLU()]
        # the last, stride-2 transpose gives 83 px (pixels) or 2·inner − 1 cells (symbolic):
        # output_padding makes up the input's side
        extra = 1 if pixels else side - (2 * inner - 1)
        layers.append(nn.ConvTranspose2d(32, out_channels, 3, stride=2, padding=padding, output_padding=extra))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(torch.relu(self.fc(z)).view(-1, *self.feature_shape))


class AutoEncoder(nn.Module):
    """Encoder f_θ and decoder g_φ trained together (reconstruction + contrastive loss)."""

    def __init__(self, obs_kind: str, latent_dim: int = LATENT_DIM, side: int = FRAME):
        super().__init__()
        self.encoder = Encoder(obs_kind, latent_dim, side)
        self.decoder = Decoder(obs_kind, latent_dim, side)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (latent [B, latent_dim], reconstruction [B, C', H, W])."""
        z = self.encoder(obs)
        return z, self.decoder(z)
