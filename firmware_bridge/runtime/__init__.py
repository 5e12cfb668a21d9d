"""The runtime: a coin acceptor on a ccTalk bus or an MDB coin changer, fed by a sensor source.

:mod:`.loop`
    the coin loop (:class:`~.loop.Runtime` for ccTalk, :class:`~.loop.MdbRuntime`
    for MDB) and what it owns: the device, its ports, the two threads.
:mod:`.money`
    the money path: from a coin's signature to the gate and exactly one
    event for the machine.
:mod:`.cctalk_service`, :mod:`.mdb_service`
    the thread that answers the host (a parking machine over ccTalk, a
    vending machine's VMC over MDB), promptly, whatever the coins are doing.
:mod:`.coin_positions`
    taught coins as ccTalk positions, and what a new coin list does to them.
"""
