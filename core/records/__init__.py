"""What hangs off any record: attachments and its timeline (comments, changes, activities)."""
