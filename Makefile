# Two entry points for a fresh Debian machine (run as root):
#   make demo   install what is needed, then run the daemon on a sandboxed local containerd node
#               (or on the recorded node in examples/ when no runtime can be started)
#   make test   install what is needed, then run the whole test suite against a real containerd
PYTHON ?= python3

.PHONY: deps demo test proto proto-check bench

deps:
	bash scripts/install-deps.sh

demo: deps
	$(PYTHON) scripts/demo.py

test: deps
	$(PYTHON) -m pytest

proto:
	$(PYTHON) scripts/genproto.py

proto-check:
	$(PYTHON) scripts/genproto.py --check

bench:
	$(PYTHON) -m benchmarks.run_all
