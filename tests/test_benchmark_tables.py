"""The benchmarks' and the checkpoints' pure parts, in the fast loop: FLOP counts, the tables
of benchmarks/bench.md, the stage line they read, and the resume key. tests/test_benchmarks.py smoke-runs
each benchmark on the tiny pipeline."""

from benchmarks import pipeline_runs, tables, timing

from conftest import table_rows


def test_flops_per_image_of_the_dense_model_from_its_layers():
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32), keras.layers.Dense(784)])
    wrapper = keras.Sequential([keras.Input((784,)), model])
    assert timing.training_flops_per_image(wrapper) == 3 * 2 * (784 * 32 + 32 * 784)


def test_bench_tables_flag_each_goal_from_the_measurements():
    stage = {"seconds": 10.0, "peak_rss_mib": 900.0}
    run = {"wall_seconds": 130.0, "fit_seconds": 100.0, "evaluation_seconds": 20.0, "overhead": 1.3,
           "stages": {"prepare": dict(stage), "train@dense": {**stage, "seconds": 110.0, "fit_seconds": 100.0},
                      "figures": {**stage, "peak_rss_mib": 2100.0, "evaluation_seconds": 20.0}}}
    model = {"pipeline_images_per_s": 1000.0, "plain_images_per_s": 900.0, "ratio": 1.11, "pair_ratios": [1.1],
             "training_mflops_per_image": 1.0, "share_of_peak": 0.1}
    results = {"machine": "test", "peak_gflops": 100.0, "epochs": 1, "repeats": 1, "models": {"dense": model},
               "startup": {"python_s": 0.01, "import_tensorflow_s": 3.0}, "noop_repro_s": 0.9,
               "canonical_pipeline": run,
               "tiny_pipeline": dict(run)}
    del results["tiny_pipeline"]["evaluation_seconds"]  # recorded before stages logged their evaluation
    assert pipeline_runs.time_split(run) == {"model fitting": 100.0, "evaluation compute": 20.0, "machinery": 10.0}
    assert pipeline_runs.time_split(results["tiny_pipeline"]) is None
    table = tables.markdown(results)
    rows = table_rows(table)
    assert ("ratio A/B", "≥ 1.0 for every model", "1.11 at the lowest (dense)", "yes") in rows
    assert ("machinery, share of the canonical run's wall time", "≤ 5%", "7.7%", "**no**") in rows
    assert ("peak RSS of any stage", "≤ 2 GiB", "2,100 MiB (figures, tiny)", "**no**") in rows
    assert ("canonical", "130 s", "100 s", "20 s", "10 s", "7.7%", "1.30") in rows
    assert ("tiny", "130 s", "100 s", "not recorded", "not recorded", "not recorded", "1.30") in rows
    assert ("figures", "10.0", "-", "20.0", "2,100 MiB", "10.0", "-", "20.0", "2,100 MiB") in rows
    assert "Sections 1–5 measured on test, commit and date not recorded" in table
    run["run"] = {"commit": "0123456789abcdef", "code_changes": [], "date": "2026-11-29T05:00:00+00:00",
                  "cpu": "Some CPU", "cpu_family_model": "6/143", "cpu_flags": ["amx_bf16", "avx2"], "cpus": 2,
                  "threads": 2}
    assert ("The canonical run (section 6): test, commit `0123456` on 2026-11-29, CPU family/model 6/143 "
            "(amx_bf16, avx2), 2 threads.") in tables.markdown(results)


def test_a_stages_done_line_gives_its_fit_and_evaluation_compute():
    output = ("Running stage 'classifier':\nINFO stage: done in 60.50 s, peak RSS 900 MiB; fit 50.00 s, evaluation "
              "2.50 s\nRunning stage 'report':\nINFO stage: done in 1.00 s, peak RSS 60 MiB; fit 0.00 s, evaluation "
              "0.00 s\nRunning stage 'old':\nINFO stage: done in 3.00 s, peak RSS 70 MiB\n")
    assert pipeline_runs.stage_stats(output) == {
        "classifier": {"seconds": 60.5, "peak_rss_mib": 900.0, "fit_seconds": 50.0, "evaluation_seconds": 2.5},
        "report": {"seconds": 1.0, "peak_rss_mib": 60.0, "evaluation_seconds": 0.0},
        "old": {"seconds": 3.0, "peak_rss_mib": 70.0}}


def test_checkpoint_key_follows_settings_and_file_contents(tmp_path):
    from mnist_ae.checkpoints import fingerprint

    data = tmp_path / "train.npz"
    data.write_bytes(b"digits")
    key = fingerprint({"epochs": 5}, [data])
    assert fingerprint({"epochs": 5}, [data]) == key
    assert fingerprint({"epochs": 6}, [data]) != key
    data.write_bytes(b"other digits")
    assert fingerprint({"epochs": 5}, [data]) != key
