"""The segment designer: a visual query builder with a live member count and a lazily paged members table.

- editor: the SegmentEditor dialog (and open_segment_editor, which the project browser uses)
- builder / blocks / rows / values: the query builder, its blocks, AND / OR groups, rows and value inputs
- jobs: reads of the project file in worker threads, each on its own read-only connection
- sources / members_model: what is counted and listed, and the table model that pages through it
- static_panel / member_commands: static members, staged in the editor and saved as undoable commands
"""

from designer.segments.editor import SegmentEditor, open_segment_editor

__all__ = ["SegmentEditor", "open_segment_editor"]
