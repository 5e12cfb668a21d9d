"""The runtime: a coin acceptor on the ccTalk bus, fed by a sensor source.

:mod:`.loop`
    :class:`~.loop.Runtime`, the coin loop, and what it owns: the device,
    its ports, the two threads.
:mod:`.money`
    the money path: from a coin's signature to the gate and exactly one
    ccTalk event.
:mod:`.cctalk_service`
    the thread that answers the host, promptly, whatever the coins are doing.
:mod:`.coin_positions`
    taught coins as ccTalk positions, and what a new coin list does to them.
"""
