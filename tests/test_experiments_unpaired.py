"""experiments.unpaired_family: a tiny run end to end (JSON, table, RESULTS.md section)."""

import json

from experiments import unpaired_family as uf


def test_tiny_run_writes_json_table_and_section(tmp_path, capsys):
    out, md = tmp_path / "family.json", tmp_path / "RESULTS.md"
    md.write_text("# Reproduction results\n\n## Other\n\ntext\n")
    argv = ["--steps", "2", "--warmup", "1", "--width", "2", "--blocks", "1", "--n-test", "8"]
    argv += ["--methods", "gan_alone,cut,discogan", "--out", str(out), "--results-md", str(md)]
    assert uf.main(argv) == 0
    summary = json.loads(out.read_text())
    assert list(summary["results"]) == ["gan_alone", "cut", "discogan"]
    for r in summary["results"].values():
        assert 0.0 <= r["retrieval"] <= 1.0 and 0.0 <= r["error"] <= 2.0
        assert 0 < r["params_g"] < r["params_total"] and r["s_per_step"] > 0
    assert summary["results"]["discogan"]["train_size"] == 64  # its fixed architecture
    assert summary["results"]["cut"]["params_total"] > summary["results"]["cut"]["params_g"]
    table = capsys.readouterr().out
    assert "| GAN alone |" in table and "| DiscoGAN (64 px) |" in table and "*identity" in table
    text = md.read_text()
    assert text.count(uf.SECTION) == 1 and "## Other\n\ntext" in text
    # A second run replaces the section instead of adding one.
    uf.write_section(md, uf.SECTION + "\n\nnew\n")
    text = md.read_text()
    assert text.count(uf.SECTION) == 1 and "new" in text and "| CUT |" not in text
    assert text.startswith("# Reproduction results\n\n## Other\n\ntext\n")
