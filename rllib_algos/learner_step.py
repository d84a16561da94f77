"""One double-DQN update on an RLlib Learner, without the Learner's per-update bookkeeping.

`LearnerGroup.update` converts the batch, routes the loss through the metrics logger and
reduces every metric of every update. On the symbolic network that bookkeeping costs
about as much as the update itself (an update takes 27 ms through RLlib against 15 ms in
a plain PyTorch loop, one core). `dqn_update` computes the same loss as RLlib's DQN
learner for non-distributional n-step Q-learning (the paper's loss: Huber or squared TD error
weighted by the importance weights; double Q: the target network evaluated at the online
network's argmax), clips the gradients' global norm at ``grad_clip``, steps the Learner's
own optimizer and lets the Learner sync its target network and learning rate
(`Learner.after_gradient_based_update`). The Learner's module and optimizer stay the
ones RLlib checkpoints and syncs to the EnvRunners; `copy_weights` is that sync for an
EnvRunner in the Learner's process.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME


def dqn_update(learner: Learner, batch: dict[str, np.ndarray], env_steps: int) -> tuple[np.ndarray, float]:
    """One gradient step of `learner`'s DQN module on `batch`.

    Args:
        learner: a local RLlib Learner of a DQN config (``num_atoms`` 1).
        batch: ``obs``, ``next_obs`` (uint8 [B, ...]), ``actions`` [B], ``rewards`` [B]
            (discounted sums over the steps a transition spans), ``terminateds`` [B] (bool),
            ``weights`` [B] (importance weights) and optionally ``n_steps`` [B] (steps each
            transition spans: the bootstrap is discounted by γ^n_steps; default 1).
        env_steps: environment steps sampled so far (target-network and lr schedules).

    Returns:
        (|TD error| [B] for the replay priorities, the loss).
    """
    module = learner.module[DEFAULT_MODULE_ID].unwrapped()
    config = learner.config.get_config_for_module(DEFAULT_MODULE_ID)
    device = next(module.parameters()).device
    t = {key: torch.from_numpy(np.asarray(value)).to(device) for key, value in batch.items()}
    out = module.forward_train({Columns.OBS: t["obs"], Columns.NEXT_OBS: t["next_obs"]})
    q = out[QF_PREDS].gather(1, t["actions"].long()[:, None]).squeeze(1)
    with torch.no_grad():
        chooser = out[QF_NEXT_PREDS] if config.double_q else out[QF_TARGET_NEXT_PREDS]
        next_q = out[QF_TARGET_NEXT_PREDS].gather(1, chooser.argmax(dim=1, keepdim=True)).squeeze(1)
        discount = config.gamma ** t["n_steps"] if "n_steps" in t else config.gamma
        target = t["rewards"] + discount * (1.0 - t["terminateds"].float()) * next_q
    loss_fn = torch.nn.functional.huber_loss if config.td_error_loss_fn == "huber" else torch.nn.functional.mse_loss
    loss = (t["weights"] * loss_fn(q, target, reduction="none")).mean()
    optimizer = learner.get_optimizer(DEFAULT_MODULE_ID)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    optimizer.step()
    learner.after_gradient_based_update(timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: env_steps})
    return (q - target).abs().detach().cpu().numpy(), float(loss.detach())


def copy_weights(learner: Learner, module: torch.nn.Module) -> None:
    """Copy the Learner's online Q-network into `module`, an inference-only copy of it in
    this process (the sampling EnvRunner's, when it has no remote EnvRunners).

    Same result as RLlib's weight sync for this module (its parameters, by name), without
    converting the whole state to numpy and back.
    """
    source = dict(learner.module[DEFAULT_MODULE_ID].unwrapped().named_parameters())
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.copy_(source[name])
