"""How fast does hcx seal evidence in the age format, and in how much memory?

On a temporary file of random bytes, in the same run:
- ours: `hcx.crypto.age.encrypt` (which also computes the plaintext's SHA-256) and `decrypt`,
  each in a child process whose peak RSS is read with os.wait4 (the child's own ru_maxrss);
- Debian's `age -e` / `age -d` (the baseline: the target is ours >= 1.0x of `age -e` alone);
- `sha256sum` (coreutils; no SHA-NI here) and hashlib's SHA-256 alone (`age -e` followed by a
  hashlib pass is what a caller would do without our single pass);
- pyrage's `encrypt_file` (if installed), also in a child.
Input and output live in /dev/shm (tmpfs) when there is one, else in the temporary directory: every
contender writes to the same place, and tmpfs keeps disk write-back (0.34 GB/s here, the real limit
with a disk) out of a comparison of CPU cost. Contenders alternate within each round, so they see
the same background load.
Times are taken inside each child (interpreter start-up excluded; `age` and `sha256sum` are timed
as whole processes, start-up included: a few milliseconds). Peak RSS is measured at two file sizes,
to show it does not grow with the file. The box is shared: read ratios, not absolute figures.

Ends with one line of JSON: figures, ratios and the targets (ours >= 1.0x `age -e`; peak RSS
< 150 MB at every size).

    .venv/bin/python bench/age.py --quick     # 256 MiB, well under a minute
    .venv/bin/python bench/age.py             # 1 GiB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1024 * 1024
TARGET_RATIO_VS_AGE = 1.0
TARGET_RSS_MB = 150.0


def child(mode: str, src: str, dst: str, key: str) -> None:
    """Run one operation in this (child) process; print its wall and CPU seconds (all threads),
    imports excluded. `key` is a recipient to encrypt to, or the path of an identity file."""
    if mode == "pyrage":
        import pyrage

        recipients = [pyrage.x25519.Recipient.from_str(key)]
        started, cpu = time.perf_counter(), time.process_time()
        pyrage.encrypt_file(src, dst, recipients)
    else:
        from hcx.crypto.age import AgeIdentity, AgeRecipient, decrypt, encrypt

        started, cpu = time.perf_counter(), time.process_time()
        with open(src, "rb") as source, open(dst, "wb") as target:
            if mode == "encrypt":
                encrypt(source, target, [AgeRecipient.parse(key)])
            else:
                decrypt(source, target, [AgeIdentity.parse(Path(key).read_text())])
    print(time.perf_counter() - started, time.process_time() - cpu)


def wait(proc: subprocess.Popen[bytes], what: str) -> os.struct_rusage:
    """Reap the child and return its own resource usage (peak RSS, CPU)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed with exit code {proc.returncode}")
    return usage


def run_child(mode: str, src: Path, dst: Path, key: str) -> tuple[float, float, float]:
    """Wall and CPU seconds (inside the child) and peak RSS in MB of one child run."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(src), str(dst), key],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    usage = wait(proc, f"child {mode}")
    wall, cpu = map(float, out.split())
    return wall, cpu, usage.ru_maxrss / 1024


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of a whole process."""
    started = time.perf_counter()
    usage = wait(subprocess.Popen(argv, stdout=subprocess.DEVNULL), argv[0])
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def make_input(path: Path, size: int) -> None:
    with path.open("wb") as f:
        for offset in range(0, size, 16 * MIB):
            f.write(os.urandom(min(16 * MIB, size - offset)))


