"""The method: a learned safety shield for DQN exploration (plain PyTorch + gymnasium).

- `shield.envs`: MiniGrid crossing environments with violation info and ground truth.
- `shield.networks`: the Q-network (also Q_p), the contrastive encoder and decoder.
- `shield.contrastive`: the contrastive loss.
- `shield.unsafe_buffer`: the ring of unsafe embeddings and the latent distance D.
- `shield.settings`: the shield's settings (`ShieldParams`; defaults are the paper's).
- `shield.shield`: `Shield`, the batched decision and the unsafe buffer it fills.
- `shield.weights`: files of the frozen encoder and Q_p (`WeightFiles`).
- `shield.artifacts`: the store of pretrained weight files with their manifests.
- `shield.pretrain_data`, `shield.latent_plot`: pretraining data, quality figures, latent plots.

Nothing here imports Ray.
"""
