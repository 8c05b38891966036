"""The contacts of a project in the designer: a list to search, and undoable adds, edits and deletions."""
