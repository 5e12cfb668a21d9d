"""Serial bridge: ccTalk coin-acceptor device, sensor link, runtime loop."""
