"""The bound round 8's experiment used to count the candidates that need an e5 vector
(bench/cache_e5_experiment.py ``needs_e5``): when it says a pair does not need one, the
trees give the same verdict whatever the e5 features are."""

from __future__ import annotations

from apps.gateway.cache_verifier.pair_model import LEAF, Forest, Tree
from bench.cache_e5_experiment import needs_e5

# Two stumps and a depth-2 tree over (similarity, e5_similarity): e5 decides near 0.8
# of similarity, the word feature alone far from it.
FOREST = Forest(
    embedding_model="all-MiniLM-L6-v2",
    dimension=384,
    features=("similarity", "e5_similarity"),
    base=0.0,
    trees=(
        Tree((0, 0, 0), (0.7, 0.0, 0.0), (1, LEAF, LEAF), (2, LEAF, LEAF), (0.0, -3.0, 1.0)),
        Tree((1, 0, 0), (0.85, 0.0, 0.0), (1, LEAF, LEAF), (2, LEAF, LEAF), (0.0, -1.0, 1.0)),
        Tree(
            (0, 1, 0, 0, 0),
            (0.9, 0.5, 0.0, 0.0, 0.0),
            (1, 2, LEAF, LEAF, LEAF),
            (4, 3, LEAF, LEAF, LEAF),
            (0.0, 0.0, -0.5, 0.5, 2.5),
        ),
    ),
    cutoff=0.5,
)
GRID = [i / 20 for i in range(21)]


def served(similarity: float, e5: float) -> bool:
    return FOREST.probability({"similarity": similarity, "e5_similarity": e5}) >= FOREST.cutoff


def test_a_pair_said_not_to_need_e5_has_one_verdict_whatever_e5_says() -> None:
    decided = 0
    for similarity in GRID:
        values = {"similarity": similarity, "e5_similarity": float("nan")}
        verdicts = {served(similarity, e5) for e5 in GRID}
        if not needs_e5(FOREST, values):
            decided += 1
            assert len(verdicts) == 1, similarity
    assert decided > 0


def test_a_pair_whose_verdict_turns_on_e5_is_said_to_need_it() -> None:
    assert served(0.8, 1.0)
    assert not served(0.8, 0.0)
    for similarity in GRID:
        if len({served(similarity, e5) for e5 in GRID}) > 1:
            assert needs_e5(FOREST, {"similarity": similarity, "e5_similarity": 0.0}), similarity
