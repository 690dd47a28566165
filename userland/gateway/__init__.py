"""The payment gateway: ISO 20022, FIX 4.4 and SWIFT MT103 messages in."""
