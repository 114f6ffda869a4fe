"""Small, deliberately broken plugins: each one trips one check of the module registry.

Used by ``tests/core/test_plugins.py``; never installed, never loaded by the app.
"""
