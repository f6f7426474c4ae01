"""Speed benchmarks against the peer packages (``python -m primarycare bench``); the peers are test
dependencies (requirements-dev.txt) and are imported only here, inside the benchmark functions."""
