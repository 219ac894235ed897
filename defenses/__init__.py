"""Defense plugins: purifiers placed before and/or after the victim's mel frontend.

Each module registers its defenses with ``@register("defense", name)``; the registry imports them all.
"""
