"""The method: a learned safety shield for DQN exploration (plain PyTorch + gymnasium).

- `shield.envs`: MiniGrid crossing environments with violation info and ground truth.
- `shield.networks`: the Q-network (also Q_p), the contrastive encoder and decoder.
- `shield.contrastive`: the contrastive loss.
- `shield.unsafe_buffer`: the ring of unsafe embeddings and the latent distance D.
- `shield.decision`: the batched shield decision and its parameters.
- `shield.weights`: files of the frozen encoder and Q_p.

Nothing here imports Ray.
"""
