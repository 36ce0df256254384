"""Private documents: a chat attachment belongs to one person (docs/rag.md, "Private documents").

``owner`` (on documents, and copied on chunks) marks a document that only its owner may
see. On top of the tenant policy, a RESTRICTIVE policy ``owner_only`` on both tables lets
a row through only when it has no owner or its owner is the transaction's ``app.user_id``
(set for a member's request and for the tasks that work for them). A colleague in the
same tenant, an API key (no user) and raw SQL under the runtime role without that user
see nothing of it, whatever the query.

The signature index is rebuilt to INCLUDE ``owner_id``: the policy's columns must be in
the index for full-text candidates to stay an index-only scan (migration 0002).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.rls import USER_EXPR

OWNER_ONLY = f"owner_id IS NULL OR owner_id = {USER_EXPR}"
TABLES = ("rag_document", "rag_chunk")


def _policies(create: bool) -> list[str]:
    if create:
        return [
            f"CREATE POLICY owner_only ON {t} AS RESTRICTIVE FOR ALL "
            f"USING ({OWNER_ONLY}) WITH CHECK ({OWNER_ONLY})"
            for t in TABLES
        ]
    return [f"DROP POLICY IF EXISTS owner_only ON {t}" for t in TABLES]


class Migration(migrations.Migration):
    dependencies = [
        ("rag", "0004_chunk_injection_flag"),
        ("tenants", "0006_plan_changed_audit_action"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="document",
            name="document_unique_content",
        ),
        migrations.AddField(
            model_name="chunk",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="document",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="document",
            constraint=models.UniqueConstraint(
                condition=models.Q(("owner__isnull", True)),
                fields=("tenant", "sha256"),
                name="document_unique_content",
            ),
        ),
        migrations.RunSQL(_policies(create=True), _policies(create=False)),
        migrations.RunSQL(
            [
                "DROP INDEX chunk_search_signature_idx",
                "CREATE INDEX chunk_search_signature_idx ON rag_chunk (tenant_id) "
                "INCLUDE (id, document_id, owner_id, search_signature)",
            ],
            [
                "DROP INDEX chunk_search_signature_idx",
                "CREATE INDEX chunk_search_signature_idx ON rag_chunk (tenant_id) "
                "INCLUDE (id, document_id, search_signature)",
            ],
        ),
    ]
