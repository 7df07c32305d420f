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


def test_version_option_prints_the_package_version():
    from click.testing import CliRunner

    from rkky_mc import __version__
    from rkky_mc.cli import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"rkky-mc, version {__version__}"


def test_stale_kernel_cache_dirs_are_pruned_keeping_current_and_previous(tmp_path):
    import os

    from rkky_mc.kernels import prune_cache_dirs

    names = [f"kernels-{i:016x}" for i in range(4)]
    for age, name in enumerate(names):  # kernels-...0 newest, kernels-...3 oldest
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.nbi").write_text("x")
        os.utime(tmp_path / name, (1e9 - age * 100, 1e9 - age * 100))
    (tmp_path / "kernels-notadigest").mkdir()
    (tmp_path / "other").mkdir()
    current = "kernels-" + "f" * 16
    assert sorted(prune_cache_dirs(tmp_path, keep=current)) == names[1:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [names[0], "kernels-notadigest", "other"])
    (tmp_path / current).mkdir()  # the current one is never deleted, even when oldest
    os.utime(tmp_path / current, (1.0, 1.0))
    assert prune_cache_dirs(tmp_path, keep=current) == []
    assert prune_cache_dirs(tmp_path / "missing", keep=current) == []
