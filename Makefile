# Developer shortcuts. `make bench` installs (scripts/bootstrap.sh), then prints the benchmark table.
.PHONY: bench bench-quick

bench:
	bash scripts/bootstrap.sh
	.venv/bin/python -m bench.run

bench-quick:
	bash scripts/bootstrap.sh
	.venv/bin/python -m bench.run --quick
