"""The java.util.Random port against values computed by a real JVM
(OpenJDK 17.0.15, ``new Random(id ^ 0xB3415C00L).nextBytes(new byte[16])``)."""

import pytest

from chaosha.clients.zk_passwords import (
    JavaRandom,
    session_hex,
    session_password,
    to_signed64,
)

# session id (as ZooKeeper prints it) -> password hex, from the JVM.
JVM_PASSWORDS = {
    0x0: "f22acd4a97e69d6d20a49bb638eadb38",
    0x1: "054cc74a37327db215e702e20c73f005",
    0x1000A2B3C4D0000: "a92640f4827d6da02f083ac59bfe0500",
    0x100000B3D5E0001: "d3f44883ed254381932f0945b284e6ec",
    0x300001234560002: "029ab0e85547b4135ce970f6bf7bfc25",
    0x8000000000000000: "f22acd4a97e69d6d20a49bb638eadb38",
    0xFFFFFFFFFFFFFFFF: "20f62cb5648dc2d771471c8a2486a9ee",
    0xFEDCBA9876543210: "1b53de74bbdff3fd1dc6e32479791d61",
    0xFFFFFFFFFFFFFFFE: "0dd532b5c441e3927c04b55e50fd9421",
    0x7FFFFFFFFFFFFFFF: "20f62cb5648dc2d771471c8a2486a9ee",
    0xB3415C00: "60b420bb3851d9d47acb933dbe70399b",
}


@pytest.mark.parametrize(("session_id", "password"), sorted(JVM_PASSWORDS.items()))
def test_password_matches_the_jvm(session_id: int, password: str) -> None:
    assert session_password(session_id).hex() == password


@pytest.mark.parametrize("session_id", [0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFEDCBA9876543210])
def test_signed_and_unsigned_spellings_agree(session_id: int) -> None:
    # kazoo reports ephemeralOwner as a signed long; ZooKeeper prints it unsigned.
    signed = to_signed64(session_id)
    assert signed < 0
    assert session_password(signed) == session_password(session_id)
    assert session_hex(signed) == session_hex(session_id)


def test_only_the_low_48_bits_of_the_seed_count() -> None:
    # java.util.Random keeps 48 bits: ids differing above bit 47 share a password.
    assert session_password(0) == session_password(0x8000000000000000)


def test_next_int_sequence_matches_the_jvm() -> None:
    rnd = JavaRandom(42)
    assert [rnd.next_int() for _ in range(3)] == [-1170105035, 234785527, -1360544799]


def test_next_bytes_fills_low_byte_first_and_stops_mid_int() -> None:
    assert JavaRandom(42).next_bytes(7) == [53, -99, 65, -70, -9, -118, -2]


def test_password_is_16_bytes() -> None:
    assert len(session_password(0x1000A2B3C4D0000)) == 16


def test_session_hex_is_zookeepers_spelling() -> None:
    assert session_hex(0x1000A2B3C4D0000) == "0x1000a2b3c4d0000"
    assert session_hex(-1) == "0xffffffffffffffff"
    assert session_hex(0) == "0x0"


def test_to_signed64() -> None:
    assert to_signed64(0x7FFFFFFFFFFFFFFF) == 2**63 - 1
    assert to_signed64(0x8000000000000000) == -(2**63)
    assert to_signed64(-5) == -5
