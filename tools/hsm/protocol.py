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
