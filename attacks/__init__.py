"""Attack plugins: an update rule (PGD step, momentum, ...) driven by a gradient estimator.

Each module registers its attacks with ``@register("attack", name)``; the registry imports them all.
"""
