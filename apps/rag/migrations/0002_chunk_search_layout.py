"""Chunk layout for retrieval under row-level security (docs/retrieval.md, "Measured").

1. Storage MAIN for ``embedding`` and ``search_vector``. A 384-dim vector is 1.5 kB; with
   the text and the tsvector a row passes the 2 kB TOAST threshold and PostgreSQL moves
   columns out of line, the vector first (pgvector's storage is EXTERNAL). Retrieval
   reads both from the heap for every candidate (distances of an exact scan and of HNSW
   hits, the full-text match), and each out-of-line value costs several extra page
   reads: bench/retrieval.py measured scans ~3x slower. MAIN makes the toaster compress
   and move the chunk's text first. Applies to rows written from now on.

2. ``search_signature``: a 1,024-bit Bloom signature of the chunk's lexemes (two bits per
   lexeme, from its md5), generated from ``search_vector``, and a btree index on
   ``tenant_id`` that INCLUDEs it. Why: under RLS the GIN index on ``search_vector`` is
   never used by the runtime role. ``@@`` is not LEAKPROOF, so PostgreSQL must check the
   policy before it and cannot make it an index condition: full text scanned every row
   of the tenant (25 ms for a 27k-chunk tenant). For a query whose lexemes are all
   required (no "or", no "-"), a matching chunk's signature contains the query's bits, so
   an index-only scan of this narrow index keeps the few candidates (false positives
   ~0.1% at 200 lexemes a chunk) and ``@@`` runs on those alone. md5, not hashtext: its
   values never change across PostgreSQL versions, so stored signatures stay valid.
   Django's model does not list the column; PostgreSQL fills it on every write.
"""

from django.db import migrations

SIGNATURE_FUNCTION = """
CREATE FUNCTION rag_search_signature(lexemes text[]) RETURNS bit(1024)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(
        bit_or(set_bit(set_bit(repeat('0', 1024)::bit(1024),
            ('x' || substr(md5(lexeme), 1, 4))::bit(16)::int % 1024, 1),
            ('x' || substr(md5(lexeme), 5, 4))::bit(16)::int % 1024, 1)),
        repeat('0', 1024)::bit(1024))
    FROM unnest(lexemes) AS lexeme
$$
"""


class Migration(migrations.Migration):
    dependencies = [("rag", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE rag_chunk ALTER COLUMN embedding SET STORAGE MAIN, "
            "ALTER COLUMN search_vector SET STORAGE MAIN",
            "ALTER TABLE rag_chunk ALTER COLUMN embedding SET STORAGE EXTERNAL, "
            "ALTER COLUMN search_vector SET STORAGE EXTENDED",
        ),
        migrations.RunSQL(SIGNATURE_FUNCTION, "DROP FUNCTION rag_search_signature(text[])"),
        migrations.RunSQL(
            "ALTER TABLE rag_chunk ADD COLUMN search_signature bit(1024) GENERATED ALWAYS AS "
            "(rag_search_signature(tsvector_to_array(search_vector))) STORED",
            "ALTER TABLE rag_chunk DROP COLUMN search_signature",
        ),
        migrations.RunSQL(
            "CREATE INDEX chunk_search_signature_idx ON rag_chunk (tenant_id) "
            "INCLUDE (id, document_id, search_signature)",
            "DROP INDEX chunk_search_signature_idx",
        ),
    ]
