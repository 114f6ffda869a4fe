"""OA's pages under ``/t/{slug}/oa``."""