def hashlib_seconds(path: Path) -> tuple[float, float]:
    digest = hashlib.sha256()
    started, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as f:
        while block := f.read(4 * MIB):
            digest.update(block)
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if shutil.which("age") is None or shutil.which("age-keygen") is None:
        raise SystemExit("Debian's age is needed as the baseline: apt-get install age")
    size = (256 if args.quick else 1024) * MIB
    small = 32 * MIB
    runs = 2 if args.quick else 3

    from hcx.crypto.age import AgeIdentity

    identity = AgeIdentity.generate()
    secret, recipient = identity.secret_text(), str(identity.recipient)
    shm = Path("/dev/shm")  # noqa: S108 (tempfile makes a private 0700 directory inside it)
    where = shm if shm.is_dir() and shutil.disk_usage(shm).free > 3 * size else None
    with tempfile.TemporaryDirectory(prefix="hcx-bench-age-", dir=where) as tmp:
        work = Path(tmp)
        keyfile = work / "key.txt"
        keyfile.write_text(secret + "\n")
        keyfile.chmod(0o600)
        plain, sealed, out = work / "plain", work / "plain.age", work / "out"
        make_input(work / "small", small)
        _, _, rss_small = run_child("encrypt", work / "small", sealed, recipient)
        make_input(plain, size)
        mb = size / 1e6

        try:
            import pyrage  # noqa: F401

            has_pyrage = True
        except ImportError:
            has_pyrage = False
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        rss: dict[str, float] = {}

        def record(name: str, seconds: float, cpu_seconds: float, peak: float = 0.0) -> None:
            wall.setdefault(name, []).append(seconds)
            cpu.setdefault(name, []).append(cpu_seconds)
            rss[name] = max(rss.get(name, 0.0), peak)

        for _ in range(runs):
            record("ours", *run_child("encrypt", plain, sealed, recipient))
            record("ours_dec", *run_child("decrypt", sealed, out, str(keyfile)))
            record("age", *timed(["age", "-e", "-r", recipient, "-o", str(sealed), str(plain)]))
            record("age_dec", *timed(["age", "-d", "-i", str(keyfile), "-o", str(out), str(sealed)]))
            record("hashlib", *hashlib_seconds(plain))
            if has_pyrage:
                record("pyrage", *run_child("pyrage", plain, sealed, recipient))
        record("sha256sum", *timed(["sha256sum", str(plain)]))
        ours_s, ours_dec_s, age_s, age_dec_s, hashlib_s, sha256sum_s = (
            min(wall[name]) for name in ("ours", "ours_dec", "age", "age_dec", "hashlib", "sha256sum"))
        pyrage_s = min(wall["pyrage"]) if has_pyrage else None
        rss_large, rss_dec = rss["ours"], rss["ours_dec"]
        cpu_per_gb = {name: round(min(values) / (size / 1e9), 2) for name, values in cpu.items()}

    def rate(seconds: float | None) -> float | None:
        return None if seconds is None else round(mb / seconds, 1)

    figures = {
        "size_mib": size // MIB,
        "ours_encrypt_with_sha256_mb_s": rate(ours_s), "age_cli_encrypt_mb_s": rate(age_s),
        "ours_decrypt_with_sha256_mb_s": rate(ours_dec_s), "age_cli_decrypt_mb_s": rate(age_dec_s),
        "pyrage_encrypt_mb_s": rate(pyrage_s), "sha256sum_mb_s": rate(sha256sum_s),
        "hashlib_sha256_mb_s": rate(hashlib_s),
        "ratio_encrypt_vs_age_cli": round(age_s / ours_s, 2),
        "ratio_encrypt_vs_age_cli_then_hashlib": round((age_s + hashlib_s) / ours_s, 2),
        "ratio_decrypt_vs_age_cli": round(age_dec_s / ours_dec_s, 2),
        "ratio_encrypt_vs_pyrage": None if pyrage_s is None else round(pyrage_s / ours_s, 2),
        "ratio_encrypt_vs_sha256sum": round(sha256sum_s / ours_s, 2),
        "ratio_encrypt_vs_hashlib_alone": round(hashlib_s / ours_s, 2),
        "peak_rss_mb_encrypt_32mib": round(rss_small, 1),
        f"peak_rss_mb_encrypt_{size // MIB}mib": round(rss_large, 1),
        f"peak_rss_mb_decrypt_{size // MIB}mib": round(rss_dec, 1),
        "cpu_seconds_per_gb": cpu_per_gb,
        "cpu_cost_ours_over_age_cli": round(cpu_per_gb["ours"] / cpu_per_gb["age"], 2), "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(), "directory": str(where or tempfile.gettempdir()),
    }
    targets = {"ratio_encrypt_vs_age_cli_min": TARGET_RATIO_VS_AGE, "peak_rss_mb_max": TARGET_RSS_MB}
    met = {"encrypt_vs_age_cli": age_s / ours_s >= TARGET_RATIO_VS_AGE,
           "rss": max(rss_small, rss_large, rss_dec) < TARGET_RSS_MB}
    print(f"age encryption of {size // MIB} MiB in {tmp} (best of {runs}; shared 2-core box, read the ratios):")
    print(f"  ours (encrypt + SHA-256)  {rate(ours_s):>8} MB/s   {figures['ratio_encrypt_vs_age_cli']}x age -e")
    print(f"  age -e (Debian CLI)       {rate(age_s):>8} MB/s   then hashlib over the file: ours is "
          f"{figures['ratio_encrypt_vs_age_cli_then_hashlib']}x")
    print(f"  pyrage encrypt_file       {rate(pyrage_s)!s:>8} MB/s   ours is {figures['ratio_encrypt_vs_pyrage']}x")
    print(f"  sha256sum                 {rate(sha256sum_s):>8} MB/s   ours is {figures['ratio_encrypt_vs_sha256sum']}x")
    print(f"  hashlib SHA-256 alone     {rate(hashlib_s):>8} MB/s   ours is {figures['ratio_encrypt_vs_hashlib_alone']}x")
    print(f"  ours (decrypt + SHA-256)  {rate(ours_dec_s):>8} MB/s   {figures['ratio_decrypt_vs_age_cli']}x age -d "
          f"({rate(age_dec_s)} MB/s)")
    print(f"  peak RSS of our encryption: {rss_small:.0f} MB at 32 MiB, {rss_large:.0f} MB at {size // MIB} MiB; "
          f"decryption {rss_dec:.0f} MB")
    print(f"  CPU seconds per GB: {cpu_per_gb}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(json.dumps({"bench": "age", **figures, "targets": targets, "met": met}))


if __name__ == "__main__":
    main()
