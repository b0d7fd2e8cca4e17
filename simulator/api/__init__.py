"""The what-if gRPC API: live state, history, headroom, what-if evaluation, metrics and reports.

The daemon publishes one immutable :class:`simulator.api.live.Sample` per sampling pass into a
:class:`simulator.api.live.LiveState`; request handlers read the latest sample and evaluate
overrides on copies of it, so the live state never changes under a request.
"""
