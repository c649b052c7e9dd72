"""The doctor: its exit codes, its JSON, the numerics check (and that it catches a broken device), the chapters'
one line, and best_device's fallback to the CPU when a device fails the check."""

import argparse
import json

import pytest
import torch

from llmcourse import data, device, doctor


def cli(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"json": False, "device": "cpu", "no_compile": True, **kw})


@pytest.fixture
def fresh_numerics():
    """The numerics check is cached per process; a test that breaks it must not leave its answer behind."""
    doctor.numerics.cache_clear()
    yield
    doctor.numerics.cache_clear()


@pytest.fixture
def broken_device(monkeypatch, fresh_numerics):
    """The 'device' side (float32) comes back perturbed by 1%, as a wrong kernel's would; float64 stays right."""
    real = doctor.loss_and_grads

    def perturbed(model, ids, where, dtype, amp):
        result = real(model, ids, where, dtype, amp)
        if dtype == torch.float32:
            noise = torch.Generator().manual_seed(1)
            result = [t * (1 + 0.01 * torch.randn(t.shape, generator=noise, dtype=t.dtype)) for t in result]
        return result

    monkeypatch.setattr(doctor, "loss_and_grads", perturbed)


def test_healthy_machine_exits_0_with_table_and_numerics(capsys):
    assert doctor.run_cli(cli()) == 0
    out = capsys.readouterr().out
    assert "everything the course needs is here" in out
    assert "GPT on cpu in float32 vs float64 on the CPU" in out and "LSTM on cpu in float32" in out
    assert "torch.compile" in out and "not tried (--no-compile)" in out


def test_an_unsatisfied_needed_requirement_exits_1(monkeypatch, capsys):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda name: "1.0" if name == "numpy" else real(name))
    assert doctor.run_cli(cli()) == 1
    out = capsys.readouterr().out
    assert "✗ numpy" in out and "1.0, but needs" in out and "missing or wrong: numpy" in out


def test_a_missing_dev_extra_only_warns(monkeypatch, capsys):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda name: None if name == "gensim" else real(name))
    assert doctor.run_cli(cli()) == 0
    assert "! gensim (dev)" in capsys.readouterr().out


def test_a_bad_device_is_one_line_and_exit_2(capsys):
    from llmcourse.__main__ import main

    assert main(["doctor", "--device", "gpu"]) == 2  # through the command line's own wiring
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "--device='gpu' is not a device torch knows" in captured.err


def test_json_has_every_check(capsys):
    assert doctor.run_cli(cli(json=True)) == 0
    report = json.loads(capsys.readouterr().out)
    names = {c["name"] for c in report["checks"]}
    expected = {"python", "torch", "numpy", "device", "precision", "torch.compile", "memory", "disk (cache)",
                "sandbox (teachers)", "cgroup (teachers)", "numerics: GPT float32", "numerics: LSTM float32",
                *(f"data: {name}" for name in data.REGISTRY)}
    assert expected <= names
    assert report["ok"] is True and report["device"] == "cpu"
    assert all(c["status"] in doctor.MARK and c["detail"] for c in report["checks"])


def test_numerics_here_are_small_but_measured():
    results = doctor.numerics("cpu")
    assert [c.model for c in results] == ["GPT", "LSTM"]
    for c in results:
        assert c.ok and c.precision == "float32"
        assert 0 < c.grad_gap < 1e-5  # float32 against float64: a real, small difference
    assert doctor.device_trouble(torch.device("cpu")) is None


def test_numerics_fail_when_the_device_computes_wrongly(broken_device, capsys):
    results = doctor.numerics("cpu")
    assert not any(c.ok for c in results)
    assert "OUTSIDE tolerance 1e-04" in results[0].line()
    assert "differs from float64 on the CPU by" in doctor.device_trouble(torch.device("cpu"))
    assert doctor.run_cli(cli()) == 1
    assert "missing or wrong: numerics: GPT float32, numerics: LSTM float32" in capsys.readouterr().out


def test_a_device_that_raises_fails_the_check(monkeypatch, fresh_numerics):
    def unsupported(model, ids, where, dtype, amp):
        if dtype == torch.float32:
            raise RuntimeError("no kernel for this op on this backend")
        return real(model, ids, where, dtype, amp)

    real = doctor.loss_and_grads
    monkeypatch.setattr(doctor, "loss_and_grads", unsupported)
    assert "fails to run on cpu in float32: no kernel" in doctor.device_trouble(torch.device("cpu"))


def test_checkup_prints_one_line(capsys):
    doctor.checkup()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("\n") == 1
    assert captured.out.startswith("doctor: python ") and "agree with float64 on the CPU" in captured.out
    assert "✗" not in captured.out


def test_checkup_says_what_is_wrong_in_one_line(broken_device, capsys):
    doctor.checkup("cpu")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "numerics: ✗" in out and "full report: python -m llmcourse doctor" in out


def _failing(device_name: str) -> tuple[doctor.Comparison, ...]:
    return (doctor.Comparison("GPT", device_name, "float32", 0.3, 0.5, 1e-2),)


def test_best_device_falls_back_to_the_cpu_when_the_device_fails(monkeypatch, capsys):
    monkeypatch.delenv("LLMCOURSE_TRUST_DEVICE", raising=False)
    monkeypatch.setattr(device, "preferred_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(device, "_warned", set())
    monkeypatch.setattr(doctor, "numerics", _failing)
    assert device.best_device() == torch.device("cpu")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs from float64 on the CPU by 5.0e-01" in err
    assert "LLMCOURSE_TRUST_DEVICE=1" in err
    assert device.best_device() == torch.device("cpu")
    assert capsys.readouterr().err == ""  # warned once per process


def test_best_device_keeps_a_passing_device(monkeypatch):
    monkeypatch.delenv("LLMCOURSE_TRUST_DEVICE", raising=False)
    monkeypatch.setattr(device, "preferred_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(doctor, "numerics", lambda name: (doctor.Comparison("GPT", name, "float32", 0, 1e-6, 1e-4),))
    assert device.best_device() == torch.device("cuda")


def test_trusting_the_device_skips_the_check(monkeypatch):
    def never(name):
        raise AssertionError("the check ran although the device is trusted")

    monkeypatch.setenv("LLMCOURSE_TRUST_DEVICE", "1")
    monkeypatch.setattr(device, "preferred_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(doctor, "numerics", never)
    assert device.best_device() == torch.device("cuda")


def test_the_cpu_is_never_checked(monkeypatch):
    def never(name):
        raise AssertionError("the CPU was checked")

    monkeypatch.delenv("LLMCOURSE_TRUST_DEVICE", raising=False)
    monkeypatch.setattr(device, "preferred_device", lambda: torch.device("cpu"))
    monkeypatch.setattr(doctor, "numerics", never)
    assert device.best_device() == torch.device("cpu")
