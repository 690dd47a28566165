"""The device console shell: line editor, command table, read-eval loop."""
