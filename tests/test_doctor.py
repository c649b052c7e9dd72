"""The doctor: its exit codes, its JSON, the numerics check (and that it catches a broken device), the chapters'
one line, and best_device's fallback to the CPU when a device fails the check."""

import argparse
import json
import math

import pytest
import torch

from llmcourse import data, device, doctor
from llmcourse.attention import multihead


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


def test_a_missing_test_tool_only_warns_but_a_missing_chapter_peer_fails(monkeypatch, capsys):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda name: None if name == "hypothesis" else real(name))
    assert doctor.run_cli(cli()) == 0
    assert "! hypothesis (dev)" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "installed_version", lambda name: None if name == "gensim" else real(name))
    assert doctor.run_cli(cli()) == 1  # chapter 3 imports it
    out = capsys.readouterr().out
    assert "✗ gensim" in out and "make lab, or pip install -c requirements/lock.txt -e '.[dev]'" in out


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


def _on_the_device_only(monkeypatch, change) -> None:
    """Run ``change(model, result)`` on the float32 ('device') side's [loss, *gradients]; float64 stays right."""
    real = doctor.loss_and_grads

    def changed(model, ids, where, dtype, amp):
        result = real(model, ids, where, dtype, amp)
        return change(model, result) if dtype == torch.float32 else result

    monkeypatch.setattr(doctor, "loss_and_grads", changed)


def _with_attention(monkeypatch, kernel) -> None:
    """The float32 ('device') side computes attention with ``kernel`` in place of SDPA; float64 keeps SDPA."""
    real = doctor.loss_and_grads

    def run(model, ids, where, dtype, amp):
        if dtype != torch.float32:
            return real(model, ids, where, dtype, amp)
        with monkeypatch.context() as m:
            m.setattr(multihead, "_sdpa", kernel)
            return real(model, ids, where, dtype, amp)

    monkeypatch.setattr(doctor, "loss_and_grads", run)


def _attention(scale: float = 1.0, masked: bool = True, axis: int = -1):
    """A hand-written causal attention kernel for ``multihead._sdpa``: the scale ``scale`` times 1/sqrt(d), with or
    without the causal mask, the softmax along ``axis`` (-1: over the keys, as it should be)."""
    def kernel(q, k, v, mask, *, causal, dropout_p):
        assert causal and mask is None and dropout_p == 0.0  # what the GPT asks for, and all this kernel can do
        scores = q @ k.transpose(-1, -2) * (scale / math.sqrt(q.size(-1)))
        if masked:
            t = scores.size(-1)
            scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        return scores.softmax(axis) @ v

    return kernel


def _gpt(results):
    return next(c for c in results if c.model == "GPT")


def test_the_doctors_attention_is_not_near_uniform(monkeypatch):
    """A near-uniform attention (GPT-2's init in a fresh model) would hide a wrong attention kernel."""
    largest, uniform = [], []

    def spy(q, k, v, mask, *, causal, dropout_p):
        weights = _attention()(q, k, torch.eye(q.size(-2)).expand(*q.shape[:-1], -1), mask, causal=causal,
                               dropout_p=dropout_p)  # (B, nh, T, T): the weights themselves, via v = I
        t = weights.size(-1)
        largest.append(weights.max(-1).values[..., 4:].mean().item())  # rows that see 5 or more keys
        uniform.append((1 / torch.arange(5, t + 1)).mean().item())
        return real(q, k, v, mask, causal=causal, dropout_p=dropout_p)

    real = multihead._sdpa
    monkeypatch.setattr(multihead, "_sdpa", spy)
    doctor._models()["GPT"](doctor._batch()[:, :-1])
    assert len(largest) == 2 and all(big > 3 * flat for big, flat in zip(largest, uniform, strict=True))


def test_a_right_hand_written_attention_passes(monkeypatch, fresh_numerics):
    """The kernels below differ from this one in one thing each: what fails them is that thing, not the swap."""
    _with_attention(monkeypatch, _attention())
    assert _gpt(doctor.numerics("cpu")).ok


@pytest.mark.parametrize("name", ["blocks.0.attn.q_proj.weight", "blocks.1.attn.q_proj.bias",
                                  "blocks.1.attn.v_proj.bias"])
def test_one_attention_gradient_with_its_sign_flipped_fails(monkeypatch, fresh_numerics, name):
    """Relative to the model's largest gradient element, flipping q_proj.weight's moved the measure by 1e-3 only."""
    def flip(model, result):
        names = ["loss", *(n for n, _ in model.named_parameters())]
        return [-t if n == name else t for n, t in zip(names, result, strict=True)]

    _on_the_device_only(monkeypatch, flip)
    gpt, lstm = doctor.numerics("cpu")
    assert lstm.ok and not gpt.ok and gpt.worst == name
    assert gpt.grad_gap > max(doctor.TF32_TOL, *doctor.AUTOCAST_TOL.values())  # caught under every tolerance
    assert f"in the gradient of {name}" in doctor.device_trouble(torch.device("cpu"))


