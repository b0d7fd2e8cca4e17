"""Live probes of a node: the mount table, cAdvisor's directory lookup, cgroup memory, pids, and the sampler.

Each probe takes its file roots and system calls as arguments, so tests can run it on fixture
trees. :class:`simulator.probes.sampler.Sampler` combines them into a :class:`simulator.snapshot.Summary`.
"""
