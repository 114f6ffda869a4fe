"""Atrium's business modules (OA, CRM, ERP, HR, Finance), each a plugin package.

A module lives in ``modules/<key>/`` with the rooms every module has and
registers under the ``atrium.modules`` entry-point group in pyproject.toml;
see docs/modules.md. The first one arrives with the CRM issue; until then the
test-only modules under ``tests/`` show the shape.
"""
