"""OA's rules, one file per area; controllers stay thin."""
