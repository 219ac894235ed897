"""Attack plugins: an update rule (PGD step, momentum, ...) driven by a gradient estimator, in a norm's ball.

Each module registers its plugins with ``@register(kind, name)``; the registry imports them all. Kinds here:
``attack`` (pgd, apgd, bandlimited, fakebob, mifgsm, tsmifgsm, art), ``norm`` (``attacks.norms``: linf, l2) and
``estimator`` (``attacks.estimators``: autograd, eot, nes, timeshift; ``-o attack.gradient=eot:20``).
"""
