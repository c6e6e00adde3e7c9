"""Talking to peers: the HTTP transport, the inbox endpoint, the delivery worker."""
