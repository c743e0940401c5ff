"""Test doubles and workloads shared by the test suite (tests/) and the benchmarks (benchmarks/):
a strict stand-in of the Venice audio API, audio fixtures, the fault-injection workload.

Not part of the installed package: it reads the service's contract from ../shared/venice-api and
needs the ``dev`` extra (jsonschema, pyyaml, PyAV, numpy). Benchmarks and tests import it from the
checkout.
"""
