"""The HSM link's frame format, defined with construct: the host's
definition, which tests hold the device's implementation
(drivers/hsm/frame.py) against. See drivers/hsm/PROTOCOL.md."""
import zlib

from construct import (Bytes, Checksum, Const, GreedyBytes, GreedyRange, Int8ul, Int16ul, Int32ul, Prefixed,
                       Rebuild, Struct, len_, this)

from drivers.hsm import frame as F

Body = Struct(
    "version" / Const(F.VERSION, Int8ul),
    "cmd" / Int8ul,
    "seq" / Int16ul,
    "length" / Rebuild(Int16ul, len_(this.payload)),
    "payload" / Bytes(this.length),
)

Frame = Struct(
    "sync" / Const(F.SYNC),
    "body" / Body,
    "mac" / Bytes(F.MAC_LEN),
    "crc" / Checksum(Int32ul, lambda data: zlib.crc32(data) & 0xFFFFFFFF,
                     lambda ctx: F.SYNC + Body.build(ctx.body) + ctx.mac),
)

Fields = GreedyRange(Prefixed(Int16ul, GreedyBytes))

# CHANGE_PIN's request (PROTOCOL.md, "Changing the PIN"): three fields of fixed sizes.
ChangePin = Struct(
    "nonce" / Prefixed(Int16ul, Bytes(16)),
    "proof" / Prefixed(Int16ul, Bytes(32)),        # HMAC(old K, "change pin" | session key | nonce)
    "wrapped" / Prefixed(Int16ul, Bytes(32)),      # new K ^ HMAC(session key, "new pin" | nonce)
)

# INFO's answer (after the status byte).
Info = Struct(
    "model" / Prefixed(Int16ul, GreedyBytes),
    "firmware" / Prefixed(Int16ul, GreedyBytes),
    "serial" / Prefixed(Int16ul, GreedyBytes),
    "free" / Prefixed(Int16ul, Int32ul),
    "locked" / Prefixed(Int16ul, Int8ul),
    "factory_pin" / Prefixed(Int16ul, Int8ul),     # 1 until CHANGE_PIN: GENERATE is refused meanwhile
)
