"""The kubelet's eviction manager, image GC and container GC as pure functions and small state objects.

Inputs are a :class:`simulator.snapshot.Summary`, pod specs, a :class:`simulator.policy.model.Policy`,
the previous state and the simulated time ``now``; outputs are a decision and the next state.
Nothing in this package reads the wall clock or talks to the node.
"""