def test_attention_slightly_wrong_in_the_forward_fails(monkeypatch, fresh_numerics):
    _with_attention(monkeypatch, _attention(scale=1.01))  # the logits 1% too large
    gpt = _gpt(doctor.numerics("cpu"))
    assert not gpt.ok and ".attn." in gpt.worst
    assert gpt.grad_gap > 10 * doctor.FLOAT32_TOL


@pytest.mark.parametrize("kernel", [_attention(masked=False), _attention(scale=1 / 4), _attention(axis=-2)],
                         ids=["no causal mask", "scale 1/d for 1/sqrt(d)", "softmax over the queries"])
def test_a_wrong_attention_kernel_is_off_by_1e_1_or_more(monkeypatch, fresh_numerics, kernel):
    """doctor.py's comment on the tolerances says so; head_dim is 16 here, so 1/d is sqrt(d) / d = 1/4 of 1/sqrt(d)."""
    _with_attention(monkeypatch, kernel)
    assert _gpt(doctor.numerics("cpu")).grad_gap >= 1e-1


@pytest.fixture
def tf32_flags():
    """torch's two TF32 switches, put back afterwards (monkeypatch cannot: the matmul one is not a real attribute)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_tf32_loosens_only_what_it_touches(tf32_flags):
    cuda = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True  # torch's defaults
    assert doctor._float32_tolerance(cuda, "GPT") == doctor.DEVICE_FLOAT32_TOL  # cuDNN's flag: the GPT runs no cuDNN
    assert doctor._float32_tolerance(cuda, "LSTM") == doctor.TF32_TOL
    torch.backends.cudnn.allow_tf32 = False
    assert doctor._float32_tolerance(cuda, "LSTM") == doctor.DEVICE_FLOAT32_TOL
    torch.backends.cuda.matmul.allow_tf32 = True
    assert doctor._float32_tolerance(cuda, "GPT") == doctor._float32_tolerance(cuda, "LSTM") == doctor.TF32_TOL
    assert doctor._float32_tolerance(torch.device("cpu"), "GPT") == doctor.FLOAT32_TOL
    assert doctor._float32_tolerance(torch.device("mps"), "GPT") == doctor.DEVICE_FLOAT32_TOL
    assert doctor.FLOAT32_TOL < doctor.DEVICE_FLOAT32_TOL < doctor.TF32_TOL


def test_a_zero_gradient_is_measured_against_the_floor():
    """The key bias's gradient is zero in exact arithmetic: its float32 noise must not count as a 1e8 gap."""
    ref = [torch.tensor(2.0, dtype=torch.float64), torch.tensor([4.0, -1.0], dtype=torch.float64),
           torch.zeros(3, dtype=torch.float64)]
    noisy = [ref[0], ref[1], torch.full((3,), 1e-9, dtype=torch.float64)]
    assert doctor.gaps(noisy, ref) == (0.0, pytest.approx(1e-9 / (doctor.GRAD_FLOOR * 4.0)), 1)
    small = [ref[0], ref[1] * (1 + 1e-3), ref[2]]
    assert doctor.gaps(small, ref)[1:] == (pytest.approx(1e-3), 0)  # the others against their own size
    nan = [ref[0], ref[1], torch.full((3,), float("nan"), dtype=torch.float64)]
    assert doctor.gaps(nan, ref)[1:] == (float("inf"), 1)


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


def _results(cuda_ok: bool, cpu_ok: bool = True):
    """Mocked numerics: 'cuda' off by 0.5 unless ``cuda_ok``, the CPU's own float32 check as ``cpu_ok`` says."""
    def fake(device_name: str) -> tuple[doctor.Comparison, ...]:
        good = cpu_ok if device_name == "cpu" else cuda_ok
        return (doctor.Comparison("GPT", device_name, "float32", 1e-7, 1e-6 if good else 0.5, 1e-4, worst="ln_f.bias"),)

    return fake


def _doctor_on_cuda(monkeypatch):
    """run_cli as on a CUDA machine, with only the numerics checks (the others need a real GPU)."""
    monkeypatch.setattr(doctor, "forced_device", lambda name, source: torch.device("cuda"))
    monkeypatch.setattr(doctor, "report", lambda where, compile_check=True: doctor.check_numerics(where))


