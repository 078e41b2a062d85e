"""Video check-ins over WebRTC (aiortc): the media of a call (peer.py). The signalling travels on
the centre's channel (sync/remote), the call's states live in hub.domain.video."""
