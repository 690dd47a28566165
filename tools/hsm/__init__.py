"""The emulated HSM (a secure element on UART1) and its host tools."""