def test_a_failing_device_warns_and_exits_0_because_the_course_falls_back(monkeypatch, capsys):
    monkeypatch.delenv("LLMCOURSE_TRUST_DEVICE", raising=False)
    monkeypatch.setattr(doctor, "numerics", _results(cuda_ok=False))
    _doctor_on_cuda(monkeypatch)
    checks = {c.name: c for c in doctor.check_numerics(torch.device("cuda"))}
    assert checks["numerics: GPT float32"].status == "warn" and not checks["numerics: GPT float32"].needed
    assert "falls back to the CPU" in checks["device fallback"].detail
    assert checks["numerics: GPT float32 (cpu)"].status == "ok"
    assert doctor.run_cli(cli(device="cuda")) == 0
    out = capsys.readouterr().out
    assert "! device fallback" in out and "everything the course needs is here, on the CPU (cuda fails" in out


def test_a_failing_device_fails_when_it_is_trusted(monkeypatch, capsys):
    monkeypatch.setenv("LLMCOURSE_TRUST_DEVICE", "1")
    monkeypatch.setattr(doctor, "numerics", _results(cuda_ok=False))
    _doctor_on_cuda(monkeypatch)
    assert doctor.run_cli(cli(device="cuda")) == 1
    out = capsys.readouterr().out
    assert "missing or wrong: numerics: GPT float32 (" in out and "would train on wrong numbers" in out


def test_the_cpu_failing_its_own_check_fails_beside_a_device(monkeypatch, capsys):
    monkeypatch.delenv("LLMCOURSE_TRUST_DEVICE", raising=False)
    monkeypatch.setattr(doctor, "numerics", _results(cuda_ok=True, cpu_ok=False))
    _doctor_on_cuda(monkeypatch)
    assert doctor.run_cli(cli(device="cuda")) == 1
    out = capsys.readouterr().out
    assert "missing or wrong: numerics: GPT float32 (cpu)" in out and "device fallback" not in out


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


def test_every_dev_extra_the_chapters_import_is_needed_by_the_doctor():
    """A chapter that imports gensim or transformers stops without it: the doctor must not call it optional."""
    import re
    import sys
    from importlib import metadata
    from pathlib import Path

    import nbformat
    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[1]
    sources = [p.read_text() for p in (root / "llmcourse").rglob("*.py")]
    sources += [c.source for p in (root / "chapters").glob("*.ipynb")
                for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"]
    modules = {m for text in sources for m in re.findall(r"^\s*(?:from|import)\s+(\w+)", text, re.M)}
    dev = {Requirement(r).name for r in metadata.requires("llmcourse")
           if Requirement(r).marker is not None and Requirement(r).marker.evaluate({"extra": "dev"})}
    distributions = metadata.packages_distributions()
    imported_dev = {d for m in modules - set(sys.stdlib_module_names) for d in distributions.get(m, []) if d in dev}
    assert imported_dev and imported_dev <= doctor.CHAPTER_PEERS, imported_dev - doctor.CHAPTER_PEERS
    checks = {c.name: c for c in doctor.check_requirements()}
    assert all(checks[name].needed for name in imported_dev)


def test_only_mixed_precision_failing_keeps_the_device_in_float32(monkeypatch, capsys):
    """A GPU whose float32 is right but whose bf16 autocast is off trains on the GPU in float32, not on the CPU."""
    monkeypatch.delenv("LLMCOURSE_TRUST_DEVICE", raising=False)
    monkeypatch.setattr(device, "preferred_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(device, "_warned", set())
    monkeypatch.setattr(device, "_float32_only", set())
    monkeypatch.setattr(device, "native_bf16", lambda: True)

    def fake(name: str) -> tuple[doctor.Comparison, ...]:
        float32 = (doctor.Comparison("GPT", name, "float32", 1e-7, 1e-6, 1e-3),)
        if name == "cpu":
            return float32
        return float32 + (doctor.Comparison("GPT", name, "bfloat16 autocast", 1e-3, 0.3, 5e-2, worst="lm_head.weight"),)

    monkeypatch.setattr(doctor, "numerics", fake)
    assert device.autocast_dtype("cuda") == torch.bfloat16  # before the check
    assert device.best_device() == torch.device("cuda")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trains on cuda in float32" in err and "bfloat16 autocast" in err
    assert device.autocast_dtype("cuda") is None  # float32 there from now on
    _doctor_on_cuda(monkeypatch)
    assert doctor.run_cli(cli(device="cuda")) == 0
    out = capsys.readouterr().out
    assert "only mixed precision fails on cuda" in out and "on cuda in float32" in out
