"""A test-only module that uses every hook: the worked example in docs/modules.md.

It has the rooms every module has (models, events, services, api, views,
plugin, templates, migrations) so tests exercise the plugin contract end to end.
"""
