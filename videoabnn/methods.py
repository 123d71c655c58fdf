"""The training methods videoabnn knows, in report order (a leaf module: names only, no imports).

Each name is a ``train.method`` and an objective of :mod:`videoabnn.defenses.objectives` (``OBJECTIVES``),
built by ``build_objective(method, attack_cfg=train.attack, **train.method_args)``:

- ``standard``: clean cross-entropy (``Objective``).
- ``abnn``: clean cross-entropy on the ABNN composite, substitute frozen (``AbnnObjective``; Lo & Patel,
  AVSS 2024); ``method_args``: ``align_weight``.
- ``at``: ``mix * L(x) + (1 - mix) * L(x_adv)`` (``MixObjective``; Goodfellow et al., ICLR 2015, with FGSM;
  the crafting attack is ``train.attack``, by default PGD-Linf 4/255, 5 steps); ``method_args``: ``mix``.
- ``pgd_at``: ``L(x_adv)`` with an eps warm-up (``PgdAtObjective``; Madry et al., ICLR 2018);
  ``method_args``: ``eps_warmup_epochs`` (default 5).
- ``alp``: the ``at`` mix plus ``alp_weight * ||f(x) - f(x_adv)||^2`` (``AlpObjective``; Kannan et al.,
  "Adversarial Logit Pairing", 2018); ``method_args``: ``mix``, ``alp_weight``.
- ``trades``: ``L(x) + beta * KL(f(x) || f(x_adv))`` with KL-maximising PGD (``TradesObjective``; Zhang et al.,
  ICML 2019); ``method_args``: ``trades_beta``.
- ``feature_denoise``: PGD adversarial training of a model with non-local denoising blocks
  (``FeatureDenoiseObjective``; Xie et al., CVPR 2019).

Every method also takes ``eps_warmup_epochs`` (``method_args``; default 0, 5 for ``pgd_at``/``feature_denoise``)
and ``train.label_smoothing``.
"""

METHODS = ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise")
"""Every ``train.method``, in report order."""
# methods whose training crafts adversarial examples (report order: the strongest baseline first)
ADVERSARIAL_METHODS = ("pgd_at", "at", "alp", "trades", "feature_denoise")
"""The methods whose training crafts adversarial examples (report order: the strongest baseline first)."""
