"""qdirect.host_devices() on a synthetic sysfs tree (no VFIO hardware here):
the IOMMU groups, viability and GPU companions `vmctl hostdev list --json`
shows."""

import os

import pytest

import qdirect


def add_pci(root, address, cls, driver, group):
    rel = "devices/pci0000:00/" + address
    d = root / rel
    d.mkdir(parents=True)
    for name, value in (("vendor", "0x10de"), ("device", "0x2204"), ("class", cls),
                        ("numa_node", "-1")):
        (d / name).write_text(value + "\n")
    (root / "bus/pci/devices").mkdir(parents=True, exist_ok=True)
    os.symlink("../../../" + rel, root / "bus/pci/devices" / address)
    drivers = root / "bus/pci/drivers" / driver
    drivers.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../bus/pci/drivers/" + driver, d / "driver")
    g = root / "kernel/iommu_groups" / str(group) / "devices"
    g.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../kernel/iommu_groups/%d" % group, d / "iommu_group")
    os.symlink("../../../../" + rel, g / address)


def test_host_devices_groups_a_gpu_with_its_audio(tmp_path):
    add_pci(tmp_path, "0000:01:00.0", "0x030000", "vfio-pci", 16)
    add_pci(tmp_path, "0000:01:00.1", "0x040300", "snd_hda_intel", 16)
    devices = qdirect.host_devices(tmp_path)
    [group] = devices["iommuGroups"]
    assert group["group"] == 16
    assert not group["viable"]
    assert group["offending"] == ["0000:01:00.1 (snd_hda_intel)"]
    assert group["devices"][0]["companions"] == ["0000:01:00.1"]
    assert group["devices"][0]["vendorSelector"] == "10de:2204"


def test_missing_root_raises_not_found_naming_the_path(tmp_path):
    with pytest.raises(qdirect.NotFound, match="bus/pci/devices"):
        qdirect.host_devices(tmp_path / "absent")
