"""provenance.py: what a run records about the code that made it."""
from rkky_mc import provenance


def test_git_commit_is_asked_once_per_process(monkeypatch):
    """A sweep process records the commit of the code it imported: a later commit to the
    tree (here: git answering differently) does not change what its next runs record."""
    monkeypatch.setattr(provenance, "_COMMIT", [])
    answers = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(provenance, "_ask_git", lambda: next(answers))
    assert provenance.git_commit() == "a" * 40
    assert provenance.git_commit() == "a" * 40
    assert provenance.collect(["rkky-mc", "run"])["git_commit"] == "a" * 40
