"""Device choice, precision choice, seeding and the CPU self-check."""

import pytest
import torch

from llmcourse import config, device


def test_best_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_DEVICE", "cpu")
    assert device.best_device() == torch.device("cpu")


@pytest.mark.parametrize("value, says", [
    ("gpu", "is not a device torch knows"),
    ("cuda:99", "but this machine has"),
    ("meta", "torch cannot use meta here"),
])
def test_a_forced_device_this_machine_lacks_is_a_clear_error(monkeypatch, value, says):
    monkeypatch.setenv("LLMCOURSE_DEVICE", value)
    with pytest.raises(ValueError, match=f"LLMCOURSE_DEVICE='{value}'.*{says}.*unset LLMCOURSE_DEVICE"):
        device.best_device()


def test_a_forced_device_is_read_without_case_or_spaces(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_DEVICE", " CPU ")
    assert device.best_device() == torch.device("cpu")


def test_cpu_stays_in_float32():
    assert device.autocast_dtype("cpu") is None
    with device.autocast("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_seed_everything_repeats_random_numbers():
    device.seed_everything(3)
    a = torch.randn(3)
    device.seed_everything(3)
    assert torch.equal(a, torch.randn(3))


def test_environment_report_names_profile_and_versions():
    line = device.environment_report(torch.device("cpu"))
    assert "profile ci" in line and f"torch {torch.__version__}" in line and "float32" in line


def test_env_check_runs_the_doctors_numerics_check(capsys):
    from llmcourse.__main__ import main

    assert main(["env", "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[1:]] == [f"{m} on cpu in float32 vs float64 on the CPU"
                                                          for m in ("GPT", "LSTM")]
    assert all("within tolerance" in line for line in lines[1:])


def test_profiles(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_PROFILE", "laptop")
    assert config.settings("ch01").profile == "laptop"
    assert config.settings("ch01", "ci").steps < config.settings("ch01", "laptop").steps
    monkeypatch.setenv("LLMCOURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match="not a profile; choose one of ci, laptop, gpu"):
        config.active_profile()
    with pytest.raises(AttributeError, match="this chapter has"):
        _ = config.settings("ch01", "ci").nonexistent
    with pytest.raises(KeyError, match="known chapters"):
        config.settings("ch42")


def test_cpu_threads_sets_the_count_for_the_block_and_restores_it():
    import torch

    from llmcourse.device import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    try:
        with cpu_threads(1):
            raise RuntimeError("the block failed")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before


def test_autocast_picks_float16_where_bfloat16_is_only_emulated(monkeypatch):
    """A T4 or V100 emulates bfloat16: torch's default answer says yes there, ours asks for native support."""
    import llmcourse.device as device_module

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        return including_emulation  # the card emulates bfloat16, has no native support

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert device_module.autocast_dtype("cuda") is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert device_module.autocast_dtype("cuda") is torch.bfloat16


def test_forced_device_names_the_argument_it_came_from():
    with pytest.raises(ValueError, match=r"^--device='gpu' is not a device torch knows; .*leave out --device"):
        device.forced_device("gpu", "--device")


@pytest.mark.parametrize("value, trusted", [("", False), ("0", False), ("1", True), (" TRUE ", True)])
def test_trust_device_reads_its_variable(monkeypatch, value, trusted):
    monkeypatch.setenv("LLMCOURSE_TRUST_DEVICE", value)
    assert device.trust_device() is trusted


def test_trust_device_refuses_other_values(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_TRUST_DEVICE", "maybe")
    with pytest.raises(ValueError, match="LLMCOURSE_TRUST_DEVICE='maybe': use 1"):
        device.best_device()
