"""Hashing a range of a file straight from the page cache (Linux), where that cannot crash.

Reading a file copies every byte from the page cache into a buffer; with SHA-NI that copy is about
a tenth of the CPU of hashing (sha256chain's chunks). A mapping of the file avoids it, but touching
a mapped page the kernel cannot supply kills the process with SIGBUS, which Python cannot catch:
a page past the end of a file someone truncated, or one whose read fails (a bad disk, a USB stick
pulled out). So a range is hashed from a mapping only where neither can happen while a piece of it
is hashed:

- a read lease (F_SETLEASE) is held on the file: the kernel refuses it while anyone has the file
  open for writing, and whoever then opens it for writing or truncates it waits until the lease is
  given back (or /proc/sys/fs/lease-break-time has passed: 45 s by default, at least 5 s here).
  Before each piece (4 MiB, milliseconds to hash) the lease is checked; on the first sign of such
  a wait the mapping is given up and the caller reads the rest, and so sees the shorter file;
- each piece is brought in with MADV_POPULATE_READ (Linux 5.14) first, which returns EFAULT where
  touching the pages would raise SIGBUS (past the end, a read error): the caller then reads the
  rest, which reports the error; and a file already shorter than the range when the lease is
  taken is read, not mapped (its new end's page reads as zeros past that end, without a fault);
- only on local disk file systems, whose files nobody truncates but through this kernel (not NFS,
  FUSE or SMB, whose server can change a file without breaking a local lease).

What is left: a piece's pages reclaimed between MADV_POPULATE_READ and its hashing (milliseconds,
pages just used) and then failing to read back; or this thread stopped for longer than the lease
break time in the middle of a piece while someone truncates the file.

The lease break is signalled with SIGURG instead of SIGIO (whose default action ends the process);
SIGURG's default action is to ignore it, and mappings are used only while SIGURG has no handler.
Anywhere else (other systems, a file of another owner, no leases, older kernels) nothing is mapped
and the caller reads, as before.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["PIECE", "Mapping", "hash_mapped", "mapping"]

PIECE: Final = 4 << 20  # hashed from the mapping between two checks of the lease
_MADV_POPULATE_READ: Final = 22
_PROT_READ: Final = 1
_MAP_SHARED: Final = 1
_MIN_LEASE_BREAK_SECONDS: Final = 5
_LOCAL_FILE_SYSTEMS: Final = frozenset({  # statfs f_type
    0xEF53,  # ext2, ext3, ext4
    0x58465342,  # xfs
    0x9123683E,  # btrfs
    0xF2F52010,  # f2fs
    0x2FC12FC1,  # zfs
    0xCA451A4E,  # bcachefs
    0x01021994,  # tmpfs
    0x4D44,  # vfat
    0x2011BAB0,  # exfat
    0x7366746E,  # ntfs3
})


class Mapping:
    """libc's mmap, madvise, munmap and fstatfs, and the lease calls (`load`: None where the
    conditions above cannot be had)."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        import fcntl

        self._fcntl = fcntl
        self.libc = libc
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int64)
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        libc.fstatfs.argtypes = (ctypes.c_int, ctypes.c_void_p)
        self.failed = ctypes.c_void_p(-1).value  # MAP_FAILED
        self.page_size = os.sysconf("SC_PAGE_SIZE")

    @classmethod
    def load(cls) -> Mapping | None:
        if sys.platform != "linux" or ctypes.sizeof(ctypes.c_void_p) != 8:  # off_t as 64 bits below
            return None
        try:
            import fcntl

            if not all(hasattr(fcntl, name) for name in ("F_SETLEASE", "F_GETLEASE", "F_SETSIG")):
                return None
            if signal.getsignal(signal.SIGURG) not in (signal.SIG_DFL, signal.SIG_IGN):
                return None  # someone handles SIGURG: no lease-break signals for them
            with open("/proc/sys/fs/leases-enable", encoding="ascii") as setting:
                if setting.read().strip() != "1":
                    return None
            with open("/proc/sys/fs/lease-break-time", encoding="ascii") as setting:
                if int(setting.read()) < _MIN_LEASE_BREAK_SECONDS:
                    return None
            return cls(ctypes.CDLL(None, use_errno=True))
        except (OSError, ValueError, AttributeError):
            return None

    def local(self, descriptor: int) -> bool:
        buffer = ctypes.create_string_buffer(512)  # struct statfs, f_type first (120 bytes on 64-bit Linux)
        if self.libc.fstatfs(descriptor, buffer) != 0:
            return False
        return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF in _LOCAL_FILE_SYSTEMS

    def lease(self, descriptor: int) -> bool:
        """Take a read lease on the file, its break signalled with SIGURG (ignored)."""
        fcntl = self._fcntl
        if signal.getsignal(signal.SIGURG) not in (signal.SIG_DFL, signal.SIG_IGN):
            return False  # a handler was installed since `load`
        try:
            fcntl.fcntl(descriptor, fcntl.F_SETSIG, signal.SIGURG)
            fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError:
            return False  # not the file's owner, open for writing somewhere, or no leases on this file system
        return True

    def leased(self, descriptor: int) -> bool:
        """The lease still holds: nobody waits to write or truncate (F_GETLEASE then says F_UNLCK)."""
        try:
            return bool(self._fcntl.fcntl(descriptor, self._fcntl.F_GETLEASE) == self._fcntl.F_RDLCK)
        except OSError:
            return False

    def release(self, descriptor: int) -> None:
        try:
            self._fcntl.fcntl(descriptor, self._fcntl.F_SETLEASE, self._fcntl.F_UNLCK)
        except OSError:
            pass  # already taken back by the kernel (the break time passed); closing ends it anyway


_mapping: Mapping | None = None
_loaded = False
_lock = threading.Lock()


def mapping() -> Mapping | None:
    global _mapping, _loaded
    with _lock:
        if not _loaded:
            _mapping, _loaded = Mapping.load(), True
    return _mapping


def hash_mapped(descriptor: int, start: int, end: int, update: Callable[[int, int], None]) -> int:
    """Feed bytes `start` to `end` of the open file to `update(address, size)` from a mapping of
    it, where that is safe (above); return the offset fed up to: `end`, or less (as little as
    `start`), and the caller reads the rest."""
    found = mapping()
    if found is None or start % found.page_size or not found.local(descriptor) or not found.lease(descriptor):
        return start
    libc, offset = found.libc, start
    try:
        # under the lease the size holds: a file cut short before it was taken would show zeros
        # past its new end in that last page (no fault), hashed in place of the bytes cut off
        if os.fstat(descriptor).st_size < end:
            return start
        address = libc.mmap(None, end - start, _PROT_READ, _MAP_SHARED, descriptor, start)
        if address is None or address == found.failed:
            return start
        try:
            while offset < end:
                size = min(PIECE, end - offset)
                at = address + offset - start
                # in this order: the pages in (or a refusal where they would raise SIGBUS), then the
                # lease: from then on a truncation waits for it, far longer than the piece takes
                if libc.madvise(at, size, _MADV_POPULATE_READ) != 0 or not found.leased(descriptor):
                    break
                update(at, size)
                offset += size
        finally:
            libc.munmap(address, end - start)
    finally:
        found.release(descriptor)
    return offset
