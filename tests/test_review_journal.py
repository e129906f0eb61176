"""The review journal: idempotent decisions, undo as history, versions, and its tables."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from themeassist.errors import InputError
from themeassist.review.journal import Journal

FUND = ("Funding", "challenge", "Short-term funding")
TRUST = ("Relationships", "success", "Trust")


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "review_ann.sqlite", coder="ann")
    yield j
    j.close()


def test_database_is_wal_with_full_sync(journal):
    db = sqlite3.connect(journal.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_retried_decision_is_recorded_once(journal):
    a = journal.decide("s1", [FUND], decision_id="d-1")
    b = journal.decide("s1", [FUND], decision_id="d-1")
    assert (a.status, b.status) == ("recorded", "duplicate")
    assert b.record == a.record
    assert len(journal.records()) == 1


def test_sequence_increases_and_codes_round_trip(journal):
    r1 = journal.decide("s1", [FUND, TRUST, FUND], decision_id="a").record
    r2 = journal.decide("s2", [], decision_id="b").record
    assert r2.seq > r1.seq
    assert r1.codes == (FUND, TRUST)            # duplicates of a code dropped, order kept
    assert r2.no_code and not r1.no_code


def test_undo_appends_and_restores_the_earlier_decision(journal):
    journal.decide("s1", [FUND], decision_id="a")
    journal.decide("s1", [TRUST], decision_id="b")           # a correction
    assert journal.current()["s1"].codes == (TRUST,)
    out = journal.undo(decision_id="u1")
    assert out.status == "recorded" and out.extra["undone"].decision_id == "b"
    assert journal.current()["s1"].codes == (FUND,)
    journal.undo(decision_id="u2")
    assert "s1" not in journal.current()
    assert journal.undo(decision_id="u3").status == "nothing"
    kinds = [r.kind for r in journal.records()]
    assert kinds == ["decide", "decide", "undo", "undo"]      # history is kept


def test_undo_of_a_target_already_undone_is_a_conflict(journal):
    seq = journal.decide("s1", [FUND], decision_id="a").record.seq
    assert journal.undo(decision_id="u1", target=seq).status == "recorded"
    assert journal.undo(decision_id="u1", target=seq).status == "duplicate"
    assert journal.undo(decision_id="u2", target=seq).status == "conflict"
    assert len(journal.records()) == 2


def test_a_stale_version_records_nothing(journal):
    v0 = journal.version("s1")
    assert v0 == 0
    first = journal.decide("s1", [FUND], decision_id="tab1", expected_version=v0)
    second = journal.decide("s1", [], decision_id="tab2", expected_version=v0)
    assert first.status == "recorded" and second.status == "conflict"
    assert second.current.codes == (FUND,)
    assert [r.decision_id for r in journal.records()] == ["tab1"]
    # with the version it now shows, a correction goes through
    assert journal.decide("s1", [], decision_id="tab2b",
                          expected_version=second.version).status == "recorded"


def test_concurrent_decisions_on_one_segment_leave_one(journal):
    results = []
    barrier = threading.Barrier(8)

    def go(i):
        barrier.wait()
        results.append(journal.decide("s1", [FUND], decision_id=f"t{i}", expected_version=0))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["conflict"] * 7 + ["recorded"]
    assert len(journal.records()) == 1


def test_tables_equal_the_journal(journal, tmp_path):
    journal.decide("s2", [FUND, TRUST], decision_id="a")
    journal.decide("s1", [], decision_id="b")
    journal.decide("s3", [TRUST], decision_id="c")
    journal.undo(decision_id="u")                              # cancels s3
    codings = journal.codings_table(order=["s1", "s2", "s3"])
    assert codings.values.tolist() == [["s2", "ann", *FUND], ["s2", "ann", *TRUST]]
    decided = journal.decided_table(order=["s1", "s2", "s3"])
    assert decided["segment_id"].tolist() == ["s1", "s2"]
    assert (decided["coder"] == "ann").all()
    cur = journal.current()
    assert decided["decided_at"].tolist() == [cur["s1"].decided_at, cur["s2"].decided_at]
    # a reopened journal reads the same
    journal.close()
    again = Journal(journal.path, coder="ann")
    assert again.codings_table(order=["s1", "s2", "s3"]).equals(codings)
    again.close()


def test_journal_of_another_coder_is_refused(journal):
    journal.decide("s1", [], decision_id="a")
    with pytest.raises(InputError, match="another coder"):
        Journal(journal.path, coder="bob")


def test_a_file_that_is_not_a_journal_is_refused(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"this is not sqlite at all, but long enough to be read" * 4)
    with pytest.raises(InputError, match="not a review journal"):
        Journal(bad, coder="ann")


def test_events_and_model_runs(journal):
    assert journal.add_event("dismiss", {"candidate_id": 3}, event_id="e1") == (True, 1)
    assert journal.add_event("dismiss", {"candidate_id": 3}, event_id="e1") == (False, 1)
    journal.add_model_run({"decisions": 5, "kappa": float("nan")})
    runs = journal.model_runs()
    assert runs[0]["decisions"] == 5 and runs[0]["kappa"] != runs[0]["kappa"]
    assert journal.events()[0]["payload"] == {"candidate_id": 3}
