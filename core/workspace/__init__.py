"""The whole workspace at once: its export (a zip of every tenant table and its files) and
its purge after deletion. Both find the tenant tables in PostgreSQL's catalog, so a
module's tables are included without registering anything."""
