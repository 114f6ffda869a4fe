"""OA's JSON API under ``/api/t/{slug}/oa``."""
