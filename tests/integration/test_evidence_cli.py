"""`hcx evidence seal/list/export` and `hcx verify`, as a shell runs them (see test_cli.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.test_cli import Hcx, hcx, node  # noqa: F401 - fixtures


def test_seal_export_verify_from_the_command_line(node: Hcx, tmp_path: Path) -> None:  # noqa: F811
    seized = tmp_path / "seized.img"
    seized.write_bytes(b"\x00disk image\x01" * 50_000)
    sealed = node.ok("evidence", "seal", str(seized), "--case", "CASE-7", "--as", "olga")
    package_id = sealed.stdout.strip().splitlines()[-1]
    listed = node.ok("evidence", "list", "--user", "olga", "--json").json()
    assert [p["id"] for p in listed] == [package_id] and listed[0]["case"] == "CASE-7"

    out = tmp_path / "court"
    exported = node.ok("evidence", "export", package_id, "--out", str(out), "-u", "olga")
    assert "node key fingerprint" in exported.stdout
    fingerprint = exported.stdout.split("out of band:")[1].split()[0]

    verified = node.ok("verify", str(out), "--fingerprint", fingerprint)
    assert "VERIFIED" in verified.stdout and fingerprint in verified.stdout
    report = node.ok("verify", str(out), "--json").json()
    assert report["ok"] and report["package"] == package_id

    payload = out / "bag" / "data" / "seized.img"
    data = bytearray(payload.read_bytes())
    data[1000] ^= 0x40
    payload.write_bytes(bytes(data))
    failed = node("verify", str(out))
    assert failed.exit_code == 8
    assert "FAIL" in failed.stdout and "data/seized.img" in failed.stdout and "NOT VERIFIED" in failed.stdout


def test_seal_refuses_bad_input_with_a_clear_error(node: Hcx, tmp_path: Path) -> None:  # noqa: F811
    missing = node("evidence", "seal", str(tmp_path / "nope"), "--case", "C", "--as", "olga")
    assert missing.exit_code == 3 and "no such file" in missing.stderr
    nobody = node("evidence", "seal", str(tmp_path), "--case", "C", "--as", "mallory")
    assert nobody.exit_code == 4
    assert json.loads(node.ok("evidence", "list", "-u", "olga", "--json").stdout) == []


def test_verify_needs_no_node(tmp_path: Path) -> None:
    lone = Hcx(tmp_path / "no-node", {"HCX_ENV": None, "COLUMNS": "200"})
    result = lone("verify", str(tmp_path / "absent"))
    assert result.exit_code == 8 and "is not a directory" in result.stdout


def test_sweep_removes_old_orphans_only(node: Hcx, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "seized.img").write_bytes(b"image" * 1000)
    package_id = node.ok("evidence", "seal", str(tmp_path / "seized.img"), "--case", "C", "--as", "olga"
                         ).stdout.strip().splitlines()[-1]
    orphan = node.data_dir / "blobs" / "packages" / "01KILLEDSEAL00000000000000" / "payload" / "000000.age"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a seal killed before its commit")
    young = node.ok("evidence", "sweep", "--json").json()
    assert young["removed"] == [] and young["kept_recent"] == 1 and young["kept_referenced"] == 7
    days_ago = time.time() - 3 * 86400
    for path in (node.data_dir / "blobs").rglob("*"):
        os.utime(path, (days_ago, days_ago))  # the sealed package is as old: its row keeps it
    dry = node.ok("evidence", "sweep", "--dry-run")
    assert "would remove 1 item(s)" in dry.stdout and orphan.exists()
    assert node("evidence", "sweep", "--older-than", "0.1").exit_code == 2  # an hour at least
    swept = node.ok("evidence", "sweep", "--json").json()
    assert [item["key"] for item in swept["removed"]] == ["packages/01KILLEDSEAL00000000000000/payload/000000.age"]
    assert not orphan.exists()
    node.ok("evidence", "export", package_id, "--out", str(tmp_path / "court"), "-u", "olga")


def test_a_seal_killed_midway_leaves_bytes_the_sweep_removes(node: Hcx, tmp_path: Path) -> None:  # noqa: F811
    big = tmp_path / "disk.img"
    with big.open("wb") as stream:  # sparse: read fast, but sealing it takes long enough to be killed
        stream.truncate(256 << 20)
    env = {k: v for k, v in (os.environ | node.env).items() if v is not None}
    seal = subprocess.Popen([sys.executable, "-m", "hcx.cli.main", "--data-dir", str(node.data_dir), "evidence",
                             "seal", str(big), "--case", "C", "--as", "olga"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    packages = node.data_dir / "blobs" / "packages"
    try:
        deadline = time.monotonic() + 60
        while not any(packages.rglob("*.tmp")) and seal.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        seal.send_signal(signal.SIGKILL)
    finally:
        seal.wait(30)
    assert seal.returncode == -signal.SIGKILL, "the seal ended before it could be killed"
    assert node.ok("evidence", "list", "-u", "olga", "--json").json() == []  # no package row
    left = [p for p in packages.rglob("*") if p.is_file()]
    assert left and node.ok("evidence", "sweep", "--json").json()["removed"] == []  # too young
    days_ago = time.time() - 3 * 86400
    for path in left:
        os.utime(path, (days_ago, days_ago))
    swept = node.ok("evidence", "sweep", "--json").json()
    assert len(swept["removed"]) == len(left) and list(packages.iterdir()) == []


def test_the_console_script_runs_verify_without_loading_the_node(tmp_path: Path) -> None:
    """`hcx verify` starts in a fraction of the full command line's time: no services, no database."""
    script = ("import sys\n"
              "from hcx.cli.evidence_verify import main\n"
              "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
              "print('loaded:', sorted(m for m in ('sqlalchemy', 'alembic', 'hcx.services', 'jinja2') "
              "if m in sys.modules), 'exit:', code)\n")
    done = subprocess.run([sys.executable, "-c", script, "verify", str(tmp_path / "absent")], capture_output=True,
                          text=True, check=True, env={**os.environ, "COLUMNS": "200"})
    assert "is not a directory" in done.stdout and "NOT VERIFIED" in done.stdout
    assert done.stdout.strip().endswith("loaded: [] exit: 8"), done.stdout
    usage = subprocess.run([sys.executable, "-c", script, "verify", "--bogus"], capture_output=True, text=True,
                           check=True)
    assert "No such option: --bogus" in usage.stderr and usage.stdout.strip().endswith("exit: 2")
