"""Host tools for QENEX OS: image format, layout, flash-image builder."""
