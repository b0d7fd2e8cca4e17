"""The read-only CRI client (:mod:`simulator.cri.client`) and its domain types (:mod:`simulator.cri.types`)."""
