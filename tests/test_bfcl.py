"""agentkit on the Berkeley Function Calling Leaderboard's own data, converter and state checker
(issue 30, "Proof"): tools/bfcl.py does the work; docs/benchmarks.md, "BFCL v4 data", has its table."""

import pytest

for _package, _module in [("bfcl-eval", "bfcl_eval"), ("tree_sitter", "tree_sitter"), ("tenacity", "tenacity")]:
    pytest.importorskip(_module, reason=f"{_package} is not installed: .ci/run installs it (pip install --no-deps)")

from tools import bfcl  # noqa: E402  (after the skips: it imports bfcl_eval)

# Each is a way BFCL's ground truth contradicts the doc it answers (see docs/benchmarks.md).
CLASSES = {
    "null outside the type",
    "value of another type",
    "value outside the enum",
    "default outside the enum",
    "required argument marked optional",
    "argument not in the schema",
    "value outside the format",
    "Java or JavaScript source for a value",
    "a type BFCL's converter makes a string",
}


@pytest.fixture(scope="module")
def tallies():
    return {c: (bfcl.check_docs(c), bfcl.check_ground_truth(c)) for c in bfcl.ALL_CATEGORIES}


def test_every_function_doc_becomes_a_tool_through_bfcls_own_converter(tallies):
    for category, (docs, _) in tallies.items():
        assert docs.docs > 0, category
        assert docs.accepted == docs.docs, (category, docs.refused)
    bad = sum(d.bad_names for d, _ in tallies.values())
    assert bad > 0  # BFCL's dotted names ("math.factorial") are refused as they are...
    # ...and the name agentkit's error suggests is the one BFCL's OpenAI converter gives them.
    assert sum(d.renamed_as_agentkit_suggests for d, _ in tallies.values()) == bad


def test_every_rejected_ground_truth_call_contradicts_its_own_schema(tallies):
    counts = [g for _, g in tallies.values() if g is not None]
    assert {c for c, (_, g) in tallies.items() if g} >= set(bfcl.MULTI_TURN) | {"simple_python", "live_multiple"}
    calls = sum(g.calls for g in counts)
    accepted = sum(g.accepted for g in counts)
    rejected = {why for g in counts for why in g.rejected}
    assert accepted + sum(sum(g.rejected.values()) for g in counts) == calls
    assert accepted / calls > 0.95
    assert rejected <= CLASSES, {w: e for g in counts for w, e in g.examples.items() if w not in CLASSES}
    # What the old schema tool let through: an argument outside `properties`, `null` for a string.
    assert {"argument not in the schema", "null outside the type"} <= rejected


def test_a_ground_truth_call_is_read_never_run():
    assert bfcl.parse_call("mv(source='a', destination=\"b\")") == ("mv", {"source": "a", "destination": "b"})
    with pytest.raises(ValueError):  # a literal, not an expression: ast.literal_eval refuses it
        bfcl.parse_call("mv(source=__import__('os').getcwd())")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("category", bfcl.MULTI_TURN)
def test_sequential_tools_reach_bfcls_own_state_on_every_entry(category, backend):
    """Each turn's ground-truth calls in ONE message, the backends' methods as sequential tools:
    BFCL's state checker finds the state equal to BFCL's own execution after every turn, on every
    entry whose ground truth passes the tools' own checks."""
    runs = bfcl.replay(category, sequential=True, backend=backend)
    assert len(runs) == len(bfcl.multi_turn_entries(category)) > 0
    differ = {r.id: r.first_difference for r in runs if not r.matched}
    refused = {r.id for r in runs if r.refused}
    assert set(differ) <= refused, differ
    assert len(refused) <= 1  # multi_turn_*_173: close_ticket(ticket_id='ticket_001'), an integer by its doc


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_concurrent_tools_diverge_from_bfcls_state(backend):
    """The bug of issue 30: the same calls on plain (concurrent) tools run out of order."""
    runs = bfcl.replay("multi_turn_base", sequential=False, backend=backend)
    refused = {r.id for r in runs if r.refused}
    assert [r.id for r in runs if not r.matched and r.id not in refused]
