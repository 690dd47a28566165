// qstrs specific to the QENEX port
