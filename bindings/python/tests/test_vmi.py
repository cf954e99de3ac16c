"""Pure tests of qdirect.Vmi: decode from path/text/dict, validation errors
with field paths, render. No QEMU is started (render probes the binary only
when its capability cache is cold)."""

import copy
import os
import pathlib

import pytest

import qdirect

SOURCE_ROOT = pathlib.Path(os.environ.get(
    "QDIRECT_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[3]))
TESTVM = SOURCE_ROOT / "examples" / "testvm.yaml"


def make_vmi_dict(**spec_domain_devices):
    devices = {"autoattachPodInterface": False}
    devices.update(spec_domain_devices)
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": "fromdict", "namespace": "ns1"},
        "spec": {"domain": {"memory": {"guest": "64Mi"}, "devices": devices}},
    }


def test_load_from_path_str_and_pathlike():
    for source in (str(TESTVM), TESTVM):
        vmi = qdirect.Vmi.load(source)
        assert vmi.name == "testvm"
        assert vmi.namespace == "default"
        assert vmi.validate() == []


def test_load_from_text_and_bytes():
    text = TESTVM.read_text()
    assert qdirect.Vmi.load(text).name == "testvm"
    assert qdirect.Vmi.load(text.encode()).name == "testvm"


def test_load_from_dict():
    vmi = qdirect.Vmi.load(make_vmi_dict())
    assert (vmi.namespace, vmi.name) == ("ns1", "fromdict")


def test_load_rejects_other_types():
    with pytest.raises(TypeError):
        qdirect.Vmi.load(42)


def test_syntax_error_is_spec_error_with_position():
    with pytest.raises(qdirect.SpecError) as info:
        qdirect.Vmi.load("apiVersion: kubevirt.io/v1\nkind: [unclosed\n")
    assert info.value.errors, "a syntax error lists its finding"
    assert "line" in info.value.errors[0]


def test_no_vmi_in_stream_is_spec_error():
    with pytest.raises(qdirect.SpecError, match="exactly one"):
        qdirect.Vmi.load({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "c"}})


def test_invalid_spec_raises_spec_error_with_field_path():
    bad = make_vmi_dict(disks=[{"name": "d0", "disk": {"bus": "ide"}}])
    with pytest.raises(qdirect.SpecError) as info:
        qdirect.Vmi.load(bad)
    err = info.value
    assert isinstance(err, qdirect.Error) and isinstance(err, ValueError)
    assert err.code == "INVALID_ARGUMENT"
    assert any(e.startswith("spec.domain.devices.disks[0].bus: Unsupported value")
               for e in err.errors), err.errors
    assert "spec.domain.devices.disks[0].bus" in str(err)


def test_validate_deferred_then_raises():
    bad = make_vmi_dict(disks=[{"name": "d0", "disk": {"bus": "ide"}}])
    vmi = qdirect.Vmi.load(bad, validate=False)
    errors = vmi.validate(raise_on_error=False)
    assert any("disks[0].bus" in e for e in errors)
    with pytest.raises(qdirect.SpecError) as info:
        vmi.validate()
    assert info.value.errors == errors


def test_rename_is_validated():
    vmi = qdirect.Vmi.load(TESTVM)
    other = vmi.copy(name="Not_A_Dns_Label")
    assert vmi.name == "testvm", "copy is independent"
    assert copy.copy(vmi).name == "testvm"
    with pytest.raises(qdirect.SpecError) as info:
        other.validate()
    assert any(e.startswith("metadata.name") for e in info.value.errors), info.value.errors


def test_render_has_sandbox_and_paused_start(tmp_path):
    vmi = qdirect.Vmi.load(TESTVM)
    argv = vmi.render(accel="tcg", runtime_root=str(tmp_path))
    assert argv[0].endswith("qemu-system-x86_64")
    assert "-S" in argv
    sandbox = argv[argv.index("-sandbox") + 1]
    assert sandbox.startswith("on,")
    assert "accel=tcg" in argv[argv.index("-machine") + 1]
    # QEMU serves the console on a listener passed at fd 4 (QMP is at 3).
    assert "socket,id=console,fd=4,server=on,wait=off" in argv


def test_render_refuses_unknown_accelerator(tmp_path):
    vmi = qdirect.Vmi.load(TESTVM)
    with pytest.raises(qdirect.Error):
        vmi.render(accel="hvf", runtime_root=str(tmp_path))


def test_exception_hierarchy():
    assert issubclass(qdirect.Timeout, TimeoutError)
    assert issubclass(qdirect.SpecError, qdirect.Error)
    assert issubclass(qdirect.QmpError, qdirect.Error)
    assert issubclass(qdirect.NotFound, LookupError)


def test_machine_calls_before_start_raise():
    m = qdirect.Machine(qdirect.Vmi.load(TESTVM))
    assert m.phase == "NotStarted"
    with pytest.raises(qdirect.Error, match="not started"):
        m.console.expect("x", timeout=0)
    m.stop()  # nothing to stop: no error
