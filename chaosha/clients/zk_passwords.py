"""ZooKeeper session passwords, derived the way the server derives them.

ZooKeeperServer.generatePasswd (3.8, 3.9) seeds ``java.util.Random`` with
``sessionId ^ 0xB3415C00`` and takes 16 bytes from ``nextBytes``.  Knowing
the session id (a znode's ``ephemeralOwner``) is thus enough to reattach to
that session.  Pure code: a faithful port of ``java.util.Random``.
"""

from typing import List

__all__ = ["JavaRandom", "session_password", "session_hex", "to_signed64", "SUPER_SECRET"]

SUPER_SECRET = 0xB3415C00  # ZooKeeperServer.superSecret
_MULTIPLIER = 0x5DEECE66D
_ADDEND = 0xB
_MASK48 = (1 << 48) - 1
_MASK64 = (1 << 64) - 1


def to_signed64(value: int) -> int:
    """``value`` as Java's ``long`` (two's complement, 64 bits)."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


def _to_signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _to_signed8(value: int) -> int:
    value &= 0xFF
    return value - 256 if value >> 7 else value


def session_hex(session_id: int) -> str:
    """A session id as ZooKeeper prints it (``Long.toHexString``): ``0x1000a2b3c4d0000``."""
    return f"0x{session_id & _MASK64:x}"


class JavaRandom:
    """``java.util.Random``: the 48-bit linear congruential generator."""

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ _MULTIPLIER) & _MASK48

    def next_bits(self, bits: int) -> int:
        """``Random.next(bits)``: the top ``bits`` of the new state, as a signed int."""
        self._seed = (self._seed * _MULTIPLIER + _ADDEND) & _MASK48
        return _to_signed32(self._seed >> (48 - bits))

    def next_int(self) -> int:
        """``Random.nextInt()``."""
        return self.next_bits(32)

    def next_bytes(self, length: int) -> List[int]:
        """``Random.nextBytes``: signed bytes, each int used low byte first."""
        out: List[int] = []
        while len(out) < length:
            rnd = self.next_int()
            for _ in range(min(length - len(out), 4)):
                out.append(_to_signed8(rnd))
                rnd >>= 8
        return out


def session_password(session_id: int) -> bytes:
    """The 16-byte password the server generated for ``session_id``."""
    signed = JavaRandom(to_signed64(session_id) ^ SUPER_SECRET).next_bytes(16)
    return bytes(b & 0xFF for b in signed)
