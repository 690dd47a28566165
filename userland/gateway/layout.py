"""The gateway's storage partition (board.py: gateway_store), shared by the
gateway task and the host tools: sector 0 the host link key (written by
`qenex hostlink provision`), sectors 1..15 the operator's compliance rules
(written by the gateway on a reload), then the audit log."""
KEY_OFFSET = 0x0
RULES_OFFSET = 0x1000
RULES_SPACE = 0xF000
AUDIT_OFFSET = 0x10000
