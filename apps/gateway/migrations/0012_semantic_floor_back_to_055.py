"""The similarity floor's default goes from 0.60 back to 0.55 (ADR 0010, round 7 of the
pair model): with a tenth writer (the fifth test set, spent) and four features for one
small change of fact (``cache_verifier.shifts``), the retrained pair model, its cutoff read
against the worst writer as in round 6, served more development paraphrases by file at
0.55 than at 0.60 or 0.65 (``bench/train_cache_decision.py``).

Tenants still on the old default get the new one; a tenant who chose another floor keeps
it. The SQL is 0010's, with the two floors of this step.
"""

import importlib
from decimal import Decimal

import django.core.validators
from django.db import migrations, models

# A module whose name starts with a digit is imported by name.
_previous = importlib.import_module("apps.gateway.migrations.0010_semantic_floor_055")

MOVE_UNTOUCHED_DEFAULTS = _previous.move("0.60", "0.55")
MOVE_BACK = _previous.move("0.55", "0.60")


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0011_semantic_floor_060"),
    ]

    operations = [
        migrations.AlterField(
            model_name="aisettings",
            name="semantic_threshold",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0.55"),
                help_text="1.00 reuses only identical questions. Every reuse is also checked: numbers, names, negations, languages, who does what to whom and qualifiers must agree, and a scorer must be sure the two questions ask the same thing.",
                max_digits=3,
                validators=[
                    django.core.validators.MinValueValidator(Decimal("0.50")),
                    django.core.validators.MaxValueValidator(Decimal("1.00")),
                ],
                verbose_name="Similarity needed to reuse an answer",
            ),
        ),
        migrations.RunSQL(MOVE_UNTOUCHED_DEFAULTS, MOVE_BACK),
    ]
