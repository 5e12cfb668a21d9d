"""Serial lines: the only modules of the bridge that touch pyserial or file descriptors.

:mod:`.ports` opens every line by URL with its link's settings;
:mod:`.fd_port` wraps a pseudo-terminal's master end; :mod:`.managed_line`
keeps a line open across unplugged cables; :mod:`.cctalk_serial` puts the
sans-I/O ccTalk host and device on a port; :mod:`.mdb_serial` carries MDB's
9-bit words (a real UART with stick parity, or two bytes per word).
"""
