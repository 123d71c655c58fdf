"""The training methods videoabnn knows, in report order (a leaf module: names only, no imports)."""

METHODS = ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise")
# methods whose training crafts adversarial examples (report order: the strongest baseline first)
ADVERSARIAL_METHODS = ("pgd_at", "at", "alp", "trades", "feature_denoise")
