"""The simulated hardware as pyserial URL handlers, on real pseudo-terminals.

pyserial opens ``scheme://...`` URLs with the module ``protocol_<scheme>`` of
the first package in ``serial.protocol_handler_packages`` that has one; the
composition root adds this package's name there, and then

``simhead://A?seed=7&rate=2&coins=20``
    is a simulated sensor board (``sim.virtual_head``) at the other end of the
    line: :mod:`.protocol_simhead`;
``simhost://?poll_ms=200``
    is a virtual parking machine (``sim.virtual_host``) polling the coin
    acceptor: :mod:`.protocol_simhost`;
``simvmc://?poll_ms=100``
    is a virtual vending machine controller (``sim.vmc``) polling the MDB
    coin changer: :mod:`.protocol_simvmc`.

Each opening makes a new pseudo-terminal (:mod:`.pty_serial`): the simulated
device serves its master end in a thread, and the port returned is an
ordinary pyserial port on its slave end, so the engine runs the same code it
runs on ``/dev/ttyUSB0``.
"""
