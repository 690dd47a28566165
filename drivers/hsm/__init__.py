"""The HSM driver: the framed, authenticated link to the hardware security
module on UART1 (PROTOCOL.md), run inside the hsm task."""
